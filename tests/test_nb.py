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


def test_notebook_times_budgets_and_the_readme_table(tmp_path, monkeypatch):
    """The crowded-lab benchmark's budgets (each <= 2 min quiet, <= 3 min crowded and <= 10 min all ten) and the
    README table it writes from the two records."""
    import json
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "notebooks" / "tools"))
    import notebook_times as nt

    rows = [{"notebook": f"0{i}_x.ipynb", "seconds": 50.0} for i in range(10)]
    assert nt.budget_met(rows, "lab") and nt.budget_met(rows, "lab-crowded")  # 500 s crowded in all
    assert not nt.budget_met([*rows[:9], {"notebook": "09_x.ipynb", "seconds": 121.0}], "lab")
    assert not nt.budget_met([{**r, "seconds": 61.0} for r in rows], "lab-crowded")  # 610 s > 10 minutes
    environment = {"time": "2026-12-05T12:00:00", "device": "a CPU", "torch": "2.13.0+cpu"}
    for kind, seconds in (("lab", 20.0), ("lab-crowded", 70.0)):
        record = {"environment": environment, "notebooks": [{**r, "seconds": seconds} for r in rows]}
        (tmp_path / f"{kind}.json").write_text(json.dumps(record))
    readme = tmp_path / "README.md"
    readme.write_text(f"before\n{nt.TABLE_START}\nold\n{nt.TABLE_END}\nafter\n")
    monkeypatch.setattr(nt, "TIMES", tmp_path)
    monkeypatch.setattr(nt, "README", readme)
    nt.write_readme_table()
    text = readme.read_text()
    assert text.startswith("before\n") and text.endswith("after\n") and "old" not in text
    assert "| 05_inside_the_memory | 20.0 s | 70.0 s | about 40 min |" in text
    assert "**200 s** | **700 s**" in text and "(met)" in text and "(missed)." in text  # 700 s > 10 min crowded
