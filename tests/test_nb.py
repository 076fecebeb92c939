"""minirmt.nb: the run mode comes from MINIRMT_MODE, sizes are picked per mode, setup says what it did."""

import matplotlib
import pytest
import torch

from minirmt import nb


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
    assert nb.setup(seed=3) is None
    line = capsys.readouterr().out.strip()
    assert line == nb.summary(seed=3)
    assert line.startswith("minirmt | mode ci | device cpu") and line.endswith("seed 3")
    assert torch.get_num_threads() == nb.CI_THREADS
    assert matplotlib.rcParams["figure.dpi"] == 80
    a = torch.rand(3)
    nb.setup(seed=3)
    assert torch.equal(a, torch.rand(3))  # the global generator is seeded too (a safety net)


def test_setup_rejects_an_unknown_mode(monkeypatch):
    monkeypatch.setenv("MINIRMT_MODE", "gpu")
    with pytest.raises(ValueError, match="MINIRMT_MODE='gpu'"):
        nb.setup()
