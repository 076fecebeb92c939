"""Training throughput on one GPU: minirmt (eager, compiled) vs the peer and a dense decoder.

Config (the issue's): vocab 32,768, d 512, 8 layers, 8 heads, segments of 512 tokens, 16 memory tokens,
4 segments, batch 16, bfloat16 autocast, fused AdamW, full BPTT, random next-token data.

Rows, timed in interleaved rounds (harness.py) of 5 steps back to back per row, the GPU synchronised only
around them, as in training (`--steps-per-round 1` times each step alone, from an idle GPU). A row whose
batch does not fit in memory is timed at the largest halved batch that does (tokens/s stays comparable;
the record says so):
    minirmt                         eager
    minirmt compiled                what `lm --compile --cuda-graphs` trains: the whole forward pass, the loop
                                    over the g segments included, compiled and replayed from CUDA graphs
                                    (accel.compile_model), the token ids checked once for the whole stream
    dense                           a GPT of the same size on b * g contexts of n tokens (dense.py): the same
                                    tokens per step, with no memory and no recurrence
    dense compiled                  the whole dense model compiled (head and loss included), with CUDA graphs
    peer, peer-lean                 lucidrains' RMT (harness.py: as shipped / stripped to minirmt's design)

MFU = tokens/s * training FLOPs per token / peak (minirmt.training.accel.flops_per_token; the peer rows are credited
with minirmt's FLOPs for the same sizes; H100/H200 dense bf16 peak 989 TFLOP/s).

    python bench/goals/gpu_throughput.py            # on a GPU: writes bench/results/gpu_throughput/latest.json
    python bench/goals/gpu_throughput.py --smoke    # tiny sizes on the CPU, compiled rows traced with aot_eager
"""

import argparse
import gc
import sys
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(BENCH.parent), str(BENCH), str(BENCH / "goals"), str(BENCH / "studies")]  # the repo, bench/

import harness  # noqa: E402
import torch  # noqa: E402
from dense import DenseDecoder  # noqa: E402

import minirmt  # noqa: E402
from minirmt.training.accel import compile_model, flops_per_token, peak_flops  # noqa: E402

CONFIG = dict(vocab_size=32_768, d_model=512, n_layers=8, n_heads=8, segment_len=512, num_mem_tokens=16)
SEGMENTS, BATCH = 4, 16
SMOKE = dict(vocab_size=64, d_model=32, n_layers=2, n_heads=2, segment_len=16, num_mem_tokens=2)
ROWS = ["minirmt", "minirmt compiled", "dense", "dense compiled", "peer", "peer-lean"]


def build(row: str, cfg: minirmt.ModelConfig, device, backend: str, seed: int = 0):
    """The model of a row, on `device`, initialised from `seed`, compiled if the row says so (with `backend`;
    "inductor" adds CUDA graphs on a GPU)."""
    with torch.random.fork_rng(devices=[]):  # weights are drawn on the CPU, then moved
        torch.manual_seed(seed)
        if row.startswith("peer"):
            model = harness.peer_model(cfg, row)
        elif row.startswith("dense"):
            model = DenseDecoder(cfg.vocab_size, cfg.d_model, cfg.n_layers, cfg.n_heads, cfg.segment_len)
        else:
            model = minirmt.RecurrentMemoryTransformer(cfg)
    model.to(device)
    graphs = backend == "inductor" and torch.device(device).type == "cuda"
    if row == "minirmt compiled" and backend == "inductor":
        compile_model(model, cuda_graphs=graphs)
    elif row == "minirmt compiled":  # --smoke on a CPU: trace only
        model.compile(backend=backend)
    elif row == "dense compiled":
        model = torch.compile(model, backend=backend, mode="reduce-overhead" if graphs else None)
    return model


def row_loss(row: str, model, n: int):
    """`loss(tokens (b, g * n), targets)` for a row; the dense decoder reads each segment as its own context."""
    if row.startswith("dense"):
        def dense_loss(tokens, targets):
            return model(tokens.reshape(-1, n), targets.reshape(-1, n))
        return dense_loss
    if row == "minirmt compiled":  # as lm.train_step calls the model
        return lambda tokens, targets: model(tokens, targets=targets, return_logits=False, check_ids=False).loss
    return harness.loss_fn(model, row)


def fitting_step(row: str, cfg, batch, device, backend: str):
    """A training step of the row's model on the largest leading part of `batch` (halving its batch size)
    that fits in memory, after one untimed step (which also compiles).

    Returns (step, model, batch size, seconds of that first step).
    """
    tokens, targets = batch
    b = tokens.shape[0]
    while True:
        model = build(row, cfg, device, backend)
        optimizer = torch.optim.AdamW(model.parameters(), lr=3e-4, fused=True)
        step = harness.train_step(row_loss(row, model, cfg.segment_len), optimizer, (tokens[:b], targets[:b]),
                                  autocast=True)
        try:
            start = time.perf_counter()
            step()
            harness.synchronize(device)
            return step, model, b, time.perf_counter() - start
        except torch.OutOfMemoryError:
            if b == 1:
                raise
        del model, optimizer, step
        gc.collect()
        torch.cuda.empty_cache()
        b //= 2


def row_flops_per_token(row: str, model, minirmt_model, s: int, n: int) -> float:
    return model.flops_per_token(n) if row.startswith("dense") else flops_per_token(minirmt_model, s)


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=10, help="timed steps per row (median reported)")
    parser.add_argument("--warmup", type=int, default=3, help="untimed steps per row (compilation happens here)")
    parser.add_argument("--steps-per-round", type=int, default=5,
                        help="steps run back to back per row and round, the GPU synchronised only around them, as "
                             "in training (1: each step timed alone, from an idle GPU)")
    parser.add_argument("--batch", type=int, default=BATCH)
    parser.add_argument("--segments", type=int, default=SEGMENTS)
    parser.add_argument("--rows", nargs="+", default=ROWS, choices=ROWS, metavar="ROW", help=f"from {ROWS}")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--backend", default=None, help="torch.compile backend (default: inductor; smoke: aot_eager)")
    parser.add_argument("--smoke", action="store_true", help="tiny sizes, 1 round (a check of the script)")
    parser.add_argument("--out", type=Path, default=None, help="JSON path (default bench/results/...)")
    args = parser.parse_args(argv)

    device = torch.device(args.device)
    cfg = minirmt.ModelConfig(**(SMOKE if args.smoke else CONFIG))
    batch_size, g = (2, 2) if args.smoke else (args.batch, args.segments)
    rounds, warmup = (1, 1) if args.smoke else (args.rounds, args.warmup)
    backend = args.backend or ("aot_eager" if args.smoke else "inductor")
    n, s = cfg.segment_len, g * cfg.segment_len
    notes = []
    rows = list(args.rows)
    if harness.peer_version() is None and any(r.startswith("peer") for r in rows):
        rows = [r for r in rows if not r.startswith("peer")]
        notes.append(f"{harness.PEER_PACKAGE} is not installed here: peer rows skipped (see bench/README.md)")
    if device.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = True

    batch = harness.lm_batch(cfg.vocab_size, batch_size, s, device=device)
    reference = minirmt.RecurrentMemoryTransformer(cfg)  # for the FLOP count only
    steps, flops, params, batches, first, failed = {}, {}, {}, {}, {}, {}
    for row in rows:
        try:
            steps[row], model, batches[row], first[row] = fitting_step(row, cfg, batch, device, backend)
        except Exception as e:  # one failing model must not end the benchmark of the others
            failed[row] = {"error": harness.describe(e)}
            continue
        flops[row] = row_flops_per_token(row, model, reference, s, n)
        params[row] = harness.count_parameters(model)
        if batches[row] < batch_size:
            notes.append(f"{row}: batch {batch_size} does not fit in memory; timed at batch {batches[row]}")
    k = 1 if args.smoke else args.steps_per_round
    times = harness.time_interleaved(steps, rounds, warmup, device, steps_per_round=k)
    results = {row: harness.summarize({row: times[row]}, batches[row] * s)[row] if row in times else failed[row]
               for row in rows}
    tokens_per_step = batch_size * s
    peak = peak_flops(device)
    for row, r in results.items():
        if row in failed:
            continue
        r.update(parameters=params[row], flops_per_token=flops[row], batch_size=batches[row],
                 first_step_s=first[row])
        if "error" not in r:
            r["mfu"] = harness.ratio(r["tokens_per_s"] * flops[row], peak)
    timed = [r for r in rows if "error" not in results[r]]
    notes += [f"{r}: {results[r]['error']} (left out)" for r in rows if r not in timed]

    ratios = {}
    for mine in (r for r in timed if r.startswith("minirmt")):
        dense = "dense compiled" if "compiled" in mine else "dense"  # the same mode
        for other in [r for r in timed if r.startswith("peer")] + [dense] * (dense in timed):
            ratios[f"{mine} / {other}"] = harness.ratio(results[mine]["tokens_per_s"], results[other]["tokens_per_s"])
    record = {
        "benchmark": "gpu_throughput",
        "smoke": args.smoke,
        "environment": harness.environment(device),
        "config": {**cfg.to_dict(), "segments": g, "batch_size": batch_size, "autocast": "bfloat16",
                   "optimizer": "AdamW(lr=3e-4, fused)", "compile": f"backend={backend}, see each row",
                   "rounds": rounds, "warmup": warmup, "steps_per_round": k, "tokens_per_step": tokens_per_step,
                   "peak_flops": peak},
        "peer_options": {r: harness.PEER_VARIANTS[r] for r in rows if r.startswith("peer")},
        "peer_differences": harness.PEER_DIFFERENCES if any(r.startswith("peer") for r in rows) else [],
        "results": results,
        "ratios": ratios,
        "goals": {"minirmt / peer": ">= 10", "minirmt / dense (same mode)": ">= 0.8"},
        "notes": notes,
    }
    path = harness.write_json(harness.result_path("gpu_throughput", args.smoke, args.out), record)

    print(f"\nGPU training throughput, {record['environment']['device']}, torch {torch.__version__}, "
          f"b={batch_size} g={g} n={n} m={cfg.num_mem_tokens} d={cfg.d_model} l={cfg.n_layers} v={cfg.vocab_size}")
    print(f"{'row':<40} {'step ms':>8} {'tokens/s':>11} {'MFU':>6} {'peak GiB':>9} {'1st step s':>10}")
    for row, r in results.items():
        mem = r.get("step_peak_bytes")
        if "error" in r:
            print(f"{row:<40} {r['error']}")
            continue
        print(f"{row:<40} {1e3 * r['step_wall_s']:>8.1f} {r['tokens_per_s']:>11,.0f} "
              f"{harness.fmt(r['mfu'] and 100 * r['mfu'], 1):>5}% {harness.fmt(mem and mem / 2**30):>9} "
              f"{r['first_step_s']:>10.1f}")
    for key, value in ratios.items():
        print(f"{key}: {harness.fmt(value)}x")
    harness.print_notes(notes, path)
    return record


if __name__ == "__main__":
    main()
