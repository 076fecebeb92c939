"""The authors' own results of the algorithmic experiment (RMT paper, Sec. 4 and 5, Fig. 4), run by run, and how
their segments map to minirmt's.

Source: booydar/LM-RMT, `experiment_results/short_synthetic+MT.csv`, the runs the paper's figure plots (the
authors' README names it figure 4): test accuracy of each seed, with the memory, the cache and the training steps
of the run (batch 32, so 250k-1M steps are 8-32 million sequences). Left out: runs without a result, and runs
whose memory sits only at the start of the segment (an ablation at chance). Two lists that the CSV holds twice
over (Transformer-XL on retrieval at 5 segments and on reverse at 6) are kept once.

How the authors scored: copy and reverse, the answers written out, each fed back inside its segment while every
segment starts from the true token (`metrics.free_running_predictions(..., across_segments=False)`); retrieval,
its one answer. minirmt also reports the stricter score where every answer is fed back, across segments too.

How they cut: a run with segment length t cut its input with `torch.chunk(x, len(x) // t)`. That is exact for
copy (72 tokens) and reverse (48), but retrieval has 10 tokens: their "3 segments" (t = 4) were 2 segments of 5,
like their "2", and their "4 segments" (t = 3) were [4, 4, 2]. `cut` below is what ran; minirmt's g segments of
ceil(10 / g) tokens give [5, 5] at g = 2, [4, 4, 2] at g = 3, [3, 3, 3, 1] at g = 4 (no authors' run) and five
segments of 2 at g = 5.
"""

from dataclasses import dataclass


@dataclass(frozen=True)
class AuthorsRun:
    """One setting of the authors' sweep and the accuracy of each of its seeds."""

    task: str  # "copy", "reverse" or "assoc"
    model: str  # "rmt", "xl" (Transformer-XL) or "segment" (no memory)
    label: int  # the number of segments the authors' figure puts it at
    cut: tuple[int, ...]  # the segment lengths that ran
    memory: int  # m, memory tokens
    cache: int  # c, Transformer-XL's cache (mem_len)
    steps: int  # training steps at batch 32
    accuracy: tuple[float, ...]  # test accuracy, one per seed

    @property
    def g(self) -> int:
        """The number of segments as minirmt counts them: the pieces that ran."""
        return len(self.cut)


def _run(task, model, label, cut, memory, cache, steps, accuracy):
    return AuthorsRun(task, model, label, tuple(cut), memory, cache, steps, tuple(accuracy))


RUNS = [_run(*row) for row in (
    ("copy", "segment", 1, [72], 0, 0, 400_000, [1.0, 1.0, 1.0]),
    ("copy", "segment", 3, [24] * 3, 0, 0, 400_000, [0.12, 0.12, 0.115]),
    ("copy", "segment", 6, [12] * 6, 0, 0, 900_000, [0.102]),
    ("copy", "segment", 9, [8] * 9, 0, 0, 900_000, [0.102, 0.102, 0.102, 0.101, 0.102]),
    ("copy", "rmt", 3, [24] * 3, 12, 0, 500_000, [1.0]),
    ("copy", "rmt", 3, [24] * 3, 24, 0, 400_000, [1.0, 1.0, 1.0]),
    ("copy", "rmt", 6, [12] * 6, 6, 0, 700_000, [1.0, 1.0, 1.0, 1.0]),
    ("copy", "rmt", 6, [12] * 6, 12, 0, 900_000, [1.0, 1.0, 1.0]),
    ("copy", "rmt", 9, [8] * 9, 8, 0, 900_000, [1.0, 1.0, 1.0, 1.0]),
    ("copy", "xl", 3, [24] * 3, 0, 12, 500_000, [0.832]),
    ("copy", "xl", 3, [24] * 3, 0, 24, 400_000, [1.0, 1.0, 0.999]),
    ("copy", "xl", 6, [12] * 6, 0, 6, 700_000, [0.657, 0.298, 0.355, 0.856]),
    ("copy", "xl", 6, [12] * 6, 0, 12, 900_000, [0.998, 0.904, 1.0]),
    ("copy", "xl", 9, [8] * 9, 0, 8, 400_000, [0.218]),
    ("copy", "xl", 9, [8] * 9, 0, 8, 900_000, [0.189, 0.451, 0.451, 0.189, 0.259, 0.186]),
    ("reverse", "segment", 1, [48], 0, 0, 250_000, [1.0, 1.0, 1.0]),
    ("reverse", "segment", 2, [24] * 2, 0, 0, 400_000, [0.102, 0.102, 0.102]),
    ("reverse", "segment", 4, [12] * 4, 0, 0, 850_000, [0.102, 0.1]),
    ("reverse", "segment", 6, [8] * 6, 0, 0, 700_000, [0.102, 0.101, 0.101, 0.102, 0.102, 0.102]),
    ("reverse", "rmt", 2, [24] * 2, 12, 0, 500_000, [1.0]),
    ("reverse", "rmt", 2, [24] * 2, 24, 0, 400_000, [1.0, 1.0, 1.0, 1.0]),
    ("reverse", "rmt", 4, [12] * 4, 6, 0, 850_000, [1.0, 1.0, 1.0]),
    ("reverse", "rmt", 4, [12] * 4, 12, 0, 850_000, [1.0, 1.0, 1.0]),
    ("reverse", "rmt", 6, [8] * 6, 8, 0, 700_000, [1.0, 0.701, 0.702, 1.0, 1.0, 1.0]),
    ("reverse", "xl", 2, [24] * 2, 0, 12, 500_000, [0.996]),
    ("reverse", "xl", 2, [24] * 2, 0, 24, 400_000, [0.959, 0.899, 0.394, 0.881]),
    ("reverse", "xl", 4, [12] * 4, 0, 6, 850_000, [0.832, 0.8, 0.782, 0.784]),
    ("reverse", "xl", 4, [12] * 4, 0, 12, 850_000, [0.877, 0.872, 0.833]),
    ("reverse", "xl", 6, [8] * 6, 0, 8, 700_000, [0.627, 0.696, 0.68, 0.66]),
    ("assoc", "segment", 1, [10], 0, 0, 400_000, [1.0, 1.0]),
    ("assoc", "segment", 2, [5, 5], 0, 0, 1_000_000, [0.496]),
    ("assoc", "segment", 3, [5, 5], 0, 0, 1_000_000, [0.496]),
    ("assoc", "segment", 4, [4, 4, 2], 0, 0, 1_000_000, [0.099]),
    ("assoc", "segment", 5, [2] * 5, 0, 0, 1_000_000, [0.099]),
    ("assoc", "rmt", 2, [5, 5], 5, 0, 700_000, [0.963]),
    ("assoc", "rmt", 2, [5, 5], 5, 0, 1_000_000, [0.999, 0.998, 0.998]),
    ("assoc", "rmt", 3, [5, 5], 4, 0, 1_000_000, [0.999, 1.0, 0.999]),
    ("assoc", "rmt", 4, [4, 4, 2], 3, 0, 1_000_000, [0.986, 0.994, 0.996]),
    ("assoc", "rmt", 5, [2] * 5, 2, 0, 1_000_000, [0.989, 0.922, 0.984]),
    ("assoc", "xl", 2, [5, 5], 0, 5, 1_000_000, [1.0, 1.0, 1.0]),
    ("assoc", "xl", 3, [5, 5], 0, 4, 1_000_000, [1.0, 1.0, 1.0]),
    ("assoc", "xl", 4, [4, 4, 2], 0, 3, 1_000_000, [0.669, 0.905, 0.973]),
    ("assoc", "xl", 5, [2] * 5, 0, 2, 1_000_000, [0.965, 0.999, 0.999]),
)]
BATCH_SIZE = 32  # the authors' batch in every run


def comparable(task: str, model: str, g: int) -> list[AuthorsRun]:
    """The authors' runs to set beside minirmt's `model` on `task` cut into `g` segments: those whose cut has g
    pieces, with memory (RMT) or cache (Transformer-XL) of their nominal segment length, as minirmt runs them."""
    return [run for run in RUNS if run.task == task and run.model == model and run.g == g
            and (model == "segment" or max(run.memory, run.cache) == nominal_segment(run))]


def nominal_segment(run: AuthorsRun) -> int:
    """The segment length t the run was given (its label's share of the input; what its memory or cache matched)."""
    return -(-sum(run.cut) // run.label)


def lowest(task: str, model: str, g: int) -> float | None:
    """The authors' lowest seed at this cell (over the comparable runs); None where they have none."""
    runs = comparable(task, model, g)
    return min(min(run.accuracy) for run in runs) if runs else None
