"""Interactive explorers for the notebooks: ipywidgets sliders wired to the pure plots of `minirmt.viz`.

An explorer redraws a viz figure into an Image widget whenever a slider moves. Nothing here depends on
a running frontend, so the tests construct an explorer, move a slider and compare the PNG bytes. In a
notebook, tag the widget cell `nbval-ignore-output` and follow it with a static call of the same viz
function, so readers of the saved notebook (and the tests) see the figure too.
"""

import io
from collections.abc import Callable

import ipywidgets as widgets
import torch
from matplotlib.figure import Figure

from minirmt import viz
from minirmt.model import masks


def figure_png(fig: Figure) -> bytes:
    """The PNG bytes of a figure, at the figure's own resolution."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=fig.dpi)
    return buffer.getvalue()


class Explorer(widgets.VBox):
    """Integer sliders above the image of `draw(**slider values)`.

    draw:      a function of the slider values returning a Figure (usually a `viz.plot_*` call)
    sliders:   name -> (low, high) or (low, high, start), inclusive
    controls:  name -> the IntSlider; image: the Image widget showing the current figure
    """

    def __init__(self, draw: Callable[..., Figure], **sliders):
        if not sliders:
            raise ValueError("Explorer needs at least one slider, e.g. Explorer(draw, segment=(0, 3))")
        controls = {name: _slider(name, spec) for name, spec in sliders.items()}
        image = widgets.Image(format="png")
        super().__init__(children=[widgets.HBox(list(controls.values())), image])
        self.controls, self.image, self._draw = controls, image, draw
        for slider in controls.values():
            slider.observe(self._redraw, names="value")
        self._redraw()

    def values(self) -> dict[str, int]:
        """The current slider values."""
        return {name: slider.value for name, slider in self.controls.items()}

    def _redraw(self, change=None) -> None:
        self.image.value = figure_png(self._draw(**self.values()))


def _slider(name: str, spec) -> widgets.IntSlider:
    if not (isinstance(spec, tuple) and len(spec) in (2, 3)):
        raise ValueError(f"slider {name!r}: expected (low, high) or (low, high, start), got {spec!r}")
    low, high, start = (*spec, spec[0]) if len(spec) == 2 else spec
    if not low <= start <= high:
        raise ValueError(f"slider {name!r}: need low <= start <= high, got {spec!r}")
    return widgets.IntSlider(value=start, min=low, max=high, description=name, continuous_update=False,
                             layout=widgets.Layout(width="260px"))


def attention_explorer(attentions, m: int, n: int | None, batch: int = 0, view: str = "map") -> Explorer:
    """Sliders for segment, layer and head over a model's attention maps.

    attentions: `out.attentions` of a model called with return_attention=True (sequence `batch` is shown),
                or a tensor `(g, l, h, i, j)` from `viz.stack_attentions`
    view:       "map" draws `viz.plot_attention`; "read_write" draws `viz.plot_read_write` (decoder RMT)
    """
    if view not in ("map", "read_write"):
        raise ValueError(f"view must be 'map' or 'read_write', got {view!r}")
    stacked = attentions if isinstance(attentions, torch.Tensor) else viz.stack_attentions(attentions, batch)
    if stacked.dim() != 5:
        raise ValueError(f"attentions must be (g, l, h, i, j), got shape {tuple(stacked.shape)}")
    g, l, h = stacked.shape[:3]

    def draw(segment, layer, head):
        title = f"segment {segment} · layer {layer} · head {head}"
        weights = stacked[segment, layer, head]
        if view == "read_write":
            return viz.plot_read_write(weights, m, n, title=title)
        return viz.plot_attention(weights, m, n, title=title)

    return Explorer(draw, segment=(0, g - 1), layer=(0, l - 1), head=(0, h - 1))


def mask_explorer(m: int = 4, n: int = 8, max_m: int = 8, max_n: int = 16) -> Explorer:
    """Sliders for m and n over the decoder RMT's mask `[read m | tokens n | write m]`."""
    return Explorer(lambda m, n: viz.plot_mask(masks.rmt_decoder(m, n), m, n), m=(1, max_m, m), n=(1, max_n, n))


def memory_explorer(memories, per_slot: bool = True) -> Explorer:
    """A slider over the sequences of a batch: the similarity of its memory states across segments.

    memories: g states `(b, m, d)`, e.g. `out.memories`
    """
    b = viz.memory_stack(memories).shape[1]
    return Explorer(lambda sequence: viz.plot_memory_similarity(memories, per_slot=per_slot, batch=sequence),
                    sequence=(0, b - 1))
