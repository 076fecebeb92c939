"""The paper's algorithmic experiment (RMT paper, Sec. 4 and 5, Fig. 3): copy, reverse and associative retrieval
on the paper's layouts (tasks/paper.py), cut into more and more segments, for the RMT, Transformer-XL (cache =
memory = one segment, as in the paper) and a model without memory, over several seeds.

    run_paper("runs/paper", seeds=(0, 1, 2))      # -> rows; writes rows.jsonl, results.json, results.md, figure

Each finished run is appended to `rows.jsonl` at once, keyed by every setting it ran with (`run_key`), and a run
already there is not run again: a long sweep that stops can be started again and goes on, while a sweep with other
settings runs its own rows. The results are made from the rows of the plan asked for. The authors' numbers
(PAPER_RESULTS) are set beside ours.
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

from minirmt import viz
from minirmt.data.tasks import PAPER_SEGMENTS

from .recipes import recipe
from .run_folder import settings_key
from .task_loop import train

MODELS = ("rmt", "xl", "segment")  # the paper's RMT, Transformer-XL and no-memory baseline
LABELS = {"rmt": "RMT", "xl": "Transformer-XL", "segment": "no memory"}
# The authors' test accuracy, the range over their seeds (booydar/LM-RMT, experiment_results/short_synthetic+MT.csv;
# RMT paper, Fig. 3): {task: {model: {g: (lowest, highest)}}}. Their "3" and "4" segments of retrieval were 2
# segments of 5 and 3 of 4, 4, 2 (torch.chunk); the RMT and the baseline at 1 segment are the same model.
PAPER_RESULTS = {
    "copy": {"segment": {1: (1.0, 1.0), 3: (0.12, 0.12), 6: (0.10, 0.10), 9: (0.10, 0.10)},
             "xl": {3: (0.83, 1.0), 6: (0.30, 1.0), 9: (0.19, 0.45)},
             "rmt": {3: (1.0, 1.0), 6: (1.0, 1.0), 9: (1.0, 1.0)}},
    "reverse": {"segment": {1: (1.0, 1.0), 2: (0.10, 0.10), 4: (0.10, 0.10), 6: (0.10, 0.10)},
                "xl": {2: (0.39, 1.0), 4: (0.78, 0.88), 6: (0.63, 0.70)},
                "rmt": {2: (1.0, 1.0), 4: (1.0, 1.0), 6: (0.70, 1.0)}},
    "assoc": {"segment": {1: (1.0, 1.0), 2: (0.50, 0.50), 3: (0.50, 0.50), 4: (0.10, 0.10), 5: (0.10, 0.10)},
              "xl": {1: (1.0, 1.0), 2: (1.0, 1.0), 3: (1.0, 1.0), 4: (0.67, 0.97), 5: (0.97, 1.0)},
              "rmt": {1: (0.96, 1.0), 2: (0.96, 1.0), 3: (1.0, 1.0), 4: (0.99, 1.0), 5: (0.92, 0.99)}},
}
TASK_LABELS = {"copy": "copy (24 digits, twice)", "reverse": "reverse (24 digits)", "assoc": "retrieval (4 pairs)"}


def paper_plan(seeds=(0, 1, 2), tasks=tuple(PAPER_SEGMENTS), models=MODELS, segments=None, **settings) -> list[dict]:
    """The runs of the sweep, seed by seed (a sweep cut short has every setting with fewer seeds): {task, g,
    model, seed, settings}; `settings` are laid over the recipe (recipes.PAPER_RECIPE), `segments` keeps only
    those counts."""
    return [{"task": task, "g": g, "model": model, "seed": seed, "settings": dict(settings)}
            for seed in seeds for task in tasks for g in PAPER_SEGMENTS[task] if segments is None or g in segments
            for model in models]


def spec_recipe(spec: dict):
    """The recipe of one run of the plan."""
    return recipe(spec["task"], spec["model"], layout="paper", segments=spec["g"], seed=spec["seed"],
                  **spec["settings"])


def run_key(spec: dict, r=None) -> str:
    """The key of a run: its task, g, model and every setting of its model and training (seed, steps, batch size,
    learning rate, device, ...), so that a row is reused only for the very run it came from."""
    r = r or spec_recipe(spec)
    return settings_key(spec["task"], spec["g"], spec["model"], r.model_config.to_dict(), r.train_config.to_dict())


def run_one(spec: dict, threads: int = 1) -> dict:
    """Train one run of the plan; its result row (the final evaluation, teacher-forced and written out)."""
    torch.set_num_threads(threads)
    r = spec_recipe(spec)
    result = train(r.build_model(), r.task, r.train_config, progress=False)
    m = result.metrics
    return {"key": run_key(spec, r), "task": spec["task"], "g": spec["g"], "model": spec["model"], "seed": spec["seed"],
            "segment_len": r.task.segment_len, "memory": r.model_config.num_mem_tokens, "steps": result.step,
            "batch_size": r.train_config.batch_size, "train_seconds": round(result.seconds, 1),
            "accuracy": m["eval_accuracy"], "free_accuracy": m["eval_free_accuracy"],
            "exact_match": m["eval_exact_match"], "chance": r.task.chance_accuracy, "device": r.train_config.device}


def run_paper(out, jobs: int = 1, log=print, **plan) -> list[dict]:
    """Every run of `paper_plan(**plan)` not yet in `out/rows.jsonl` (`run_key`), `jobs` at a time (separate
    processes); then results.json, results.md and accuracy.png under `out` from the plan's rows. Returns them."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    keys = {run_key(spec): spec for spec in paper_plan(**plan)}
    done = {r.get("key") for r in read_rows(out)}
    todo = [spec for key, spec in keys.items() if key not in done]
    started = time.perf_counter()
    with open(out / "rows.jsonl", "a") as rows_file:
        for row in _map(run_one, todo, jobs):
            rows_file.write(json.dumps(row) + "\n")
            rows_file.flush()
            log(f"{row['task']:8s} g={row['g']} {row['model']:8s} seed {row['seed']}: accuracy {row['accuracy']:.3f}, "
                f"written out {row['free_accuracy']:.3f} ({row['train_seconds']:.0f} s)")
    rows = [r for r in read_rows(out) if r.get("key") in keys]
    info = {"wall_seconds": round(time.perf_counter() - started, 1), "jobs": jobs, "torch": torch.__version__,
            "machine": platform.platform(), "cpu": cpu_name(), "cpus": os.cpu_count(), "plan": plan,
            "gpu": torch.cuda.get_device_name() if any(r["device"] == "cuda" for r in rows) else None}
    write_results(rows, info, out)
    return rows


def _map(fn, specs, jobs):
    if jobs == 1:
        yield from map(fn, specs)
        return
    threads = max(1, (len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 1) // jobs)
    with get_context("spawn").Pool(jobs) as pool:
        yield from pool.imap_unordered(partial(fn, threads=threads), specs)


def read_rows(out) -> list[dict]:
    """The rows of `out/rows.jsonl` (none if it does not exist)."""
    path = Path(out) / "rows.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()] if path.exists() else []


def cpu_name() -> str:
    """The processor's model name (Linux), else what `platform` knows."""
    cpuinfo = Path("/proc/cpuinfo")
    for line in cpuinfo.read_text().splitlines() if cpuinfo.exists() else []:
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


# ---------------------------------------------------------------- the table and the figure


def summarize(rows: list[dict], metric: str = "free_accuracy") -> dict:
    """{task: {model: {g: (mean, lowest, highest, seeds)}}} of `metric` over the seeds of each setting."""
    table = {}
    for r in rows:
        table.setdefault(r["task"], {}).setdefault(r["model"], {}).setdefault(r["g"], []).append(r[metric])
    return {task: {model: {g: (sum(v) / len(v), min(v), max(v), len(v)) for g, v in sorted(by_g.items())}
                   for model, by_g in models.items()} for task, models in table.items()}


def markdown_table(rows: list[dict], info: dict) -> str:
    """One table per task: models down, segments across; ours (mean, range over seeds) beside the paper's."""
    ours = summarize(rows)
    steps = sorted({r["steps"] for r in rows})
    batches = sorted({r["batch_size"] for r in rows})
    seeds = len({r["seed"] for r in rows})
    lines = ["# The paper's algorithmic tasks on the paper's layouts: answer accuracy against the number of segments",
             "", f"Answers written out (free-running: each answer the model gives is fed back), mean over seeds and, "
             f"in brackets, the lowest and highest; beside it the authors' range. {seeds} seeds, "
             f"{'/'.join(map(str, steps))} steps of {'/'.join(map(str, batches))} sequences per run (the authors "
             f"trained 250k-1M steps), memory = cache = one "
             f"segment, lab-size models (d 64, 2 layers). Measured on {info.get('gpu') or info.get('cpu', '?')} "
             f"({info.get('jobs', 1)} runs at once), torch {info.get('torch', '?')}.", ""]
    for task, models in ours.items():
        gs = sorted({g for by_g in models.values() for g in by_g})
        lines += [f"## {TASK_LABELS.get(task, task)}", "", "| model | " + " | ".join(f"g = {g}" for g in gs) + " |",
                  "|---" * (len(gs) + 1) + "|"]
        for model in MODELS:
            if model not in models:
                continue
            cells = []
            for g in gs:
                mean, low, high, seeds = models[model].get(g, (None,) * 4)
                paper = PAPER_RESULTS.get(task, {}).get(model, {}).get(g)
                mine = "-" if mean is None else f"{mean:.2f} ({low:.2f}-{high:.2f})"
                cells.append(mine + ("" if paper is None else f"; paper {paper[0]:.2f}-{paper[1]:.2f}"))
            lines.append(f"| {LABELS[model]} | " + " | ".join(cells) + " |")
        lines.append("")
    return "\n".join(lines)


def plot_paper(rows: list[dict]) -> Figure:
    """Ours (mean and range over seeds: lines and bands) beside the authors' ranges (thick bars, same colours)."""
    ours = summarize(rows)
    models = [m for m in MODELS if any(m in by_model for by_model in ours.values())]
    panels = {TASK_LABELS[t]: {LABELS[m]: {g: by_model[m][g][:3] for g in by_model[m]} for m in models if m in by_model}
              for t, by_model in ours.items()}
    chance = {TASK_LABELS[r["task"]]: r["chance"] for r in rows}
    fig = viz.plot_accuracy_panels(panels, chance=chance, log2=False)
    for ax, task in zip(fig.axes, ours):
        for k, model in enumerate(models):
            for i, (g, (low, high)) in enumerate(PAPER_RESULTS[task].get(model, {}).items()):
                x = g + 0.15 * (k - 1)  # side by side
                ax.plot([x, x], [low - 0.005, high + 0.005], color=viz.line_style(k)["color"], linewidth=5,
                        alpha=0.35, solid_capstyle="butt", label=f"paper: {LABELS[model]}" if i == 0 else None)
        ax.set_xticks(PAPER_SEGMENTS[task], labels=PAPER_SEGMENTS[task])
    fig.axes[-1].legend(fontsize=7, loc="lower left")
    return fig


def write_results(rows: list[dict], info: dict, out: Path) -> None:
    """results.json (info and rows), results.md and accuracy.png under `out`."""
    (out / "results.json").write_text(json.dumps({"info": info, "rows": rows, "paper": PAPER_RESULTS}, indent=1))
    (out / "results.md").write_text(markdown_table(rows, info))
    if rows:
        plot_paper(rows).savefig(out / "accuracy.png", dpi=110)
