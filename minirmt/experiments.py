"""The paper's algorithmic experiments on a CPU budget, and the helpers that build and reload a run.

RMT paper, Sec. 4.1 and Fig. 3: copy, reverse and associative retrieval, where the same task is cut into
more and more segments. RMT keeps solving it; a Transformer-XL fails once the answer lies further back than
its cache reaches; a model without memory is at chance; one segment with full attention is the ceiling.

Here every task is a fixed string of `TOTAL_LEN` tokens (its content does not change with g), cut into
g in {1, 2, 4, 8} segments of n = TOTAL_LEN / g tokens: more segments means the answer sits more segments
after what it repeats.

    run_algorithmic(out="runs/algorithmic")   # -> rows; writes results.json, results.md, figure
"""

import json
import os
import platform
import time
from functools import partial
from multiprocessing import get_context
from pathlib import Path

import torch
from matplotlib.figure import Figure

from . import viz
from .models import MODELS
from .recipes import recipe
from .train import train

TOTAL_LEN = 32  # tokens of every sequence in the sweep, whatever the number of segments
SWEEP_TASKS = {  # task -> sizes (fixed across g), learning rate, optimizer steps per run
    "copy": ({"source_len": 8}, 3e-3, 600),
    "reverse": ({"source_len": 8}, 3e-3, 600),
    "assoc": ({"num_pairs": 2}, 3e-3, 1200),  # 4 pairs: even full attention plateaus within this budget
}
SWEEP_SEGMENTS = (1, 2, 4, 8)
QUICK_STEPS = 40


# ---------------------------------------------------------------- the sweep


def sweep_plan(quick: bool = False, models=tuple(MODELS), tasks=tuple(SWEEP_TASKS), segments=SWEEP_SEGMENTS,
               steps: int | None = None) -> list[dict]:
    """The runs of the sweep, in order: dicts with task, model, segments and the run's recipe.

    steps overrides every run's number of steps (default: the task's, or QUICK_STEPS with quick).
    """
    plan = []
    for task_name in tasks:
        sizes, lr, task_steps = SWEEP_TASKS[task_name]
        n_steps = steps or (QUICK_STEPS if quick else task_steps)
        for g in segments:
            for model_name in models:
                run = recipe(task_name, model_name, segment_len=TOTAL_LEN // g, segments=g, **sizes, steps=n_steps,
                             batch_size=32, lr=lr, warmup=max(1, n_steps // 10), eval_every=max(1, n_steps // 4),
                             eval_batches=8, device="cpu", curriculum="none", stop_accuracy=None, memory_hint=False)
                plan.append({"task": task_name, "model": model_name, "segments": g, "recipe": run})
    return plan


def run_one(spec: dict, progress: bool = False, threads: int | None = None) -> dict:
    """Train one run of the plan; returns its result row (with its evaluation history)."""
    if threads is not None:
        torch.set_num_threads(threads)
    run = spec["recipe"]
    task = run.task
    result = train(run.build_model(), task, run.train_config, progress=progress)
    return {
        "task": spec["task"], "model": spec["model"], "segments": spec["segments"],
        "segment_len": task.segment_len, "steps": result.step, "train_seconds": round(result.seconds, 2),
        "threads": torch.get_num_threads(), "accuracy": result.metrics["eval_accuracy"],
        "exact_match": result.metrics["eval_exact_match"], "chance": task.chance_accuracy,
        "interrupted": result.interrupted,
        "curve": [(r["step"], round(r["eval_accuracy"], 4)) for r in result.history if "eval_accuracy" in r],
    }


def run_algorithmic(out, quick: bool = False, progress: bool = True, jobs: int = 1, log=print,
                    **select) -> list[dict]:
    """Train every run of `sweep_plan(quick, **select)`; write `results.json`, `results.md` and `accuracy.png`
    under `out`; return the result rows. `select` narrows the plan (models=, tasks=, segments=, steps=).

    jobs: runs at once, in separate processes of cores / jobs threads each (1: in sequence, here).
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    plan, rows, started = sweep_plan(quick, **select), [], time.perf_counter()
    if jobs == 1:
        for spec in plan:
            rows.append(run_one(spec, progress))
            log(_summary(rows[-1]))
            if rows[-1]["interrupted"]:
                break
    else:
        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
        threads = max(1, cores // jobs)
        with get_context("spawn").Pool(jobs) as pool:
            for row in pool.imap(partial(run_one, threads=threads), plan):
                rows.append(row)
                log(_summary(row))
    write_results(rows, sweep_info(rows, time.perf_counter() - started, quick, jobs), out)
    return rows


def _summary(row: dict) -> str:
    return (f"{row['task']:8s} g={row['segments']} {row['model']:8s} acc {row['accuracy']:.3f} "
            f"exact {row['exact_match']:.3f} ({row['train_seconds']:.1f} s on {row['threads']} threads)")


def sweep_info(rows: list[dict], seconds: float, quick: bool, jobs: int = 1) -> dict:
    """What the results were measured on and with: machine, torch, threads, times, the sweep's settings."""
    return {"quick": quick, "wall_seconds": round(seconds, 1), "jobs": jobs,
            "train_seconds": round(sum(r["train_seconds"] for r in rows), 1), "threads": rows[0]["threads"],
            "torch": torch.__version__, "machine": platform.platform(), "cpu": cpu_name(), "cpus": os.cpu_count(),
            "total_len": TOTAL_LEN, "tasks": {k: {"sizes": v[0], "lr": v[1]} for k, v in SWEEP_TASKS.items()}}


def cpu_name() -> str:
    """The processor's model name (Linux), else what `platform` knows."""
    cpuinfo = Path("/proc/cpuinfo")
    for line in cpuinfo.read_text().splitlines() if cpuinfo.exists() else []:
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def write_results(rows: list[dict], info: dict, out: Path) -> None:
    """results.json (info + rows), results.md (a table per task) and accuracy.png under `out`."""
    out = Path(out)
    (out / "results.json").write_text(json.dumps({"info": info, "rows": rows}, indent=1) + "\n")
    (out / "results.md").write_text(markdown_table(rows, info))
    plot_sweep(rows).savefig(out / "accuracy.png", dpi=100)


def markdown_table(rows: list[dict], info: dict) -> str:
    """One table per task: models down, number of segments across, accuracy (exact match) in the cells."""
    lines = [f"# Algorithmic tasks: accuracy vs number of segments (sequence of {TOTAL_LEN} tokens)", "",
             "Per-token accuracy on answers, exact match of whole answers in brackets. Training took "
             f"{info['train_seconds']} s in all ({info['threads']} threads per run, {info['jobs']} runs at once, "
             f"{info['wall_seconds']} s of wall-clock time) on {info['cpu']}, torch {info['torch']}."
             + (f" {info['note']}" if info.get("note") else ""), ""]
    for task_name in dict.fromkeys(r["task"] for r in rows):
        task_rows = [r for r in rows if r["task"] == task_name]
        gs = sorted({r["segments"] for r in task_rows})
        sizes = ", ".join(f"{k} {v}" for k, v in info["tasks"][task_name]["sizes"].items())
        lines += [f"## {task_name} ({sizes}; {task_rows[0]['steps']} steps per run; chance "
                  f"{task_rows[0]['chance']:.3f})", "",
                  "| model | " + " | ".join(f"g={g} (n={TOTAL_LEN // g})" for g in gs) + " |",
                  "|---" * (len(gs) + 1) + "|"]
        for model_name in dict.fromkeys(r["model"] for r in task_rows):
            cells = {r["segments"]: f"{r['accuracy']:.3f} ({r['exact_match']:.2f})"
                     for r in task_rows if r["model"] == model_name}
            lines.append(f"| {model_name} | " + " | ".join(cells.get(g, "-") for g in gs) + " |")
        lines.append("")
    return "\n".join(lines)


def plot_sweep(rows: list[dict]) -> Figure:
    """Accuracy against the number of segments, one line per model, one panel per task."""
    panels = {}
    for r in rows:
        panels.setdefault(r["task"], {}).setdefault(r["model"], {})[r["segments"]] = r["accuracy"]
    return viz.plot_accuracy_panels(panels, chance={r["task"]: r["chance"] for r in rows})
