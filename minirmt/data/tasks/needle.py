"""Needles in a haystack: facts hidden at random places in filler, one question at the end (BABILong's layout).

Kuratov et al., 2024 (BABILong) scatter bAbI facts through PG-19 books and ask a question at the end; Bulatov,
Kuratov & Burtsev, 2023 ("Scaling Transformer to 1M tokens and beyond with RMT") trained an RMT on a few segments
of this and read texts of up to two million tokens. Here a fact is a key followed by its value, the filler is
noise symbols (or the bytes of a real text: `filler=`), and the question is QUERY and one of the keys:

    tokens   - - - - c 5 - - | - - - - - - - - | - - - - - - ? c
    targets  . . . . . . . . | . . . . . . . . | . . . . . . . 5

What must be remembered can sit in any segment but the last, which holds filler and the question (in a text
of one segment, the single-segment control, everything shares it); only the answer, the last target, carries
loss. Without memory the last segment tells nothing of the value: chance is 1 / num_values. A seeded generator
fixes everything: the facts, where they sit, the filler.
"""

from dataclasses import dataclass, field
from typing import ClassVar

import torch

from minirmt.model.config import option
from minirmt.model.validation import IGNORE_INDEX

from .base import DIGITS, FIRST_SYMBOL, KEYS, Task, distinct, randint

QUERY = FIRST_SYMBOL - 1  # GO's id: here it asks the question


@dataclass(frozen=True)
class Needle(Task):
    """`num_facts` distinct keys, each followed by its value, at random places of g segments of filler; the last
    two tokens ask one of the keys (module docstring). `filler`: ids `(N,)` in [0, num_filler) of a text to cut
    the filler from, e.g. `text.load_bytes(...)` with num_filler=256 (None: random noise symbols)."""

    name: ClassVar[str] = "needle"
    num_facts: int = option(1, "needle: facts hidden in the filler")
    num_keys: int = option(8, "needle: distinct keys")
    num_values: int = option(8, "needle: distinct values")
    num_filler: int = option(16, "needle: distinct filler symbols (256 for a text's bytes)")
    filler: torch.Tensor | None = field(default=None, compare=False, repr=False)

    @property
    def vocab_size(self) -> int:
        return FIRST_SYMBOL + self.num_keys + self.num_values + self.num_filler

    @property
    def chance_accuracy(self) -> float:
        return 1 / self.num_values

    def _need(self, num_segments: int) -> tuple[int, str]:
        question = 2 if num_segments == 1 else self.segment_len  # the facts stay out of the question's segment
        return 2 * self.num_facts + question, f"num_facts={self.num_facts}"

    def _draw(self, batch_size: int, num_segments: int, generator: torch.Generator):
        b, s, f = batch_size, num_segments * self.segment_len, self.num_facts
        span = s - 2 if num_segments == 1 else s - self.segment_len  # where facts may sit: before the last segment
        first_filler = FIRST_SYMBOL + self.num_keys + self.num_values
        tokens = first_filler + self._filler_ids(b, s, generator)  # (b, s)
        keys = FIRST_SYMBOL + distinct(b, f, self.num_keys, generator)  # (b, f)
        values = FIRST_SYMBOL + self.num_keys + randint(0, self.num_values, (b, f), generator)  # (b, f)
        # fact i takes two places in slot i of f equal slots of the span: [start, start + 1]
        room = span // f - 1  # where a fact may start inside its slot
        starts = randint(0, room, (b, f), generator) + torch.arange(f, device=generator.device) * (span // f)
        tokens.scatter_(1, starts, keys)
        tokens.scatter_(1, starts + 1, values)
        asked = randint(0, f, (b, 1), generator)  # (b, 1): which fact the question asks
        tokens[:, -2] = QUERY
        tokens[:, -1] = keys.gather(1, asked)[:, 0]
        targets = torch.full_like(tokens, IGNORE_INDEX)
        targets[:, -1] = values.gather(1, asked)[:, 0]
        return tokens, targets

    def _filler_ids(self, b: int, s: int, generator: torch.Generator) -> torch.Tensor:
        """`(b, s)` filler ids in [0, num_filler): random symbols, or rows cut from random places of the text."""
        if self.filler is None:
            return randint(0, self.num_filler, (b, s), generator)
        starts = randint(0, self.filler.numel() - s, (b, 1), generator)
        return self.filler.to(generator.device).long()[starts + torch.arange(s, device=generator.device)]

    def _glyph(self, token: int) -> str:
        key, value = token - FIRST_SYMBOL, token - FIRST_SYMBOL - self.num_keys
        if token == QUERY:
            return "?"
        if 0 <= key < min(self.num_keys, len(KEYS)):
            return KEYS[key]
        if 0 <= value < min(self.num_values, len(DIGITS)):
            return DIGITS[value]
        return "-" if token >= FIRST_SYMBOL else super()._glyph(token)  # filler


def needle_depth(tokens: torch.Tensor) -> torch.Tensor:
    """`(b,)` in [0, 1): where the asked fact sits in `tokens (b, s)`, as a fraction of the s - 2 tokens before the
    question (0: at the very start, near 1: just before it); BABILong's "depth" of the needle."""
    before = tokens[:, :-2]  # (b, s - 2): the text the question is about
    position = (before == tokens[:, -1:]).float().argmax(1)  # (b,): the first place that holds the asked key
    return position / before.shape[1]
