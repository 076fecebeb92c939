"""Training steps a second of one run of the paper's figure (`experiment paper`): eager, compiled, and compiled with
CUDA graphs. These models are small (retrieval: 6 layers of d 64), so an eager step on a GPU is bound by launching
its kernels, not by arithmetic; compiling fuses them, and CUDA graphs replay a whole step's launches at once.

Each mode trains the same run (`recipes.paper_recipe`, on the target from the first step) for `--steps` steps and
times the steps after the first `--warm` (which compile and record the graphs); the seconds those took are
reported as the mode's start-up cost.

    python bench/studies/paper_step_speed.py --task assoc --segments 5 --out runs/speed.json   # on a GPU
    python bench/studies/paper_step_speed.py --smoke                                            # the CPU, eagerly
"""

import argparse
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(BENCH.parent), str(BENCH)]  # the repo, bench/

import harness  # noqa: E402
import torch  # noqa: E402

from minirmt.training.recipes import recipe  # noqa: E402
from minirmt.training.task_loop import train  # noqa: E402

MODES = {"eager": {}, "compiled": {"compile": True}, "CUDA graphs": {"compile": True, "cuda_graphs": True}}


def time_mode(mode: str, task: str, g: int, model: str, steps: int, warm: int, device: str, size: str) -> dict:
    """Steps a second after `warm` steps, and the seconds of the first `warm` ones, from the run's own clock."""
    r = recipe(task, model, layout="paper", segments=g, size=size, steps=steps, curriculum="none", eval_every=steps,
               stop_accuracy=None, log_every=warm, device=device, **MODES[mode])
    history = [h for h in train(r.build_model(), r.task, r.train_config, progress=False).history if "loss" in h]
    seconds = {h["step"]: h["seconds"] for h in history}
    rate = (steps - warm) / (seconds[steps] - seconds[warm])
    return {"mode": mode, "steps_per_s": rate, "first_steps_s": seconds[warm],
            "start_up_s": seconds[warm] - warm / rate}


def main(argv=None) -> list[dict]:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--task", default="assoc", choices=["copy", "reverse", "assoc"])
    p.add_argument("--segments", type=int, default=5, help="g (default: 5)")
    p.add_argument("--model", default="rmt", choices=["rmt", "xl", "segment"])
    p.add_argument("--steps", type=int, default=400)
    p.add_argument("--warm", type=int, default=50)
    p.add_argument("--modes", nargs="+", choices=list(MODES), default=list(MODES), help="(default: all; CUDA graphs "
                   "on a GPU only)")
    p.add_argument("--smoke", action="store_true", help="the laptop size, a few steps, eager only, on the CPU")
    p.add_argument("--out", type=Path, default=None)
    args = p.parse_args(argv)
    cuda = torch.cuda.is_available() and not args.smoke
    device = "cuda" if cuda else "cpu"
    modes = ["eager"] if args.smoke else [m for m in args.modes if cuda or m != "CUDA graphs"]
    steps, warm = (6, 2) if args.smoke else (args.steps, args.warm)
    rows = []
    for mode in modes:
        rows.append(time_mode(mode, args.task, args.segments, args.model, steps, warm, device,
                              "lab" if args.smoke else "paper"))
        print(f"{mode:12s} {rows[-1]['steps_per_s']:7.1f} steps/s (start-up {rows[-1]['start_up_s']:.0f} s)")
    for row in rows[1:]:
        print(f"{row['mode']} / eager: {row['steps_per_s'] / rows[0]['steps_per_s']:.1f}x")
    if args.out is not None:
        harness.write_json(args.out, {"environment": harness.environment(torch.device(device)), "task": args.task,
                                      "g": args.segments, "model": args.model, "steps": steps, "warm": warm,
                                      "rows": rows})
    return rows


if __name__ == "__main__":
    main()
