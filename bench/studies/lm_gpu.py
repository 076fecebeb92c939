"""The GPU experiment of notebook 08: RMT against segment-only, Transformer-XL and MemTr-XL language models.

Short segments (n = 128 bytes), the same wall-clock budget for every model, pg-books bytes (RMT paper,
Sec. 4: memory helps most when segments are short). Each model trains for `--budget` seconds (the first two
steps, which compile, are not counted), then is scored on the same test bytes (a fixed prefix of test).
Writes to --out: one `<model>[-<tag>].json` row per run (test bits per byte, tokens/s, MFU, peak memory,
device, parameters, history, loss by position), `<model>[-<tag>]/` (metrics.json and figures; no checkpoint),
and, merged over every row in the folder, results.json, curves.png, by_position.json/png (and scaling.json
when one-GPU and two-GPU rows of a model are there). A short table ends the output.

    python bench/studies/lm_gpu.py --data .carry/data/pg-books --out $OUT                 # four models, one GPU
    python bench/studies/lm_gpu.py --models rmt,segment --out $OUT                         # a subset (10-minute limits)
    torchrun --standalone --nproc_per_node=2 bench/lm_gpu.py --models rmt --tag gpu2 ...   # data parallel
    python bench/studies/lm_gpu.py --report bench/results/lm_gpu                           # merge rows, no training
    python bench/studies/lm_gpu.py --smoke --out /tmp/smoke                                # the whole pipeline on a CPU
"""

import argparse
import json
import os
import sys
import time
import traceback
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

import torch  # noqa: E402

from minirmt.config import ModelConfig  # noqa: E402
from minirmt.lm import LMConfig, train_lm, write_metrics  # noqa: E402
from minirmt.text import load_bytes  # noqa: E402
from minirmt.viz import plot_lm_curves, plot_loss_by_position  # noqa: E402

MODELS = ("rmt", "segment", "xl", "memxl")
LABELS = {"rmt": "RMT", "segment": "segment only", "xl": "Transformer-XL", "memxl": "MemTr-XL"}

# d 512, 6 layers, 8 heads, m 16, segments of 128 bytes, 4 segments a row, batch 64, bf16.
GPU = dict(preset="wikitext", d_model=512, n_layers=6, n_heads=8, segment_len=128, num_mem_tokens=16, dropout=0.0,
           segments=4, batch_size=64, lr=1e-3, warmup=200, log_every=50, compile=True, cuda_graphs=True,
           device="auto")
# The same pipeline in seconds on a CPU: a tiny model, a slice of the data.
SMOKE = dict(preset="tiny", d_model=32, n_layers=2, n_heads=2, segment_len=16, num_mem_tokens=4, dropout=0.0,
             segments=2, batch_size=4, lr=3e-3, warmup=5, log_every=5, compile=False, device="cpu")


def default_data() -> Path:
    """pg-books: the carried copy on the GPU machine, else the one in $MINIRMT_DATA."""
    carried = REPO / ".carry" / "data" / "pg-books"
    return carried if carried.is_dir() else Path(os.environ.get("MINIRMT_DATA", "data")) / "pg-books"


def parse(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", type=Path, default=None, help="folder with train.txt(.gz) and test.txt(.gz)")
    p.add_argument("--out", type=Path, default=Path(os.environ.get("OUT", "runs/lm_gpu")))
    p.add_argument("--models", default=",".join(MODELS), help=f"comma-separated, from {MODELS}")
    p.add_argument("--budget", type=float, default=120.0, help="training seconds per model")
    p.add_argument("--eval-bytes", type=int, default=2_000_000, help="test prefix scored (0: no evaluation)")
    p.add_argument("--train-bytes", type=int, default=None, help="read at most this many training bytes")
    p.add_argument("--batch-size", type=int, default=None)
    p.add_argument("--segments", type=int, default=None, help="g, segments per batch row")
    p.add_argument("--mem", type=int, default=None, help="m, memory tokens of RMT and MemTr-XL")
    p.add_argument("--lr", type=float, default=None)
    p.add_argument("--compile", action=argparse.BooleanOptionalAction, default=None)
    p.add_argument("--cuda-graphs", action=argparse.BooleanOptionalAction, default=None,
                   help="with --compile: compile the whole forward pass, replayed from CUDA graphs")
    p.add_argument("--tag", default="", help="suffix of the row names, e.g. gpu2 for a two-GPU run")
    p.add_argument("--smoke", action="store_true", help="tiny model on the CPU, 3 s per model")
    p.add_argument("--report", type=Path, default=None, help="only merge the rows in this folder")
    return p.parse_args(argv)


def settings(args) -> dict:
    """LMConfig fields shared by every model of this run."""
    base = dict(SMOKE if args.smoke else GPU)
    for key, value in (("batch_size", args.batch_size), ("segments", args.segments), ("num_mem_tokens", args.mem),
                       ("lr", args.lr), ("compile", args.compile),
                       ("cuda_graphs", args.cuda_graphs)):
        if value is not None:
            base[key] = value
    return base


def run_one(name: str, args, base: dict, train_ids, test_ids) -> dict | None:
    """Train one model for the budget, score it on the test prefix; rank 0 returns its row."""
    row_name = f"{name}-{args.tag}" if args.tag else name
    sizes = {k: v for k, v in base.items() if k in ModelConfig.__dataclass_fields__}
    loop = {k: v for k, v in base.items() if k not in sizes}
    cfg = LMConfig(corpus=None, vocab_size=256, unit="bpb", model=name, steps=None, time_budget=args.budget,
                   valid_split=None, test_split=None, model_args=sizes, **loop)  # out=None: no checkpoint in $OUT
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
    started = time.perf_counter()
    run = train_lm(cfg, train_ids=train_ids, test_ids=test_ids)
    if int(os.environ.get("RANK", "0")) != 0:
        return None
    write_metrics(run, args.out / row_name)
    test = run.final.get("test", {})
    return {
        "name": row_name, "model": name, "label": LABELS[name], "world_size": run.info["world_size"],
        "device": run.info["device"], "params": run.info["params"], "num_mem_tokens": sizes["num_mem_tokens"],
        "segment_len": sizes["segment_len"], "segments": cfg.segments, "batch_size": cfg.batch_size,
        "compile": cfg.compile, "cuda_graphs": cfg.cuda_graphs, "budget_s": args.budget, "steps": run.step,
        "tokens": run.tokens,
        "train_seconds": run.seconds, "wall_seconds": time.perf_counter() - started,
        "tokens_per_s": run.tokens_per_s, "mfu": run.mfu, "peak_memory_gb": run.info["peak_memory_gb"],
        "test_bytes": test.get("tokens"), "test_bpb": test.get("bpb"), "final_train_loss": _last_loss(run.history),
        "loss_by_position": test.get("loss_by_position"), "history": run.history, "torch": torch.__version__,
    }


def _last_loss(history):
    losses = [r["loss"] for r in history if "loss" in r]
    return losses[-1] if losses else None


def report(folder: Path) -> list[dict]:
    """Merge every row JSON in `folder` into results.json, curves.png, by_position.json/png, scaling.json."""
    rows = []
    for path in sorted(folder.glob("*.json")):
        data = json.loads(path.read_text())
        if isinstance(data, dict) and "tokens_per_s" in data and "history" in data:
            rows.append(data)
    if not rows:
        print(f"no result rows in {folder}")
        return rows
    order = {name: i for i, name in enumerate(MODELS)}
    rows.sort(key=lambda r: (r["world_size"], order.get(r["model"], 99), r["name"]))
    table = [{k: v for k, v in r.items() if k not in ("history", "loss_by_position")} for r in rows]
    (folder / "results.json").write_text(json.dumps(table, indent=1))
    one_gpu = [r for r in rows if r["world_size"] == 1]
    main = [r for r in one_gpu if r["name"] == r["model"]]  # the comparison; tagged rows are the DDP runs
    if main:
        histories = {r["label"]: r["history"] for r in main}
        plot_lm_curves(histories, x="budget_seconds", title="pg-books bytes, same wall clock").savefig(
            folder / "curves.png", dpi=120)
        by_position = {r["label"]: r["loss_by_position"] for r in main if r.get("loss_by_position")}
        if by_position:
            (folder / "by_position.json").write_text(json.dumps(by_position))
            plot_loss_by_position(by_position, "bpb", title="test bits per byte by position in a 128-byte segment"
                                  ).savefig(folder / "by_position.png", dpi=120)
    scaling = {}
    for r in rows:
        if r["world_size"] > 1:
            base = [b for b in one_gpu if b["model"] == r["model"] and b["batch_size"] == r["batch_size"]
                    and b["compile"] == r["compile"] and b.get("cuda_graphs") == r.get("cuda_graphs")]
            if base and base[-1]["tokens_per_s"] and r["tokens_per_s"]:
                speedup = r["tokens_per_s"] / base[-1]["tokens_per_s"]
                scaling[r["name"]] = {"baseline": base[-1]["name"], "world_size": r["world_size"],
                                      "tokens_per_s": r["tokens_per_s"], "baseline_tokens_per_s":
                                      base[-1]["tokens_per_s"], "speedup": speedup,
                                      "efficiency": speedup / r["world_size"]}
    if scaling:
        (folder / "scaling.json").write_text(json.dumps(scaling, indent=1))
    print_table(rows, scaling)
    return rows


def print_table(rows, scaling) -> None:
    print(f"\n{'run':<16}{'GPUs':>5}{'test bpb':>10}{'steps':>8}{'ktok/s':>9}{'MFU':>7}{'peak GB':>9}"
          f"{'params M':>10}  device")
    for r in rows:
        bpb = f"{r['test_bpb']:.3f}" if r.get("test_bpb") is not None else "-"
        tps = f"{r['tokens_per_s'] / 1e3:,.0f}" if r.get("tokens_per_s") else "-"
        mfu = f"{r['mfu']:.1%}" if r.get("mfu") is not None else "-"
        mem = f"{r['peak_memory_gb']:.1f}" if r.get("peak_memory_gb") is not None else "-"
        print(f"{r['name']:<16}{r['world_size']:>5}{bpb:>10}{r['steps']:>8}{tps:>9}{mfu:>7}{mem:>9}"
              f"{r['params'] / 1e6:>10.2f}  {r['device']}")
    for name, s in scaling.items():
        print(f"{name}: {s['speedup']:.2f}x the tokens/s of {s['baseline']} on {s['world_size']} GPUs "
              f"({s['efficiency']:.0%} scaling efficiency)")


def main(argv=None) -> int:
    args = parse(argv)
    if args.report is not None:
        report(args.report)
        return 0
    models = [m.strip() for m in args.models.split(",") if m.strip()]
    unknown = sorted(set(models) - set(MODELS))
    if unknown:
        raise SystemExit(f"--models: unknown {unknown}, expected names from {MODELS}")
    if args.smoke:
        args.budget = min(args.budget, 3.0)
        args.eval_bytes = min(args.eval_bytes, 4_000)
        args.train_bytes = args.train_bytes or 200_000
    data = args.data or default_data()
    rank = int(os.environ.get("RANK", "0"))
    if torch.cuda.is_available():
        torch.set_float32_matmul_precision("high")  # TF32 for any float32 matmul left outside autocast
    started = time.perf_counter()
    train_ids = load_bytes(data, "train", limit=args.train_bytes)
    test_ids = load_bytes(data, "test", limit=args.eval_bytes) if args.eval_bytes else None
    if rank == 0:
        print(f"data {data}: {train_ids.numel():,} train bytes, {0 if test_ids is None else test_ids.numel():,} "
              f"test bytes, read in {time.perf_counter() - started:.1f} s; torch {torch.__version__}", flush=True)
        args.out.mkdir(parents=True, exist_ok=True)
    base = settings(args)
    for name in models:
        try:
            row = run_one(name, args, base, train_ids, test_ids)
        except Exception:  # one model failing (say, out of memory) must not lose the others' results
            if rank == 0:
                traceback.print_exc()
                print(f"{name}: FAILED", flush=True)
            continue
        if row is not None:
            path = args.out / f"{row['name']}.json"
            path.write_text(json.dumps(row, indent=1))
            bpb = "-" if row["test_bpb"] is None else f"{row['test_bpb']:.3f}"
            print(f"{row['name']}: test {bpb} bpb, {row['steps']} steps, wall {row['wall_seconds']:.0f} s -> {path}",
                  flush=True)
    if rank == 0:
        report(args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
