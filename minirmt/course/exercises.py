"""Learner copies of the notebooks, their Colab links, and an nbgrader course: `python -m minirmt.course.exercises`.

For every notebook `notebooks/NN_name.ipynb` with exercises or an answer key, writes
`notebooks/exercises/NN_name.ipynb` in which

- each region between `### BEGIN SOLUTION` and `### END SOLUTION` (nbgrader style) becomes
  `raise NotImplementedError("exercise: ...")` at the region's indentation; the checker in the next cell then
  prints "not attempted" and hands back the library's version, so the copy still runs top to bottom;
- every cell tagged `answer` (the worked answers to the questions and predictions: the instructor's key) is
  left out;
- outputs, execution counts and run metadata are cleared, and `nbval-check-output` tags are dropped (there
  is no saved output left to compare);
- the jupytext pairing is removed (the copy has no `.py` twin).

`--check` writes nothing and exits with status 1 if a copy is missing, stale or has no source notebook.
Name lessons (`python -m minirmt.course.exercises 05`, or a path) to handle only those.

Every lesson and learner copy opens with a Colab badge and an install cell made from the package's one
repository address (pyproject.toml, `[project.urls]`) and version: `--links` rewrites them in the lessons'
`.py` sources after a change of either. `--nbgrader DIR` writes an nbgrader course (`DIR/source/<lesson>/`):
solution cells, and each checker call as an autograded test cell of one point that runs the checker strictly.
"""

import argparse
import importlib.metadata
import re
import sys
from pathlib import Path

import nbformat

BEGIN, END = "### BEGIN SOLUTION", "### END SOLUTION"
CHECKED_TAG = "nbval-check-output"
ANSWER_TAG = "answer"  # a worked answer: in the solution notebook, not in the learner copy
NOTEBOOKS = Path("notebooks")  # the notebooks folder of the checkout this runs in
_DEF = re.compile(r"^\s*def\s+(\w+)\s*\(")
_CHECK = re.compile(r"^(\w+) = checks\.(check_\w+)\(\1\)$")  # a checker cell: `fn = checks.check_fn(fn)`
BADGE = "[![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)]"
COLAB = 'if "google.colab" in sys.modules:'


def repository() -> tuple[str, str]:
    """The repository's address and the release version, from the installed package's metadata."""
    metadata = importlib.metadata.metadata("minirmt")
    urls = dict(entry.split(", ", 1) for entry in metadata.get_all("Project-URL") or [])
    return urls["Repository"].rstrip("/"), metadata["Version"]


def colab_badge(path: str) -> str:
    """The markdown of a badge that opens the notebook at `path` (in the repository) in Colab, at this release."""
    url, version = repository()
    github = url.removeprefix("https://github.com/")
    return f"{BADGE}(https://colab.research.google.com/github/{github}/blob/v{version}/{path})"


def install_source() -> str:
    """The install cell: on Colab, pip installs this release of minirmt with the notebooks' extra."""
    url, version = repository()
    return ("# On Colab, install this release of minirmt (elsewhere this cell does nothing).\n"
            "import sys\n\n"
            f"{COLAB}\n"
            "    import subprocess\n\n"
            f'    subprocess.run([sys.executable, "-m", "pip", "install", "-q", '
            f'"minirmt[notebooks] @ git+{url}@v{version}"], check=True)')


def with_links(notebook, path: str):
    """`notebook` with its badge and install cells made afresh for the notebook at `path` (in place)."""
    for cell in notebook.cells:
        if cell.cell_type == "markdown" and cell.source.startswith(BADGE):
            cell.source = colab_badge(path)
        elif cell.cell_type == "code" and COLAB in cell.source:
            cell.source = install_source()
    return notebook


def strip_solutions(source: str) -> str:
    """Replace every solution region of a cell's source by a `raise NotImplementedError` line.

    Regions must sit inside a function body (indented), so that defining the function still works.
    """
    out, region, function = [], None, None
    for number, line in enumerate(source.split("\n"), start=1):
        stripped = line.strip()
        if stripped == BEGIN:
            if region is not None:
                raise ValueError(f"line {number}: {BEGIN} inside another solution region")
            indent = line[: len(line) - len(line.lstrip())]
            if not indent:
                raise ValueError(f"line {number}: a solution region must be inside a function body (indented)")
            region = number
            what = f"complete {function}()" if function else "write this part"
            out.append(f'{indent}raise NotImplementedError("exercise: {what}")')
        elif stripped == END:
            if region is None:
                raise ValueError(f"line {number}: {END} without {BEGIN}")
            region = None
        elif region is None:
            match = _DEF.match(line)
            function = match.group(1) if match else function
            out.append(line)
    if region is not None:
        raise ValueError(f"line {region}: {BEGIN} is never closed by {END}")
    return "\n".join(out)


def has_solutions(notebook) -> bool:
    return any(cell.cell_type == "code" and BEGIN in cell.source for cell in notebook.cells)


def has_answer_key(notebook) -> bool:
    return any(ANSWER_TAG in cell.metadata.get("tags", []) for cell in notebook.cells)


def exercise_copy(notebook, path: str | None = None):
    """The learner copy of a notebook (a new object; the input is not changed); `path`: its place in the
    repository, for its Colab badge."""
    copy = nbformat.from_dict(nbformat.v4.new_notebook())
    copy.metadata = {k: v for k, v in notebook.metadata.items() if k not in ("jupytext", "widgets")}
    copy.nbformat, copy.nbformat_minor = notebook.nbformat, notebook.nbformat_minor
    for cell in notebook.cells:
        if ANSWER_TAG in cell.metadata.get("tags", []):
            continue
        new = nbformat.from_dict(dict(cell))
        new.metadata = {k: v for k, v in cell.metadata.items() if k not in ("execution", "collapsed", "scrolled")}
        tags = [t for t in cell.metadata.get("tags", []) if t != CHECKED_TAG]
        new.metadata.pop("tags", None)
        if tags:
            new.metadata["tags"] = tags
        if cell.cell_type == "code":
            new.source = strip_solutions(cell.source)
            new.outputs, new.execution_count = [], None
        copy.cells.append(new)
    return with_links(copy, path) if path is not None else copy


def render(notebook) -> str:
    """The file text of a notebook, as Jupyter writes it."""
    return nbformat.writes(notebook) + "\n"


def plan(notebooks_dir: Path = NOTEBOOKS, only: tuple[str, ...] = ()) -> dict[Path, str | None]:
    """`{exercise path: text}` for every notebook with exercises or an answer key; None for a stale copy to delete.

    only: lesson names or prefixes ("05", "05_inside_the_memory", a path); empty means every lesson.
    """
    out_dir = notebooks_dir / "exercises"
    prefixes = tuple(Path(name).stem for name in only)
    wanted = {}
    for path in sorted(notebooks_dir.glob("[0-9][0-9]_*.ipynb")):
        if prefixes and not path.stem.startswith(prefixes):
            continue
        notebook = nbformat.read(path, as_version=4)
        if has_solutions(notebook) or has_answer_key(notebook):
            try:
                wanted[out_dir / path.name] = render(exercise_copy(notebook, f"notebooks/exercises/{path.name}"))
            except ValueError as error:
                raise ValueError(f"{path}: {error}") from error
    for existing in sorted(out_dir.glob("*.ipynb")):
        if not prefixes or existing.stem.startswith(prefixes):
            wanted.setdefault(existing, None)
    return wanted


def update_links(notebooks_dir: Path = NOTEBOOKS) -> list[Path]:
    """Rewrite the badge and install cells of every lesson's `.py` source (jupytext); the sources changed."""
    import jupytext

    changed = []
    for path in sorted(notebooks_dir.glob("[0-9][0-9]_*.py")):
        notebook = jupytext.read(path)
        text = jupytext.writes(with_links(notebook, f"notebooks/{path.stem}.ipynb"), fmt="py:percent")
        if text != path.read_text(encoding="utf-8"):
            path.write_text(text, encoding="utf-8")
            changed.append(path)
    return changed


# ---------------------------------------------------------------- an nbgrader course


def nbgrader_lesson(notebook, lesson: str):
    """The nbgrader source of a lesson: solution cells, and each checker cell as a test cell of one point that
    runs the checker strictly (a wrong or missing answer raises, so the autograder gives no point). The answer
    key's cells are left out: nbgrader would release them to the students."""
    course = nbformat.from_dict(nbformat.v4.new_notebook())
    course.metadata = {k: v for k, v in notebook.metadata.items() if k not in ("jupytext", "widgets")}
    for index, cell in enumerate(notebook.cells):
        if ANSWER_TAG in cell.metadata.get("tags", []):
            continue
        new = nbformat.from_dict(dict(cell))
        new.metadata = {"tags": cell.metadata["tags"]} if cell.metadata.get("tags") else {}
        if cell.cell_type == "code":
            new.outputs, new.execution_count = [], None
            check = _CHECK.match(cell.source.strip())
            if BEGIN in cell.source:
                new.metadata["nbgrader"] = _nbgrader(f"{lesson}-solution-{index}", solution=True)
            elif check:
                new.source = f"from minirmt.course import checks\n\nwith checks.strict():\n    {cell.source.strip()}"
                new.metadata["nbgrader"] = _nbgrader(f"{lesson}-{check.group(2)}", grade=True, points=1)
        course.cells.append(new)
    return course


def _nbgrader(grade_id: str, solution: bool = False, grade: bool = False, points: int = 0) -> dict:
    meta = {"grade": grade, "grade_id": grade_id, "locked": grade, "schema_version": 3, "solution": solution,
            "task": False}
    return {**meta, "points": points} if grade else meta


def write_nbgrader_course(out: Path, notebooks_dir: Path = NOTEBOOKS, only: tuple[str, ...] = ()) -> list[Path]:
    """`out/source/<lesson>/<lesson>.ipynb` for every lesson with exercises, and `out/nbgrader_config.py`."""
    out = Path(out)
    prefixes = tuple(Path(name).stem for name in only)
    written = []
    for path in sorted(notebooks_dir.glob("[0-9][0-9]_*.ipynb")):
        notebook = nbformat.read(path, as_version=4)
        if not has_solutions(notebook) or (prefixes and not path.stem.startswith(prefixes)):
            continue
        target = out / "source" / path.stem / path.name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(render(nbgrader_lesson(notebook, path.stem)), encoding="utf-8")
        written.append(target)
    (out / "nbgrader_config.py").write_text(
        "# The minirmt course: `nbgrader generate_assignment <lesson>` then `nbgrader autograde <lesson>`, from here.\n"
        "c = get_config()  # noqa: F821\n"
        "c.CourseDirectory.root = '.'\n"
        "c.ExecutePreprocessor.timeout = 900\n", encoding="utf-8")
    return written


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m minirmt.course.exercises", description=__doc__.split("\n")[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if notebooks/exercises/ is not current")
    parser.add_argument("--notebooks", type=Path, default=NOTEBOOKS, help="the notebooks folder")
    parser.add_argument("--links", action="store_true", help="rewrite the lessons' Colab badges and install cells")
    parser.add_argument("--nbgrader", type=Path, metavar="DIR", help="write an nbgrader course into DIR")
    parser.add_argument("only", nargs="*", help="lessons to handle, e.g. 05 or notebooks/05_inside_the_memory.py")
    args = parser.parse_args(argv)
    if not args.notebooks.is_dir():
        parser.error(f"no notebooks folder at {args.notebooks}: run this from the repository's root (or --notebooks)")
    if args.nbgrader is not None:
        written = write_nbgrader_course(args.nbgrader, args.notebooks, tuple(args.only))
        print(f"nbgrader course in {args.nbgrader}: {len(written)} lessons under source/")
        return 0
    if args.links:
        print("links rewritten:", *update_links(args.notebooks) or ["none needed"], sep="\n  ")
    problems = []
    for path, text in plan(args.notebooks, tuple(args.only)).items():
        current = path.read_text(encoding="utf-8") if path.exists() else None
        if current == text:
            continue
        status = "no source notebook" if text is None else ("missing" if current is None else "stale")
        problems.append(f"{path}: {status}")
        if args.check:
            continue
        if text is None:
            path.unlink()
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
    if not problems:
        print("exercise copies are current")
        return 0
    if args.check:
        print("exercise copies are not current; run `python -m minirmt.course.exercises`:", *problems, sep="\n  ")
        return 1
    print("updated:", *problems, sep="\n  ")
    return 0


if __name__ == "__main__":
    sys.exit(main())
