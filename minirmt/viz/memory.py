"""The memory across segments: how similar its states are, and the path it takes through a PCA projection."""

import torch
from matplotlib.figure import Figure

from .common import as_matrix, line_style, tick_rotation


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


def state_names(g: int, initial: bool = True) -> list[str]:
    """Names of g memory states: "initial" (before the first segment, if `initial`), then "after seg 0", "after seg
    1"... (segments counted from 0, as everywhere in the course)."""
    if initial:
        return ["initial"] + [f"after seg {i}" for i in range(g - 1)]
    return [f"after seg {i}" for i in range(g)]


def plot_memory_similarity(memories, per_slot: bool = False, batch: int = 0, title: str | None = None,
                           names: list[str] | None = None) -> Figure:
    """Heat map of `memory_similarity`: how much the memory changes from segment to segment. `names`: one per
    state (`state_names`: "initial", "after seg 0", ...); by default the states are numbered from 0."""
    g, _, m, _ = memory_stack(memories).shape
    names = [str(i) for i in range(g)] if names is None else list(names)
    if len(names) != g:
        raise ValueError(f"names has {len(names)} entries for {g} memory states")
    sim = memory_similarity(memories, per_slot, batch)
    fig = Figure(figsize=(4.4, 3.8), layout="constrained")
    ax = fig.add_subplot()
    image = ax.imshow(sim.numpy(), cmap="RdBu_r", vmin=-1.0, vmax=1.0, interpolation="nearest")
    if per_slot:
        for k in range(1, g):
            ax.axvline(k * m - 0.5, color="black", linewidth=0.6)
            ax.axhline(k * m - 0.5, color="black", linewidth=0.6)
        centers = [k * m + (m - 1) / 2 for k in range(g)]
        ax.set_xticks(centers, names, **tick_rotation(names))
        ax.set_yticks(centers, names)
        ax.set_xlabel(f"memory state ({m} slots each)")
    else:
        ax.set_xticks(range(g), names, **tick_rotation(names))
        ax.set_yticks(range(g), names)
        ax.set_xlabel("memory state")
    ax.set_ylabel("memory state")
    ax.set_title(title or ("cosine similarity of memory slots" if per_slot else "cosine similarity of memory states"))
    fig.colorbar(image, ax=ax, shrink=0.8, label="cosine similarity")
    return fig


def pca_2d(x) -> tuple[torch.Tensor, torch.Tensor]:
    """Project the rows of `x (r, f)` on their first two principal components (an SVD of the centred rows).

    Returns the coordinates `(r, 2)` and the fraction of the variance each component explains `(2,)`.
    Signs are fixed (the largest coordinate of each component is positive) so plots are reproducible.
    """
    x = as_matrix(x, "x", "(r, f)")
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
                           names: list[str] | None = None) -> Figure:
    """The path of the memory through a 2-D PCA projection, one point per segment.

    memories: g states `(m, d)` or `(b, m, d)` (e.g. `out.memories`, perhaps with the initial memory first)
    per_slot=False: one trajectory per sequence, each state flattened to `(m * d)`
    per_slot=True:  one trajectory per memory slot `(d)` of sequence `batch`
    Each state has its own colour and marker, named in the legend by `names` (`state_names`; default: numbers).
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
    names = [str(k) for k in range(g)] if names is None else list(names)
    for k in range(g):
        style = line_style(k)
        ax.scatter(coords[k, :, 0], coords[k, :, 1], color=style["color"], marker=style["marker"], s=24, zorder=2,
                   label=names[k])
    ax.set_xlabel(f"PC 1 ({100 * float(explained[0]):.0f}% of variance)")
    ax.set_ylabel(f"PC 2 ({100 * float(explained[1]):.0f}% of variance)")
    what = "memory slots" if per_slot else "memory states"
    ax.set_title(title or f"{what} across segments (PCA)")
    ax.legend(fontsize=8, title="state" if not per_slot else "after", loc="best")
    return fig
