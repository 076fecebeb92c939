"""Attention maps over `[read m | tokens n | write m]` (RMT paper, Sec. 3): one map, a grid, read and write."""

from collections.abc import Sequence

import torch
from matplotlib.figure import Figure

from .common import as_matrix
from .segments import draw_layout


def stack_attentions(attentions: Sequence[Sequence[torch.Tensor]], batch: int = 0) -> torch.Tensor:
    """A model's `out.attentions` (per segment, per layer `(b, h, i, j)`) -> `(g, l, h, i, j)` for one sequence."""
    if not attentions or not all(attentions):
        raise ValueError("attentions is empty: call the model with return_attention=True")
    sizes = {tuple(w.shape[2:]) for per_layer in attentions for w in per_layer}
    if len(sizes) != 1:
        raise ValueError(
            f"attentions: segments differ in size {sorted(sizes)} (a shorter last segment?); "
            "pass only whole segments"
        )
    return torch.stack([torch.stack([w[batch] for w in per_layer]) for per_layer in attentions]).detach().cpu()


def plot_attention(weights, m: int, n: int | None, title: str | None = None, vmax: float | None = None,
                   cache: int = 0) -> Figure:
    """One attention map `(i, j)` (one layer, head and segment) with the read/token/write blocks marked.

    n=None draws the map without blocks; `cache` > 0 marks where the keys of a Transformer-XL map over
    `[cache c | tokens]` change from the cached positions to the segment's own.
    """
    weights = as_matrix(weights, "weights")
    fig = Figure(figsize=(4.6, 4.0), layout="constrained")
    ax = fig.add_subplot()
    image = ax.imshow(weights.numpy(), cmap="magma", vmin=0.0, vmax=vmax, interpolation="nearest")
    draw_layout(ax, weights.shape[0], weights.shape[1], m, n)
    if cache:
        ax.axvline(cache - 0.5, color="white", linewidth=1.5)
        ax.axvline(cache - 0.5, color="black", linewidth=0.6)
        ax.set_xticks([(cache - 1) / 2, (cache + weights.shape[1] - 1) / 2], ["cache", "tokens"])
    ax.set_xlabel("key j (attended to)")
    ax.set_ylabel("query i (attending)")
    ax.set_title(title or "attention weights")
    fig.colorbar(image, ax=ax, shrink=0.8, label="attention weight")
    return fig


def plot_attention_grid(weights, m: int, n: int | None, row_label: str = "layer", col_label: str = "head",
                        title: str | None = None) -> Figure:
    """A grid of attention maps `(r, c, i, j)`, e.g. layers x heads of one segment, on one colour scale."""
    weights = torch.as_tensor(weights).detach().cpu().float()
    if weights.dim() != 4:
        raise ValueError(f"weights must be (rows, cols, i, j), e.g. (l, h, i, j), got shape {tuple(weights.shape)}")
    rows, cols = weights.shape[:2]
    fig = Figure(figsize=(1.9 * cols + 0.8, 1.9 * rows + 0.5), layout="constrained")
    axes = fig.subplots(rows, cols, squeeze=False)
    vmax = float(weights.max())
    for r in range(rows):
        for c in range(cols):
            ax = axes[r][c]
            image = ax.imshow(weights[r, c].numpy(), cmap="magma", vmin=0.0, vmax=vmax, interpolation="nearest")
            draw_layout(ax, weights.shape[2], weights.shape[3], m, n, labels=(r == rows - 1 or c == 0))
            if r < rows - 1:
                ax.set_xticklabels([])
            if c > 0:
                ax.set_yticklabels([])
            ax.set_title(f"{row_label} {r} · {col_label} {c}", fontsize=8)
    fig.colorbar(image, ax=axes, shrink=0.7, label="attention weight")
    if title:
        fig.suptitle(title)
    return fig


def plot_read_write(weights, m: int, n: int, title: str | None = None) -> Figure:
    """The two halves of the memory in one decoder map `(2m + n, 2m + n)`.

    left:  read, how much each token attends to each read slot `(n, m)`
    right: write, what each write slot attends to among [read | tokens] `(m, m + n)`
    """
    weights = as_matrix(weights, "weights")
    if m < 1 or tuple(weights.shape) != (2 * m + n, 2 * m + n):
        raise ValueError(
            f"plot_read_write needs a decoder map (2m + n, 2m + n) with m >= 1; for m={m}, n={n} that is "
            f"{(2 * m + n, 2 * m + n)}, got {tuple(weights.shape)}"
        )
    read = weights[m : m + n, :m]  # (n, m)
    write = weights[m + n :, : m + n]  # (m, m + n)
    fig = Figure(figsize=(7.5, 3.2), layout="constrained")
    ax_read, ax_write = fig.subplots(1, 2, width_ratios=[m + 2, m + n])
    vmax = float(max(read.max(), write.max()))
    ax_read.imshow(read.numpy(), cmap="magma", vmin=0.0, vmax=vmax, aspect="auto", interpolation="nearest")
    ax_read.set_title("read: tokens -> read slots")
    ax_read.set_xlabel("read slot")
    ax_read.set_ylabel("token position")
    image = ax_write.imshow(write.numpy(), cmap="magma", vmin=0.0, vmax=vmax, aspect="auto", interpolation="nearest")
    ax_write.axvline(m - 0.5, color="white", linewidth=1.5)
    ax_write.set_xticks([(m - 1) / 2, m + (n - 1) / 2], ["read", "tokens"])
    ax_write.set_title("write: write slots -> [read | tokens]")
    ax_write.set_yticks(range(m))
    ax_write.set_ylabel("write slot")
    fig.colorbar(image, ax=ax_write, shrink=0.8, label="attention weight")
    if title:
        fig.suptitle(title)
    return fig
