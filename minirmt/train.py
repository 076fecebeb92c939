"""One training loop for every model and every synthetic task: AdamW, warm-up + cosine, evaluation,
a curriculum over the number of segments, early stopping, the RMT's memory hint (hint.py), atomic checkpoints,
exact resume and a clean Ctrl-C.

The pieces are public and small so that other loops (the language-model loop in lm.py) reuse them:
`make_optimizer`, `lr_at`, `save_checkpoint` / `load_checkpoint`, `stop_on_interrupt`, `resolve_device`.

Randomness. Batches come from an explicit training `torch.Generator` (seeded by `TrainConfig.seed`) and
evaluation batches from a second one (`eval_seed`), drawn once and reused, so every evaluation sees the
same held-out sequences. Dropout is the only user of PyTorch's global generator; the loop runs inside
`torch.random.fork_rng`, seeded from `seed`, so the caller's global state is left as it was and a resumed run
continues the same dropout stream. Model initialisation is the caller's: `seeded_model` builds a model
inside its own `fork_rng` from a seed.
"""

import dataclasses
import math
import os
import tempfile
import time
from contextlib import contextmanager, nullcontext
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

import torch
from torch import nn
from tqdm.auto import tqdm

from .hint import MemoryHint
from .validation import IGNORE_INDEX


@dataclass
class TrainConfig:
    """The loop's own settings (the model's are in ModelConfig, the task's in make_task).

    steps             optimizer steps; the learning-rate schedule spans them
    batch_size        sequences per step (and per evaluation batch)
    lr                peak learning rate, reached after `warmup` linear steps, then cosine decay
    min_lr_ratio      the cosine ends at lr * min_lr_ratio
    weight_decay      AdamW decoupled weight decay on matrices (not on biases and norms)
    betas             AdamW betas
    clip              gradient-norm clipping (None: off)
    segments          g, segments per training and evaluation sequence (None: the task's minimum)
    bptt_depth        gradients flow back through at most this many segments (None: the model's setting)
    curriculum        start at the task's minimum number of segments and add one whenever the evaluation
                      accuracy reaches `curriculum_threshold`, up to `segments` (Bulatov et al., 2023,
                      "Scaling Transformer to 1M tokens and beyond with RMT", Sec. 3); `train(stages=...)`
                      takes any other curriculum
    curriculum_threshold   evaluation accuracy that moves a curriculum to its next stage
    stop_accuracy     end the run at the first evaluation on the target whose accuracy reaches this (None: run
                      every step; the learning-rate schedule still spans `steps`)
    memory_hint       add the memory hint's losses to the training loss (hint.py: RMT only, a training aid not
                      in the paper; the evaluated and saved model stays a plain RMT)
    eval_every        evaluate every this many steps (and after the last one)
    eval_batches      held-out batches per evaluation
    eval_seed         seed of the held-out batches
    log_every         record the mean training loss every this many steps
    seed              seed of the training batches and of dropout
    device            "auto" (CUDA if available), "cpu", "cuda" or "cuda:1"...
    autocast          bfloat16 autocast on CUDA (ignored on the CPU)
    """

    steps: int = 1000
    batch_size: int = 64
    lr: float = 3e-3
    warmup: int = 100
    min_lr_ratio: float = 0.1
    weight_decay: float = 0.01
    betas: tuple[float, float] = (0.9, 0.98)
    clip: float | None = 1.0
    segments: int | None = None
    bptt_depth: int | None = None
    curriculum: bool = False
    curriculum_threshold: float = 0.97
    stop_accuracy: float | None = None
    memory_hint: bool = False
    eval_every: int = 100
    eval_batches: int = 4
    eval_seed: int = 12345
    log_every: int = 10
    seed: int = 0
    device: str = "auto"
    autocast: bool = True

    def __post_init__(self):
        self.betas = tuple(self.betas)
        for name in ("steps", "batch_size", "eval_every", "eval_batches", "log_every"):
            value = getattr(self, name)
            _require(name, value, isinstance(value, int) and value >= 1, "an int >= 1")
        _require("warmup", self.warmup, isinstance(self.warmup, int) and self.warmup >= 0, "an int >= 0")
        _require("lr", self.lr, self.lr > 0, "> 0")
        _require("min_lr_ratio", self.min_lr_ratio, 0 <= self.min_lr_ratio <= 1, "in [0, 1]")
        _require("weight_decay", self.weight_decay, self.weight_decay >= 0, ">= 0")
        _require("betas", self.betas, len(self.betas) == 2 and all(0 <= x < 1 for x in self.betas),
                 "two numbers in [0, 1)")
        _require("clip", self.clip, self.clip is None or self.clip > 0, "> 0 or None")
        for name in ("segments", "bptt_depth"):
            value = getattr(self, name)
            ok = value is None or (isinstance(value, int) and value >= 1)
            _require(name, value, ok, "an int >= 1 or None")
        _require("curriculum_threshold", self.curriculum_threshold, 0 < self.curriculum_threshold <= 1,
                 "in (0, 1]")
        _require("stop_accuracy", self.stop_accuracy, self.stop_accuracy is None or 0 < self.stop_accuracy <= 1,
                 "in (0, 1] or None")

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "TrainConfig":
        """The inverse of to_dict; keys this version does not know are ignored."""
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in known})


def _require(name, value, ok, expected) -> None:
    if not ok:
        raise ValueError(f"TrainConfig: {name}={value!r}, expected {expected}")


@dataclass
class TrainResult:
    """What `train` returns.

    model        the trained model (the same object that was passed in)
    history      every record, oldest first: training records {"step", "loss", "lr", "segments", "stage",
                 "seconds", "cpu_seconds"} ("loss" is the task's; with the memory hint also "hint_loss",
                 the hint's, which training adds to it) and evaluation records {"step", "eval_loss", "eval_accuracy",
                 "eval_exact_match", "segments", "stage", "seconds", "cpu_seconds"}; "seconds" is training
                 time so far, evaluation excluded, "cpu_seconds" the same in CPU seconds
    metrics      the last evaluation on the target number of segments (empty if none ran)
    step         optimizer steps done
    segments     g of the stage the run ended in (the target's without a curriculum)
    stage        index of that stage in the curriculum (the target is the last)
    interrupted  True if Ctrl-C (KeyboardInterrupt) stopped the run; the model and history are kept
    seconds      training time, evaluation excluded
    cpu_seconds  the same in CPU seconds of this process (all its threads)
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


# ---------------------------------------------------------------- reusable pieces


def resolve_device(device: str | torch.device) -> torch.device:
    """"auto" -> CUDA if available, else CPU; anything else is checked and passed through."""
    if str(device) == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(device)
    except RuntimeError as e:
        raise ValueError(f"device={str(device)!r} is not a device: expected 'auto', 'cpu', 'cuda' or 'cuda:N'") from e
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device={str(device)!r}, but CUDA is not available here (use 'cpu' or 'auto')")
    return device


def make_optimizer(model: torch.nn.Module, lr: float, weight_decay: float = 0.01,
                   betas: tuple[float, float] = (0.9, 0.98), device=None) -> torch.optim.AdamW:
    """AdamW with weight decay on matrices only (weights, embeddings, memory), not on biases and norms.

    Fused kernels on CUDA; call it after `model.to(device)`.
    """
    params = [p for p in model.parameters() if p.requires_grad]
    groups = [
        {"params": [p for p in params if p.dim() >= 2], "weight_decay": weight_decay},
        {"params": [p for p in params if p.dim() < 2], "weight_decay": 0.0},
    ]
    fused = device is not None and torch.device(device).type == "cuda"
    return torch.optim.AdamW(groups, lr=lr, betas=tuple(betas), fused=fused or None)


def lr_at(step: int, lr: float, warmup: int, total: int, min_lr_ratio: float = 0.1) -> float:
    """Learning rate of step `step` (0-based): linear warm-up to `lr` over `warmup` steps, then cosine
    decay to `lr * min_lr_ratio` at step `total`."""
    if step < warmup:
        return lr * (step + 1) / warmup
    progress = min(1.0, (step - warmup) / max(1, total - warmup))
    return lr * (min_lr_ratio + (1 - min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * progress)))


def save_checkpoint(path: str | Path, **state) -> Path:
    """Write `state` (tensors, state dicts, numbers, strings, lists, dicts) to `path` atomically.

    The data goes to a temporary file in the same folder, then `os.replace` swaps it in: a crash or
    Ctrl-C mid-write leaves the previous checkpoint intact, never a truncated one.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save(state, f)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def load_checkpoint(path: str | Path, map_location="cpu") -> dict:
    """Read a checkpoint written by `save_checkpoint` (tensors land on `map_location`)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint at {str(path)!r}")
    return torch.load(path, map_location=map_location, weights_only=True)


class Interrupt:
    """Set by `stop_on_interrupt` when Ctrl-C (KeyboardInterrupt) ended the block early."""

    interrupted = False


@contextmanager
def stop_on_interrupt():
    """Turn Ctrl-C inside the block into a clean stop: the block ends, the program goes on.

        with stop_on_interrupt() as stop:
            for step in ...: ...
        if stop.interrupted: ...   # keep the model and the history gathered so far

    A step interrupted half way (say, inside `optimizer.step()`) may have updated some parameters.
    """
    flag = Interrupt()
    try:
        yield flag
    except KeyboardInterrupt:
        flag.interrupted = True


def seeded_model(name: str, cfg, seed: int) -> torch.nn.Module:
    """`minirmt.build_model(name, cfg)` with its initial weights drawn from `seed`.

    PyTorch's initialisers read the global generator; this runs them inside `torch.random.fork_rng`,
    so the caller's global random state is untouched.
    """
    from . import build_model

    with torch.random.fork_rng(devices=[]):
        torch.default_generator.manual_seed(seed)  # the CPU generator, where modules are initialised
        return build_model(name, cfg)


# ---------------------------------------------------------------- evaluation


def eval_batches(task, num_segments: int, batch_size: int, count: int, seed: int, device="cpu") -> list:
    """`count` held-out batches `(tokens (b, s), targets (b, s))` of `task`, the same for a given seed."""
    generator = torch.Generator().manual_seed(seed)
    batches = [task.sample(batch_size, num_segments, generator) for _ in range(count)]
    return [(x.to(device), y.to(device)) for x, y in batches]


@torch.no_grad()
def evaluate(model: torch.nn.Module, batches: list, bptt_depth=None, autocast: bool = True) -> dict:
    """Loss, per-token accuracy on answer positions (targets != -100), and exact match (every answer token
    of a sequence right) over `batches` of `(tokens (b, s), targets (b, s))`."""
    was_training = model.training
    model.eval()
    loss = correct = answers = exact = sequences = 0
    for tokens, targets in batches:
        with _autocast(tokens.device, autocast):
            out = model(tokens, targets=targets, bptt_depth=bptt_depth)
        mask = targets != IGNORE_INDEX  # (b, s)
        right = (out.logits.argmax(-1) == targets) & mask
        loss = loss + out.loss * mask.sum()
        correct, answers = correct + right.sum(), answers + mask.sum()
        exact = exact + (right.sum(1) == mask.sum(1)).sum()
        sequences += tokens.shape[0]
    model.train(was_training)
    loss, correct, answers, exact = torch.stack([loss, correct, answers, exact]).double().tolist()  # one sync
    return {
        "eval_loss": loss / max(answers, 1),
        "eval_accuracy": correct / max(answers, 1),
        "eval_exact_match": exact / sequences,
    }


def _autocast(device: torch.device, enabled: bool):
    if enabled and device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return nullcontext()


# ---------------------------------------------------------------- the loop


def segment_stages(task, target: int, start: int | None = None) -> list[tuple]:
    """A curriculum over the number of segments: `[(task, g) for g = start .. target - 1]` (the stages before
    the target; start defaults to the task's minimum). Bulatov et al., 2023, Sec. 3: 1 -> 2 -> ... segments."""
    start = task.min_segments if start is None else start
    return [(task, g) for g in range(max(start, task.min_segments), target)]


def size_stages(task, num_segments: int, size: str, values) -> list[tuple]:
    """A curriculum over one of the task's sizes at g segments, e.g. `size_stages(task, 4, "num_pairs", [2, 3])`:
    `[(task with size=v, g) for v in values]`, easiest first (GUIDE.md, Sec. 3: associative recall)."""
    return [(dataclasses.replace(task, **{size: v}), num_segments) for v in values]


def pair_stages(task, target: int, start: int = 2) -> list[tuple]:
    """A curriculum for associative retrieval: more pairs at the fewest segments, then more segments.

    `[(task with start pairs, g0), ..., (task, g0), (task, g0 + 1), ..., (task, target - 1)]`, where g0 is the
    task's minimum: (2, 2) -> (3, 2) -> (4, 2) -> (4, 3) before 4 pairs over 4 segments of 8. It starts with
    one hop through memory, the cheapest place to leave the 2-pair plateau (bench/results/assoc_variants).
    """
    pairs = size_stages(task, task.min_segments, "num_pairs", range(start, task.num_pairs))
    return pairs + segment_stages(task, target)


def train(model: torch.nn.Module, task, config: TrainConfig | None = None, *, stages=None, checkpoint=None,
          resume=None, callback=None, progress: bool = True, meta: dict | None = None) -> TrainResult:
    """Train `model` on `task` (see tasks.py: `task.sample(b, g, generator) -> tokens, targets (b, s)`) with
    g = `config.segments`: the target, evaluated at the end.

    stages      a curriculum: `(task, g)` stages to go through before the target, easiest first; the run moves
                on when the evaluation accuracy on the current stage reaches `config.curriculum_threshold`.
                Default: `segment_stages(task, g)` with `config.curriculum`, else none.
    checkpoint  path written atomically at every evaluation, at the end and on Ctrl-C (None: never)
    resume      a checkpoint (path or loaded dict) to continue from: model, optimizer, step, stage, random
                states and history; the run then goes on exactly as if it had not stopped
    callback    `callback(step, history)` after every optimizer step; returning True ends the run early
    progress    show a tqdm progress bar (the notebook widget in Jupyter)
    meta        extra entries for the checkpoint (e.g. the model's and the task's names), kept on resume
    """
    cfg = config or TrainConfig()
    target = cfg.segments if cfg.segments is not None else task.min_segments
    if target < task.min_segments:
        raise ValueError(f"TrainConfig.segments={target}, but the task needs at least {task.min_segments}")
    if stages is None:
        stages = segment_stages(task, target) if cfg.curriculum else []
    stages = [*stages, (task, target)]
    device = resolve_device(cfg.device)
    model.to(device)
    hint = None
    if cfg.memory_hint:  # its probe's weights from the seed, after the model's: the RMT's are the same as without
        hint = MemoryHint(model, generator=torch.Generator().manual_seed(cfg.seed)).to(device)
    trained = model if hint is None else nn.ModuleList([model, hint])  # what the optimizer updates
    optimizer = make_optimizer(trained, cfg.lr, cfg.weight_decay, cfg.betas, device)
    generator = torch.Generator().manual_seed(cfg.seed)
    run = TrainResult(model, segments=stages[0][1])
    meta, global_rng = dict(meta or {}), None
    if resume is not None:
        state = resume if isinstance(resume, dict) else load_checkpoint(resume)
        model.load_state_dict(state["model"])
        if hint is not None:
            hint.load_state_dict(state["hint"])
        optimizer.load_state_dict(state["optimizer"])
        generator.set_state(state["generator"])
        global_rng = state["global_rng"]
        run.step, run.stage, run.seconds = state["step"], state["stage"], state["seconds"]
        run.cpu_seconds, run.segments = state["cpu_seconds"], stages[run.stage][1]
        run.history = list(state["history"])
        evals = [r for r in run.history if "eval_accuracy" in r and r["stage"] == len(stages) - 1]
        run.metrics = evals[-1] if evals else {}
        meta = {**state.get("meta", {}), **meta}

    def save():
        if checkpoint is not None:
            save_checkpoint(
                checkpoint, model=model.state_dict(), hint=hint.state_dict() if hint is not None else None,
                optimizer=optimizer.state_dict(), step=run.step,
                stage=run.stage, segments=run.segments, seconds=run.seconds, cpu_seconds=run.cpu_seconds,
                history=run.history, meta=meta,
                generator=generator.get_state(), global_rng=torch.get_rng_state(), train_config=cfg.to_dict(),
                model_config=model.cfg.to_dict() if hasattr(model, "cfg") else None,
            )

    eval_sets = {}  # stage -> its held-out batches, drawn once

    def run_eval(stage: int) -> dict:
        stage_task, g = stages[stage]
        if stage not in eval_sets:
            eval_sets[stage] = eval_batches(stage_task, g, cfg.batch_size, cfg.eval_batches, cfg.eval_seed, device)
        record = {"step": run.step, **evaluate(model, eval_sets[stage], cfg.bptt_depth, cfg.autocast),
                  "segments": g, "stage": stage, "seconds": run.seconds, "cpu_seconds": run.cpu_seconds}
        run.history.append(record)
        if stage == len(stages) - 1:
            run.metrics = record
        return record

    bar = tqdm(total=cfg.steps, initial=run.step, desc=type(model).__name__, dynamic_ncols=True) if progress \
        else NoBar()
    postfix = {}
    clock, cpu_clock = Stopwatch(run.seconds), Stopwatch(run.cpu_seconds, time.process_time)
    model.train()
    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        torch.default_generator.manual_seed(cfg.seed)
        if device.type == "cuda":
            torch.cuda.manual_seed(cfg.seed)
        if global_rng is not None:
            torch.set_rng_state(global_rng)
        with stop_on_interrupt() as stop:
            losses = []  # detached (task loss, hint loss) pairs since the last record: no sync per step
            while run.step < cfg.steps:
                stage_task, run.segments = stages[run.stage]
                lr = lr_at(run.step, cfg.lr, cfg.warmup, cfg.steps, cfg.min_lr_ratio)
                batch = stage_task.sample(cfg.batch_size, run.segments, generator)
                losses.append(_train_step(model, hint, optimizer, lr, batch, cfg, device))
                run.step += 1
                bar.update(1)
                last, solved = run.step == cfg.steps, False
                if run.step % cfg.log_every == 0 or last:
                    loss, hint_loss = torch.stack(losses).mean(0).tolist()  # the loop's one sync between evals
                    postfix["loss"] = loss
                    run.seconds, run.cpu_seconds = clock.read(), cpu_clock.read()
                    record = {"step": run.step, "loss": loss, "lr": lr, "segments": run.segments,
                              "stage": run.stage, "seconds": run.seconds, "cpu_seconds": run.cpu_seconds}
                    if hint is not None:
                        record["hint_loss"] = hint_loss
                    run.history.append(record)
                    losses = []
                if run.step % cfg.eval_every == 0 or last:
                    with clock.paused(), cpu_clock.paused():
                        run.seconds, run.cpu_seconds = clock.read(), cpu_clock.read()
                        postfix["acc"] = run_eval(run.stage)["eval_accuracy"]
                        solved = (run.stage == len(stages) - 1 and cfg.stop_accuracy is not None
                                  and postfix["acc"] >= cfg.stop_accuracy)
                        if run.stage < len(stages) - 1 and postfix["acc"] >= cfg.curriculum_threshold:
                            run.stage += 1
                            run.segments = stages[run.stage][1]
                        save()
                if run.step % cfg.log_every == 0 or last:
                    if len(stages) > 1:
                        postfix.update(g=run.segments, stage=run.stage)
                    bar.set_postfix({k: round(v, 4) for k, v in postfix.items()}, refresh=False)
                if solved or (callback is not None and callback(run.step, run.history)):
                    break
        run.seconds, run.cpu_seconds = clock.read(), cpu_clock.read()
        run.interrupted = stop.interrupted
        if not run.interrupted and run.metrics.get("step") != run.step:
            run_eval(len(stages) - 1)  # stopped early, or the curriculum has not reached the target yet
        save()
    bar.close()
    return run


class NoBar:
    """Stands in for the progress bar when there is none (a disabled tqdm still creates process locks)."""

    def update(self, n=1):
        pass

    def set_postfix(self, *args, **kwargs):
        pass

    def close(self):
        pass


class Stopwatch:
    """Seconds of `clock` since creation (plus `start`), not counting the time inside `paused()` blocks.

    clock: `time.perf_counter` (wall clock) or `time.process_time` (CPU seconds of all this process's threads:
    the steadier measure on a machine that other jobs share).
    """

    def __init__(self, start: float = 0.0, clock=time.perf_counter):
        self.clock = clock
        self.origin = clock() - start

    def read(self) -> float:
        return self.clock() - self.origin

    @contextmanager
    def paused(self):
        begin = self.clock()
        try:
            yield
        finally:
            self.origin += self.clock() - begin


def _train_step(model, hint, optimizer, lr: float, batch, cfg: TrainConfig, device) -> torch.Tensor:
    """One optimizer step at learning rate `lr` on `batch = (tokens (b, s), targets (b, s))`, minimising the
    task's loss plus, with `hint` (a MemoryHint, or None), the hint's loss on the memory after the first segment.
    Returns the two losses as a detached tensor `(2,)` (reading it would wait for the device)."""
    for group in optimizer.param_groups:
        group["lr"] = lr
    tokens, targets = (x.to(device, non_blocking=True) for x in batch)
    with _autocast(device, cfg.autocast):
        out = model(tokens, targets=targets, bptt_depth=cfg.bptt_depth, return_logits=False)
        hint_loss = torch.zeros_like(out.loss) if hint is None else hint(model.backbone.head, out.memories[0], tokens)
    optimizer.zero_grad(set_to_none=True)
    (out.loss + hint_loss).backward()
    if cfg.clip is not None:  # every parameter the optimizer updates: the model's, and the hint's probe
        torch.nn.utils.clip_grad_norm_([p for group in optimizer.param_groups for p in group["params"]], cfg.clip)
    optimizer.step()
    return torch.stack([out.loss, hint_loss]).detach()
