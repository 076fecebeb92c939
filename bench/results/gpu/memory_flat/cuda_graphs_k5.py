"""The script behind run7_cuda_graphs_k5.*: memory_flat with each segment replayed from CUDA graphs
(`compile_segments(cuda_graphs=True)`) beside the plain segment compile, at g = 1, 4, 16; peak memory and
tokens/s from gpu_memory.py's `measure_together`, 6 rounds of k steps back to back. `gpu_memory.py --compiled`
now has the same settings; since the run, this script builds its steps with `gpu_memory.minirmt_step`, which
builds the same model, compile, optimizer and step as the draft that ran. Run from the repository root on a GPU:

    python bench/results/gpu/memory_flat/cuda_graphs_k5.py 5 OUT.json
"""

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[4]
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]

import harness  # noqa: E402
import torch  # noqa: E402
from gpu_memory import flat_cost, measure_together, minirmt_step  # noqa: E402
from gpu_throughput import BATCH, CONFIG  # noqa: E402

import minirmt  # noqa: E402

dev = torch.device("cuda")
cfg = minirmt.ModelConfig(**CONFIG)
k = int(sys.argv[1]) if len(sys.argv) > 1 else 5

out = {}
for g in [1, 4, 16]:
    batch = harness.lm_batch(cfg.vocab_size, BATCH, g * cfg.segment_len, device=dev)
    makers = {f"{'graphs' if gr else 'segments'} flat={fl}":
              lambda fl=fl, gr=gr, batch=batch: minirmt_step(cfg, (fl, False, "CUDA graphs" if gr else "segments"),
                                                             batch, dev)
              for gr in (False, True) for fl in (False, True)}
    for name, r in measure_together(makers, 6, dev, steps_per_round=k).items():
        if "step_wall_s" in r:
            r["tokens_per_s"] = BATCH * g * cfg.segment_len / r["step_wall_s"]
        out.setdefault(name, {})[g] = r
        print(g, name, {key: (round(v / 2**30, 2) if "bytes" in key and v else v) for key, v in r.items()}, flush=True)
for mode in ("segments", "graphs"):
    flat, full = out[f"{mode} flat=True"], out[f"{mode} flat=False"]
    print(mode, "cost by g", flat_cost(flat, full))
    print(mode, "flat peak g16/g1", flat[16].get("peak_bytes", 0) / max(1, flat[1].get("peak_bytes", 1)))
record = {"environment": harness.environment(dev), "steps_per_round": k, "results": out}
Path(sys.argv[2]).write_text(json.dumps(record, indent=1, default=str))
