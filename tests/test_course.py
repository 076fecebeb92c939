"""What an instructor needs: a licence, a citation file, Colab links made from the one repository address, and an
nbgrader course that gives a solved notebook full points and the learner copy none (real nbgrader, no server)."""

import os
import re
import shutil
import subprocess
import sys
import urllib.parse
from pathlib import Path
from unittest import mock

import nbformat
import pytest
import yaml

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

from minirmt.course import exercises

ROOT = Path(__file__).resolve().parents[1]
LESSONS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
COPIES = sorted((ROOT / "notebooks" / "exercises").glob("*.ipynb"))


def test_the_licence_covers_the_code_and_the_teaching_text():
    text = (ROOT / "LICENSE").read_text()
    assert "MIT License" in text and "CC BY 4.0" in text and "notebooks" in text


def test_the_citation_file_is_valid_cff_and_names_this_version():
    """A check of CITATION.cff against the Citation File Format 1.2.0's required keys and types."""
    jsonschema = pytest.importorskip("jsonschema")
    schema = {
        "type": "object",
        "required": ["cff-version", "message", "title", "authors"],
        "properties": {
            "cff-version": {"const": "1.2.0"}, "message": {"type": "string"}, "title": {"type": "string"},
            "version": {"type": "string"}, "date-released": {"type": "string", "pattern": r"^\d{4}-\d{2}-\d{2}$"},
            "authors": {"type": "array", "minItems": 1, "items": {"type": "object", "anyOf": [
                {"required": ["family-names"]}, {"required": ["name"]}]}},
            "repository-code": {"type": "string", "format": "uri"},
            "references": {"type": "array", "items": {"type": "object", "required": ["type", "title", "authors"]}},
        },
    }
    citation = yaml.safe_load((ROOT / "CITATION.cff").read_text())
    jsonschema.validate(citation, schema)
    url, version = exercises.repository()
    assert citation["version"] == version and citation["repository-code"] == url


@pytest.mark.parametrize("path", LESSONS + COPIES, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_every_notebook_links_colab_on_the_learner_copy_and_installs_this_release(path):
    notebook = nbformat.read(path, as_version=4)
    here = path.relative_to(ROOT).as_posix()
    badges = [c.source for c in notebook.cells if c.cell_type == "markdown" and c.source.startswith(exercises.BADGE)]
    installs = [c.source for c in notebook.cells if c.cell_type == "code" and exercises.COLAB in c.source]
    assert badges == [exercises.badge_cell(here)], "run `python -m minirmt.course.exercises --links`"
    assert installs == [exercises.install_source()]
    _, version = exercises.repository()
    assert f"/blob/v{version}/notebooks/exercises/{path.name})" in badges[0]
    assert ("instructor's copy" in badges[0]) == (path in LESSONS)  # the instructor's copy says what it is
    assert f'"minirmt @ git+{exercises.repository()[0]}@v{version}"' in installs[0]  # no JupyterLab into Colab


def test_the_readme_opens_every_learner_copy_at_the_release_tag():
    readme = (ROOT / "README.md").read_text()
    site = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["urls"]["Documentation"]
    assert f"<{site}>" in readme  # where the website will be published
    for lesson in LESSONS:
        assert f"]({site}lessons/{lesson.stem}.html)" in readme, lesson.stem
    assert exercises.refresh_links(readme) == readme, "run `python -m minirmt.course.exercises --links`"
    for lesson in LESSONS:
        here = f"notebooks/{lesson.name}"
        for url in (exercises.colab_url(here), exercises.binder_url(here), exercises.file_url(here)):
            assert f"({url})" in readme
    links = re.findall(r"\]\((https://[^)]*?notebooks/[^)]*)\)", readme)
    assert links and all("/exercises/" in link and f"/{exercises.release_ref()}" in link for link in links)
    binder = re.findall(r"https://mybinder\.org/v2/gh/\S+", readme)
    assert binder and all(f"/{exercises.release_ref()}" in url for url in binder)


def test_launch_links_open_the_learner_copy():
    url, version = exercises.repository()
    github = url.removeprefix("https://github.com/")
    here = "notebooks/05_inside_the_memory.ipynb"
    assert exercises.colab_url(here) == (f"https://colab.research.google.com/github/{github}/blob/v{version}/"
                                         "notebooks/exercises/05_inside_the_memory.ipynb")
    assert exercises.binder_url(here, "main") == (f"https://mybinder.org/v2/gh/{github}/main?urlpath=lab/tree/"
                                                  "notebooks/exercises/05_inside_the_memory.ipynb")
    path, _, query = exercises.nbgitpuller_path(here, "release").partition("?")
    assert path == "/hub/user-redirect/git-pull"
    assert dict(urllib.parse.parse_qsl(query)) == {
        "repo": url, "branch": "release",
        "urlpath": f"lab/tree/{url.rsplit('/', 1)[1]}/notebooks/exercises/05_inside_the_memory.ipynb"}


def test_the_instructors_tools_name_the_extra_they_need():
    """`python -m minirmt.course.exercises` without nbformat: one line naming the extra, exit code 2."""
    code = ("import runpy, sys; sys.modules['nbformat'] = None; "
            "runpy.run_module('minirmt.course.exercises', run_name='__main__')")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert done.stderr.strip().splitlines() == [
        "python -m minirmt.course.exercises: nbformat is not installed: pip install 'minirmt[course]' "
        "(the instructor's tools need it)"]


# ---------------------------------------------------------------- the nbgrader course, every lesson


@pytest.fixture(scope="module")
def course(tmp_path_factory):
    out = tmp_path_factory.mktemp("course")
    assert exercises.main(["--nbgrader", str(out)]) == 0
    return out


def graded_lessons() -> list[Path]:
    return [p for p in LESSONS if exercises.has_solutions(nbformat.read(p, as_version=4))]


def test_every_checker_call_is_a_graded_cell_and_every_solution_a_solution_cell(course):
    lessons = graded_lessons()
    assert [p.stem for p in lessons] == [p.stem for p in LESSONS if not p.stem.startswith("00")]
    for path in lessons:
        source = [c.source for c in nbformat.read(path, as_version=4).cells if c.cell_type == "code"]
        cells = nbformat.read(course / "source" / path.stem / path.name, as_version=4).cells
        graded = [c for c in cells if c.metadata.get("nbgrader", {}).get("grade")]
        solutions = [c for c in cells if c.metadata.get("nbgrader", {}).get("solution")]
        calls = sum(len(re.findall(r"^\w+ = checks\.check_\w+\(", s, re.M)) for s in source)
        assert len(graded) == calls >= 2, path.stem
        assert all(c.metadata["nbgrader"]["points"] == 1 and "with checks.strict():" in c.source for c in graded)
        assert all(exercises.BEGIN not in c.source and c.source.count("checks.check_") == 1 for c in graded)
        assert sum(c.source.count(exercises.BEGIN) for c in solutions) == sum(s.count(exercises.BEGIN) for s in source)
        assert all("checks.check_" not in c.source for c in solutions), f"{path.stem}: a checker left in a solution"
        nbformat.validate(nbformat.from_dict({**nbformat.v4.new_notebook(), "cells": cells}))


def test_a_checker_call_is_split_out_of_any_cell():
    solution = "def f(x):\n    ### BEGIN SOLUTION\n    return x\n    ### END SOLUTION"
    source = f"{solution}\n\n\nf = checks.check_f(f)\nprint(f(1))"
    assert exercises._split_at_checks(source) == [
        (solution, None),
        ("f = checks.check_f(f)", mock.ANY), ("print(f(1))", None)]
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(source)])
    cells = exercises.nbgrader_lesson(notebook, "01_x").cells
    assert [c.metadata.get("nbgrader", {}).get("grade_id") for c in cells] == ["01_x-solution-0", "01_x-check_f", None]
    assert len({c.id for c in cells}) == 3


def nbgrader(course: Path, *args) -> subprocess.CompletedProcess:
    bin_dir = str(Path(sys.executable).parent)  # nbgrader runs alembic from there
    env = {**os.environ, "MINIRMT_MODE": "ci", "OMP_NUM_THREADS": "1", "OMP_WAIT_POLICY": "PASSIVE",
           "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"}
    done = subprocess.run([shutil.which("nbgrader", path=bin_dir), *args], cwd=course, env=env,
                          capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    return done


def scores(course: Path) -> dict[tuple[str, str], tuple[float, float]]:
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gradebook:
        return {(assignment.name, submission.student.id): (submission.score, submission.max_score)
                for assignment in gradebook.assignments for submission in assignment.submissions}


@pytest.mark.slow
@pytest.mark.timeout(1200)
def test_nbgrader_gives_every_solved_lesson_full_points_and_every_learner_copy_none(course):
    """The whole course as an instructor runs it: one generate_assignment and one autograde over every lesson."""
    if shutil.which("nbgrader", path=str(Path(sys.executable).parent)) is None:
        pytest.skip("nbgrader is not installed (the course extra brings it)")
    lessons = [p.stem for p in graded_lessons()]
    nbgrader(course, "generate_assignment", "*", "--force")
    for lesson in lessons:
        source = course / "source" / lesson / f"{lesson}.ipynb"
        released = course / "release" / lesson / f"{lesson}.ipynb"
        assert exercises.BEGIN not in released.read_text()
        for student, notebook in (("solved", source), ("learner", released)):
            folder = course / "submitted" / student / lesson
            folder.mkdir(parents=True)
            shutil.copy(notebook, folder / f"{lesson}.ipynb")
            (folder / "timestamp.txt").write_text("2026-12-03 12:00:00.000000 UTC")
    nbgrader(course, "autograde", "*", "--create", "--force")
    got = scores(course)
    for lesson in lessons:
        points = sum(c.metadata.get("nbgrader", {}).get("points", 0)
                     for c in nbformat.read(course / "source" / lesson / f"{lesson}.ipynb", as_version=4).cells)
        assert got[lesson, "solved"] == (points, points), lesson
        assert got[lesson, "learner"] == (0, points), lesson
