"""CPU time to solve copy over 4 segments (>= 99% exact match): minirmt vs the peer, with the same budget.

Task: `minirmt.data.tasks.make_task("copy", 8)` sampled with g = 4 segments of n = 8 tokens: 16 digits, GO, the
16 digits again (RMT paper, Sec. 4.1); every answer lies in an earlier segment, so only memory solves it.
`--source-len 8` copies 8 digits: the source fills the first segment, the copy the last, two segments of
padding lie between.
Models (same sizes): d 64, 2 layers, 4 heads, m = 8 memory tokens, vocabulary 12. Training (the copy
recipe, minirmt/training/recipes.py): AdamW lr 3e-3, betas (0.9, 0.98), weight decay 0.01 on matrices, 100 warm-up steps
then cosine over the step budget, batch 64, gradient clipping 1.0, full BPTT.

Clocks: each model's clock counts only its own training steps (evaluation excluded), in wall-clock and in
process CPU seconds; on a shared machine the CPU seconds are the measure, and the budget (steps and CPU
seconds, the same for every model) is counted in them. Every `--eval-every` steps each model is evaluated on
the same held-out sequences; a model is solved at the first evaluation with exact match >= 0.99 (every answer
digit of a sequence right), and then stops. Models given together train in lockstep on the same batches (one
generator, one step of each in turn); run one model per process to use several cores, then `--merge`.

    python bench/goals/cpu_time_to_solve.py            # writes bench/results/cpu_time_to_solve/latest.json
    python bench/goals/cpu_time_to_solve.py --smoke    # a few steps: checks that the script works
    python bench/goals/cpu_time_to_solve.py --models peer --out /tmp/peer.json      # one model ...
    python bench/goals/cpu_time_to_solve.py --merge /tmp/minirmt.json /tmp/peer.json  # ... then one record
"""

import argparse
import json
import sys
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(BENCH.parent), str(BENCH), str(BENCH / "goals"), str(BENCH / "studies")]  # the repo, bench/

import harness  # noqa: E402
import torch  # noqa: E402

import minirmt  # noqa: E402
from minirmt.data.tasks import make_task  # noqa: E402
from minirmt.model.validation import IGNORE_INDEX  # noqa: E402
from minirmt.training.common import LoopConfig, lr_at, make_optimizer  # noqa: E402

SIZES = dict(d_model=64, n_layers=2, n_heads=4, segment_len=8, num_mem_tokens=8)
SEGMENTS = 4
TRAIN = dict(lr=3e-3, betas=(0.9, 0.98), weight_decay=0.01, warmup=100, batch_size=64, clip=1.0)
THRESHOLD = 0.99


class Contender:
    """One model in the race: its optimizer, its clocks and its evaluations."""

    def __init__(self, name: str, cfg: minirmt.ModelConfig, seed: int):
        self.name = name
        with torch.random.fork_rng():
            torch.manual_seed(seed)
            self.model = minirmt.RecurrentMemoryTransformer(cfg) if name == "minirmt" else harness.peer_model(cfg, name)
        loop = LoopConfig(lr=TRAIN["lr"], weight_decay=TRAIN["weight_decay"], betas=TRAIN["betas"])
        self.optimizer = make_optimizer(self.model, loop)
        self.loss = harness.loss_fn(self.model, name)
        self.wall = self.cpu = 0.0
        self.steps, self.solved, self.history = 0, False, []

    def logits(self, tokens):
        if self.name == "minirmt":
            return self.model(tokens).logits
        return harness.peer_forward(self.model, tokens)[1]

    def train_step(self, batch, lr: float) -> float:
        wall, cpu = time.perf_counter(), time.process_time()
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        loss = self.loss(*batch)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(self.model.parameters(), TRAIN["clip"])
        self.optimizer.step()
        value = loss.item()
        self.wall += time.perf_counter() - wall
        self.cpu += time.process_time() - cpu
        self.steps += 1
        return value

    @torch.no_grad()
    def evaluate(self, batches) -> dict:
        """Exact match (every answer of a sequence right) and per-answer accuracy over held-out batches."""
        self.model.eval()
        exact = correct = answers = sequences = 0
        for tokens, targets in batches:
            asked = targets != IGNORE_INDEX  # (b, s)
            right = (self.logits(tokens).argmax(-1) == targets) & asked
            exact += int((right.sum(1) == asked.sum(1)).sum())
            correct, answers = correct + int(right.sum()), answers + int(asked.sum())
            sequences += len(tokens)
        self.model.train()
        return {"exact_match": exact / sequences, "accuracy": correct / answers}


def race(contenders: list[Contender], task, steps: int, eval_every: int, eval_batches: int,
         cpu_seconds: float, seed: int) -> None:
    """Train the contenders in lockstep on the same batches until each is solved or out of budget."""
    held_out_gen = torch.Generator().manual_seed(12345)
    held_out = [task.sample(TRAIN["batch_size"], SEGMENTS, held_out_gen) for _ in range(eval_batches)]
    generator = torch.Generator().manual_seed(seed)
    for step in range(steps):
        racing = [c for c in contenders if not c.solved and c.cpu < cpu_seconds]
        if not racing:
            break
        batch = task.sample(TRAIN["batch_size"], SEGMENTS, generator)
        lr = lr_at(step, TRAIN["lr"], TRAIN["warmup"], steps)
        for c in racing:
            loss = c.train_step(batch, lr)
            if (step + 1) % eval_every == 0 or step + 1 == steps:
                metrics = c.evaluate(held_out)
                c.history.append({"step": step + 1, "loss": loss, "wall_s": c.wall, "cpu_s": c.cpu, **metrics})
                c.solved = metrics["exact_match"] >= THRESHOLD
                print(f"{c.name:<10} step {step + 1:>5}  loss {loss:.4f}  exact {metrics['exact_match']:.3f}  "
                      f"acc {metrics['accuracy']:.3f}  {c.wall:7.1f} s  {c.cpu:7.1f} CPU-s", flush=True)


def outcome(c: Contender) -> dict:
    last = c.history[-1] if c.history else {}
    return {
        "solved": c.solved, "steps": c.steps, "train_wall_s": c.wall, "train_cpu_s": c.cpu,
        "time_to_solve_wall_s": c.wall if c.solved else None, "time_to_solve_cpu_s": c.cpu if c.solved else None,
        "final_exact_match": last.get("exact_match"), "final_accuracy": last.get("accuracy"),
        "parameters": harness.count_parameters(c.model), "history": c.history,
    }


def ratios(results: dict) -> dict:
    """Each other model's time to solve over minirmt's. Where minirmt solved and the other did not, the
    ratio is at least the other's spent time over minirmt's ("at_least")."""
    mine = results.get("minirmt", {})
    out = {}
    for name, r in results.items():
        if name == "minirmt":
            continue
        out[f"{name} / minirmt time to solve"] = {
            "wall": harness.ratio(r["time_to_solve_wall_s"], mine.get("time_to_solve_wall_s")),
            "cpu_time": harness.ratio(r["time_to_solve_cpu_s"], mine.get("time_to_solve_cpu_s")),
            "at_least": {"wall": harness.ratio(r["train_wall_s"], mine["time_to_solve_wall_s"]),
                         "cpu_time": harness.ratio(r["train_cpu_s"], mine["time_to_solve_cpu_s"])}
            if mine.get("solved") and not r["solved"] else None,
        }
    return out


def merge(paths: list[Path]) -> dict:
    """One record from several runs of this script (e.g. one model per process): results joined."""
    records = [json.loads(Path(p).read_text()) for p in paths]
    record = dict(records[0])
    record["results"] = {k: v for r in records for k, v in r["results"].items()}
    record["peer_options"] = {k: v for r in records for k, v in r["peer_options"].items()}
    record["peer_differences"] = next((r["peer_differences"] for r in records if r["peer_differences"]), [])
    record["ratios"] = ratios(record["results"])
    record["environment"] = {"runs": [r["environment"] for r in records], **records[0]["environment"]}
    record["notes"] = sorted({n for r in records for n in r["notes"]}) + [
        f"merged from {len(records)} runs of bench/cpu_time_to_solve.py ({', '.join(Path(p).name for p in paths)})"]
    return record


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", nargs="+", default=["minirmt", "peer", "peer-lean"],
                        choices=["minirmt", "peer", "peer-lean"])
    parser.add_argument("--steps", type=int, default=3000, help="step budget (also the cosine schedule's length)")
    parser.add_argument("--cpu-seconds", type=float, default=400.0, help="training CPU-time budget per model")
    parser.add_argument("--source-len", type=int, default=None, help="digits to copy (default: the most that fit)")
    parser.add_argument("--eval-every", type=int, default=100)
    parser.add_argument("--eval-batches", type=int, default=4, help="held-out batches of 64 sequences")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--smoke", action="store_true", help="a few steps (a check of the script)")
    parser.add_argument("--merge", type=Path, nargs="+", metavar="JSON",
                        help="join the records of earlier runs (one model each, say) instead of training")
    parser.add_argument("--out", type=Path, default=None, help="JSON path (default bench/results/...)")
    args = parser.parse_args(argv)

    if args.merge:
        record = merge(args.merge)
    else:
        record = run(args)
    path = harness.write_json(harness.result_path("cpu_time_to_solve", record["smoke"], args.out), record)
    report(record)
    print("wrote", path)
    return record


def run(args) -> dict:
    torch.set_num_threads(args.threads)
    steps, eval_every, eval_batches = (4, 2, 1) if args.smoke else (args.steps, args.eval_every, args.eval_batches)
    task = make_task("copy", SIZES["segment_len"], source_len=args.source_len)
    cfg = minirmt.ModelConfig(vocab_size=task.vocab_size, **SIZES)
    notes = []
    names = list(args.models)
    if harness.peer_version() is None and any(n.startswith("peer") for n in names):
        names = [n for n in names if not n.startswith("peer")]
        notes.append(f"{harness.PEER_PACKAGE} is not installed here: peer rows skipped (see bench/README.md)")
    contenders = [Contender(name, cfg, args.seed) for name in names]
    race(contenders, task, steps, eval_every, eval_batches, args.cpu_seconds, args.seed)
    results = {c.name: outcome(c) for c in contenders}
    return {
        "benchmark": "cpu_time_to_solve",
        "smoke": args.smoke,
        "environment": harness.environment("cpu"),
        "task": {"name": "copy", "segment_len": task.segment_len, "segments": SEGMENTS,
                 "source_len": task._source_len(SEGMENTS), "vocab_size": task.vocab_size, "threshold": THRESHOLD},
        "config": {**cfg.to_dict(), **TRAIN, "steps_budget": steps, "cpu_seconds_budget": args.cpu_seconds,
                   "eval_every": eval_every, "held_out_sequences": eval_batches * TRAIN["batch_size"],
                   "seed": args.seed, "threads": args.threads},
        "peer_options": {n: harness.PEER_VARIANTS[n] for n in names if n.startswith("peer")},
        "peer_differences": harness.PEER_DIFFERENCES if any(n.startswith("peer") for n in names) else [],
        "results": results,
        "ratios": ratios(results),
        "notes": notes,
    }


def report(record: dict) -> None:
    task, env = record["task"], record["environment"]
    print(f"\nCopy over {task['segments']} segments of {task['segment_len']} ({task['source_len']} digits), "
          f"exact match >= {task['threshold']}, {env['device']}, {record['config']['threads']} threads")
    print(f"{'model':<10} {'solved':>6} {'steps':>6} {'train s':>8} {'CPU s':>8} {'exact':>6}")
    for name, r in record["results"].items():
        print(f"{name:<10} {str(r['solved']):>6} {r['steps']:>6} {r['train_wall_s']:>8.1f} {r['train_cpu_s']:>8.1f} "
              f"{harness.fmt(r['final_exact_match'], 3):>6}")
    for key, r in record["ratios"].items():
        if r.get("at_least"):
            print(f"{key}: more than {harness.fmt(r['at_least']['cpu_time'])}x (CPU time; not solved in the budget)")
        else:
            print(f"{key}: {harness.fmt(r['wall'])}x (wall clock), {harness.fmt(r['cpu_time'])}x (CPU time)")
    for note in record["notes"]:
        print("note:", note)


if __name__ == "__main__":
    main()
