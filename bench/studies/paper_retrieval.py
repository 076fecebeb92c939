"""Why does retrieval on the paper's layout not learn (even at g = 1)? One run per call, a JSON line out.

    OMP_NUM_THREADS=1 PYTHONPATH=. python bench/studies/paper_retrieval.py --model full --g 1 --seed 0 \
        --set steps=2000 lr=1e-3 --out bench/results/paper_retrieval/full_g1.jsonl --tag baseline

--layout paper (default) or minirmt (make_task("assoc", 8) with --g segments); --variant changes the task's
layout (see VARIANTS). Each row: the settings, the held-out accuracy (teacher-forced and written out) on
`--heldout` fresh sequences, the first step the evaluation reached 0.99, seconds.
"""

import argparse
import ast
import dataclasses
import json
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from minirmt.training.recipes import recipe  # noqa: E402
from minirmt.training.task_loop import eval_batches, evaluate, train  # noqa: E402


def parse_value(v: str):
    try:
        return ast.literal_eval(v)
    except (ValueError, SyntaxError):
        return v


class StageTask:
    """A task that, when it draws a batch, sets the model's segment length to its own (`current['n']`)."""

    def __init__(self, task, n, current):
        self.task, self.n, self.current = task, n, current

    def __getattr__(self, name):
        return getattr(self.task, name)

    def sample(self, batch_size, num_segments, generator):
        self.current["n"] = self.n
        return self.task.sample(batch_size, num_segments, generator)


def apply_patch(model, patch: str, seed: int) -> None:
    """Changes to a built model, for the screens: untie the head, switch off rotary positions, re-init."""
    bb = model.backbone
    gen = torch.Generator().manual_seed(seed + 1000)
    if patch == "untie":
        bb.head.weight = torch.nn.Parameter(torch.randn(bb.head.weight.shape, generator=gen) * 0.02)
    elif patch == "norope":
        bb.rotary.cos.fill_(1.0)
        bb.rotary.sin.fill_(0.0)
    elif patch.startswith("init="):
        std = float(patch.split("=")[1])
        for mod in model.modules():
            if isinstance(mod, torch.nn.Linear) and mod is not bb.head:
                mod.weight.data.normal_(0, std, generator=gen)
    elif patch.startswith("embinit="):
        bb.embed.weight.data.normal_(0, float(patch.split("=")[1]), generator=gen)
    elif patch == "qkvbias":
        for block in bb.blocks:
            old = block.attn.qkv
            new = torch.nn.Linear(old.in_features, old.out_features, bias=True)
            new.weight.data.copy_(old.weight.data)
            new.bias.data.zero_()
            block.attn.qkv = new
    elif patch.startswith("lnbias="):  # LayerNorm biases start at a shared random vector: a constant direction
        std = float(patch.split("=")[1])
        for mod in model.modules():
            if isinstance(mod, torch.nn.LayerNorm):
                mod.bias.data.normal_(0, std, generator=gen)
    elif patch.startswith("alibi"):  # a fixed recency bias per head (Press et al., 2022), full model only
        scale = float(patch.split("=")[1]) if "=" in patch else 1.0
        for block in bb.blocks:
            block.attn.forward = alibi_forward(block.attn, scale)
    elif patch == "shift":  # each position also gets its previous token, through a second table (a diagnostic)
        bb.embed = ShiftEmbed(bb.embed, gen)
    else:
        raise ValueError(patch)


def alibi_forward(attn, scale):
    import torch.nn.functional as F
    from einops import rearrange

    from minirmt.model.layers import rotate

    h = attn.n_heads
    slopes = scale * torch.tensor([2.0 ** (-8 * (i + 1) / h) for i in range(h)])  # 1/4, 1/16, ... for h = 4

    def forward(x, rope, causal=True, mask=None, past=None, return_weights=False):
        assert past is None and mask is None and causal
        t = x.shape[1]
        qkv = rearrange(attn.qkv(x), "b j (three h k) -> three b h j k", three=3, h=h)
        q, k, v = qkv[0], qkv[1], qkv[2]
        cos, sin = rope
        q, k = rotate(q, cos, sin), rotate(k, cos, sin)
        i = torch.arange(t)
        dist = (i[:, None] - i[None, :]).float()
        bias = -slopes[:, None, None] * dist  # (h, t, t)
        bias = bias.masked_fill(dist < 0, float("-inf"))
        y = F.scaled_dot_product_attention(q, k, v, attn_mask=bias[None])
        return attn.out(rearrange(y, "b h t k -> b t (h k)")), None

    return forward


class ShiftEmbed(torch.nn.Module):
    """embedding(x_t) + prev(x_{t-1}): the previous token handed to every position (no attention needed)."""

    def __init__(self, embed, gen):
        super().__init__()
        self.inner = embed
        self.prev = torch.nn.Embedding(embed.num_embeddings, embed.embedding_dim)
        self.prev.weight.data = torch.randn(self.prev.weight.shape, generator=gen) * 0.02

    @property
    def weight(self):
        return self.inner.weight

    def forward(self, x):
        shifted = torch.nn.functional.pad(x[:, :-1], (1, 0), value=0)
        return self.inner(x) + self.prev(shifted)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--layout", default="paper")
    p.add_argument("--model", default="full")
    p.add_argument("--g", type=int, default=1)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--set", nargs="*", default=[])
    p.add_argument("--variant", default=None)
    p.add_argument("--heldout", type=int, default=4096)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--tag", default="")
    p.add_argument(
        "--segcur",
        type=int,
        default=0,
        help="paper layout: a curriculum over segments from this g up to "
        "--g (the model's segment length follows the stage)",
    )
    p.add_argument(
        "--lencur",
        default="",
        help="minirmt layout: stages of g segments (e.g. 1,2) of the same total "
        "length, the model's segment length following the stage",
    )
    p.add_argument(
        "--stages", default="", help="curriculum: variant names (each at its fewest segments), e.g. pairs2,pairs3"
    )
    p.add_argument("--patch", nargs="*", default=[], help="untie, norope, init=STD, embinit=STD")
    p.add_argument("--out", required=True)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    settings = dict(kv.split("=", 1) for kv in args.set)
    settings = {k: parse_value(v) for k, v in settings.items()}
    if args.layout == "paper":
        r = recipe("assoc", args.model, layout="paper", segments=args.g, seed=args.seed, **settings)
    else:
        settings.setdefault("memory_hint", False)
        r = recipe("assoc", args.model, segments=args.g, seed=args.seed, **settings)
    task = r.task
    if args.variant:
        task = VARIANTS[args.variant](task)
    model = r.build_model()
    for patch in args.patch:
        apply_patch(model, patch, args.seed)
    t0 = time.perf_counter()
    stages = None
    if args.stages:
        stages = []
        for name in args.stages.split(","):
            st = VARIANTS[name](task)
            stages.append((st, st.min_segments))
    from minirmt.data.tasks import make_task

    current = {"n": task.segment_len}
    if args.segcur:  # the paper's layout: g = segcur .. g - 1, segments of ceil(10 / g)
        model.segment_len = lambda s_: current["n"]  # the stage's segments, not the config's
        stages = []
        for g in range(args.segcur, args.g):
            st = make_task("assoc", layout="paper", segments=g)
            stages.append((StageTask(st, st.segment_len, current), g))
        task = StageTask(task, task.segment_len, current)
    if args.lencur:  # minirmt's layout, its total length g * n kept: fewer and longer segments first
        total = task.segment_len * args.g
        model.segment_len = lambda s_: current["n"]
        stages = []
        for g in map(int, args.lencur.split(",")):
            st = dataclasses.replace(task, segment_len=total // g)
            stages.append((StageTask(st, st.segment_len, current), g))
        task = StageTask(task, task.segment_len, current)
    res = train(model, task, r.train_config, stages=stages, progress=False)
    current["n"] = task.segment_len
    wall = time.perf_counter() - t0
    evals = [h for h in res.history if "eval_accuracy" in h]
    from minirmt.training.task_loop import curriculum_stages

    last = (
        len(stages)
        if stages is not None
        else len(curriculum_stages(task, r.train_config.segments or task.min_segments, r.train_config.curriculum))
    )
    first99 = next((h["step"] for h in evals if h["eval_accuracy"] >= 0.99 and h["stage"] == last), None)
    first95 = next((h for h in evals if h["eval_accuracy"] >= 0.95 and h["stage"] == last), None)
    held = evaluate(
        model, eval_batches(task, r.train_config.segments, 512, max(1, args.heldout // 512), 999), free_running=True
    )
    row = {
        "tag": args.tag,
        "patch": args.patch,
        "stages": args.stages or args.lencur or args.segcur,
        "layout": args.layout,
        "variant": args.variant,
        "model": args.model,
        "g": args.g,
        "seed": args.seed,
        "settings": settings,
        "steps": res.step,
        "seconds": round(res.seconds, 1),
        "wall": round(wall, 1),
        "final_eval": res.metrics.get("eval_accuracy"),
        "heldout_tf": round(held["eval_accuracy"], 4),
        "heldout_free": round(held.get("eval_free_accuracy", -1), 4),
        "heldout_loss": round(held["eval_loss"], 4),
        "first_099": first99,
        "first_095_step": first95 and first95["step"],
        "first_095_seconds": first95 and round(first95["seconds"], 1),
        "curve": [(h["step"], h["stage"], round(h["eval_accuracy"], 3)) for h in evals],
    }
    with open(args.out, "a") as f:
        f.write(json.dumps(row) + "\n")
    print(json.dumps({k: v for k, v in row.items() if k != "curve"}))
    print("curve", row["curve"])


from typing import ClassVar  # noqa: E402

from minirmt.data.tasks.base import distinct, randint  # noqa: E402
from minirmt.data.tasks.paper import FIRST_KEY, RETRIEVAL_PAIRS, PaperRetrieval, _shifted  # noqa: E402


@dataclasses.dataclass(frozen=True)
class NoQuestion(PaperRetrieval):
    """`k1 v1 .. k4 v4 q` -> the answer read at q itself (no "?" token): 9 tokens."""

    total_len: ClassVar[int] = 2 * RETRIEVAL_PAIRS + 1

    def _draw(self, batch_size, num_segments, generator):
        b, k = batch_size, RETRIEVAL_PAIRS
        keys = FIRST_KEY + distinct(b, k, 26, generator)
        values = distinct(b, k, 10, generator)
        asked = randint(0, k, (b,), generator)
        rows = torch.arange(b)
        pairs = torch.stack([keys, values], dim=2).flatten(1)
        full = torch.cat([pairs, keys[rows, asked][:, None], values[rows, asked][:, None]], dim=1)
        return _shifted(full, 1)


def no_question(task):
    return NoQuestion(segment_len=task.segment_len - 1)


@dataclasses.dataclass(frozen=True)
class FewPairs(PaperRetrieval):
    """The paper's layout with `pairs` pairs instead of 4: `k1 v1 .. kP vP q ?` -> v."""

    pairs: int = 2

    @property
    def min_segments(self) -> int:
        return -(-(2 * self.pairs + 2) // self.segment_len)

    def sample(self, batch_size, num_segments, generator):
        return self._draw(batch_size, num_segments, generator)

    def _draw(self, batch_size, num_segments, generator):
        from minirmt.data.tasks.paper import retrieval_layout

        b, k = batch_size, self.pairs
        keys = FIRST_KEY + distinct(b, k, 26, generator)
        values = distinct(b, k, 10, generator)
        return retrieval_layout(keys, values, randint(0, k, (b,), generator))


VARIANTS = {
    "noq": no_question,
    **{f"pairs{k}": (lambda t, k=k: FewPairs(segment_len=2 * k + 2, pairs=k)) for k in (1, 2, 3)},
}

if __name__ == "__main__":
    main()
