"""How long each notebook takes to run top to bottom in a fresh kernel, in `ci` or `lab` mode, on a quiet
machine and on a crowded one (the crowded-lab benchmark).

The budgets (notebooks/README.md): every notebook in `ci` mode together <= 15 minutes on a 2-core machine; in
`lab` mode each notebook <= 2 minutes on a quiet machine and <= 3 minutes on a crowded one, all ten <= 10
minutes crowded. `--crowded` runs them while two other CPU-bound jobs occupy the cores (started and stopped here:
a lab server that other kernels share). The notebooks are executed with nbconvert, one after another, into a
temporary folder (the committed outputs are left alone) or, with `--inplace`, in place (re-making the committed
outputs, as `make notebooks` does), with the learner's own settings (no thread variables), and the wall-clock
seconds of each are written with the machine's load average before and after.

    python notebooks/tools/notebook_times.py --mode ci              # writes notebooks/tools/times/ci.json
    python notebooks/tools/notebook_times.py --mode lab 04 05       # some lessons only
    python notebooks/tools/notebook_times.py --mode lab --inplace   # re-make the committed outputs, timed
    python notebooks/tools/notebook_times.py --mode lab --crowded   # writes times/lab-crowded.json
    python notebooks/tools/notebook_times.py --readme               # the run-time table of notebooks/README.md
"""

import argparse
import contextlib
import json
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

BUDGET_S = {"ci": 15 * 60, "lab": 2 * 60, "lab-crowded": 3 * 60}  # ci: all notebooks together; lab: each
CROWDED_TOTAL_S = 10 * 60  # lab, crowded: all ten together
TIMES = ROOT / "notebooks" / "tools" / "times"
README = ROOT / "notebooks" / "README.md"
TABLE_START, TABLE_END = "<!-- run-times: made by notebook_times.py --readme -->", "<!-- run-times end -->"
# minutes a learner spends reading and doing the exercises (machine time aside): an estimate, from the student reads
LEARNER_MINUTES = {"00": 15, "01": 40, "02": 45, "03": 35, "04": 45, "05": 40, "06": 40, "07": 35, "08": 45, "09": 35}


def run_notebook(path: Path, mode: str, out_dir: Path | None) -> dict:
    """Execute one notebook in a fresh kernel (into `out_dir`, or in place when it is None); its wall-clock
    seconds and whether it ran without error."""
    env = {key: value for key, value in os.environ.items() if not key.startswith(("OMP_", "MKL_"))}
    env["MINIRMT_MODE"] = mode
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


def run_all(notebooks: list[Path], mode: str, inplace: bool) -> list[dict]:
    """Run the notebooks one after another; a row per notebook, printed as it finishes."""
    rows = []
    with tempfile.TemporaryDirectory() as out_dir:
        for path in notebooks:
            rows.append(run_notebook(path, mode, None if inplace else Path(out_dir)))
            row = rows[-1]
            print(f"{row['notebook']:<40} {row['seconds']:7.1f} s  {'ok' if row['ok'] else 'FAILED'}  "
                  f"load {row['load_before']} -> {row['load_after']}", flush=True)
    return rows


def budget_met(rows: list[dict], kind: str) -> bool:
    """ci: all together within the budget; lab: each; lab, crowded: each, and all ten within CROWDED_TOTAL_S."""
    total = sum(r["seconds"] for r in rows)
    if kind == "ci":
        return total <= BUDGET_S["ci"]
    each = all(r["seconds"] <= BUDGET_S[kind] for r in rows)
    return each and (kind != "lab-crowded" or total <= CROWDED_TOTAL_S)


def readme_table() -> str:
    """The run-time table of notebooks/README.md, from times/lab.json and times/lab-crowded.json."""
    quiet, crowded = (json.loads((TIMES / f"{kind}.json").read_text()) for kind in ("lab", "lab-crowded"))
    seconds = {kind: {r["notebook"][:2]: r["seconds"] for r in run["notebooks"]}
               for kind, run in (("quiet", quiet), ("crowded", crowded))}
    lines = [TABLE_START,
             "| notebook | quiet machine | crowded machine (2 other busy jobs) | a learner's time (reading, exercises) |",
             "|---|---|---|---|"]
    for path in sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb")):
        lesson = path.name[:2]
        lines.append(f"| {path.stem} | {seconds['quiet'].get(lesson, '-')} s | {seconds['crowded'].get(lesson, '-')} s"
                     f" | about {LEARNER_MINUTES[lesson]} min |")
    total = {kind: round(sum(by.values())) for kind, by in seconds.items()}
    lines += [f"| **all** | **{total['quiet']} s** | **{total['crowded']} s** | about "
              f"{sum(LEARNER_MINUTES.values()) / 60:.0f} h |", "",
              f"Measured {quiet['environment']['time'][:10]} on {quiet['environment']['device']}, torch "
              f"{quiet['environment']['torch']}. Goals: each notebook <= {BUDGET_S['lab'] // 60} minutes quiet "
              f"({'met' if budget_met(quiet['notebooks'], 'lab') else 'missed'}) and <= "
              f"{BUDGET_S['lab-crowded'] // 60} minutes crowded, all ten <= {CROWDED_TOTAL_S // 60} minutes crowded "
              f"({'met' if budget_met(crowded['notebooks'], 'lab-crowded') else 'missed'}).", TABLE_END]
    return "\n".join(lines)


def write_readme_table() -> None:
    text = README.read_text()
    start, end = text.index(TABLE_START), text.index(TABLE_END) + len(TABLE_END)
    README.write_text(text[:start] + readme_table() + text[end:])


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mode", choices=("ci", "lab"), default="ci")
    parser.add_argument("lessons", nargs="*", help="two-digit prefixes, e.g. 04 05 (default: every notebook)")
    parser.add_argument("--inplace", action="store_true", help="execute in place: re-make the committed outputs")
    parser.add_argument("--crowded", action="store_true", help="while two other CPU-bound jobs share the machine")
    parser.add_argument("--readme", action="store_true", help="write the run-time table into notebooks/README.md")
    parser.add_argument("--out", help="JSON path (default notebooks/tools/times/MODE[-crowded].json)")
    args = parser.parse_args(argv)
    if args.readme:
        write_readme_table()
        print("wrote the run-time table of", README)
        return
    notebooks = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
    if args.lessons:
        notebooks = [p for p in notebooks if p.name[:2] in args.lessons]
    if not notebooks:
        parser.error(f"no notebook matches {args.lessons}")
    kind = f"{args.mode}-crowded" if args.crowded else args.mode
    with harness.crowded(2) if args.crowded else contextlib.nullcontext():
        rows = run_all(notebooks, args.mode, args.inplace)
    total, within = sum(r["seconds"] for r in rows), budget_met(rows, kind)
    print(f"total {total:.0f} s; budget {BUDGET_S[kind]} s {'all together' if kind == 'ci' else 'each'}: "
          f"{'met' if within else 'MISSED'}")
    payload = {"benchmark": "notebook_times", "mode": args.mode, "crowded": args.crowded, "inplace": args.inplace,
               "environment": harness.environment("cpu"), "cpu_count": os.cpu_count(), "budget_s": BUDGET_S[kind],
               "total_s": round(total, 1), "within_budget": within, "notebooks": rows}
    out = Path(args.out) if args.out else TIMES / f"{kind}.json"
    print("wrote", harness.write_json(out, payload))
    if not all(r["ok"] for r in rows):
        sys.exit(1)


if __name__ == "__main__":
    main()
