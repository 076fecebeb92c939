"""Associative retrieval (RMT paper, Sec. 4 and Fig. 4) and multi-query associative recall (MQAR; Zoology, Arora
et al. 2023): store key-value pairs, then answer keys."""

from dataclasses import dataclass
from typing import ClassVar

import torch

from minirmt.model.config import option
from minirmt.model.validation import IGNORE_INDEX

from .base import DIGITS, FIRST_SYMBOL, KEYS, Task, distinct, pads, randint, teacher_forced, write_pairs


@dataclass(frozen=True)
class AssociativeRecall(Task):
    """Associative retrieval (RMT paper, Sec. 4): store key-value pairs, then answer keys.

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
        keys = FIRST_SYMBOL + distinct(batch_size, self.num_pairs, self.num_keys, generator)
        values = randint(FIRST_SYMBOL + self.num_keys, self.vocab_size, (batch_size, self.num_pairs), generator)
        return keys, values

    def _draw(self, batch_size: int, num_segments: int, generator: torch.Generator):
        s, q = num_segments * self.segment_len, self._queries
        keys, values = self._pairs(batch_size, generator)  # (b, p) each
        asked = distinct(batch_size, q, self.num_pairs, generator)  # (b, q): which pairs, in which order
        start = s - (2 * q - 1)
        seq = pads(batch_size, s + 1, generator.device)
        write_pairs(seq, 0, keys, values)
        write_pairs(seq, start, keys.gather(1, asked), values.gather(1, asked))
        t = torch.arange(s, device=generator.device)
        return teacher_forced(seq, (t >= start) & ((t - start) % 2 == 0))

    def _glyph(self, token: int) -> str:
        key, value = token - FIRST_SYMBOL, token - FIRST_SYMBOL - self.num_keys
        if 0 <= key < min(self.num_keys, len(KEYS)):
            return KEYS[key]
        if 0 <= value < min(self.num_values, len(DIGITS)):
            return DIGITS[value]
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
        asked = distinct(batch_size, q, self.num_pairs, generator)  # (b, q)
        where = first + 2 * distinct(batch_size, q, (s - first + 1) // 2, generator)  # (b, q) query positions
        tokens = pads(batch_size, s, generator.device)
        write_pairs(tokens, 0, keys, values)
        tokens.scatter_(1, where, keys.gather(1, asked))
        targets = torch.full_like(tokens, IGNORE_INDEX).scatter_(1, where, values.gather(1, asked))
        return tokens, targets
