"""Training throughput on a CPU: minirmt vs the peer (lucidrains' recurrent-memory-transformer-pytorch).

Config (the issue's): vocab 256, d 128, 2 layers, 4 heads, segments of 64 tokens, 8 memory tokens,
4 segments, batch 32, AdamW, 2 threads. Each step is a full training step (forward over the 4 segments
with full BPTT, backward, AdamW) on random next-token data; tokens/s counts the b * g * n input tokens.

    python bench/goals/cpu_throughput.py                 # writes bench/results/cpu_throughput/latest.json
    python bench/goals/cpu_throughput.py --profile 25    # also the top 25 operators of each model (torch.profiler)
    python bench/goals/cpu_throughput.py --smoke         # tiny sizes, one round: checks that the script works

The peer rows need the peer installed (bench/README.md); they are skipped with a note where it is not.
"""

import argparse
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(BENCH.parent), str(BENCH), str(BENCH / "goals"), str(BENCH / "studies")]  # the repo, bench/

import harness  # noqa: E402
import torch  # noqa: E402

import minirmt  # noqa: E402

CONFIG = dict(vocab_size=256, d_model=128, n_layers=2, n_heads=4, segment_len=64, num_mem_tokens=8)
SEGMENTS, BATCH = 4, 32
SMOKE = dict(vocab_size=32, d_model=32, n_layers=1, n_heads=2, segment_len=8, num_mem_tokens=2)


def build(name: str, cfg: minirmt.ModelConfig, seed: int = 0):
    """A fresh model by name: "minirmt", "peer" or "peer-lean", initialised from `seed`."""
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        return minirmt.RecurrentMemoryTransformer(cfg) if name == "minirmt" else harness.peer_model(cfg, name)


def make_steps(cfg, names, batch, lr: float = 1e-3) -> dict:
    """One training-step function per model name (AdamW, fused kernels, the same batch for every model)."""
    steps = {}
    for name in names:
        model = build(name, cfg)
        optimizer = torch.optim.AdamW(model.parameters(), lr=lr, fused=True)
        steps[name] = harness.train_step(harness.loss_fn(model, name), optimizer, batch)
    return steps


def profile(step, rows: int) -> str:
    """The `rows` operators of one step that take the most time, as torch.profiler's table."""
    from torch.profiler import ProfilerActivity
    from torch.profiler import profile as torch_profile

    step()
    with torch_profile(activities=[ProfilerActivity.CPU]) as prof:
        step()
    return prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=rows)


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=7, help="timed steps per model (median reported)")
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--batch", type=int, default=BATCH)
    parser.add_argument("--segments", type=int, default=SEGMENTS)
    parser.add_argument("--profile", type=int, default=0, metavar="ROWS", help="print the top operators")
    parser.add_argument("--smoke", action="store_true", help="tiny sizes and one round (a check, not a result)")
    parser.add_argument("--out", type=Path, default=None, help="JSON path (default bench/results/...)")
    args = parser.parse_args(argv)

    torch.set_num_threads(args.threads)
    cfg = minirmt.ModelConfig(**(SMOKE if args.smoke else CONFIG))
    batch_size, g = (2, 2) if args.smoke else (args.batch, args.segments)
    rounds, warmup = (1, 1) if args.smoke else (args.rounds, args.warmup)
    names = ["minirmt"]
    notes = []
    if harness.peer_version() is None:
        notes.append(f"{harness.PEER_PACKAGE} is not installed here: peer rows skipped (see bench/README.md)")
    else:
        names += ["peer", "peer-lean"]

    batch = harness.lm_batch(cfg.vocab_size, batch_size, g * cfg.segment_len)
    steps = make_steps(cfg, names, batch)
    if args.profile:
        for name, step in steps.items():
            print(f"\n=== {name}: top {args.profile} operators of one step\n{profile(step, args.profile)}")
    tokens_per_step = batch_size * g * cfg.segment_len
    results = harness.summarize(harness.time_interleaved(steps, rounds, warmup), tokens_per_step)
    for name in names:
        results[name]["parameters"] = harness.count_parameters(build(name, cfg))

    mine = results["minirmt"]
    ratios = {
        f"minirmt/{name}": {
            "wall": harness.ratio(mine["tokens_per_s"], results[name]["tokens_per_s"]),
            "cpu_time": harness.ratio(mine["tokens_per_cpu_s"], results[name]["tokens_per_cpu_s"]),
        }
        for name in names[1:]
    }
    record = {
        "benchmark": "cpu_throughput",
        "smoke": args.smoke,
        "environment": harness.environment("cpu"),
        "config": {**cfg.to_dict(), "segments": g, "batch_size": batch_size, "optimizer": "AdamW(lr=1e-3, fused)",
                   "rounds": rounds, "warmup": warmup, "tokens_per_step": tokens_per_step},
        "peer_options": {name: harness.PEER_VARIANTS[name] for name in names[1:]},
        "peer_differences": harness.PEER_DIFFERENCES if len(names) > 1 else [],
        "results": results,
        "ratios": ratios,
        "goal": "minirmt >= 2x the peer's training tokens/s",
        "notes": notes,
    }
    path = harness.write_json(harness.result_path("cpu_throughput", args.smoke, args.out), record)

    print(f"\nCPU training throughput, {record['environment']['device']}, {args.threads} threads, "
          f"b={batch_size} g={g} n={cfg.segment_len} m={cfg.num_mem_tokens} d={cfg.d_model} l={cfg.n_layers}")
    print(f"{'model':<10} {'params':>9} {'step s':>8} {'tokens/s':>10} {'tokens/cpu-s':>13}")
    for name, r in results.items():
        print(f"{name:<10} {r['parameters']:>9,} {r['step_wall_s']:>8.3f} {r['tokens_per_s']:>10,.0f} "
              f"{r['tokens_per_cpu_s']:>13,.0f}")
    for key, r in ratios.items():
        print(f"{key}: {harness.fmt(r['wall'])}x (wall clock), {harness.fmt(r['cpu_time'])}x (CPU time)")
    harness.print_notes(notes, path)
    return record


if __name__ == "__main__":
    main()
