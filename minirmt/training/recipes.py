"""The settings that solve each synthetic task for each model, in one table, and runs built from them.

    r = recipe("copy", "rmt", steps=500)        # the table's settings, with any override
    model, result = r.build_model(), train(r.build_model(), r.task, r.train_config)

A recipe lays, in order: the lab-size model (config.PRESETS["lab"]: d 64, 2 layers, 4 heads, m 8) and the
trainer's defaults, the task's row of RECIPES, then the overrides.
Each setting is a field of the task, of ModelConfig or of TrainConfig, named as there. The command line's
`train` defaults, the notebooks and the benchmarks all start from here.
"""

import dataclasses
from dataclasses import dataclass

from torch import nn

from minirmt.data.tasks import TASK_CLASSES, PaperTask, Task, make_task
from minirmt.data.tasks.base import sizes as task_sizes
from minirmt.model.config import ModelConfig, preset
from minirmt.model.registry import MODELS, build_model

from .checkpoints import load_checkpoint
from .hint import check_hint_model
from .task_loop import TrainConfig, curriculum_stages

RECIPES = {
    "copy": {"segment_len": 8, "segments": 3, "steps": 1000, "lr": 3e-3},
    "reverse": {"segment_len": 8, "segments": 3, "steps": 1000, "lr": 3e-3},
    # the token shift (a value's embedding also gets its key's: backbone.ShiftedEmbedding) and the curriculum
    # "length": the 32 tokens in 1, then 2, then 4 segments (of 32, 16, 8). Without the shift even one segment of 32
    # stays on the "bag of values"; without the curriculum most seeds do. Each evaluation reads 1,024 answers, so the
    # run stops at 0.98, a margin over a goal of 0.95
    "assoc": {"segment_len": 8, "segments": 4, "steps": 2000, "lr": 5e-3, "warmup": 200, "eval_every": 50,
              "token_shift": True, "curriculum": "length", "curriculum_threshold": 0.9, "stop_accuracy": 0.98},
    "mqar": {"segment_len": 4, "segments": 4, "steps": 1500, "lr": 1e-3},
    # the encoder form (a classifier of y = the task's classes, read from the memory) over 8 segments of 8
    "classify": {"segment_len": 8, "segments": 8, "steps": 1000, "lr": 3e-3},
    # one fact hidden in 8 segments of filler; "mixed" trains on every length up to the stage's, so that the
    # memory learns to hold a fact however far the question is (then read on longer texts: evaluate --segments);
    # 4 memory tokens and the steps after the last stage is reached are what let it read far longer texts
    "needle": {"segment_len": 8, "segments": 8, "steps": 4000, "lr": 3e-3, "curriculum": "mixed",
               "num_mem_tokens": 4},
}
# The paper's layouts (tasks/paper.py): memory = cache = segment length, as in the paper's Fig. 4; no curriculum.
# The authors' model sizes (config.PRESETS) and two ways to train them:
PAPER_PRESETS = {"copy": "paper-copy", "reverse": "paper-copy", "assoc": "paper-retrieval"}
PAPER_RECIPES = {
    # minirmt's: AdamW at 1e-3, warm-up then cosine, batch 64; a run ends once its answers are right
    "ours": {"steps": 6000, "lr": 1e-3, "warmup": 200, "batch_size": 64, "eval_every": 250, "stop_accuracy": 0.999},
    # the authors' (LM-RMT's published runs): Adam at 1e-4, batch 32, gradients clipped at 0.25. Their
    # reduce-on-plateau halves the rate after 8 evaluations of 12,000 steps without progress, so within fewer than
    # 96,000 steps it is a constant rate
    "authors": {"steps": 6000, "lr": 1e-4, "warmup": 0, "min_lr_ratio": 1.0, "batch_size": 32, "clip": 0.25,
                "weight_decay": 0.0, "betas": (0.9, 0.999), "eval_every": 250},
}
# Retrieval: the token shift for every model (without it even full attention at g = 1 stays on the "bag of values",
# 0.25, for 20,000 steps). The RMT trains through the curriculum "length" (the same 10 tokens in g = 1, 2, ...
# segments; the baselines train on the target from the start, as in the paper: without memory no stage could be
# passed), in batches of 256 and without dropout: a memory of 2 or 3 tokens that must hold all 4 pairs is learned
# in a few thousand such steps, where batches of 64 with dropout took tens of thousands (bench/results/paper_figure/)
PAPER_TASK_RECIPES = {"assoc": {"token_shift": True, "steps": 30_000, "eval_every": 250}}
PAPER_MODEL_RECIPES = {("assoc", "rmt"): {"curriculum": "length", "curriculum_threshold": 0.95, "batch_size": 256,
                                          "dropout": 0.0, "steps": 10_000}}
PRESET = "lab"


@dataclass(frozen=True)
class Recipe:
    """A run's task, model name, model config and training config."""

    task: Task
    model_name: str
    model_config: ModelConfig
    train_config: TrainConfig

    def build_model(self) -> nn.Module:
        """The model, its initial weights drawn from the training seed."""
        return build_model(self.model_name, self.model_config, self.train_config.seed)


def recipe(task: str, model: str = "rmt", layout: str = "minirmt", **overrides) -> Recipe:
    """The settings that solve `task` with `model`, with `overrides` (fields of the task, ModelConfig or
    TrainConfig) laid over them. Raises ValueError for an unknown task or model, TypeError for an unknown field.

    layout="paper": the paper's layout of copy, reverse or assoc, cut into `segments=g` (tasks/paper.py).
    """
    if layout == "paper":
        return paper_recipe(task, model, **overrides)
    if task not in RECIPES:
        raise ValueError(f"unknown task {task!r}, expected one of {tuple(RECIPES)}")
    if model not in MODELS:
        raise ValueError(f"unknown model {model!r}, expected one of {sorted(MODELS)}")
    settings = {**RECIPES[task], **overrides}
    if "steps" in overrides and "warmup" not in overrides:  # a short run keeps most of its steps after warm-up
        settings["warmup"] = min(settings.get("warmup", TrainConfig.warmup), settings["steps"] // 10)
    groups = split_settings(TASK_CLASSES[task], settings)
    made = make_task(task, settings["segment_len"], **groups["task"])
    if hasattr(made, "num_classes"):  # a classification task: the encoder form, with the task's classes
        groups["model"] = {"memory_form": "encoder", "num_classes": made.num_classes, **groups["model"]}
    model_config = preset(PRESET, vocab_size=made.vocab_size, **groups["model"])
    train_config = TrainConfig(**groups["train"])
    if "segments" not in overrides:  # the table's g, or more where the task's sizes need more
        train_config = dataclasses.replace(train_config, segments=max(train_config.segments or 1, made.min_segments))
    elif train_config.segments is not None and train_config.segments < made.min_segments:
        raise ValueError(f"segments={train_config.segments}: {task} with these sizes needs at least "
                         f"{made.min_segments} segments of {made.segment_len} tokens")
    run = Recipe(made, model, model_config, train_config)
    if train_config.memory_hint:
        check_hint_model(run.build_model())
    curriculum_stages(made, train_config.segments, train_config.curriculum)  # a curriculum the task cannot have
    return run


def paper_recipe(task: str, model: str, segments: int | None = None, recipe: str = "ours", size: str = "paper",
                 **overrides) -> Recipe:
    """A run on the paper's layout of `task` in `segments` segments: memory and cache of one segment length.

    recipe: "ours" or "authors" (PAPER_RECIPES); size: "paper" (the authors' model for the task, PAPER_PRESETS)
    or "lab" (d 64, 2 layers: the laptop size).
    """
    if model not in MODELS:
        raise ValueError(f"unknown model {model!r}, expected one of {sorted(MODELS)}")
    if recipe not in PAPER_RECIPES:
        raise ValueError(f"recipe must be one of {tuple(PAPER_RECIPES)}, got {recipe!r}")
    if size not in ("paper", "lab"):
        raise ValueError(f"size must be 'paper' or 'lab', got {size!r}")
    made = make_task(task, layout="paper", segments=segments)
    n = made.segment_len
    if "segment_len" in overrides:
        raise ValueError(f"segment_len: the paper's {task} in {made.min_segments} segments has segments of {n} "
                         f"tokens; choose the number of segments instead")
    settings = {"num_mem_tokens": n, "xl_cache_len": n, **PAPER_RECIPES[recipe], **PAPER_TASK_RECIPES.get(task, {}),
                **PAPER_MODEL_RECIPES.get((task, model), {}), **overrides, "segment_len": n}
    groups = split_settings(type(made), settings)  # a paper layout has no sizes to set: none is taken
    size_preset = PAPER_PRESETS[task] if size == "paper" else PRESET
    model_config = preset(size_preset, vocab_size=made.vocab_size, **groups["model"])
    return Recipe(made, model, model_config, TrainConfig(**{**groups["train"], "segments": made.min_segments}))


def split_settings(task_class: type, settings: dict) -> dict[str, dict]:
    """Sort `settings` into {"task": ..., "model": ..., "train": ...} by the class each name is a field of."""
    names = {
        "task": _fields(task_class) - {"segment_len"},
        "model": _fields(ModelConfig) - {"vocab_size"},
        "train": _fields(TrainConfig),
    }
    unknown = sorted(set(settings) - set().union(*names.values()))
    if unknown:
        raise TypeError(f"{task_class.name}: unknown settings {unknown}; a setting is a field of the task "
                        f"{sorted(names['task'])}, of ModelConfig or of TrainConfig")
    return {group: {k: v for k, v in settings.items() if k in fields} for group, fields in names.items()}


def shown_default(name: str) -> str | None:
    """How `train --help` shows the default of a setting that the table sets per task, e.g. "copy 1000,
    assoc 2000, ..."; None for a setting that no row sets."""
    values = {task: row[name] for task, row in RECIPES.items() if name in row}
    if not values:
        return None
    return ", ".join(f"{task} {'none' if value is None else value}" for task, value in values.items())


def _fields(cls) -> set[str]:
    return {f.name for f in dataclasses.fields(cls)}


# ---------------------------------------------------------------- runs saved and reloaded


def run_meta(task: Task, model_name: str) -> dict:
    """What a checkpoint needs to rebuild its task and model: names, layout and sizes."""
    sizes = {f.name: getattr(task, f.name) for f in task_sizes(task) if f.name != "segment_len"}
    layout = "paper" if isinstance(task, PaperTask) else "minirmt"
    return {"task": task.name, "layout": layout, "task_sizes": sizes, "segment_len": task.segment_len,
            "segments": task.min_segments, "model": model_name}


def load_run(path, device="cpu"):
    """Rebuild `(model, task, checkpoint)` from a checkpoint written by `train(..., meta=run_meta(...))`."""
    state = load_checkpoint(path)
    meta = state.get("meta", {})
    if "model" not in meta or state.get("model_config") is None:
        raise ValueError(f"{path}: not a task checkpoint (no model name or config in it)")
    if meta.get("layout") == "paper":
        task = make_task(meta["task"], layout="paper", segments=meta["segments"])
    else:
        task = make_task(meta["task"], meta["segment_len"], **meta["task_sizes"])
    model = build_model(meta["model"], ModelConfig(**state["model_config"]))
    model.load_state_dict(state["model"])
    return model.to(device).eval(), task, state


def shown_paper_steps() -> str:
    """How `experiment paper --help` shows the default steps: "6000; assoc 30000; assoc rmt 10000"."""
    rows = [(task, row) for task, row in PAPER_TASK_RECIPES.items()]
    rows += [(" ".join(cell), row) for cell, row in PAPER_MODEL_RECIPES.items()]
    return "; ".join([str(PAPER_RECIPES["ours"]["steps"])] + [f"{name} {row['steps']}" for name, row in rows
                                                              if "steps" in row])
