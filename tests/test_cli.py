"""`python -m minirmt`: train -> eval round trip, the demo and the experiment on tiny settings, bad input."""

import json
import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

from minirmt import cli
from minirmt.data import downloads
from minirmt.training import paper_experiment, run_folder, task_loop
from minirmt.training import recipes as training_recipes

TINY = ["--segment-len", "4", "--segments", "2", "--steps", "6", "--batch-size", "8", "--d-model", "32",
        "--n-heads", "2", "--num-mem-tokens", "4", "--eval-every", "3", "--device", "cpu", "--quiet"]


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
                     "--segments", "4", "--num-pairs", "2", *TINY[4:]]) == 0
    assert json.loads((tmp_path / "config.json").read_text())["task_sizes"]["num_pairs"] == 2


@pytest.mark.parametrize("argv, message", [
    (["train", "--task", "copy"], "--out is required"),
    (["train", "--out", "x"], "--task is required"),
    (["train", "--task", "copy", "--out", "x", "--model", "lstm"], "invalid choice: 'lstm'"),
    (["train", "--task", "sort", "--out", "x"], "invalid choice: 'sort'"),
    (["train", "--task", "copy", "--out", "x", "--bptt-depth", "-1"], "bptt_depth=-1 must be >= 0"),
    (["train", "--task", "copy", "--out", "x", "--steps", "many"], "invalid int value: 'many'"),
    (["train", "--task", "copy", "--out", "x", "--steps", "0"], "steps=0 must be >= 1"),
    (["train", "--task", "copy", "--out", "x", "--lr", "-1"], "lr=-1.0, expected > 0"),
    (["train", "--task", "assoc", "--out", "x", "--segments", "1"], "needs at least 2 segments"),
    (["train", "--task", "copy", "--out", "x", "--n-heads", "3"], "n_heads=3 must divide d_model=64"),
    (["train", "--task", "copy", "--out", "x", "--num-pairs", "3"], "unknown settings ['num_pairs']"),
    (["train", "--task", "copy", "--out", "x", "--device", "tpu"], "not a device"),
    (["train", "--task", "assoc", "--out", "x", "--model", "segment", "--memory-hint"], "Transformer carries none"),
    (["train", "--task", "assoc", "--out", "x", "--segment-len", "4", "--memory-hint"], "needs 2 <= m <= n"),
    (["train", "--task", "copy", "--out", "x", "--curriculum", "pairs"], "copy has no pairs"),
    (["train", "--task", "assoc", "--out", "x", "--stop-accuracy", "1.5"], "stop_accuracy=1.5"),
    (["train", "--task", "copy", "--out", "x", "--dtype", "float16"], "invalid choice: 'float16'"),
    (["train", "--resume", "no/such/file.pt"], "no checkpoint"),
    (["eval", "--checkpoint", "no/such/file.pt"], "no checkpoint"),
    (["experiment", "paper", "--out", "x", "--device", "tpu"], "not a device"),
    (["experiment", "paper", "--out", "x", "--device", "tpu", "--compile"], "not a device"),
    (["train", "--task", "mqar", "--layout", "paper", "--out", "x", "--segments", "2"], "not 'mqar'"),
    (["train", "--task", "copy", "--layout", "paper", "--out", "x"], "needs segments=g"),
    (["lm", "--corpus", "no/such/corpus", "--out", "x"], "corpus must be one of"),
    (["lm", "--model-args", "{}"], "unrecognized arguments"),
    (["lm", "--accumulation", "3", "--out", "x"], "accumulation=3 must divide batch_size=64"),
    (["download"], "name the archive"),
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


def _error(argv, capsys) -> str:
    """The one error line of a command that must fail with exit status 2."""
    with pytest.raises(SystemExit) as exit_info:
        cli.main(argv)
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert exit_info.value.code == 2 and len(lines) == 1 and "Traceback" not in captured.err, captured.err
    return lines[0]


def test_an_output_folder_that_holds_a_run_is_left_alone(run_dir, capsys):
    before = {p.name: p.read_bytes() for p in run_dir.iterdir()}
    message = _error(["train", "--task", "copy", "--out", str(run_dir), *TINY], capsys)
    assert "holds another run" in message and "--resume" in message
    assert {p.name: p.read_bytes() for p in run_dir.iterdir()} == before


@pytest.mark.parametrize("damage, message", [
    (lambda p: p.write_bytes(p.read_bytes()[:100]), "is not a readable minirmt checkpoint"),  # truncated
    (lambda p: p.write_text("not a checkpoint"), "is not a readable minirmt checkpoint"),  # corrupt
    (lambda p: p.write_bytes(b""), "is not a readable minirmt checkpoint"),  # empty
])
@pytest.mark.parametrize("command", ["eval", "resume"])
def test_a_damaged_checkpoint_is_one_line(run_dir, tmp_path, capsys, damage, message, command):
    path = tmp_path / "checkpoint.pt"
    path.write_bytes((run_dir / "checkpoint.pt").read_bytes())
    damage(path)
    argv = ["eval", "--checkpoint", str(path)] if command == "eval" else ["train", "--resume", str(path)]
    assert message in _error(argv, capsys)


def test_a_read_only_output_folder_is_one_line(tmp_path, capsys, monkeypatch):
    folder = tmp_path / "locked"
    folder.mkdir()
    folder.chmod(0o500)
    if os.access(folder, os.W_OK):  # root writes anywhere: let the folder say it is read-only
        monkeypatch.setattr(run_folder.os, "access", lambda path, mode: Path(path) != folder)
    assert "read-only" in _error(["train", "--task", "copy", "--out", str(folder), *TINY], capsys)


def test_an_output_folder_under_a_file_is_one_line(tmp_path, capsys):
    (tmp_path / "file").write_text("")
    assert "cannot create the output folder" in _error(["train", "--task", "copy", "--out",
                                                        str(tmp_path / "file" / "run"), *TINY], capsys)


@pytest.mark.parametrize("content, message", [
    (None, "neither a file nor a folder"),  # missing
    (b"", "no text"),  # empty
    (b"\x1f\x8b\x08\x00broken", "not a readable gzip file"),  # corrupt
])
def test_a_bad_corpus_is_one_line(tmp_path, capsys, content, message):
    path = tmp_path / ("corpus.txt.gz" if content and content.startswith(b"\x1f") else "corpus.txt")
    if content is not None:
        path.write_bytes(content)
    argv = ["lm", "--corpus", str(path), "--preset", "tiny", "--steps", "1", "--device", "cpu"]
    got = _error(argv, capsys)
    assert message in got or (content is None and "corpus must be one of" in got), got


def test_resume_goes_on_for_more_steps(run_dir, tmp_path, capsys):
    copy = tmp_path / "run"
    copy.mkdir()
    for name in ("checkpoint.pt", "config.json"):
        (copy / name).write_bytes((run_dir / name).read_bytes())
    assert cli.main(["train", "--resume", str(copy / "checkpoint.pt"), "--steps", "9", "--quiet"]) == 0
    metrics = json.loads((copy / "metrics.json").read_text())
    assert metrics["steps"] == 9 and [r["step"] for r in metrics["history"] if "loss" in r] == [6, 9]
    assert "d_model=16 (saved: 32)" in _error(["train", "--resume", str(copy / "checkpoint.pt"), "--d-model",
                                               "16"], capsys)


def test_train_help_shows_every_default_and_what_each_model_is(capsys):
    with pytest.raises(SystemExit):
        cli.main(["train", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "(default: copy 1000, reverse 1000, assoc 2000, mqar 1500, classify 1000, needle 4000)" in text  # recipes
    assert "--num-mem-tokens INT m, memory tokens" in text and "(default: 8)" in text
    assert "xl: Transformer-XL" in text and "memtok: Memory tokens that are not carried" in text
    assert text.count("(default:") >= text.count("  --") - 2  # every option but --help and --quiet


def test_a_short_run_keeps_a_short_warm_up():
    args = cli.make_parser().parse_args(["train", "--task", "copy", "--out", "x", "--steps", "20"])
    assert cli.train_setup(args).train_config.warmup == 2


def test_demo_writes_figures(tmp_path, capsys):
    assert cli.main(["demo", "--out", str(tmp_path), "--steps", "2", "--quiet"]) == 0
    printed = capsys.readouterr().out
    assert "rmt" in printed and "segment" in printed
    assert (tmp_path / "attention.png").stat().st_size > 0 and (tmp_path / "curves.png").stat().st_size > 0


def test_the_paper_experiment_writes_its_table_and_figure_and_resumes(tmp_path, capsys):
    argv = ["experiment", "paper", "--out", str(tmp_path), "--tasks", "assoc", "--models", "rmt", "segment",
            "--segments", "1", "2", "--steps", "2", "--seeds", "0", "1", "--size", "lab"]
    assert cli.main(argv) == 0
    rows = paper_experiment.read_rows(tmp_path)
    assert {(r["model"], r["g"], r["seed"]) for r in rows} == {("rmt", 2, s) for s in (0, 1)} | {
        ("segment", g, s) for g in (1, 2) for s in (0, 1)}  # at g = 1 there is nothing to carry: no RMT
    assert all(0 <= r["free_accuracy"] <= r["authors_accuracy"] + 1e-9 <= 1 + 1e-9 for r in rows)
    assert all(r["memory"] == r["segment_len"] and r["sequences"] == 2 * r["batch_size"] for r in rows)
    table = (tmp_path / "results.md").read_text()
    assert "| RMT |" in table and "authors 0.96-1.00, 32.0M seq." in table  # the authors' runs beside ours
    assert (tmp_path / "accuracy.png").stat().st_size > 0
    assert cli.main(argv) == 0 and len(paper_experiment.read_rows(tmp_path)) == len(rows)  # nothing run twice
    assert cli.main([*argv[:-2], "--size", "paper", "--segments", "2", "--models", "segment"]) == 0
    assert len(paper_experiment.read_rows(tmp_path)) == len(rows) + 2  # other settings: run anew


def test_the_paper_plan_covers_the_papers_segment_counts():
    plan = paper_experiment.paper_plan()
    assert len(plan) == (3 * 3 + 3 * 3 + 4 * 3 + 3) * 3  # 3 models at every g > 1, no memory alone at g = 1; 3 seeds
    assert {(p["task"], p["g"]) for p in plan if p["task"] == "copy"} == {("copy", g) for g in (1, 3, 6, 9)}


def test_download_offline_is_one_line_naming_the_urls_and_exit_2(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(downloads, "URLS", (f"file://{tmp_path}/nowhere/",))
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


@pytest.fixture(scope="module")
def lm_run(tmp_path_factory):
    """A tiny byte-level language model trained on one file, its checkpoint and the file."""
    folder = tmp_path_factory.mktemp("lm")
    corpus = folder / "book.txt"
    corpus.write_text("the quick brown fox jumps over the lazy dog. " * 400)
    out = folder / "run"
    assert cli.main(["lm", "--corpus", str(corpus), "--preset", "tiny", "--steps", "6", "--batch-size", "4",
                     "--warmup", "1", "--device", "cpu", "--out", str(out)]) == 0
    return out, corpus


def test_one_file_is_cut_into_train_valid_and_test(lm_run, capsys):
    from minirmt.data import corpora

    _, corpus = lm_run
    info = corpora.corpus_info(corpus)
    parts = {split: info.load(split) for split in ("train", "valid", "test")}
    assert sum(p.numel() for p in parts.values()) == corpus.stat().st_size
    assert parts["train"].numel() == round(0.9 * corpus.stat().st_size)
    with pytest.raises(ValueError, match="one file: its splits are"):
        info.load("dev")


def test_a_language_model_checkpoint_is_scored_and_sampled(lm_run, capsys):
    out, _ = lm_run
    capsys.readouterr()
    assert cli.main(["lm-eval", "--checkpoint", str(out / "checkpoint.pt"), "--device", "cpu"]) == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert result["split"] == "test" and result["unit"] == "bpb" and 0 < result["bpb"] < 9
    assert cli.main(["sample", "--checkpoint", str(out / "checkpoint.pt"), "--prompt", "the ", "--tokens", "12",
                     "--device", "cpu"]) == 0
    written = capsys.readouterr().out
    assert written.startswith("the ") and len(written.encode()) >= 12


def test_a_task_checkpoint_is_not_a_language_model(run_dir, capsys):
    assert "not a language-model checkpoint" in _error(["sample", "--checkpoint", str(run_dir / "checkpoint.pt")],
                                                        capsys)


def test_a_word_model_checkpoint_holds_its_vocabulary_and_samples_words(tmp_path, monkeypatch, capsys):
    from minirmt.data import corpora
    from minirmt.training import lm_loop

    lines = ["the cat sat on the mat", "a dog ate the cat food"] * 200
    vocab = corpora.Vocab.build(lines)
    words = corpora.Corpus("tiny-words", len(vocab), "ppl", lambda split, root, limit: vocab.encode(lines)[:limit],
                        lambda root: vocab)
    monkeypatch.setattr(lm_loop, "corpus_info", lambda name: words)
    monkeypatch.setattr(cli, "corpus_info", lambda name: words)
    out = tmp_path / "run"
    assert cli.main(["lm", "--corpus", "tiny-words", "--preset", "tiny", "--steps", "4", "--batch-size", "4",
                     "--warmup", "1", "--device", "cpu", "--out", str(out), "--threads", "1"]) == 0
    assert ", 1 CPU threads" in capsys.readouterr().out  # the run's first log line says what it runs on
    from minirmt.training.checkpoints import load_checkpoint

    assert load_checkpoint(out / "checkpoint.pt")["vocab"] == vocab.itos
    capsys.readouterr()
    assert cli.main(["sample", "--checkpoint", str(out / "checkpoint.pt"), "--prompt", "the cat", "--tokens", "5",
                     "--device", "cpu"]) == 0
    written = capsys.readouterr().out.split()
    assert written[:2] == ["the", "cat"] and set(written) <= set(vocab.itos) | {"<eos>"}


def test_train_uses_the_threads_asked_for_and_says_so(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "2")
    assert cli.main(["train", "--task", "copy", "--out", str(tmp_path), *TINY, "--threads", "1"]) == 0
    assert json.loads(capsys.readouterr().out.splitlines()[-1])["cpu_threads"] == "1 thread: asked for"
    assert torch.get_num_threads() == 1


def test_without_threads_the_command_line_honours_omp_num_threads(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "2")
    assert cli.main(["demo", "--out", str(tmp_path), "--steps", "2", "--quiet"]) == 0
    assert "CPU threads: 2 threads: OMP_NUM_THREADS" in capsys.readouterr().out
    assert torch.get_num_threads() == 2


@pytest.mark.parametrize("command", ["train", "demo", "lm"])
def test_zero_threads_is_refused_in_one_line(command, tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_:
        cli.main([command, "--out", str(tmp_path / "run"), "--threads", "0"])
    assert exit_.value.code == 2
    assert "--threads" in capsys.readouterr().err.splitlines()[-1]


def test_a_paper_run_stopped_at_the_time_limit_goes_on_to_the_same_result(tmp_path, monkeypatch):
    spec = {"task": "assoc", "g": 2, "model": "rmt", "seed": 0, "settings": {"size": "lab", "steps": 6}}
    late = paper_experiment.run_one(spec, out=tmp_path, deadline=0.0)
    assert late["paused"] and late["step"] is None  # past its time before it began: nothing trained
    assert not (tmp_path / paper_experiment.UNFINISHED).exists()
    whole = paper_experiment.run_one(spec)
    clock = iter([0.0, 0.0, 0.0])  # the start and two steps in time, then the deadline has passed
    monkeypatch.setattr(paper_experiment, "time", SimpleNamespace(time=lambda: next(clock, 2.0)))
    paused = paper_experiment.run_one(spec, out=tmp_path, deadline=1.0)
    monkeypatch.undo()
    saved = tmp_path / paper_experiment.UNFINISHED / f"{paused['key']}.pt"
    assert paused["paused"] and paused["step"] == 3 and saved.exists()
    resumed = paper_experiment.run_one(spec, out=tmp_path)
    assert not saved.exists()  # finished: its state is not kept
    assert resumed["steps"] == whole["steps"] == 6
    for score in ("accuracy", "free_accuracy", "authors_accuracy", "exact_match"):
        assert resumed[score] == whole[score]  # as if it had not stopped


def test_a_paper_run_keeps_its_key_on_another_device_or_compiled(tmp_path, monkeypatch):
    """The device and compiling are how a run executes, not what it trains: same key; an eager state goes on compiled
    (here through dynamo and autograd with the "aot_eager" backend: the graph capture of a GPU, no kernels)."""
    spec = {"task": "assoc", "g": 2, "model": "rmt", "seed": 0, "settings": {"size": "lab", "steps": 6}}
    fast = {**spec, "settings": {**spec["settings"], "compile": True}}
    elsewhere = {**spec, "settings": {**spec["settings"], "device": "cuda"}}
    assert paper_experiment.run_key(fast) == paper_experiment.run_key(spec) == paper_experiment.run_key(elsewhere)
    other = {**spec, "settings": {**spec["settings"], "lr": 2e-3}}
    assert paper_experiment.run_key(other) != paper_experiment.run_key(spec)  # what it trains is the key
    clock = iter([0.0, 0.0, 0.0])
    monkeypatch.setattr(paper_experiment, "time", SimpleNamespace(time=lambda: next(clock, 2.0)))
    paused = paper_experiment.run_one(spec, out=tmp_path, deadline=1.0)
    monkeypatch.undo()
    compiled = []

    def compile_model(model, cuda_graphs):
        compiled.append(cuda_graphs)
        model.compile(backend="aot_eager")

    monkeypatch.setattr(task_loop, "compile_model", compile_model)
    resumed = paper_experiment.run_one(fast, out=tmp_path)
    assert paused["step"] == 3 and resumed["steps"] == 6 and compiled == [False]
    assert resumed["key"] == paused["key"] and resumed["settings"]["compile"]  # the row says how it ran
    assert 0 <= resumed["authors_accuracy"] <= 1  # scored eagerly (accel.eager), the compiled model's weights


def test_a_sweep_on_a_cpu_reports_the_rows_a_gpu_trained_for_it(tmp_path):
    spec = {"task": "assoc", "g": 2, "model": "segment", "seed": 0, "settings": {"size": "lab", "steps": 2}}
    row = {**paper_experiment.run_one(spec), "device": "cuda", "device_name": "NVIDIA H200"}
    (tmp_path / "rows.jsonl").write_text(json.dumps(row) + "\n")
    rows = paper_experiment.run_paper(tmp_path, tasks=("assoc",), models=("segment",), segments=(2,), seeds=(0,),
                                      size="lab", steps=2, device="cpu")
    assert rows == [row]  # nothing run again on this machine
    assert json.loads((tmp_path / "results.json").read_text())["info"]["gpu"] == "NVIDIA H200"


def test_the_report_names_the_machines_that_trained_its_rows(tmp_path):
    spec = {"task": "assoc", "g": 2, "model": "segment", "seed": 0, "settings": {"size": "lab", "steps": 2}}
    cpu_row = paper_experiment.run_one(spec)
    gpu_row = {**paper_experiment.run_one({**spec, "seed": 1}), "device": "cuda", "device_name": "NVIDIA H200"}
    (tmp_path / "rows.jsonl").write_text(json.dumps(cpu_row) + "\n" + json.dumps(gpu_row) + "\n")
    paper_experiment.report(tmp_path)
    info = json.loads((tmp_path / "results.json").read_text())["info"]
    machines = " and ".join(sorted([cpu_row["device_name"], "NVIDIA H200"]))
    assert info["gpu"] == "NVIDIA H200" and info["trained_on"] == machines
    assert f"Measured on {info['trained_on']} (" in (tmp_path / "results.md").read_text()


def test_the_report_leaves_out_rows_whose_recipe_has_changed_since(tmp_path, monkeypatch):
    spec = {"task": "assoc", "g": 2, "model": "segment", "seed": 0, "settings": {"size": "lab", "steps": 2}}
    row = paper_experiment.run_one(spec)
    (tmp_path / "rows.jsonl").write_text(json.dumps(row) + "\n")
    assert paper_experiment.report(tmp_path) == [row]
    recipes = {**training_recipes.PAPER_RECIPES}
    monkeypatch.setitem(recipes, "ours", {**recipes["ours"], "lr": 2e-3})  # the recipe changes after the run
    monkeypatch.setattr(training_recipes, "PAPER_RECIPES", recipes)
    assert not paper_experiment.is_current(row) and paper_experiment.report(tmp_path) == []


def test_cuda_graphs_without_compile_is_refused_in_one_line():
    with pytest.raises(ValueError, match="TrainConfig: cuda_graphs=True needs compile=True"):
        task_loop.TrainConfig(cuda_graphs=True)


def test_a_paper_sweep_stopped_before_any_run_finished_says_so_and_writes_no_table(tmp_path, capsys):
    args = ["experiment", "paper", "--out", str(tmp_path), "--tasks", "assoc", "--models", "rmt", "--segments", "2",
            "--seeds", "0", "--size", "lab", "--steps", "100000", "--time-limit", "1"]
    assert cli.main(args) == 0
    assert "no run of this sweep has finished yet" in capsys.readouterr().out
    assert not (tmp_path / "results.md").exists()
    with pytest.raises(SystemExit) as exit_:  # the sweep left an empty rows.jsonl: nothing to report either
        cli.main(["experiment", "paper", "--out", str(tmp_path), "--report"])
    assert exit_.value.code == 2
    assert "no finished run" in capsys.readouterr().err.splitlines()[-1]
