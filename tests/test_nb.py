"""minirmt.course.nb: the run mode comes from MINIRMT_MODE, sizes are picked per mode, setup says what it did."""

import matplotlib
import pytest
import torch

from minirmt.course import nb


@pytest.fixture
def restore_torch():
    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)
    torch.set_printoptions(profile="default")


def test_mode_defaults_to_lab_and_rejects_unknown_modes(monkeypatch):
    monkeypatch.delenv("MINIRMT_MODE", raising=False)
    assert nb.mode() == "lab"
    monkeypatch.setenv("MINIRMT_MODE", " CI ")
    assert nb.mode() == "ci"
    monkeypatch.setenv("MINIRMT_MODE", "fast")
    with pytest.raises(ValueError, match=r"MINIRMT_MODE='fast' is not a mode; expected one of \('ci', 'lab', 'full'\)"):
        nb.mode()


@pytest.mark.parametrize("mode, expected", [("ci", 1), ("lab", 2), ("full", 3)])
def test_pick(monkeypatch, mode, expected):
    monkeypatch.setenv("MINIRMT_MODE", mode)
    assert nb.pick(ci=1, lab=2, full=3) == expected
    assert nb.pick(ci=1, lab=2) == (1 if mode == "ci" else 2)  # full falls back to lab


def test_device_is_cpu_outside_full_mode(monkeypatch):
    for mode in ("ci", "lab"):
        monkeypatch.setenv("MINIRMT_MODE", mode)
        assert nb.device() == "cpu"
    monkeypatch.setenv("MINIRMT_MODE", "full")
    assert nb.device() == ("cuda" if torch.cuda.is_available() else "cpu")


def test_setup_in_ci_mode(monkeypatch, capsys, restore_torch):
    monkeypatch.setenv("MINIRMT_MODE", "ci")
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    assert nb.setup(seed=3) is None
    line = capsys.readouterr().out.strip()
    assert line.startswith(nb.summary(seed=3)) and line.startswith("minirmt | mode ci | device cpu")
    assert "threads 1 | seed 3 (1 thread: one thread stays fast when other kernels share" in line
    assert torch.get_num_threads() == 1  # one thread in ci and lab: a shared machine cannot slow it down much
    nb.setup(seed=3, threads=2)
    assert torch.get_num_threads() == 2 and "(2 threads: asked for;" in capsys.readouterr().out
    assert matplotlib.rcParams["figure.dpi"] == 80
    a = torch.rand(3)
    nb.setup(seed=3)
    assert torch.equal(a, torch.rand(3))  # the global generator is seeded too (a safety net)


def test_setup_rejects_an_unknown_mode(monkeypatch):
    monkeypatch.setenv("MINIRMT_MODE", "gpu")
    with pytest.raises(ValueError, match="MINIRMT_MODE='gpu'"):
        nb.setup()


def test_library_sha256_follows_the_recipe(tmp_path, monkeypatch):
    import hashlib

    from minirmt.course import nb as notebook_setup

    package = tmp_path / "minirmt"
    (package / "sub").mkdir(parents=True)
    (package / "__init__.py").write_bytes(b"x = 1\n")
    (package / "sub" / "a.py").write_bytes(b"y = 2\n")
    (package / "data.json").write_bytes(b"{}")  # not a .py file: not part of the fingerprint
    monkeypatch.setattr(notebook_setup.resources, "files", lambda name: package)
    expected = hashlib.sha256(b"minirmt/__init__.py\0x = 1\n\0minirmt/sub/a.py\0y = 2\n\0").hexdigest()
    assert notebook_setup.library_sha256() == expected
    (package / "sub" / "a.py").write_bytes(b"y = 3\n")
    assert notebook_setup.library_sha256() != expected


def test_notebooks_current_lists_stale_notebooks(tmp_path, monkeypatch, capsys):
    import json
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "notebooks" / "tools"))
    import current

    book = tmp_path / "01_x.ipynb"
    book.write_text(json.dumps({"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}))
    monkeypatch.setattr(current, "NOTEBOOKS", tmp_path)
    monkeypatch.setattr(current, "library_sha256", lambda: "abc")
    assert current.main([]) == 1 and "01_x.ipynb" in capsys.readouterr().out
    assert current.main(["--stamp", str(book)]) == 0
    assert current.recorded(book) == "abc" and current.main([]) == 0
