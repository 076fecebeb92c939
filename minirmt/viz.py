"""Plots for the notebooks: pure functions that take tensors (or lists of numbers) and return a Figure.

Figures are built with `matplotlib.figure.Figure`, not pyplot: nothing is shown or closed here, no global
figure list grows, and a notebook cell that ends with the figure displays it exactly once.

Attention weights and masks are `(i, j)` for query i and key j. For the decoder RMT both axes are laid out
`[read m | tokens n | write m]` (RMT paper, Sec. 3, Fig. 1b); the encoder form is `[memory m | tokens n]`
and a model without memory has just `[tokens n]`. Memory states are `(m, d)` per segment.
"""

from collections.abc import Mapping, Sequence

import torch
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle
from matplotlib.ticker import MaxNLocator

BLOCK_COLORS = {"read": "tab:blue", "memory": "tab:blue", "tokens": "0.55", "write": "tab:orange"}


# ----------------------------------------------------------------------------------------------------------
# the [read | tokens | write] layout


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


def _draw_layout(ax, rows: int, cols: int, m: int, n: int | None, labels: bool = True) -> None:
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


def _matrix(x, name: str, dims: str = "(i, j)") -> torch.Tensor:
    x = torch.as_tensor(x).detach().cpu()
    if x.dim() != 2:
        raise ValueError(f"{name} must be a matrix {dims}, got shape {tuple(x.shape)}")
    return x.float()


def plot_mask(mask, m: int, n: int, title: str | None = None) -> Figure:
    """Draw a boolean attention mask `(i, j)` (True = query i may attend to key j) with its blocks."""
    mask = _matrix(mask, "mask")
    fig = Figure(figsize=(4.2, 4.0), layout="constrained")
    ax = fig.add_subplot()
    ax.imshow(mask.numpy(), cmap="Greys", vmin=0, vmax=1.25, interpolation="nearest")
    _draw_layout(ax, mask.shape[0], mask.shape[1], m, n)
    ax.set_xlabel("key j (attended to)")
    ax.set_ylabel("query i (attending)")
    ax.set_title(title or f"mask, m={m}, n={n}: dark = may attend")
    return fig


# ----------------------------------------------------------------------------------------------------------
# attention maps


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


def plot_attention(weights, m: int, n: int | None, title: str | None = None, vmax: float | None = None) -> Figure:
    """One attention map `(i, j)` (one layer, head and segment) with the read/token/write blocks marked.

    n=None draws the map without blocks (e.g. a Transformer-XL map over [cache | tokens]).
    """
    weights = _matrix(weights, "weights")
    fig = Figure(figsize=(4.6, 4.0), layout="constrained")
    ax = fig.add_subplot()
    image = ax.imshow(weights.numpy(), cmap="magma", vmin=0.0, vmax=vmax, interpolation="nearest")
    _draw_layout(ax, weights.shape[0], weights.shape[1], m, n)
    ax.set_xlabel("key j (attended to)")
    ax.set_ylabel("query i (attending)")
    ax.set_title(title or "attention weights")
    fig.colorbar(image, ax=ax, shrink=0.8)
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
            _draw_layout(ax, weights.shape[2], weights.shape[3], m, n, labels=(r == rows - 1 or c == 0))
            if r < rows - 1:
                ax.set_xticklabels([])
            if c > 0:
                ax.set_yticklabels([])
            ax.set_title(f"{row_label} {r} · {col_label} {c}", fontsize=8)
    fig.colorbar(image, ax=axes, shrink=0.7)
    if title:
        fig.suptitle(title)
    return fig


def plot_read_write(weights, m: int, n: int, title: str | None = None) -> Figure:
    """The two halves of the memory in one decoder map `(2m + n, 2m + n)`.

    left:  read, how much each token attends to each read slot `(n, m)`
    right: write, what each write slot attends to among [read | tokens] `(m, m + n)`
    """
    weights = _matrix(weights, "weights")
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
    fig.colorbar(image, ax=ax_write, shrink=0.8)
    if title:
        fig.suptitle(title)
    return fig


# ----------------------------------------------------------------------------------------------------------
# memory states across segments


def memory_stack(memories) -> torch.Tensor:
    """A list of g memory states `(m, d)` or `(b, m, d)` (or one tensor of them) -> `(g, b, m, d)`."""
    if isinstance(memories, torch.Tensor):
        states = memories
    else:
        if len(memories) == 0:
            raise ValueError("memories is empty: expected a list of g memory states (m, d) or (b, m, d)")
        states = torch.stack([torch.as_tensor(x) for x in memories])
    if states.dim() == 3:
        states = states.unsqueeze(1)
    if states.dim() != 4:
        raise ValueError(
            f"memories must be g states (m, d) or (b, m, d), i.e. (g, m, d) or (g, b, m, d); "
            f"got shape {tuple(states.shape)}"
        )
    return states.detach().cpu().float()


def memory_similarity(memories, per_slot: bool = False, batch: int = 0) -> torch.Tensor:
    """Cosine similarity between the memory states of one sequence across segments.

    memories: g states `(m, d)` or `(b, m, d)` (sequence `batch` is used)
    per_slot=False: each whole state flattened to `(m * d)` -> `(g, g)`
    per_slot=True:  every slot of every segment on its own -> `(g * m, g * m)`, segment-major
    """
    states = memory_stack(memories)[:, batch]  # (g, m, d)
    flat = states.flatten(0, 1) if per_slot else states.flatten(1)  # (g * m, d) or (g, m * d)
    flat = torch.nn.functional.normalize(flat, dim=-1)
    return flat @ flat.T


def plot_memory_similarity(memories, per_slot: bool = False, batch: int = 0, title: str | None = None) -> Figure:
    """Heat map of `memory_similarity`: how much the memory changes from segment to segment."""
    g, _, m, _ = memory_stack(memories).shape
    sim = memory_similarity(memories, per_slot, batch)
    fig = Figure(figsize=(4.4, 3.8), layout="constrained")
    ax = fig.add_subplot()
    image = ax.imshow(sim.numpy(), cmap="RdBu_r", vmin=-1.0, vmax=1.0, interpolation="nearest")
    if per_slot:
        for k in range(1, g):
            ax.axvline(k * m - 0.5, color="black", linewidth=0.6)
            ax.axhline(k * m - 0.5, color="black", linewidth=0.6)
        centers = [k * m + (m - 1) / 2 for k in range(g)]
        ax.set_xticks(centers, range(g))
        ax.set_yticks(centers, range(g))
        ax.set_xlabel("segment (m slots each)")
    else:
        ax.set_xticks(range(g))
        ax.set_yticks(range(g))
        ax.set_xlabel("segment")
    ax.set_ylabel("segment")
    ax.set_title(title or ("cosine similarity of memory slots" if per_slot else "cosine similarity of memory states"))
    fig.colorbar(image, ax=ax, shrink=0.8)
    return fig


def pca_2d(x) -> tuple[torch.Tensor, torch.Tensor]:
    """Project the rows of `x (r, f)` on their first two principal components (an SVD of the centred rows).

    Returns the coordinates `(r, 2)` and the fraction of the variance each component explains `(2,)`.
    Signs are fixed (the largest coordinate of each component is positive) so plots are reproducible.
    """
    x = _matrix(x, "x", "(r, f)")
    if x.shape[0] < 2:
        raise ValueError(f"pca_2d needs at least 2 rows, got shape {tuple(x.shape)}")
    centred = x - x.mean(dim=0)
    u, s, _ = torch.linalg.svd(centred, full_matrices=False)
    coords = torch.zeros(x.shape[0], 2)
    k = min(2, s.numel())
    coords[:, :k] = u[:, :k] * s[:k]
    flip = coords.gather(0, coords.abs().argmax(dim=0, keepdim=True)).sign()
    coords = coords * torch.where(flip == 0, 1.0, flip)
    variance = s.pow(2)
    explained = torch.zeros(2)
    explained[:k] = variance[:k] / variance.sum().clamp(min=1e-12)
    return coords, explained


def plot_memory_trajectory(memories, per_slot: bool = False, batch: int = 0, title: str | None = None,
                           color_label: str = "segment") -> Figure:
    """The path of the memory through a 2-D PCA projection, one point per segment.

    memories: g states `(m, d)` or `(b, m, d)` (e.g. `out.memories`, perhaps with the initial memory first)
    per_slot=False: one trajectory per sequence, each state flattened to `(m * d)`
    per_slot=True:  one trajectory per memory slot `(d)` of sequence `batch`
    Colour runs from the first state (dark) to the last (light); `color_label` names it on the colour bar.
    """
    states = memory_stack(memories)  # (g, b, m, d)
    if per_slot:
        points = states[:, batch]  # (g, m, d): m trajectories
    else:
        points = states.flatten(2)  # (g, b, m * d): b trajectories
    g, lines = points.shape[:2]
    coords, explained = pca_2d(points.flatten(0, 1))
    coords = coords.reshape(g, lines, 2).numpy()
    fig = Figure(figsize=(5.0, 4.0), layout="constrained")
    ax = fig.add_subplot()
    for t in range(lines):
        ax.plot(coords[:, t, 0], coords[:, t, 1], color="0.7", linewidth=0.8, zorder=1)
    colors = torch.arange(g).repeat_interleave(lines)
    scatter = ax.scatter(coords[..., 0].flatten(), coords[..., 1].flatten(), c=colors.numpy(), cmap="viridis",
                         s=22, zorder=2, vmin=0, vmax=max(g - 1, 1))
    ax.set_xlabel(f"PC 1 ({100 * float(explained[0]):.0f}% of variance)")
    ax.set_ylabel(f"PC 2 ({100 * float(explained[1]):.0f}% of variance)")
    what = "memory slots" if per_slot else "memory states"
    ax.set_title(title or f"{what} across segments (PCA)")
    cbar = fig.colorbar(scatter, ax=ax, shrink=0.8, label=color_label)
    cbar.locator = MaxNLocator(integer=True)
    cbar.update_ticks()
    return fig


def plot_heatmap(values, xlabel: str, ylabel: str, title: str | None = None, vmin: float | None = 0.0,
                 vmax: float | None = 1.0, cmap: str = "viridis", annotate: bool = True) -> Figure:
    """A labelled matrix `(r, c)`, e.g. probe accuracy per memory slot and source position.

    Rows and columns are numbered from 0; with `annotate` (and at most 200 cells) each cell shows its value.
    """
    values = _matrix(values, "values", "(r, c)")
    rows, cols = values.shape
    fig = Figure(figsize=(0.42 * cols + 1.8, 0.36 * rows + 1.3), layout="constrained")
    ax = fig.add_subplot()
    image = ax.imshow(values.numpy(), cmap=cmap, vmin=vmin, vmax=vmax, aspect="auto", interpolation="nearest")
    if annotate and rows * cols <= 200:
        for r in range(rows):
            for c in range(cols):
                value = float(values[r, c])
                red, green, blue, _ = image.cmap(image.norm(value))
                light = 0.299 * red + 0.587 * green + 0.114 * blue > 0.5  # dark text on light cells
                text = f"{value:.2f}"
                ax.text(c, r, text[1:] if text.startswith("0.") else text, ha="center", va="center",
                        fontsize=6.5, color="black" if light else "white")
    ax.set_xticks(range(cols))
    ax.set_yticks(range(rows))
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title)
    fig.colorbar(image, ax=ax, shrink=0.8)
    return fig


# ----------------------------------------------------------------------------------------------------------
# training curves and results


def _is_history(x) -> bool:
    """A history is a list of records (dicts) or a dict of equally long lists of numbers."""
    if isinstance(x, Mapping):  # columns hold numbers; `{run name: [records]}` is several runs, not columns
        return all(isinstance(v, Sequence) and not isinstance(v, str) and not any(isinstance(e, Mapping) for e in v)
                   for v in x.values())
    return isinstance(x, Sequence) and all(isinstance(r, Mapping) for r in x)


def _records(history) -> list[Mapping]:
    if isinstance(history, Mapping):
        keys = list(history)
        return [dict(zip(keys, values)) for values in zip(*(history[k] for k in keys))]
    return list(history)


def plot_curves(history, metrics: Sequence[str] = ("loss",), x: str = "step", title: str | None = None) -> Figure:
    """One panel per metric against `x`, for one run or several.

    history: a list of records `{"step": ..., "loss": ...}` (records without a metric are skipped, so
             training and evaluation records can mix), a dict of lists, or `{run name: history}`.
    """
    if isinstance(metrics, str):
        metrics = [metrics]
    is_runs = isinstance(history, Mapping) and history and all(_is_history(v) for v in history.values()) \
        and not _is_history(history)
    runs = dict(history) if is_runs else {None: history}
    fig = Figure(figsize=(3.6 * len(metrics) + 0.4, 3.0), layout="constrained")
    axes = fig.subplots(1, len(metrics), squeeze=False)[0]
    for ax, metric in zip(axes, metrics):
        for name, run in runs.items():
            rows = [(i, r) for i, r in enumerate(_records(run)) if r.get(metric) is not None]
            xs = [r.get(x, i) for i, r in rows]
            ax.plot(xs, [float(r[metric]) for _, r in rows], label=name, marker="." if len(rows) < 30 else None)
        ax.set_xlabel(x)
        ax.set_title(metric)
        ax.grid(alpha=0.3)
        if is_runs:
            ax.legend(fontsize=8)
    if title:
        fig.suptitle(title)
    return fig


def plot_accuracy_vs_segments(table: Mapping, chance: float | None = None, xlabel: str = "segments",
                              ylabel: str = "accuracy", title: str | None = None) -> Figure:
    """Accuracy against the number of segments, one line per model: `{model: {segments: accuracy}}`.

    A single `{segments: accuracy}` mapping draws one line; `chance` adds a dashed reference line.
    """
    if table and not all(isinstance(v, Mapping) for v in table.values()):
        table = {None: table}
    fig = Figure(figsize=(4.8, 3.2), layout="constrained")
    ax = fig.add_subplot()
    for name, row in table.items():
        xs = sorted(row)
        ax.plot(xs, [float(row[k]) for k in xs], marker="o", label=name)
    if chance is not None:
        ax.axhline(chance, color="0.5", linestyle="--", linewidth=1, label="chance")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_ylim(-0.02, 1.02)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.grid(alpha=0.3)
    if len(table) > 1 or None not in table or chance is not None:
        ax.legend(fontsize=8)
    ax.set_title(title or f"{ylabel} vs {xlabel}")
    return fig


def plot_grad_norms(norms, title: str | None = None) -> Figure:
    """Gradient norm reaching each segment's memory, on a log scale; exact zeros are drawn as crosses.

    norms: a sequence of g numbers (segment 0 first) or `{label: sequence}` (e.g. one per BPTT depth).
    Truncated BPTT makes the norms before its window exactly zero: the crosses on the bottom edge.
    """
    if not isinstance(norms, Mapping):
        norms = {None: norms}
    norms = {k: [float(v) for v in torch.as_tensor(vals).flatten()] for k, vals in norms.items()}
    positive = [v for vals in norms.values() for v in vals if v > 0]
    floor = min(positive) / 10 if positive else 1e-8
    fig = Figure(figsize=(4.8, 3.2), layout="constrained")
    ax = fig.add_subplot()
    for name, vals in norms.items():
        (line,) = ax.plot(range(len(vals)), [v if v > 0 else float("nan") for v in vals], marker="o", label=name)
        zeros = [i for i, v in enumerate(vals) if v == 0]
        if zeros:
            ax.plot(zeros, [floor] * len(zeros), linestyle="none", marker="x", color=line.get_color())
    ax.set_yscale("log")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("segment")
    ax.set_ylabel("gradient norm")
    ax.grid(alpha=0.3)
    if None not in norms:
        ax.legend(fontsize=8)
    ax.set_title(title or "gradient reaching each segment (x = exactly 0)")
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



# ----------------------------------------------------------------------------------------------------------
# 02_recurrence_and_bptt: the recurrence unrolled


def detached_links(g: int, bptt_depth: int | None) -> list[bool]:
    """For each hand-over of memory into segments 1 .. g - 1: is it detached? (g - 1 booleans)

    Mirrors `SegmentRecurrence.forward`: with `bptt_depth = k`, the memory entering segment i is detached
    for 0 < i <= g - k, so the gradient of the last segment's loss reaches only the last k segments.
    """
    if g < 1 or (bptt_depth is not None and bptt_depth < 1):
        raise ValueError(f"detached_links: need g >= 1 and bptt_depth >= 1 or None, got g={g}, bptt_depth={bptt_depth}")
    return [bptt_depth is not None and i <= g - bptt_depth for i in range(1, g)]


def plot_unrolled(g: int, bptt_depth: int | None = None, title: str | None = None) -> Figure:
    """The RMT unrolled over g segments: memory flows forward, gradients flow back (RMT paper, Sec. 3).

    Boxes are segments, the small box on the left is the learned initial memory. Blue arrows on top carry
    the memory forward; orange arrows below carry the gradient of the last segment's loss back. With
    `bptt_depth = k` the hand-overs before the last k segments are detached (`detached_links`): their
    gradient arrows are grey and crossed, and only the shaded last k segments receive gradient.
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
        color = "0.6" if is_cut or (i == 0 and window < g) else "tab:orange"
        ax.annotate("", (x0, 0.28), (x1, 0.28),
                    arrowprops={"arrowstyle": "->", "color": color, "lw": 1.5, "linestyle": ":" if is_cut else "-"})
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
