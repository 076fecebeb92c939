"""Language modelling on a contiguous token stream, from a laptop CPU to several GPUs (RMT paper, Sec. 4).

The paper trains RMT, Transformer-XL and MemTr-XL as language models on WikiText-103 and enwik8: the corpus
is one long stream, each batch `(b, g * n)` continues the rows of the previous one, and the state a model
carries (RMT memory `(b, m, d)`, an XL cache `(l, b, c, d)`) passes from one batch to the next, detached,
as in Transformer-XL (Dai et al., 2019, Sec. 3.2). Inside a batch gradients flow back through the memory of
its g segments (BPTT; `bptt_depth` truncates it). The state starts afresh at every epoch.

    batch k:    [seg 1 | seg 2 | ... | seg g]  --state (detached)-->  batch k + 1: [seg 1 | ... | seg g]

The GPU path: bfloat16 autocast, fused AdamW, optional `torch.compile`, gradient accumulation, tokens/s and
model FLOPs utilisation (MFU) in the log, atomic checkpoints with exact resume, and data parallelism under
`torchrun --nproc_per_node=N` with PyTorch's DistributedDataParallel: each process takes its own rows of
the stream, gradients and metrics are averaged across processes, rank 0 logs and saves.

    train_lm(LMConfig(corpus="wikitext-103", model="rmt", time_budget=600))    # -> LMResult
    evaluate_lm(model, test_ids, unit="ppl")                                     # -> {"loss", "ppl", ...}
"""

import argparse
import json
import math
import os
import time
from contextlib import nullcontext
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

import torch
import torch.distributed as dist
import torch.nn.functional as F
from einops import rearrange
from torch.nn.parallel import DistributedDataParallel

from .baselines import MemTransformerXL, TransformerXL
from .config import ModelConfig, preset
from .rmt import RecurrentMemoryTransformer
from .text import corpus_info, num_batches, score, stream_batches
from .train import (
    load_checkpoint,
    lr_at,
    make_optimizer,
    resolve_device,
    save_checkpoint,
    seeded_model,
    stop_on_interrupt,
)
from .validation import check_tokens

# Dense bfloat16 peak of one accelerator, FLOP/s, for MFU (vendor data sheets, without sparsity).
PEAK_FLOPS = {"H100": 989e12, "H200": 989e12, "A100": 312e12}
WARM_STEPS = 2  # the first steps of a run compile the model (no state, then a carried state): off the clock
SIZE_FIELDS = ("d_model", "n_layers", "n_heads", "segment_len", "num_mem_tokens", "d_ff", "dropout", "xl_cache_len")
MODEL_NAMES = ("rmt", "segment", "full", "xl", "memxl")


@dataclass
class LMConfig:
    """Everything a language-model run needs; the model's sizes come from `preset` plus any size given here.

    corpus            a name of `minirmt.text.CORPORA` ("wikitext-103", "pg-books", ...) or the path of a text
                      file or folder (read as bytes); None if the ids are passed to `train_lm` (then give
                      vocab_size and unit)
    data_root         folder with the corpus (default: $MINIRMT_DATA, then the repo's data/)
    train_split, valid_split, test_split   split names (valid/test None: skip that evaluation)
    train_tokens      read at most this many training tokens (None: all)
    eval_tokens       evaluate on this prefix of valid/test (None: the whole split)
    vocab_size, unit  default: the corpus's (unit "ppl" word perplexity, "bpb" bits per byte)
    model             "rmt", "segment", "full", "xl" or "memxl"
    preset            the ModelConfig preset the sizes start from ("tiny", "lab", "wikitext")
    d_model ... xl_cache_len   override the preset's sizes (None: keep)
    bptt_depth        gradients flow back through at most this many segments of a batch (None: all g)
    memory_flat       recompute each segment's blocks (but the last's) in backward: memory barely grows with g
    batch_size        b, rows per step on each process (the global batch is b * world_size)
    segments          g, segments per row of a batch: a batch is `(b, g * n)`
    steps             optimizer steps (None: until the time budget ends)
    time_budget       seconds of training (evaluation and the first two steps, which compile, not counted);
                      the cosine schedule then spans the number of steps the measured speed allows
    lr, warmup, min_lr_ratio, betas, weight_decay, clip   AdamW and its warm-up + cosine schedule
    accumulation      split each batch into this many micro-batches of b / accumulation rows (less memory)
    compile           `torch.compile` the work of a segment (see `compile_segments`)
    cuda_graphs       with compile, on CUDA: compile the whole forward pass and replay its kernels from CUDA
                      graphs (see `compile_forward`); with memory_flat, each segment's (`compile_segments`):
                      the recomputation then costs 18-22% of the speed instead of 32% (bench/results/gpu)
    tune_kernels      with cuda_graphs: time a few launch settings of every compiled kernel and keep the
                      fastest (on the GPU benchmark: 1.09x timed one step at a time, 1.01x with steps back
                      to back as training runs them; minutes more of compilation)
    dtype             "auto" (bfloat16 autocast on CUDA, float32 on the CPU), "bfloat16" or "float32"
    device            "auto", "cpu", "cuda"; under torchrun each process takes cuda:LOCAL_RANK
    eval_every        evaluate on valid every this many steps (0: only at the end)
    eval_batch_size   rows of an evaluation batch (None: batch_size)
    log_every         log (and re-plan a time budget) every this many steps
    save_every        checkpoint every this many steps (0: at evaluations and at the end)
    peak_flops        peak FLOP/s of one device for MFU (None: looked up from the device name)
    seed              model initialisation, and dropout (+ rank)
    out               folder for metrics.json, curves.png, by_position.png and checkpoint.pt (None: none)
    """

    corpus: str | None = "wikitext-2"
    data_root: str | None = None
    train_split: str = "train"
    valid_split: str | None = "valid"
    test_split: str | None = "test"
    train_tokens: int | None = None
    eval_tokens: int | None = None
    vocab_size: int | None = None
    unit: str | None = None
    model: str = "rmt"
    preset: str = "wikitext"
    d_model: int | None = None
    n_layers: int | None = None
    n_heads: int | None = None
    segment_len: int | None = None
    num_mem_tokens: int | None = None
    d_ff: int | None = None
    dropout: float | None = None
    xl_cache_len: int | None = None
    bptt_depth: int | None = None
    memory_flat: bool = False
    batch_size: int = 64
    segments: int = 4
    steps: int | None = 1000
    time_budget: float | None = None
    lr: float = 6e-4
    warmup: int = 200
    min_lr_ratio: float = 0.1
    betas: tuple[float, float] = (0.9, 0.95)
    weight_decay: float = 0.1
    clip: float | None = 1.0
    accumulation: int = 1
    compile: bool = False
    cuda_graphs: bool = False
    tune_kernels: bool = False
    dtype: str = "auto"
    device: str = "auto"
    eval_every: int = 0
    eval_batch_size: int | None = None
    log_every: int = 10
    save_every: int = 0
    peak_flops: float | None = None
    seed: int = 0
    out: str | None = None

    def __post_init__(self):
        self.betas = tuple(self.betas)
        if self.model not in MODEL_NAMES:
            raise ValueError(f"LMConfig: model={self.model!r}, expected one of {MODEL_NAMES}")
        for name in ("batch_size", "segments", "accumulation", "log_every"):
            _require(name, getattr(self, name), _is_int(getattr(self, name), 1), "an int >= 1")
        for name in ("warmup", "eval_every", "save_every", "seed"):
            _require(name, getattr(self, name), _is_int(getattr(self, name), 0), "an int >= 0")
        for name in ("steps", "train_tokens", "eval_tokens", "eval_batch_size", "vocab_size"):
            value = getattr(self, name)
            _require(name, value, value is None or _is_int(value, 1), "an int >= 1 or None")
        if self.steps is None and self.time_budget is None:
            raise ValueError("LMConfig: steps=None and time_budget=None; give at least one (when to stop)")
        _require("time_budget", self.time_budget, self.time_budget is None or self.time_budget > 0, "> 0 or None")
        if self.batch_size % self.accumulation:
            raise ValueError(f"LMConfig: accumulation={self.accumulation} must divide batch_size={self.batch_size}")
        _require("lr", self.lr, self.lr > 0, "> 0")
        if self.cuda_graphs and not self.compile:
            raise ValueError("LMConfig: cuda_graphs=True needs compile=True")
        if self.tune_kernels and (not self.cuda_graphs or self.memory_flat):
            raise ValueError("LMConfig: tune_kernels=True needs cuda_graphs=True and memory_flat=False "
                             "(it tunes the whole-forward compile, which memory_flat does not use)")
        _require("min_lr_ratio", self.min_lr_ratio, 0 <= self.min_lr_ratio <= 1, "in [0, 1]")
        _require("weight_decay", self.weight_decay, self.weight_decay >= 0, ">= 0")
        _require("betas", self.betas, len(self.betas) == 2 and all(0 <= x < 1 for x in self.betas),
                 "two numbers in [0, 1)")
        _require("clip", self.clip, self.clip is None or self.clip > 0, "> 0 or None")
        _require("dtype", self.dtype, self.dtype in ("auto", "bfloat16", "float32"), "'auto', 'bfloat16' or 'float32'")
        _require("unit", self.unit, self.unit in (None, "ppl", "bpb"), "'ppl', 'bpb' or None")
        if self.corpus is None and (self.vocab_size is None or self.unit is None):
            raise ValueError("LMConfig: corpus=None needs vocab_size and unit (and the ids passed to train_lm)")

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "LMConfig":
        """The inverse of to_dict; keys this version does not know are ignored."""
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in known})


def _is_int(value, minimum: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= minimum


def _require(name, value, ok, expected) -> None:
    if not ok:
        raise ValueError(f"LMConfig: {name}={value!r}, expected {expected}")


@dataclass
class LMResult:
    """What `train_lm` returns.

    model        the trained model (without the DDP wrapper; with compile, its blocks stay compiled)
    history      training records {"step", "tokens", "seconds", "budget_seconds", "lr", "loss", "tokens_per_s",
                 "mfu"} and evaluation records {"step", "tokens", "seconds", "budget_seconds", "valid_loss",
                 "valid_<unit>"}; "seconds" is training time, evaluation excluded, "budget_seconds" the same
                 without the first two (compiling) steps; "tokens" counts all processes
    final        {"valid": ..., "test": ...}: `evaluate_lm` of the last model on each split given
    step         optimizer steps done
    tokens       training tokens seen, all processes together
    seconds      training time (evaluation excluded)
    tokens_per_s training throughput after the first two (compiling) steps, all processes together
    mfu          model FLOPs utilisation over the same span (None if the peak is unknown)
    interrupted  True if Ctrl-C stopped the run (the checkpoint and metrics are still written)
    info         everything else written to metrics.json (sizes, device, peak memory, ...)
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


# ---------------------------------------------------------------- sizes and cost


def model_config(cfg: LMConfig, vocab_size: int) -> ModelConfig:
    """The ModelConfig of a run: `cfg.preset` with the corpus's vocabulary and any sizes set in `cfg`."""
    sizes = {name: getattr(cfg, name) for name in SIZE_FIELDS if getattr(cfg, name) is not None}
    return preset(cfg.preset, vocab_size=vocab_size, bptt_depth=cfg.bptt_depth, memory_flat=cfg.memory_flat,
                  **sizes)


def count_params(model: torch.nn.Module) -> int:
    """Trainable parameters (tied embeddings counted once)."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def flops_per_token(model: torch.nn.Module, seq_len: int) -> float:
    """Training FLOPs per predicted token (forward + backward = 3 x forward, 2 FLOPs per multiply-add).

    Per segment of n tokens the blocks process p = n + extra positions (RMT decoder: 2m memory slots,
    MemTr-XL: m) whose queries each see T keys (segment: n, RMT: n + 2m, XL: c + n, MemTr-XL: c + m + n,
    full: the whole row). So per token: 6 * (block parameters) * p / n, plus 12 * l * d * T * p / n for the
    attention scores and weighted sums (counted in full, as nanoGPT and PaLM do), plus 6 * d * v for the
    vocabulary head. Recomputation (memory_flat) is not counted: this is model FLOPs, for MFU.
    """
    model = unwrap(model)
    cfg = model.cfg
    n = model.segment_len(seq_len)
    m, c = cfg.num_mem_tokens, cfg.cache_len
    if isinstance(model, RecurrentMemoryTransformer):
        extra = 2 * m if cfg.memory_form == "decoder" else m
        keys = n + extra
    elif isinstance(model, MemTransformerXL):
        extra, keys = m, c + m + n
    elif isinstance(model, TransformerXL):
        extra, keys = 0, c + n
    else:
        extra, keys = 0, n
    block_params = sum(p.numel() for p in model.backbone.blocks.parameters())
    per_position = 6 * block_params + 12 * cfg.n_layers * cfg.d_model * keys
    return per_position * (n + extra) / n + 6 * cfg.d_model * cfg.vocab_size


def peak_flops(device: torch.device) -> float | None:
    """Dense bfloat16 peak FLOP/s of a CUDA device, looked up from its name (None if not known or CPU)."""
    device = torch.device(device)
    if device.type != "cuda":
        return None
    name = torch.cuda.get_device_name(device)
    return next((peak for key, peak in PEAK_FLOPS.items() if key in name), None)


# ---------------------------------------------------------------- distribution helpers


def compile_segments(model: torch.nn.Module, cuda_graphs: bool = False) -> torch.nn.Module:
    """`torch.compile` the work of one segment of `model` in place: embedding, blocks, head and loss; returns it.

    The segment is the unit that repeats (g times a step), so one compilation (per input shape) serves every
    segment, and the compiler fuses the norms, rotary positions, GELU, residual additions and the
    cross-entropy over the vocabulary around the matmuls and the fused attention. With `cuda_graphs`
    (torch.compile's mode "reduce-overhead", CUDA only) each segment's kernels, hundreds of them, are replayed
    from a recorded CUDA graph instead of launched one by one from Python: at the GPU benchmark's sizes the
    step was bound by those launches (bench/results/gpu/README.md). Parameter names, hence checkpoints, stay.
    """
    inner = unwrap(model)
    _allow_recompiles()
    mode = "reduce-overhead" if cuda_graphs else None
    # an instance attribute named like the method shadows it: forward() now calls the compiled function
    inner._segment_with_loss = torch.compile(inner._segment_with_loss, mode=mode)
    inner._flat_segment = torch.compile(inner._flat_segment, mode=mode)  # the same work under memory_flat
    return model


def compile_forward(model: torch.nn.Module, cuda_graphs: bool = False, tune_kernels: bool = False) -> torch.nn.Module:
    """`torch.compile` the whole forward pass of `model` in place, the loop over its g segments included; returns it.

    Against `compile_segments`: g times more code to compile (one to two minutes at the GPU benchmark's sizes,
    and again for each new number of segments), and in return one program for the whole step:
    - with `cuda_graphs`, a training step replays one CUDA graph forward and one backward instead of one of
      each per segment, which leaves the GPU fewer gaps (1.12x compile_segments with CUDA graphs, timed one step at
      a time);
    - with `tune_kernels`, the compiler times a few launch settings of each kernel it writes and keeps the
      fastest (inductor's "coordinate descent tuning": 1.09x timed one step at a time, 1.01x with steps back to
      back as training runs them; one to several minutes more of compilation).
    Both measured on an H200 (bench/results/gpu/README.md); `lm --compile --cuda-graphs [--tune-kernels]` uses
    this. Parameter names, hence checkpoints, stay.
    """
    inner = unwrap(model)
    _allow_recompiles()
    # "triton.cudagraphs" is what mode="reduce-overhead" turns on (torch.compile takes a mode or options, not both)
    options = {"triton.cudagraphs": cuda_graphs, "coordinate_descent_tuning": tune_kernels}
    inner.forward = torch.compile(inner.forward, options=options)
    return model


def _allow_recompiles() -> None:
    """Every model in the process shares the code of `forward`, `_segment_with_loss` and `_flat_segment`, and each
    keeps a few compiled versions (first segment or not, a carried state or none): allow more than torch's 8."""
    torch._dynamo.config.recompile_limit = max(torch._dynamo.config.recompile_limit, 64)


def freeze_initial_memory(model: torch.nn.Module) -> None:
    """Keep the RMT's learned initial memory fixed (requires_grad False) while it models a stream.

    The state is carried from batch to batch (module docstring), so the initial memory is read only where a
    pass over the stream starts: one batch in thousands would train it. Fixed at its initialisation, it also
    leaves DistributedDataParallel no parameter without a gradient, which DDP would otherwise have to search
    for after every forward (find_unused_parameters=True: measured at 74% scaling efficiency on 2 GPUs,
    bench/results/lm_gpu).
    """
    if isinstance(model, RecurrentMemoryTransformer):
        model.memory.requires_grad_(False)


def unwrap(model: torch.nn.Module) -> torch.nn.Module:
    """The plain model inside DistributedDataParallel and/or torch.compile wrappers."""
    model = getattr(model, "module", model)  # DistributedDataParallel
    return getattr(model, "_orig_mod", model)  # torch.compile


def init_distributed(device: str = "auto") -> tuple[int, int, torch.device, bool]:
    """Join the process group torchrun set up (env RANK, WORLD_SIZE, LOCAL_RANK), if any.

    Returns (rank, world_size, device, started): NCCL and cuda:LOCAL_RANK on GPUs, gloo on the CPU;
    `started` is True if this call created the group (the caller then destroys it).
    """
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    if world_size == 1 and not dist.is_initialized():
        return 0, 1, resolve_device(device), False
    started = not dist.is_initialized()
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    resolved = resolve_device(device)
    if resolved.type == "cuda":
        resolved = torch.device("cuda", local_rank)
        torch.cuda.set_device(resolved)
    if started:
        dist.init_process_group("nccl" if resolved.type == "cuda" else "gloo")
    return dist.get_rank(), dist.get_world_size(), resolved, started


def _all_reduce(x: torch.Tensor, op=None) -> torch.Tensor:
    """Sum (or `op`) of `x` over all processes, in place; a no-op without a process group."""
    if dist.is_initialized() and dist.get_world_size() > 1:
        dist.all_reduce(x, op=op or dist.ReduceOp.SUM)
    return x


def _autocast(device: torch.device, dtype: torch.dtype | None):
    return torch.autocast(device.type, dtype=dtype) if dtype is not None else nullcontext()


def autocast_dtype(dtype: str, device: torch.device) -> torch.dtype | None:
    """The autocast dtype of a run: bfloat16 (never float16: its range needs loss scaling) or None."""
    if dtype == "bfloat16" or (dtype == "auto" and torch.device(device).type == "cuda"):
        return torch.bfloat16
    return None


# ---------------------------------------------------------------- evaluation


@torch.no_grad()
def evaluate_lm(model: torch.nn.Module, ids: torch.Tensor, *, batch_size: int = 16, seq_len: int | None = None,
                unit: str = "ppl", dtype: torch.dtype | None = None, rank: int = 0, world_size: int = 1) -> dict:
    """Cross-entropy of `model` over a whole stream `ids (N,)`, segment by segment, state carried throughout.

    The stream is cut into `batch_size * world_size` rows (this process takes `batch_size` of them) and read
    `seq_len` tokens at a time (default the model's segment length n; give the whole window for a
    FullTransformer); RMT memory and XL caches pass on across batches, so every token is predicted with all
    the context the model can carry. Processes add up their sums (all_reduce).

    Returns {"loss": nats per token, unit: exp(loss) ("ppl") or loss / ln 2 ("bpb"), "unit", "tokens",
    "loss_by_position": mean loss at each position 0..n-1 inside a segment (memory should help most at the
    first positions, RMT paper, Sec. 4)}.
    """
    model = unwrap(model)
    if not isinstance(ids, torch.Tensor) or ids.dim() != 1:
        raise ValueError(f"ids must be a 1-D tensor of token ids (N,), got {getattr(ids, 'shape', type(ids))}")
    seq_len = seq_len or model.cfg.segment_len
    device = next(model.parameters()).device
    seg = model.segment_len(seq_len)
    sums = torch.zeros(seg, dtype=torch.float64, device=device)  # (n,) summed loss per position
    counts = torch.zeros(seg, dtype=torch.float64, device=device)
    was_training = model.training
    model.eval()
    state = None
    for tokens, targets in stream_batches(ids.to(device), batch_size, seq_len, rank, world_size):
        with _autocast(device, dtype), _eager():
            out = model(tokens, memory=state)
        state = out.memory
        loss = F.cross_entropy(out.logits.float().transpose(1, 2), targets, reduction="none")  # (b, s)
        batch_sums, batch_counts = position_sums(loss, seg)
        sums[: len(batch_sums)] += batch_sums
        counts[: len(batch_counts)] += batch_counts
    model.train(was_training)
    _all_reduce(sums), _all_reduce(counts)
    total_loss, total = float(sums.sum()), float(counts.sum())
    mean = total_loss / max(total, 1.0)
    by_position = (sums / counts.clamp(min=1)).tolist()
    return {"loss": mean, unit: score(mean, unit), "unit": unit, "tokens": int(total),
            "loss_by_position": by_position}


def position_sums(loss: torch.Tensor, n: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-token losses `(b, s)`, s = g * n (the last segment may be shorter) -> the sum and the count of
    losses at each position 0..n-1 inside a segment, both `(min(s, n),)` float64.

    `loss_by_position = sums / counts`: position 0 is the first token of every segment, which a model
    without memory predicts from nothing but itself (RMT paper, Sec. 4).
    """
    s = loss.shape[1]
    if s <= n:
        return loss.double().sum(0), torch.full((s,), float(loss.shape[0]), dtype=torch.float64, device=loss.device)
    padded = F.pad(loss.double(), (0, -s % n), value=float("nan"))  # (b, g * n)
    per_segment = rearrange(padded, "b (g n) -> (b g) n", n=n)
    return per_segment.nan_to_num().sum(0), (~per_segment.isnan()).sum(0).double()


def _eager():
    """Run compiled segments eagerly: evaluation shapes (no gradient, a short last batch) would each recompile."""
    return torch.compiler.set_stance("force_eager") if hasattr(torch.compiler, "set_stance") else nullcontext()


def eval_seq_len(model: torch.nn.Module, segments: int) -> int:
    """Tokens an evaluation reads at a time: one segment n, or the whole window g * n of a FullTransformer."""
    model = unwrap(model)
    return model.segment_len(segments * model.cfg.segment_len)


# ---------------------------------------------------------------- one step


def _detach(state):
    """The state without its graph, copied: a CUDA graph may overwrite its own outputs when replayed again."""
    return state.detach().clone() if isinstance(state, torch.Tensor) else state


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
        torch.compiler.cudagraph_mark_step_begin()  # CUDA graphs (compile_forward): a new step begins
        with sync:
            with _autocast(x.device, dtype):  # the ids were checked once, for the whole stream (_train)
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


def load_split(cfg: LMConfig, split: str, limit: int | None = None) -> torch.Tensor:
    """Ids `(N,)` of one split of `cfg.corpus` (at most `limit` tokens)."""
    if cfg.corpus is None:
        raise ValueError(f"LMConfig.corpus is None: pass the {split} ids to train_lm")
    return corpus_info(cfg.corpus).load(split, cfg.data_root, limit)


def train_lm(cfg: LMConfig, *, train_ids: torch.Tensor | None = None, valid_ids: torch.Tensor | None = None,
             test_ids: torch.Tensor | None = None, model: torch.nn.Module | None = None, resume=None,
             callback=None, log=print) -> LMResult:
    """Train a language model on a contiguous stream (see the module docstring) and evaluate it.

    train_ids, valid_ids, test_ids   token ids `(N,)`; by default loaded from `cfg.corpus`
    model     a model to train (default: `cfg.model` built from `model_config(cfg, v)` with seed `cfg.seed`);
              an RMT's initial memory is frozen in it (`freeze_initial_memory`)
    resume    a checkpoint (path or loaded dict) written by a run of the same config: model, optimizer,
              step, stream position, carried state (one process), random state, history
    callback  `callback(step, history)` after every step; returning True ends the run early (then evaluated)
    log       where progress lines go (rank 0 only); None for silence

    Under torchrun every process calls this; rank 0 writes `cfg.out`: metrics.json, curves.png,
    by_position.png and checkpoint.pt (at evaluations, every save_every steps, at the end and on Ctrl-C).
    """
    rank, world_size, device, started = init_distributed(cfg.device)
    log = log if (log is not None and rank == 0) else (lambda *a, **k: None)
    try:
        return _train(cfg, rank, world_size, device, train_ids, valid_ids, test_ids, model, resume, callback, log)
    finally:
        if started:
            dist.destroy_process_group()


def _data(cfg: LMConfig, device, train_ids, valid_ids, test_ids):
    """The training stream, the evaluation streams {"valid": ids, "test": ids} on `device`, v and the unit."""
    info = corpus_info(cfg.corpus) if cfg.corpus is not None else None
    vocab_size, unit = cfg.vocab_size or info.vocab_size, cfg.unit or info.unit
    if train_ids is None:
        train_ids = load_split(cfg, cfg.train_split, cfg.train_tokens)
    evals = {}
    for split, ids in (("valid", valid_ids), ("test", test_ids)):
        name = getattr(cfg, f"{split}_split")
        if ids is None and name is not None and cfg.corpus is not None:
            ids = load_split(cfg, name, cfg.eval_tokens)
        if ids is not None:
            evals[split] = ids[: cfg.eval_tokens].to(device)
    return train_ids, evals, vocab_size, unit


def _train(cfg, rank, world_size, device, train_ids, valid_ids, test_ids, model, resume, callback, log):
    train_ids, evals, vocab_size, unit = _data(cfg, device, train_ids, valid_ids, test_ids)
    if model is None:
        model = seeded_model(cfg.model, model_config(cfg, vocab_size), cfg.seed)
    if model.cfg.vocab_size != vocab_size:
        raise ValueError(f"model vocab_size={model.cfg.vocab_size}, but the corpus has {vocab_size} token ids")
    check_tokens(train_ids.view(1, -1), vocab_size, name="the training stream")  # once, not in every step
    model.to(device)
    n = model.cfg.segment_len
    seq_len = cfg.segments * n
    if num_batches(train_ids.numel(), cfg.batch_size, seq_len, world_size, drop_last=True) < 1:
        raise ValueError(f"the training stream has {train_ids.numel():,} tokens, fewer than one batch of "
                         f"{world_size} x {cfg.batch_size} rows x {seq_len} tokens (+1)")
    train_ids = train_ids.to(device)
    dtype = autocast_dtype(cfg.dtype, device)
    freeze_initial_memory(model)
    optimizer = make_optimizer(model, cfg.lr, cfg.weight_decay, cfg.betas, device)
    if cfg.cuda_graphs and not cfg.memory_flat:
        compile_forward(model, cuda_graphs=True, tune_kernels=cfg.tune_kernels)
    elif cfg.compile:  # memory_flat recomputes segment by segment: each segment is one graph
        compile_segments(model, cuda_graphs=cfg.cuda_graphs)
    net = model
    if world_size > 1:  # every trainable parameter gets a gradient in every step (see freeze_initial_memory)
        net = DistributedDataParallel(net, device_ids=[device.index] if device.type == "cuda" else None)
    eval_b = cfg.eval_batch_size or cfg.batch_size
    eval_len = eval_seq_len(model, cfg.segments)
    flops = flops_per_token(model, seq_len)
    peak = cfg.peak_flops or peak_flops(device)
    tokens_per_step = cfg.batch_size * seq_len * world_size

    run = LMResult(unwrap(model))
    pos = {"epoch": 0, "batch": 0, "budget_seconds": 0.0, "total": _initial_total(cfg)}
    states = [None] * cfg.accumulation
    rng = cuda_rng_state = None
    if resume is not None:
        ckpt = resume if isinstance(resume, dict) else load_checkpoint(resume, map_location="cpu")
        model.load_state_dict(ckpt["model"])
        optimizer.load_state_dict(ckpt["optimizer"])
        run.step, run.tokens, run.seconds, run.history = ckpt["step"], ckpt["tokens"], ckpt["seconds"], ckpt["history"]
        pos.update(ckpt["position"])
        if ckpt.get("states") is not None and world_size == 1:
            states = [_detach(s.to(device)) if s is not None else None for s in ckpt["states"]]
        rng, cuda_rng_state = ckpt.get("rng"), ckpt.get("cuda_rng")

    out = Path(cfg.out) if cfg.out is not None and rank == 0 else None
    meta = {"model": cfg.model, "model_config": run.model.cfg.to_dict(), "params": count_params(run.model),
            "unit": unit, "world_size": world_size, "device": _device_name(device),
            "flops_per_token": flops, "peak_flops": peak, "lm_config": cfg.to_dict()}
    log(f"{cfg.model}: {meta['params'] / 1e6:.2f}M parameters, {meta['device']} x {world_size}, batch "
        f"{cfg.batch_size * world_size} x {cfg.segments} x {n} = {tokens_per_step:,} tokens, "
        f"{'bf16' if dtype else 'fp32'}{', compiled' if cfg.compile else ''}")

    def save():
        if out is None:
            return
        save_checkpoint(out / "checkpoint.pt", model=run.model.state_dict(), optimizer=optimizer.state_dict(),
                        step=run.step, tokens=run.tokens, seconds=run.seconds, history=run.history,
                        position=dict(pos), states=[s.cpu() if s is not None else None for s in states]
                        if world_size == 1 else None, rng=torch.get_rng_state(),
                        cuda_rng=torch.cuda.get_rng_state(device) if device.type == "cuda" else None, meta=meta)

    def evaluate(split):
        return evaluate_lm(run.model, evals[split], batch_size=eval_b, seq_len=eval_len, unit=unit, dtype=dtype,
                           rank=rank, world_size=world_size)

    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    cuda_rng = [device] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=cuda_rng):
        torch.manual_seed(cfg.seed + 1 + rank)  # dropout's stream; different on every process
        if rng is not None:
            torch.set_rng_state(rng)
        if cuda_rng_state is not None and device.type == "cuda":
            torch.cuda.set_rng_state(cuda_rng_state, device)
        clock = _Clock(device, pos["budget_seconds"])
        loss_sum, loss_steps, log_tokens, log_seconds = None, 0, 0, 0.0
        first_step = run.step
        with stop_on_interrupt() as stop:
            batches = _batches(train_ids, cfg.batch_size, seq_len, rank, world_size, pos["epoch"], pos["batch"])
            for epoch, k, tokens, targets in batches:
                if run.step >= min(pos["total"], cfg.steps or math.inf):
                    break
                if k == 0:
                    states = [None] * cfg.accumulation  # a new epoch: the stream starts again, so does the state
                lr = lr_at(run.step, cfg.lr, cfg.warmup, min(pos["total"], cfg.steps or math.inf), cfg.min_lr_ratio)
                for group in optimizer.param_groups:
                    group["lr"] = lr
                loss, states = train_step(net, optimizer, tokens, targets, states, cfg.clip, dtype)
                run.step, run.tokens = run.step + 1, run.tokens + tokens_per_step
                pos.update(epoch=epoch, batch=k + 1)
                loss_sum = loss if loss_sum is None else loss_sum + loss
                loss_steps, log_tokens = loss_steps + 1, log_tokens + tokens_per_step
                if run.step - first_step == WARM_STEPS:
                    clock.start_budget(run.step, run.tokens)
                last = run.step >= min(pos["total"], cfg.steps or math.inf)
                if run.step % cfg.log_every == 0 or last:
                    mean = _all_reduce(loss_sum.float().clone()).item() / (loss_steps * world_size)
                    seconds = clock.tick()
                    run.seconds, log_seconds = run.seconds + seconds, log_seconds + seconds
                    speed = log_tokens / max(log_seconds, 1e-9)
                    record = {"step": run.step, "tokens": run.tokens, "seconds": run.seconds,
                              "budget_seconds": clock.budget_seconds, "lr": lr, "loss": mean, "tokens_per_s": speed}
                    if peak:
                        record["mfu"] = flops * speed / (peak * world_size)
                    run.history.append(record)
                    log(_log_line(record, cfg, unit))
                    loss_sum, loss_steps, log_tokens, log_seconds = None, 0, 0, 0.0
                    if cfg.time_budget is not None:
                        pos["total"] = clock.plan(run.step, cfg.time_budget)
                    pos["budget_seconds"] = clock.budget_seconds
                if cfg.eval_every and run.step % cfg.eval_every == 0 and "valid" in evals and not last:
                    seconds = clock.tick()
                    run.seconds, log_seconds = run.seconds + seconds, log_seconds + seconds
                    result = evaluate("valid")
                    run.history.append({"step": run.step, "tokens": run.tokens, "seconds": run.seconds,
                                        "budget_seconds": clock.budget_seconds, "valid_loss": result["loss"],
                                        f"valid_{unit}": result[unit]})
                    log(f"step {run.step:>7} | valid loss {result['loss']:.4f} | {unit} {result[unit]:.3f}")
                    clock.resume()
                    save()
                elif cfg.save_every and run.step % cfg.save_every == 0:
                    save()
                if callback is not None and callback(run.step, run.history):
                    break
        if loss_steps:
            run.seconds += clock.tick()
        pos["budget_seconds"] = clock.budget_seconds
        run.interrupted = stop.interrupted
        run.tokens_per_s, run.mfu = clock.speed(run.step, run.tokens), None
        if run.tokens_per_s is not None and peak:
            run.mfu = flops * run.tokens_per_s / (peak * world_size)
        if run.interrupted:
            log(f"interrupted at step {run.step}: saving what was done")
        else:
            for split in evals:
                run.final[split] = evaluate(split)
                log(f"{split}: loss {run.final[split]['loss']:.4f} | {unit} {run.final[split][unit]:.3f}")
        save()
    run.info = {**meta, "peak_memory_gb": (torch.cuda.max_memory_allocated(device) / 2**30
                                           if device.type == "cuda" else None)}
    if out is not None:
        write_metrics(run, out)
    return run


def _initial_total(cfg: LMConfig) -> float:
    """The number of steps the schedule spans before a time budget has been measured."""
    return math.inf if cfg.time_budget is not None else cfg.steps


def _device_name(device: torch.device) -> str:
    return torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"


def _log_line(record: dict, cfg: LMConfig, unit: str) -> str:
    line = (f"step {record['step']:>7} | loss {record['loss']:.4f} | lr {record['lr']:.2e} | "
            f"{record['tokens_per_s'] / 1e3:,.1f}k tok/s")
    if "mfu" in record:
        line += f" | mfu {record['mfu']:.1%}"
    return line + f" | {record['seconds']:.0f} s"


class _Clock:
    """Training time without evaluations, and the time budget: the steps the measured speed allows.

    The budget clock starts after the first WARM_STEPS steps (which compile the model). At each log step
    `plan` turns the speed so far into the step at which the budget ends; under DDP the processes agree on
    the smallest plan (all_reduce MIN), so they run the same number of steps with the same schedule.
    """

    def __init__(self, device: torch.device, budget_seconds: float):
        self.device = device
        self.mark = time.perf_counter()
        self.budget_seconds = budget_seconds  # spent so far, earlier runs of a resumed training included
        self.budget_mark = None
        self.warm = None  # (step, tokens, budget_seconds) when the budget clock started

    def _sync(self):
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)

    def tick(self) -> float:
        """Seconds since the last tick (or resume); also adds them to the budget once it has started."""
        self._sync()
        now = time.perf_counter()
        seconds, self.mark = now - self.mark, now
        if self.budget_mark is not None:
            self.budget_seconds += now - self.budget_mark
            self.budget_mark = now
        return seconds

    def resume(self) -> None:
        """Restart the clocks after an evaluation (which does not count)."""
        self.mark = time.perf_counter()
        if self.budget_mark is not None:
            self.budget_mark = self.mark

    def start_budget(self, step: int, tokens: int) -> None:
        self._sync()
        self.budget_mark = time.perf_counter()
        self.warm = (step, tokens, self.budget_seconds)

    def plan(self, step: int, budget: float) -> float:
        """The step at which the time budget ends, from the speed measured since the warm-up steps."""
        if self.warm is None or step <= self.warm[0]:
            return math.inf
        rate = (step - self.warm[0]) / (self.budget_seconds - self.warm[2])  # steps per second
        total = torch.tensor(float(step + max(0, math.floor((budget - self.budget_seconds) * rate))),
                             dtype=torch.float64, device=self.device)
        return _all_reduce(total, dist.ReduceOp.MIN).item()

    def speed(self, step: int, tokens: int) -> float | None:
        """Tokens per second since the budget clock started (None if it never did)."""
        if self.warm is None or tokens <= self.warm[1]:
            return None
        return (tokens - self.warm[1]) / (self.budget_seconds - self.warm[2])


# ---------------------------------------------------------------- outputs: metrics.json and figures


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
    plot_lm_curves({name: run.history}).savefig(out / "curves.png", dpi=120)
    split = "test" if "test" in run.final else "valid" if "valid" in run.final else None
    if split is not None:
        curve = {name: run.final[split]["loss_by_position"]}
        plot_loss_by_position(curve, unit, title=f"{split} loss by position").savefig(out / "by_position.png", dpi=120)
    return path


def plot_lm_curves(histories: dict, x: str = "tokens", title: str = "training loss"):
    """Training loss (lines) and validation loss (dots) against "tokens", "step", "seconds" or "budget_seconds".

    histories: {run name: LMResult.history (or metrics.json's "history")}. Returns a matplotlib Figure.
    """
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6.4, 4))
    ax = fig.add_subplot()
    for i, (name, history) in enumerate(histories.items()):
        train = [r for r in history if "loss" in r]
        valid = [r for r in history if "valid_loss" in r]
        ax.plot([r[x] for r in train], [r["loss"] for r in train], color=f"C{i}", label=name)
        if valid:
            ax.plot([r[x] for r in valid], [r["valid_loss"] for r in valid], "o", color=f"C{i}", ms=4)
    xlabel = {"budget_seconds": "seconds (after the two compiling steps)", "seconds": "seconds of training"}
    ax.set(xlabel=xlabel.get(x, x), ylabel="cross-entropy (nats / token)", title=title)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    return fig


def plot_loss_by_position(curves: dict, unit: str = "ppl", title: str = "loss by position in the segment"):
    """Mean loss at each position 0..n-1 of a segment, one line per run (bits per token if unit is "bpb").

    curves: {run name: evaluate_lm(...)["loss_by_position"]}. Memory or a cache should lower the first
    positions most: without them, a segment's first tokens are predicted from almost no context.
    """
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6.4, 4))
    ax = fig.add_subplot()
    scale = 1 / math.log(2) if unit == "bpb" else 1.0
    for i, (name, losses) in enumerate(curves.items()):
        ax.plot(range(len(losses)), [v * scale for v in losses], color=f"C{i}", label=name)
    ax.set(xlabel="position inside the segment", title=title,
           ylabel="bits per byte" if unit == "bpb" else "cross-entropy (nats / token)")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    return fig


# ---------------------------------------------------------------- command line


def _field_help() -> dict:
    """Each LMConfig field's description in its docstring, continuation lines included, for --help."""
    helps, names = {}, []
    for line in (LMConfig.__doc__ or "").splitlines():
        if line.startswith(" " * 5) and names:  # indented under a description: it goes on
            for name in names:
                helps[name] += " " + line.strip()
            continue
        first, _, text = line.strip().partition("   ")
        names = [name for name in first.replace(",", " ").split() if name not in helps] if text else []
        for name in names:
            helps[name] = text.strip()
    return helps


def _optional(kind):
    def parse(text: str):
        return None if text.lower() == "none" else kind(text)
    parse.__name__ = kind.__name__
    return parse


def add_lm_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """One option per LMConfig field (`--time-budget 600`, `--compile`, `--steps none`), plus `--resume`."""
    helps, defaults = _field_help(), LMConfig.__dataclass_fields__
    kinds = {"int": int, "float": float, "str": str}
    for f in fields(LMConfig):
        flag, default = "--" + f.name.replace("_", "-"), defaults[f.name].default
        text = helps.get(f.name, "").replace("%", "%%")  # argparse formats help with %
        if f.name == "betas":
            parser.add_argument(flag, type=float, nargs=2, default=default, help=text)
        elif f.type in (bool, "bool"):
            parser.add_argument(flag, action=argparse.BooleanOptionalAction, default=default, help=text)
        else:
            annotation = str(f.type)
            kind = next(k for name, k in kinds.items() if name in annotation)
            parse = _optional(kind) if "None" in annotation else kind
            parser.add_argument(flag, type=parse, default=default, help=f"{text} (default {default})")
    parser.add_argument("--resume", default=None, help="continue from this checkpoint.pt")
    return parser


def add_lm_parser(subparsers) -> argparse.ArgumentParser:
    """The `lm` subcommand of `python -m minirmt`; its handler is `run_lm`."""
    parser = subparsers.add_parser("lm", help="train and evaluate a language model on a text corpus (GPU ready)",
                                   description=__doc__.split("\n\n")[0])
    add_lm_arguments(parser)
    parser.set_defaults(func=run_lm, run=run_lm, parser=parser)
    return parser


def run_lm(args: argparse.Namespace, parser: argparse.ArgumentParser | None = None) -> int:
    """Run `train_lm` from parsed arguments; print the final evaluations (rank 0).

    With `parser`, a bad setting (ValueError, TypeError, missing file) ends as `parser.error` (exit status 2).
    """
    try:
        cfg = LMConfig(**{f.name: getattr(args, f.name) for f in fields(LMConfig)})
        result = train_lm(cfg, resume=args.resume)
    except (ValueError, TypeError, FileNotFoundError) as error:
        if parser is None:
            raise
        parser.error(str(error))
    if int(os.environ.get("RANK", "0")) == 0:
        summary = {split: {k: v for k, v in r.items() if k != "loss_by_position"} for split, r in result.final.items()}
        print(json.dumps({"step": result.step, "tokens": result.tokens, "tokens_per_s": result.tokens_per_s,
                          "mfu": result.mfu, **summary}))
    return 130 if result.interrupted else 0


def main(argv=None) -> int:
    """`python -m minirmt.lm ...` (what `torchrun -m minirmt.lm` runs on every process)."""
    parser = argparse.ArgumentParser(prog="python -m minirmt.lm", description=__doc__.split("\n\n")[0])
    add_lm_arguments(parser)
    return run_lm(parser.parse_args(argv), parser)


if __name__ == "__main__":
    raise SystemExit(main())
