"""Copy and reverse (RMT paper, Sec. 4 and Fig. 4): read digits, then after GO write them again, or backwards."""

from dataclasses import dataclass
from typing import ClassVar

import torch

from minirmt.model.config import option

from .base import DIGITS, FIRST_SYMBOL, GO, Task, pads, randint, teacher_forced


@dataclass(frozen=True)
class Copy(Task):
    """Copy (RMT paper, Sec. 4): read `source_len` digits, then after GO write them again.

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
        source = randint(FIRST_SYMBOL, self.vocab_size, (batch_size, L), generator)  # (b, L)
        seq = pads(batch_size, s + 1, generator.device)  # the whole string; the model reads all but its last token
        seq[:, :L] = source
        seq[:, go] = GO
        seq[:, go + 1 :] = self._answers(source)
        return teacher_forced(seq, torch.arange(s, device=generator.device) >= go)

    def _glyph(self, token: int) -> str:
        digit = token - FIRST_SYMBOL
        return DIGITS[digit] if 0 <= digit < min(self.num_digits, len(DIGITS)) else super()._glyph(token)


@dataclass(frozen=True)
class Reverse(Copy):
    """Reverse (RMT paper, Sec. 4): like `Copy`, but write the source back to front.

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
