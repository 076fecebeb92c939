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

Every lesson and learner copy opens with a Colab badge on the learner copy and an install cell, made from the
package's one repository address (pyproject.toml, `[project.urls]`) and its version's tag `v<version>`; the
Binder and JupyterHub (nbgitpuller) links of the README and the course website are made here too. `--links`
rewrites the lessons' cells and the README's lesson links after a change of either. `--nbgrader DIR` writes an
nbgrader course (`DIR/source/<lesson>/`): solution cells, and each checker call as an autograded test cell of
one point that runs the checker strictly. Needs the `course` extra (`pip install 'minirmt[course]'`).
"""

import argparse
import importlib.metadata
import re
import sys
import urllib.parse
from pathlib import Path


def _missing(error: ModuleNotFoundError) -> str:
    return f"{error.name} is not installed: pip install 'minirmt[course]' (the instructor's tools need it)"


try:
    import nbformat
except ModuleNotFoundError as error:  # a plain `pip install minirmt` has no notebook tools
    if __name__ == "__main__":
        print(f"python -m minirmt.course.exercises: {_missing(error)}", file=sys.stderr)
        sys.exit(2)
    raise ModuleNotFoundError(_missing(error), name=error.name) from error

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


def release_ref() -> str:
    """The git tag of this release, `v<version>`: the reference every badge and README link opens."""
    return f"v{repository()[1]}"


def learner_path(path: str) -> str:
    """The learner copy of the notebook at `path` (a lesson or its copy, in the repository): notebooks/exercises/."""
    return f"notebooks/exercises/{Path(path).name}"


def colab_url(path: str, ref: str | None = None) -> str:
    """Colab on the learner copy of the notebook at `path`, at `ref` (default: this release's tag)."""
    github = repository()[0].removeprefix("https://github.com/")
    return f"https://colab.research.google.com/github/{github}/blob/{ref or release_ref()}/{learner_path(path)}"


def binder_url(path: str, ref: str | None = None) -> str:
    """Binder (JupyterLab, built from .binder/) on the learner copy of the notebook at `path`, at `ref`."""
    github = repository()[0].removeprefix("https://github.com/")
    return f"https://mybinder.org/v2/gh/{github}/{ref or release_ref()}?urlpath=lab/tree/{learner_path(path)}"


def file_url(path: str, ref: str | None = None) -> str:
    """The learner copy of the notebook at `path` on the repository's web page, at `ref`."""
    return f"{repository()[0]}/blob/{ref or release_ref()}/{learner_path(path)}"


def nbgitpuller_path(path: str, branch: str) -> str:
    """The part after a JupyterHub's address of an nbgitpuller link: the hub clones (later: merges) `branch` of
    the repository into the user's home and opens the learner copy of the notebook at `path` in JupyterLab.
    nbgitpuller follows a branch (a tag breaks its second pull): `main`, or `release` (the latest release)."""
    url = repository()[0]
    target = f"lab/tree/{url.rsplit('/', 1)[-1]}/{learner_path(path)}"
    query = urllib.parse.urlencode({"repo": url, "branch": branch, "urlpath": target})
    return f"/hub/user-redirect/git-pull?{query}"


def badge_cell(path: str) -> str:
    """The badge cell of the notebook at `path`: a Colab badge that opens the learner copy at this release; the
    instructor's copy (in notebooks/, with the worked solutions and the answer key) also says what it is."""
    badge = f"{BADGE}({colab_url(path)})"
    if Path(path).parent.name == "exercises":
        return badge
    return (f"{badge} (the learner copy)\n\n*This is the instructor's copy: it holds the worked solutions and the "
            f"answer key. Learners open `{learner_path(path)}`.*")


def install_source() -> str:
    """The install cell: on Colab, pip installs this release of minirmt (Colab has torch and the widgets)."""
    url = repository()[0]
    return ("# On Colab, install this release of minirmt (elsewhere this cell does nothing).\n"
            "import sys\n\n"
            f"{COLAB}\n"
            "    import subprocess\n\n"
            f'    subprocess.run([sys.executable, "-m", "pip", "install", "-q", '
            f'"minirmt @ git+{url}@{release_ref()}"], check=True)')


def with_links(notebook, path: str):
    """`notebook` with its badge and install cells made afresh for the notebook at `path` (in place)."""
    for cell in notebook.cells:
        if cell.cell_type == "markdown" and cell.source.startswith(BADGE):
            cell.source = badge_cell(path)
        elif cell.cell_type == "code" and COLAB in cell.source:
            cell.source = install_source()
    return notebook


_LESSON_LINK = re.compile(r"https://(?:colab\.research\.google\.com/github|mybinder\.org/v2/gh|github\.com)/"
                          r"[^)\s]*?notebooks/(?:exercises/)?(\d\d_\w+)\.ipynb")


def refresh_links(markdown: str) -> str:
    """`markdown` (the README) with each Colab, Binder or repository link to a lesson made afresh: the learner
    copy, at this release."""
    makers = {"colab": colab_url, "mybinder": binder_url, "github.com": file_url}

    def fresh(match):
        maker = next(make for key, make in makers.items() if key in match.group(0))
        return maker(f"notebooks/{match.group(1)}.ipynb")

    return _LESSON_LINK.sub(fresh, markdown)


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
    """Rewrite the badge and install cells of every lesson (its `.ipynb`, outputs kept, and its jupytext `.py`) and
    the lesson links of the README beside the notebooks folder; returns the files changed."""
    import jupytext

    changed = []
    for path in sorted(notebooks_dir.glob("[0-9][0-9]_*.ipynb")):
        here = f"notebooks/{path.name}"
        changed += _rewrite(path, render(with_links(nbformat.read(path, as_version=4), here)))
        twin = path.with_suffix(".py")
        if twin.exists():
            changed += _rewrite(twin, jupytext.writes(with_links(jupytext.read(twin), here), fmt="py:percent"))
    readme = notebooks_dir.parent / "README.md"
    if readme.exists():
        changed += _rewrite(readme, refresh_links(readme.read_text(encoding="utf-8")))
    return changed


def _rewrite(path: Path, text: str) -> list[Path]:
    if text == path.read_text(encoding="utf-8"):
        return []
    path.write_text(text, encoding="utf-8")
    return [path]


# ---------------------------------------------------------------- an nbgrader course


def nbgrader_lesson(notebook, lesson: str):
    """The nbgrader source of a lesson: solution cells, and each checker call, wherever it sits, as a test cell of
    one point that runs the checker strictly (a wrong or missing answer raises, so the autograder gives no point).
    A cell that holds a checker call among other code is split around it. The answer key's cells are left out:
    nbgrader would release them to the students."""
    course = nbformat.from_dict(nbformat.v4.new_notebook())
    course.metadata = {k: v for k, v in notebook.metadata.items() if k not in ("jupytext", "widgets")}
    for index, cell in enumerate(notebook.cells):
        if ANSWER_TAG in cell.metadata.get("tags", []):
            continue
        pieces = _split_at_checks(cell.source) if cell.cell_type == "code" else [(cell.source, None)]
        for part, (source, check) in enumerate(pieces):
            new = nbformat.from_dict(dict(cell))
            new.source = source
            if part:
                new.id = f"{cell.id}-{part}"
            new.metadata = {"tags": cell.metadata["tags"]} if cell.metadata.get("tags") else {}
            if cell.cell_type == "code":
                new.outputs, new.execution_count = [], None
                if check:
                    new.source = f"from minirmt.course import checks\n\nwith checks.strict():\n    {source}"
                    new.metadata["nbgrader"] = _nbgrader(f"{lesson}-{check.group(2)}", grade=True, points=1)
                elif BEGIN in source:
                    new.metadata["nbgrader"] = _nbgrader(f"{lesson}-solution-{index}", solution=True)
            course.cells.append(new)
    return course


def _split_at_checks(source: str) -> list[tuple[str, re.Match | None]]:
    """A code cell's source cut into pieces: each checker call alone (with its match), the code between them."""
    pieces, lines = [], []

    def flush():
        if "\n".join(lines).strip():
            pieces.append(("\n".join(lines).strip("\n"), None))
        lines.clear()

    for line in source.split("\n"):
        check = _CHECK.match(line.rstrip())
        if check:
            flush()
            pieces.append((line.rstrip(), check))
        else:
            lines.append(line)
    flush()
    return pieces or [(source, None)]


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
    parser.add_argument("--links", action="store_true",
                        help="rewrite the lessons' Colab badges and install cells, and the README's lesson links")
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
        try:
            changed = update_links(args.notebooks)
        except ModuleNotFoundError as error:
            print(f"{parser.prog}: {_missing(error)}", file=sys.stderr)
            return 2
        print("links rewritten:", *changed or ["none needed"], sep="\n  ")
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
