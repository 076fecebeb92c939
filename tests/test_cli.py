"""`python -m minirmt`: train -> eval round trip, the demo and the experiment on tiny settings, bad input."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from minirmt import cli, experiments

TINY = ["--segment-len", "4", "--segments", "2", "--steps", "6", "--batch-size", "8", "--d-model", "32",
        "--heads", "2", "--mem", "4", "--eval-every", "3", "--device", "cpu", "--quiet"]


pytestmark = pytest.mark.usefixtures("one_thread")  # conftest.py


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("run")
    assert cli.main(["train", "--task", "copy", "--out", str(out), *TINY]) == 0
    return out


def test_train_writes_config_metrics_and_checkpoint(run_dir, capsys):
    config = json.loads((run_dir / "config.json").read_text())
    assert config["task"] == "copy" and config["model"] == "rmt" and config["segment_len"] == 4
    assert config["model_config"]["d_model"] == 32 and config["train_config"]["steps"] == 6
    metrics = json.loads((run_dir / "metrics.json").read_text())
    for key in ("eval_accuracy", "eval_exact_match", "steps", "train_seconds"):
        assert key in metrics
    assert metrics["steps"] == 6 and 0 <= metrics["eval_accuracy"] <= 1 and not metrics["interrupted"]
    assert (run_dir / "checkpoint.pt").is_file()


def test_eval_prints_metrics_on_more_segments(run_dir, capsys):
    assert cli.main(["eval", "--checkpoint", str(run_dir / "checkpoint.pt"), "--segments", "3",
                     "--batches", "1", "--device", "cpu"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["segments"] == 3 and result["trained_segments"] == 2 and result["task"] == "copy"
    assert 0 <= result["eval_accuracy"] <= 1 and 0 <= result["eval_exact_match"] <= 1


def test_eval_in_a_subprocess(run_dir):
    root = Path(__file__).resolve().parents[1]
    env = {**os.environ, "PYTHONPATH": str(root), "OMP_NUM_THREADS": "1"}
    done = subprocess.run([sys.executable, "-m", "minirmt", "eval", "--checkpoint", str(run_dir / "checkpoint.pt"),
                           "--batches", "1", "--device", "cpu"], capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["segments"] == 2


def test_other_models_and_tasks_train(tmp_path):
    assert cli.main(["train", "--task", "assoc", "--model", "xl", "--out", str(tmp_path), *TINY[:2],
                     "--segments", "4", "--pairs", "2", *TINY[4:]]) == 0
    assert json.loads((tmp_path / "config.json").read_text())["task_sizes"]["num_pairs"] == 2


@pytest.mark.parametrize("argv, message", [
    (["train", "--task", "copy"], "--out"),
    (["train", "--task", "copy", "--out", "x", "--model", "lstm"], "invalid choice: 'lstm'"),
    (["train", "--task", "sort", "--out", "x"], "invalid choice: 'sort'"),
    (["train", "--task", "copy", "--out", "x", "--bptt", "0"], "--bptt: must be >= 1"),
    (["train", "--task", "copy", "--out", "x", "--steps", "many"], "invalid positive value"),
    (["train", "--task", "assoc", "--out", "x", "--segments", "1"], "needs at least 2 segments"),
    (["train", "--task", "copy", "--out", "x", "--heads", "3"], "n_heads=3 must divide d_model=64"),
    (["train", "--task", "copy", "--out", "x", "--pairs", "3"], "unknown ['num_pairs']"),
    (["train", "--task", "copy", "--out", "x", "--device", "tpu"], "not a device"),
    (["train", "--task", "assoc", "--out", "x", "--model", "segment", "--memory-hint"], "Transformer carries none"),
    (["train", "--task", "assoc", "--out", "x", "--segment-len", "4"], "needs 2 <= m <= n"),
    (["train", "--task", "copy", "--out", "x", "--curriculum", "pairs"], "copy has no pairs"),
    (["train", "--task", "assoc", "--out", "x", "--stop-at", "1.5"], "must be in (0, 1]"),
    (["eval", "--checkpoint", "no/such/file.pt"], "no checkpoint"),
    (["experiment", "algorithmic", "--out", "x", "--segments", "3"], "must divide"),
    (["fly"], "invalid choice: 'fly'"),
])
def test_bad_input_is_one_line_and_exit_2(argv, message, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as exit_info:
        cli.main(argv)
    assert exit_info.value.code == 2
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and message in lines[0] and "Traceback" not in captured.err, captured.err
    assert not (tmp_path / "x").exists()  # nothing written before the input was checked


def test_demo_writes_figures(tmp_path, capsys):
    assert cli.main(["demo", "--out", str(tmp_path), "--steps", "2", "--quiet"]) == 0
    printed = capsys.readouterr().out
    assert "rmt" in printed and "segment" in printed
    assert (tmp_path / "attention.png").stat().st_size > 0 and (tmp_path / "curves.png").stat().st_size > 0


def test_experiment_writes_table_and_figure(tmp_path, capsys):
    assert cli.main(["experiment", "algorithmic", "--out", str(tmp_path), "--tasks", "copy", "--models", "rmt",
                     "segment", "--segments", "1", "2", "--steps", "2", "--quiet"]) == 0
    rows = json.loads((tmp_path / "results.json").read_text())["rows"]
    assert {(r["model"], r["segments"]) for r in rows} == {(m, g) for m in ("rmt", "segment") for g in (1, 2)}
    table = (tmp_path / "results.md").read_text()
    assert "| rmt |" in table and "g=2 (n=16)" in table
    assert (tmp_path / "accuracy.png").stat().st_size > 0


def test_sweep_plan_covers_every_model_task_and_segment_count():
    plan = experiments.sweep_plan()
    assert len(plan) == 5 * 3 * 4
    assert all(spec["segment_len"] * spec["segments"] == experiments.TOTAL_LEN for spec in plan)


def test_download_offline_is_one_line_naming_the_urls_and_exit_2(tmp_path, capsys, monkeypatch):
    from minirmt import text

    monkeypatch.setattr(text, "URLS", (f"file://{tmp_path}/nowhere/",))
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["download", "wikitext-2", "--dest", str(tmp_path / "data")])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    errors = [line for line in err.splitlines() if "error:" in line]  # progress lines say "downloading ..."
    assert len(errors) == 1 and "wikitext-2-v1.zip" in errors[0] and "MINIRMT_DATA" in errors[0]
    assert "Traceback" not in err


def test_lm_subcommand_reports_a_missing_corpus_in_one_line(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["lm", "--corpus", "wikitext-2", "--data-root", str(tmp_path), "--out", str(tmp_path / "run")])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "wiki.train.tokens" in err[0], err
