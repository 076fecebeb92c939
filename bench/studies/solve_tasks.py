"""Seconds of CPU training (2 threads) until the RMT solves copy and associative retrieval, and the
segment-only baseline on the same budget.

Targets:
    copy over 4 segments of 8 (16 digits, GO, the 16 digits)   RMT exact match >= 0.99 within 60 s
    associative retrieval over 4 segments of 8 (4 pairs)        RMT answer accuracy >= 0.95 within 180 s
    SegmentTransformer on both, same budget                     at chance (it cannot see earlier segments)

Each run trains with `minirmt.training.task_loop.train` on the task's recipe (minirmt.training.recipes: lab-size
model, d 64, 2 layers, 4 heads, m 8) and is evaluated on the same held-out sequences; the time to solve is the
training time (evaluation excluded) at the first evaluation that meets the target, and the run stops there or when its
budget is spent. Associative retrieval is what `python -m minirmt train --task assoc` does (the recipe), with
`--set NAME=VALUE` laid over it (e.g. `--set memory_hint=false`): the time to solve is still that of the first
evaluation at 0.95, and the run goes on to its own stop; its final model is also scored on 8,192 fresh answers
(`held_out`). Both wall-clock and process CPU seconds are recorded: on a machine other jobs share, the CPU
seconds (divided by the 2 threads) are the steadier measure.

    python bench/studies/solve_tasks.py              # writes bench/results/solve_tasks/latest.json
    python bench/studies/solve_tasks.py --smoke      # a few seconds: checks that the script works
    python bench/studies/solve_tasks.py --parallel   # the four races at once, each pinned to its own 2 cores
    python bench/studies/solve_tasks.py --only assoc --models rmt --seeds 0,1,2,3,4,5,6,7 \
        --out bench/results/solve_tasks/assoc_hint.json
"""

import argparse
import json
import os
import sys
import time
from multiprocessing import get_context
from pathlib import Path

BENCH = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(BENCH.parent), str(BENCH), str(BENCH / "goals"), str(BENCH / "studies")]  # the repo, bench/

import harness  # noqa: E402
import torch  # noqa: E402

from minirmt.training.recipes import recipe  # noqa: E402
from minirmt.training.task_loop import curriculum_stages, eval_batches, evaluate, train  # noqa: E402

ASSETS = BENCH.parent / "minirmt" / "course" / "assets"  # results the notebooks read
THREADS = 2
MODELS = ("rmt", "segment")
EVAL_EVERY = 25
TARGETS = {  # the settings laid over each task's recipe
    "copy": dict(task="copy", metric="eval_exact_match", goal=0.99, budget=60.0,
                 settings=dict(segments=4, steps=600, warmup=100, eval_every=EVAL_EVERY, log_every=5)),
    "assoc": dict(task="assoc", metric="eval_accuracy", goal=0.95, budget=180.0, settings={}),  # the recipe itself
}


def setup(target: dict, model_name: str, seed: int, settings: dict) -> tuple:
    """`(task, model, TrainConfig, stages)` of a target: its task's recipe, its settings, then `settings`."""
    r = recipe(target["task"], model_name, seed=seed, device="cpu", **{**target["settings"], **settings})
    config = r.train_config
    return r.task, r.build_model(), config, curriculum_stages(r.task, config.segments, config.curriculum)


def parse_settings(pairs: list[str]) -> dict:
    """`["memory_hint=false", "lr=3e-3"]` -> {"memory_hint": False, "lr": 0.003} (values read as JSON)."""
    settings = {}
    for pair in pairs:
        name, _, value = pair.partition("=")
        settings[name] = json.loads(value.lower() if value.lower() in ("true", "false", "null") else value)
    return settings


def race(target: dict, model_name: str, smoke: bool, cores: list[int] | None = None, seed: int = 0,
         settings: dict | None = None) -> dict:
    """Train one model on one target until it meets the goal or spends its budget of training seconds.

    cores: pin this process to these CPU cores first (a race of its own, in parallel with others).
    seed: of the model's weights and the training batches; settings: laid over the target's recipe.
    """
    if cores is not None:
        os.sched_setaffinity(0, cores)
    torch.set_num_threads(THREADS)
    budget = 3.0 if smoke else target["budget"]
    task, model, config, stages = setup(target, model_name, seed, settings or {})

    def stop(step, history):  # at the goal, unless the run stops by itself (the CLI's assoc default: at 0.98)
        if not history:
            return False
        last = history[-1]
        solved = (config.stop_accuracy is None and last.get("stage", 0) == len(stages)
                  and last.get(target["metric"], 0) >= target["goal"])
        return solved or last["seconds"] >= budget

    started = time.perf_counter()
    run = train(model, task, config, callback=stop, progress=False)
    evals = [r for r in run.history if "eval_accuracy" in r and r["stage"] == len(stages)]
    solved = next((r for r in evals if r[target["metric"]] >= target["goal"]), None)
    best = max(evals, key=lambda r: r[target["metric"]]) if evals else {}
    held_out = evaluate(model, eval_batches(task, config.segments, 64, 2 if smoke else 32, seed=2027))
    return {
        "model": model_name, "seed": seed, "memory_hint": config.memory_hint, "solved": solved is not None,
        "seconds_to_solve": round(solved["seconds"], 1) if solved else None,
        "cpu_seconds_to_solve": round(solved["cpu_seconds"], 1) if solved else None,
        "steps_to_solve": solved["step"] if solved else None,
        "steps": run.step, "train_seconds": round(run.seconds, 1), "cpu_seconds": round(run.cpu_seconds, 1),
        "wall_seconds": round(time.perf_counter() - started, 1), "stage_reached": run.stage,
        "final_accuracy": run.metrics["eval_accuracy"], "final_exact_match": run.metrics["eval_exact_match"],
        "held_out": round(held_out["eval_accuracy"], 4),
        "best": {k: best.get(k) for k in ("step", "eval_accuracy", "eval_exact_match")},
        "chance_accuracy": task.chance_accuracy,
        "curve": [(r["step"], r["stage"], round(r["eval_accuracy"], 3)) for r in run.history if "eval_accuracy" in r],
    }


def table(results: dict) -> str:
    lines = [f"{'target':<7} {'model':<8} {'seed':>4} {'goal':>14} {'solved in':>10} {'budget':>7} {'ratio':>6} "
             f"{'acc':>6} {'exact':>6} {'held-out':>8} {'chance':>6}"]
    for name, rows in results.items():
        target = TARGETS[name]
        goal = f"{target['metric'][5:]} >= {target['goal']}"
        for row in rows:
            solved, budget = row["seconds_to_solve"], target["budget"]
            took = "no" if solved is None else f"{solved:.0f} s"
            ratio = "-" if solved is None else f"{solved / budget:.2f}"
            lines.append(
                f"{name:<7} {row['model']:<8} {row['seed']:>4} {goal:>14} {took:>10} {budget:>5.0f} s {ratio:>6} "
                f"{row['final_accuracy']:6.3f} {row['final_exact_match']:6.3f} {row['held_out']:8.3f} "
                f"{row['chance_accuracy']:6.3f}"
            )
    return "\n".join(lines)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--smoke", action="store_true", help="a 3-second budget per run: checks the script")
    parser.add_argument("--out", help="JSON path (default bench/results/solve_tasks/latest.json)")
    parser.add_argument("--only", choices=list(TARGETS), help="one target only")
    parser.add_argument("--parallel", action="store_true",
                        help="all races at once, each in its own process pinned to its own 2 cores")
    parser.add_argument("--models", default=",".join(MODELS), help="comma-separated (default rmt,segment)")
    parser.add_argument("--seeds", default="0", help="comma-separated seeds, one race each (default 0)")
    parser.add_argument("--set", nargs="*", default=[], metavar="NAME=VALUE",
                        help="settings laid over every run's recipe, e.g. memory_hint=false")
    parser.add_argument("--asset", metavar="NAME", help="also ship the runs (with their curves) as the package's "
                        "result NAME (minirmt/course/assets/NAME.json), for a notebook")
    args = parser.parse_args(argv)
    torch.set_num_threads(THREADS)
    settings = parse_settings(args.set)
    environment = harness.environment("cpu")
    races = [(name, model_name, int(seed)) for name in ([args.only] if args.only else TARGETS)
             for model_name in args.models.split(",") for seed in args.seeds.split(",")]
    if not args.parallel:
        rows = [race(TARGETS[name], m, args.smoke, None, seed, settings) for name, m, seed in races]
    else:
        cores = sorted(os.sched_getaffinity(0))
        if len(races) * THREADS > len(cores):
            parser.error(f"--parallel needs {len(races) * THREADS} cores, {len(cores)} here")
        pinned = [cores[THREADS * i: THREADS * (i + 1)] for i in range(len(races))]
        with get_context("spawn").Pool(len(races)) as pool:
            rows = pool.starmap(race, [(TARGETS[name], m, args.smoke, c, seed, settings)
                                       for (name, m, seed), c in zip(races, pinned)], chunksize=1)
    results = {}
    for (name, _, _), row in zip(races, rows):
        results.setdefault(name, []).append(row)
        print(json.dumps({"target": name, **{k: v for k, v in row.items() if k != "curve"}}), flush=True)
    print(table(results))
    payload = {"benchmark": "solve_tasks", "smoke": args.smoke, "parallel": args.parallel, "environment": environment,
               "load_average_after": os.getloadavg(), "targets": {k: TARGETS[k] for k in results},
               "settings": settings, "results": results}
    print("wrote", harness.write_json(harness.result_path("solve_tasks", args.smoke, args.out), payload))
    if args.asset:
        command = " ".join(["bench/studies/solve_tasks.py", *(argv if argv is not None else sys.argv[1:])])
        harness.write_study(ASSETS / f"{args.asset}.json", command, environment=environment, settings=settings,
                            results=results)


if __name__ == "__main__":
    main()
