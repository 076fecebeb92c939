"""The needle task: facts hidden in filler, one question at the end, and the 'mixed' curriculum that trains on it."""

import json

import pytest
import torch

from minirmt import RecurrentMemoryTransformer, build_model, cli, preset
from minirmt.data.tasks import make_task
from minirmt.data.tasks.needle import QUERY, Needle, needle_depth
from minirmt.training.task_loop import TrainConfig, train


def gen(seed):
    return torch.Generator().manual_seed(seed)


@pytest.mark.parametrize("facts,g", [(1, 1), (1, 4), (3, 3), (2, 8)])
def test_one_question_whose_answer_follows_its_key_in_the_haystack(facts, g):
    task = make_task("needle", 8, num_facts=facts)
    tokens, targets = task.sample(64, g, gen(0))  # (b, s)
    assert tokens.shape == targets.shape == (64, g * 8)
    assert (tokens >= 0).all() and (tokens < task.vocab_size).all()
    asked = targets != -100
    assert asked[:, -1].all() and asked.sum().item() == 64  # only the last target carries loss
    assert (tokens[:, -2] == QUERY).all()
    first_value = task.vocab_size - task.num_filler - task.num_values
    for row, answer in zip(tokens, targets[:, -1]):
        key = row[-1]
        where = (row[:-2] == key).nonzero().flatten()
        assert where.numel() == 1  # each key is hidden once, and filler ids never collide with keys
        assert row[where + 1].item() == answer.item() and answer >= first_value
        assert ((row[:-2] >= first_value) & (row[:-2] < first_value + task.num_values)).sum() == facts


def test_facts_sit_anywhere_not_only_in_the_first_segment():
    tokens, targets = make_task("needle", 8).sample(256, 8, gen(1))
    key_at = (tokens[:, :-2] == tokens[:, -1:]).float().argmax(1)  # (b,): where the asked key sits
    assert len(set((key_at // 8).tolist())) >= 6  # most of the 8 segments hold a needle somewhere in the batch


@pytest.mark.parametrize("g", [2, 3, 8])
def test_the_question_segment_holds_no_fact(g):
    task = make_task("needle", 8, num_facts=2)
    tokens, _ = task.sample(512, g, gen(g))
    first_filler = task.vocab_size - task.num_filler
    last = tokens[:, -8:-2]  # the question's segment, before the question
    assert (last >= first_filler).all()  # filler only: nothing there tells the value
    assert (needle_depth(tokens) < (g - 1) * 8 / (g * 8 - 2)).all()


def test_a_model_without_memory_is_at_chance():
    task = make_task("needle", 8)
    cfg = preset("tiny", vocab_size=task.vocab_size, segment_len=8)
    config = TrainConfig(steps=150, segments=3, batch_size=64, lr=3e-3, eval_every=150, eval_batches=16)
    result = train(build_model("segment", cfg, seed=0), task, config, progress=False)
    assert abs(result.metrics["eval_accuracy"] - task.chance_accuracy) < 0.05  # 1,024 answers, chance 0.125


def test_seeded_and_text_filler():
    task = make_task("needle", 8)
    a, b, c = task.sample(4, 3, gen(5)), task.sample(4, 3, gen(5)), task.sample(4, 3, gen(6))
    assert torch.equal(a[0], b[0]) and not torch.equal(a[0], c[0])
    text = torch.arange(200) % 256
    book = Needle(segment_len=8, num_filler=256, filler=text)
    tokens, _ = book.sample(2, 4, gen(0))
    filler = tokens[:, :-2] - (book.vocab_size - 256)
    runs = filler[:, 1:] - filler[:, :-1]
    assert (runs == 1).float().mean() > 0.8  # consecutive bytes of the text, broken only by the fact


def test_too_short_for_its_facts_says_so():
    with pytest.raises(ValueError, match="num_facts=5 needs 14 tokens"):
        make_task("needle", 4, num_facts=5).sample(2, 2, gen(0))


def test_mixed_curriculum_draws_every_length_up_to_the_stage(monkeypatch):
    seen = []
    draw = Needle._draw

    def recording(self, batch_size, num_segments, generator):
        seen.append(num_segments)
        return draw(self, batch_size, num_segments, generator)

    monkeypatch.setattr(Needle, "_draw", recording)
    task = make_task("needle", 4)
    model = RecurrentMemoryTransformer(preset("tiny", vocab_size=task.vocab_size, segment_len=4, num_mem_tokens=2))
    cfg = TrainConfig(steps=80, segments=4, curriculum="mixed", curriculum_threshold=1e-9, eval_every=5,
                      batch_size=4, eval_batches=1)
    result = train(model, task, cfg, progress=False)
    assert result.segments == 4  # a threshold near 0 moves on at every evaluation
    assert set(seen) == {1, 2, 3, 4}  # the last stage (g = 4) trains on 1, 2, 3 and 4 segments


def test_the_command_line_trains_a_needle_run_and_reads_it_on_a_longer_haystack(tmp_path, capsys):
    tiny = ["--steps", "6", "--batch-size", "8", "--d-model", "32", "--n-heads", "2", "--num-mem-tokens", "4",
            "--eval-every", "3", "--device", "cpu", "--quiet"]
    assert cli.main(["train", "--task", "needle", "--segments", "4", "--out", str(tmp_path), *tiny]) == 0
    config = json.loads((tmp_path / "config.json").read_text())
    assert config["task"] == "needle" and config["train_config"]["curriculum"] == "mixed"
    capsys.readouterr()
    assert cli.main(["eval", "--checkpoint", str(tmp_path / "checkpoint.pt"), "--segments", "16",
                     "--batches", "1", "--device", "cpu"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["segments"] == 16 and result["trained_segments"] == 4 and 0 <= result["eval_accuracy"] <= 1
