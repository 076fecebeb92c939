"""minirmt.course.widgets: explorers work without a frontend: build one, move a slider, the picture changes."""

import ipywidgets
import pytest
import torch

from minirmt import viz
from minirmt.course import widgets
from minirmt.model import masks

M, N = 2, 4


def attention(g=3, l=2, h=2, seed=0):
    size = 2 * M + N
    scores = torch.randn(g, l, h, size, size, generator=torch.Generator().manual_seed(seed))
    return scores.masked_fill(~masks.causal(size), float("-inf")).softmax(-1)


def test_figure_png_is_a_png():
    data = widgets.figure_png(viz.plot_mask(masks.rmt_decoder(M, N), M, N))
    assert data.startswith(b"\x89PNG") and len(data) > 1000


def test_explorer_redraws_when_a_slider_moves():
    calls = []

    def draw(a, b):
        calls.append((a, b))
        return viz.plot_mask(masks.rmt_decoder(a, b), a, b)

    explorer = widgets.Explorer(draw, a=(1, 4), b=(2, 6, 3))
    assert isinstance(explorer, ipywidgets.VBox) and explorer.children[-1] is explorer.image
    assert explorer.values() == {"a": 1, "b": 3} and calls == [(1, 3)]
    before = explorer.image.value
    explorer.controls["b"].value = 5
    assert calls[-1] == (1, 5) and explorer.image.value != before
    assert [c.max for c in explorer.controls.values()] == [4, 6]


def test_explorer_rejects_bad_sliders():
    with pytest.raises(ValueError, match="at least one slider"):
        widgets.Explorer(lambda: None)
    with pytest.raises(ValueError, match="low <= start <= high"):
        widgets.Explorer(lambda a: None, a=(0, 3, 7))
    with pytest.raises(ValueError, match=r"\(low, high\)"):
        widgets.Explorer(lambda a: None, a=5)


def test_attention_explorer_from_tensor_and_model_output():
    weights = attention()
    explorer = widgets.attention_explorer(weights, M, N)
    assert [(c.description, c.max) for c in explorer.controls.values()] == [("segment", 2), ("layer", 1), ("head", 1)]
    first = explorer.image.value
    explorer.controls["head"].value = 1
    assert explorer.image.value != first
    expected = widgets.figure_png(viz.plot_attention(weights[0, 0, 1], M, N, title="segment 0 · layer 0 · head 1"))
    assert explorer.image.value == expected  # exactly the static figure of the same view

    per_segment = [[weights[s, l].unsqueeze(0) for l in range(2)] for s in range(3)]  # out.attentions layout
    from_output = widgets.attention_explorer(per_segment, M, N, view="read_write")
    assert bytes(from_output.image.value).startswith(b"\x89PNG")
    with pytest.raises(ValueError, match="view"):
        widgets.attention_explorer(weights, M, N, view="other")


def test_mask_and_memory_explorers():
    explorer = widgets.mask_explorer(m=2, n=3)
    before = explorer.image.value
    explorer.controls["m"].value = 4
    assert explorer.image.value != before

    memories = [torch.randn(3, M, 6, generator=torch.Generator().manual_seed(i)) for i in range(4)]
    mem = widgets.memory_explorer(memories)
    assert mem.controls["sequence"].max == 2
    before = mem.image.value
    mem.controls["sequence"].value = 2
    assert mem.image.value != before
