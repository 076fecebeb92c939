"""What every synthetic task shares: the vocabulary layout, the `Task` base class, and the helpers that draw
batches. See the package docstring (tasks/__init__.py) for the layout rules every task follows."""

import itertools
import string
from dataclasses import MISSING, dataclass, fields
from typing import ClassVar

import torch

from minirmt.model.config import option
from minirmt.model.validation import IGNORE_INDEX, require_int

PAD, GO, FIRST_SYMBOL = 0, 1, 2
DIGITS = string.digits + string.ascii_uppercase  # glyphs of digits and values
KEYS = string.ascii_lowercase  # glyphs of keys


def sizes(task) -> list:
    """The fields of a task (class or instance) that are its sizes, ints with a help text (a filler text is not)."""
    return [f for f in fields(task) if "help" in f.metadata]


@dataclass(frozen=True)
class Task:
    """A synthetic task on segments of `segment_len` (n) tokens; subclasses add their sizes and layout.

    Sizes are checked on construction, so `dataclasses.replace(task, num_pairs=3)` (a curriculum step)
    is checked too; whether they fit in g segments is checked by `sample`.
    """

    segment_len: int = option(MISSING, "n, tokens per segment")
    name: ClassVar[str]

    def __post_init__(self):
        for f in sizes(self):
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


def teacher_forced(seq: torch.Tensor, asked: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """`seq (b, s + 1)` -> tokens `seq[:, :-1]` and targets `seq[:, 1:]` where `asked (s,)`, else -100."""
    return seq[:, :-1].contiguous(), seq[:, 1:].masked_fill(~asked, IGNORE_INDEX)


def pads(b: int, s: int, device: torch.device) -> torch.Tensor:
    return torch.full((b, s), PAD, dtype=torch.long, device=device)


def randint(low: int, high: int, shape: tuple[int, int], generator: torch.Generator) -> torch.Tensor:
    return torch.randint(low, high, shape, generator=generator, device=generator.device)


def distinct(b: int, k: int, high: int, generator: torch.Generator) -> torch.Tensor:
    """`(b, k)`: in every row, k distinct ints from [0, high) in random order (where the k largest of
    `high` uniform draws sit)."""
    return torch.rand(b, high, generator=generator, device=generator.device).topk(k, dim=1).indices


def write_pairs(seq: torch.Tensor, start: int, keys: torch.Tensor, values: torch.Tensor) -> None:
    """Write `keys (b, p)` and `values (b, p)` into `seq (b, s)` as `k v k v ...` from position `start`."""
    p = keys.shape[1]
    seq[:, start : start + 2 * p : 2] = keys
    seq[:, start + 1 : start + 2 * p : 2] = values
