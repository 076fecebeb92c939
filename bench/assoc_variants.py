"""Why does the RMT stall on associative retrieval? Train variants side by side and record their curves.

Every stalled run sits on the same plateau, ~0.77 with 2 pairs: the model knows which values were stored, not
which key goes with which (bench/results/assoc_variants/README.md reads the results). This script trains the
RMT, its controls and a few changes to the RMT on associative retrieval and writes every evaluation curve.

Plans:
    main   38 runs: the RMT and two variants of how memory is passed on (scaled, taken before the final norm)
           x 3 settings x 2 learning rates; the controls; the RMT for m in 1, 2, 4, 16; three more seeds.
           Meant for a GPU: 3,000 steps each, ~6 minutes with 14 runs at once on one H200.
    knobs  5 runs on the CPU: the RMT with one training or size change each (lr 1e-2, 2 heads, betas 0.95,
           3 layers, d 128) on a seed that stalls, 2 pairs over 4 segments of 8.
    layers 7 runs on the CPU: the RMT with 3 layers instead of 2 on 4 pairs with the curriculum (seeds 0-3) and
           on 2 pairs over 4 segments of 8 (seeds 0, 2, 3; seed 1 is in `knobs`).
    capacity  9 runs on the CPU: accuracy as the pairs grow (2, 3, 4 pairs over 4 segments of 4, no curriculum)
           for m = 1, 2 and 8 memory tokens, 1,000 steps each (notebook 04 reads the result).
    smoke  one short run: checks the script.

    python bench/assoc_variants.py --plan main --device cuda --jobs 14 --out bench/results/assoc_variants/h200.json
"""

import argparse
import json
import sys
import time
from multiprocessing import get_context
from pathlib import Path

sys.path[:0] = [str(Path(__file__).resolve().parents[1]), str(Path(__file__).resolve().parent)]  # repo, bench/

import harness  # noqa: E402
import torch  # noqa: E402
from torch import nn  # noqa: E402

from minirmt.config import preset  # noqa: E402
from minirmt.rmt import RecurrentMemoryTransformer  # noqa: E402
from minirmt.tasks import make_task  # noqa: E402
from minirmt.train import TrainConfig, seeded_model, size_stages, train  # noqa: E402


class ScaledMemoryRMT(RecurrentMemoryTransformer):
    """Variant: the memory passed on is the normed write outputs times a learned scale starting at `init`
    (0.02 puts it at the token embeddings' scale)."""

    def __init__(self, cfg, init: float):
        super().__init__(cfg)
        self.memory_scale = nn.Parameter(torch.tensor(float(init)))

    def step(self, tokens, memory, return_attention=False):
        hidden, new_memory, attn = super().step(tokens, memory, return_attention)
        return hidden, new_memory * self.memory_scale, attn


class PreNormMemoryRMT(RecurrentMemoryTransformer):
    """Variant: the memory passed on is the write slots' residual stream, before the final norm."""

    def step(self, tokens, memory, return_attention=False):
        m, n = memory.shape[1], tokens.shape[1]
        x = self.backbone.embed(tokens)  # (b, n, d)
        final_norm, self.backbone.norm = self.backbone.norm, nn.Identity()
        try:
            h, _, attn = self.backbone(torch.cat([memory, x, memory], dim=1), causal=True,
                                       return_attention=return_attention)  # (b, m + n + m, d), not normed
        finally:
            self.backbone.norm = final_norm
        return final_norm(h[:, m: m + n]), h[:, m + n:], attn


VARIANTS = {"scaled002": lambda cfg: ScaledMemoryRMT(cfg, 0.02), "scaled1": lambda cfg: ScaledMemoryRMT(cfg, 1.0),
            "prenorm": PreNormMemoryRMT}

SETTINGS = {  # name: task sizes, segment length n, segments g, curriculum over pairs from (None: none)
    "g1n32p2": (dict(num_pairs=2), 32, 1, None),
    "g4n8p2": (dict(num_pairs=2), 8, 4, None),
    "g4n4p4cur": (dict(num_pairs=4), 4, 4, 2),
    "g4n4p4": (dict(num_pairs=4), 4, 4, None),
    "g4n4p2": (dict(num_pairs=2), 4, 4, None),
    "g4n4p3": (dict(num_pairs=3), 4, 4, None),
}


def run(job: dict) -> dict:
    """Train one model on one setting; returns its final accuracy and its evaluation curve."""
    torch.set_num_threads(1)
    sizes, n, g, pairs_from = SETTINGS[job["setting"]]
    task = make_task("assoc", n, **sizes)
    cfg = preset("lab", vocab_size=task.vocab_size, segment_len=n, num_mem_tokens=job["m"], **job["model"])
    if job["variant"] in VARIANTS:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(job["seed"])
            model = VARIANTS[job["variant"]](cfg)
    else:
        model = seeded_model(job["variant"], cfg, job["seed"])
    stages = size_stages(task, g, "num_pairs", range(pairs_from, task.num_pairs)) if pairs_from else None
    config = TrainConfig(**{"batch_size": 64, "warmup": 100, "eval_every": 100, "eval_batches": 4, **job["train"]},
                         steps=job["steps"], lr=job["lr"], segments=g, device=job["device"], seed=job["seed"])
    started = time.perf_counter()
    result = train(model, task, config, stages=stages, progress=False)
    curve = [(r["step"], r.get("stage", 0), round(r["eval_accuracy"], 3)) for r in result.history
             if "eval_accuracy" in r]
    return {"name": job["name"], "final": round(result.metrics["eval_accuracy"], 3),
            "seconds": round(time.perf_counter() - started, 1), "curve": curve}


def plan(name: str) -> list[tuple]:
    """`(variant, setting, lr, m, seed, train overrides, model overrides)` for every run of a plan."""
    if name == "smoke":
        return [("rmt", "g4n8p2", 3e-3, 8, 0, {}, {})]
    if name == "knobs":
        knobs = {"lr1e-2": (1e-2, {}, {}), "heads2": (3e-3, {}, {"n_heads": 2}),
                 "b95": (3e-3, {"betas": (0.9, 0.95)}, {}), "l3": (3e-3, {}, {"n_layers": 3}),
                 "d128": (3e-3, {}, {"d_model": 128})}
        return [("rmt", "g4n8p2", lr, 8, 1, t, mo) for lr, t, mo in knobs.values()]
    if name == "capacity":
        return [("rmt", f"g4n4p{p}", 3e-3, m, 0, {}, {}) for m in (1, 2, 8) for p in (2, 3, 4)]
    if name == "layers":
        three = {"n_layers": 3}
        return [("rmt", "g4n4p4cur", 3e-3, 8, seed, {}, three) for seed in range(4)] + \
               [("rmt", "g4n8p2", 3e-3, 8, seed, {}, three) for seed in (0, 2, 3)]
    runs = [(v, s, lr, 8, 0, {}, {}) for v in ("rmt", *VARIANTS) for s in ("g1n32p2", "g4n8p2", "g4n4p4cur")
            for lr in (1e-3, 3e-3)]
    runs += [("segment", "g1n32p2", 3e-3, 8, 0, {}, {}), ("full", "g4n8p2", 3e-3, 8, 0, {}, {}),
             ("full", "g4n4p4", 3e-3, 8, 0, {}, {})]
    runs += [("rmt", s, 3e-3, m, 0, {}, {}) for s in ("g1n32p2", "g4n8p2") for m in (1, 2, 4, 16)]
    return runs + [("rmt", "g4n8p2", 3e-3, 8, seed, {}, {}) for seed in (1, 2, 3)]


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--plan", choices=("main", "knobs", "layers", "capacity", "smoke"), default="main")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--jobs", type=int, default=2, help="runs at once, one thread each")
    parser.add_argument("--steps", type=int, default=3000)
    parser.add_argument("--out", help="JSON path (default bench/results/assoc_variants.json)")
    args = parser.parse_args(argv)
    smoke = args.plan == "smoke"
    jobs = []
    for variant, setting, lr, m, seed, train_over, model_over in plan(args.plan):
        knobs = "".join(f"/{k}{v}" for k, v in {**train_over, **model_over}.items())
        jobs.append(dict(name=f"{variant}/{setting}/lr{lr:g}/m{m}/s{seed}{knobs}", variant=variant, setting=setting,
                         lr=lr, m=m, seed=seed, train=train_over, model=model_over,
                         steps=20 if smoke else args.steps, device=args.device))
    results = []
    with get_context("spawn").Pool(args.jobs) as pool:
        for row in pool.imap_unordered(run, jobs):
            print(json.dumps({k: row[k] for k in ("name", "final", "seconds")}), flush=True)
            results.append(row)
    payload = {"benchmark": "assoc_variants", "plan": args.plan, "steps": args.steps,
               "environment": harness.environment(args.device), "settings": SETTINGS,
               "curve_format": "[step, curriculum stage, eval accuracy]",
               "results": sorted(results, key=lambda r: r["name"])}
    print("wrote", harness.write_json(harness.result_path("assoc_variants", smoke, args.out), payload))


if __name__ == "__main__":
    main()
