"""How RMT sees a sequence: the blocks of a segment's input, the attention mask, the segments of a
sequence, and the recurrence unrolled with its BPTT window (RMT paper, Sec. 3, Fig. 1)."""

import torch
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from minirmt.model.recurrence import detached_before

from .common import BLOCK_COLORS, as_matrix


def layout(size: int, m: int, n: int) -> list[tuple[str, int, int]]:
    """The blocks `(name, start, stop)` of a segment input of `size` positions with m memory tokens, n tokens.

    size 2m + n: [read | tokens | write] (decoder RMT); m + n: [memory | tokens] (encoder); n: [tokens].
    """
    if m < 0 or n < 1:
        raise ValueError(f"layout: need m >= 0 memory tokens and n >= 1 tokens, got m={m}, n={n}")
    if size == n:
        return [("tokens", 0, n)]
    if m > 0 and size == 2 * m + n:
        return [("read", 0, m), ("tokens", m, m + n), ("write", m + n, 2 * m + n)]
    if m > 0 and size == m + n:
        return [("memory", 0, m), ("tokens", m, m + n)]
    raise ValueError(
        f"layout: an axis of {size} positions fits neither 2m + n = {2 * m + n} ([read | tokens | write]), "
        f"m + n = {m + n} ([memory | tokens]) nor n = {n} ([tokens]) for m={m}, n={n}"
    )


def draw_layout(ax, rows: int, cols: int, m: int, n: int | None, labels: bool = True) -> None:
    """Boundary lines between the blocks of both axes, and block names as tick labels."""
    if n is None:
        return
    for axis, size in (("x", cols), ("y", rows)):
        blocks = layout(size, m, n)
        for _, start, _ in blocks[1:]:
            line = ax.axvline if axis == "x" else ax.axhline
            line(start - 0.5, color="white", linewidth=1.5)
            line(start - 0.5, color="black", linewidth=0.6)
        centers = [(start + stop - 1) / 2 for _, start, stop in blocks]
        names = [name for name, _, _ in blocks] if labels else []
        (ax.set_xticks if axis == "x" else ax.set_yticks)(centers, names)
        ticklabels = ax.get_xticklabels() if axis == "x" else ax.get_yticklabels()
        for label, (name, _, _) in zip(ticklabels, blocks):
            label.set_color(BLOCK_COLORS[name])


def plot_mask(mask, m: int, n: int, title: str | None = None) -> Figure:
    """Draw a boolean attention mask `(i, j)` (True = query i may attend to key j) with its blocks."""
    mask = as_matrix(mask, "mask")
    fig = Figure(figsize=(4.2, 4.0), layout="constrained")
    ax = fig.add_subplot()
    ax.imshow(mask.numpy(), cmap="magma", vmin=0, vmax=1.25, interpolation="nearest")  # light where allowed, as
    # the attention maps are light where the weight is high
    draw_layout(ax, mask.shape[0], mask.shape[1], m, n)
    ax.set_xlabel("key j (attended to)")
    ax.set_ylabel("query i (attending)")
    ax.set_title(title or f"mask, m={m}, n={n}: light = may attend")
    return fig


def plot_segments(tokens, n: int, m: int = 0, title: str | None = None) -> Figure:
    """A token sequence `(s,)` cut into segments of n, one row per segment, as the RMT sees it.

    With m > 0 each row is the decoder input [read m | tokens n | write m]; R and W mark the memory slots.
    """
    tokens = torch.as_tensor(tokens).flatten().tolist()
    if n < 1 or m < 0:
        raise ValueError(f"plot_segments: need n >= 1 and m >= 0, got n={n}, m={m}")
    g = -(-len(tokens) // n)
    width = 2 * m + n if m else n
    fig = Figure(figsize=(0.32 * width + 1.2, 0.42 * g + 0.7), layout="constrained")
    ax = fig.add_subplot()
    for row in range(g):
        chunk = tokens[row * n : (row + 1) * n]
        cells = [("R", "read")] * m + [(str(t), "tokens") for t in chunk] + [("", "pad")] * (n - len(chunk))
        cells += [("W", "write")] * m
        for col, (text, kind) in enumerate(cells):
            face = {"read": "#cfe0f3", "write": "#fbdcbf", "tokens": "white", "pad": "0.92"}[kind]
            ax.add_patch(Rectangle((col, row), 1, 1, facecolor=face, edgecolor="0.4", linewidth=0.6))
            ax.text(col + 0.5, row + 0.5, text, ha="center", va="center", fontsize=7)
    ax.set_xlim(0, width)
    ax.set_ylim(g, 0)
    ax.set_yticks([r + 0.5 for r in range(g)], [f"segment {r}" for r in range(g)])
    ax.set_xticks([])
    ax.set_aspect("equal")
    for side in ax.spines.values():
        side.set_visible(False)
    ax.set_title(title or (f"{len(tokens)} tokens -> {g} segments of n={n}" + (f", m={m}" if m else "")))
    return fig


def detached_links(g: int, bptt_depth: int | None) -> list[bool]:
    """For each hand-over of memory into segments 1 .. g - 1: is it detached? (g - 1 booleans, by the rule the
    recurrence itself applies, `recurrence.detached_before`)."""
    if g < 1 or (bptt_depth is not None and bptt_depth < 0):
        raise ValueError(f"detached_links: need g >= 1 and bptt_depth >= 0 or None, got g={g}, bptt_depth={bptt_depth}")
    return [detached_before(i, g, bptt_depth) for i in range(1, g)]


def plot_unrolled(g: int, bptt_depth: int | None = None, title: str | None = None) -> Figure:
    """The RMT unrolled over g segments: memory flows forward, gradients flow back (RMT paper, Sec. 3).

    Boxes are segments, the small box on the left is the learned initial memory. Blue arrows on top carry
    the memory forward; orange arrows below carry the gradient of the last segment's loss back. With
    `bptt_depth = k` the hand-overs before the last k segments are detached (`detached_links`): their
    gradient arrows are grey, dotted and crossed, and only the shaded last k segments receive gradient (the arrow
    into the initial memory is then grey and dotted too: nothing reaches it).
    """
    cut = detached_links(g, bptt_depth)
    window = g if bptt_depth is None else min(bptt_depth, g)
    fig = Figure(figsize=(1.25 * g + 1.6, 1.9), layout="constrained")
    ax = fig.add_subplot()
    step, width = 2.0, 1.3
    ax.add_patch(Rectangle((step * (g - window) - 0.25, -0.25), step * (window - 1) + width + 0.5, 1.5,
                           facecolor="#fdebd9", edgecolor="none", label="window"))
    ax.add_patch(Rectangle((-1.2, 0.2), 0.6, 0.6, facecolor="#cfe0f3", edgecolor="0.4", label="initial memory"))
    for i in range(g):
        ax.add_patch(Rectangle((step * i, 0), width, 1, facecolor="white", edgecolor="0.3", label="segment"))
        ax.text(step * i + width / 2, 0.5, f"segment {i}", ha="center", va="center", fontsize=8)
    starts = [-0.6] + [step * i + width for i in range(g - 1)]  # where each hand-over leaves
    for i, x0 in enumerate(starts):
        x1 = step * i
        is_cut = i > 0 and cut[i - 1]
        ax.annotate("", (x1, 0.72), (x0, 0.72), arrowprops={"arrowstyle": "->", "color": "tab:blue", "lw": 1.5})
        reached = not is_cut and (i > 0 or window >= g)  # behind a detach no gradient arrives
        gradient = {"color": "tab:orange", "linestyle": "-"} if reached else {"color": "0.6", "linestyle": ":"}
        ax.annotate("", (x0, 0.28), (x1, 0.28), arrowprops={"arrowstyle": "->", "lw": 1.5, **gradient})
        if is_cut:
            ax.plot([(x0 + x1) / 2], [0.28], marker="x", color="0.3", markersize=7, label="detach")
    ax.text(-0.9, 1.05, "memory ->", color="tab:blue", fontsize=7, ha="left")
    ax.text(-0.9, -0.2, "<- gradient", color="tab:orange", fontsize=7, ha="left")
    ax.set_xlim(-1.4, step * (g - 1) + width + 0.4)
    ax.set_ylim(-0.4, 1.35)
    ax.set_axis_off()
    depth = "full BPTT" if bptt_depth is None or bptt_depth >= g else f"bptt_depth={bptt_depth}"
    ax.set_title(title or f"{g} segments, {depth}: the last segment's loss reaches {window} of them")
    return fig
