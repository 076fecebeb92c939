"""The paper's own layouts of copy, reverse and associative retrieval (RMT paper, Sec. 4 and Fig. 4).

The paper fixes each task's total length and cuts it into more and shorter segments; minirmt's own layouts
(copying.py, recall.py) keep the segment length and grow the task with the number of segments. These presets
follow the authors' generators (booydar/LM-RMT, `generation/algorithmic.ipynb` and `experiment_utils/`) token
for token: the generated answer is joined to the input and shifted by one, and the loss is on the answer only.

    copy       24 digits (ids 2..11), GO (1), the digits twice     input 72 tokens, 48 answers   g = 1, 3, 6, 9
    reverse    24 digits, GO, the digits backwards                  input 48 tokens, 24 answers   g = 1, 2, 4, 6
    retrieval  4 pairs: keys 11..36 (distinct), values 0..9         input 10 tokens, 1 answer     g = 1 .. 5
               (distinct), one of the keys, "?" (10), its value

Copy, g = 3 (segments of 24; the second and third segments are the answers, `.` = no target):

    tokens   x1 .. x24      | > x1 .. x23     | x24 x1 .. x23
    targets  . .. .         | x1 .. x24       | x1 .. x24

Retrieval, g = 2 (segments of 5): `k1 v1 k2 v2 k3 | v3 k4 v4 q ?`, the one target the value of q at "?".
The authors cut a sequence with `torch.chunk`, which can return fewer pieces than asked: their "3 segments" of
retrieval were 2 segments of 5, and their "4 segments" 3 segments of 4, 4 and 2. Here g segments are g segments,
of ceil(total / g) tokens (the last one shorter).
"""

from dataclasses import dataclass
from typing import ClassVar

import torch

from minirmt.model.validation import IGNORE_INDEX

from .base import DIGITS, GO, KEYS, Task, distinct, randint

COPY_LEN = 24  # digits of the paper's short copy and reverse
RETRIEVAL_PAIRS = 4
QUESTION, FIRST_KEY = 10, 11  # retrieval: values are 0..9, "?" is 10, the 26 keys are 11..36
PAPER_SEGMENTS = {"copy": (1, 3, 6, 9), "reverse": (1, 2, 4, 6), "assoc": (1, 2, 3, 4, 5)}  # the paper's Fig. 4


def copy_layout(digits: torch.Tensor, reverse: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """`digits (b, L)` -> tokens and targets `(b, 3L)` (copy: [x, GO, x, x] shifted by one, the last 2L positions
    asked) or `(b, 2L)` (reverse: [x, GO, x backwards], the last L asked)."""
    go = torch.full_like(digits[:, :1], GO)
    answer = [digits.flip(1)] if reverse else [digits, digits]
    return _shifted(torch.cat([digits, go, *answer], dim=1), sum(a.shape[1] for a in answer))


def retrieval_layout(keys: torch.Tensor, values: torch.Tensor, asked: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """`keys, values (b, K)` and the asked pair's index `asked (b,)` -> tokens and targets `(b, 2K + 2)`:
    [k1 v1 .. kK vK q ? a] shifted by one, the answer a asked."""
    b = keys.shape[0]
    pairs = torch.stack([keys, values], dim=2).flatten(1)  # (b, 2K): k1 v1 k2 v2 ...
    rows = torch.arange(b, device=keys.device)
    question = torch.full((b, 1), QUESTION, dtype=keys.dtype, device=keys.device)
    full = torch.cat([pairs, keys[rows, asked][:, None], question, values[rows, asked][:, None]], dim=1)
    return _shifted(full, 1)


def _shifted(full: torch.Tensor, answers: int) -> tuple[torch.Tensor, torch.Tensor]:
    """`full (b, s + 1)` -> tokens `full[:, :-1]` and targets `full[:, 1:]`, -100 but on the last `answers`."""
    targets = full[:, 1:].clone()
    targets[:, : targets.shape[1] - answers] = IGNORE_INDEX
    return full[:, :-1].contiguous(), targets


@dataclass(frozen=True)
class PaperTask(Task):
    """A task of fixed total length (the paper's layout); `segment_len` cuts it into its segments."""

    total_len: ClassVar[int]

    @property
    def min_segments(self) -> int:
        return -(-self.total_len // self.segment_len)

    def _need(self, num_segments: int) -> tuple[int, str]:
        return self.total_len, "the paper's layout"

    def sample(self, batch_size: int, num_segments: int, generator: torch.Generator):
        """A batch `tokens (b, s)`, `targets (b, s)` with s the task's total length, cut into exactly
        `num_segments` = ceil(s / n) segments: the number of segments is set by the segment length."""
        if num_segments != self.min_segments:
            raise ValueError(f"{self.name} (the paper's layout) has {self.total_len} tokens: segments of "
                             f"{self.segment_len} make {self.min_segments} segments, not {num_segments}")
        return super().sample(batch_size, num_segments, generator)


@dataclass(frozen=True)
class PaperCopy(PaperTask):
    """Copy as the paper lays it out: 24 digits, GO, the 24 digits twice (module docstring)."""

    name: ClassVar[str] = "copy"
    total_len: ClassVar[int] = 3 * COPY_LEN
    reverse: ClassVar[bool] = False

    @property
    def vocab_size(self) -> int:
        return 12  # 0 (unused), GO, 10 digits

    @property
    def chance_accuracy(self) -> float:
        return 1 / 10

    def _draw(self, batch_size: int, num_segments: int, generator: torch.Generator):
        return copy_layout(randint(2, 12, (batch_size, COPY_LEN), generator), reverse=self.reverse)

    def _glyph(self, token: int) -> str:
        return DIGITS[token - 2] if 2 <= token < 12 else super()._glyph(token)


@dataclass(frozen=True)
class PaperReverse(PaperCopy):
    """Reverse as the paper lays it out: 24 digits, GO, the digits backwards (module docstring)."""

    name: ClassVar[str] = "reverse"
    total_len: ClassVar[int] = 2 * COPY_LEN
    reverse: ClassVar[bool] = True


@dataclass(frozen=True)
class PaperRetrieval(PaperTask):
    """Associative retrieval as the paper lays it out: 4 pairs, one key, "?", its value (module docstring)."""

    name: ClassVar[str] = "assoc"
    total_len: ClassVar[int] = 2 * RETRIEVAL_PAIRS + 2

    @property
    def vocab_size(self) -> int:
        return FIRST_KEY + 26

    @property
    def chance_accuracy(self) -> float:
        """1 / 10, a guess among the values, once the query's segment holds no pair (g >= 4); with 2 or 3 segments
        the last one still shows some pairs, and a model without memory gets about half of the answers."""
        return 1 / 10

    def _draw(self, batch_size: int, num_segments: int, generator: torch.Generator):
        b, k = batch_size, RETRIEVAL_PAIRS
        keys = FIRST_KEY + distinct(b, k, 26, generator)  # (b, K) distinct keys
        values = distinct(b, k, 10, generator)  # (b, K) distinct values 0..9
        return retrieval_layout(keys, values, randint(0, k, (b,), generator))

    def _glyph(self, token: int) -> str:
        if token == QUESTION:
            return "?"
        if 0 <= token < QUESTION:
            return DIGITS[token]
        return KEYS[token - FIRST_KEY] if FIRST_KEY <= token < self.vocab_size else "."  # "." : no target (-100)


PAPER_TASKS = {cls.name: cls for cls in (PaperCopy, PaperReverse, PaperRetrieval)}


def paper_task(name: str, segments: int) -> PaperTask:
    """The paper's layout of `name` ("copy", "reverse" or "assoc") cut into `segments` segments."""
    if name not in PAPER_TASKS:
        raise ValueError(f"the paper's layout exists for {tuple(PAPER_TASKS)}, not {name!r}")
    total = PAPER_TASKS[name].total_len
    if not isinstance(segments, int) or not 1 <= segments <= total:
        raise ValueError(f"{name} (the paper's layout) has {total} tokens: segments must be in [1, {total}], "
                         f"got {segments!r}")
    return PAPER_TASKS[name](segment_len=-(-total // segments))
