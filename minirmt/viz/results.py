"""Results: training curves, accuracy against the number of segments, gradient norms, labelled matrices."""

import math
from collections.abc import Mapping, Sequence

import torch
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from .common import as_matrix, line_style, readable, tick_rotation


def _is_history(x) -> bool:
    """A history is a list of records (dicts) or a dict of equally long lists of numbers."""
    if isinstance(x, Mapping):  # columns hold numbers; `{run name: [records]}` is several runs, not columns
        return all(isinstance(v, Sequence) and not isinstance(v, str) and not any(isinstance(e, Mapping) for e in v)
                   for v in x.values())
    return isinstance(x, Sequence) and all(isinstance(r, Mapping) for r in x)


def _records(history) -> list[Mapping]:
    if isinstance(history, Mapping):
        keys = list(history)
        return [dict(zip(keys, values)) for values in zip(*(history[k] for k in keys))]
    return list(history)


def _nested(i: int) -> dict:
    """The i-th line's style with hollow markers that shrink from line to line, so that lines lying on top of
    each other still show every marker."""
    return line_style(i) | {"markerfacecolor": "none", "markersize": 8.5 - 0.6 * (i % 8)}


def _legend_below(fig: Figure, ax) -> None:
    """One legend for the figure, in rows under the panels (the figure was made taller for it)."""
    handles, labels = ax.get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncols=min(4, len(labels)), fontsize=8, frameon=False)


def _legend_rows(count: int) -> int:
    return math.ceil(count / 4)


def plot_curves(history, metrics: Sequence[str] = ("loss",), x: str = "step", title: str | None = None,
                log: bool = False, legend: str = "inside") -> Figure:
    """One panel per metric against `x`, for one run or several.

    history: a list of records `{"step": ..., "loss": ...}` (records without a metric are skipped, so
             training and evaluation records can mix), a dict of lists, or `{run name: history}`.
    log: log-log axes (a power law is a straight line, its slope the power). legend: "inside" each panel, or
    "below" them all (for many runs).
    """
    if isinstance(metrics, str):
        metrics = [metrics]
    is_runs = isinstance(history, Mapping) and history and all(_is_history(v) for v in history.values()) \
        and not _is_history(history)
    runs = dict(history) if is_runs else {None: history}
    below = is_runs and legend == "below"
    fig = Figure(figsize=(3.6 * len(metrics) + 0.4, 3.0 + (0.25 * _legend_rows(len(runs)) if below else 0)),
                 layout="constrained")
    axes = fig.subplots(1, len(metrics), squeeze=False)[0]
    for ax, metric in zip(axes, metrics):
        for k, (name, run) in enumerate(runs.items()):
            rows = [(i, r) for i, r in enumerate(_records(run)) if r.get(metric) is not None]
            xs = [r.get(x, i) for i, r in rows]
            style = _nested(k) | ({"markevery": max(1, len(rows) // 10)} if len(rows) >= 30 else {})
            ax.plot(xs, [float(r[metric]) for _, r in rows], label=readable(name), **style)
        if log:
            ax.set_xscale("log", base=2)
            ax.set_yscale("log")
        ax.set_xlabel(x)
        ax.set_title(readable(metric))
        if metric in ("stage", "segments"):  # whole numbers
            ax.yaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(alpha=0.3)
        if is_runs and not below:
            ax.legend(fontsize=8)
    if below:
        _legend_below(fig, axes[0])
    if title:
        fig.suptitle(title)
    return fig


def plot_accuracy_vs_segments(table: Mapping, chance: float | None = None, xlabel: str = "segments",
                              ylabel: str = "accuracy", title: str | None = None, legend: str = "inside") -> Figure:
    """Accuracy against the number of segments, one line per model: `{model: {segments: accuracy}}`.

    A single `{segments: accuracy}` mapping draws one line; `chance` adds a dashed reference line; `legend`:
    "inside" the axes or "below" them (for many models).
    """
    if table and not all(isinstance(v, Mapping) for v in table.values()):
        table = {None: table}
    below = legend == "below"
    fig = Figure(figsize=(4.8, 3.2 + (0.25 * _legend_rows(len(table) + 1) if below else 0)), layout="constrained")
    ax = fig.add_subplot()
    for i, (name, row) in enumerate(table.items()):
        xs = sorted(row)
        ax.plot(xs, [float(row[k]) for k in xs], label=readable(name), **_nested(i))
    if chance is not None:
        ax.axhline(chance, color="0.5", linestyle="--", linewidth=1, label="chance")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_ylim(-0.02, 1.02)
    measured = sorted({k for row in table.values() for k in row})
    if len(measured) <= 12:  # a tick where there is a measurement, none between
        ax.set_xticks(measured)
    else:
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.grid(alpha=0.3)
    if below:
        _legend_below(fig, ax)
    elif len(table) > 1 or None not in table or chance is not None:
        ax.legend(fontsize=8)
    ax.set_title(title or f"{ylabel} vs {xlabel}")
    return fig


def plot_grad_norms(norms, title: str | None = None) -> Figure:
    """Gradient norm reaching each segment's memory, on a log scale; exact zeros are drawn as crosses.

    norms: a sequence of g numbers (segment 0 first) or `{label: sequence}` (e.g. one per BPTT depth).
    Truncated BPTT makes the norms before its window exactly zero: each line's crosses, in its colour, on a row of
    their own below the smallest norm (the band labelled "exactly 0").
    """
    if not isinstance(norms, Mapping):
        norms = {None: norms}
    norms = {k: [float(v) for v in torch.as_tensor(vals).flatten()] for k, vals in norms.items()}
    positive = [v for vals in norms.values() for v in vals if v > 0]
    floor = min(positive) / 10 if positive else 1e-8
    fig = Figure(figsize=(4.8, 3.2), layout="constrained")
    ax = fig.add_subplot()
    rows = 0
    for i, (name, vals) in enumerate(norms.items()):
        (line,) = ax.plot(range(len(vals)), [v if v > 0 else float("nan") for v in vals], label=readable(name),
                          **line_style(i))
        zeros = [j for j, v in enumerate(vals) if v == 0]
        if zeros:  # a row per line: floor, floor / 3, floor / 9, ...
            ax.plot(zeros, [floor / 3**rows] * len(zeros), linestyle="none", marker="x", color=line.get_color())
            rows += 1
    if rows:
        ax.axhspan(floor / 3**rows, floor * 2, color="0.92", zorder=0)
        ax.text(0.99, floor * 1.5, "exactly 0", transform=ax.get_yaxis_transform(), ha="right", va="center",
                fontsize=7, color="0.35")
    ax.set_yscale("log")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("segment")
    ax.set_ylabel("gradient norm")
    ax.grid(alpha=0.3)
    if None not in norms:
        ax.legend(fontsize=8)
    ax.set_title(title or "gradient reaching each segment (x = exactly 0)")
    return fig


def plot_heatmap(values, xlabel: str, ylabel: str, title: str | None = None, vmin: float | None = 0.0,
                 vmax: float | None = 1.0, cmap: str = "viridis", annotate: bool = True,
                 row_labels: Sequence | None = None, col_labels: Sequence | None = None,
                 value_label: str | None = None) -> Figure:
    """A labelled matrix `(r, c)`, e.g. probe accuracy per memory slot and source position.

    Rows and columns are numbered from 0, or named by `row_labels` / `col_labels`; with `annotate` (and at most
    200 cells) each cell shows its value; `value_label` names the colour bar (what the values are).
    """
    values = as_matrix(values, "values", "(r, c)")
    rows, cols = values.shape
    fig = Figure(figsize=(0.42 * cols + 1.8, 0.36 * rows + 1.3), layout="constrained")
    ax = fig.add_subplot()
    image = ax.imshow(values.numpy(), cmap=cmap, vmin=vmin, vmax=vmax, aspect="auto", interpolation="nearest")
    if annotate and rows * cols <= 200:
        for r in range(rows):
            for c in range(cols):
                value = float(values[r, c])
                red, green, blue, _ = image.cmap(image.norm(value))
                light = 0.299 * red + 0.587 * green + 0.114 * blue > 0.5  # dark text on light cells
                text = f"{value:.2f}"
                ax.text(c, r, text[1:] if text.startswith("0.") else text, ha="center", va="center",
                        fontsize=6.5, color="black" if light else "white")
    if col_labels is None:
        ax.set_xticks(range(cols))
    else:
        ax.set_xticks(range(cols), labels=[str(x) for x in col_labels], **tick_rotation(col_labels))
    ax.set_yticks(range(rows), labels=None if row_labels is None else [str(x) for x in row_labels])
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title)
    fig.colorbar(image, ax=ax, shrink=0.8, label=value_label)
    return fig


def plot_lm_curves(histories: Mapping, x: str = "tokens", title: str = "training loss") -> Figure:
    """Training loss (lines) and validation loss (dots) against "tokens", "step", "seconds" or "budget_seconds".

    histories: {run name: LMResult.history (or metrics.json's "history")}.
    """
    fig = Figure(figsize=(6.4, 4), layout="constrained")
    ax = fig.add_subplot()
    for i, (name, history) in enumerate(histories.items()):
        train = [r for r in history if "loss" in r]
        valid = [r for r in history if "valid_loss" in r]
        style = line_style(i)
        ax.plot([r[x] for r in train], [r["loss"] for r in train], label=readable(name), color=style["color"],
                linestyle=style["linestyle"])
        if valid:
            ax.plot([r[x] for r in valid], [r["valid_loss"] for r in valid], linestyle="none", ms=4,
                    color=style["color"], marker=style["marker"])
    xlabel = {"budget_seconds": "seconds (after the two compiling steps)", "seconds": "seconds of training"}
    ax.set(xlabel=xlabel.get(x, x), ylabel="cross-entropy (nats / token)", title=title)
    ax.grid(alpha=0.3)
    ax.legend()
    return fig


def plot_loss_by_position(curves: Mapping, unit: str = "ppl", title: str = "loss by position in the segment") -> Figure:
    """Mean loss at each position 0..n-1 of a segment, one line per run (bits per token if unit is "bpb").

    curves: {run name: evaluate_lm(...)["loss_by_position"]}. Memory or a cache should lower the first
    positions most: without them, a segment's first tokens are predicted from almost no context.
    """
    fig = Figure(figsize=(6.4, 4), layout="constrained")
    ax = fig.add_subplot()
    scale = 1 / math.log(2) if unit == "bpb" else 1.0
    for i, (name, losses) in enumerate(curves.items()):
        ax.plot(range(len(losses)), [v * scale for v in losses], label=readable(name),
                **line_style(i) | {"markevery": max(1, len(losses) // 12)})
    ax.set(xlabel="position inside the segment", title=title,
           ylabel="bits per byte" if unit == "bpb" else "cross-entropy (nats / token)")
    ax.grid(alpha=0.3)
    ax.legend()
    return fig


def plot_accuracy_panels(panels: Mapping, chance: Mapping | None = None, xlabel: str = "segments g",
                         log2: bool = True, ylabel: str = "answer accuracy", legend: str = "inside") -> Figure:
    """Accuracy against the number of segments, one panel per task, one line per model, on one y scale.

    panels: {task: {model: {g: accuracy}}} (or {g: (mean, low, high)} to draw the spread over seeds as a band);
    chance: {task: accuracy of guessing} (dashed); legend: "inside" the last panel or "below" them all.
    """
    below = legend == "below"
    lines = max(len(table) for table in panels.values()) + 1
    fig = Figure(figsize=(3.6 * len(panels), 3.2 + (0.25 * _legend_rows(lines) if below else 0)), layout="constrained")
    axes = fig.subplots(1, len(panels), squeeze=False, sharey=True)[0]
    for ax, (task, table) in zip(axes, panels.items()):
        gs = sorted({g for row in table.values() for g in row})
        for i, (name, row) in enumerate(table.items()):
            xs = sorted(row)
            values = [row[g] if isinstance(row[g], tuple) else (row[g],) * 3 for g in xs]
            style = _nested(i)
            ax.plot(xs, [v[0] for v in values], label=readable(name), **style)
            ax.fill_between(xs, [v[1] for v in values], [v[2] for v in values], color=style["color"], alpha=0.15)
        if chance and task in chance:
            ax.axhline(chance[task], color="0.5", linestyle="--", linewidth=1, label="chance")
        if log2:
            ax.set_xscale("log", base=2)
        crowded = len(gs) > 6  # long labels (512, 1024, ...) side by side would run into each other
        ax.set_xticks(gs, labels=gs, rotation=45 if crowded else 0, ha="right" if crowded else "center",
                      fontsize=7 if crowded else None)
        ax.set(title=task, xlabel=xlabel, ylim=(-0.02, 1.02))
        ax.grid(alpha=0.3)
    axes[0].set_ylabel(ylabel)
    if below:
        _legend_below(fig, axes[-1])
    else:
        axes[-1].legend(fontsize=8)
    return fig
