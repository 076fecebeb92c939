"""Training fast on accelerators: compilation, the FLOP count behind MFU, and data parallelism (DDP).

    compile_model(model, cuda_graphs=True)        # what `lm --compile [--cuda-graphs]` does
    flops_per_token(model, seq_len) * tokens_per_s / peak_flops(device)   # model FLOPs utilisation (MFU)
    rank, world_size, device, started = init_distributed("auto")          # under torchrun
"""

import os
from contextlib import nullcontext

import torch
import torch.distributed as dist

from minirmt.model.baselines import MemTransformerXL, RecurrentMemoryTransformerXL, TransformerXL
from minirmt.model.recurrence import allow_recompiles
from minirmt.model.rmt import RecurrentMemoryTransformer

from .common import resolve_device

# Dense bfloat16 peak of one accelerator, FLOP/s, for MFU (vendor data sheets, without sparsity).
PEAK_FLOPS = {"H100": 989e12, "H200": 989e12, "A100": 312e12}


# ---------------------------------------------------------------- compilation


def compile_model(model: torch.nn.Module, cuda_graphs: bool = False) -> torch.nn.Module:
    """`torch.compile` a model in place for training; returns it.

    Without memory_flat the whole forward pass is compiled, the loop over segments included (`model.compile`):
    one program per step, and with `cuda_graphs` one CUDA graph replayed forward and one backward. With
    memory_flat the backward pass recomputes segment by segment, so each segment is compiled on its own
    (`model.compile_segments`), replayed from a CUDA graph with `cuda_graphs`.
    """
    if model.cfg.memory_flat:
        return model.compile_segments(mode="reduce-overhead" if cuda_graphs else None)
    allow_recompiles()
    # "triton.cudagraphs" is what mode="reduce-overhead" turns on (torch.compile takes a mode or options, not both)
    model.compile(options={"triton.cudagraphs": cuda_graphs})
    return model


def eager():
    """Run a compiled model eagerly: evaluation shapes (no gradient, a short last batch) would each recompile."""
    return torch.compiler.set_stance("force_eager") if hasattr(torch.compiler, "set_stance") else nullcontext()


def unwrap(model: torch.nn.Module) -> torch.nn.Module:
    """The plain model inside a DistributedDataParallel wrapper."""
    return getattr(model, "module", model)


# ---------------------------------------------------------------- cost


def count_params(model: torch.nn.Module) -> int:
    """Trainable parameters (tied embeddings counted once)."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def flops_per_token(model: torch.nn.Module, seq_len: int) -> float:
    """Training FLOPs per predicted token (forward + backward = 3 x forward, 2 FLOPs per multiply-add).

    Per segment of n tokens the blocks process p = n + extra positions (RMT decoder: 2m memory slots,
    MemTr-XL: m) whose queries each see T keys (segment: n, RMT: n + 2m, XL: c + n, MemTr-XL: c + m + n,
    RMT with a cache: c + 2m + n, full: the whole row). So per token: 6 * (block parameters) * p / n, plus
    12 * l * (h k) * T * p / n for the attention scores and weighted sums (counted in full, as nanoGPT and PaLM do),
    plus 6 * d * v for the vocabulary head. Recomputation (memory_flat) is not counted: this is model FLOPs, for MFU.
    """
    model = unwrap(model)
    cfg = model.cfg
    n = model.segment_len(seq_len)
    m, c = cfg.num_mem_tokens, cfg.cache_len
    if isinstance(model, RecurrentMemoryTransformerXL):
        extra, keys = 2 * m, c + 2 * m + n
    elif isinstance(model, RecurrentMemoryTransformer):  # the RMT and its memory tokens that are not carried
        extra = 2 * m if cfg.memory_form == "decoder" else m
        keys = n + extra
    elif isinstance(model, MemTransformerXL):
        extra, keys = m, c + m + n
    elif isinstance(model, TransformerXL):
        extra, keys = 0, c + n
    else:
        extra, keys = 0, n
    block_params = sum(p.numel() for p in model.backbone.blocks.parameters())
    per_position = 6 * block_params + 12 * cfg.n_layers * cfg.n_heads * cfg.head_width * keys
    return per_position * (n + extra) / n + 6 * cfg.d_model * cfg.vocab_size


def peak_flops(device: torch.device) -> float | None:
    """Dense bfloat16 peak FLOP/s of a CUDA device, looked up from its name (None if not known or CPU)."""
    device = torch.device(device)
    if device.type != "cuda":
        return None
    name = torch.cuda.get_device_name(device)
    return next((peak for key, peak in PEAK_FLOPS.items() if key in name), None)


def device_name(device: torch.device) -> str:
    return torch.cuda.get_device_name(device) if torch.device(device).type == "cuda" else "cpu"


# ---------------------------------------------------------------- data parallelism


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


def all_reduce(x: torch.Tensor, op=None) -> torch.Tensor:
    """Sum (or `op`) of `x` over all processes, in place; a no-op without a process group."""
    if dist.is_initialized() and dist.get_world_size() > 1:
        dist.all_reduce(x, op=op or dist.ReduceOp.SUM)
    return x


def all_min(value: float, device: torch.device) -> float:
    """The smallest `value` over all processes (itself without a process group)."""
    return all_reduce(torch.tensor(float(value), dtype=torch.float64, device=device), dist.ReduceOp.MIN).item()
