"""Synthetic memory tasks: copy, reverse and associative retrieval (RMT paper, Sec. 4) and multi-query
associative recall (MQAR; Zoology, Arora et al. 2023).

`make_task(name, segment_len, **sizes)` returns a `Task`; `task.sample(b, g, generator)` draws
`tokens (b, s)` and `targets (b, s)` with s = g * n. Targets are next-token style: `targets[t]` is what the
model must output at position t after reading `tokens[: t + 1]` (teacher forcing), and -100 wherever nothing
is asked.

Every task writes what must be remembered at the start, its answer phase at the end, and padding between, so
that for g >= 2 every answer repeats a symbol from an *earlier* segment and nothing in the answer's own
segment tells which: a model without memory (a segment-only model) stays at `chance_accuracy`. With g = 1
the whole task sits in one segment: the control that plain full attention solves.

Vocabulary, one layout for every task:

    0                  PAD  filler, never a target              shown as `_`
    1                  GO   "now copy" (copy, reverse)           shown as `>`
    2 .. 2+D-1         digits (copy, reverse)                    shown as 0 1 2 ...
    2 .. 2+K-1         keys (assoc, mqar)                        shown as a b c ...
    2+K .. 2+K+V-1     values (assoc, mqar)                      shown as 0 1 2 ... 9 A B ...

In the layout examples (made with `Task.render`) `|` separates segments and `.` marks "no target" (-100).
"""

from dataclasses import fields

from .base import FIRST_SYMBOL, GO, PAD, Task
from .classify import Classify
from .copying import Copy, Reverse
from .needle import Needle
from .paper import PAPER_SEGMENTS, PaperTask, paper_task
from .recall import AssociativeRecall, MultiQueryRecall

TASK_CLASSES = {cls.name: cls for cls in (Copy, Reverse, AssociativeRecall, MultiQueryRecall, Classify, Needle)}
TASKS = tuple(TASK_CLASSES)  # ("copy", "reverse", "assoc", "mqar", "classify", "needle")
LAYOUTS = ("minirmt", "paper")  # minirmt's layouts, or the paper's (paper.py) of copy, reverse and assoc


def make_task(name: str, segment_len: int | None = None, *, layout: str = "minirmt", segments: int | None = None,
              **sizes) -> Task:
    """The task called `name` on segments of `segment_len` tokens; `sizes` override its defaults.

    copy, reverse: num_digits=10, source_len=None (the longest that fits).
    assoc, mqar:   num_keys=16, num_values=16, num_pairs=4, num_queries=None (every stored key once).
    classify:      num_classes=4, num_noise=8.
    needle:        num_facts=1, num_keys=8, num_values=8, num_filler=16, filler=None (random symbols).
    layout="paper": the paper's copy, reverse or assoc (paper.py), of fixed length, cut into `segments` segments.
    """
    if layout == "paper":
        if segment_len is not None or sizes:
            raise ValueError("the paper's layout fixes the task's sizes: give only segments=g")
        if segments is None:
            raise ValueError(f"the paper's layout needs segments=g, e.g. one of {PAPER_SEGMENTS.get(name, (1,))}")
        return paper_task(name, segments)
    if layout != "minirmt":
        raise ValueError(f"layout must be 'minirmt' or 'paper', got {layout!r}")
    if name not in TASK_CLASSES:
        raise ValueError(f"unknown task {name!r}, expected one of {TASKS}")
    if segment_len is None:
        raise TypeError(f"make_task({name!r}) needs segment_len, the tokens per segment")
    cls = TASK_CLASSES[name]
    allowed = [f.name for f in fields(cls) if f.name != "segment_len"]  # sizes, and a needle's filler text
    unknown = sorted(set(sizes) - set(allowed))
    if unknown:
        raise TypeError(f"{name} takes the sizes {allowed}, got unknown {unknown}")
    return cls(segment_len, **sizes)


__all__ = ["FIRST_SYMBOL", "GO", "PAD", "TASKS", "TASK_CLASSES", "AssociativeRecall", "Copy", "MultiQueryRecall",
           "Reverse", "Task", "make_task", "Classify", "Needle", "LAYOUTS", "PAPER_SEGMENTS", "PaperTask"]
