#!/usr/bin/env bash
# Execute one notebook top to bottom in `full` mode (on the GPU), on a machine with no network and no Jupyter:
# the Jupyter packages (nbclient, nbformat, ipykernel and their dependencies) are installed from wheels in
# $WHEELS (default .carry/nbwheels; fetch them beforehand with
#   pip download --dest .carry/nbwheels --python-version 3.12 --only-binary=:all: \
#       --platform manylinux_2_28_x86_64 nbclient nbformat ipykernel ipywidgets
# for the GPU machine's Python) into a temporary folder, so the machine's own torch runs the notebook.
#
#   OUT=/some/folder MINIRMT_CORPUS=pg-books MINIRMT_DATA=.carry/data MINIRMT_TIME_BUDGET=60 \
#       bash notebooks/tools/notebook_full.sh notebooks/08_wikitext_on_a_gpu.ipynb
# writes $OUT/<name>-full.ipynb (executed, with its outputs) and prints each cell's seconds.
set -euo pipefail
cd "$(dirname "$0")/../.."
NOTEBOOK=${1:?usage: notebooks/tools/notebook_full.sh NOTEBOOK.ipynb}
OUT=${OUT:-runs/notebook_full}
WHEELS=${WHEELS:-.carry/nbwheels}
PYTHON=${PYTHON:-python3}
SITE=$(mktemp -d)
mkdir -p "$OUT"
"$PYTHON" -m pip install --quiet --no-index --no-deps --target "$SITE" "$WHEELS"/*.whl
export PYTHONPATH="$PWD:$SITE${PYTHONPATH:+:$PYTHONPATH}" MINIRMT_MODE=full PYTHONUNBUFFERED=1
"$PYTHON" - "$NOTEBOOK" "$OUT" <<'PY'
import sys, time
from pathlib import Path
import nbformat
from nbclient import NotebookClient

source, out = Path(sys.argv[1]), Path(sys.argv[2])
notebook = nbformat.read(source, as_version=4)
client = NotebookClient(notebook, timeout=1800, kernel_name="python3", resources={"metadata": {"path": "notebooks"}})
started = time.perf_counter()
try:
    with client.setup_kernel():
        for index, cell in enumerate(notebook.cells):
            begin = time.perf_counter()
            client.execute_cell(cell, index)
            if cell.cell_type == "code":
                print(f"cell {index:>3}: {time.perf_counter() - begin:7.1f} s", flush=True)
finally:
    target = out / f"{source.stem}-full.ipynb"
    nbformat.write(notebook, target)
    print(f"wrote {target} after {time.perf_counter() - started:.0f} s")
PY
rm -rf "$SITE"
