"""Copy with and without memory, over seeds: notebook 03's experiment (RMT and segment-only, a new model for each
number of segments g) for several seeds.

Notebook 03's lab settings: copy on minirmt's layout (segments of 8, the source half the sequence), lab-size models,
AdamW lr 3e-3, batch 64; RMT 400 steps, segment-only 300; answer accuracy on 256 fresh sequences (seed 7). Writes
the rows as JSON (the notebook reads the copy shipped as minirmt/course/assets/copy_seeds.json).

    python bench/studies/copy_seeds.py --out bench/results/copy_seeds/results.json
"""

import sys
from pathlib import Path

sys.path[:0] = [str(Path(__file__).resolve().parents[2]), str(Path(__file__).resolve().parents[1])]

import harness  # noqa: E402
import torch  # noqa: E402

from minirmt import build_model, preset  # noqa: E402
from minirmt.data import tasks  # noqa: E402
from minirmt.training.metrics import answer_accuracy  # noqa: E402
from minirmt.training.task_loop import TrainConfig, train  # noqa: E402

COUNTS, STEPS = (1, 2, 4), {"rmt": 400, "segment": 300}


def accuracy(model, task, g: int) -> float:
    """Answer accuracy on 256 fresh sequences of g segments (the notebook's evaluation)."""
    model.eval()
    tokens, targets = task.sample(256, g, torch.Generator().manual_seed(7))
    with torch.no_grad():
        return answer_accuracy(model(tokens).logits, targets)[0]


def main(argv=None) -> int:
    args, seeds = harness.seed_study_args(__doc__.split("\n\n")[0], argv)
    task = tasks.make_task("copy", segment_len=8)
    cfg = preset("lab", vocab_size=task.vocab_size)
    rows = []
    for seed in seeds:
        for g in COUNTS:
            for model in STEPS:
                config = TrainConfig(steps=STEPS[model], segments=g, batch_size=64, lr=3e-3, eval_every=100,
                                     eval_batches=4, seed=seed, device="cpu")
                run = train(build_model(model, cfg, seed=seed), task, config, progress=False)
                rows.append({"seed": seed, "g": g, "model": model, "accuracy": accuracy(run.model, task, g)})
                print(rows[-1], flush=True)
    harness.write_study(args.out, "bench/studies/copy_seeds.py", rows=rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
