"""One training loop for every model and every synthetic task: evaluation on held-out batches, curricula over
the number of segments or of pairs, early stopping, the RMT's memory hint (hint.py), checkpoints and resume.

Randomness. Batches come from an explicit training `torch.Generator` (seeded by `TrainConfig.seed`) and
evaluation batches from a second one (`eval_seed`), drawn once and reused, so every evaluation sees the
same held-out sequences. Dropout is the only user of PyTorch's global generator; the loop runs inside
`training.seeded_global_rng`, so the caller's global state is left as it was and a resumed run continues the
same dropout stream. The model's initial weights are the caller's: `build_model(name, cfg, seed)`.
"""

import dataclasses
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

import torch
from torch import nn

from minirmt.data.tasks import PaperTask, paper_task
from minirmt.model.config import option
from minirmt.model.validation import require, require_int

from .accel import compile_model, eager
from .checkpoints import load_checkpoint, load_weights, random_state, save_checkpoint, seeded_global_rng
from .common import (
    LoopConfig,
    autocast,
    autocast_dtype,
    check_batch_tokens,
    clip_and_step,
    lr_at,
    make_optimizer,
    resolve_device,
    set_lr,
)
from .hint import MemoryHint
from .metrics import accuracy_and_exact_match, answer_counts, free_running_predictions, prediction_counts, supervise
from .progress import Stopwatch, progress_bar, stop_on_interrupt
from .run_folder import check_agrees, check_more_steps, check_same_model

TASK_API = ("sample", "min_segments", "segment_len")  # what the loop reads of a task
RUN_META = ("task", "layout", "task_sizes", "segment_len", "segments", "model")  # a run's task and model (meta)
CURRICULA = {  # TrainConfig.curriculum: the stages before the target
    "none": "no curriculum: train on the target from the first step",
    "segments": "from the task's fewest segments, one more segment per stage",
    "doubling": "from the task's fewest segments, twice as many per stage",
    "mixed": "the same stages, but each batch's number of segments drawn uniformly from the fewest to the stage's "
             "(the follow-up papers' schedule)",
    "pairs": "assoc/mqar: from 2 pairs at the fewest segments, one more pair per stage, then one more segment",
    "length": "the target's tokens in fewer, longer segments first (g = each divisor of the target, from 1; the "
              "paper's layouts: g = 1, 2, ...); the model's segment length follows the stage",
}


@dataclass
class TrainConfig(LoopConfig):
    """The loop's settings for a synthetic task (the model's are in ModelConfig, the task's in make_task)."""

    segments: int | None = option(None, "g, segments per training and evaluation sequence (none: the task's "
                                        "fewest)")
    curriculum: str = option("none", "; ".join(f"{k}: {v}" for k, v in CURRICULA.items()), choices=tuple(CURRICULA))
    curriculum_threshold: float = option(0.97, "evaluation accuracy that moves a curriculum to its next stage")
    stop_accuracy: float | None = option(None, "end the run at the first evaluation on the target whose accuracy "
                                               "reaches this (none: run every step)")
    memory_hint: bool = option(False, "RMT only: add the memory hint's losses in training (hint.py), a training "
                                      "aid that is not in the paper; the model evaluated stays a plain RMT")
    eval_batches: int = option(4, "held-out batches per evaluation")
    eval_seed: int = option(12345, "seed of the held-out batches")

    def __post_init__(self):
        super().__post_init__()
        require_int("TrainConfig", "steps", self.steps, minimum=1)
        require_int("TrainConfig", "eval_every", self.eval_every, minimum=1)
        require_int("TrainConfig", "eval_batches", self.eval_batches, minimum=1)
        require_int("TrainConfig", "segments", self.segments, minimum=1, optional=True)
        require("TrainConfig", "curriculum", self.curriculum, self.curriculum in CURRICULA,
                f"one of {tuple(CURRICULA)}")
        require("TrainConfig", "curriculum_threshold", self.curriculum_threshold,
                0 < self.curriculum_threshold <= 1, "in (0, 1]")
        require("TrainConfig", "stop_accuracy", self.stop_accuracy,
                self.stop_accuracy is None or 0 < self.stop_accuracy <= 1, "in (0, 1] or none")


@dataclass
class TrainResult:
    """What `train` returns.

    model        the trained model (the same object that was passed in)
    history      every record, oldest first: training records {"step", "loss", "lr", "segments", "stage",
                 "seconds", "cpu_seconds"} ("loss" is the task's; with the memory hint also "hint_loss") and
                 evaluation records {"step", "eval_loss", "eval_accuracy", "eval_exact_match", "segments",
                 "stage", "seconds", "cpu_seconds"}; "seconds" is training time, evaluation excluded
    metrics      the last evaluation on the target number of segments (empty if none ran)
    step         optimizer steps done
    segments     g of the stage the run ended in (the target's without a curriculum)
    stage        index of that stage in the curriculum (the target is the last)
    interrupted  True if Ctrl-C (KeyboardInterrupt) stopped the run; the model and history are kept
    seconds      training time, evaluation excluded; cpu_seconds: the same in CPU seconds of this process
    """

    model: torch.nn.Module
    history: list[dict] = field(default_factory=list)
    metrics: dict = field(default_factory=dict)
    step: int = 0
    segments: int = 1
    stage: int = 0
    interrupted: bool = False
    seconds: float = 0.0
    cpu_seconds: float = 0.0


# ---------------------------------------------------------------- evaluation


def held_out(task, num_segments: int, batch_size: int, count: int, seed: int, device="cpu") -> Iterator:
    """`count` held-out batches `(tokens (b, s), targets (b, s))` of `task`, the same for a given seed, drawn one
    at a time: one batch in memory however many are read. A batch must fit MAX_BATCH_TOKENS (checked here)."""
    check_batch_tokens("evaluation", batch_size, num_segments, task.segment_len)
    generator = torch.Generator().manual_seed(seed)
    batches = (task.sample(batch_size, num_segments, generator) for _ in range(count))
    return ((x.to(device), y.to(device)) for x, y in batches)


def eval_batches(task, num_segments: int, batch_size: int, count: int, seed: int, device="cpu") -> list:
    """The batches of `held_out`, drawn at once, to be read again and again."""
    return list(held_out(task, num_segments, batch_size, count, seed, device))


@torch.no_grad()
def evaluate(model: torch.nn.Module, batches: Iterable, dtype: torch.dtype | None = None,
             free_running: bool = False, progress: bool = False, total: int | None = None) -> dict:
    """Loss, per-token accuracy on the answers and exact match (metrics.py) over `batches` of
    `(tokens (b, s), targets (b, s) or labels (b,))`, with teacher forcing: every answer is predicted from the
    true tokens. With `free_running`, also "eval_free_accuracy" and "eval_free_exact_match": the answers as the
    model writes them out, each fed back (`metrics.free_running_predictions`; next-token tasks). `batches` is
    read once (a list, or `held_out`'s batches drawn one at a time); `progress` shows a bar of `total` batches."""
    was_training = model.training
    model.eval()
    loss, counts, free = 0.0, 0, 0
    bar = progress_bar(total, desc="evaluating", enabled=progress, unit="batches")
    for i, batch in enumerate(batches):  # a compiled model is read eagerly (accel.eager)
        if not (isinstance(batch, (tuple, list)) and len(batch) == 2):
            raise TypeError(f"batches must hold (tokens, targets) pairs, got {type(batch).__name__} at index {i}")
        tokens, targets = batch
        with autocast(tokens.device, dtype), eager():
            out = model(tokens, **supervise(targets))
        batch_counts = answer_counts(out.logits, targets)
        loss, counts = loss + out.loss * batch_counts[1], counts + batch_counts
        if free_running and targets.dim() == 2:
            with eager():
                free = free + prediction_counts(free_running_predictions(model, tokens, targets), targets)
        bar.update(1)
    bar.close()
    if not torch.is_tensor(counts):
        raise ValueError("batches is empty: nothing to evaluate")
    accuracy, exact = accuracy_and_exact_match(counts)
    metrics = {"eval_loss": float(loss) / max(float(counts[1]), 1.0), "eval_accuracy": accuracy,
               "eval_exact_match": exact}
    if torch.is_tensor(free):
        metrics["eval_free_accuracy"], metrics["eval_free_exact_match"] = accuracy_and_exact_match(free)
    model.train(was_training)
    return metrics


# ---------------------------------------------------------------- curricula


def segment_stages(task, target: int, start: int | None = None) -> list[tuple]:
    """A curriculum over the number of segments: `[(task, g) for g = start .. target - 1]` (the stages before
    the target; start defaults to the task's minimum). Bulatov et al., 2023, Sec. 3: 1 -> 2 -> ... segments."""
    start = task.min_segments if start is None else start
    return [(task, g) for g in range(max(start, task.min_segments), target)]


def doubling_counts(start: int, target: int) -> list[int]:
    """The numbers of segments of a doubling curriculum before the target: start, 2 start, 4 start, ... while
    below target (the RMT follow-ups grow the number of segments 1 -> 2 -> 4 -> ...; Bulatov et al., 2023)."""
    counts, g = [], start
    while g < target:
        counts.append(g)
        g *= 2
    return counts


def doubling_stages(task, target: int) -> list[tuple]:
    """A curriculum that doubles the number of segments: `[(task, g0), (task, 2 g0), ...]` below the target, from
    the task's minimum g0 (a long curriculum in few stages)."""
    return [(task, g) for g in doubling_counts(task.min_segments, target)]


def size_stages(task, num_segments: int, size: str, values) -> list[tuple]:
    """A curriculum over one of the task's sizes at g segments, e.g. `size_stages(task, 4, "num_pairs", [2, 3])`:
    `[(task with size=v, g) for v in values]`, easiest first."""
    return [(dataclasses.replace(task, **{size: v}), num_segments) for v in values]


def pair_stages(task, target: int, start: int = 2) -> list[tuple]:
    """A curriculum for associative retrieval: more pairs at the fewest segments, then more segments.

    `[(task with start pairs, g0), ..., (task, g0), (task, g0 + 1), ..., (task, target - 1)]`, where g0 is the
    task's minimum: (2, 2) -> (3, 2) -> (4, 2) -> (4, 3) before 4 pairs over 4 segments of 8. It starts with
    one hop through memory, the cheapest place to leave the 2-pair plateau.
    """
    if not hasattr(task, "num_pairs"):
        raise ValueError(f"curriculum 'pairs': {task.name} has no pairs (use 'segments' or 'none')")
    pairs = size_stages(task, task.min_segments, "num_pairs", range(start, task.num_pairs))
    return pairs + segment_stages(task, target)


def length_stages(task, target: int) -> list[tuple]:
    """A curriculum over the number of segments at a fixed total length (Bulatov et al., 2023: 1 -> 2 -> ...
    segments): the target's g * n tokens cut into g' = 1, 2, ... segments of g * n / g' tokens (g' a divisor of g;
    on the paper's fixed layouts every g' < g). The model reads each stage with its segment length (`train` sets
    it); its memory keeps its size."""
    if isinstance(task, PaperTask):
        return [(paper_task(task.name, g), g) for g in range(1, target)]
    total = task.segment_len * target
    stages = [(dataclasses.replace(task, segment_len=total // g), g) for g in range(1, target) if target % g == 0]
    return [(stage, g) for stage, g in stages if stage.min_segments <= g]


def curriculum_stages(task, target: int, curriculum: str) -> list[tuple]:
    """The stages before the target that `TrainConfig.curriculum` names."""
    if curriculum == "length":
        return length_stages(task, target)
    if curriculum in ("segments", "mixed"):
        return segment_stages(task, target)
    if curriculum == "doubling":
        return doubling_stages(task, target)
    if curriculum == "pairs":
        return pair_stages(task, target)
    return []


# ---------------------------------------------------------------- the loop


def train(model: torch.nn.Module, task, config: TrainConfig | None = None, *, stages=None, checkpoint=None,
          resume=None, callback=None, progress: bool = True, meta: dict | None = None) -> TrainResult:
    """Train `model` on `task` (see tasks.py: `task.sample(b, g, generator) -> tokens, targets (b, s)`) with
    g = `config.segments`: the target, evaluated at the end.

    stages      a curriculum: `(task, g)` stages to go through before the target, easiest first; the run moves
                on when the evaluation accuracy on the current stage reaches `config.curriculum_threshold`.
                Default: the stages of `config.curriculum`
    checkpoint  path written atomically at every evaluation, at the end and on Ctrl-C (None: never)
    resume      a checkpoint (path or loaded dict) to continue from: model, optimizer, step, stage, random
                states and history; the run then goes on exactly as if it had not stopped
    callback    `callback(step, history)` after every optimizer step; returning True ends the run early
    progress    show a progress bar (the notebook widget in Jupyter, whole lines in a log file)
    meta        extra entries for the checkpoint (e.g. the model's and the task's names), kept on resume
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module (e.g. build_model('rmt', cfg)), got {type(model).__name__}")
    if config is not None and not isinstance(config, TrainConfig):
        raise TypeError(f"config must be a TrainConfig, got {type(config).__name__} (a dict d: TrainConfig(**d))")
    missing = [name for name in TASK_API if not hasattr(task, name)]
    if missing:
        raise TypeError(f"task must be a task (e.g. make_task('copy', 8)), got {type(task).__name__}, which has no "
                        f"{', '.join(missing)}")
    cfg = config or TrainConfig()
    target = cfg.segments if cfg.segments is not None else task.min_segments
    if target < task.min_segments:
        raise ValueError(f"TrainConfig.segments={target}, but the task needs at least {task.min_segments}")
    check_batch_tokens("TrainConfig", cfg.batch_size, target, task.segment_len)
    if stages is None:
        stages = curriculum_stages(task, target, cfg.curriculum)
    session = _Session(model, [*stages, (task, target)], cfg, checkpoint, meta)
    if resume is not None:
        session.restore(resume if isinstance(resume, dict) else load_checkpoint(resume))
    return session.run(callback, progress)


class _Session:
    """One call of `train`: the model, its optimizer, the stages, the clocks and what has been recorded."""

    def __init__(self, model, stages, cfg: TrainConfig, checkpoint, meta):
        self.cfg, self.stages, self.checkpoint = cfg, stages, checkpoint
        self.device = resolve_device(cfg.device)
        self.dtype = autocast_dtype(cfg.dtype, self.device)
        self.model = model.to(self.device)
        self.hint = None  # its probe's weights from the seed, after the model's: the RMT's are the same as without
        if cfg.memory_hint:
            self.hint = MemoryHint(model, generator=torch.Generator().manual_seed(cfg.seed)).to(self.device)
        trained = model if self.hint is None else nn.ModuleList([model, self.hint])
        self.optimizer = make_optimizer(trained, cfg, self.device)
        if cfg.compile:
            compile_model(model, cuda_graphs=cfg.cuda_graphs)
        self.generator = torch.Generator().manual_seed(cfg.seed)
        self.result = TrainResult(model, segments=stages[0][1])
        self.meta, self.random, self.eval_sets = dict(meta or {}), None, {}

    def restore(self, state: dict) -> None:
        """Continue from a checkpoint written by `save`: the same model and task, with steps left to do."""
        run = self.result
        self.check_resumable(state)
        load_weights(self.model, state["model"])
        if self.hint is not None:
            self.hint.load_state_dict(state["hint"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.generator.set_state(state["generator"])
        self.random = state["random"]
        run.step, run.stage, run.seconds, run.cpu_seconds = state["step"], state["stage"], state["seconds"], \
            state["cpu_seconds"]
        run.segments, run.history = self.stages[run.stage][1], list(state["history"])
        run.metrics = self.last_target_evaluation(run.history)
        self.meta = {**state.get("meta", {}), **self.meta}

    def check_resumable(self, state: dict) -> None:
        """Refuse, in one line, a checkpoint of another model or task, or a run with nothing left to do."""
        if hasattr(self.model, "cfg") and state.get("model_config") is not None:
            check_same_model(state["model_config"], self.model)
        saved = state.get("meta", {})
        check_agrees("resume", saved, {k: v for k, v in self.meta.items() if k in RUN_META and k in saved})
        check_more_steps(state["step"], self.cfg.steps)
        if (state.get("hint") is not None) != (self.hint is not None):
            was = "with" if state.get("hint") is not None else "without"
            raise ValueError(f"the saved run was trained {was} the memory hint; resume it {was} it")
        if state["stage"] >= len(self.stages):
            raise ValueError(f"the saved run is at stage {state['stage']} of its curriculum, but this curriculum has "
                             f"{len(self.stages)} stages; resume it with the curriculum it was trained with")
        reached = self.last_target_evaluation(state["history"]).get("eval_accuracy")
        if self.cfg.stop_accuracy is not None and reached is not None and reached >= self.cfg.stop_accuracy:
            raise ValueError(f"the run is finished: its accuracy {reached:.3f} reached stop_accuracy="
                             f"{self.cfg.stop_accuracy}; give a higher --stop-accuracy (or none) to train it further")

    def last_target_evaluation(self, history: list) -> dict:
        """The last evaluation record on the target (the last stage) in `history`; {} if none."""
        evals = [r for r in history if "eval_accuracy" in r and r["stage"] == len(self.stages) - 1]
        return evals[-1] if evals else {}

    def save(self) -> None:
        if self.checkpoint is None:
            return
        run = self.result
        save_checkpoint(
            self.checkpoint, model=self.model.state_dict(),
            hint=self.hint.state_dict() if self.hint is not None else None, optimizer=self.optimizer.state_dict(),
            step=run.step, stage=run.stage, segments=run.segments, seconds=run.seconds,
            cpu_seconds=run.cpu_seconds, history=run.history, meta=self.meta, generator=self.generator.get_state(),
            random=random_state(self.device), train_config=self.cfg.to_dict(),
            model_config=self.target_config().to_dict() if hasattr(self.model, "cfg") else None,
        )

    def target_config(self):
        """The model's config at the target's segment length (what a checkpoint rebuilds it with)."""
        n = getattr(self.stages[-1][0], "segment_len", self.model.cfg.segment_len)
        return dataclasses.replace(self.model.cfg, segment_len=n)

    def follow_segment_len(self, stage_task) -> None:
        """Read a stage with its own segment length (curriculum "length": fewer, longer segments first)."""
        n = getattr(stage_task, "segment_len", None)
        if hasattr(self.model, "cfg") and n is not None and self.model.cfg.segment_len != n:
            self.model.cfg = dataclasses.replace(self.model.cfg, segment_len=n)

    def evaluate(self, stage: int, free_running: bool = False) -> dict:
        """Evaluate on the stage's held-out batches (drawn once) and record it."""
        run, cfg = self.result, self.cfg
        stage_task, g = self.stages[stage]
        self.follow_segment_len(stage_task)
        if stage not in self.eval_sets:
            self.eval_sets[stage] = eval_batches(stage_task, g, cfg.batch_size, cfg.eval_batches, cfg.eval_seed,
                                                 self.device)
        record = {"step": run.step, **evaluate(self.model, self.eval_sets[stage], self.dtype, free_running),
                  "segments": g,
                  "stage": stage, "seconds": run.seconds, "cpu_seconds": run.cpu_seconds}
        run.history.append(record)
        if stage == len(self.stages) - 1:
            run.metrics = record
        return record

    def step(self, lr: float) -> torch.Tensor:
        """One optimizer step on a fresh batch of the current stage; the (task, hint) losses, detached `(2,)`."""
        stage_task, g = self.stages[self.result.stage]
        self.follow_segment_len(stage_task)
        if self.cfg.curriculum == "mixed":  # any number of segments up to the stage's
            low = stage_task.min_segments
            g = low + int(torch.randint(g - low + 1, (1,), generator=self.generator))
        tokens, targets = (x.to(self.device, non_blocking=True) for x in
                           stage_task.sample(self.cfg.batch_size, g, self.generator))
        set_lr(self.optimizer, lr)
        torch.compiler.cudagraph_mark_step_begin()  # CUDA graphs: a new step begins
        with autocast(self.device, self.dtype):
            # the task's own tokens are in range: no check, which would stop a compiled graph at every step
            out = self.model(tokens, **supervise(targets), return_logits=False, check_ids=False)
            hint_loss = (torch.zeros_like(out.loss) if self.hint is None
                         else self.hint(self.model.backbone.head, out.memories[0], tokens))
        self.optimizer.zero_grad(set_to_none=True)
        (out.loss + hint_loss).backward()
        clip_and_step(self.optimizer, self.cfg.clip)
        return torch.stack([out.loss, hint_loss]).detach()

    def run(self, callback, progress: bool) -> TrainResult:
        run, cfg, last_stage = self.result, self.cfg, len(self.stages) - 1
        bar = progress_bar(cfg.steps, run.step, type(self.model).__name__, progress)
        clock, cpu_clock = Stopwatch(run.seconds), Stopwatch(run.cpu_seconds, time.process_time)
        postfix, losses = {}, []  # losses: detached pairs since the last record, read once per record
        self.model.train()
        with seeded_global_rng(cfg.seed, self.device, self.random):
            with stop_on_interrupt() as stop:
                while run.step < cfg.steps:
                    lr = lr_at(run.step, cfg.lr, cfg.warmup, cfg.steps, cfg.min_lr_ratio)
                    losses.append(self.step(lr))
                    run.step += 1
                    bar.update(1)
                    last, solved = run.step == cfg.steps, False
                    run.seconds, run.cpu_seconds = clock.read(), cpu_clock.read()
                    if run.step % cfg.log_every == 0 or last:
                        loss, hint_loss = torch.stack(losses).mean(0).tolist()
                        record = {"step": run.step, "loss": loss, "lr": lr, "segments": run.segments,
                                  "stage": run.stage, "seconds": run.seconds, "cpu_seconds": run.cpu_seconds}
                        run.history.append(record if self.hint is None else {**record, "hint_loss": hint_loss})
                        postfix["loss"], losses = loss, []
                        bar.set_postfix({k: round(v, 4) for k, v in postfix.items()}, refresh=False)
                    if run.step % cfg.eval_every == 0 or last:
                        with clock.paused(), cpu_clock.paused():
                            postfix["acc"] = accuracy = self.evaluate(run.stage)["eval_accuracy"]
                            solved = (run.stage == last_stage and cfg.stop_accuracy is not None
                                      and accuracy >= cfg.stop_accuracy)
                            if run.stage < last_stage and accuracy >= cfg.curriculum_threshold:
                                run.stage += 1
                                run.segments = self.stages[run.stage][1]
                            self.save()
                        if last_stage:
                            postfix.update(g=run.segments, stage=run.stage)
                    if solved or (callback is not None and callback(run.step, run.history)):
                        break
            run.seconds, run.cpu_seconds = clock.read(), cpu_clock.read()
            run.interrupted = stop.interrupted
            self.follow_segment_len(self.stages[-1][0])  # the model is the target's, however far the run got
            if not run.interrupted:  # the final evaluation on the target, with the answers written out too
                if run.history and run.history[-1] is run.metrics:  # evaluated at this step already: again, in full
                    run.history.pop()
                self.evaluate(last_stage, free_running=True)
            self.save()
        bar.close()
        return run

