"""How long each notebook takes to run top to bottom in a fresh kernel, in `ci` or `lab` mode.

The budgets (notebooks/README.md): every notebook in `ci` mode together <= 15 minutes on a 2-core machine,
each notebook in `lab` mode <= 2 minutes. The notebooks are executed with nbconvert, one after another, into a
temporary folder (the committed outputs are left alone) or, with `--inplace`, in place (re-making the committed
outputs, as `make notebooks` does), and the wall-clock seconds of each are written
with the machine's load average before and after, since another job on the machine slows them down.

    python notebooks/tools/notebook_times.py --mode ci             # writes notebooks/tools/times/ci.json
    python notebooks/tools/notebook_times.py --mode lab 04 05      # some lessons only
    python notebooks/tools/notebook_times.py --mode lab --inplace  # re-make the committed outputs, timed
"""

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(ROOT / "bench"), str(ROOT / "notebooks" / "tools")]

import harness  # noqa: E402
from current import stamp  # noqa: E402

from minirmt.course.nb import library_sha256  # noqa: E402

BUDGET_S = {"ci": 15 * 60, "lab": 2 * 60}  # ci: all notebooks together; lab: each notebook


def run_notebook(path: Path, mode: str, out_dir: Path | None) -> dict:
    """Execute one notebook in a fresh kernel (into `out_dir`, or in place when it is None); its wall-clock
    seconds and whether it ran without error."""
    env = {**os.environ, "MINIRMT_MODE": mode, "OMP_WAIT_POLICY": "PASSIVE"}
    load = os.getloadavg()[0]
    started = time.perf_counter()
    where = ["--inplace", "--ExecutePreprocessor.store_widget_state=False"] if out_dir is None else \
        ["--output-dir", str(out_dir)]
    done = subprocess.run(
        [sys.executable, "-m", "jupyter", "nbconvert", "--to", "notebook", "--execute",
         "--ExecutePreprocessor.timeout=900", *where, str(path)],
        env=env, capture_output=True, text=True,
    )
    seconds = time.perf_counter() - started
    if out_dir is None and done.returncode == 0:  # the committed outputs now come from the library as it is
        stamp(path, library_sha256())
    return {"notebook": path.name, "seconds": round(seconds, 1), "ok": done.returncode == 0,
            "load_before": round(load, 2), "load_after": round(os.getloadavg()[0], 2),
            "error": None if done.returncode == 0 else done.stderr[-2000:]}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mode", choices=tuple(BUDGET_S), default="ci")
    parser.add_argument("lessons", nargs="*", help="two-digit prefixes, e.g. 04 05 (default: every notebook)")
    parser.add_argument("--inplace", action="store_true", help="execute in place: re-make the committed outputs")
    parser.add_argument("--out", help="JSON path (default notebooks/tools/times/MODE.json)")
    args = parser.parse_args(argv)
    notebooks = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
    if args.lessons:
        notebooks = [p for p in notebooks if p.name[:2] in args.lessons]
    if not notebooks:
        parser.error(f"no notebook matches {args.lessons}")
    rows = []
    with tempfile.TemporaryDirectory() as out_dir:
        for path in notebooks:
            rows.append(run_notebook(path, args.mode, None if args.inplace else Path(out_dir)))
            row = rows[-1]
            print(f"{row['notebook']:<40} {row['seconds']:7.1f} s  {'ok' if row['ok'] else 'FAILED'}  "
                  f"load {row['load_before']} -> {row['load_after']}", flush=True)
    total = sum(r["seconds"] for r in rows)
    budget = BUDGET_S[args.mode]
    within = total <= budget if args.mode == "ci" else all(r["seconds"] <= budget for r in rows)
    what = "all together" if args.mode == "ci" else "each"
    print(f"total {total:.0f} s; budget {budget} s {what}: {'met' if within else 'MISSED'}")
    payload = {"benchmark": "notebook_times", "mode": args.mode, "inplace": args.inplace,
               "environment": harness.environment("cpu"), "cpu_count": os.cpu_count(), "budget_s": budget,
               "budget_applies_to": what,
               "total_s": round(total, 1), "within_budget": within, "notebooks": rows}
    out = Path(args.out) if args.out else ROOT / "notebooks" / "tools" / "times" / f"{args.mode}.json"
    print("wrote", harness.write_json(out, payload))
    if not all(r["ok"] for r in rows):
        sys.exit(1)


if __name__ == "__main__":
    main()
