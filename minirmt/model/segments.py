"""Cutting a long sequence into segments and putting it back together (RMT paper, Sec. 3).

A sequence of s tokens becomes g = ceil(s / n) segments of n tokens; the last one may be shorter.
"""

import torch
from einops import rearrange


def split(x: torch.Tensor, n: int) -> list[torch.Tensor]:
    """`x (b, s, ...)` -> a list of g segments `(b, n, ...)` along dim 1; the last holds the remainder."""
    return list(x.split(n, dim=1))


def merge(segments: list[torch.Tensor]) -> torch.Tensor:
    """The inverse of `split`: g segments `(b, n_i, ...)` -> `(b, s, ...)`."""
    return torch.cat(segments, dim=1)


def num_segments(s: int, n: int) -> int:
    """How many segments of length n cover s tokens: ceil(s / n)."""
    return -(-s // n)


def pad_to_segments(x: torch.Tensor, n: int, value: int) -> torch.Tensor:
    """Pad `x (b, s)` on the right with `value` to a whole number of segments `(b, g * n)`."""
    pad = num_segments(x.shape[1], n) * n - x.shape[1]
    return torch.nn.functional.pad(x, (0, pad), value=value)


def stack(x: torch.Tensor, n: int) -> torch.Tensor:
    """`x (b, g * n)` -> `(g, b, n)`: whole segments stacked, the first axis is time."""
    return rearrange(x, "b (g n) -> g b n", n=n)
