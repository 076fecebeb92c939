"""Where data lives (downloads.py): the environment variable, the checkout's data/, a per-user cache; clear errors."""

import os
from pathlib import Path

import pytest

from minirmt import cli
from minirmt.data import downloads


@pytest.fixture
def installed(tmp_path, monkeypatch):
    """minirmt as a plain `pip install` sees it: its parent folder is site-packages, not a checkout."""
    site = tmp_path / "site-packages"
    site.mkdir()
    monkeypatch.setattr(downloads, "CHECKOUT", site)
    monkeypatch.delenv(downloads.ENV_VAR, raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    return tmp_path


def test_the_environment_variable_wins(tmp_path, monkeypatch):
    monkeypatch.setenv(downloads.ENV_VAR, str(tmp_path / "mine"))
    assert downloads.data_folder() == tmp_path / "mine"


def test_a_checkout_uses_its_own_data_folder(monkeypatch):
    monkeypatch.delenv(downloads.ENV_VAR, raising=False)
    assert downloads.data_folder() == Path(__file__).resolve().parents[1] / "data"


def test_an_installed_package_uses_the_user_cache_never_its_own_folder(installed):
    folder = downloads.data_folder()
    assert folder == installed / "cache" / "minirmt"
    assert downloads.CHECKOUT not in folder.parents


def test_the_cache_defaults_to_dot_cache_in_home(installed, monkeypatch):
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(installed / "home"))
    assert downloads.data_folder() == installed / "home" / ".cache" / "minirmt"


def test_a_read_only_data_folder_is_named(installed, monkeypatch, capsys):
    locked = installed / "locked"
    locked.mkdir()
    monkeypatch.setenv(downloads.ENV_VAR, str(locked))
    monkeypatch.setattr(downloads.os, "access", lambda path, mode: Path(path) != locked)  # root writes anywhere
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["download", "wikitext-2"])
    err = capsys.readouterr().err.strip().splitlines()
    assert exit_info.value.code == 2 and len(err) == 1
    assert f"the data folder {locked} is read-only; set MINIRMT_DATA" in err[0]


def test_the_first_url_is_the_mirror_that_answers():
    assert downloads.URLS[0] == "https://wikitext.smerity.com/"


def test_download_list_names_every_archive_and_the_folder(installed, capsys):
    assert cli.main(["download", "--list"]) == 0
    out = capsys.readouterr().out
    assert str(installed / "cache" / "minirmt") in out
    for name, spec in downloads.WIKITEXT.items():
        assert name in out and f"{spec.megabytes:.1f} MB" in out


def test_the_data_folder_is_created_on_the_first_download(installed):
    target = downloads.writable_folder(downloads.data_folder())
    assert target.is_dir() and os.access(target, os.W_OK)
