"""Peak GPU memory of a training step against the number of segments g, with cfg.memory_flat off and on.

Config: gpu_throughput.py's (vocab 32,768, d 512, 8 layers, 8 heads, n 512, m 16, batch 16, bf16 autocast,
fused AdamW, eager), full BPTT over g in {1, 4, 16, 64} segments. The model is called with targets and
return_logits=False, so no logits are returned and kept. With memory_flat each segment's activations are
recomputed in the backward pass (activation checkpointing per segment; the head and the loss are not
recomputed, see minirmt/model/head_loss.py), so the peak should barely grow with g; without it every segment's
activations wait for the backward pass.

peak = torch.cuda.max_memory_allocated over a setting's first two steps, measured for each setting alone
(weights, gradients and AdamW states included); "activations" = peak minus what is allocated between steps. A
setting that runs out of memory is recorded as "oom" and the larger g of that mode are skipped. At each g, the
settings of a mode (eager; with `--compiled`, compiled as `lm --compile` trains, without and, on CUDA, with CUDA
graphs: accel.compile_model compiles the whole forward pass, or each segment under memory_flat) are then timed in
interleaved rounds (5 steps of each per round, back to back as in training; `--steps-per-round 1` times steps
alone), so that full BPTT and memory_flat see the same spells of a busy machine. `--peer` adds lucidrains' RMT
(full BPTT and its memory-replay backprop) for g in {1, 4, 16}.

    python bench/goals/gpu_memory.py            # on a GPU: writes bench/results/gpu_memory/latest.json
    python bench/goals/gpu_memory.py --smoke    # tiny sizes on the CPU (memory is then not measured)
"""

import argparse
import gc
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(BENCH.parent), str(BENCH), str(BENCH / "goals"), str(BENCH / "studies")]  # the repo, bench/

import harness  # noqa: E402
import torch  # noqa: E402
from gpu_throughput import BATCH, CONFIG, SMOKE  # noqa: E402

import minirmt  # noqa: E402
from minirmt.training.accel import compile_model  # noqa: E402

SEGMENTS = [1, 4, 16, 64]
PEER_SEGMENTS = [1, 4, 16]
GOALS = {"flat peak at g=16 / flat peak at g=1": "<= 2", "throughput cost of memory_flat": "<= 30%"}


def minirmt_step(cfg, option: tuple[bool, str | None], batch, device):
    """One training step of minirmt; option = (memory_flat, compile): compile is None (eager), "compiled" (what
    `lm --compile` runs) or "CUDA graphs" (what `lm --compile --cuda-graphs` runs)."""
    flat, compiled = option
    model = minirmt.RecurrentMemoryTransformer(minirmt.ModelConfig(**{**cfg.to_dict(), "memory_flat": flat})).to(device)
    if compiled:
        compile_model(model, cuda_graphs=compiled == "CUDA graphs")
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-4, fused=True)
    return harness.train_step(harness.loss_fn(model, "minirmt"), optimizer, batch, autocast=True)


def peer_step(cfg, replay: bool, batch, device):
    """One step of the peer (as shipped): full BPTT through our loop, or the wrapper's memory-replay backprop."""
    model = harness.peer_model(cfg, "peer").to(device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-4, fused=True)
    tokens, targets = batch
    if not replay:
        return harness.train_step(harness.loss_fn(model, "peer"), optimizer, batch, autocast=True)
    sequence = torch.cat([tokens, targets[:, -1:]], dim=1)  # the wrapper predicts every next token itself

    def step():
        with torch.autocast(tokens.device.type, dtype=torch.bfloat16):
            loss, _ = harness.peer_forward(model, sequence, memory_replay=True)  # runs the backward pass itself
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        return loss.detach()

    return step


def measure_together(makers: dict, rounds: int, device, steps_per_round: int = 1) -> dict:
    """{name: result} for settings that run at the same g: each one's peak memory, measured alone, then the
    tokens/s of all of them timed in interleaved rounds (`steps_per_round` steps of each per round, back to
    back), so that a slow or a fast spell of the machine affects full BPTT and memory_flat alike and their
    ratio stays fair."""
    results, steps = {}, {}
    for name, make_step in makers.items():
        results[name], step = peak_memory(make_step, device)
        if step is not None:
            steps[name] = step
    times = harness.time_interleaved(steps, rounds, warmup=1, device=device, steps_per_round=steps_per_round)
    for name in steps:
        if "error" in times[name]:
            results[name] = {"oom": times[name]["error"] == "out of memory", "error": times[name]["error"]}
        else:
            results[name]["step_wall_s"] = min(times[name]["wall_s"])
    del steps
    gc.collect()
    if device.type == "cuda":
        torch.cuda.empty_cache()
    return results


def peak_memory(make_step, device) -> tuple[dict, object]:
    """(result, step) for one setting: peak memory over its first two steps (weights, gradients and AdamW states
    included) and the step, or ({"oom": True}, None) if it runs out of memory (any other failure: {"oom": False,
    "error": ...}). Both steps count: with CUDA graphs the second step may replay memory that the first one
    allocated (torch.compile's CUDA graphs warm up, then record, then replay)."""
    cuda = device.type == "cuda"
    before = torch.cuda.memory_allocated(device) if cuda else 0  # the other settings' weights, if any
    try:
        if cuda:
            torch.cuda.reset_peak_memory_stats(device)
        step = make_step()
        step()  # warm-up: allocates the optimizer states
        harness.synchronize(device)
        if not cuda:
            return {"oom": False, "peak_bytes": None, "resident_bytes": None, "activation_bytes": None}, step
        resident = torch.cuda.memory_allocated(device) - before
        step()
        harness.synchronize(device)
        peak = torch.cuda.max_memory_allocated(device) - before
        return {"oom": False, "peak_bytes": peak, "resident_bytes": resident, "activation_bytes": peak - resident}, step
    except torch.OutOfMemoryError:
        return {"oom": True}, None
    except Exception as e:  # one failing setting must not end the sweep
        return {"oom": False, "error": harness.describe(e)}, None


def flat_cost(flat: dict, full: dict) -> dict:
    """{g: 1 - tokens/s with memory_flat / tokens/s without}, where both ran."""
    return {g: 1 - flat[g]["tokens_per_s"] / full[g]["tokens_per_s"]
            for g in flat if g in full and "tokens_per_s" in flat[g] and "tokens_per_s" in full[g]}


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--segments", type=int, nargs="+", default=SEGMENTS)
    parser.add_argument("--rounds", type=int, default=3, help="timed steps per setting (the fastest is reported)")
    parser.add_argument("--batch", type=int, default=BATCH)
    parser.add_argument("--steps-per-round", type=int, default=5,
                        help="steps timed back to back per setting and round, as in training (see gpu_throughput.py)")
    parser.add_argument("--peer", action="store_true", help="also the peer, full BPTT and memory replay")
    parser.add_argument("--compiled", action="store_true",
                        help="also flat off and on compiled as lm compiles them, without and with CUDA graphs")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--smoke", action="store_true", help="tiny sizes, 1 round (a check of the script)")
    parser.add_argument("--out", type=Path, default=None, help="JSON path (default bench/results/...)")
    args = parser.parse_args(argv)

    device = torch.device(args.device)
    cfg = minirmt.ModelConfig(**(SMOKE if args.smoke else CONFIG))
    batch_size = 2 if args.smoke else args.batch
    segments = [1, 2, 4] if args.smoke else args.segments
    rounds = 1 if args.smoke else args.rounds
    k = 1 if args.smoke else args.steps_per_round
    notes = []
    groups = {"eager": [("minirmt flat=False", (False, None)), ("minirmt flat=True", (True, None))]}
    if args.compiled and not args.smoke:
        groups["compiled"] = [("minirmt compiled, flat=False", (False, "compiled")),
                              ("minirmt compiled, flat=True", (True, "compiled"))]
        if device.type == "cuda":
            groups["CUDA graphs"] = [("minirmt CUDA graphs, flat=False", (False, "CUDA graphs")),
                                     ("minirmt CUDA graphs, flat=True", (True, "CUDA graphs"))]
    if args.peer and harness.peer_version() is None:
        notes.append(f"{harness.PEER_PACKAGE} is not installed here: peer rows skipped (see bench/README.md)")
    elif args.peer:
        groups["peer"] = [("peer full BPTT", False), ("peer memory replay", True)]

    results = {name: {} for settings in groups.values() for name, _ in settings}
    for group, settings in groups.items():
        make = peer_step if group == "peer" else minirmt_step
        for g in [g for g in segments if g in PEER_SEGMENTS] if group == "peer" else segments:
            batch = harness.lm_batch(cfg.vocab_size, batch_size, g * cfg.segment_len, device=device)
            # a setting that ran out of memory (or failed) at a smaller g is not tried again
            makers = {name: lambda make=make, option=option, batch=batch: make(cfg, option, batch, device)
                      for name, option in settings if all("tokens_per_s" in r for r in results[name].values())}
            for name, r in measure_together(makers, rounds, device, steps_per_round=k).items():
                if "step_wall_s" in r:
                    r["tokens_per_s"] = batch_size * g * cfg.segment_len / r["step_wall_s"]
                results[name][g] = r

    flat, full = results["minirmt flat=True"], results["minirmt flat=False"]
    summary = {
        "flat peak g=16 / g=1": harness.ratio(flat.get(16, {}).get("peak_bytes"), flat.get(1, {}).get("peak_bytes")),
        "throughput cost of memory_flat by g": flat_cost(flat, full),
    }
    for mode in ("compiled", "CUDA graphs"):
        if f"minirmt {mode}, flat=True" in results:
            flat_mode = results[f"minirmt {mode}, flat=True"]
            summary[f"flat peak g=16 / g=1, {mode}"] = harness.ratio(
                flat_mode.get(16, {}).get("peak_bytes"), flat_mode.get(1, {}).get("peak_bytes"))
            summary[f"throughput cost of memory_flat by g, {mode}"] = flat_cost(
                flat_mode, results[f"minirmt {mode}, flat=False"])
    record = {
        "benchmark": "gpu_memory",
        "smoke": args.smoke,
        "environment": harness.environment(device),
        "config": {**cfg.to_dict(), "segments": segments, "batch_size": batch_size, "autocast": "bfloat16",
                   "optimizer": "AdamW(lr=3e-4, fused)", "rounds": rounds, "steps_per_round": k,
                   "call": "targets, return_logits=False"},
        "results": results,
        "summary": summary,
        "goals": GOALS,
        "notes": notes,
    }
    path = harness.write_json(harness.result_path("gpu_memory", args.smoke, args.out), record)

    print(f"\nPeak GPU memory of a training step, {record['environment']['device']}, b={batch_size} "
          f"n={cfg.segment_len} m={cfg.num_mem_tokens} d={cfg.d_model} l={cfg.n_layers} v={cfg.vocab_size}")
    print(f"{'setting':<32} {'g':>3} {'peak GiB':>9} {'activ. GiB':>11} {'tokens/s':>11}")
    for name, by_g in results.items():
        for g, r in by_g.items():
            if "tokens_per_s" not in r:
                print(f"{name:<32} {g:>3} {'out of memory' if r['oom'] else r['error']:>21}")
                continue
            gib = [None if r[k] is None else r[k] / 2**30 for k in ("peak_bytes", "activation_bytes")]
            print(f"{name:<32} {g:>3} {harness.fmt(gib[0]):>9} {harness.fmt(gib[1]):>11} {r['tokens_per_s']:>11,.0f}")
    for key in [name for name in summary if name.startswith("flat peak")]:
        print(f"{key}: {harness.fmt(summary[key])} (goal <= 2)")
    for key in [name for name in summary if name.startswith("throughput cost")]:
        for g, cost in summary.get(key, {}).items():
            print(f"{key.replace(' by g', '')} at g={g}: {100 * cost:.0f}% (goal <= 30%)")
    harness.print_notes(notes, path)
    return record


if __name__ == "__main__":
    main()
