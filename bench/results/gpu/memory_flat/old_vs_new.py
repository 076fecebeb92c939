"""The script behind run3_* and run4_* here: memory_flat before and after minirmt/head_loss.py, one process.

"old flat" re-creates the path before commit 4547410 (each segment, head and loss included, checkpointed
whole); "new flat" is minirmt's; "full" is full BPTT. Forward and backward are timed apart, 12 interleaved
rounds, medians. Run from the repository root on a GPU:

    python bench/results/gpu/memory_flat/old_vs_new.py 16 [compiled] [profile]
"""

import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[4]
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]

import harness  # noqa: E402
import torch  # noqa: E402
from gpu_throughput import BATCH, CONFIG  # noqa: E402
from torch.utils.checkpoint import checkpoint  # noqa: E402

import minirmt  # noqa: E402
from minirmt.lm import compile_segments  # noqa: E402


class OldFlat(minirmt.RecurrentMemoryTransformer):
    def _run_segment(self, x, y, memory, return_attention, return_logits, last):
        if self.cfg.memory_flat and torch.is_grad_enabled() and not last:
            return checkpoint(self._segment_with_loss, x, y, memory, False, return_logits, use_reentrant=False)
        return self._segment_with_loss(x, y, memory, return_attention, return_logits)


def timed_step(model, tokens, targets) -> tuple[float, float]:
    torch.cuda.synchronize()
    start = time.perf_counter()
    with torch.autocast("cuda", dtype=torch.bfloat16):
        loss = model(tokens, targets=targets, return_logits=False).loss
    torch.cuda.synchronize()
    middle = time.perf_counter()
    loss.backward()
    torch.cuda.synchronize()
    model.zero_grad(set_to_none=True)
    return middle - start, time.perf_counter() - middle


def main(g: int, compiled: bool, profile: bool) -> None:
    device = torch.device("cuda")
    tokens, targets = harness.lm_batch(CONFIG["vocab_size"], BATCH, g * CONFIG["segment_len"], device=device)
    models = {}
    for name, cls, flat in [("full", minirmt.RecurrentMemoryTransformer, False),
                            ("new flat", minirmt.RecurrentMemoryTransformer, True), ("old flat", OldFlat, True)]:
        torch.manual_seed(0)
        models[name] = cls(minirmt.ModelConfig(**{**CONFIG, "memory_flat": flat})).to(device)
        if compiled:
            compile_segments(models[name])
    for model in models.values():
        timed_step(model, tokens, targets), timed_step(model, tokens, targets)  # warm-up, compilation
    times = {name: [] for name in models}
    for _ in range(12):
        for name, model in models.items():
            times[name].append(timed_step(model, tokens, targets))
    print(f"g={g} compiled={compiled}")
    for name, pairs in times.items():
        forward, backward = (statistics.median(t) for t in zip(*pairs, strict=True))
        fastest = min(f + b for f, b in pairs)
        print(f"{name:10s} fwd {1e3 * forward:7.1f} ms  bwd {1e3 * backward:7.1f} ms  "
              f"total {1e3 * (forward + backward):7.1f} ms  min total {1e3 * fastest:7.1f}")
    if profile:
        from torch.profiler import ProfilerActivity
        for name in ("full", "new flat"):
            with torch.profiler.profile(activities=[ProfilerActivity.CPU, ProfilerActivity.CUDA]) as prof:
                timed_step(models[name], tokens, targets)
            print("=====", name)
            print(prof.key_averages().table(sort_by="cuda_time_total", row_limit=22, max_name_column_width=60))


if __name__ == "__main__":
    main(int(sys.argv[1]), "compiled" in sys.argv, "profile" in sys.argv)
