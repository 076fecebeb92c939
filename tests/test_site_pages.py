"""The course website's pages as notebooks/site/build.py stages them (no Sphinx here; tests/e2e/test_site.py
builds and opens the real site): a lesson keeps its outputs, its badge becomes the launch bar of the learner copy,
the Colab install cell goes, solutions fold, the answer key closes, explorers become a note."""

import html
import importlib.util
import re
import urllib.parse
from pathlib import Path

import nbformat
import pytest

from minirmt.course import exercises

ROOT = Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location("site_build", ROOT / "notebooks" / "site" / "build.py")
site = importlib.util.module_from_spec(spec)
spec.loader.exec_module(site)

LESSONS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))


@pytest.mark.parametrize("ref, branch", [("main", "main"), ("v0.1.0", "release"), ("v12.3", "release"),
                                         ("feature", "feature")])
def test_nbgitpuller_follows_a_branch_and_a_release_site_the_release_branch(ref, branch):
    assert site.hub_branch(ref) == branch


def launch_hrefs(bar: str) -> list[str]:
    return [html.unescape(href) for href in re.findall(r'href="([^"]*)"', bar)]


def test_the_launch_bar_opens_the_learner_copy_on_every_service():
    name = "05_inside_the_memory.ipynb"
    here = f"notebooks/{name}"
    asked = launch_hrefs(site.launch_bar(name, "v0.1.0", None))
    assert asked == [exercises.colab_url(here, "v0.1.0"), exercises.binder_url(here, "v0.1.0"),
                     "../teaching.html#jupyterhub", f"../exercises/{name}"]
    fixed = launch_hrefs(site.launch_bar(name, "main", "https://hub.example.edu/"))[2]
    query = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(fixed).query))
    assert fixed.startswith("https://hub.example.edu/hub/user-redirect/git-pull?")
    assert query["branch"] == "main" and query["urlpath"].endswith(f"notebooks/exercises/{name}")


@pytest.mark.parametrize("path", LESSONS, ids=[p.stem for p in LESSONS])
def test_a_lesson_page_keeps_its_outputs_and_folds_its_answers(path):
    lesson = nbformat.read(path, as_version=4)
    page = site.lesson_page(lesson, path.name, "main", None)
    nbformat.validate(page)
    kept = [c for c in lesson.cells if not (c.cell_type == "code" and exercises.COLAB in c.source)]
    assert len(page.cells) == len(kept) == len(lesson.cells) - 1
    for before, after in zip(kept, page.cells):
        tags = before.metadata.get("tags", [])
        if before.cell_type == "markdown" and before.source.startswith(exercises.BADGE):
            assert after.source.startswith('<div class="minirmt-launch">')
        elif exercises.ANSWER_TAG in tags:
            assert after.source.startswith("::::{dropdown} The answer key") and before.source in after.source
        elif exercises.BEGIN in before.source:
            assert "hide-input" in after.metadata["tags"] and exercises.BEGIN not in after.source
        else:
            assert after.source == before.source
        if before.cell_type == "code":
            widgets = [o for o in before.outputs if site.WIDGET in o.get("data", {})]
            assert len(after.outputs) == len(before.outputs)
            assert sum(o.get("data", {}).get("text/markdown") == site.EXPLORER_NOTE for o in after.outputs) == len(
                widgets)
            assert all(a == b for a, b in zip(after.outputs, before.outputs) if site.WIDGET not in b.get("data", {}))
    assert lesson.cells[1].source == nbformat.read(path, as_version=4).cells[1].source  # the lesson is left alone


def test_readme_sections_are_found_or_named_missing():
    assert site.readme_section(None).startswith("# minirmt")
    assert "bench/" in site.readme_section("Measured")
    with pytest.raises(ValueError, match="no section '## Nothing like it'"):
        site.readme_section("Nothing like it")
