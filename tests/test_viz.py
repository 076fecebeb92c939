"""minirmt.viz: every plot returns a Figure with the expected panels, titles and image data, and leaves
pyplot alone; the small computations behind the plots are exact."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from minirmt import build_model, preset, viz
from minirmt.model import masks  # noqa: E402

M, N = 3, 5  # memory tokens, segment length: a decoder axis has 2m + n = 11 positions


@pytest.fixture(autouse=True)
def no_pyplot_figures():
    """The plots build Figures directly: pyplot's list of open figures never grows."""
    before = plt.get_fignums()
    yield
    assert plt.get_fignums() == before


def image(fig: Figure, ax: int = 0):
    return fig.axes[ax].images[0].get_array()


def tick_names(ax, axis="x"):
    labels = ax.get_xticklabels() if axis == "x" else ax.get_yticklabels()
    return [t.get_text() for t in labels]


def attention(g=2, l=2, h=3, size=2 * M + N, seed=0):
    """Random causal attention weights (g, l, h, i, j) whose rows sum to 1."""
    scores = torch.randn(g, l, h, size, size, generator=torch.Generator().manual_seed(seed))
    return scores.masked_fill(~masks.causal(size), float("-inf")).softmax(-1)


def test_layout_of_each_form():
    assert viz.layout(2 * M + N, M, N) == [("read", 0, 3), ("tokens", 3, 8), ("write", 8, 11)]
    assert viz.layout(M + N, M, N) == [("memory", 0, 3), ("tokens", 3, 8)]
    assert viz.layout(N, 0, N) == [("tokens", 0, 5)]
    with pytest.raises(ValueError, match="fits neither"):
        viz.layout(12, M, N)


def test_plot_mask_draws_the_mask_with_named_blocks():
    mask = masks.rmt_decoder(M, N)
    fig = viz.plot_mask(mask, M, N)
    assert isinstance(fig, Figure) and len(fig.axes) == 1
    assert torch.equal(torch.as_tensor(image(fig)), mask.float())
    ax = fig.axes[0]
    assert tick_names(ax, "x") == ["read", "tokens", "write"] == tick_names(ax, "y")
    assert len(ax.lines) == 2 * 2 * 2  # 2 boundaries per axis, 2 axes, each drawn as a white and a black line
    assert "m=3, n=5" in ax.get_title()
    assert viz.plot_mask(mask, M, N, title="mine").axes[0].get_title() == "mine"


def test_plot_mask_rejects_a_size_that_does_not_fit():
    with pytest.raises(ValueError, match="fits neither"):
        viz.plot_mask(masks.causal(10), M, N)
    with pytest.raises(ValueError, match=r"matrix \(i, j\)"):
        viz.plot_mask(torch.ones(3), M, N)


def test_stack_attentions_from_model_output():
    per_segment = [[torch.rand(2, 4, 11, 11) for _ in range(3)] for _ in range(5)]  # g=5, l=3, (b, h, i, j)
    stacked = viz.stack_attentions(per_segment, batch=1)
    assert stacked.shape == (5, 3, 4, 11, 11)
    assert torch.equal(stacked[2, 1], per_segment[2][1][1])
    with pytest.raises(ValueError, match="return_attention=True"):
        viz.stack_attentions([])
    uneven = per_segment[:-1] + [[torch.rand(2, 4, 9, 9)] * 3]
    with pytest.raises(ValueError, match="shorter last segment"):
        viz.stack_attentions(uneven)


def test_plot_attention_one_map_with_colorbar():
    weights = attention()[0, 1, 2]
    fig = viz.plot_attention(weights, M, N, title="segment 0")
    assert len(fig.axes) == 2  # the map and its colour bar
    assert image(fig).shape == (11, 11)
    assert fig.axes[0].get_title() == "segment 0"
    assert tick_names(fig.axes[0]) == ["read", "tokens", "write"]
    plain = viz.plot_attention(torch.rand(4, 7), 0, None)  # e.g. a Transformer-XL map: no blocks
    assert image(plain).shape == (4, 7) and len(plain.axes[0].lines) == 0


def test_plot_attention_grid_shares_one_scale():
    weights = attention()  # (g, l, h, i, j)
    fig = viz.plot_attention_grid(weights[1], M, N, title="segment 1")
    maps = [ax for ax in fig.axes if ax.images]
    assert len(maps) == 2 * 3  # l x h maps (the colour bar is not an image)
    assert maps[0].get_title() == "layer 0 · head 0" and maps[5].get_title() == "layer 1 · head 2"
    assert {ax.images[0].get_clim() for ax in maps[:6]} == {(0.0, float(weights[1].max()))}
    assert fig._suptitle.get_text() == "segment 1"
    with pytest.raises(ValueError, match=r"\(rows, cols, i, j\)"):
        viz.plot_attention_grid(weights, M, N)


def test_plot_read_write_splits_the_map():
    weights = attention()[0, 0, 0]
    fig = viz.plot_read_write(weights, M, N)
    read, write = image(fig, 0), image(fig, 1)
    assert read.shape == (N, M) and write.shape == (M, M + N)
    assert torch.equal(torch.as_tensor(read), weights[M : M + N, :M])
    assert torch.equal(torch.as_tensor(write), weights[M + N :, : M + N])
    with pytest.raises(ValueError, match="decoder map"):
        viz.plot_read_write(weights[: M + N, : M + N], M, N)


def memories(g=4, b=3, m=M, d=6, seed=0):
    gen = torch.Generator().manual_seed(seed)
    return [torch.randn(b, m, d, generator=gen) for _ in range(g)]


def test_memory_similarity_is_cosine():
    states = memories()
    sim = viz.memory_similarity(states, batch=2)
    assert sim.shape == (4, 4)
    assert torch.allclose(sim.diagonal(), torch.ones(4)) and torch.allclose(sim, sim.T)
    a, b = states[0][2].flatten(), states[3][2].flatten()
    assert torch.isclose(sim[0, 3], a @ b / (a.norm() * b.norm()))
    assert viz.memory_similarity(states, per_slot=True).shape == (4 * M, 4 * M)
    assert torch.allclose(viz.memory_similarity(torch.stack(states)[:, 0]), viz.memory_similarity(states))
    with pytest.raises(ValueError, match=r"\(g, m, d\) or \(g, b, m, d\)"):
        viz.memory_similarity(torch.zeros(2, 3))


def test_plot_memory_similarity():
    fig = viz.plot_memory_similarity(memories())
    assert image(fig).shape == (4, 4) and fig.axes[0].images[0].get_clim() == (-1.0, 1.0)
    slots = viz.plot_memory_similarity(memories(), per_slot=True)
    assert image(slots).shape == (4 * M, 4 * M) and len(slots.axes[0].lines) == 2 * 3
    named = viz.plot_memory_similarity(memories(), names=viz.state_names(4)).axes[0]
    assert [t.get_text() for t in named.get_xticklabels()] == ["initial", "after seg 0", "after seg 1", "after seg 2"]
    assert named.get_xlabel() == "memory state" and viz.state_names(2, initial=False) == ["after seg 0", "after seg 1"]
    with pytest.raises(ValueError, match="names has 3 entries for 4 memory states"):
        viz.plot_memory_similarity(memories(), names=["a", "b", "c"])


def test_pca_2d_finds_the_plane_and_fixes_signs():
    gen = torch.Generator().manual_seed(0)
    plane = torch.randn(50, 2, generator=gen) * torch.tensor([5.0, 2.0])
    basis = torch.linalg.qr(torch.randn(8, 2, generator=gen))[0]  # (f, 2) orthonormal
    coords, explained = viz.pca_2d(plane @ basis.T + 3.0)
    assert coords.shape == (50, 2)
    assert torch.isclose(explained.sum(), torch.tensor(1.0), atol=1e-5) and explained[0] > explained[1]
    centred = plane - plane.mean(0)
    assert torch.allclose(coords.norm(dim=0), torch.linalg.svdvals(centred), rtol=1e-4)
    flipped, _ = viz.pca_2d(-(plane @ basis.T))
    assert torch.allclose(flipped, coords, atol=1e-4)  # the same picture whatever SVD's signs
    assert (coords.gather(0, coords.abs().argmax(0, keepdim=True)) > 0).all()
    with pytest.raises(ValueError, match="at least 2 rows"):
        viz.pca_2d(torch.zeros(1, 3))


def test_plot_memory_trajectory_points_per_segment():
    fig = viz.plot_memory_trajectory(memories())  # 3 sequences, 4 segments
    ax = fig.axes[0]
    assert len(ax.lines) == 3 and [c.get_offsets().shape for c in ax.collections] == [(3, 2)] * 4  # a colour a state
    assert ax.get_xlabel().startswith("PC 1") and "variance" in ax.get_ylabel()
    slots = viz.plot_memory_trajectory(memories(), per_slot=True).axes[0]
    assert len(slots.lines) == M and "slots" in slots.get_title()
    single = viz.plot_memory_trajectory([torch.randn(M, 6) for _ in range(5)], names=viz.state_names(5)).axes[0]
    assert sum(c.get_offsets().shape[0] for c in single.collections) == 5
    assert [t.get_text() for t in single.get_legend().get_texts()] == viz.state_names(5)


def test_plot_curves_accepts_records_columns_and_runs():
    records = [{"step": s, "loss": 2.0 / (s + 1)} for s in range(10)] + [{"step": 9, "eval_accuracy": 0.8}]
    fig = viz.plot_curves(records, ["loss", "eval_accuracy"])
    assert [ax.get_title() for ax in fig.axes] == ["training loss", "held-out accuracy"]  # metrics named in words
    x, y = fig.axes[0].lines[0].get_data()
    assert list(x) == list(range(10)) and y[0] == 2.0
    assert list(fig.axes[1].lines[0].get_data()[1]) == [0.8]  # records without the metric are skipped
    columns = viz.plot_curves({"step": [0, 10, 20], "loss": [3, 2, 1]}, "loss")
    assert list(columns.axes[0].lines[0].get_data()[0]) == [0, 10, 20]
    runs = viz.plot_curves({"rmt": records, "xl": {"step": [0, 5], "loss": [3.0, 2.5]}}, ["loss"])
    assert [line.get_label() for line in runs.axes[0].lines] == ["RMT", "Transformer-XL"]  # models by their names
    assert runs.axes[0].get_legend() is not None


def test_plot_accuracy_vs_segments():
    fig = viz.plot_accuracy_vs_segments({"rmt": {4: 1.0, 1: 1.0, 2: 0.9}, "xl": {1: 1.0, 2: 0.3}}, chance=0.1)
    ax = fig.axes[0]
    assert [line.get_label() for line in ax.lines] == ["RMT", "Transformer-XL", "chance"]
    assert list(ax.lines[0].get_data()[0]) == [1, 2, 4]  # sorted by the number of segments
    single = viz.plot_accuracy_vs_segments({1: 0.5, 2: 0.25}).axes[0]
    assert len(single.lines) == 1 and single.get_legend() is None


def test_plot_grad_norms_marks_exact_zeros():
    fig = viz.plot_grad_norms({"full": [1e-3, 1e-2, 1e-1], "depth 1": [0.0, 0.0, 0.1]})
    ax = fig.axes[0]
    assert ax.get_yscale() == "log"
    crosses = [line for line in ax.lines if line.get_marker() == "x"]
    assert len(crosses) == 1 and list(crosses[0].get_data()[0]) == [0, 1]
    assert viz.plot_grad_norms(torch.tensor([0.5, 0.25])).axes[0].get_legend() is None


def test_plot_segments_one_row_per_segment():
    fig = viz.plot_segments(torch.arange(20), n=8, m=2)
    ax = fig.axes[0]
    assert tick_names(ax, "y") == ["segment 0", "segment 1", "segment 2"]
    texts = [t.get_text() for t in ax.texts]
    assert len(ax.patches) == 3 * (2 * 2 + 8) and texts.count("R") == 6 and "19" in texts
    assert "20 tokens -> 3 segments" in ax.get_title()
    assert len(viz.plot_segments(torch.arange(8), n=4).axes[0].patches) == 8


# ---------------------------------------------------------------------------------------------------------
# 02_recurrence_and_bptt


def measured_links(g: int, bptt_depth: int | None) -> list[bool]:
    """For each hand-over into segments 1 .. g - 1 of a real RMT: does segment i's own loss send no gradient to
    the memory handed over to it (is the link detached)?"""
    cfg = preset("tiny", vocab_size=16, segment_len=4, num_mem_tokens=2)
    model = build_model("rmt", cfg, seed=0)
    tokens = torch.randint(0, 16, (2, 4 * g), generator=torch.Generator().manual_seed(g))
    cut = []
    for i in range(1, g):
        targets = torch.full_like(tokens, -100)
        targets[:, 4 * i : 4 * (i + 1)] = tokens[:, 4 * i : 4 * (i + 1)]  # only segment i's own tokens
        out = model(tokens, targets=targets, bptt_depth=bptt_depth)
        handed = out.memories[i - 1]  # written by segment i - 1, read by segment i
        handed.retain_grad()
        out.loss.backward()
        cut.append(handed.grad is None or bool((handed.grad == 0).all()))
    return cut


@pytest.mark.parametrize("g", [1, 2, 5])
@pytest.mark.parametrize("bptt_depth", [None, 0, 1, 2, 3, 7])
def test_the_figures_detached_links_are_the_ones_the_recurrence_cuts(g, bptt_depth):
    assert viz.detached_links(g, bptt_depth) == measured_links(g, bptt_depth)


def test_detached_links_reject_a_negative_depth():
    with pytest.raises(ValueError, match="bptt_depth=-1"):
        viz.detached_links(3, -1)


def test_plot_unrolled_cuts_the_gradient_before_the_window():
    def count(fig, label):
        ax = fig.axes[0]
        return sum(a.get_label() == label for a in [*ax.patches, *ax.lines])

    full = viz.plot_unrolled(4)
    assert count(full, "segment") == 4 and count(full, "detach") == 0
    assert "reaches 4 of them" in full.axes[0].get_title()
    short = viz.plot_unrolled(5, bptt_depth=2)
    assert count(short, "detach") == 3 and "bptt_depth=2" in short.axes[0].get_title()
    window = next(p for p in short.axes[0].patches if p.get_label() == "window")
    assert window.get_x() > 2 * 2.0  # the shade starts at segment 3


def test_plot_heatmap_labels_and_annotates():
    values = torch.tensor([[0.1, 0.95, 1.0], [0.5, 0.0, 0.25]])
    fig = viz.plot_heatmap(values, "source position", "slot", title="probe")
    ax = fig.axes[0]
    assert image(fig).shape == (2, 3) and ax.get_xlabel() == "source position" and ax.get_title() == "probe"
    assert [t.get_text() for t in ax.texts] == [".10", ".95", "1.00", ".50", ".00", ".25"]
    assert [t.get_color() for t in ax.texts[:3]] == ["white", "black", "black"]  # readable on viridis
    assert len(viz.plot_heatmap(torch.rand(20, 20), "x", "y").axes[0].texts) == 0  # too many cells to label
    named = viz.plot_heatmap(values, "depth", "g", row_labels=[8, 64], col_labels=["0-.3", ".3-.6", ".6-1"]).axes[0]
    assert [t.get_text() for t in named.get_yticklabels()] == ["8", "64"]
    assert [t.get_text() for t in named.get_xticklabels()] == ["0-.3", ".3-.6", ".6-1"]


def test_plot_curves_draws_runs_that_are_all_lists_of_records():
    records = [{"step": s, "loss": 1.0 / (s + 1)} for s in range(5)]
    runs = viz.plot_curves({"full BPTT": records, "bptt_depth=1": records[:3]}, "loss")
    assert [len(line.get_xdata()) for line in runs.axes[0].lines] == [5, 3]
    assert [line.get_label() for line in runs.axes[0].lines] == ["full BPTT", "bptt_depth=1"]
