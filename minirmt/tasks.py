"""Synthetic memory tasks: copy, reverse and associative retrieval (RMT paper, Sec. 4.1) and multi-query
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

import itertools
import string
from dataclasses import MISSING, dataclass, fields
from typing import ClassVar

import torch

from .options import option
from .validation import IGNORE_INDEX, require_int

PAD, GO, FIRST_SYMBOL = 0, 1, 2
_DIGITS = string.digits + string.ascii_uppercase  # glyphs of digits and values
_KEYS = string.ascii_lowercase  # glyphs of keys


@dataclass(frozen=True)
class Task:
    """A synthetic task on segments of `segment_len` (n) tokens; subclasses add their sizes and layout.

    Sizes are checked on construction, so `dataclasses.replace(task, num_pairs=3)` (a curriculum step)
    is checked too; whether they fit in g segments is checked by `sample`.
    """

    segment_len: int = option(MISSING, "n, tokens per segment")
    name: ClassVar[str]

    def __post_init__(self):
        for f in fields(self):
            require_int(self.name, f.name, getattr(self, f.name), minimum=1, optional=f.default is None)

    @property
    def vocab_size(self) -> int:
        """v: PAD, GO and the task's symbols."""
        raise NotImplementedError

    @property
    def chance_accuracy(self) -> float:
        """Accuracy per answer token of the best model that cannot see earlier segments (g >= 2)."""
        raise NotImplementedError

    @property
    def min_segments(self) -> int:
        """The fewest segments g whose g * n tokens hold the task's sizes (1: the single-segment control fits)."""
        return next(g for g in itertools.count(1) if self._need(g)[0] <= g * self.segment_len)

    def sample(self, batch_size: int, num_segments: int, generator: torch.Generator):
        """A batch of b = `batch_size` sequences of g = `num_segments` segments.

        Returns `tokens (b, s)` int64 in [0, vocab_size) and `targets (b, s)` int64, -100 where nothing is
        asked, with s = g * n. Randomness comes only from `generator`; tensors live on its device.
        """
        require_int("sample", "batch_size", batch_size, minimum=1)
        require_int("sample", "num_segments", num_segments, minimum=1)
        if not isinstance(generator, torch.Generator):
            raise TypeError(f"generator must be a torch.Generator, got {type(generator).__name__}")
        need, sizes = self._need(num_segments)
        s = num_segments * self.segment_len
        if need > s:
            raise ValueError(
                f"{self.name} with {sizes} needs {need} tokens, more than g * n = {num_segments} * "
                f"{self.segment_len} = {s}; it fits from num_segments={self.min_segments}"
            )
        return self._draw(batch_size, num_segments, generator)

    def render(self, tokens: torch.Tensor, targets: torch.Tensor) -> str:
        """One sequence, `tokens (s,)` over `targets (s,)`, as two aligned lines with `|` between segments."""
        if tokens.shape != targets.shape or tokens.dim() != 1:
            raise ValueError(
                f"render takes tokens (s,) and targets (s,), got {tuple(tokens.shape)} and {tuple(targets.shape)}"
            )
        n = self.segment_len

        def line(label: str, ids: torch.Tensor) -> str:
            glyphs = [self._glyph(i) for i in ids.tolist()]
            return f"{label:<8}" + " | ".join(" ".join(glyphs[i : i + n]) for i in range(0, len(glyphs), n))

        return line("tokens", tokens) + "\n" + line("targets", targets)

    def _glyph(self, token: int) -> str:
        return {IGNORE_INDEX: ".", PAD: "_", GO: ">"}.get(token, "?")

    def _need(self, num_segments: int) -> tuple[int, str]:
        """How many tokens the task needs in g segments, and its sizes in words (for error messages)."""
        raise NotImplementedError

    def _draw(self, batch_size: int, num_segments: int, generator: torch.Generator):
        raise NotImplementedError


@dataclass(frozen=True)
class Copy(Task):
    """Copy (RMT paper, Sec. 4.1): read `source_len` digits, then after GO write them again.

    The source starts the sequence; GO and the copy end it, PAD fills any gap. The answer at GO + i repeats
    source digit i, GO positions back; for g >= 2 GO sits at position n or later, so every answer's digit lies
    in an earlier segment. `source_len=None` takes the longest source that fits in g segments (s // 2).
    Digits are independent and uniform: chance is 1 / num_digits. g = 3, n = 4 (source 6), seed 1:

        tokens  5 9 4 8 | 3 3 > 5 | 9 4 8 3
        targets . . . . | . . 5 9 | 4 8 3 3

    The command line's setting (recipes.py): `make_task("copy", 8)` with 3 segments copies 12 digits.
    """

    name: ClassVar[str] = "copy"
    num_digits: int = option(10, "copy/reverse: distinct digits")
    source_len: int | None = option(None, "copy/reverse: digits to copy (none: as many as fit)")

    @property
    def vocab_size(self) -> int:
        return FIRST_SYMBOL + self.num_digits

    @property
    def chance_accuracy(self) -> float:
        return 1 / self.num_digits

    def _earliest_go(self, source_len: int, num_segments: int) -> int:
        """The first position GO may take: after the source and far enough that answers are segments away."""
        return source_len if num_segments == 1 else max(source_len, self.segment_len)

    def _answers(self, source: torch.Tensor) -> torch.Tensor:
        return source

    def _source_len(self, num_segments: int) -> int:
        if self.source_len is not None:
            return self.source_len
        s = num_segments * self.segment_len
        return next((L for L in range(s // 2, 0, -1) if self._earliest_go(L, num_segments) + L <= s), 1)

    def _need(self, num_segments: int) -> tuple[int, str]:
        L = self._source_len(num_segments)
        return self._earliest_go(L, num_segments) + L, f"num_digits={self.num_digits}, source_len={L}"

    def _draw(self, batch_size: int, num_segments: int, generator: torch.Generator):
        s, L = num_segments * self.segment_len, self._source_len(num_segments)
        go = s - L  # GO and the L - 1 fed answers end the sequence
        source = _randint(FIRST_SYMBOL, self.vocab_size, (batch_size, L), generator)  # (b, L)
        seq = _pads(batch_size, s + 1, generator.device)  # the whole string; the model reads all but its last token
        seq[:, :L] = source
        seq[:, go] = GO
        seq[:, go + 1 :] = self._answers(source)
        return _teacher_forced(seq, torch.arange(s, device=generator.device) >= go)

    def _glyph(self, token: int) -> str:
        digit = token - FIRST_SYMBOL
        return _DIGITS[digit] if 0 <= digit < min(self.num_digits, len(_DIGITS)) else super()._glyph(token)


@dataclass(frozen=True)
class Reverse(Copy):
    """Reverse (RMT paper, Sec. 4.1): like `Copy`, but write the source back to front.

    The first answer repeats the source's *last* digit, so for g >= 2 GO starts the first segment after the
    source. `source_len=None` takes the longest that fits: s // 2 for even g, n * (g - 1) / 2 for odd g (one
    segment of PAD between). Chance is 1 / num_digits. g = 4, n = 4 (source 8), seed 1:

        tokens  5 9 4 8 | 3 3 1 1 | > 1 1 3 | 3 8 4 9
        targets . . . . | . . . . | 1 1 3 3 | 8 4 9 5
    """

    name: ClassVar[str] = "reverse"

    def _earliest_go(self, source_len: int, num_segments: int) -> int:
        n = self.segment_len
        return source_len if num_segments == 1 else n * -(-source_len // n)

    def _answers(self, source: torch.Tensor) -> torch.Tensor:
        return source.flip(1)


@dataclass(frozen=True)
class AssociativeRecall(Task):
    """Associative retrieval (RMT paper, Sec. 4.1): store key-value pairs, then answer keys.

    `num_pairs` pairs `k v k v ...` (distinct keys, values drawn independently) start the sequence and are
    padded to whole segments; the query phase ends it: `num_queries` of the keys (default: every key once)
    in random order, each followed by its value, with the loss on the value. The paper's form asks a single
    key (`num_queries=1`). Fed answers say nothing about the next one (values are independent), so without
    memory chance is 1 / num_values. g = 4, n = 4, 4 pairs, seed 1:

        tokens  f 6 a 9 | h 2 d 4 | _ h 2 f | 6 d 4 a
        targets . . . . | . . . . | . 2 . 6 | . 4 . 9

    The known-good setting (`python -m minirmt train --task assoc`): `make_task("assoc", 8)` over 4 segments,
    the curriculum `train.pair_stages` (more pairs, then more segments) and the memory hint (hint.py).
    """

    name: ClassVar[str] = "assoc"
    num_keys: int = option(16, "assoc/mqar: distinct keys")
    num_values: int = option(16, "assoc/mqar: distinct values")
    num_pairs: int = option(4, "assoc/mqar: key-value pairs stored")
    num_queries: int | None = option(None, "assoc/mqar: keys asked (none: every stored key once)")

    def __post_init__(self):
        super().__post_init__()
        if self.num_pairs > self.num_keys:
            raise ValueError(
                f"{self.name}: num_pairs={self.num_pairs} needs that many distinct keys, "
                f"more than num_keys={self.num_keys}"
            )
        if self.num_queries is not None and self.num_queries > self.num_pairs:
            raise ValueError(
                f"{self.name}: num_queries={self.num_queries} asks more keys than are stored "
                f"(num_pairs={self.num_pairs})"
            )

    @property
    def vocab_size(self) -> int:
        return FIRST_SYMBOL + self.num_keys + self.num_values

    @property
    def chance_accuracy(self) -> float:
        return 1 / self.num_values

    @property
    def _queries(self) -> int:
        return self.num_pairs if self.num_queries is None else self.num_queries

    def _first_query(self, num_segments: int) -> int:
        """The first position a query may take: after the pairs, in a later segment when g >= 2."""
        n, pairs_len = self.segment_len, 2 * self.num_pairs
        return pairs_len if num_segments == 1 else n * -(-pairs_len // n)

    def _need(self, num_segments: int) -> tuple[int, str]:
        # the queries take 2q - 1 positions: the last value is only a target, never read
        need = self._first_query(num_segments) + 2 * self._queries - 1
        return need, f"num_pairs={self.num_pairs}, num_queries={self._queries}"

    def _pairs(self, batch_size: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        """keys `(b, p)` distinct in every row, values `(b, p)` independent, as token ids."""
        keys = FIRST_SYMBOL + _distinct(batch_size, self.num_pairs, self.num_keys, generator)
        values = _randint(FIRST_SYMBOL + self.num_keys, self.vocab_size, (batch_size, self.num_pairs), generator)
        return keys, values

    def _draw(self, batch_size: int, num_segments: int, generator: torch.Generator):
        s, q = num_segments * self.segment_len, self._queries
        keys, values = self._pairs(batch_size, generator)  # (b, p) each
        asked = _distinct(batch_size, q, self.num_pairs, generator)  # (b, q): which pairs, in which order
        start = s - (2 * q - 1)
        seq = _pads(batch_size, s + 1, generator.device)
        _write_pairs(seq, 0, keys, values)
        _write_pairs(seq, start, keys.gather(1, asked), values.gather(1, asked))
        t = torch.arange(s, device=generator.device)
        return _teacher_forced(seq, (t >= start) & ((t - start) % 2 == 0))

    def _glyph(self, token: int) -> str:
        key, value = token - FIRST_SYMBOL, token - FIRST_SYMBOL - self.num_keys
        if 0 <= key < min(self.num_keys, len(_KEYS)):
            return _KEYS[key]
        if 0 <= value < min(self.num_values, len(_DIGITS)):
            return _DIGITS[value]
        return super()._glyph(token)


@dataclass(frozen=True)
class MultiQueryRecall(AssociativeRecall):
    """Multi-query associative recall (MQAR; Zoology, Arora et al. 2023): queries scattered after the pairs.

    The pairs are those of `AssociativeRecall`, padded to whole segments. Everything after them is the
    query region, cut in slots of two tokens; each asked key (default: every key once, as in Zoology) takes
    the first token of a random slot, the rest stays PAD, and the value is the target at the key itself:
    answers are never fed back. Unlike Zoology, slots are uniform (their power law with `power_a = 1`),
    gaps are PAD rather than random tokens, and values may repeat. Chance is 1 / num_values. g = 4, n = 4,
    2 pairs, seed 1:

        tokens  f 6 a 9 | _ _ _ _ | a _ _ _ | _ _ f _
        targets . . . . | . . . . | 9 . . . | . . 6 .
    """

    name: ClassVar[str] = "mqar"

    def _draw(self, batch_size: int, num_segments: int, generator: torch.Generator):
        s, q, first = num_segments * self.segment_len, self._queries, self._first_query(num_segments)
        keys, values = self._pairs(batch_size, generator)  # (b, p) each
        asked = _distinct(batch_size, q, self.num_pairs, generator)  # (b, q)
        where = first + 2 * _distinct(batch_size, q, (s - first + 1) // 2, generator)  # (b, q) query positions
        tokens = _pads(batch_size, s, generator.device)
        _write_pairs(tokens, 0, keys, values)
        tokens.scatter_(1, where, keys.gather(1, asked))
        targets = torch.full_like(tokens, IGNORE_INDEX).scatter_(1, where, values.gather(1, asked))
        return tokens, targets


TASK_CLASSES = {cls.name: cls for cls in (Copy, Reverse, AssociativeRecall, MultiQueryRecall)}
TASKS = tuple(TASK_CLASSES)  # the task names: ("copy", "reverse", "assoc", "mqar")


def make_task(name: str, segment_len: int, **sizes) -> Task:
    """The task called `name` on segments of `segment_len` tokens; `sizes` override its defaults.

    copy, reverse: num_digits=10, source_len=None (the longest that fits).
    assoc, mqar:   num_keys=16, num_values=16, num_pairs=4, num_queries=None (every stored key once).
    """
    if name not in TASK_CLASSES:
        raise ValueError(f"unknown task {name!r}, expected one of {TASKS}")
    cls = TASK_CLASSES[name]
    allowed = [f.name for f in fields(cls) if f.name != "segment_len"]
    unknown = sorted(set(sizes) - set(allowed))
    if unknown:
        raise TypeError(f"{name} takes the sizes {allowed}, got unknown {unknown}")
    return cls(segment_len, **sizes)


def _teacher_forced(seq: torch.Tensor, asked: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """`seq (b, s + 1)` -> tokens `seq[:, :-1]` and targets `seq[:, 1:]` where `asked (s,)`, else -100."""
    return seq[:, :-1].contiguous(), seq[:, 1:].masked_fill(~asked, IGNORE_INDEX)


def _pads(b: int, s: int, device: torch.device) -> torch.Tensor:
    return torch.full((b, s), PAD, dtype=torch.long, device=device)


def _randint(low: int, high: int, shape: tuple[int, int], generator: torch.Generator) -> torch.Tensor:
    return torch.randint(low, high, shape, generator=generator, device=generator.device)


def _distinct(b: int, k: int, high: int, generator: torch.Generator) -> torch.Tensor:
    """`(b, k)`: in every row, k distinct ints from [0, high) in random order (where the k largest of
    `high` uniform draws sit)."""
    return torch.rand(b, high, generator=generator, device=generator.device).topk(k, dim=1).indices


def _write_pairs(seq: torch.Tensor, start: int, keys: torch.Tensor, values: torch.Tensor) -> None:
    """Write `keys (b, p)` and `values (b, p)` into `seq (b, s)` as `k v k v ...` from position `start`."""
    p = keys.shape[1]
    seq[:, start : start + 2 * p : 2] = keys
    seq[:, start + 1 : start + 2 * p : 2] = values
