"""Where data lives (downloads.py): the environment variable, the checkout's data/, a per-user cache; clear errors."""

import importlib
import os
import re
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


# ---------------------------------------------------------------- what the READMEs name exists

REPO = Path(__file__).resolve().parents[1]


def named_in(readme: Path) -> tuple[set[str], set[str], set[str]]:
    """The `minirmt.x.y` names, `python -m minirmt ...` commands and `minirmt/...` paths a README names."""
    text = readme.read_text()
    names = set(re.findall(r"(?<![/\w.])(minirmt(?:\.\w+)+)(?!\.?/)", text))  # not a host name in a URL
    commands = {m.strip() for m in re.findall(r"python -m minirmt ([^`#\n]*)", text)}
    paths = set(re.findall(r"(?<![\w/.])(minirmt/[\w./-]*\w/?)", text))
    return names, commands, paths


def resolves(dotted: str) -> bool:
    """`minirmt.data.corpora.corpus_info` -> importable module, then attributes."""
    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:cut]))
        except ModuleNotFoundError:
            continue
        try:
            for attr in parts[cut:]:
                obj = getattr(obj, attr)
        except AttributeError:
            return False
        return True
    return False


@pytest.mark.parametrize("readme", ["data/README.md", "README.md"])
def test_every_module_command_and_file_a_readme_names_exists(readme):
    names, commands, paths = named_in(REPO / readme)
    assert names and paths
    assert [n for n in sorted(names) if not resolves(n)] == []
    assert [p for p in sorted(paths) if not (REPO / p).exists()] == []
    parser = cli.make_parser()
    for command in commands:
        words = [w for w in command.split() if w not in ("...", "…")]
        if not words:
            continue
        try:
            parser.parse_args(words)  # an unknown command or option exits with status 2
        except SystemExit as done:
            assert done.code == 0, f"`python -m minirmt {command}` does not parse"  # --help exits with 0
