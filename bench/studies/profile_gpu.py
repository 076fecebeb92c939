"""Where a training step's time goes on a GPU: minirmt compiled against the dense decoder (torch.profiler).

The rows and sizes of gpu_throughput.py (its `build`, `row_loss` and issue config). For each row: the step's
wall time, the time the GPU was busy with kernels, the number of kernel launches per step, and the kernels
that take the most GPU time. A step whose GPU-busy time is far below its wall time is bound by the CPU
(launches, Python, synchronisations), not by the GPU's arithmetic.

    python bench/studies/profile_gpu.py --out runs/profile.json   # on a GPU, about a minute
    python bench/studies/profile_gpu.py --smoke                  # tiny sizes on the CPU
"""

import argparse
import sys
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(BENCH.parent), str(BENCH), str(BENCH / "goals"), str(BENCH / "studies")]  # the repo, bench/

import harness  # noqa: E402
import torch  # noqa: E402
from gpu_throughput import BATCH, CONFIG, ROWS, SEGMENTS, SMOKE, build, row_loss  # noqa: E402
from torch.profiler import ProfilerActivity, profile  # noqa: E402

import minirmt  # noqa: E402

DEFAULT_ROWS = ["minirmt compiled", "dense compiled"]
STEPS = 5


def profile_row(row: str, cfg: minirmt.ModelConfig, device, backend: str, top: int) -> dict:
    """Profile STEPS training steps of one row after 3 warm-up steps; a summary and the top kernels."""
    tokens, targets = harness.lm_batch(cfg.vocab_size, BATCH, SEGMENTS * cfg.segment_len, device=device)
    model = build(row, cfg, device, backend)
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-4, fused=device.type == "cuda")
    step = harness.train_step(row_loss(row, model, cfg.segment_len), optimizer, (tokens, targets), autocast=True)
    for _ in range(3):
        step()
    harness.synchronize(device)
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device.type == "cuda" else [])
    with profile(activities=activities) as prof:
        start = time.perf_counter()
        for _ in range(STEPS):
            step()
        harness.synchronize(device)
        wall = (time.perf_counter() - start) / STEPS
    kernels = [e for e in prof.key_averages() if e.device_time_total > 0 and e.device_type.name == "CUDA"]
    busy = sum(e.device_time_total for e in kernels) / 1e6 / STEPS  # seconds per step
    launches = sum(e.count for e in kernels) / STEPS
    kernels.sort(key=lambda e: e.device_time_total, reverse=True)
    return {"row": row, "wall_ms": wall * 1e3, "gpu_busy_ms": busy * 1e3, "busy_fraction": busy / wall,
            "kernels_per_step": launches,
            "top": [{"name": e.key[:120], "ms_per_step": e.device_time_total / 1e3 / STEPS,
                     "calls_per_step": e.count / STEPS} for e in kernels[:top]],
            "table": prof.key_averages().table(sort_by="self_device_time_total", row_limit=top)}


def main(argv=None) -> list[dict]:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--smoke", action="store_true")
    p.add_argument("--top", type=int, default=15)
    p.add_argument("--rows", nargs="+", default=DEFAULT_ROWS, choices=ROWS, metavar="ROW", help=f"from {ROWS}")
    p.add_argument("--out", type=Path, default=None)
    args = p.parse_args(argv)
    device = torch.device("cuda" if torch.cuda.is_available() and not args.smoke else "cpu")
    cfg = minirmt.ModelConfig(**(SMOKE if args.smoke else CONFIG))
    backend = "inductor" if device.type == "cuda" else "aot_eager"
    results = []
    for row in args.rows:
        r = profile_row(row, cfg, device, backend, args.top)
        results.append(r)
        print(f"\n{row}: step {r['wall_ms']:.1f} ms, GPU busy {r['gpu_busy_ms']:.1f} ms "
              f"({r['busy_fraction']:.0%}), {r['kernels_per_step']:.0f} kernels per step")
        for k in r["top"]:
            print(f"  {k['ms_per_step']:7.2f} ms {k['calls_per_step']:6.0f}x  {k['name']}")
        print(r["table"])
    if args.out is not None:
        harness.write_json(args.out, {"environment": harness.environment(device), "rows": results})
    return results


if __name__ == "__main__":
    main()
