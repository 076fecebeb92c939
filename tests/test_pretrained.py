"""The checkpoints the package ships for lessons 02-05: each is its recipe's run, and reads back as one."""

import pytest
import torch

from minirmt.course import pretrained
from minirmt.training.metrics import answer_accuracy

LESSON_CHECKPOINTS = [name for name in pretrained.CHECKPOINTS if not name.startswith("needle")]


def held_out_accuracy(model, task, g: int, count: int = 512, seed: int = 7) -> float:
    tokens, targets = task.sample(count, g, torch.Generator().manual_seed(seed))
    with torch.no_grad():
        return answer_accuracy(model(tokens).logits, targets)[0]


@pytest.mark.parametrize("name", LESSON_CHECKPOINTS)
def test_shipped_checkpoint_reaches_its_recorded_accuracy(name):
    result = pretrained.trained(name)
    run = pretrained.run_of(name)
    g = run.train_config.segments
    got = held_out_accuracy(result.model, run.task, g)
    assert abs(got - result.metrics["eval_accuracy"]) < 0.05, (got, result.metrics)  # other sequences, same skill
    assert not result.model.training and result.step == result.metrics["step"] and result.segments == g
    evaluations = [r for r in result.history if "eval_accuracy" in r]
    assert evaluations[-1]["eval_accuracy"] == result.metrics["eval_accuracy"]


def test_the_copy_models_are_the_first_seed_of_the_shipped_study():
    """Notebook 03 shows the study's seed 0 beside these two models, as one run."""
    rows = {(r["model"], r["g"]): r["accuracy"] for r in pretrained.result("copy_seeds")["rows"] if r["seed"] == 0}
    for kind in ("rmt", "segment"):
        model = pretrained.trained(f"copy-{kind}-g4").model
        run = pretrained.run_of(f"copy-{kind}-g4")
        assert abs(held_out_accuracy(model, run.task, 4, count=256) - rows[kind, 4]) < 0.02


def test_the_truncation_models_are_the_first_seed_of_the_shipped_study():
    """Notebook 02 shows these three models beside the study's seeds, seed 0 being these runs."""
    rows = {r["bptt_depth"]: r["accuracy"] for r in pretrained.result("truncation")["rows"]
            if r["seed"] == 0 and r["steps"] == 500}
    for depth in (None, 2, 1):
        accuracy = pretrained.trained(f"copy-rmt-bptt-{depth or 'full'}").metrics["eval_accuracy"]
        assert abs(accuracy - rows[depth]) < 0.02, (depth, accuracy, rows[depth])


def test_what_the_lesson_models_learned():
    """The facts the notebooks state about them: copy solved, reverse part-way, recall on the plateau or solved."""
    accuracy = {name: pretrained.trained(name).metrics["eval_accuracy"] for name in LESSON_CHECKPOINTS}
    chance = pretrained.run_of("copy-segment-g4").task.chance_accuracy
    assert accuracy["copy-rmt-g3"] > 0.99 and accuracy["copy-rmt-g4"] > 0.99
    assert abs(accuracy["copy-segment-g4"] - chance) < 0.05
    assert 0.6 < accuracy["reverse-rmt-g4"] < 0.95
    assert accuracy["assoc-full"] > 0.95 and accuracy["assoc-rmt-hint"] > 0.95 and accuracy["assoc-rmt"] > 0.95
    assert 0.5 < accuracy["assoc-full-plain"] < 0.65  # no token shift: near the bag-of-values plateau of 4 pairs
    assert abs(accuracy["assoc-segment"] - pretrained.run_of("assoc-segment").task.chance_accuracy) < 0.02
    assert accuracy["copy-rmt-bptt-full"] > 0.99
    assert accuracy["copy-rmt-bptt-2"] < 0.2 and accuracy["copy-rmt-bptt-1"] < 0.2  # truncated: 500 steps too few


def test_trained_gives_the_needle_models_an_empty_history():
    result = pretrained.trained("needle-segment")
    assert result.history == [] and result.metrics == {} and result.step == 500


@pytest.mark.slow
def test_a_shipped_language_model_scores_what_it_recorded():
    """lm-rmt, evaluated again on the shipped sample's test text, gives the bits per byte its training recorded;
    the three language models are the same run but the model."""
    from minirmt.data.corpora import corpus_info
    from minirmt.training.perplexity import evaluate_lm

    run = pretrained.load_lm("lm-rmt")
    config = pretrained.lm_run_of("lm-rmt")
    test = corpus_info(config.corpus).load("test")
    score = evaluate_lm(run.model, test, batch_size=config.batch_size, unit="bpb",
                        seq_len=config.segments * run.model.cfg.segment_len)
    assert score["bpb"] == pytest.approx(run.final["test"]["bpb"], abs=1e-4) and run.step == config.steps
    others = {name: pretrained.lm_run_of(name).to_dict() for name in pretrained.LANGUAGE_MODELS}
    assert len({str({k: v for k, v in c.items() if k != "model"}) for c in others.values()}) == 1
