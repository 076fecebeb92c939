"""The memory hint (hint.py): its loss, where its gradient goes, training and resuming with it, the default
associative-retrieval run of the command line that uses it."""

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from minirmt import build_model, cli, preset
from minirmt.data.tasks import make_task
from minirmt.training.checkpoints import load_checkpoint
from minirmt.training.hint import MemoryHint, check_hint_model
from minirmt.training.task_loop import TrainConfig, curriculum_stages, pair_stages, train

pytestmark = pytest.mark.usefixtures("one_thread")  # conftest.py


def tiny_assoc(model="rmt", seed=0, **overrides):
    """Associative retrieval with 2 pairs on segments of 4 (min g = 2) and a tiny model, m = 4 <= n = 4."""
    task = make_task("assoc", 4, num_pairs=2)
    cfg = preset("tiny", vocab_size=task.vocab_size, segment_len=4, **overrides)
    return task, build_model(model, cfg, seed)


def quick(**overrides) -> TrainConfig:
    settings = dict(steps=12, batch_size=8, lr=3e-3, warmup=2, segments=2, eval_every=4, eval_batches=1,
                    log_every=1, device="cpu", memory_hint=True)
    return TrainConfig(**{**settings, **overrides})


def test_hint_loss_by_hand():
    """A head that reads slot j as token j exactly (copy loss ~0) and a zero probe (previous loss log v)."""
    _, model = tiny_assoc(d_model=64)  # d 64, v 34, m 4
    (d, v, m), b = (model.cfg.d_model, model.cfg.vocab_size, model.cfg.num_mem_tokens), 2
    hint = MemoryHint(model, copy_weight=2.0, previous_weight=3.0)
    nn.init.zeros_(hint.previous.weight)
    tokens = torch.randint(0, v, (b, 12), generator=torch.Generator().manual_seed(0))  # (b, s)
    head = nn.Linear(d, v, bias=False)
    nn.init.zeros_(head.weight)
    head.weight.data[:, :v] = 100 * torch.eye(v)  # logits = 100 * (the first v features of a slot)
    memory = torch.zeros(b, m, d)  # (b, m, d): slot j holds token j as a one-hot in its first v features
    memory[:, :, :v] = F.one_hot(tokens[:, :m], v).float()
    loss = hint(head, memory, tokens)
    assert loss.item() == pytest.approx(2.0 * 0.0 + 3.0 * math.log(v), abs=1e-4)


def test_hint_loss_is_the_weighted_sum_of_two_cross_entropies():
    _, model = tiny_assoc()
    (d, v, m), b = (model.cfg.d_model, model.cfg.vocab_size, model.cfg.num_mem_tokens), 3
    hint = MemoryHint(model, copy_weight=0.5, previous_weight=2.0)
    generator = torch.Generator().manual_seed(0)
    head, memory = nn.Linear(d, v), torch.randn(b, m, d, generator=generator)  # memory (b, m, d)
    tokens = torch.randint(0, v, (b, 10), generator=generator)  # (b, s)

    def nll(logits, ids):  # (b, j, v), (b, j): mean negative log-likelihood, written out
        return -logits.log_softmax(-1).gather(-1, ids[..., None]).mean()

    expected = 0.5 * nll(head(memory), tokens[:, :m]) + 2.0 * nll(hint.previous(memory[:, 1:]), tokens[:, : m - 1])
    assert torch.allclose(hint(head, memory, tokens), expected, atol=1e-6)


@pytest.mark.parametrize("model, overrides, message", [
    ("segment", {}, "SegmentTransformer carries none"),
    ("memxl", {}, "MemTransformerXL carries none"),
    ("rmt", {"num_mem_tokens": 8}, "2 <= m <= n"),
    ("rmt", {"num_mem_tokens": 1}, "2 <= m <= n"),
])
def test_models_that_cannot_take_the_hint(model, overrides, message):
    _, model = tiny_assoc(model, **overrides)
    with pytest.raises(ValueError, match=message):
        check_hint_model(model)
    with pytest.raises(ValueError, match=message):
        train(model, make_task("assoc", 4, num_pairs=2), quick(), progress=False)


def memory_grad(hint: bool) -> torch.Tensor:
    """The gradient on the RMT's initial memory of the training loss (task loss, plus the hint's) on one batch."""
    task, model = tiny_assoc()
    tokens, targets = task.sample(8, 2, torch.Generator().manual_seed(0))
    out = model(tokens, targets=targets, return_logits=False)
    loss = out.loss + (MemoryHint(model)(model.backbone.head, out.memories[0], tokens) if hint else 0.0)
    loss.backward()
    return model.memory.grad


def test_hint_changes_the_memory_gradient():
    assert not torch.allclose(memory_grad(hint=True), memory_grad(hint=False))


def test_checkpoint_keeps_the_hint_out_of_the_model(tmp_path):
    task, model = tiny_assoc()
    run = train(model, task, quick(steps=3, eval_every=3), checkpoint=tmp_path / "ckpt.pt", progress=False)
    state = load_checkpoint(tmp_path / "ckpt.pt")
    assert state["model"].keys() == tiny_assoc()[1].state_dict().keys()  # a plain RMT's
    assert list(state["hint"]) == ["previous.weight"] and state["hint"]["previous.weight"].shape == (34, 32)
    assert all("hint_loss" in r for r in run.history if "loss" in r)
    assert not any("hint_loss" in r for r in run.history if "eval_accuracy" in r)  # never in evaluation


def test_resume_with_the_hint_continues_exactly(tmp_path):
    config = quick(steps=12, eval_every=5)
    task, model = tiny_assoc(dropout=0.1)
    straight = train(model, task, config, progress=False)

    task, model = tiny_assoc(dropout=0.1)
    train(model, task, config, checkpoint=tmp_path / "ckpt.pt", progress=False, callback=lambda step, h: step == 6)
    task, model = tiny_assoc(dropout=0.1, seed=123)  # every weight, the probe's too, must come from the checkpoint
    resumed = train(model, task, config, resume=tmp_path / "ckpt.pt", progress=False)

    def losses(history):
        return [(r["loss"], r["hint_loss"]) for r in history if "loss" in r]

    assert losses(resumed.history) == losses(straight.history)
    assert all(torch.equal(a, b) for a, b in zip(straight.model.parameters(), resumed.model.parameters()))


def test_training_with_the_hint_lowers_both_losses():
    task, model = tiny_assoc()
    run = train(model, task, quick(steps=60, lr=1e-2, warmup=5, eval_every=60, log_every=10), progress=False)
    records = [r for r in run.history if "loss" in r]
    first, last = records[0], records[-1]
    assert last["hint_loss"] < 0.85 * first["hint_loss"], (first, last)
    assert last["loss"] < first["loss"], (first, last)


def test_stop_accuracy_ends_the_run_at_the_first_good_evaluation():
    task, model = tiny_assoc()
    run = train(model, task, quick(steps=40, eval_every=5, stop_accuracy=0.01, memory_hint=False), progress=False)
    assert run.step == 5 and run.metrics["step"] == 5


def test_pair_stages_grow_pairs_then_segments():
    task = make_task("assoc", 8)  # 4 pairs fill one segment: the fewest segments is 2
    assert [(t.num_pairs, g) for t, g in pair_stages(task, 4)] == [(2, 2), (3, 2), (4, 2), (4, 3)]


def test_default_assoc_run_is_a_plain_rmt_and_the_hint_one_flag_away():
    """`train --task assoc`: the token shift and the curriculum "length" (32 tokens in 1, then 2, then 4 segments),
    no memory hint; `--memory-hint` turns it on, `--no-memory-hint` is still accepted."""
    def setup(*flags):
        r = cli.train_setup(cli.make_parser().parse_args(["train", "--task", "assoc", "--out", "x", *flags]))
        return r.task, r.model_config, r.train_config

    task, model_config, config = setup()
    assert (task.num_pairs, model_config.segment_len, model_config.num_mem_tokens, config.segments) == (4, 8, 8, 4)
    assert (config.lr, config.warmup, config.steps, config.curriculum_threshold) == (5e-3, 200, 2000, 0.9)
    assert not config.memory_hint and config.stop_accuracy == 0.98 and config.curriculum == "length"
    assert model_config.token_shift
    stages = curriculum_stages(task, config.segments, config.curriculum)
    assert [(t.num_pairs, t.segment_len, g) for t, g in stages] == [(4, 32, 1), (4, 16, 2)]
    assert setup("--memory-hint")[2].memory_hint and not setup("--no-memory-hint")[2].memory_hint
    _, _, config = setup("--curriculum", "none", "--stop-accuracy", "none")
    assert config.curriculum == "none" and config.stop_accuracy is None
