"""Which committed notebooks ran against the library as it is now (`minirmt.course.nb.library_sha256`).

    python notebooks/tools/current.py                       # list the stale ones; exit 1 if there are any
    python notebooks/tools/current.py --stamp notebooks/05_inside_the_memory.ipynb   # after executing it

`make notebooks` (and `notebook_times.py --inplace`) stamp each notebook they execute; `make notebooks-current`
runs the listing.
"""

import argparse
import json
import sys
from pathlib import Path

from minirmt.course.nb import library_sha256

NOTEBOOKS = Path(__file__).resolve().parents[1]


def recorded(path: Path) -> str | None:
    """The library fingerprint a notebook's metadata records (None: never stamped)."""
    return json.loads(path.read_text()).get("metadata", {}).get("minirmt", {}).get("library_sha256")


def stamp(path: Path, fingerprint: str) -> None:
    """Record `fingerprint` in the notebook's metadata, leaving every other byte as nbconvert wrote it."""
    notebook = json.loads(path.read_text())
    notebook.setdefault("metadata", {}).setdefault("minirmt", {})["library_sha256"] = fingerprint
    path.write_text(json.dumps(notebook, indent=1, ensure_ascii=False) + "\n")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--stamp", nargs="+", type=Path, metavar="NOTEBOOK", help="record the library now in these")
    args = p.parse_args(argv)
    now = library_sha256()
    if args.stamp:
        for path in args.stamp:
            stamp(path, now)
        return 0
    stale = [path for path in sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb")) if recorded(path) != now]
    for path in stale:
        print(f"{path.name}: ran against {recorded(path) or 'an unrecorded library'}, the library is now {now[:12]}")
    print(f"{len(stale)} stale notebook(s)" if stale else f"every notebook is current ({now[:12]})")
    return 1 if stale else 0


if __name__ == "__main__":
    sys.exit(main())
