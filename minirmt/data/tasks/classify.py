"""Long-sequence classification, the task of the RMT's encoder form (RMT paper, Sec. 3): which class came first?"""

from dataclasses import dataclass
from typing import ClassVar

import torch

from minirmt.model.config import option

from .base import DIGITS, FIRST_SYMBOL, KEYS, Task, randint


@dataclass(frozen=True)
class Classify(Task):
    """The first segment holds one class symbol among noise; every later segment holds noise and one decoy class.

    The label `(b,)` is the first segment's class, so a model must carry it in memory across g - 1 segments and
    not let the decoys overwrite it. A model that reads only the last segment sees a decoy, which says nothing of
    the label: chance is 1 / num_classes. With g = 1 there is no decoy: the control any model solves. Class
    symbols are shown as A B C ..., noise as a b c ...; g = 3, n = 4, seed 0:

        tokens  f A h e | e D e c | a g c B
        label   A
    """

    name: ClassVar[str] = "classify"
    num_classes: int = option(4, "classify: classes (y)")
    num_noise: int = option(8, "classify: distinct noise symbols")

    @property
    def vocab_size(self) -> int:
        return FIRST_SYMBOL + self.num_classes + self.num_noise

    @property
    def chance_accuracy(self) -> float:
        return 1 / self.num_classes

    def _need(self, num_segments: int) -> tuple[int, str]:
        return 1, f"num_classes={self.num_classes}"

    def _draw(self, batch_size: int, num_segments: int, generator: torch.Generator):
        b, n, g, device = batch_size, self.segment_len, num_segments, generator.device
        noise = FIRST_SYMBOL + self.num_classes
        tokens = randint(noise, self.vocab_size, (b, g * n), generator)  # (b, s)
        classes = randint(0, self.num_classes, (b, g), generator)  # (b, g): the label, then a decoy per segment
        where = randint(0, n, (b, g), generator) + n * torch.arange(g, device=device)  # (b, g): one spot per segment
        tokens.scatter_(1, where, FIRST_SYMBOL + classes)
        return tokens, classes[:, 0]

    def render(self, tokens: torch.Tensor, label: torch.Tensor) -> str:
        """One sequence, `tokens (s,)` and its `label ()`, with `|` between segments."""
        glyphs = [self._glyph(i) for i in tokens.tolist()]
        n = self.segment_len
        line = " | ".join(" ".join(glyphs[i : i + n]) for i in range(0, len(glyphs), n))
        return f"{'tokens':<8}{line}\n{'label':<8}{DIGITS[10 + int(label)]}"

    def _glyph(self, token: int) -> str:
        klass, noise = token - FIRST_SYMBOL, token - FIRST_SYMBOL - self.num_classes
        if 0 <= klass < self.num_classes:
            return DIGITS[10 + klass]  # A B C ...
        if 0 <= noise < min(self.num_noise, len(KEYS)):
            return KEYS[noise]
        return super()._glyph(token)
