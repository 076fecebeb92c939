"""minirmt.course.exercises: solution regions become NotImplementedError stubs, outputs go, and --check catches a
stale learner copy."""

import nbformat
import pytest

from minirmt.course import exercises

SOLVED = '''def split(x, n):
    """Doc."""
    ### BEGIN SOLUTION
    y = x * 2
    return y
    ### END SOLUTION


class A:
    def method(self):
        if True:
            ### BEGIN SOLUTION
            return 1
            ### END SOLUTION'''


def test_strip_solutions_keeps_indentation_and_names_the_function():
    stripped = exercises.strip_solutions(SOLVED)
    assert stripped.splitlines() == [
        "def split(x, n):",
        '    """Doc."""',
        '    raise NotImplementedError("exercise: complete split()")',
        "",
        "",
        "class A:",
        "    def method(self):",
        "        if True:",
        '            raise NotImplementedError("exercise: complete method()")',
    ]
    compile(stripped, "<cell>", "exec")
    assert exercises.strip_solutions("x = 1\nprint(x)") == "x = 1\nprint(x)"


@pytest.mark.parametrize("source, message", [
    ("def f():\n    ### BEGIN SOLUTION\n    return 1", "never closed"),
    ("def f():\n    return 1\n    ### END SOLUTION", "without"),
    ("### BEGIN SOLUTION\nx = 1\n### END SOLUTION", "inside a function body"),
    ("def f():\n    ### BEGIN SOLUTION\n    ### BEGIN SOLUTION\n", "inside another"),
])
def test_strip_solutions_rejects_broken_regions(source, message):
    with pytest.raises(ValueError, match=message):
        exercises.strip_solutions(source)


def executed_notebook():
    nb = nbformat.v4.new_notebook()
    nb.metadata = {"jupytext": {"formats": "ipynb,py:percent"}, "widgets": {"state": {}},
                   "kernelspec": {"name": "python3", "display_name": "Python 3"}}
    solved = nbformat.v4.new_code_cell(SOLVED, execution_count=1,
                                       outputs=[nbformat.v4.new_output("stream", text="hi\n")])
    solved.metadata = {"tags": ["nbval-check-output", "nbval-skip"], "execution": {"iopub.status.busy": "x"}}
    checked = nbformat.v4.new_code_cell("print(1)", execution_count=2,
                                        outputs=[nbformat.v4.new_output("stream", text="1\n")])
    checked.metadata = {"tags": ["nbval-check-output"]}
    nb.cells = [nbformat.v4.new_markdown_cell("# Title"), solved, checked]
    return nb


def test_exercise_copy_clears_outputs_tags_and_pairing():
    nb = executed_notebook()
    copy = exercises.exercise_copy(nb)
    assert "jupytext" not in copy.metadata and "widgets" not in copy.metadata
    assert copy.metadata["kernelspec"]["name"] == "python3"
    code = [c for c in copy.cells if c.cell_type == "code"]
    assert all(c.outputs == [] and c.execution_count is None for c in code)
    assert code[0].metadata == {"tags": ["nbval-skip"]} and code[1].metadata == {}
    assert "NotImplementedError" in code[0].source and "y = x * 2" not in code[0].source
    assert copy.cells[0].source == "# Title" and copy.cells[0].id == nb.cells[0].id
    assert nb.cells[1].outputs and "y = x * 2" in nb.cells[1].source  # the input is left alone
    nbformat.validate(copy)


def test_main_writes_and_checks_copies(tmp_path, capsys):
    nbformat.write(executed_notebook(), tmp_path / "01_demo.ipynb")
    plain = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("x = 1")])
    nbformat.write(plain, tmp_path / "02_no_exercises.ipynb")
    args = ["--notebooks", str(tmp_path)]

    assert exercises.main([*args, "--check"]) == 1 and "missing" in capsys.readouterr().out
    assert exercises.main(args) == 0
    written = tmp_path / "exercises" / "01_demo.ipynb"
    assert written.exists() and not (tmp_path / "exercises" / "02_no_exercises.ipynb").exists()
    assert exercises.main([*args, "--check"]) == 0

    written.write_text(written.read_text().replace("complete split()", "edited"))
    assert exercises.main([*args, "--check"]) == 1 and "stale" in capsys.readouterr().out
    orphan = tmp_path / "exercises" / "09_gone.ipynb"
    orphan.write_text("{}")
    assert exercises.main([*args, "--check"]) == 1 and "no source notebook" in capsys.readouterr().out
    assert exercises.main(args) == 0 and not orphan.exists()
    assert exercises.main([*args, "--check"]) == 0


def test_main_can_handle_named_lessons_only(tmp_path, capsys):
    nbformat.write(executed_notebook(), tmp_path / "01_demo.ipynb")
    nbformat.write(executed_notebook(), tmp_path / "02_other.ipynb")
    args = ["--notebooks", str(tmp_path)]
    assert exercises.main([*args, "02"]) == 0
    assert sorted(p.name for p in (tmp_path / "exercises").iterdir()) == ["02_other.ipynb"]
    assert exercises.main([*args, "--check", "notebooks/02_other.py"]) == 0
    assert exercises.main([*args, "--check"]) == 1 and "01_demo.ipynb: missing" in capsys.readouterr().out


def test_the_committed_exercise_copies_are_current(capsys):
    assert exercises.main(["--check"]) == 0, capsys.readouterr().out


def test_the_answer_key_stays_in_the_solution_notebook_only():
    nb = executed_notebook()
    key = nbformat.v4.new_markdown_cell("**Answers**\n\n1. Because.", metadata={"tags": ["answer"]})
    nb.cells.append(key)
    assert "**Answers**" not in "".join(c.source for c in exercises.exercise_copy(nb).cells)
    assert "**Answers**" not in "".join(c.source for c in exercises.nbgrader_lesson(nb, "01").cells)
    assert nb.cells[-1] is key  # the solution notebook keeps it
