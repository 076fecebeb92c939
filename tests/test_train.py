"""The training loop: learning, exact resume, Ctrl-C, curricula, checkpoints, evaluation, the small pieces."""

import math
from types import SimpleNamespace

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from minirmt import build_model, preset
from minirmt.data.tasks import make_task
from minirmt.training.checkpoints import load_checkpoint, save_checkpoint
from minirmt.training.common import lr_at, make_optimizer
from minirmt.training.progress import LineBar
from minirmt.training.task_loop import TrainConfig, evaluate, segment_stages, size_stages, train

pytestmark = pytest.mark.usefixtures("one_thread")  # conftest.py


def tiny(task_name="copy", n=4, model="rmt", seed=0, **overrides):
    task = make_task(task_name, n)
    cfg = preset("tiny", vocab_size=task.vocab_size, segment_len=n, **overrides)
    return task, build_model(model, cfg, seed)


def quick(**overrides) -> TrainConfig:
    settings = dict(steps=12, batch_size=8, lr=3e-3, warmup=2, segments=2, eval_every=4, eval_batches=1,
                    log_every=1, device="cpu")
    return TrainConfig(**{**settings, **overrides})


def losses(history):
    return [r["loss"] for r in history if "loss" in r]


def test_loss_falls_by_a_clear_margin():
    task, model = tiny(n=8)
    run = train(model, task, quick(steps=60, lr=1e-2, warmup=5, segments=1, eval_every=60, log_every=5),
                progress=False)
    curve = losses(run.history)
    assert len(curve) == 12 and run.step == 60 and not run.interrupted
    assert curve[-1] < 0.7 * curve[0], curve
    assert run.metrics["eval_accuracy"] > task.chance_accuracy + 0.1


def test_history_and_metrics():
    task, model = tiny()
    run = train(model, task, quick(), progress=False)
    evals = [r for r in run.history if "eval_accuracy" in r]
    assert [r["step"] for r in evals] == [4, 8, 12]
    assert run.metrics == evals[-1]
    for r in evals:
        assert 0 <= r["eval_accuracy"] <= 1 and 0 <= r["eval_exact_match"] <= 1 and r["segments"] == 2
    seconds = [r["seconds"] for r in run.history]
    assert seconds == sorted(seconds) and run.seconds >= seconds[-1]


def test_resume_continues_exactly(tmp_path):
    """2N steps straight == N steps, checkpoint, a fresh model and task resumed for N more (dropout on)."""
    config = quick(steps=12, eval_every=5)
    task, model = tiny(dropout=0.1)
    straight = train(model, task, config, progress=False)

    task, model = tiny(dropout=0.1)
    first = train(model, task, config, checkpoint=tmp_path / "ckpt.pt", progress=False,
                  callback=lambda step, history: step == 6)
    assert first.step == 6
    task, model = tiny(dropout=0.1, seed=123)  # different initial weights: all must come from the checkpoint
    resumed = train(model, task, config, resume=tmp_path / "ckpt.pt", progress=False)

    assert losses(resumed.history) == losses(straight.history)
    for a, b in zip(straight.model.parameters(), resumed.model.parameters()):
        assert torch.equal(a, b)
    assert resumed.metrics["eval_accuracy"] == straight.metrics["eval_accuracy"]


def test_global_random_state_is_left_alone():
    before = torch.get_rng_state()
    task, model = tiny(dropout=0.1)
    train(model, task, quick(steps=3), progress=False)
    assert torch.equal(torch.get_rng_state(), before)


def test_ctrl_c_keeps_model_history_and_writes_checkpoint(tmp_path):
    def interrupt(step, history):
        if step == 7:
            raise KeyboardInterrupt

    task, model = tiny()
    run = train(model, task, quick(), checkpoint=tmp_path / "ckpt.pt", callback=interrupt, progress=False)
    assert run.interrupted and run.step == 7 and run.model is model
    assert [r["step"] for r in run.history if "loss" in r] == list(range(1, 8))
    state = load_checkpoint(tmp_path / "ckpt.pt")
    assert state["step"] == 7 and len(state["history"]) == len(run.history)


def test_segment_curriculum_grows_the_number_of_segments():
    task, model = tiny()  # copy on segments of 4: fits from one segment
    assert task.min_segments == 1
    run = train(model, task, quick(steps=10, segments=3, curriculum="segments", eval_every=2,
                                   curriculum_threshold=0.01), progress=False)
    trained_on = [r["segments"] for r in run.history if "loss" in r]
    assert trained_on[0] == 1 and trained_on == sorted(trained_on) and trained_on[-1] == 3
    assert run.segments == 3 and run.metrics["segments"] == 3


def test_curriculum_waits_for_the_threshold():
    task, model = tiny()
    config = quick(steps=6, segments=3, curriculum="segments", curriculum_threshold=1.0)
    run = train(model, task, config, progress=False)
    assert {r["segments"] for r in run.history if "loss" in r} == {1}
    assert run.metrics["segments"] == 3  # the target is still evaluated at the end


def test_stages():
    task = make_task("assoc", 4)
    assert segment_stages(make_task("copy", 4), 3) == [(make_task("copy", 4), 1), (make_task("copy", 4), 2)]
    stages = size_stages(task, 4, "num_pairs", [2, 3])
    assert [(t.num_pairs, g) for t, g in stages] == [(2, 4), (3, 4)]
    _, model = tiny("assoc")
    run = train(model, task, quick(steps=4, segments=4, eval_every=1, curriculum_threshold=0.01), stages=stages,
                progress=False)
    assert [r["stage"] for r in run.history if "loss" in r][-1] == 2


def test_segments_below_the_task_minimum_is_an_error():
    task, model = tiny("assoc")
    with pytest.raises(ValueError, match="at least 4"):
        train(model, task, quick(segments=2), progress=False)


@pytest.mark.parametrize("field, value", [("steps", 0), ("lr", 0.0), ("clip", -1.0), ("segments", 0),
                                          ("betas", (0.9, 1.0)), ("curriculum_threshold", 0.0)])
def test_config_rejects_bad_values(field, value):
    with pytest.raises(ValueError, match=field):
        TrainConfig(**{field: value})


def test_config_round_trip():
    config = quick(curriculum="segments")
    assert TrainConfig.from_dict({**config.to_dict(), "unknown": 1}) == config


def test_lr_schedule():
    lr = [lr_at(step, 1.0, warmup=10, total=110, min_lr_ratio=0.1) for step in range(110)]
    assert lr[0] == pytest.approx(0.1) and lr[9] == pytest.approx(1.0)
    assert lr[10] == pytest.approx(1.0) and all(a >= b for a, b in zip(lr[9:], lr[10:]))
    assert lr_at(110, 1.0, 10, 110, 0.1) == pytest.approx(0.1)
    assert lr_at(60, 1.0, 10, 110, 0.1) == pytest.approx(0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi / 2)))


def test_optimizer_decays_matrices_only():
    _, model = tiny()
    optimizer = make_optimizer(model, TrainConfig(lr=1e-3, weight_decay=0.1))
    decayed, plain = optimizer.param_groups
    assert decayed["weight_decay"] == 0.1 and plain["weight_decay"] == 0.0
    assert all(p.dim() >= 2 for p in decayed["params"]) and all(p.dim() < 2 for p in plain["params"])
    assert len(decayed["params"]) + len(plain["params"]) == len(list(model.parameters()))


def test_checkpoint_write_is_atomic(tmp_path):
    path = tmp_path / "ckpt.pt"
    save_checkpoint(path, step=1, weights=torch.ones(3))
    with pytest.raises(TypeError, match="pickle"):
        save_checkpoint(path, step=2, bad=(x for x in []))  # a generator cannot be pickled: fails mid-write
    assert load_checkpoint(path)["step"] == 1
    assert [p.name for p in tmp_path.iterdir()] == ["ckpt.pt"]  # no temporary file left behind
    with pytest.raises(FileNotFoundError, match="no checkpoint"):
        load_checkpoint(tmp_path / "missing.pt")


def test_a_checkpoint_is_readable_by_others_and_a_bad_one_is_named(tmp_path):
    path = save_checkpoint(tmp_path / "ckpt.pt", step=1)
    assert path.stat().st_mode & 0o044 == 0o044  # group and others may read it (a shared course folder)
    path.write_bytes(path.read_bytes()[:50])  # truncated
    with pytest.raises(ValueError, match="ckpt.pt is not a readable minirmt checkpoint"):
        load_checkpoint(path)


def test_progress_in_a_log_file_is_whole_lines(capsys):
    bar = LineBar(total=20, desc="RMT")
    bar.set_postfix({"loss": 0.5})
    for _ in range(20):
        bar.update(1)
    lines = capsys.readouterr().err.splitlines()
    assert lines[0] == "RMT: 2/20 steps | loss 0.5" and len(lines) == 10 and "\r" not in "".join(lines)


class Oracle(nn.Module):
    """Predicts the targets, except for the answers listed in `wrong` (batch row, position)."""

    def __init__(self, vocab_size, wrong=()):
        super().__init__()
        self.vocab_size, self.wrong = vocab_size, wrong

    def forward(self, tokens, targets=None):
        guess = targets.clamp(min=0).clone()
        for row, pos in self.wrong:
            guess[row, pos] = (guess[row, pos] + 1) % self.vocab_size
        logits = 10.0 * F.one_hot(guess, self.vocab_size).float()
        return SimpleNamespace(logits=logits, loss=torch.tensor(0.5))


def test_evaluate_counts_answers_and_whole_sequences():
    task = make_task("copy", 4)
    tokens, targets = task.sample(4, 2, torch.Generator().manual_seed(0))  # 4 answers per sequence
    answers = (targets != -100).sum().item()
    first = (targets[0] != -100).nonzero()[0].item()
    metrics = evaluate(Oracle(task.vocab_size), [(tokens, targets)])
    assert metrics == {"eval_loss": 0.5, "eval_accuracy": 1.0, "eval_exact_match": 1.0}
    metrics = evaluate(Oracle(task.vocab_size, wrong=[(0, first), (0, first + 1)]), [(tokens, targets)])
    assert metrics["eval_accuracy"] == pytest.approx(1 - 2 / answers)
    assert metrics["eval_exact_match"] == pytest.approx(3 / 4)


@pytest.mark.parametrize("requested, env, shared, load, expected", [
    (3, "2", True, 9.0, (3, "asked for")),                     # an explicit request wins
    (None, "2", True, 9.0, (2, "OMP_NUM_THREADS")),            # then the environment
    (None, "", True, 0.0, (1, "one thread stays fast when other kernels share the cores")),
    (None, "", False, 0.0, (4, "the machine is idle")),        # the command line on a quiet machine
    (None, "", False, 3.0, (1, "other jobs are using the cores (load 3.0)")),
])
def test_cpu_threads_policy(monkeypatch, requested, env, shared, load, expected):
    from minirmt.training import common

    monkeypatch.setenv("OMP_NUM_THREADS", env)
    monkeypatch.setattr(common.os, "sched_getaffinity", lambda pid: {0, 1, 2, 3}, raising=False)
    monkeypatch.setattr(common.os, "getloadavg", lambda: (load, load, load))
    assert common.cpu_threads(requested, shared) == expected


def test_cpu_threads_refuses_a_bad_request():
    from minirmt.training import common

    with pytest.raises(ValueError, match="threads=0 must be >= 1"):
        common.cpu_threads(0)
