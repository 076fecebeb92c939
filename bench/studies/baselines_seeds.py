"""Seven ways across a segment boundary, over seeds: notebook 06's quality comparison (copy with the answer g - 1
segments back) for several seeds.

Notebook 06's lab settings: copy with a fixed source of 4 digits, segments of 4, lab-size models (m 8, cache 4),
250 steps, batch 32; the evaluation of the run's end (4 held-out batches). Writes the rows as JSON (the notebook reads
the copy shipped as minirmt/course/assets/baselines_seeds.json).

    python bench/studies/baselines_seeds.py --out bench/results/baselines_seeds/results.json
"""

import sys
from pathlib import Path

sys.path[:0] = [str(Path(__file__).resolve().parents[2]), str(Path(__file__).resolve().parents[1])]

import harness  # noqa: E402

from minirmt import build_model, preset  # noqa: E402
from minirmt.data.tasks import make_task  # noqa: E402
from minirmt.training.task_loop import TrainConfig, train  # noqa: E402

MODELS = ("segment", "xl", "memxl", "memtok", "rmt", "rmtxl", "full")
SEGMENTS, STEPS = (2, 3, 4), 250


def main(argv=None) -> int:
    args, seeds = harness.seed_study_args(__doc__.split("\n\n")[0], argv)
    task = make_task("copy", 4, source_len=4)
    cfg = preset("lab", vocab_size=task.vocab_size, segment_len=4, num_mem_tokens=8)
    rows = []
    for seed in seeds:
        for g in SEGMENTS:
            for name in MODELS:
                config = TrainConfig(steps=STEPS, batch_size=32, warmup=STEPS // 10, eval_every=STEPS, segments=g,
                                     seed=seed, device="cpu")
                run = train(build_model(name, cfg, seed=seed), task, config, progress=False)
                rows.append({"seed": seed, "g": g, "model": name, "accuracy": run.metrics["eval_accuracy"]})
                print(rows[-1], flush=True)
    harness.write_study(args.out, "bench/studies/baselines_seeds.py", rows=rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
