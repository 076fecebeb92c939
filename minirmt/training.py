"""What every training loop shares: its common settings, device and precision, AdamW with warm-up + cosine,
checkpoints with their random state, a clean Ctrl-C, clocks and a progress display.

Both loops use it: the synthetic tasks' (train.py) and the language model's (lm.py).
"""

import math
import os
import sys
import tempfile
import time
from contextlib import contextmanager, nullcontext
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import torch
from tqdm.auto import tqdm

from .options import option
from .validation import require, require_int

DTYPES = ("auto", "bfloat16", "float32")


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

    def __post_init__(self):
        owner = type(self).__name__
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

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict):
        """The inverse of to_dict; keys this version does not know are ignored."""
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in known})


# ---------------------------------------------------------------- device and precision


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


# ---------------------------------------------------------------- checkpoints and random state


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
        os.chmod(tmp, 0o666 & ~_umask())  # as open() would create it (mkstemp makes it private)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def load_checkpoint(path: str | Path, map_location="cpu") -> dict:
    """Read a checkpoint written by `save_checkpoint` (tensors land on `map_location`)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint at {str(path)!r}")
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except Exception as error:  # truncated, corrupt, or not a checkpoint at all
        raise ValueError(f"{path} is not a readable minirmt checkpoint ({type(error).__name__}): it is corrupt, "
                         f"truncated or another kind of file") from error


def random_state(device: torch.device) -> dict:
    """PyTorch's global random state (CPU, and the device's on CUDA): what dropout draws from."""
    device = torch.device(device)
    return {"cpu": torch.get_rng_state(), "cuda": torch.cuda.get_rng_state(device) if device.type == "cuda" else None}


@contextmanager
def seeded_global_rng(seed: int, device: torch.device, state: dict | None = None):
    """Inside the block the global generators (dropout's) start from `seed`, or from a saved `state`; outside
    it the caller's global random state is left as it was (`torch.random.fork_rng`)."""
    device = torch.device(device)
    cuda = [device] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=cuda):
        torch.manual_seed(seed)
        if state is not None:
            torch.set_rng_state(state["cpu"])
            if cuda and state.get("cuda") is not None:
                torch.cuda.set_rng_state(state["cuda"], device)
        yield


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


# ---------------------------------------------------------------- clocks and progress


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


class BudgetClock:
    """Training time without evaluations, and the time budget: the steps the measured speed allows.

    The budget clock starts after the first WARM_STEPS steps (which compile the model). At each log step
    `plan` turns the speed so far into the step at which the budget ends (under DDP the caller takes the
    smallest plan of all processes, so they run the same number of steps with the same schedule).
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
        return float(step + max(0, math.floor((budget - self.budget_seconds) * rate)))

    def speed(self, tokens: int) -> float | None:
        """Tokens per second since the budget clock started (None if it never did)."""
        if self.warm is None or tokens <= self.warm[1]:
            return None
        return (tokens - self.warm[1]) / (self.budget_seconds - self.warm[2])


def progress_bar(total: int | None, initial: int = 0, desc: str = "", enabled: bool = True, unit: str = "steps"):
    """A tqdm bar in a terminal or a notebook; where output goes to a file (a job log), a line every 10%."""
    if not enabled:
        return NoBar()
    in_notebook = "ipykernel" in sys.modules
    if in_notebook or sys.stderr.isatty():
        return tqdm(total=total, initial=initial, desc=desc, unit=unit.rstrip("s"), dynamic_ncols=True)
    return LineBar(total, initial, desc, unit)


class NoBar:
    """Stands in for the progress bar when there is none."""

    def update(self, n: int = 1) -> None:
        pass

    def set_postfix(self, values: dict | None = None, refresh: bool = False) -> None:
        pass

    def close(self) -> None:
        pass


class LineBar(NoBar):
    """Progress as whole lines on stderr (`desc: 300/1000 steps | loss 0.12`), one every tenth of the run."""

    def __init__(self, total: int | None, initial: int = 0, desc: str = "", unit: str = "steps"):
        self.total, self.n, self.desc, self.unit, self.postfix = total, initial, desc, unit, {}
        self.every = max(1, (total or 1000) // 10)

    def update(self, n: int = 1) -> None:
        self.n += n
        if self.n % self.every == 0 or self.n == self.total:
            values = " | ".join(f"{k} {v}" for k, v in self.postfix.items())
            total = f"/{self.total}" if self.total else ""
            print(f"{self.desc}: {self.n}{total} {self.unit}" + (f" | {values}" if values else ""), file=sys.stderr)

    def set_postfix(self, values: dict | None = None, refresh: bool = False) -> None:
        self.postfix = dict(values or {})
