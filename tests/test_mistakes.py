"""A catalogue of the mistakes a user makes, one test per kind: each ends in one line naming the problem (exit
status 2 on the command line, a ValueError or TypeError in Python), nothing saved is lost, no number is stale.

    a run folder written over            a resumed run that is not the saved one      a finished run resumed
    a sweep re-run with other settings   a cost that can explode                     a wrong type, shape or file
    a bad or broken download             the README's examples
"""

import dataclasses
import http.server
import json
import re
import shutil
import threading
from pathlib import Path

import pytest
import torch
from conftest import REPO
from test_text import make_archive

import minirmt
from minirmt import build_model, cli, generate, preset
from minirmt.course import pretrained
from minirmt.data import downloads
from minirmt.data.tasks import make_task
from minirmt.model.config import ModelConfig
from minirmt.training import paper_experiment
from minirmt.training.checkpoints import load_checkpoint
from minirmt.training.common import MAX_BATCH_TOKENS
from minirmt.training.lm_loop import LMConfig, train_lm
from minirmt.training.perplexity import evaluate_lm
from minirmt.training.recipes import load_run
from minirmt.training.task_loop import TrainConfig, evaluate, train

pytestmark = pytest.mark.usefixtures("one_thread")  # conftest.py

TINY = ["--segment-len", "4", "--segments", "2", "--steps", "6", "--batch-size", "8", "--d-model", "32",
        "--n-heads", "2", "--num-mem-tokens", "4", "--eval-every", "3", "--device", "cpu", "--quiet"]
OVERWRITE = "choose another --out, or replace it with --overwrite (overwrite=True)"
DIFFER = "continues the saved run, whose settings differ from those given:"
LEAVE = "leave them out, or start a new run with another --out"


@pytest.fixture(scope="module")
def task_run(tmp_path_factory) -> Path:
    """A finished 6-step copy run: its folder (checkpoint.pt, config.json, metrics.json)."""
    out = tmp_path_factory.mktemp("task") / "run"
    assert cli.main(["train", "--task", "copy", "--out", str(out), *TINY]) == 0
    return out


@pytest.fixture(scope="module")
def lm_run(tmp_path_factory) -> Path:
    """A finished 4-step byte-level language model on one file: its folder."""
    folder = tmp_path_factory.mktemp("lm")
    (folder / "book.txt").write_text("the quick brown fox jumps over the lazy dog. " * 400)
    out = folder / "run"
    assert cli.main(["lm", *lm_args(folder), "--out", str(out)]) == 0
    return out


def lm_args(folder: Path) -> list[str]:
    return ["--corpus", str(folder / "book.txt"), "--preset", "tiny", "--steps", "4", "--batch-size", "4",
            "--warmup", "1", "--device", "cpu"]


def copy_of(run: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(run, tmp_path / "copy"))


def snapshot(folder: Path) -> dict:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def error_of(main, argv, capsys) -> str:
    """The one error line of a command that must fail with exit status 2, without its `prog: error: `."""
    capsys.readouterr()
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert exit_info.value.code == 2 and len(lines) == 1 and "Traceback" not in captured.err, captured.err
    return lines[0].split(": error: ", 1)[1]


# ---------------------------------------------------------------- 1. a run folder written over


@pytest.mark.parametrize("command", ["train", "train --resume elsewhere", "lm", "lm --resume elsewhere", "demo",
                                     "pretrained"])
def test_a_run_already_in_the_folder_is_never_written_over(command, task_run, lm_run, tmp_path, capsys):
    task, lm = copy_of(task_run, tmp_path / "t"), copy_of(lm_run, tmp_path / "l")
    train_files, lm_files = "checkpoint.pt, config.json, metrics.json", "checkpoint.pt, metrics.json, curves.png"
    cases = {  # argv, the folder written into, the message
        "train": (["train", "--task", "copy", "--out", str(task), *TINY], task,
                  f"{task} holds another run ({train_files}); {OVERWRITE}, or continue it with --resume "
                  f"{task / 'checkpoint.pt'}"),
        "train --resume elsewhere": (["train", "--resume", str(task_run / "checkpoint.pt"), "--steps", "9", "--out",
                                      str(task)], task, f"{task} holds another run ({train_files}); {OVERWRITE}"),
        "lm": (["lm", *lm_args(lm_run.parent), "--out", str(lm)], lm,
               f"{lm} holds another run ({lm_files}, by_position.png); {OVERWRITE}, or continue it with --resume "
               f"{lm / 'checkpoint.pt'}"),
        "lm --resume elsewhere": (["lm", "--resume", str(lm_run / "checkpoint.pt"), "--steps", "6", "--out", str(lm)],
                                  lm, f"{lm} holds another run ({lm_files}, by_position.png); {OVERWRITE}"),
        "demo": (["demo", "--out", str(lm), "--steps", "2", "--quiet"], lm,
                 f"{lm} holds another run (curves.png, metrics.json); {OVERWRITE}"),
    }
    if command == "pretrained":
        folder = tmp_path / "assets"
        folder.mkdir()
        (folder / "copy-rmt-g3.pt").write_bytes(b"a shipped checkpoint")
        argv, main = ["copy-rmt-g3", "--out", str(folder)], pretrained.main
        message = f"{folder} holds another run (copy-rmt-g3.pt); {OVERWRITE}"
    else:
        (argv, folder, message), main = cases[command], cli.main
    before = snapshot(folder)
    assert error_of(main, argv, capsys) == message
    assert snapshot(folder) == before


@pytest.mark.parametrize("command", ["train", "lm"])
def test_overwrite_replaces_the_run_and_leaves_none_of_its_files(command, task_run, lm_run, tmp_path):
    folder = copy_of(task_run if command == "train" else lm_run, tmp_path)
    if command == "train":
        argv = ["train", "--task", "copy", "--out", str(folder), *TINY, "--steps", "3"]
    else:  # without evaluations: no by_position.png of its own, so the old one must go
        argv = ["lm", *lm_args(lm_run.parent), "--steps", "2", "--valid-split", "none", "--test-split", "none",
                "--out", str(folder)]
    assert cli.main([*argv, "--overwrite"]) == 0
    assert load_checkpoint(folder / "checkpoint.pt")["step"] == (3 if command == "train" else 2)
    metrics = json.loads((folder / "metrics.json").read_text())
    assert metrics.get("steps", metrics.get("step")) == (3 if command == "train" else 2)
    assert command == "train" or not (folder / "by_position.png").exists()


# ---------------------------------------------------------------- 2. a resumed run that is not the saved one


@pytest.mark.parametrize("flags, differ", [
    (["--task", "reverse"], "task='reverse' (saved: 'copy')"),
    (["--model", "segment"], "model='segment' (saved: 'rmt')"),
    (["--layout", "paper"], "layout='paper' (saved: 'minirmt')"),
    (["--d-model", "16", "--num-mem-tokens", "2"], "d_model=16 (saved: 32), num_mem_tokens=2 (saved: 4)"),
    (["--num-pairs", "3"], "num_pairs=3 (not a setting of it)"),
])
def test_train_resume_refuses_settings_other_than_the_saved_ones(flags, differ, task_run, tmp_path, capsys):
    run = copy_of(task_run, tmp_path)
    before = snapshot(run)
    argv = ["train", "--resume", str(run / "checkpoint.pt"), "--steps", "9", *flags]
    assert error_of(cli.main, argv, capsys) == f"--resume {DIFFER} {differ}; {LEAVE}"
    assert snapshot(run) == before


@pytest.mark.parametrize("case", ["other d_model", "other batch", "a task checkpoint", "lm checkpoint to train"])
def test_lm_resume_refuses_another_model_stream_or_kind_of_checkpoint(case, task_run, lm_run, tmp_path, capsys):
    run = copy_of(lm_run, tmp_path)
    ckpt = str(run / "checkpoint.pt")
    argv, message = {
        "other d_model": (["lm", "--resume", ckpt, "--steps", "6", "--d-model", "64"],
                          f"resume {DIFFER} d_model=64 (saved: 32); {LEAVE}"),
        "other batch": (["lm", "--resume", ckpt, "--steps", "6", "--batch-size", "8"],
                        f"resume {DIFFER} batch_size=8 (saved: 4); {LEAVE}"),
        "a task checkpoint": (["lm", "--resume", str(task_run / "checkpoint.pt"), "--steps", "6"],
                              f"{task_run / 'checkpoint.pt'}: not a language-model checkpoint (no LMConfig in it; "
                              f"`eval` and `train --resume` read task checkpoints)"),
        "lm checkpoint to train": (["train", "--resume", ckpt, "--steps", "9"],
                                   f"{ckpt}: not a task checkpoint (no model name or config in it)"),
    }[case]
    before = snapshot(run)
    assert error_of(cli.main, argv, capsys) == message
    assert snapshot(run) == before


def test_resuming_in_python_refuses_another_model_or_kind(task_run, lm_run):
    model, task, state = load_run(task_run / "checkpoint.pt")
    other = build_model("rmt", dataclasses.replace(model.cfg, num_mem_tokens=2))
    config = TrainConfig.from_dict({**state["train_config"], "steps": 9})
    with pytest.raises(ValueError, match=re.escape(f"resume {DIFFER} num_mem_tokens=2 (saved: 4); {LEAVE}")):
        train(other, task, config, resume=state, progress=False)
    saved = LMConfig.from_dict(load_checkpoint(lm_run / "checkpoint.pt")["meta"]["lm_config"])
    wider = LMConfig.from_dict({**saved.to_dict(), "steps": 6, "out": None, "model_args": {"d_model": 64}})
    with pytest.raises(ValueError, match=re.escape(f"resume {DIFFER} d_model=64 (saved: 32); {LEAVE}")):
        train_lm(wider, resume=lm_run / "checkpoint.pt", log=None)
    with pytest.raises(ValueError, match="resume: not a language-model checkpoint"):
        train_lm(LMConfig.from_dict({**saved.to_dict(), "steps": 6, "out": None}), resume=state, log=None)


# ---------------------------------------------------------------- 3. a finished run resumed


@pytest.mark.parametrize("argv, done, steps", [
    (["train", "--resume", "{task}"], 6, 6),
    (["train", "--resume", "{task}", "--steps", "4"], 6, 4),
    (["lm", "--resume", "{lm}"], 4, 4),
])
def test_a_finished_run_is_not_resumed_in_silence(argv, done, steps, task_run, lm_run, tmp_path, capsys):
    task, lm = copy_of(task_run, tmp_path / "t"), copy_of(lm_run, tmp_path / "l")
    argv = [a.format(task=task / "checkpoint.pt", lm=lm / "checkpoint.pt") for a in argv]
    before = snapshot(task) | snapshot(lm)
    assert error_of(cli.main, argv, capsys) == (f"the run has done {done} steps and steps={steps}: nothing to "
                                                f"continue; give more steps (--steps above {done}) to train it further")
    assert snapshot(task) | snapshot(lm) == before


def test_a_finished_run_in_python_stopped_by_its_accuracy_or_its_time(tmp_path, lm_run):
    task = make_task("copy", 4)
    model = build_model("rmt", preset("tiny", vocab_size=task.vocab_size, segment_len=4), seed=0)
    config = TrainConfig(steps=40, batch_size=8, segments=2, eval_every=2, eval_batches=1, device="cpu",
                         stop_accuracy=0.01)
    first = train(model, task, config, checkpoint=tmp_path / "ckpt.pt", progress=False)
    assert first.step < 40  # stopped at its first evaluation
    reached = load_checkpoint(tmp_path / "ckpt.pt")["history"][-1]["eval_accuracy"]
    with pytest.raises(ValueError, match=re.escape(f"the run is finished: its accuracy {reached:.3f} reached "
                                                   f"stop_accuracy=0.01; give a higher --stop-accuracy (or none)")):
        train(model, task, config, resume=tmp_path / "ckpt.pt", progress=False)
    saved = load_checkpoint(lm_run / "checkpoint.pt")
    cfg = LMConfig.from_dict({**saved["meta"]["lm_config"], "steps": None, "time_budget": 1e-9, "out": None})
    with pytest.raises(ValueError, match=r"the run has spent \d+ s, and time_budget=1e-09: nothing to continue"):
        train_lm(cfg, resume=saved, log=None)


def test_a_resumed_language_model_goes_on_in_its_folder_with_its_settings(lm_run, tmp_path, capsys):
    run = copy_of(lm_run, tmp_path)
    assert cli.main(["lm", "--resume", str(run / "checkpoint.pt"), "--steps", "6"]) == 0
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["step"] == 6 and metrics["lm_config"]["corpus"].endswith("book.txt")


# ---------------------------------------------------------------- 4. a sweep re-run with other settings


@pytest.mark.parametrize("setting, first, second, header", [
    ("--steps", "2", "3", "{} steps of 64 sequences per run"),
    ("--batch-size", "4", "8", "2 steps of {} sequences per run"),
])
def test_a_sweep_with_other_settings_runs_again_and_reports_them(setting, first, second, header, tmp_path, capsys):
    base = ["experiment", "paper", "--out", str(tmp_path), "--tasks", "assoc", "--models", "segment",
            "--segments", "1", "--seeds", "0", "--steps", "2"]
    for value, rows in ((first, 1), (second, 2), (first, 2), (second, 2)):  # the second time of each: reused
        assert cli.main([*base, setting, value]) == 0
        assert len(paper_experiment.read_rows(tmp_path)) == rows
        results = json.loads((tmp_path / "results.json").read_text())
        assert len(results["rows"]) == 1 and str(results["rows"][0][setting[2:].replace("-", "_")]) == value
        assert header.format(value) in (tmp_path / "results.md").read_text()


# ---------------------------------------------------------------- 5. a cost that can explode


def bound(b: int, g: int, n: int, owner: str) -> str:
    return (f"{owner}: {b} sequences x {g:,} segments x {n} tokens = {b * g * n:,} tokens in one batch, above the "
            f"bound of {MAX_BATCH_TOKENS:,} (2^20) that one forward pass holds at once (its activations and the "
            f"memory of every segment grow with it); use fewer segments or a smaller batch (one sequence: up to "
            f"{MAX_BATCH_TOKENS // n:,} segments)")


@pytest.mark.parametrize("argv, message", [
    (["eval", "--checkpoint", "{task}", "--segments", "100000"], bound(64, 100_000, 4, "evaluation")),
    (["eval", "--checkpoint", "{task}", "--batch-size", "1000000"], bound(1_000_000, 2, 4, "evaluation")),
    (["train", "--task", "copy", "--out", "{new}", "--segments", "100000"], bound(64, 100_000, 8, "TrainConfig")),
    (["lm", "--resume", "{lm}", "--steps", "6", "--segments", "100000"], bound(4, 100_000, 8, "LMConfig")),
    (["lm-eval", "--checkpoint", "{lm}", "--batch-size", "1000000"], bound(1_000_000, 1, 8, "evaluate_lm")),
])
def test_a_cost_that_can_explode_is_checked_against_a_named_bound(argv, message, task_run, lm_run, tmp_path,
                                                                   capsys):
    lm = copy_of(lm_run, tmp_path)
    argv = [a.format(task=task_run / "checkpoint.pt", lm=lm / "checkpoint.pt", new=tmp_path / "new") for a in argv]
    assert error_of(cli.main, argv, capsys) == message


def test_eval_reads_its_batches_one_at_a_time_with_progress_and_names_the_trained_length(task_run, capsys,
                                                                                         monkeypatch):
    drawn = []
    real = make_task("copy", 4).sample.__func__
    monkeypatch.setattr(type(make_task("copy", 4)), "sample", lambda self, *a: drawn.append(a[:2]) or real(self, *a))
    seen = []
    real_forward = torch.nn.Module.__call__
    monkeypatch.setattr(torch.nn.Module, "__call__", lambda self, *a, **k: seen.append(len(drawn)) or
                        real_forward(self, *a, **k))
    assert cli.main(["eval", "--checkpoint", str(task_run / "checkpoint.pt"), "--segments", "5", "--batches", "3",
                     "--batch-size", "4", "--device", "cpu"]) == 0
    captured = capsys.readouterr()
    assert drawn == [(4, 5)] * 3 and seen[0] == 1  # each batch drawn when it is read
    assert json.loads(captured.out)["segments"] == 5
    err = captured.err.splitlines()
    assert err[0] == ("note: trained on 2 segments, evaluated on 5: at a length it was not trained on, accuracy may "
                      "fall to chance (0.100); notebook 07 is the lesson on length")
    assert any(line.startswith("evaluating") and "3/3" in line for line in err)  # a bar, or lines in a log


# ---------------------------------------------------------------- 6. a wrong type, shape or file


def tiny_model():
    return build_model("rmt", preset("tiny", vocab_size=12), seed=0)


def lm_config(**overrides) -> LMConfig:
    return LMConfig(**{"corpus": None, "vocab_size": 12, "unit": "ppl", "preset": "tiny", "steps": 1,
                       "device": "cpu", "valid_split": None, "test_split": None, **overrides})


@pytest.mark.parametrize("call, error, message", [
    (lambda: generate(tiny_model(), torch.tensor([1, 2, 3]), 4), ValueError,
     "prompt must be a batch of prompts (b, s0), got one of shape (3,): pass prompt[None] for one prompt"),
    (lambda: generate(tiny_model(), [[1, 2]], 4), TypeError,
     "prompt must be a torch.Tensor of token ids (b, s), got list"),
    (lambda: generate(tiny_model(), torch.tensor([[1, 2]]), 4, generator=0), TypeError,
     "generator must be a torch.Generator or None, got int"),
    (lambda: generate(preset("tiny", vocab_size=12), torch.tensor([[1, 2]]), 4), TypeError,
     "model must be a minirmt model (build_model, RecurrentMemoryTransformer, ...), got ModelConfig"),
    (lambda: minirmt.RecurrentMemoryTransformer({"d_model": 64}), TypeError,
     "RecurrentMemoryTransformer takes a ModelConfig, got dict; from a dict d: ModelConfig(**d) or preset(name, **d)"),
    (lambda: build_model("xl", {"d_model": 64}), TypeError,
     "TransformerXL takes a ModelConfig, got dict; from a dict d: ModelConfig(**d) or preset(name, **d)"),
    (lambda: build_model("rmt", preset("tiny", vocab_size=12), seed="0"), TypeError,
     "build_model: seed must be an int or None >= 0, got str '0'"),
    (lambda: preset("tiny", vocab_size=12, dropout="0.1"), TypeError,
     "ModelConfig: dropout must be a number, got str '0.1'"),
    (lambda: TrainConfig(lr="3e-3"), TypeError, "TrainConfig: lr must be a number, got str '3e-3'"),
    (lambda: train(tiny_model(), make_task("copy", 8), {"steps": 1}), TypeError,
     "config must be a TrainConfig, got dict (a dict d: TrainConfig(**d))"),
    (lambda: train(tiny_model(), "copy"), TypeError,
     "task must be a task (e.g. make_task('copy', 8)), got str, which has no sample, min_segments, segment_len"),
    (lambda: train(None, make_task("copy", 8)), TypeError,
     "model must be a torch.nn.Module (e.g. build_model('rmt', cfg)), got NoneType"),
    (lambda: evaluate(tiny_model(), []), ValueError, "batches is empty: nothing to evaluate"),
    (lambda: evaluate(tiny_model(), torch.zeros(2, 8, dtype=torch.long)), TypeError,
     "batches must hold (tokens, targets) pairs, got Tensor at index 0"),
    (lambda: train_lm({"steps": 1}), TypeError, "cfg must be an LMConfig, got dict (a dict d: LMConfig.from_dict(d))"),
    (lambda: train_lm(lm_config(), train_ids=[1, 2, 3], log=None), TypeError,
     "train_ids must be a 1-D integer tensor (N,), got list"),
    (lambda: LMConfig(model_args="d_model=64"), TypeError,
     "LMConfig: model_args must be a dict of ModelConfig fields, got str 'd_model=64'"),
    (lambda: evaluate_lm(tiny_model(), torch.zeros(2, 10, dtype=torch.long)), TypeError,
     "ids must be a 1-D integer tensor (N,), got torch.int64 of shape (2, 10)"),
    (lambda: ModelConfig({"d_model": 64}), TypeError, "ModelConfig: vocab_size must be an int >= 1, got dict"),
])
def test_a_wrong_type_or_shape_in_python_is_one_clear_exception(call, error, message):
    with pytest.raises(error) as info:
        call()
    assert str(info.value).startswith(message) and "\n" not in str(info.value)


@pytest.mark.parametrize("argv, message", [
    (["eval", "--checkpoint", "{assoc}", "--segments", "1", "--device", "cpu"],
     "--segments 1: assoc as trained needs at least 2 segments"),
    (["lm", "--corpus", "{book}", "--preset", "tiny", "--eval-tokens", "1", "--steps", "1", "--batch-size", "2",
      "--device", "cpu", "--out", "{new}"],
     "the valid split: ids has 1 tokens, too few for batch_size * world_size = 2 rows (need at least 3); give more "
     "--eval-tokens or a smaller --eval-batch-size"),
    (["lm-eval", "--checkpoint", "{lm}", "--batch-size", "1000"],
     "ids has 900 tokens, too few for batch_size * world_size = 1000 rows (need at least 1001)"),
    (["sample", "--checkpoint", "{lm}", "--temperature", "0"], "temperature must be a number > 0, got 0.0"),
])
def test_a_wrong_setting_on_the_command_line_is_one_line(argv, message, lm_run, tmp_path, capsys):
    assoc = tmp_path / "assoc"
    if "{assoc}" in argv:
        assert cli.main(["train", "--task", "assoc", "--out", str(assoc), "--steps", "2", "--batch-size", "8",
                         "--eval-every", "2", "--device", "cpu", "--quiet"]) == 0
    argv = [a.format(assoc=assoc / "checkpoint.pt", lm=lm_run / "checkpoint.pt", book=lm_run.parent / "book.txt",
                     new=tmp_path / "new") for a in argv]
    assert error_of(cli.main, argv, capsys) == message
    assert not (tmp_path / "new" / "checkpoint.pt").exists()  # refused before any training


# ---------------------------------------------------------------- 7. a bad or broken download


class Flaky(http.server.BaseHTTPRequestHandler):
    """Serves one file with HTTP Range requests; the first `server.drops` answers break off half way."""

    def do_GET(self):
        body, asked = self.server.body, self.headers.get("Range")
        self.server.ranges.append(asked)
        start = int(asked.split("=")[1].split("-")[0]) if asked else 0
        self.send_response(206 if asked else 200)
        if asked:
            self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
        self.send_header("Content-Length", str(len(body) - start))
        self.end_headers()
        if self.server.drops > 0:
            self.server.drops -= 1
            self.wfile.write(body[start: start + (len(body) - start) // 2])  # then the connection closes
        else:
            self.wfile.write(body[start:])

    def log_message(self, *args):
        pass


@pytest.fixture
def flaky(tmp_path, monkeypatch):
    """A loopback server of a stand-in wikitext-2-v1.zip whose registry checksum is the stand-in's."""
    served, sha256 = make_archive(tmp_path)
    monkeypatch.setitem(downloads.WIKITEXT, "wikitext-2", dataclasses.replace(downloads.WIKITEXT["wikitext-2"],
                                                                              sha256=sha256))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Flaky)
    httpd.body, httpd.ranges, httpd.drops = (served / "wikitext-2-v1.zip").read_bytes(), [], 0
    threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True).start()
    yield httpd, f"http://127.0.0.1:{httpd.server_address[1]}/"
    httpd.shutdown()
    httpd.server_close()


@pytest.mark.parametrize("case", ["one break", "every answer breaks, then a later call"])
def test_a_broken_download_goes_on_where_it_stopped(case, flaky, tmp_path):
    httpd, url = flaky
    size, dest = len(httpd.body), tmp_path / "data"
    if case == "one break":
        httpd.drops = 1
        assert downloads.download("wikitext-2", dest, urls=[url], progress=False) == dest / "wikitext-2"
        assert httpd.ranges == [None, f"bytes={size // 2}-"]
        return
    httpd.drops = 3
    with pytest.raises(downloads.DownloadError) as info:
        downloads.download("wikitext-2", dest, urls=[url], progress=False)
    part = dest / "wikitext-2-v1.zip.part"
    kept = part.stat().st_size
    assert f"{url}wikitext-2-v1.zip: the connection closed after {kept:,} of {size:,} bytes." in str(info.value)
    assert f"The {kept:,} bytes received are kept in {part}: run again to resume." in str(info.value)
    assert (dest / "wikitext-2" / "wiki.valid.tokens").exists() is False and 0 < kept < size
    assert downloads.download("wikitext-2", dest, urls=[url], progress=False) == dest / "wikitext-2"
    assert httpd.ranges[-1] == f"bytes={kept}-" and not part.exists()


def test_a_bad_archive_placed_by_hand_is_named_with_both_checksums(tmp_path):
    (tmp_path / "wikitext-2-v1.zip").write_bytes(b"a page that said 'download'")
    found = downloads.sha256sum(tmp_path / "wikitext-2-v1.zip")
    expected = downloads.WIKITEXT["wikitext-2"].sha256
    with pytest.raises(downloads.DownloadError) as info:
        downloads.download("wikitext-2", tmp_path, urls=["http://127.0.0.1:9/"])  # never asked
    assert str(info.value) == (f"{tmp_path / 'wikitext-2-v1.zip'} is not the official wikitext-2-v1.zip: its "
                               f"sha256 is {found}, expected {expected}; delete it (or put the right file there) and "
                               f"run again")
    assert (tmp_path / "wikitext-2-v1.zip").read_bytes() == b"a page that said 'download'"  # the user's file is kept


# ---------------------------------------------------------------- 8. the README's examples


def readme_example() -> str:
    text = (REPO / "README.md").read_text()
    return text.split("## Use it", 1)[1].split("```python", 1)[1].split("```", 1)[0]


def test_the_readme_example_trains_next_token_prediction(monkeypatch):
    calls = []

    class Recorded(minirmt.RecurrentMemoryTransformer):
        def forward(self, tokens, **kwargs):
            calls.append((tokens, kwargs.get("targets")))
            return super().forward(tokens, **kwargs)

    monkeypatch.setattr(minirmt, "RecurrentMemoryTransformer", Recorded)
    exec(readme_example(), {})
    supervised = [(x, y) for x, y in calls if y is not None]
    assert supervised and all(torch.equal(x[:, 1:], y[:, :-1]) and not torch.equal(x, y) for x, y in supervised)
