"""What every benchmark shares: the peer's models, one training step per model, fair timing, the JSON record.

The peer is lucidrains' `recurrent-memory-transformer-pytorch` (PyPI 0.7.0). It is never a dependency of
minirmt: the benchmarks import it from a separate environment (bench/README.md says how to make one) and
the rows that need it are skipped, with a note, where it is missing.

Timing. Models are timed in interleaved rounds (one step of each model per round, after warm-up steps)
and the median step of each is reported, so a slow spell of a shared machine hits every model alike. On a
GPU every timed step ends with `torch.cuda.synchronize()`. Both wall-clock and process CPU seconds are
kept; on a CPU that other jobs share, the CPU seconds are the steadier of the two.
"""

import importlib.metadata
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from contextlib import contextmanager, nullcontext
from pathlib import Path

import torch
import torch.nn.functional as F

import minirmt
from minirmt.model.validation import IGNORE_INDEX

RESULTS = Path(__file__).resolve().parent / "results"
SMOKE_RESULTS = Path(tempfile.gettempdir()) / "minirmt-bench-smoke"  # smoke runs check the scripts: not results
PEER_PACKAGE = "recurrent-memory-transformer-pytorch"

# What still differs between minirmt and the peer once the peer's options are set to match (PEER_LEAN).
PEER_DIFFERENCES = [
    "peer adds a learned null key/value per head (one extra attention key)",
    "peer mixes each later layer's values with the first layer's (value residual: Linear(d, h) + sigmoid + lerp)",
    "peer's feed-forward is GEGLU with width int(8d/3) (the same parameter count as minirmt's GELU MLP of 4d)",
    "peer uses RMSNorm, minirmt LayerNorm",
    "peer writes into fresh learned write tokens and adds a learned read-memory embedding; minirmt puts the "
    "same memory in the read and the write slots",
    "peer's logits layer is untied and has a bias; minirmt ties it to the token embedding",
    "peer's causal attention is offset by its null key (a token does not attend to itself)",
]

# The peer as its README shows it (flash attention on), minus XL memories so that both models are plain RMTs.
PEER_DEFAULT = {"use_flash_attn": True, "use_xl_memories": False}
# The peer as close to minirmt's architecture as its options go.
PEER_LEAN = {
    **PEER_DEFAULT,
    "num_residual_streams": 1,   # plain residual connections instead of 4 hyper-connection streams
    "memory_not_causal": False,  # one causal mask (the fused kernel's is_causal) instead of a custom mask
    "abs_pos_emb": False,        # rotary positions, as minirmt
    "rotary_pos_emb": True,
    "emb_gradient_frac": 1.0,    # no CogView embedding-gradient scaling
}
PEER_VARIANTS = {"peer": PEER_DEFAULT, "peer-lean": PEER_LEAN}

# The peer's attention calls torch.backends.cuda.sdp_kernel, deprecated since torch 2.2: one warning per call.
warnings.filterwarnings("ignore", message=".*sdp_kernel.*", category=FutureWarning)


# ------------------------------------------------------------------------------------------------ the peer


def peer_version() -> str | None:
    """The installed peer's version, or None where it is not installed."""
    try:
        return importlib.metadata.version(PEER_PACKAGE)
    except importlib.metadata.PackageNotFoundError:
        return None


def peer_model(cfg: minirmt.ModelConfig, variant: str = "peer"):
    """The peer's `RecurrentMemoryTransformer` with the sizes of `cfg` (variant "peer" or "peer-lean")."""
    if variant not in PEER_VARIANTS:
        raise ValueError(f"variant must be one of {sorted(PEER_VARIANTS)}, got {variant!r}")
    from recurrent_memory_transformer_pytorch import RecurrentMemoryTransformer

    return RecurrentMemoryTransformer(
        cfg.d_model, num_tokens=cfg.vocab_size, depth=cfg.n_layers, heads=cfg.n_heads, dim_head=cfg.head_width,
        num_memory_tokens=cfg.num_mem_tokens, seq_len=cfg.segment_len, causal=True, ff_mult=cfg.ff_width / cfg.d_model,
        ignore_index=IGNORE_INDEX, **PEER_VARIANTS[variant],
    )


def peer_forward(peer, tokens: torch.Tensor, targets: torch.Tensor | None = None, memory_replay: bool = False):
    """Run the peer over `tokens (b, s)` segment by segment -> (mean loss over targets != -100, logits (b, s, v)).

    The loop of the peer's own wrapper, written out because the wrapper (0.7.0) ignores the `labels` it is
    given and always predicts every next token; here the loss is minirmt's: one mean over all supervised
    positions of all segments. `memory_replay=True` runs the wrapper's memory-replay backprop instead
    (next-token targets only, `tokens` must then hold s + 1 ids); it does the backward pass itself.
    """
    if memory_replay:
        from recurrent_memory_transformer_pytorch import RecurrentMemoryTransformerWrapper

        return RecurrentMemoryTransformerWrapper(peer)(tokens, memory_replay_backprop=True), None
    memories, logits = None, []
    loss_sum = count = tokens.new_zeros((), dtype=torch.float32)
    for i, x in enumerate(tokens.split(peer.seq_len, dim=1)):
        seg_logits, memories, _ = peer(x, memories)  # (b, n, v), (b, m, d)
        logits.append(seg_logits)
        if targets is not None:
            y = targets[:, i * peer.seq_len : i * peer.seq_len + x.shape[1]]
            loss_sum = loss_sum + F.cross_entropy(seg_logits.flatten(0, 1).float(), y.flatten(),
                                                  ignore_index=IGNORE_INDEX, reduction="sum")
            count = count + (y != IGNORE_INDEX).sum()
    loss = loss_sum / count.clamp(min=1) if targets is not None else None
    return loss, torch.cat(logits, dim=1)


# ------------------------------------------------------------------------------------------------ steps


def loss_fn(model, name: str) -> Callable:
    """`loss(tokens (b, s), targets (b, s))` -> mean cross-entropy, for a minirmt model or a peer model."""
    if name.startswith("peer"):
        return lambda tokens, targets: peer_forward(model, tokens, targets)[0]
    return lambda tokens, targets: model(tokens, targets=targets, return_logits=False).loss


def train_step(loss: Callable, optimizer, batch, autocast: bool = False, clip: float | None = None,
               parameters=None) -> Callable[[], torch.Tensor]:
    """A function doing one AdamW step on `batch = (tokens, targets)`; it returns the detached loss."""
    tokens, targets = batch
    device_type = tokens.device.type

    def step():
        torch.compiler.cudagraph_mark_step_begin()  # a new step (CUDA graphs may reuse their earlier outputs)
        ctx = torch.autocast(device_type, dtype=torch.bfloat16) if autocast else nullcontext()
        with ctx:
            value = loss(tokens, targets)
        value.backward()
        if clip is not None:
            torch.nn.utils.clip_grad_norm_(parameters, clip)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        return value.detach()

    return step


def lm_batch(vocab_size: int, batch_size: int, length: int, seed: int = 0, device="cpu"):
    """Random next-token data: `tokens (b, s)` and `targets (b, s)`, targets[t] = tokens[t + 1]."""
    generator = torch.Generator().manual_seed(seed)
    seq = torch.randint(0, vocab_size, (batch_size, length + 1), generator=generator)
    return seq[:, :-1].contiguous().to(device), seq[:, 1:].contiguous().to(device)


def count_parameters(model) -> int:
    """Distinct parameters (a tied weight counts once)."""
    return sum(p.numel() for p in {id(p): p for p in model.parameters()}.values())


# ------------------------------------------------------------------------------------------------ timing


def synchronize(device) -> None:
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize()


def time_interleaved(steps: dict[str, Callable], rounds: int, warmup: int = 2, device="cpu",
                     steps_per_round: int = 1) -> dict:
    """Time each step function `rounds` times, one of each per round, after `warmup` untimed calls each.

    steps_per_round: k > 1 runs k steps back to back per round and records their mean. The device is
    synchronised only before and after the k steps, so the host queues step i + 1 while the GPU still runs
    step i, as in a training loop that reads the loss back only every few steps (minirmt.training.lm_loop does). With
    k = 1 every step starts from an idle GPU and its time includes the host's start-up latency.

    Returns {name: {"wall_s": [...], "cpu_s": [...], "warmup_s": seconds of the warm-up calls (compilation
    included)}}, seconds per step; on a GPU also "step_peak_bytes": the most memory a warm-up step allocated
    above what was allocated before it (activations and temporaries, not the resident weights). A step that
    fails in its warm-up (out of GPU memory, say) gets {"error": "..."} and is left out of the rounds.
    """
    times = {name: {"wall_s": [], "cpu_s": []} for name in steps}
    cuda = torch.device(device).type == "cuda"
    for name, step in steps.items():
        synchronize(device)
        start = time.perf_counter()
        if cuda:
            torch.cuda.reset_peak_memory_stats(device)
            resident = torch.cuda.memory_allocated(device)
        try:
            for _ in range(warmup):
                step()
            synchronize(device)
        except Exception as e:  # one failing model must not end the benchmark of the others
            times[name] = {"error": "out of memory" if isinstance(e, torch.OutOfMemoryError) else describe(e)}
            torch.cuda.empty_cache()
            continue
        times[name]["warmup_s"] = time.perf_counter() - start
        if cuda:
            times[name]["step_peak_bytes"] = torch.cuda.max_memory_allocated(device) - resident
    for _ in range(rounds):
        for name, step in steps.items():
            if "error" in times[name]:
                continue
            synchronize(device)
            wall, cpu = time.perf_counter(), time.process_time()
            for _ in range(steps_per_round):
                step()
            synchronize(device)
            times[name]["wall_s"].append((time.perf_counter() - wall) / steps_per_round)
            times[name]["cpu_s"].append((time.process_time() - cpu) / steps_per_round)
    return times


def describe(error: BaseException) -> str:
    """`Type: message`, the message cut to 300 characters, for a JSON record."""
    return f"{type(error).__name__}: {str(error)[:300]}"


def summarize(times: dict, tokens_per_step: int) -> dict:
    """Median seconds per step and tokens per second, per model (a failed one keeps its "error")."""
    out = {}
    for name, t in times.items():
        if "error" in t:
            out[name] = dict(t)
            continue
        wall, cpu = statistics.median(t["wall_s"]), statistics.median(t["cpu_s"])
        out[name] = {"step_wall_s": wall, "step_cpu_s": cpu, "tokens_per_s": tokens_per_step / wall,
                     "tokens_per_cpu_s": tokens_per_step / cpu, **t}
    return out


def ratio(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None or b == 0 else a / b


def fmt(x, digits: int = 2) -> str:
    if x is None:
        return "-"
    if isinstance(x, float) and (math.isnan(x) or math.isinf(x)):
        return str(x)
    return f"{x:,.{digits}f}" if isinstance(x, float) else str(x)


# ------------------------------------------------------------------------------------------------ the record


def device_name(device) -> str:
    device = torch.device(device)
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    for line in Path("/proc/cpuinfo").read_text().splitlines() if Path("/proc/cpuinfo").exists() else []:
        if line.startswith("model name"):
            return f"{line.split(':', 1)[1].strip()} ({os.cpu_count()} logical CPUs)"
    return platform.processor() or platform.machine()


def environment(device) -> dict:
    """Device, versions and machine state, for the JSON record."""
    def version(package):
        try:
            return importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            return None

    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                                cwd=Path(__file__).parent, timeout=10).stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        commit = None
    return {
        "device": device_name(device),
        "device_type": torch.device(device).type,
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
        "python": platform.python_version(),
        "einops": version("einops"),
        "minirmt": version("minirmt"),
        "minirmt_commit": commit,
        PEER_PACKAGE: peer_version(),
        "hyper-connections": version("hyper-connections"),
        "torch_threads": torch.get_num_threads(),
        "OMP_WAIT_POLICY": os.environ.get("OMP_WAIT_POLICY"),
        "load_average": os.getloadavg() if hasattr(os, "getloadavg") else None,
        "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }


def result_path(name: str, smoke: bool, out: str | Path | None = None) -> Path:
    """Where a benchmark writes its JSON: `out` if given, else bench/results/NAME/latest.json, the current record
    (its folder's README keeps the history); smoke runs go to a temporary folder."""
    if out is not None:
        return Path(out)
    return (SMOKE_RESULTS / f"{name}.json") if smoke else RESULTS / name / "latest.json"


BUSY_LOOP = ["-c", "while True: pass"]  # one CPU-bound job that never waits


@contextmanager
def crowded(jobs: int = 2, command: list[str] = BUSY_LOOP):
    """Inside the block `jobs` other CPU-bound processes (`python COMMAND...`) share the machine, as on a lab server
    where other kernels are running; they are stopped when the block ends, however it ends."""
    others = [subprocess.Popen([sys.executable, *command], stdout=subprocess.DEVNULL) for _ in range(jobs)]
    try:
        time.sleep(1.0)  # let them reach full speed
        yield others
    finally:
        for process in others:
            process.kill()
            process.wait()


def write_json(path: str | Path, payload: dict) -> Path:
    """Write `payload` as indented JSON (creating folders); returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(payload, indent=2, default=str) + "\n")
    return path


def print_notes(notes: list[str], path: Path) -> None:
    """The end of every benchmark's printout: its notes, then where its record went."""
    for note in notes:
        print("note:", note)
    print("wrote", path)


def seed_study_args(description: str, argv=None):
    """The command line every seed study shares: `--out` (the JSON to write) and `--seeds` (comma-separated,
    default 0,1,2); sets torch to 2 threads, as notebooks run in lab mode. Returns (args, [seeds])."""
    import argparse

    p = argparse.ArgumentParser(description=description)
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--seeds", default="0,1,2")
    args = p.parse_args(argv)
    torch.set_num_threads(2)
    return args, [int(s) for s in args.seeds.split(",")]


def write_study(out: Path, script: str, **payload) -> Path:
    """Write a seed study's result, `{"made_by": "python <script>", **payload}`, to `out`."""
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"made_by": f"python {script}", **payload}, indent=1))
    return out
