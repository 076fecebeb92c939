"""The language models of notebook 08 on a GPU: RMT against segment-only, Transformer-XL and MemTr-XL, over seeds.

The paper compares at equal memory (RMT paper, Sec. 5 and Table 5: Transformer-XL with a cache of as many
positions as the RMT has memory tokens) and with a cache of a whole segment. So the rows are:

    rmt       RMT, m = 16 memory tokens
    segment   no memory, no cache
    xl        Transformer-XL, a cache of one whole segment (128 positions)
    xl-m      Transformer-XL, a cache of 16 positions: the RMT's memory size
    memxl     MemTr-XL: 16 memory tokens (not carried) and a cache of one segment

Byte-level pg-books, segments of n = 128 bytes, 4 a row, batch 64, d 512, 6 layers, 8 heads, bf16, compiled with
CUDA graphs. Every run trains the same number of steps (the same bytes), `--seeds` seeds per row; each row's seeds
run one after the other in one process (so it compiles once), the rows in parallel processes on the GPU. Each
run is scored on the same test prefix. Writes `<row>-s<seed>.json` per run and, merged, `results.json` (mean and
spread over seeds per row), `curves.png` and `by_position.png`; a table ends the output.

    python bench/studies/lm_gpu.py --data .carry/data/pg-books --out $OUT            # every row, 3 seeds
    python bench/studies/lm_gpu.py --report bench/results/lm_gpu                      # merge rows, no training
    python bench/studies/lm_gpu.py --smoke --out /tmp/smoke                           # the pipeline on a CPU
"""

import argparse
import json
import os
import sys
import time
import traceback
from multiprocessing import get_context
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

import torch  # noqa: E402

from minirmt.data.corpora import load_bytes  # noqa: E402
from minirmt.training.lm_loop import LMConfig, train_lm  # noqa: E402
from minirmt.viz import plot_lm_curves, plot_loss_by_position  # noqa: E402

ROWS = {  # row -> (model, model_args beyond the shared sizes, label)
    "rmt": ("rmt", {}, "RMT (m = 16)"),
    "segment": ("segment", {}, "segment only"),
    "xl": ("xl", {"xl_cache_len": 128}, "Transformer-XL (cache 128)"),
    "xl-m": ("xl", {"xl_cache_len": 16}, "Transformer-XL (cache 16)"),
    "memxl": ("memxl", {"xl_cache_len": 128}, "MemTr-XL (m = 16, cache 128)"),
}
SIZES = dict(d_model=512, n_layers=6, n_heads=8, segment_len=128, num_mem_tokens=16, dropout=0.0)
GPU = dict(preset="wikitext", segments=4, batch_size=64, lr=1e-3, warmup=100, log_every=50, compile=True,
           cuda_graphs=True, device="auto")
SMOKE_SIZES = dict(d_model=32, n_layers=2, n_heads=2, segment_len=16, num_mem_tokens=4, dropout=0.0)
SMOKE = dict(preset="tiny", segments=2, batch_size=4, lr=3e-3, warmup=2, log_every=2, compile=False, device="cpu")


def default_data() -> Path:
    """pg-books: the carried copy on the GPU machine, else the one in $MINIRMT_DATA."""
    carried = REPO / ".carry" / "data" / "pg-books"
    return carried if carried.is_dir() else Path(os.environ.get("MINIRMT_DATA", "data")) / "pg-books"


def parse(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", type=Path, default=None, help="folder with train.txt(.gz) and test.txt(.gz)")
    p.add_argument("--out", type=Path, default=Path(os.environ.get("OUT", "runs/lm_gpu")))
    p.add_argument("--rows", default=",".join(ROWS), help=f"comma-separated, from {tuple(ROWS)}")
    p.add_argument("--seeds", default="0,1,2", help="comma-separated seeds of every row")
    p.add_argument("--steps", type=int, default=700, help="optimizer steps of every run")
    p.add_argument("--eval-bytes", type=int, default=2_000_000, help="test prefix scored")
    p.add_argument("--train-bytes", type=int, default=None, help="read at most this many training bytes")
    p.add_argument("--smoke", action="store_true", help="tiny model on the CPU, a few steps")
    p.add_argument("--report", type=Path, default=None, help="only merge the runs in this folder")
    return p.parse_args(argv)


def run_row(row: str, seeds: list[int], args, data: Path) -> list[dict]:
    """Every seed of one row, in this process, one after the other; each run's result row."""
    model, extra, label = ROWS[row]
    sizes = {**(SMOKE_SIZES if args.smoke else SIZES), **({} if args.smoke else extra)}
    if args.smoke and "xl_cache_len" in extra:
        sizes["xl_cache_len"] = extra["xl_cache_len"] // 8
    train_ids = load_bytes(data, "train", limit=args.train_bytes)
    test_ids = load_bytes(data, "test", limit=args.eval_bytes)
    if torch.cuda.is_available():
        torch.set_float32_matmul_precision("high")
    results = []
    for seed in seeds:
        cfg = LMConfig(corpus=None, vocab_size=256, unit="bpb", model=model, steps=args.steps, valid_split=None,
                       test_split=None, seed=seed, model_args=sizes, **(SMOKE if args.smoke else GPU))
        started = time.perf_counter()
        try:
            run = train_lm(cfg, train_ids=train_ids, test_ids=test_ids, log=None)
        except Exception:  # one run failing (say, out of memory) must not lose the others' results
            traceback.print_exc()
            continue
        test = run.final.get("test", {})
        result = {"name": f"{row}-s{seed}", "row": row, "model": model, "label": label, "seed": seed,
                  "device": run.info["device"], "params": run.info["params"], "sizes": sizes,
                  "batch_size": cfg.batch_size, "segments": cfg.segments, "steps": run.step, "tokens": run.tokens,
                  "train_seconds": run.seconds, "wall_seconds": time.perf_counter() - started,
                  "tokens_per_s": run.tokens_per_s, "peak_memory_gb": run.info["peak_memory_gb"],
                  "test_bytes": test.get("tokens"), "test_bpb": test.get("bpb"),
                  "loss_by_position": test.get("loss_by_position"), "history": run.history,
                  "torch": torch.__version__}
        (args.out / f"{result['name']}.json").write_text(json.dumps(result, indent=1))
        print(f"{result['name']}: test {result['test_bpb']:.4f} bpb, {run.step} steps, {run.tokens_per_s or 0:,.0f} "
              f"tok/s, wall {result['wall_seconds']:.0f} s", flush=True)
        results.append(result)
    return results


def report(folder: Path) -> dict:
    """Merge every run in `folder` into results.json (per row: mean, min, max of test bpb over seeds),
    curves.png and by_position.png (the first seed of each row); print the table."""
    runs = [json.loads(p.read_text()) for p in sorted(folder.glob("*-s*.json"))]
    runs = [r for r in runs if r.get("test_bpb") is not None]
    if not runs:
        print(f"no runs in {folder}")
        return {}
    table = {}
    for row in ROWS:
        mine = [r for r in runs if r["row"] == row]
        if mine:
            bpb = [r["test_bpb"] for r in mine]
            table[row] = {"label": mine[0]["label"], "seeds": [r["seed"] for r in mine], "test_bpb": bpb,
                          "mean": sum(bpb) / len(bpb), "min": min(bpb), "max": max(bpb), "steps": mine[0]["steps"],
                          "tokens": mine[0]["tokens"], "tokens_per_s": [r["tokens_per_s"] for r in mine],
                          "device": mine[0]["device"], "params": mine[0]["params"]}
    if "segment" in table and "xl" in table and "rmt" in table:  # how much of the segment -> XL gap RMT closes
        gap = table["segment"]["mean"] - table["xl"]["mean"]
        table["rmt"]["closes_of_segment_to_xl_gap"] = (table["segment"]["mean"] - table["rmt"]["mean"]) / gap
    (folder / "results.json").write_text(json.dumps(table, indent=1))
    first = {row: next(r for r in runs if r["row"] == row) for row in table}
    plot_lm_curves({t["label"]: first[row]["history"] for row, t in table.items()}, x="step",
                   title="pg-books bytes, the same steps (first seed)").savefig(folder / "curves.png", dpi=120)
    by_position = {t["label"]: first[row]["loss_by_position"] for row, t in table.items()}
    plot_loss_by_position(by_position, "bpb", title="test bits per byte by position in a 128-byte segment"
                          ).savefig(folder / "by_position.png", dpi=120)
    print(f"\n{'row':<34}{'seeds':>6}{'test bpb: mean':>16}{'range':>18}{'steps':>7}")
    for t in table.values():
        print(f"{t['label']:<34}{len(t['seeds']):>6}{t['mean']:>16.4f}{t['min']:>10.4f}-{t['max']:.4f}{t['steps']:>7}")
    if "closes_of_segment_to_xl_gap" in table.get("rmt", {}):
        print(f"RMT closes {table['rmt']['closes_of_segment_to_xl_gap']:.0%} of the segment-only -> XL (cache 128) gap")
    return table


def main(argv=None) -> int:
    args = parse(argv)
    if args.report is not None:
        report(args.report)
        return 0
    rows = [r.strip() for r in args.rows.split(",") if r.strip()]
    unknown = sorted(set(rows) - set(ROWS))
    if unknown:
        raise SystemExit(f"--rows: unknown {unknown}, expected names from {tuple(ROWS)}")
    if args.smoke:
        args.steps, args.eval_bytes, args.train_bytes = min(args.steps, 4), min(args.eval_bytes, 4_000), 200_000
    seeds = [int(s) for s in args.seeds.split(",")]
    args.out.mkdir(parents=True, exist_ok=True)
    data = args.data or default_data()
    with get_context("spawn").Pool(len(rows)) as pool:  # one process a row, on the same GPU
        pool.starmap(run_row, [(row, seeds, args, data) for row in rows])
    report(args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
