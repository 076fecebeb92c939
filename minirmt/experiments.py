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
import platform
import time
from pathlib import Path

import torch
from matplotlib.figure import Figure

from .config import ModelConfig, preset
from .tasks import make_task
from .train import TrainConfig, load_checkpoint, seeded_model, train

MODEL_NAMES = ("rmt", "segment", "full", "xl", "memxl")
TOTAL_LEN = 32  # tokens of every sequence in the sweep, whatever the number of segments
SWEEP_TASKS = {  # task -> sizes (fixed across g), learning rate
    "copy": ({"source_len": 8}, 3e-3),
    "reverse": ({"source_len": 8}, 3e-3),
    "assoc": ({"num_pairs": 4}, 1e-3),
}
SWEEP_SEGMENTS = (1, 2, 4, 8)
STEPS = {False: 1000, True: 60}  # per run: full sweep, --quick


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


def sweep_plan(quick: bool = False, models=MODEL_NAMES, tasks=tuple(SWEEP_TASKS), segments=SWEEP_SEGMENTS):
    """The runs of the sweep, in order: dicts with task, model, segments, segment_len, sizes, TrainConfig."""
    plan = []
    for task_name in tasks:
        sizes, lr = SWEEP_TASKS[task_name]
        for g in segments:
            for model_name in models:
                config = TrainConfig(
                    steps=STEPS[quick], batch_size=32, lr=lr, warmup=min(100, STEPS[quick] // 10),
                    segments=g, eval_every=max(1, STEPS[quick] // 5), eval_batches=8, device="cpu",
                )
                plan.append({"task": task_name, "model": model_name, "segments": g,
                             "segment_len": TOTAL_LEN // g, "sizes": sizes, "config": config})
    return plan


def run_algorithmic(out, quick: bool = False, progress: bool = True, log=print, **select) -> list[dict]:
    """Train every model of the plan in sequence; write `results.json`, `results.md` and `accuracy.png`
    under `out`; return the result rows. `select` narrows the plan (models=, tasks=, segments=)."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    rows, started = [], time.perf_counter()
    for spec in sweep_plan(quick, **select):
        task, model = build(spec["task"], spec["model"], spec["segment_len"], sizes=spec["sizes"])
        result = train(model, task, spec["config"], progress=progress)
        rows.append({
            "task": spec["task"], "model": spec["model"], "segments": spec["segments"],
            "segment_len": spec["segment_len"], "steps": result.step, "train_seconds": round(result.seconds, 2),
            "accuracy": result.metrics["eval_accuracy"], "exact_match": result.metrics["eval_exact_match"],
            "chance": task.chance_accuracy,
        })
        log(f"{spec['task']:8s} g={spec['segments']} {spec['model']:8s} acc {rows[-1]['accuracy']:.3f} "
            f"exact {rows[-1]['exact_match']:.3f} ({result.seconds:.1f} s)")
        if result.interrupted:
            break
    write_results(rows, out, time.perf_counter() - started, quick)
    return rows


def write_results(rows: list[dict], out: Path, seconds: float, quick: bool) -> None:
    """results.json (rows + machine), results.md (a table per task) and accuracy.png."""
    info = {"quick": quick, "total_seconds": round(seconds, 1), "torch": torch.__version__,
            "threads": torch.get_num_threads(), "machine": platform.platform(), "processor": platform.processor(),
            "total_len": TOTAL_LEN, "tasks": {k: v[0] for k, v in SWEEP_TASKS.items()}}
    (out / "results.json").write_text(json.dumps({"info": info, "rows": rows}, indent=1) + "\n")
    (out / "results.md").write_text(markdown_table(rows, info))
    plot_sweep(rows).savefig(out / "accuracy.png", dpi=100)


def markdown_table(rows: list[dict], info: dict) -> str:
    """One table per task: models down, number of segments across, accuracy (exact match) in the cells."""
    lines = [f"# Algorithmic tasks: accuracy vs number of segments (sequence of {TOTAL_LEN} tokens)", "",
             f"Per-token accuracy on answers, exact match of whole answers in brackets; {info['total_seconds']} s "
             f"in all on {info['threads']} threads, torch {info['torch']}.", ""]
    for task_name in dict.fromkeys(r["task"] for r in rows):
        task_rows = [r for r in rows if r["task"] == task_name]
        gs = sorted({r["segments"] for r in task_rows})
        lines += [f"## {task_name} (chance {task_rows[0]['chance']:.3f})", "",
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
        for model_name in dict.fromkeys(r["model"] for r in task_rows):
            points = sorted((r["segments"], r["accuracy"]) for r in task_rows if r["model"] == model_name)
            ax.plot(*zip(*points), marker="o", label=model_name)
        ax.axhline(task_rows[0]["chance"], color="0.5", linestyle="--", linewidth=1, label="chance")
        ax.set_xscale("log", base=2)
        ax.set_xticks(sorted({r["segments"] for r in task_rows}), labels=sorted({r["segments"] for r in task_rows}))
        ax.set(title=task_name, xlabel="segments g", ylim=(-0.02, 1.02))
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("answer accuracy")
    axes[-1].legend(fontsize=8)
    return fig
