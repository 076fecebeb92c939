"""The paper's algorithmic experiment (RMT paper, Sec. 4 and 5, Fig. 4): copy, reverse and associative retrieval
on the paper's layouts (tasks/paper.py), cut into more and more segments, for the RMT, Transformer-XL (cache =
memory = one segment, as in the paper) and a model without memory, over several seeds.

    run_paper("runs/paper", seeds=(0, 1, 2))      # -> rows; writes rows.jsonl, results.json, results.md, figure

Each finished run is appended to `rows.jsonl` at once, keyed by every setting it ran with (`run_key`), and a run
already there is not run again: a long sweep that stops can be started again and goes on, while a sweep with other
settings runs its own rows. A run cut by the sweep's time limit keeps its state (out/unfinished/) and goes on from
it next time. The results are made from the rows of the plan asked for. Each run is scored on 4,096
held-out sequences three ways: teacher-forced, written out as the authors scored it (each answer fed back inside
its segment) and written out in full (fed back everywhere). The authors' own runs (paper_reference.py) are set
beside ours.
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
from minirmt.model import registry

from . import paper_reference
from .accel import eager
from .common import resolve_device
from .metrics import accuracy_and_exact_match, free_running_predictions, prediction_counts
from .recipes import recipe
from .run_folder import settings_key
from .task_loop import eval_batches, evaluate, train

MODELS = ("rmt", "xl", "segment")  # the paper's RMT, Transformer-XL and no-memory baseline
LABELS = {**{name: registry.LABELS[name] for name in MODELS}, "segment": "no memory"}  # the paper's name for it
TASK_LABELS = {"copy": "copy (24 digits, twice)", "reverse": "reverse (24 digits)", "assoc": "retrieval (4 pairs)"}
FINAL_SEQUENCES = 4096  # held-out sequences each run is scored on at its end (16 batches of 256)
EXECUTION = ("device", "compile", "cuda_graphs")  # TrainConfig fields that do not enter a run's key (run_key)
UNFINISHED = "unfinished"  # the folder under a sweep's `out` that keeps runs stopped at its time limit


def paper_plan(seeds=(0, 1, 2), tasks=tuple(PAPER_SEGMENTS), models=MODELS, segments=None, **settings) -> list[dict]:
    """The runs of the sweep, seed by seed (a sweep cut short has every setting with fewer seeds): {task, g,
    model, seed, settings}; `settings` are laid over the recipe (recipes.paper_recipe: `recipe`, `size` and any
    field of the task, ModelConfig or TrainConfig), `segments` keeps only those counts. At one segment there is
    nothing to carry, so only the model without memory runs there."""
    return [{"task": task, "g": g, "model": model, "seed": seed, "settings": dict(settings)}
            for seed in seeds for task in tasks for g in PAPER_SEGMENTS[task] if segments is None or g in segments
            for model in models if g > 1 or model == "segment"]


def spec_recipe(spec: dict):
    """The recipe of one run of the plan."""
    return recipe(spec["task"], spec["model"], layout="paper", segments=spec["g"], seed=spec["seed"],
                  **spec["settings"])


def run_key(spec: dict, r=None) -> str:
    """The key of a run: its task, g, model and every setting of its model and training (seed, steps, batch size,
    learning rate, ...), so that a row is reused only for the very run it came from. Where and how a run executes
    (EXECUTION) is not part of it: a run stopped on a GPU goes on on a CPU (in float32 there, under bfloat16
    autocast on a GPU: `TrainConfig.dtype` "auto"), one started eagerly goes on compiled."""
    r = r or spec_recipe(spec)
    train = {k: v for k, v in r.train_config.to_dict().items() if k not in EXECUTION}
    return settings_key(spec["task"], spec["g"], spec["model"], r.model_config.to_dict(), train)


def run_one(spec: dict, threads: int = 1, out=None, deadline: float | None = None) -> dict:
    """Train one run of the plan; its result row (the final evaluation, three ways, on FINAL_SEQUENCES).

    With `out`, the run's state is kept in `out/unfinished/<key>.pt` at every evaluation and it goes on from there
    when started again; at `deadline` (a `time.time()`) it stops and returns {"key", "paused", ...} instead of a row,
    so that a sweep longer than one sitting is trained in several."""
    torch.set_num_threads(threads)
    r = spec_recipe(spec)
    key = run_key(spec, r)
    saved = None if out is None else Path(out) / UNFINISHED / f"{key}.pt"
    resume = saved if saved is not None and saved.exists() else None
    if deadline is not None and time.time() >= deadline:  # not started (or not continued) in this sitting
        return {"key": key, "paused": True, "step": None, **_cell_of(spec)}
    stopped = False  # by the deadline (a run that ends once solved is never asked)

    def past_deadline(step, history) -> bool:
        nonlocal stopped
        stopped = deadline is not None and time.time() >= deadline
        return stopped

    result = train(r.build_model(), r.task, r.train_config, checkpoint=saved, resume=resume,
                   callback=past_deadline, progress=False)
    if stopped and result.step < r.train_config.steps:  # a run at its last step is finished
        return {"key": key, "paused": True, "step": result.step, "steps": r.train_config.steps,
                "stage": result.stage, **_cell_of(spec)}
    scores = final_scores(result.model, r.task, spec["g"], r.train_config)
    if saved is not None:
        saved.unlink(missing_ok=True)
    config = r.train_config
    return {"key": key, **_cell_of(spec),
            "settings": spec["settings"], "segment_len": r.task.segment_len, "memory": r.model_config.num_mem_tokens,
            "d_model": r.model_config.d_model, "n_layers": r.model_config.n_layers, "steps": result.step,
            "batch_size": config.batch_size, "sequences": result.step * config.batch_size,
            "train_seconds": round(result.seconds, 1), **scores, "chance": r.task.chance_accuracy,
            "device": config.device, "device_name": device_name(config.device), "torch": torch.__version__}


def _cell_of(spec: dict) -> dict:
    return {name: spec[name] for name in ("task", "g", "model", "seed")}


def device_name(device: str) -> str:
    """The GPU's name, or the processor's."""
    return torch.cuda.get_device_name() if str(device).startswith("cuda") else cpu_name()


def final_scores(model, task, g: int, config) -> dict:
    """Accuracy on FINAL_SEQUENCES held-out sequences: teacher-forced ("accuracy"), written out as the authors
    scored ("authors_accuracy": each answer fed back inside its segment) and in full ("free_accuracy")."""
    batches = eval_batches(task, g, 256, FINAL_SEQUENCES // 256, config.eval_seed + 1, resolve_device(config.device))
    teacher = evaluate(model, batches)
    scores = {"accuracy": teacher["eval_accuracy"], "exact_match": teacher["eval_exact_match"]}
    for name, across in (("free", True), ("authors", False)):
        with eager():  # a compiled model is read eagerly
            counts = sum(prediction_counts(free_running_predictions(model, x, y, across_segments=across), y)
                         for x, y in batches)
        scores[f"{name}_accuracy"], scores[f"{name}_exact_match"] = accuracy_and_exact_match(counts)
    return scores


def run_paper(out, jobs: int = 1, log=print, time_limit: float | None = None, **plan) -> list[dict]:
    """Every run of `paper_plan(**plan)` not yet in `out/rows.jsonl` (`run_key`), `jobs` at a time (separate
    processes); then results.json, results.md and accuracy.png under `out` from the plan's rows. Returns them.
    time_limit: seconds after which every run stops, its state kept in `out/unfinished/` to go on next time."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    keys = {run_key(spec): spec for spec in paper_plan(**plan)}
    done = {r.get("key") for r in read_rows(out)}
    todo = [spec for key, spec in keys.items() if key not in done]
    started = time.perf_counter()
    deadline = None if time_limit is None else time.time() + time_limit
    with open(out / "rows.jsonl", "a") as rows_file:
        for row in _map(partial(run_one, out=out, deadline=deadline), todo, jobs):
            name = f"{row['task']:8s} g={row['g']} {row['model']:8s} seed {row['seed']}"
            if row.get("paused"):
                if row["step"] is not None:
                    log(f"{name}: paused at step {row['step']} of {row['steps']} (stage {row['stage']}); it goes on "
                        f"from {out / UNFINISHED} when the sweep is started again")
                continue
            rows_file.write(json.dumps(row) + "\n")
            rows_file.flush()
            log(f"{name}: accuracy {row['accuracy']:.3f}, written out {row['free_accuracy']:.3f}, as the authors "
                f"scored {row['authors_accuracy']:.3f} ({row['steps']} steps, {row['train_seconds']:.0f} s)")
    rows = [r for r in read_rows(out) if r.get("key") in keys]
    if not rows:
        log("no run of this sweep has finished yet, so there is no table to write; start it again to go on")
        return rows
    info = {"wall_seconds": round(time.perf_counter() - started, 1), "jobs": jobs, "torch": torch.__version__,
            "machine": platform.platform(), "cpu": cpu_name(), "cpus": os.cpu_count(), "plan": plan,
            "gpu": trained_on(rows, "cuda"), "trained_on": trained_on(rows)}
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


def trained_on(rows: list[dict], device: str | None = None) -> str | None:
    """The machines that trained these rows (only those of one device type, "cuda" or "cpu", if given)."""
    return " and ".join(sorted({r["device_name"] for r in rows if device in (None, r["device"])})) or None


def cpu_name() -> str:
    """The processor's model name (Linux), else what `platform` knows."""
    cpuinfo = Path("/proc/cpuinfo")
    for line in cpuinfo.read_text().splitlines() if cpuinfo.exists() else []:
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


# ---------------------------------------------------------------- the table and the figure


def summarize(rows: list[dict], metric: str = "authors_accuracy") -> dict:
    """{task: {model: {g: (mean, lowest, highest, seeds)}}} of `metric` over the seeds of each setting."""
    table = {}
    for r in rows:
        table.setdefault(r["task"], {}).setdefault(r["model"], {}).setdefault(r["g"], []).append(r[metric])
    return {task: {model: {g: (sum(v) / len(v), min(v), max(v), len(v)) for g, v in sorted(by_g.items())}
                   for model, by_g in models.items()} for task, models in table.items()}


def authors_range(task: str, model: str, g: int) -> tuple[float, float, int] | None:
    """(lowest, highest, sequences trained) over the authors' comparable runs of a cell (paper_reference), or None."""
    runs = paper_reference.comparable(task, model, g)
    if not runs:
        return None
    accuracy = [a for run in runs for a in run.accuracy]
    return min(accuracy), max(accuracy), max(run.steps for run in runs) * paper_reference.BATCH_SIZE


def markdown_table(rows: list[dict], info: dict) -> str:
    """One table per task: models down, segments across; ours (mean and range over seeds, scored as the authors
    scored) beside the authors' range, and the training sequences of each side."""
    ours, strict = summarize(rows), summarize(rows, "free_accuracy")
    sizes = sorted({f"d {r['d_model']}, {r['n_layers']} layers" for r in rows})
    batches = "/".join(map(str, sorted({r["batch_size"] for r in rows})))
    low, high = min(r["steps"] for r in rows), max(r["steps"] for r in rows)
    steps = f"{low}" if low == high else f"{low}-{high}"
    lines = ["# The paper's algorithmic tasks on the paper's layouts: answer accuracy against the number of segments",
             "", f"Each cell: ours, the mean over seeds (lowest-highest), scored as the authors scored (answers "
             f"written out, each fed back inside its segment), then in brackets written out in full (fed back across "
             f"segments too); under it the authors' range over their seeds (their CSV), and the sequences each side "
             f"trained on (ours: the median run; {steps} steps of {batches} sequences per run, a run stopping once it "
             f"answers everything right). "
             f"Memory = cache = one segment; models {', '.join(sizes)}; {len({r['seed'] for r in rows})} seeds. "
             f"Measured on {info.get('trained_on') or info.get('cpu', '?')} ({info.get('jobs', 1)} runs at once), "
             f"torch {info.get('torch', '?')}.", ""]
    for task, models in ours.items():
        gs = sorted({g for by_g in models.values() for g in by_g})
        lines += [f"## {TASK_LABELS.get(task, task)}", "", "| model | " + " | ".join(f"g = {g}" for g in gs) + " |",
                  "|---" * (len(gs) + 1) + "|"]
        for model in MODELS:
            if model in models:
                lines.append(f"| {LABELS[model]} | " + " | ".join(_cell(rows, task, model, g, models, strict[task])
                                                                   for g in gs) + " |")
        lines.append("")
    return "\n".join(lines)


def _cell(rows, task, model, g, models, strict) -> str:
    if g not in models[model]:
        return "-"
    mean, low, high, seeds = models[model][g]
    sequences = sorted(r["sequences"] for r in rows if (r["task"], r["model"], r["g"]) == (task, model, g))
    fewer = "" if seeds == len({r["seed"] for r in rows}) else f", {seeds} seed{'s' if seeds > 1 else ''}"
    text = (f"{mean:.2f} ({low:.2f}-{high:.2f}) [{strict[model][g][0]:.2f}], "
            f"{sequences[len(sequences) // 2] / 1e3:.0f}k seq.{fewer}")
    theirs = authors_range(task, model, g)
    if theirs is None:
        return text
    return text + f"<br>authors {theirs[0]:.2f}-{theirs[1]:.2f}, {theirs[2] / 1e6:.1f}M seq."


AUTHORS_OFFSET = 0.15  # how far right of our markers the authors' bars stand, so that no marker hides one


def plot_paper(rows: list[dict]) -> Figure:
    """Ours (mean and range over seeds, scored as the authors scored: lines and bands) beside the authors' ranges
    (thick bars, same colours)."""
    ours = summarize(rows)
    models = [m for m in MODELS if any(m in by_model for by_model in ours.values())]
    panels = {TASK_LABELS[t]: {LABELS[m]: {g: by_model[m][g][:3] for g in by_model[m]} for m in models if m in by_model}
              for t, by_model in ours.items()}
    chance = {TASK_LABELS[r["task"]]: r["chance"] for r in rows}
    fig = viz.plot_accuracy_panels(panels, chance=chance, log2=False, legend="below")
    for ax, task in zip(fig.axes, ours):
        for k, model in enumerate(models):
            first = True
            for g in PAPER_SEGMENTS[task]:
                theirs = authors_range(task, model, g)
                if theirs is None:
                    continue
                x = g + AUTHORS_OFFSET + 0.09 * k  # beside our markers, one model after another
                ax.plot([x, x], [theirs[0] - 0.012, theirs[1] + 0.012], color=viz.line_style(k)["color"],
                        linewidth=5, alpha=0.35, solid_capstyle="butt", label=f"authors: {LABELS[model]}" if first
                        else None)
                first = False
        ax.set_xticks(PAPER_SEGMENTS[task], labels=PAPER_SEGMENTS[task])
    fig.legends.clear()  # one legend below the panels, the authors' bars included
    handles, labels = fig.axes[-1].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncols=3, fontsize=7, frameon=False)
    return fig


def report(out, info: dict | None = None) -> list[dict]:
    """Results from the rows of `out/rows.jsonl` that today's recipes still give (`is_current`), whatever sweeps
    wrote them (`experiment paper --report`): where a cell and seed ran under several settings, the run that
    trained longest. Returns the rows used."""
    out = Path(out)
    longest = {}
    for row in filter(is_current, read_rows(out)):
        cell = row["task"], row["g"], row["model"], row["seed"]
        if cell not in longest or row["steps"] > longest[cell]["steps"]:
            longest[cell] = row
    rows = list(longest.values())
    if not rows:
        return rows
    write_results(rows, info or {"trained_on": trained_on(rows), "gpu": trained_on(rows, "cuda"), "jobs": "many",
                                 "torch": rows[0].get("torch", "?")}, out)
    return rows


def is_current(row: dict) -> bool:
    """Would today's recipe, given the row's settings, run the very run the row records (the same `run_key`)? A
    row whose recipe has changed since stays in rows.jsonl, as a record, but leaves the table."""
    return run_key({**_cell_of(row), "settings": row["settings"]}) == row["key"]


def write_results(rows: list[dict], info: dict, out: Path) -> None:
    """results.json (info and rows), results.md and accuracy.png under `out`."""
    (out / "results.json").write_text(json.dumps({"info": info, "rows": rows}, indent=1))
    (out / "results.md").write_text(markdown_table(rows, info))
    if rows:
        plot_paper(rows).savefig(out / "accuracy.png", dpi=110)
