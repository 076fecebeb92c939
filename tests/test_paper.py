"""The paper's layouts against the authors' generators, token for token; answers scored as the model writes them
out (free-running) against teacher forcing."""

import numpy as np
import pytest
import torch

from minirmt import build_model, preset
from minirmt.data.tasks import PAPER_SEGMENTS, make_task
from minirmt.data.tasks.paper import copy_layout, retrieval_layout
from minirmt.model.recurrence import ModelOutput
from minirmt.training.metrics import answer_accuracy, free_running_accuracy, free_running_predictions
from minirmt.training.recipes import recipe


def authors_copy(seed: int, reverse: bool = False) -> tuple[list, list]:
    """booydar/LM-RMT `copy_generator` / `reverse_generator` for one example (num_tokens 12, 24 digits), then the
    data loader's join and shift: X, y -> src = [X, y][:-1], tgt = [X, y][1:]. Written from their code."""
    np.random.seed(seed)
    digits = np.random.randint(2, 12, 24)
    y = np.concatenate([[1], digits[::-1]] if reverse else [[1], digits, digits])
    full = np.concatenate([digits, y])
    return full[:-1].tolist(), full[1:].tolist()


def authors_retrieval(seed: int) -> tuple[list, list]:
    """booydar/LM-RMT `retrieval.py:create_sequence` (K = 4) for one example, joined and shifted the same way."""
    np.random.seed(seed)
    keys = np.random.choice(range(11, 26 + 11), 4, replace=False)
    values = np.random.choice(range(0, 10), 4, replace=False)
    index = np.random.choice(range(0, 4), 1, replace=False)[0]
    x = [t for pair in zip(keys, values) for t in pair] + [keys[index]]
    full = np.array(x + [10, values[index]])
    return full[:-1].tolist(), full[1:].tolist()


@pytest.mark.parametrize("reverse", [False, True])
def test_copy_and_reverse_match_the_authors_generator_token_for_token(reverse):
    src, tgt = authors_copy(0, reverse)
    digits = torch.tensor([src[:24]])
    tokens, targets = copy_layout(digits, reverse=reverse)
    answers = 24 if reverse else 48
    assert tokens[0].tolist() == src
    assert targets[0, -answers:].tolist() == tgt[-answers:]  # the positions the authors score (answer_size)
    assert (targets[0, :-answers] == -100).all()
    assert src[:3] == [7, 2, 5]  # numpy's legacy generator, seed 0, as the authors' code draws it


def test_retrieval_matches_the_authors_generator_token_for_token():
    src, tgt = authors_retrieval(0)
    assert src == [13, 6, 31, 1, 25, 9, 28, 2, 13, 10]
    keys, values = torch.tensor([src[0:8:2]]), torch.tensor([src[1:8:2]])
    asked = torch.tensor([src[:8:2].index(src[8])])
    tokens, targets = retrieval_layout(keys, values, asked)
    assert tokens[0].tolist() == src and targets[0, -1].item() == tgt[-1] == 6
    assert (targets[0, :-1] == -100).all()


@pytest.mark.parametrize("name", ["copy", "reverse", "assoc"])
def test_the_paper_segment_counts_cut_a_fixed_length(name):
    lengths = {"copy": 72, "reverse": 48, "assoc": 10}
    for g in PAPER_SEGMENTS[name]:
        task = make_task(name, layout="paper", segments=g)
        tokens, targets = task.sample(3, g, torch.Generator().manual_seed(g))
        assert tokens.shape == (3, lengths[name]) and task.min_segments == g
        assert tokens.max() < task.vocab_size and targets[targets != -100].min() >= 0


def test_the_paper_layouts_draw_distinct_keys_and_values():
    task = make_task("assoc", layout="paper", segments=1)
    tokens, _ = task.sample(256, 1, torch.Generator().manual_seed(0))
    keys, values = tokens[:, 0:8:2], tokens[:, 1:8:2]
    assert all(len(set(row)) == 4 for row in keys.tolist()) and all(len(set(row)) == 4 for row in values.tolist())
    assert ((keys >= 11) & (keys < 37)).all() and ((values >= 0) & (values < 10)).all()


@pytest.mark.parametrize("bad, message", [
    (dict(segments=None), "needs segments=g"),
    (dict(segments=2, segment_len=8), "fixes the task's sizes"),
    (dict(segments=0), "segments must be in [1, 72]"),
])
def test_bad_paper_layouts_are_named(bad, message):
    with pytest.raises(ValueError) as info:
        make_task("copy", layout="paper", **bad)
    assert message in str(info.value)
    with pytest.raises(ValueError, match="not 'mqar'"):
        make_task("mqar", layout="paper", segments=2)


class Oracle(torch.nn.Module):
    """Reads every token seen so far (its state) and answers copy or reverse by the rule, always right: the first
    copy repeats the source, the second repeats the first copy as it was fed in (its own answers, when free
    running). `wrong_at`: a position where it errs instead."""

    def __init__(self, task, wrong_at=None):
        super().__init__()
        self.task, self.wrong_at = task, wrong_at

    def segment_len(self, s):
        return self.task.segment_len

    def forward(self, tokens, memory=None, **kwargs):
        seen = tokens if memory is None else torch.cat([memory, tokens], dim=1)  # (b, t)
        b, t, v = seen.shape[0], seen.shape[1], self.task.vocab_size
        prediction = torch.zeros(b, t, dtype=torch.long)
        for i in range(24, t):  # from GO on, the next answer
            if self.task.name == "reverse":
                prediction[:, i] = seen[:, 47 - i]
            else:  # the first copy reads the source; the second, the first copy fed in at 25 .. 48
                prediction[:, i] = seen[:, i - 24] if i < 48 else seen[:, i - 23]
            if i == self.wrong_at:
                prediction[:, i] = (prediction[:, i] + 1 - 2) % 10 + 2  # another digit
        logits = torch.nn.functional.one_hot(prediction, v).float()[:, -tokens.shape[1] :]
        return ModelOutput(logits=logits, loss=None, memory=seen, memories=[seen])


@pytest.mark.parametrize("name, g", [("copy", 3), ("copy", 9), ("reverse", 4)])
def test_free_running_equals_teacher_forcing_for_a_model_that_is_always_right(name, g):
    task = make_task(name, layout="paper", segments=g)
    tokens, targets = task.sample(4, g, torch.Generator().manual_seed(0))
    oracle = Oracle(task)
    assert answer_accuracy(oracle(tokens).logits, targets) == (1.0, 1.0)
    assert free_running_accuracy(oracle, tokens, targets) == (1.0, 1.0)


def test_a_wrong_answer_fed_back_costs_more_when_free_running():
    """One mistake in the first copy, at position 30: teacher forcing loses that answer only; written out, the
    wrong digit is fed back at 31, and the second copy, which repeats the first as fed in, repeats it (at 54)."""
    task = make_task("copy", layout="paper", segments=3)
    tokens, targets = task.sample(2, 3, torch.Generator().manual_seed(1))
    oracle = Oracle(task, wrong_at=30)
    assert answer_accuracy(oracle(tokens).logits, targets)[0] == pytest.approx(47 / 48)
    predictions = free_running_predictions(oracle, tokens, targets)
    wrong = (predictions != targets) & (targets != -100)
    assert wrong[:, 30].all() and wrong[:, 54].all() and wrong.sum() == 2 * 2
    assert free_running_accuracy(oracle, tokens, targets)[0] == pytest.approx(46 / 48)


def test_the_authors_scoring_feeds_answers_back_inside_a_segment_only():
    """A mistake at position 47, the last of segment 2 (of 3 segments of 24): written out, it is fed in at 48, the
    first position of segment 3, and repeated at 71; the authors' scoring starts segment 3 from the true token."""
    task = make_task("copy", layout="paper", segments=3)
    tokens, targets = task.sample(2, 3, torch.Generator().manual_seed(1))
    oracle = Oracle(task, wrong_at=47)
    wrong = (free_running_predictions(oracle, tokens, targets) != targets) & (targets != -100)
    assert wrong[:, 47].all() and wrong[:, 71].all() and wrong.sum() == 2 * 2
    authors = (free_running_predictions(oracle, tokens, targets, across_segments=False) != targets) & (targets != -100)
    assert authors[:, 47].all() and authors.sum() == 2
    assert free_running_accuracy(oracle, tokens, targets, across_segments=False)[0] == pytest.approx(47 / 48)


@pytest.mark.parametrize("name", ["rmt", "xl", "segment", "rmtxl"])
def test_free_running_runs_every_model_on_a_paper_layout(name):
    task = make_task("reverse", layout="paper", segments=4)
    model = build_model(name, preset("tiny", vocab_size=task.vocab_size, segment_len=task.segment_len), seed=0)
    tokens, targets = task.sample(2, 4, torch.Generator().manual_seed(0))
    accuracy, exact = free_running_accuracy(model, tokens, targets)
    assert 0.0 <= accuracy <= 1.0 and 0.0 <= exact <= 1.0 and model.training


def test_a_paper_recipe_refuses_sizes_that_its_fixed_layout_would_ignore():
    run = recipe("copy", "rmt", layout="paper", segments=3)
    assert run.task.segment_len == run.model_config.num_mem_tokens == run.model_config.xl_cache_len == 24
    with pytest.raises(TypeError, match=r"copy: unknown settings \['num_digits'\]"):
        recipe("copy", "rmt", layout="paper", segments=3, num_digits=5)
    with pytest.raises(ValueError, match="segment_len: the paper's reverse in 2 segments has segments of"):
        recipe("reverse", "rmt", layout="paper", segments=2, segment_len=8)


# ---------------------------------------------------------------- the authors' results

def test_the_authors_runs_are_cut_as_torch_chunk_cut_them():
    """Each run's `cut` is what `torch.chunk(x, len(x) // t)` gives for its segment length t."""
    from minirmt.training.paper_reference import RUNS, nominal_segment

    for run in RUNS:
        total, t = sum(run.cut), nominal_segment(run)
        assert total == {"copy": 72, "reverse": 48, "assoc": 10}[run.task]
        assert tuple(len(piece) for piece in torch.arange(total).chunk(total // t)) == run.cut, run
    assert [run.cut for run in RUNS if run.task == "assoc" and run.model == "xl"] == [
        (5, 5), (5, 5), (4, 4, 2), (2, 2, 2, 2, 2)]  # their "3 segments" ran as 2, their "4" as 3


def test_the_lowest_comparable_seed_is_the_goal_of_each_cell():
    """The RMT's goal per cell (RMT paper, Fig. 4; the authors' CSV): memory of one nominal segment."""
    from minirmt.training.paper_reference import comparable, lowest

    assert [lowest("copy", "rmt", g) for g in (3, 6, 9)] == [1.0, 1.0, 1.0]
    assert [lowest("reverse", "rmt", g) for g in (2, 4, 6)] == [1.0, 1.0, 0.701]
    assert [lowest("assoc", "rmt", g) for g in (2, 3, 4, 5)] == [0.963, 0.986, None, 0.922]
    assert lowest("copy", "xl", 6) == 0.904  # the cache of one segment, not the half-segment runs (0.298)
    assert {run.label for run in comparable("assoc", "rmt", 2)} == {2, 3}  # both ran as [5, 5]
    assert lowest("copy", "segment", 1) == 1.0 and lowest("copy", "rmt", 1) is None


def test_the_authors_bars_stand_beside_our_markers_not_behind_them():
    """plot_paper: every authors' bar is drawn right of the g it belongs to, clear of our marker at g itself."""
    import matplotlib.pyplot as plt

    from minirmt.training.paper_experiment import AUTHORS_OFFSET, plot_paper

    rows = [{"task": "assoc", "model": model, "g": g, "seed": 0, "authors_accuracy": 1.0, "chance": 0.1}
            for model in ("rmt", "xl") for g in (2, 5)]
    fig = plot_paper(rows)
    bars = [line for line in fig.axes[0].lines if line.get_linewidth() == 5]
    assert len(bars) == 6  # the authors ran both models at [5, 5], [4, 4, 2] and five of 2
    offsets = {round(x - int(x), 2) for x in (line.get_xdata()[0] for line in bars)}
    assert min(offsets) >= AUTHORS_OFFSET and len(offsets) == 2  # right of g, the two models side by side
    plt.close(fig)
