"""The committed notebooks are clean: executed top to bottom without errors or warnings, small, no saved
widget state, known tags only, paired with their jupytext .py twin, exercise copies cleared
(notebooks/README.md)."""

import re
from pathlib import Path

import jupytext
import nbformat
import pytest

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"
LESSONS = sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))
COPIES = sorted((NOTEBOOKS / "exercises").glob("*.ipynb"))
ALLOWED_TAGS = {"answer", "nbval-check-output", "nbval-ignore-output", "nbval-skip", "raises-exception", "solution"}
MAX_BYTES = 1_500_000  # an executed lesson; the figures' dpi is set by nb.setup
MAX_COPY_BYTES = 200_000  # a learner copy has no outputs
WARNING = re.compile(r"Warning\b|warnings\.warn|Traceback")


def ids(paths):
    return [p.name for p in paths]


def read(path):
    return nbformat.read(path, as_version=4)


def code_cells(nb):
    return [c for c in nb.cells if c.cell_type == "code"]


@pytest.mark.parametrize("path", LESSONS + COPIES, ids=ids(LESSONS + COPIES))
def test_valid_with_known_tags_and_no_widget_state(path):
    nb = read(path)
    nbformat.validate(nb)
    assert "widgets" not in nb.metadata, \
        "saved widget state: execute with --ExecutePreprocessor.store_widget_state=False"
    for i, cell in enumerate(nb.cells):
        unknown = set(cell.metadata.get("tags", [])) - ALLOWED_TAGS
        assert not unknown, f"cell {i}: tags {unknown} are not among {sorted(ALLOWED_TAGS)}"


@pytest.mark.parametrize("path", LESSONS, ids=ids(LESSONS))
def test_lesson_executed_top_to_bottom_without_errors_or_warnings(path):
    assert path.stat().st_size < MAX_BYTES, f"{path.name} is {path.stat().st_size:,} bytes (limit {MAX_BYTES:,})"
    cells = code_cells(read(path))
    counts = [c.execution_count for c in cells if c.source.strip()]
    assert counts == list(range(1, len(counts) + 1)), \
        f"execution counts {counts}: run the notebook top to bottom in a fresh kernel (make notebooks)"
    for i, cell in enumerate(cells):
        for out in cell.outputs:
            assert out.output_type != "error", f"code cell {i} stored an error: {out.get('ename')}"
            if out.output_type == "stream" and out.name == "stderr":
                assert not WARNING.search(out.text), f"code cell {i} stored a warning:\n{out.text[:500]}"
            assert "application/vnd.jupyter.widget-state+json" not in out.get("data", {})


@pytest.mark.parametrize("path", LESSONS, ids=ids(LESSONS))
def test_lesson_agrees_with_its_jupytext_twin(path):
    twin = path.with_suffix(".py")
    assert twin.exists(), f"{twin.name} is missing: `jupytext --set-formats ipynb,py:percent {path.name}`"
    nb = read(path)
    assert nb.metadata.get("jupytext", {}).get("formats") == "ipynb,py:percent"
    py = jupytext.read(twin)

    def cells(notebook):
        return [(c.cell_type, c.source, sorted(c.metadata.get("tags", []))) for c in notebook.cells]

    assert cells(py) == cells(nb), f"{path.name} and {twin.name} differ: run `jupytext --sync {twin}`"


@pytest.mark.parametrize("path", LESSONS, ids=ids(LESSONS))
def test_lesson_structure(path):
    nb = read(path)
    sources = [c.source for c in code_cells(nb)]
    assert sum("nb.setup(" in s for s in sources) == 1, "exactly one setup cell: `from minirmt import nb; nb.setup()`"
    for cell in code_cells(nb):
        if "google.colab" in cell.source:
            assert "nbval-skip" in cell.metadata.get("tags", []), "the Colab install cell must be tagged nbval-skip"
        if "widgets." in cell.source and "import" not in cell.source:
            assert "nbval-ignore-output" in cell.metadata.get("tags", []), "widget cells: tag nbval-ignore-output"
    if path.name[:2] != "00":
        regions = sum(s.count("### BEGIN SOLUTION") for s in sources)
        assert regions >= 2, f"{path.name} has {regions} exercises; lessons from 01 on have at least 2"


@pytest.mark.parametrize("path", COPIES, ids=ids(COPIES))
def test_exercise_copy_is_cleared(path):
    assert path.stat().st_size < MAX_COPY_BYTES
    nb = read(path)
    assert "jupytext" not in nb.metadata
    for cell in code_cells(nb):
        assert cell.outputs == [] and cell.execution_count is None
        assert "### BEGIN SOLUTION" not in cell.source
        assert "nbval-check-output" not in cell.metadata.get("tags", [])
    assert (NOTEBOOKS / path.name).exists(), f"{path.name} has no lesson in notebooks/"


def headings(nb) -> list[str]:
    """Every markdown heading of a notebook, in order, without the #s."""
    return [line.lstrip("#").strip() for c in nb.cells if c.cell_type == "markdown"
            for line in c.source.splitlines() if line.startswith("#")]


@pytest.mark.parametrize("path", LESSONS, ids=ids(LESSONS))
def test_lesson_follows_the_house_template(path):
    found = headings(read(path))
    number = path.name[:2]
    assert found[0].startswith(f"{number} · "), f"the title is '{number} · <name>', got {found[0]!r}"
    for required in ("What you will learn", "Prerequisites", "Summary", "Questions", "References"):
        assert required in found, f"{path.name} has no '{required}' heading"
    order = [found.index(h) for h in ("What you will learn", "Prerequisites", "Summary", "Questions", "References")]
    assert order == sorted(order), f"{path.name}: the template's headings are out of order"
    sections = [h for h in found if re.match(r"\d+\. ", h)]
    assert sections and [int(h.split(".")[0]) for h in sections] == list(range(1, len(sections) + 1)), \
        f"{path.name}: sections are numbered 1, 2, ...: {sections}"
    exercises = [h for h in found if "Exercise" in h]
    assert all(re.search(rf"Exercise {number}\.\d+:", h) for h in exercises), \
        f"{path.name}: exercises are headed 'Exercise {number}.k: ...': {exercises}"


@pytest.mark.parametrize("path", LESSONS, ids=ids(LESSONS))
def test_every_question_has_an_answer_in_the_key(path):
    nb = read(path)
    questions_at = next(i for i, c in enumerate(nb.cells) if c.cell_type == "markdown" and
                        re.search(r"^#+ Questions", c.source, re.M))
    text = nb.cells[questions_at].source.split("Questions", 1)[1]
    asked = re.findall(r"^(\d+)\. ", text, re.M)
    answers = [c for c in nb.cells[questions_at:] if "answer" in c.metadata.get("tags", [])]
    assert asked, f"{path.name}: the Questions section lists no numbered question"
    assert len(answers) == 1, f"{path.name}: one answer cell (tagged 'answer') follows the questions"
    answered = re.findall(r"^(\d+)\. ", answers[0].source, re.M)
    assert answered == asked, f"{path.name}: questions {asked} but answers {answered}"
    predictions = sum(c.source.count("**Predict") for c in nb.cells if c.cell_type == "markdown")
    if predictions:
        assert "*Predictions.*" in answers[0].source, f"{path.name}: the key answers the {predictions} predictions"


@pytest.mark.parametrize("path", COPIES, ids=ids(COPIES))
def test_exercise_copy_has_no_answer_key(path):
    assert not any("answer" in c.metadata.get("tags", []) for c in read(path).cells)
