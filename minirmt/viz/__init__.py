"""Figures for the notebooks: pure functions that take tensors (or lists of numbers) and return a Figure.

Figures are built with `matplotlib.figure.Figure`, not pyplot: nothing is shown or closed here, no global
figure list grows, and a notebook cell that ends with the figure displays it exactly once.

Attention weights and masks are `(i, j)` for query i and key j. For the decoder RMT both axes are laid out
`[read m | tokens n | write m]` (RMT paper, Sec. 3); the encoder form is `[memory m | tokens n]`
and a model without memory has just `[tokens n]`. Memory states are `(m, d)` per segment.

    segments.py   the blocks of a segment, masks, a sequence cut into segments, the recurrence unrolled
    attention.py  attention maps            memory.py   memory states across segments
    results.py    curves, accuracy against segments, gradient norms, matrices    common.py   colours, styles
"""

from .attention import plot_attention, plot_attention_grid, plot_read_write, stack_attentions
from .common import line_style
from .memory import (
    memory_similarity,
    memory_stack,
    pca_2d,
    plot_memory_similarity,
    plot_memory_trajectory,
    state_names,
)
from .results import (
    plot_accuracy_panels,
    plot_accuracy_vs_segments,
    plot_curves,
    plot_grad_norms,
    plot_heatmap,
    plot_lm_curves,
    plot_loss_by_position,
)
from .segments import detached_links, draw_layout, layout, plot_mask, plot_segments, plot_unrolled

__all__ = [
    "detached_links",
    "draw_layout",
    "layout",
    "line_style",
    "memory_similarity",
    "memory_stack",
    "pca_2d",
    "plot_accuracy_panels",
    "plot_accuracy_vs_segments",
    "plot_attention",
    "plot_attention_grid",
    "plot_curves",
    "plot_grad_norms",
    "plot_heatmap",
    "plot_lm_curves",
    "plot_loss_by_position",
    "plot_mask",
    "plot_memory_similarity",
    "plot_memory_trajectory",
    "plot_read_write",
    "plot_segments",
    "plot_unrolled",
    "stack_attentions",
    "state_names",
]
