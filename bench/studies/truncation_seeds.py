"""Does truncated BPTT stop an RMT from learning copy over 3 segments? Notebook 02's experiment over seeds, with the
control that tells truncation from budget: the truncated runs again with three times the steps.

Notebook 02's lab settings: copy, segments of 8, g = 3, lab-size RMT (d 64, 2 layers, 4 heads, m 8), AdamW lr 3e-3,
batch 64, 500 steps (the control: 1,500), 4 held-out batches. Writes the rows as JSON (the notebook reads the copy
shipped as minirmt/course/assets/truncation.json).

    python bench/studies/truncation_seeds.py --out bench/results/truncation/results.json
"""

import dataclasses
import sys
import time
from pathlib import Path

sys.path[:0] = [str(Path(__file__).resolve().parents[2]), str(Path(__file__).resolve().parents[1])]

import harness  # noqa: E402

from minirmt import build_model, preset  # noqa: E402
from minirmt.data import tasks  # noqa: E402
from minirmt.training.task_loop import TrainConfig, train  # noqa: E402

RUNS = [(None, 500), (2, 500), (1, 500), (2, 1500), (1, 1500)]  # (bptt_depth, steps)


def run(seed: int, depth: int | None, steps: int) -> dict:
    task = tasks.make_task("copy", segment_len=8)
    cfg = dataclasses.replace(preset("lab", vocab_size=task.vocab_size), bptt_depth=depth)
    config = TrainConfig(steps=steps, batch_size=64, lr=3e-3, segments=3, eval_every=max(steps // 6, 1),
                         eval_batches=4, seed=seed, device="cpu")
    started = time.perf_counter()
    result = train(build_model("rmt", cfg, seed=seed), task, config, progress=False)
    return {"seed": seed, "bptt_depth": depth, "steps": steps, "accuracy": result.metrics["eval_accuracy"],
            "exact_match": result.metrics["eval_exact_match"], "seconds": round(time.perf_counter() - started, 1)}


def main(argv=None) -> int:
    args, seeds = harness.seed_study_args(__doc__.split("\n\n")[0], argv)
    rows = []
    for seed in seeds:
        for depth, steps in RUNS:
            rows.append(run(seed, depth, steps))
            print(rows[-1], flush=True)
    harness.write_study(args.out, "bench/studies/truncation_seeds.py", rows=rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
