"""Lesson 09's library: the needle's depth, accuracy against length and depth, the cost meter, the checkpoints
shipped with the package (the lesson's checkers: tests/test_checks.py)."""

import pytest
import torch

from minirmt.course import long_context, pretrained
from minirmt.course.meter import PeakMemory, median_seconds
from minirmt.data.tasks import make_task
from minirmt.data.tasks.needle import needle_depth


def test_depth_is_where_the_asked_key_sits():
    tokens = torch.tensor([[5, 9, 7, 7, 1, 5], [7, 7, 7, 5, 1, 5]])  # s = 6: the question is (1, 5)
    assert needle_depth(tokens).tolist() == [0.0, 0.75]
    task = make_task("needle", 8)
    depths = needle_depth(task.sample(512, 8, torch.Generator().manual_seed(0))[0])
    span = 7 * 8 / 62  # facts sit before the last segment: depths in [0, 56 / 62)
    assert depths.min() >= 0 and depths.max() < span
    counts = torch.histc(depths, bins=4, min=0, max=span)
    assert (counts > 512 / 4 * 0.7).all()  # needles at every depth of the span, about evenly


class Oracle(torch.nn.Module):
    """Answers right when the needle sits deeper than `depth` (a recent fact), else says PAD."""

    def __init__(self, task, depth: float):
        super().__init__()
        self.task, self.depth = task, depth

    def segment_len(self, s):
        return s  # reads the whole sequence at once

    def forward(self, tokens, return_logits=True, **kwargs):
        b, s = tokens.shape
        before = tokens[:, :-2]
        at = (before == tokens[:, -1:]).float().argmax(1)
        answer = torch.where(needle_depth(tokens) >= self.depth, before.gather(1, (at + 1)[:, None])[:, 0], 0)
        logits = torch.zeros(b, s, self.task.vocab_size)
        logits[torch.arange(b), -1, answer] = 1.0
        return type("Out", (), {"logits": logits if return_logits else None, "memory": None})()


def test_accuracy_by_length_and_depth_measure_the_model():
    task = make_task("needle", 8)
    always, half = Oracle(task, 0.0), Oracle(task, 0.5)
    assert long_context.accuracy_by_length(always, task, [2, 8], count=64) == {2: 1.0, 8: 1.0}
    by_length = long_context.accuracy_by_length(half, task, [8, 16], count=256)
    assert all(0.35 < a < 0.65 for a in by_length.values())
    table = long_context.accuracy_by_depth(half, task, [8, 16], bins=4, count=256)
    assert table.shape == (2, 4)
    assert torch.equal(table[:, :2], torch.zeros(2, 2)) and torch.equal(table[:, 2:], torch.ones(2, 2))


def test_peak_memory_counts_what_the_call_allocates():
    x = torch.randn(500, 64)
    with PeakMemory() as meter:
        (x @ x.T).softmax(-1) @ x
    scores = 500 * 500 * 4
    assert 2 * scores <= meter.peak < 2 * scores + 500 * 64 * 4 * 2 + 4096  # scores and their softmax, at once
    with PeakMemory() as meter:
        for _ in range(10):
            x @ x.T  # each result dies before the next: the peak is one of them
    assert meter.peak == scores and meter.now == 0


def test_reading_cost_flat_for_rmt_growing_for_full_attention():
    task = make_task("needle", 8)
    cfg = pretrained.run_of("needle-rmt-s0").model_config
    from minirmt import build_model

    rmt, full = build_model("rmt", cfg, seed=0), build_model("full", cfg, seed=0)
    costs = {name: [long_context.reading_cost(m, task, g, repeats=1)["peak MiB"] for g in (8, 32)]
             for name, m in (("rmt", rmt), ("full", full))}
    assert costs["rmt"][1] < 1.2 * costs["rmt"][0]  # one segment at a time
    assert costs["full"][1] > 3 * costs["full"][0]  # the whole sequence at once
    assert median_seconds(lambda: None, repeats=3) >= 0


def test_unknown_checkpoint_names_the_choices():
    with pytest.raises(ValueError, match="unknown checkpoint 'nope'.*needle-rmt"):
        pretrained.load("nope")
    with pytest.raises(SystemExit):
        pretrained.main(["nope"])


@pytest.mark.parametrize("name", [name for name in pretrained.CHECKPOINTS if name.startswith("needle")])
def test_shipped_needle_checkpoint_reaches_its_recorded_accuracy(name):
    model, run_, info = pretrained.load(name)
    accuracy = long_context.accuracy_by_length(model, run_.task, [run_.train_config.segments], count=512, seed=7)
    got = accuracy[run_.train_config.segments]
    chance = run_.task.chance_accuracy
    assert abs(got - info["eval_accuracy"]) < 0.08, (got, info)  # other held-out sequences, the same skill
    if name == "needle-segment":
        assert got < chance + 0.08  # without memory the last segment tells nothing of the value
    else:
        assert got > 0.95


def test_make_writes_a_checkpoint_load_can_read(tmp_path, monkeypatch):
    monkeypatch.setitem(pretrained.CHECKPOINTS, "needle-rmt-s0", ("needle", "rmt", {"steps": 3, "eval_every": 3},
                                                                    (1, 2)))
    info = pretrained.make("needle-rmt-s0", out=tmp_path, progress=False)
    assert info["steps"] == 3 and 0 <= info["eval_accuracy"] <= 1 and set(info["read"]) == {"8", "16"}
    monkeypatch.setattr(pretrained, "checkpoint_path", lambda name: tmp_path / f"{name}.pt")
    model, _, loaded = pretrained.load("needle-rmt-s0")
    assert loaded == info and not model.training


def test_missing_checkpoint_says_how_to_make_it(tmp_path, monkeypatch):
    monkeypatch.setattr(pretrained, "checkpoint_path", lambda name: tmp_path / f"{name}.pt")
    with pytest.raises(FileNotFoundError, match="python -m minirmt.course.pretrained needle-full-s1"):
        pretrained.load("needle-full-s1")
