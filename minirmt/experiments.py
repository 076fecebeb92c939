"""The paper's algorithmic experiments on a CPU budget, and the helpers that build and reload a run.

RMT paper, Sec. 4.1 and Fig. 3: copy, reverse and associative retrieval, where the same task is cut into
more and more segments. RMT keeps solving it; a Transformer-XL fails once the answer lies further back than
its cache reaches; a model without memory is at chance; one segment with full attention is the ceiling.

Here every task is a fixed string of `TOTAL_LEN` tokens (its content does not change with g), cut into
g in {1, 2, 4, 8} segments of n = TOTAL_LEN / g tokens: more segments means the answer sits more segments
after what it repeats.

    run_algorithmic(out="bench/results/algorithmic")   # -> rows; writes results.json, results.md, figure
"""

import dataclasses
import json
import os
import platform
import time
from functools import partial
from multiprocessing import get_context
from pathlib import Path

import torch
from matplotlib.figure import Figure

from .config import ModelConfig, preset
from .tasks import make_task
from .train import TrainConfig, load_checkpoint, seeded_model, train

MODEL_NAMES = ("rmt", "segment", "full", "xl", "memxl")
TOTAL_LEN = 32  # tokens of every sequence in the sweep, whatever the number of segments
SWEEP_TASKS = {  # task -> sizes (fixed across g), learning rate, optimizer steps per run
    "copy": ({"source_len": 8}, 3e-3, 600),
    "reverse": ({"source_len": 8}, 3e-3, 600),
    "assoc": ({"num_pairs": 2}, 3e-3, 1200),  # 4 pairs: even full attention plateaus within this budget
}
SWEEP_SEGMENTS = (1, 2, 4, 8)
QUICK_STEPS = 40
MARKERS = "osD^v"  # --quick: checks the pipeline, not the paper


# ---------------------------------------------------------------- one run


def build(task_name: str, model_name: str, segment_len: int, seed: int = 0, sizes: dict | None = None,
          **model_sizes):
    """The task and a freshly initialised model for it: the "lab" preset (d 64, 2 layers, 4 heads, m 8)
    with the task's vocabulary and segment length, and any of ModelConfig's fields in `model_sizes`.

    Returns `(task, model)`; the model's weights are drawn from `seed`.
    """
    task = make_task(task_name, segment_len, **(sizes or {}))
    cfg = preset("lab", vocab_size=task.vocab_size, segment_len=segment_len, **model_sizes)
    return task, seeded_model(model_name, cfg, seed)


def run_meta(task, model_name: str) -> dict:
    """What a checkpoint needs to rebuild its task and model: names and sizes."""
    sizes = {k: v for k, v in dataclasses.asdict(task).items() if k != "segment_len"}
    return {"task": task.name, "task_sizes": sizes, "segment_len": task.segment_len, "model": model_name}


def load_run(path, device="cpu"):
    """Rebuild `(model, task, checkpoint)` from a checkpoint written by `train(..., meta=run_meta(...))`."""
    state = load_checkpoint(path)
    meta = state.get("meta", {})
    if "model" not in meta or state.get("model_config") is None:
        raise ValueError(f"{path}: not a task checkpoint (no model name or config in it)")
    from . import build_model

    task = make_task(meta["task"], meta["segment_len"], **meta["task_sizes"])
    model = build_model(meta["model"], ModelConfig(**state["model_config"]))
    model.load_state_dict(state["model"])
    return model.to(device).eval(), task, state


# ---------------------------------------------------------------- the sweep


def sweep_plan(quick: bool = False, models=MODEL_NAMES, tasks=tuple(SWEEP_TASKS), segments=SWEEP_SEGMENTS,
               steps: int | None = None) -> list[dict]:
    """The runs of the sweep, in order: dicts with task, model, segments, segment_len, sizes, TrainConfig.

    steps overrides every run's number of steps (default: the task's, or QUICK_STEPS with quick).
    """
    plan = []
    for task_name in tasks:
        sizes, lr, task_steps = SWEEP_TASKS[task_name]
        n_steps = steps or (QUICK_STEPS if quick else task_steps)
        for g in segments:
            for model_name in models:
                config = TrainConfig(
                    steps=n_steps, batch_size=32, lr=lr, warmup=max(1, n_steps // 10), segments=g,
                    eval_every=max(1, n_steps // 4), eval_batches=8, device="cpu",
                )
                plan.append({"task": task_name, "model": model_name, "segments": g,
                             "segment_len": TOTAL_LEN // g, "sizes": sizes, "config": config})
    return plan


def run_one(spec: dict, progress: bool = False, threads: int | None = None) -> dict:
    """Train one run of the plan; returns its result row (with its evaluation history)."""
    if threads is not None:
        torch.set_num_threads(threads)
    task, model = build(spec["task"], spec["model"], spec["segment_len"], sizes=spec["sizes"])
    result = train(model, task, spec["config"], progress=progress)
    return {
        "task": spec["task"], "model": spec["model"], "segments": spec["segments"],
        "segment_len": spec["segment_len"], "steps": result.step, "train_seconds": round(result.seconds, 2),
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
    tasks = list(dict.fromkeys(r["task"] for r in rows))
    fig = Figure(figsize=(3.6 * len(tasks), 3.2), layout="constrained")
    axes = fig.subplots(1, len(tasks), squeeze=False, sharey=True)[0]
    for ax, task_name in zip(axes, tasks):
        task_rows = [r for r in rows if r["task"] == task_name]
        names = list(dict.fromkeys(r["model"] for r in task_rows))
        for i, model_name in enumerate(names):
            points = sorted((r["segments"], r["accuracy"]) for r in task_rows if r["model"] == model_name)
            dodge = 2 ** (0.06 * (i - (len(names) - 1) / 2))  # side by side, so equal results stay visible
            ax.plot([g * dodge for g, _ in points], [a for _, a in points], marker=MARKERS[i % len(MARKERS)],
                    label=model_name)
        ax.axhline(task_rows[0]["chance"], color="0.5", linestyle="--", linewidth=1, label="chance")
        ax.set_xscale("log", base=2)
        ax.set_xticks(sorted({r["segments"] for r in task_rows}), labels=sorted({r["segments"] for r in task_rows}))
        ax.set(title=task_name, xlabel="segments g", ylim=(-0.02, 1.02))
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("answer accuracy")
    axes[-1].legend(fontsize=8)
    return fig
