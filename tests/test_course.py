"""What an instructor needs: a licence, a citation file, Colab links made from the one repository address, and an
nbgrader course that gives a solved notebook full points and the learner copy none (real nbgrader, no server)."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
import yaml

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
def test_every_notebook_links_colab_and_installs_this_release(path):
    notebook = nbformat.read(path, as_version=4)
    here = path.relative_to(ROOT).as_posix()
    badges = [c.source for c in notebook.cells if c.cell_type == "markdown" and c.source.startswith(exercises.BADGE)]
    installs = [c.source for c in notebook.cells if c.cell_type == "code" and exercises.COLAB in c.source]
    assert badges == [exercises.colab_badge(here)], "run `python -m minirmt.course.exercises --links`"
    assert installs == [exercises.install_source()]
    _, version = exercises.repository()
    assert f"@v{version}" in installs[0] and f"/blob/v{version}/{here}" in badges[0]


@pytest.fixture(scope="module")
def course(tmp_path_factory):
    if shutil.which("nbgrader", path=str(Path(sys.executable).parent)) is None:
        pytest.skip("nbgrader is not installed (the dev extra brings it)")
    out = tmp_path_factory.mktemp("course")
    assert exercises.main(["--nbgrader", str(out), "01"]) == 0
    return out


def nbgrader(course: Path, *args) -> subprocess.CompletedProcess:
    bin_dir = str(Path(sys.executable).parent)  # nbgrader runs alembic from there
    env = {**os.environ, "MINIRMT_MODE": "ci", "OMP_NUM_THREADS": "1", "PATH": f"{bin_dir}:{os.environ['PATH']}"}
    done = subprocess.run([str(Path(sys.executable).parent / "nbgrader"), *args], cwd=course, env=env,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    return done


def score(course: Path, lesson: str, student: str) -> tuple[float, float]:
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gradebook:
        submission = gradebook.find_submission(lesson, student)
        return submission.score, submission.max_score


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_nbgrader_gives_a_solved_notebook_full_points_and_the_learner_copy_none(course):
    lesson = "01_segments_and_memory"
    source = course / "source" / lesson / f"{lesson}.ipynb"
    graded = [c for c in nbformat.read(source, as_version=4).cells if c.metadata.get("nbgrader", {}).get("grade")]
    assert len(graded) >= 2 and all(c.metadata["nbgrader"]["points"] == 1 for c in graded)
    assert all("with checks.strict():" in c.source for c in graded)
    nbgrader(course, "generate_assignment", lesson, "--force")
    released = course / "release" / lesson / f"{lesson}.ipynb"
    assert "### BEGIN SOLUTION" not in released.read_text()
    for student, notebook in (("solved", source), ("learner", released)):
        folder = course / "submitted" / student / lesson
        folder.mkdir(parents=True)
        shutil.copy(notebook, folder / f"{lesson}.ipynb")
        (folder / "timestamp.txt").write_text("2026-12-03 12:00:00.000000 UTC")
    nbgrader(course, "autograde", lesson, "--create", "--force")
    assert score(course, lesson, "solved") == (len(graded), len(graded))
    assert score(course, lesson, "learner") == (0, len(graded))
