"""Learner copies of the notebooks: `python -m minirmt.exercises [--check]`.

For every notebook `notebooks/NN_name.ipynb` with exercises, writes `notebooks/exercises/NN_name.ipynb` in which

- each region between `### BEGIN SOLUTION` and `### END SOLUTION` (nbgrader style) becomes
  `raise NotImplementedError("exercise: ...")` at the region's indentation; the checker in the next cell then
  prints "not attempted" and hands back the library's version, so the copy still runs top to bottom;
- outputs, execution counts and run metadata are cleared, and `nbval-check-output` tags are dropped (there
  is no saved output left to compare);
- the jupytext pairing is removed (the copy has no `.py` twin).

`--check` writes nothing and exits with status 1 if a copy is missing, stale or has no source notebook.
Name lessons (`python -m minirmt.exercises 05`, or a path) to handle only those.
"""

import argparse
import re
import sys
from pathlib import Path

import nbformat

BEGIN, END = "### BEGIN SOLUTION", "### END SOLUTION"
CHECKED_TAG = "nbval-check-output"
NOTEBOOKS = Path("notebooks")  # the notebooks folder of the checkout this runs in
_DEF = re.compile(r"^\s*def\s+(\w+)\s*\(")


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


def exercise_copy(notebook):
    """The learner copy of a notebook (a new object; the input is not changed)."""
    copy = nbformat.from_dict(nbformat.v4.new_notebook())
    copy.metadata = {k: v for k, v in notebook.metadata.items() if k not in ("jupytext", "widgets")}
    copy.nbformat, copy.nbformat_minor = notebook.nbformat, notebook.nbformat_minor
    for cell in notebook.cells:
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
    return copy


def render(notebook) -> str:
    """The file text of a notebook, as Jupyter writes it."""
    return nbformat.writes(notebook) + "\n"


def plan(notebooks_dir: Path = NOTEBOOKS, only: tuple[str, ...] = ()) -> dict[Path, str | None]:
    """`{exercise path: text}` for every notebook with exercises; None for a stale copy to delete.

    only: lesson names or prefixes ("05", "05_inside_the_memory", a path); empty means every lesson.
    """
    out_dir = notebooks_dir / "exercises"
    prefixes = tuple(Path(name).stem for name in only)
    wanted = {}
    for path in sorted(notebooks_dir.glob("[0-9][0-9]_*.ipynb")):
        if prefixes and not path.stem.startswith(prefixes):
            continue
        notebook = nbformat.read(path, as_version=4)
        if has_solutions(notebook):
            try:
                wanted[out_dir / path.name] = render(exercise_copy(notebook))
            except ValueError as error:
                raise ValueError(f"{path}: {error}") from error
    for existing in sorted(out_dir.glob("*.ipynb")):
        if not prefixes or existing.stem.startswith(prefixes):
            wanted.setdefault(existing, None)
    return wanted


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m minirmt.exercises", description=__doc__.split("\n")[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if notebooks/exercises/ is not current")
    parser.add_argument("--notebooks", type=Path, default=NOTEBOOKS, help="the notebooks folder")
    parser.add_argument("only", nargs="*", help="lessons to handle, e.g. 05 or notebooks/05_inside_the_memory.py")
    args = parser.parse_args(argv)
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
        print("exercise copies are not current; run `python -m minirmt.exercises`:", *problems, sep="\n  ")
        return 1
    print("updated:", *problems, sep="\n  ")
    return 0


if __name__ == "__main__":
    sys.exit(main())
