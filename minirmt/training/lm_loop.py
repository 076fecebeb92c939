"""Language modelling on a contiguous token stream, from a laptop CPU to several GPUs (RMT paper, Sec. 4).

The paper trains RMT, Transformer-XL and MemTr-XL as language models on WikiText-103 and enwik8: the corpus
is one long stream, each batch `(b, g * n)` continues the rows of the previous one, and the state a model
carries (RMT memory `(b, m, d)`, an XL cache `(l, b, c, d)`) passes from one batch to the next, detached,
as in Transformer-XL (Dai et al., 2019, Sec. 3.2). Inside a batch gradients flow back through the memory of
its g segments (BPTT; `bptt_depth` truncates it). The state starts afresh at every epoch.

    batch k:    [seg 1 | seg 2 | ... | seg g]  --state (detached)-->  batch k + 1: [seg 1 | ... | seg g]

The GPU path (accel.py): bfloat16 autocast, fused AdamW, `torch.compile`, gradient accumulation, tokens/s and
model FLOPs utilisation (MFU) in the log, and data parallelism under `torchrun --nproc_per_node=N`: each
process takes its own rows of the stream, gradients and metrics are averaged, rank 0 logs and saves.

    train_lm(LMConfig(corpus="wikitext-103", model="rmt", time_budget=600))    # -> LMResult
    evaluate_lm(model, test_ids, unit="ppl")                                     # -> {"loss", "ppl", ...}
"""

import json
import math
import os
from contextlib import nullcontext
from dataclasses import dataclass, field, fields
from pathlib import Path

import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel

from minirmt import viz
from minirmt.data.corpora import UNITS, check_stream, corpus_info, num_batches, stream_batches, stream_rows
from minirmt.model.config import PRESETS, ModelConfig, option, preset
from minirmt.model.recurrence import map_state
from minirmt.model.registry import MODELS, build_model
from minirmt.model.rmt import RecurrentMemoryTransformer
from minirmt.model.validation import check_tokens, require, require_int

from .accel import (
    all_min,
    all_reduce,
    compile_model,
    count_params,
    device_name,
    flops_per_token,
    init_distributed,
    peak_flops,
)
from .checkpoints import load_checkpoint, load_weights, random_state, save_checkpoint, seeded_global_rng
from .common import LoopConfig, autocast, autocast_dtype, check_batch_tokens, lr_at, make_optimizer, set_lr
from .perplexity import eval_seq_len, evaluate_lm
from .progress import BudgetClock, stop_on_interrupt
from .run_folder import check_agrees, check_more_steps, check_same_model, claim, same_folder

WARM_STEPS = 2  # the first steps of a run compile the model (no state, then a carried state): off the clock
FILES = ("checkpoint.pt", "metrics.json", "curves.png", "by_position.png")  # what a run writes into `out`


@dataclass
class LMConfig(LoopConfig):
    """Everything a language-model run needs; the model is `preset` with `model_args` laid over it."""

    corpus: str | None = option("wikitext-2", "a corpus name (wikitext-2, wikitext-103, pg-books, ...) or a text "
                                              "file or folder, read as bytes")
    data_root: str | None = option(None, "folder that holds the corpus (none: the data folder, see `download`)")
    train_split: str = option("train", "split to train on")
    valid_split: str | None = option("valid", "split to validate on (none: skip)")
    test_split: str | None = option("test", "split to test on (none: skip)")
    train_tokens: int | None = option(None, "read at most this many training tokens (none: all)")
    eval_tokens: int | None = option(None, "evaluate on this prefix of valid and test (none: the whole split)")
    vocab_size: int | None = option(None, "v (none: the corpus's)")
    unit: str | None = option(None, "ppl: word perplexity; bpb: bits per byte (none: the corpus's)",
                              choices=UNITS)
    model: str = option("rmt", "which model (see `python -m minirmt models`)", choices=tuple(MODELS))
    preset: str = option("wikitext", "the ModelConfig preset the model's sizes start from", choices=tuple(PRESETS))
    model_args: dict = option({}, "ModelConfig fields laid over the preset, e.g. {'d_model': 256}")
    segments: int = option(4, "g, segments per row of a batch: a batch is (b, g * n)")
    time_budget: float | None = option(None, "seconds of training (evaluation and the first two, compiling, steps "
                                             "not counted); the cosine schedule then spans the steps that the "
                                             "measured speed allows")
    accumulation: int = option(1, "split each batch into this many micro-batches of rows (less memory)")
    eval_batch_size: int | None = option(None, "rows of an evaluation batch (none: batch_size)")
    save_every: int = option(0, "checkpoint every this many steps (0: at evaluations and at the end)")
    peak_flops: float | None = option(None, "peak FLOP/s of one device for MFU (none: looked up by name)")
    out: str | None = option(None, "folder for metrics.json, curves.png, by_position.png and checkpoint.pt")
    # the language model's own defaults for the loop's settings
    lr: float = option(6e-4, "peak learning rate, reached after the warm-up, then a cosine decay")
    warmup: int = option(200, "linear warm-up steps")
    weight_decay: float = option(0.1, "AdamW's decoupled weight decay on matrices (not on biases and norms)")
    betas: tuple[float, float] = option((0.9, 0.95), "AdamW's betas")
    eval_every: int = option(0, "validate every this many steps (0: only at the end)")

    # the settings a resumed run must keep: its stream (rows and their positions) and its model
    RUN_FIELDS = ("corpus", "train_split", "train_tokens", "vocab_size", "unit", "model", "segments", "batch_size",
                  "accumulation")

    def __post_init__(self):
        super().__post_init__()
        for name in ("segments", "accumulation"):
            require_int("LMConfig", name, getattr(self, name), minimum=1)
        require_int("LMConfig", "save_every", self.save_every, minimum=0)
        for name in ("train_tokens", "eval_tokens", "eval_batch_size", "vocab_size"):
            require_int("LMConfig", name, getattr(self, name), minimum=1, optional=True)
        require("LMConfig", "model", self.model, self.model in MODELS, f"one of {tuple(MODELS)}")
        require("LMConfig", "unit", self.unit, self.unit in (None, *UNITS), f"one of {UNITS} or none")
        if self.steps is None and self.time_budget is None:
            raise ValueError("LMConfig: steps=None and time_budget=None; give at least one (when to stop)")
        require("LMConfig", "time_budget", self.time_budget, self.time_budget is None or self.time_budget > 0,
                "> 0 or none")
        if self.batch_size % self.accumulation:
            raise ValueError(f"LMConfig: accumulation={self.accumulation} must divide batch_size={self.batch_size}")
        if not isinstance(self.model_args, dict):
            raise TypeError(f"LMConfig: model_args must be a dict of ModelConfig fields, got "
                            f"{type(self.model_args).__name__} {self.model_args!r}")
        allowed = {f.name for f in fields(ModelConfig)} - {"vocab_size"}  # the vocabulary is the corpus's
        unknown = sorted(set(self.model_args) - allowed)
        if unknown:
            raise ValueError(f"LMConfig: model_args {unknown} are not ModelConfig fields (vocab_size is the corpus's)")
        if self.corpus is None and (self.vocab_size is None or self.unit is None):
            raise ValueError("LMConfig: corpus=None needs vocab_size and unit (and the ids passed to train_lm)")


@dataclass
class LMResult:
    """What `train_lm` returns: the model (without the DDP wrapper), the records, the final evaluations.

    history      training records {"step", "tokens", "seconds", "budget_seconds", "lr", "loss", "tokens_per_s",
                 "mfu"} and evaluation records {..., "valid_loss", "valid_<unit>"}; "seconds" is training time,
                 "budget_seconds" the same without the first two (compiling) steps; "tokens" counts all processes
    final        {"valid": ..., "test": ...}: `evaluate_lm` of the last model on each split given
    tokens_per_s training throughput after the first two steps, all processes together; mfu the same as model
                 FLOPs utilisation (None if the peak is unknown); info: the rest of metrics.json
    """

    model: torch.nn.Module
    history: list = field(default_factory=list)
    final: dict = field(default_factory=dict)
    step: int = 0
    tokens: int = 0
    seconds: float = 0.0
    tokens_per_s: float | None = None
    mfu: float | None = None
    interrupted: bool = False
    info: dict = field(default_factory=dict)


def model_config(cfg: LMConfig, vocab_size: int) -> ModelConfig:
    """The ModelConfig of a run: `cfg.preset` with the corpus's vocabulary and `cfg.model_args` laid over it."""
    return preset(cfg.preset, vocab_size=vocab_size, **cfg.model_args)


def freeze_initial_memory(model: torch.nn.Module) -> None:
    """Keep the RMT's learned initial memory fixed (requires_grad False) while it models a stream.

    The state is carried from batch to batch (module docstring), so the initial memory is read only where a
    pass over the stream starts: one batch in thousands would train it. Fixed at its initialisation, it also
    leaves DistributedDataParallel no parameter without a gradient, which DDP would otherwise have to search
    for after every forward pass (find_unused_parameters=True).
    """
    if isinstance(model, RecurrentMemoryTransformer):
        model.memory.requires_grad_(False)


# ---------------------------------------------------------------- one step


def _detach(state):
    """The state without its graph, copied: a CUDA graph may overwrite its own outputs when replayed again."""
    return map_state(lambda x: x.detach().clone(), state)


def train_step(model, optimizer, tokens, targets, states: list, clip: float | None,
               dtype: torch.dtype | None) -> tuple[torch.Tensor, list]:
    """One optimizer step on a batch `tokens, targets (b, g * n)`, carrying each micro-batch's state.

    The batch is split into `len(states)` micro-batches of rows; micro-batch i starts from `states[i]` (the
    state it ended the previous batch with, detached, or None) and its gradients are accumulated (DDP
    synchronises them once, on the last micro-batch). Returns the mean loss (a detached scalar) and the new
    states, detached: gradients never cross a batch boundary (Transformer-XL style).
    """
    parts = len(states)
    ddp = isinstance(model, DistributedDataParallel)
    optimizer.zero_grad(set_to_none=True)
    loss_sum, new_states = 0.0, []
    for i, (x, y) in enumerate(zip(tokens.chunk(parts), targets.chunk(parts))):
        sync = model.no_sync() if ddp and i < parts - 1 else nullcontext()
        torch.compiler.cudagraph_mark_step_begin()  # CUDA graphs: a new step begins
        with sync:
            with autocast(x.device, dtype):  # the ids were checked once, for the whole stream
                out = model(x, memory=states[i], targets=y, return_logits=False, check_ids=False)
            (out.loss / parts).backward()
        loss_sum = loss_sum + out.loss.detach() / parts
        new_states.append(_detach(out.memory))
    if clip is not None:
        torch.nn.utils.clip_grad_norm_(model.parameters(), clip)
    optimizer.step()
    return loss_sum, new_states


def _batches(ids, batch_size, seq_len, rank, world_size, epoch, start):
    """Endless `(epoch, k, tokens, targets)`: batch k of every epoch, from batch `start` of `epoch` on."""
    while True:
        stream = stream_batches(ids, batch_size, seq_len, rank, world_size, start=start, drop_last=True)
        for k, (x, y) in enumerate(stream, start):
            yield epoch, k, x, y
        epoch, start = epoch + 1, 0


# ---------------------------------------------------------------- the loop


def train_lm(cfg: LMConfig, *, train_ids: torch.Tensor | None = None, valid_ids: torch.Tensor | None = None,
             test_ids: torch.Tensor | None = None, model: torch.nn.Module | None = None, resume=None,
             callback=None, log=print, overwrite: bool = False) -> LMResult:
    """Train a language model on a contiguous stream (see the module docstring) and evaluate it.

    train_ids, valid_ids, test_ids   token ids `(N,)`; by default loaded from `cfg.corpus`
    model     a model to train (default: `cfg.model` built from `model_config(cfg, v)` with seed `cfg.seed`);
              an RMT's initial memory is frozen in it (`freeze_initial_memory`)
    resume    a checkpoint (path or loaded dict) written by a run of the same config: model, optimizer,
              step, stream position, carried state (one process), random state, history; its stream and model
              settings (LMConfig.RUN_FIELDS, the ModelConfig) must be the config's, and steps must be left
    callback  `callback(step, history)` after every step; returning True ends the run early (then evaluated)
    log       where progress lines go (rank 0 only); None for silence
    overwrite replace a run already in `cfg.out` (run_folder.claim); a resumed run goes on in its own folder

    Under torchrun every process calls this; rank 0 writes `cfg.out`: metrics.json, curves.png,
    by_position.png and checkpoint.pt (at evaluations, every save_every steps, at the end and on Ctrl-C).
    """
    if not isinstance(cfg, LMConfig):
        raise TypeError(f"cfg must be an LMConfig, got {type(cfg).__name__} (a dict d: LMConfig.from_dict(d))")
    if cfg.out is not None and int(os.environ.get("RANK", "0")) == 0 and not _continues_in(cfg.out, resume):
        hint = f"--resume {Path(cfg.out) / FILES[0]}" if resume is None else None
        claim(cfg.out, FILES, overwrite, resume_hint=hint)
    rank, world_size, device, started = init_distributed(cfg.device)
    log = log if (log is not None and rank == 0) else (lambda *a, **k: None)
    try:
        session = _LMSession(cfg, rank, world_size, device, (train_ids, valid_ids, test_ids), model, log)
        if resume is not None:
            session.restore(resume if isinstance(resume, dict) else load_checkpoint(resume, map_location="cpu"))
        result = session.run(callback)
        if started:
            dist.barrier()  # every rank done (rank 0 writes files last) before the group is torn down
        return result
    finally:
        if started:
            dist.destroy_process_group()


def _continues_in(out, resume) -> bool:
    """Does the resumed run go on in the folder it was saved in (a path's folder, or a dict's saved `out`)?"""
    if resume is None:
        return False
    saved = Path(resume).parent if isinstance(resume, (str, Path)) else resume.get("meta", {}).get(
        "lm_config", {}).get("out")
    return saved is not None and same_folder(saved, out)


class _Position:
    """Where a run is: in the stream (epoch, batch), on the budget clock, and the step its schedule ends at."""

    def __init__(self, total: float):
        self.epoch, self.batch, self.budget_seconds, self.total = 0, 0, 0.0, total


class _LMSession:
    """One call of `train_lm`: data, model, optimizer, the stream position, the clock and the records."""

    def __init__(self, cfg: LMConfig, rank, world_size, device, ids, model, log):
        self.cfg, self.rank, self.world_size, self.device, self.log = cfg, rank, world_size, device, log
        self.train_ids, self.evals, vocab_size, self.unit = run_streams(cfg, device, *ids)
        model = model if model is not None else build_model(cfg.model, model_config(cfg, vocab_size), cfg.seed)
        if model.cfg.vocab_size != vocab_size:
            raise ValueError(f"model vocab_size={model.cfg.vocab_size}, but the corpus has {vocab_size} token ids")
        check_tokens(self.train_ids.view(1, -1), vocab_size, name="the training stream")  # once, not every step
        self.seq_len = cfg.segments * model.cfg.segment_len
        check_batch_tokens("LMConfig", cfg.batch_size // cfg.accumulation, cfg.segments, model.cfg.segment_len)
        for split, ids in self.evals.items():  # an evaluation that cannot run fails now, not after the training
            try:
                stream_rows(ids, cfg.eval_batch_size or cfg.batch_size, rank, world_size)
            except ValueError as error:
                raise ValueError(f"the {split} split: {error}; give more --eval-tokens or a smaller "
                                 f"--eval-batch-size") from error
        if num_batches(self.train_ids.numel(), cfg.batch_size, self.seq_len, world_size, drop_last=True) < 1:
            raise ValueError(f"the training stream has {self.train_ids.numel():,} tokens, fewer than one batch of "
                             f"{world_size} x {cfg.batch_size} rows x {self.seq_len} tokens (+1)")
        self.train_ids = self.train_ids.to(device)
        self.dtype = autocast_dtype(cfg.dtype, device)
        freeze_initial_memory(model.to(device))
        self.optimizer = make_optimizer(model, cfg, device)
        if cfg.compile:
            compile_model(model, cuda_graphs=cfg.cuda_graphs)
        self.net = model if world_size == 1 else DistributedDataParallel(
            model, device_ids=[device.index] if device.type == "cuda" else None)  # every parameter gets a gradient
        self.flops, self.peak = flops_per_token(model, self.seq_len), cfg.peak_flops or peak_flops(device)
        self.tokens_per_step = cfg.batch_size * self.seq_len * world_size
        self.result = LMResult(model)
        self.pos = _Position(math.inf if cfg.time_budget is not None else cfg.steps)
        self.states, self.random = [None] * cfg.accumulation, None
        self.info = {"model": cfg.model, "model_config": model.cfg.to_dict(), "params": count_params(model),
                     "unit": self.unit, "world_size": world_size, "device": device_name(device),
                     "flops_per_token": self.flops, "peak_flops": self.peak, "lm_config": cfg.to_dict()}
        self.vocab = corpus_vocab(cfg)  # a word corpus's tokens, saved with the model so that it can be sampled
        self.out = Path(cfg.out) if cfg.out is not None and rank == 0 else None

    def restore(self, ckpt: dict) -> None:
        """Continue from a checkpoint of the same stream and model, with steps (or time) left to do."""
        run, cfg = self.result, self.cfg
        meta = lm_meta(ckpt, "resume")
        check_agrees("resume", {k: meta["lm_config"].get(k) for k in LMConfig.RUN_FIELDS},
                     {k: getattr(cfg, k) for k in LMConfig.RUN_FIELDS})
        check_agrees("resume", {"world_size": meta.get("world_size", 1)}, {"world_size": self.world_size})
        check_same_model(meta["model_config"], run.model)
        check_more_steps(ckpt["step"], cfg.steps)
        spent = ckpt["position"]["budget_seconds"]
        if cfg.time_budget is not None and spent >= cfg.time_budget:
            raise ValueError(f"the run has spent {spent:.0f} s, and time_budget={cfg.time_budget:g}: nothing to "
                             f"continue; give a larger --time-budget to train it further")
        load_weights(run.model, ckpt["model"])
        self.optimizer.load_state_dict(ckpt["optimizer"])
        run.step, run.tokens, run.seconds, run.history = ckpt["step"], ckpt["tokens"], ckpt["seconds"], ckpt["history"]
        self.pos.__dict__.update({**ckpt["position"], "total": self.pos.total})  # the schedule: this config's
        if ckpt.get("states") is not None and self.world_size == 1:
            self.states = [_detach(map_state(lambda x: x.to(self.device), s)) for s in ckpt["states"]]
        self.random = ckpt["random"]

    def save(self) -> None:
        if self.out is None:
            return
        run = self.result
        states = [map_state(torch.Tensor.cpu, s) for s in self.states] if self.world_size == 1 else None
        save_checkpoint(self.out / "checkpoint.pt", model=run.model.state_dict(), optimizer=self.optimizer.state_dict(),
                        step=run.step, tokens=run.tokens, seconds=run.seconds, history=run.history,
                        position=dict(vars(self.pos)), states=states, random=random_state(self.device),
                        meta=self.info, vocab=self.vocab)

    def evaluate(self, split: str) -> dict:
        cfg = self.cfg
        return evaluate_lm(self.result.model, self.evals[split], batch_size=cfg.eval_batch_size or cfg.batch_size,
                           seq_len=eval_seq_len(self.result.model, cfg.segments), unit=self.unit, dtype=self.dtype,
                           rank=self.rank, world_size=self.world_size, progress=self.rank == 0)

    def last_step(self) -> float:
        return min(self.pos.total, self.cfg.steps or math.inf)

    def run(self, callback) -> LMResult:
        cfg, run, pos, unit = self.cfg, self.result, self.pos, self.unit
        self.log(f"{cfg.model}: {self.info['params'] / 1e6:.2f}M parameters, {self.info['device']} x "
                 f"{self.world_size}, batch {cfg.batch_size * self.world_size} x {cfg.segments} x "
                 f"{run.model.cfg.segment_len} = {self.tokens_per_step:,} tokens, "
                 f"{'bf16' if self.dtype else 'fp32'}{', compiled' if cfg.compile else ''}"
                 f"{f', {torch.get_num_threads()} CPU threads' if self.device.type == 'cpu' else ''}")
        if self.device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(self.device)
        with seeded_global_rng(cfg.seed + 1 + self.rank, self.device, self.random):  # dropout differs per process
            clock = BudgetClock(self.device, pos.budget_seconds)
            window = _LogWindow()
            first_step = run.step
            with stop_on_interrupt() as stop:
                batches = _batches(self.train_ids, cfg.batch_size, self.seq_len, self.rank, self.world_size,
                                   pos.epoch, pos.batch)
                for epoch, k, tokens, targets in batches:
                    if run.step >= self.last_step():
                        break
                    if k == 0:
                        self.states = [None] * cfg.accumulation  # a new epoch: the stream, and the state, restart
                    lr = lr_at(run.step, cfg.lr, cfg.warmup, self.last_step(), cfg.min_lr_ratio)
                    set_lr(self.optimizer, lr)
                    loss, self.states = train_step(self.net, self.optimizer, tokens, targets, self.states, cfg.clip,
                                                   self.dtype)
                    run.step, run.tokens = run.step + 1, run.tokens + self.tokens_per_step
                    pos.epoch, pos.batch = epoch, k + 1
                    window.add(loss, self.tokens_per_step)
                    if run.step - first_step == WARM_STEPS:
                        clock.start_budget(run.step, run.tokens)
                    last = run.step >= self.last_step()
                    if run.step % cfg.log_every == 0 or last:
                        self.log_training(window, clock, lr)
                    if cfg.eval_every and run.step % cfg.eval_every == 0 and "valid" in self.evals and not last:
                        run.seconds += clock.tick()
                        self.validate(clock)
                    elif cfg.save_every and run.step % cfg.save_every == 0:
                        self.save()
                    if callback is not None and callback(run.step, run.history):
                        break
            if window.steps:
                run.seconds += clock.tick()
            pos.budget_seconds = clock.budget_seconds
            run.interrupted = stop.interrupted
            run.tokens_per_s = clock.speed(run.tokens)
            run.mfu = self.flops * run.tokens_per_s / (self.peak * self.world_size) \
                if run.tokens_per_s is not None and self.peak else None
            if run.interrupted:
                self.log(f"interrupted at step {run.step}: saving what was done")
            else:
                for split in self.evals:
                    run.final[split] = self.evaluate(split)
                    self.log(f"{split}: loss {run.final[split]['loss']:.4f} | {unit} {run.final[split][unit]:.3f}")
            self.save()
        peak_memory = torch.cuda.max_memory_allocated(self.device) / 2**30 if self.device.type == "cuda" else None
        run.info = {**self.info, "peak_memory_gb": peak_memory}
        if self.out is not None:
            write_metrics(run, self.out)
        return run

    def log_training(self, window: "_LogWindow", clock: BudgetClock, lr: float) -> None:
        """Record and print the mean loss and the speed since the last record; re-plan a time budget."""
        run = self.result
        mean = all_reduce(window.loss_sum.float().clone()).item() / (window.steps * self.world_size)
        seconds = clock.tick()
        run.seconds, window.seconds = run.seconds + seconds, window.seconds + seconds
        speed = window.tokens / max(window.seconds, 1e-9)
        record = {"step": run.step, "tokens": run.tokens, "seconds": run.seconds,
                  "budget_seconds": clock.budget_seconds, "lr": lr, "loss": mean, "tokens_per_s": speed}
        if self.peak:
            record["mfu"] = self.flops * speed / (self.peak * self.world_size)
        run.history.append(record)
        line = f"step {run.step:>7} | loss {mean:.4f} | lr {lr:.2e} | {speed / 1e3:,.1f}k tok/s"
        self.log(line + (f" | mfu {record['mfu']:.1%}" if "mfu" in record else "") + f" | {run.seconds:.0f} s")
        window.reset()
        if self.cfg.time_budget is not None:
            self.pos.total = all_min(clock.plan(run.step, self.cfg.time_budget), self.device)
        self.pos.budget_seconds = clock.budget_seconds

    def validate(self, clock: BudgetClock) -> None:
        """Evaluate on valid (off the clock), record it and save a checkpoint."""
        run, unit = self.result, self.unit
        result = self.evaluate("valid")
        run.history.append({"step": run.step, "tokens": run.tokens, "seconds": run.seconds,
                            "budget_seconds": clock.budget_seconds, "valid_loss": result["loss"],
                            f"valid_{unit}": result[unit]})
        self.log(f"step {run.step:>7} | valid loss {result['loss']:.4f} | {unit} {result[unit]:.3f}")
        clock.resume()
        self.save()


class _LogWindow:
    """The losses (detached, summed on the device) and tokens since the last log record."""

    def __init__(self):
        self.reset()

    def reset(self) -> None:
        self.loss_sum, self.steps, self.tokens, self.seconds = None, 0, 0, 0.0

    def add(self, loss: torch.Tensor, tokens: int) -> None:
        self.loss_sum = loss if self.loss_sum is None else self.loss_sum + loss
        self.steps, self.tokens = self.steps + 1, self.tokens + tokens


# ---------------------------------------------------------------- what a run reads and writes


def corpus_vocab(cfg: LMConfig) -> list[str] | None:
    """The tokens of a word corpus's vocabulary, id by id (None for bytes, or ids passed in)."""
    vocab = corpus_info(cfg.corpus).vocab(cfg.data_root) if cfg.corpus is not None else None
    return None if vocab is None else vocab.itos


def run_streams(cfg: LMConfig, device, train_ids, valid_ids, test_ids):
    """The training stream, the evaluation streams {"valid": ids, "test": ids} on `device`, v and the unit."""
    corpus = corpus_info(cfg.corpus) if cfg.corpus is not None else None
    vocab_size, unit = cfg.vocab_size or corpus.vocab_size, cfg.unit or corpus.unit
    if train_ids is None:
        if corpus is None:
            raise ValueError("LMConfig.corpus is None: pass the training ids to train_lm")
        train_ids = corpus.load(cfg.train_split, cfg.data_root, cfg.train_tokens)
    check_stream(train_ids, "train_ids")
    evals = {}
    for split, ids in (("valid", valid_ids), ("test", test_ids)):
        name = getattr(cfg, f"{split}_split")
        if ids is None and name is not None and corpus is not None:
            ids = corpus.load(name, cfg.data_root, cfg.eval_tokens)
        if ids is not None:
            check_stream(ids, f"{split}_ids")
            evals[split] = ids[: cfg.eval_tokens].to(device)
    return train_ids, evals, vocab_size, unit


def write_metrics(run: LMResult, out: str | Path) -> Path:
    """Write `out/metrics.json` (sizes, device, history, final evaluations), `curves.png`, `by_position.png`."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    metrics = {**run.info, "step": run.step, "tokens": run.tokens, "seconds": run.seconds,
               "tokens_per_s": run.tokens_per_s, "mfu": run.mfu, "interrupted": run.interrupted,
               "history": run.history, "final": run.final}
    path = out / "metrics.json"
    path.write_text(json.dumps(metrics, indent=1))
    name, unit = run.info.get("model", "model"), run.info.get("unit", "ppl")
    viz.plot_lm_curves({name: run.history}).savefig(out / "curves.png", dpi=120)
    split = "test" if "test" in run.final else "valid" if "valid" in run.final else None
    if split is not None:
        curve = {name: run.final[split]["loss_by_position"]}
        viz.plot_loss_by_position(curve, unit, title=f"{split} loss by position").savefig(out / "by_position.png",
                                                                                         dpi=120)
    return path


def lm_meta(state: dict, where) -> dict:
    """The run's record in a language-model checkpoint (LMConfig, ModelConfig, ...); a task's is a ValueError."""
    meta = state.get("meta", {})
    if "lm_config" not in meta:
        raise ValueError(f"{where}: not a language-model checkpoint (no LMConfig in it; `eval` and `train --resume` "
                         f"read task checkpoints)")
    return meta


def load_lm(path, device="cpu") -> tuple:
    """Rebuild `(model, LMConfig, checkpoint)` from a checkpoint written by `train_lm` (its `out`)."""
    state = load_checkpoint(path)
    meta = lm_meta(state, path)
    model = build_model(meta["model"], ModelConfig(**meta["model_config"]))
    model.load_state_dict(state["model"])
    return model.to(device).eval(), LMConfig.from_dict(meta["lm_config"]), state
