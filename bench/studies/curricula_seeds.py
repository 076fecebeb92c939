"""Which curriculum generalises furthest? Notebook 07's experiment over seeds: three RMTs (no curriculum, +1, doubling)
trained to copy across 4 segments with the same budget, then evaluated on up to 32 segments.

Notebook 07's lab settings: copy with a fixed source of 4 digits, segments of 4, lab-size RMT (m 8), 500 steps,
batch 32, eval every 50 steps; evaluation on 128 sequences per length (seed 1). Writes the rows as JSON (the notebook
reads the copy shipped as minirmt/course/assets/curricula.json).

    python bench/studies/curricula_seeds.py --out bench/results/curricula/results.json
"""

import sys
from pathlib import Path

sys.path[:0] = [str(Path(__file__).resolve().parents[2]), str(Path(__file__).resolve().parents[1])]

import harness  # noqa: E402

from minirmt import build_model, preset  # noqa: E402
from minirmt.course.checks import reference_accuracy_by_segments, reference_doubling_stages  # noqa: E402
from minirmt.data.tasks import make_task  # noqa: E402
from minirmt.training.task_loop import TrainConfig, segment_stages, train  # noqa: E402

N, TRAIN_SEGMENTS, STEPS = 4, 4, 500
EVAL_SEGMENTS = [2, 3, 4, 6, 8, 12, 16, 24, 32]


def runs_of(seed: int) -> dict:
    """{curriculum: {g: accuracy}} for one seed."""
    task = make_task("copy", N, source_len=N)
    cfg = preset("lab", vocab_size=task.vocab_size, segment_len=N, num_mem_tokens=8)
    config = TrainConfig(steps=STEPS, batch_size=32, warmup=STEPS // 10, eval_every=50, segments=TRAIN_SEGMENTS,
                         seed=seed, device="cpu")
    curricula = {
        "no curriculum": [],
        "+1 curriculum": segment_stages(task, TRAIN_SEGMENTS),
        "doubling curriculum": [(task, g) for g in reference_doubling_stages(task.min_segments, TRAIN_SEGMENTS)],
    }
    out = {}
    for name, stages in curricula.items():
        run = train(build_model("rmt", cfg, seed=seed), task, config, stages=stages, progress=False)
        row = reference_accuracy_by_segments(run.model.cpu(), task, EVAL_SEGMENTS, batch_size=128, seed=1)
        out[name] = {str(g): a for g, a in row.items()}
        print(seed, name, {g: round(a, 2) for g, a in row.items()}, flush=True)
    return out


def main(argv=None) -> int:
    args, seeds = harness.seed_study_args(__doc__.split("\n\n")[0], argv)
    harness.write_study(args.out, "bench/studies/curricula_seeds.py", train_segments=TRAIN_SEGMENTS,
                        seeds={str(seed): runs_of(seed) for seed in seeds})
    return 0


if __name__ == "__main__":
    sys.exit(main())
