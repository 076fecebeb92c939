"""The settings every training loop shares, its device and precision, and AdamW with warm-up + cosine.

Both loops use it: the synthetic tasks' (task_loop.py) and the language model's (lm_loop.py).
"""

import math
import os
from contextlib import nullcontext
from dataclasses import asdict, dataclass, fields

import torch

from minirmt.model.config import option
from minirmt.model.validation import require, require_int, require_numbers

DTYPES = ("auto", "bfloat16", "float32")
# tokens one forward pass may read at once: its activations, logits and every segment's memory grow with them, so a
# typo in a number of segments or a batch size ends in one line instead of filling the machine's memory
MAX_BATCH_TOKENS = 2**20


@dataclass
class LoopConfig:
    """The settings every training loop has: steps, the optimizer and its schedule, logging, seed, device."""

    steps: int | None = option(1000, "optimizer steps; the learning-rate schedule spans them")
    batch_size: int = option(64, "b, sequences per step")
    lr: float = option(3e-3, "peak learning rate, reached after the warm-up, then a cosine decay")
    warmup: int = option(100, "linear warm-up steps")
    min_lr_ratio: float = option(0.1, "the cosine decay ends at lr * min_lr_ratio")
    weight_decay: float = option(0.01, "AdamW's decoupled weight decay on matrices (not on biases and norms)")
    betas: tuple[float, float] = option((0.9, 0.98), "AdamW's betas")
    clip: float | None = option(1.0, "clip the gradient norm to this (none: no clipping)")
    eval_every: int = option(100, "evaluate every this many steps (0: only at the end)")
    log_every: int = option(10, "record the mean training loss every this many steps")
    seed: int = option(0, "seed of the model's initial weights, the training batches and dropout")
    device: str = option("auto", "auto (CUDA if available), cpu, cuda or cuda:N")
    dtype: str = option("auto", "auto (bfloat16 autocast on CUDA, float32 on the CPU), bfloat16 or float32",
                        choices=DTYPES)
    compile: bool = option(False, "torch.compile the model (see accel.compile_model)")
    cuda_graphs: bool = option(False, "with compile, on CUDA: replay the compiled kernels from CUDA graphs")

    def __post_init__(self):
        owner = type(self).__name__
        require_numbers(self)
        self.betas = tuple(self.betas)
        require_int(owner, "steps", self.steps, minimum=1, optional=True)
        for name in ("batch_size", "log_every"):
            require_int(owner, name, getattr(self, name), minimum=1)
        for name in ("warmup", "eval_every", "seed"):
            require_int(owner, name, getattr(self, name), minimum=0)
        require(owner, "lr", self.lr, self.lr > 0, "> 0")
        require(owner, "min_lr_ratio", self.min_lr_ratio, 0 <= self.min_lr_ratio <= 1, "in [0, 1]")
        require(owner, "weight_decay", self.weight_decay, self.weight_decay >= 0, ">= 0")
        require(owner, "betas", self.betas, len(self.betas) == 2 and all(0 <= x < 1 for x in self.betas),
                "two numbers in [0, 1)")
        require(owner, "clip", self.clip, self.clip is None or self.clip > 0, "> 0 or none")
        require(owner, "dtype", self.dtype, self.dtype in DTYPES, f"one of {DTYPES}")
        if self.cuda_graphs and not self.compile:
            raise ValueError(f"{owner}: cuda_graphs=True needs compile=True")

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict):
        """The inverse of to_dict; keys this version does not know are ignored."""
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in known})


def check_batch_tokens(owner: str, b: int, g: int, n: int) -> None:
    """A batch of `b` sequences of `g` segments of `n` tokens must fit the bound MAX_BATCH_TOKENS."""
    if b * g * n > MAX_BATCH_TOKENS:
        raise ValueError(f"{owner}: {b} sequences x {g:,} segments x {n} tokens = {b * g * n:,} tokens in one batch, "
                         f"above the bound of {MAX_BATCH_TOKENS:,} (2^20) that one forward pass holds at once "
                         f"(its activations and the memory of every segment grow with it); use fewer segments or "
                         f"a smaller batch (one sequence: up to {MAX_BATCH_TOKENS // n:,} segments)")


# ---------------------------------------------------------------- device, threads and precision


def cpu_threads(requested: int | None = None, shared: bool = False) -> tuple[int, str]:
    """The CPU threads for torch, and why, in a few words.

    PyTorch's threads busy-wait for each other at every operation, so when other jobs hold the cores (a lab
    server, a busy laptop) two threads can be several times slower than one. In order: `requested`, then
    OMP_NUM_THREADS, then one thread where the machine is `shared` or already busy, else every core.
    """
    if requested is not None:
        require_int("cpu_threads", "threads", requested, minimum=1)
        return requested, "asked for"
    if os.environ.get("OMP_NUM_THREADS", "").isdigit() and int(os.environ["OMP_NUM_THREADS"]) > 0:
        return int(os.environ["OMP_NUM_THREADS"]), "OMP_NUM_THREADS"
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    if shared:
        return 1, "one thread stays fast when other kernels share the cores"
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else 0.0
    if load >= cores / 2:
        return 1, f"other jobs are using the cores (load {load:.1f})"
    return cores, "the machine is idle"


def set_cpu_threads(requested: int | None = None, shared: bool = False) -> str:
    """Apply `cpu_threads` to torch; returns what was chosen and why ("1 thread: ...")."""
    threads, why = cpu_threads(requested, shared)
    torch.set_num_threads(threads)
    return f"{threads} thread{'s' if threads > 1 else ''}: {why}"


def resolve_device(device: str | torch.device) -> torch.device:
    """ "auto" -> CUDA if available, else CPU; anything else is checked and passed through."""
    if str(device) == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(device)
    except RuntimeError as e:
        raise ValueError(f"device={str(device)!r} is not a device: expected 'auto', 'cpu', 'cuda' or 'cuda:N'") from e
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device={str(device)!r}, but CUDA is not available here (use 'cpu' or 'auto')")
    return device


def autocast_dtype(dtype: str, device: torch.device) -> torch.dtype | None:
    """The autocast dtype of a run: bfloat16 (never float16: its range needs loss scaling) or None (float32)."""
    if dtype == "bfloat16" or (dtype == "auto" and torch.device(device).type == "cuda"):
        return torch.bfloat16
    return None


def autocast(device: torch.device, dtype: torch.dtype | None):
    """`torch.autocast` to `dtype` on `device`'s type, or nothing if dtype is None."""
    return torch.autocast(torch.device(device).type, dtype=dtype) if dtype is not None else nullcontext()


# ---------------------------------------------------------------- optimizer and schedule


def make_optimizer(model: torch.nn.Module, cfg: LoopConfig, device=None) -> torch.optim.AdamW:
    """AdamW with weight decay on matrices only (weights, embeddings, memory), not on biases and norms.

    Fused kernels on CUDA; call it after `model.to(device)`.
    """
    params = [p for p in model.parameters() if p.requires_grad]
    groups = [
        {"params": [p for p in params if p.dim() >= 2], "weight_decay": cfg.weight_decay},
        {"params": [p for p in params if p.dim() < 2], "weight_decay": 0.0},
    ]
    fused = device is not None and torch.device(device).type == "cuda"
    return torch.optim.AdamW(groups, lr=cfg.lr, betas=tuple(cfg.betas), fused=fused or None)


def lr_at(step: int, lr: float, warmup: int, total: float, min_lr_ratio: float = 0.1) -> float:
    """Learning rate of step `step` (0-based): linear warm-up to `lr` over `warmup` steps, then cosine
    decay to `lr * min_lr_ratio` at step `total`."""
    if step < warmup:
        return lr * (step + 1) / warmup
    progress = min(1.0, (step - warmup) / max(1, total - warmup))
    return lr * (min_lr_ratio + (1 - min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * progress)))


def set_lr(optimizer: torch.optim.Optimizer, lr: float) -> None:
    for group in optimizer.param_groups:
        group["lr"] = lr


def clip_and_step(optimizer: torch.optim.Optimizer, clip: float | None) -> None:
    """Clip the gradient norm of every parameter the optimizer updates (if `clip`), then take the step."""
    if clip is not None:
        torch.nn.utils.clip_grad_norm_([p for group in optimizer.param_groups for p in group["params"]], clip)
    optimizer.step()
