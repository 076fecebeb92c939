"""Study: the memory's scale (issue Q1) and associative recall without the memory hint (issue Q2).

One configurable RMT (`StudyRMT`, a subclass of minirmt's RecurrentMemoryTransformer that leaves minirmt itself
untouched) holds every variant as an option; VARIANTS names option sets, TASKS names a task with its training
recipe, PLANS names lists of (variant, task, seed) jobs. Jobs run one after another, one thread each, and every run
appends one JSON row to bench/results/memory_scale/memory_scale.jsonl; a job whose row is already there is skipped, so a
plan can be stopped and started again.

    PYTHONPATH=. OMP_NUM_THREADS=1 python bench/studies/memory_scale.py --plan q1copy
    python bench/studies/memory_scale.py --probe cosine          # memory in vs out of a fresh lab model
    python bench/studies/memory_scale.py --list                  # the plans and their job counts

Options of StudyRMT (all off by default: the default StudyRMT is minirmt's RMT, weights drawn the same way for a
seed, so a variant and the baseline start from the same weights wherever the variant adds parameters):
    out_scale      the memory passed on is multiplied by this fixed number (a float), or by a learned scalar
                   ("learn", starting at out_scale_init); the first segment reads the learned initial memory as is
    embed_scale    token embeddings are multiplied by this in the forward pass (8 = sqrt(d) for d 64); the tied
                   head is unchanged
    prenorm        the memory passed on is the write slots' residual stream before the final norm
    fresh_write    the write slots start from m learned vectors (std 0.02) instead of a copy of the memory
    write_tokens   the write slots start from the segment's token embeddings (m = n), plus the fresh vectors
                   with fresh_write
    in_norm        "ln" or "rms": a norm applied to the memory entering every segment (the initial one too), its
                   gain starting at in_gain
    gpt2_init      residual output projections (attention out, MLP second linear) at std 0.02 / sqrt(2 l)
    block_mask     bidirectional attention inside the read block and inside the write block (causal elsewhere)
    mem_bias       a learned per-head bias on the attention logits from the tokens to the read slots, starting
                   at this value (negative: tokens attend less to the memory at the start)
    mem_pos        "shared": every read slot at rotary position 0, tokens at 1..n, every write slot at n + 1
    mem_init       the std of the learned initial memory (0.02 by default)
    no_first_read  a sequence's first segment has no read slots, `[tokens | write]`: nothing to remember yet
"""

import argparse
import dataclasses
import json
import math
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(ROOT)]

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from torch import nn  # noqa: E402

import minirmt.model.layers as layers_module  # noqa: E402
import minirmt.training.task_loop as train_module  # noqa: E402
from minirmt.data.tasks import make_task  # noqa: E402
from minirmt.model.config import preset  # noqa: E402
from minirmt.model.rmt import RecurrentMemoryTransformer  # noqa: E402
from minirmt.model.validation import IGNORE_INDEX  # noqa: E402
from minirmt.training.task_loop import TrainConfig, evaluate, size_stages, train  # noqa: E402

RESULTS = ROOT / "bench" / "results" / "memory_scale" / "memory_scale.jsonl"
HELD_OUT_ANSWERS = 8192
HELD_OUT_SEED = 2027


# ---------------------------------------------------------------- the model


class StudyRMT(RecurrentMemoryTransformer):
    """minirmt's decoder RMT with the study's options (module docstring). Parameters of the options are created
    after the RMT's own, so the RMT's weights for a seed are the same as `seeded_model("rmt", cfg, seed)`'s."""

    def __init__(self, cfg, out_scale=None, out_scale_init=0.02, embed_scale=1.0, prenorm=False, fresh_write=False,
                 in_norm=None, in_gain=1.0, gpt2_init=False, block_mask=False, mem_bias=None, mem_pos=None,
                 mem_init=0.02, bias_all=False, write_tokens=False, no_first_read=False):
        super().__init__(cfg)
        m, d, h = cfg.num_mem_tokens, cfg.d_model, cfg.n_heads
        self.out_scale, self.embed_scale, self.prenorm = out_scale, embed_scale, prenorm
        self.block_mask, self.mem_pos, self.bias_all = block_mask, mem_pos, bias_all
        if out_scale == "learn":
            self.scale = nn.Parameter(torch.tensor(float(out_scale_init)))
        self.write = nn.Parameter(torch.randn(m, d) * 0.02) if fresh_write else None
        self.write_tokens, self.no_first_read = write_tokens, no_first_read
        self._first = False
        if write_tokens and m != cfg.segment_len:
            raise ValueError("write_tokens: the write slots start from the segment's tokens, so m must equal n")
        self.in_norm = None
        if in_norm == "ln":
            self.in_norm = nn.LayerNorm(d)
        elif in_norm == "rms":
            self.in_norm = nn.RMSNorm(d)
        if self.in_norm is not None:
            with torch.no_grad():
                self.in_norm.weight.fill_(in_gain)
        if mem_bias is not None:  # a float (every layer) or one float per layer; (l, h) learned biases
            per_layer = [float(mem_bias)] * cfg.n_layers if isinstance(mem_bias, int | float) else list(mem_bias)
            self.mem_bias = nn.Parameter(torch.tensor(per_layer).view(-1, 1).repeat(1, h))
        else:
            self.mem_bias = None
        if mem_init != 0.02:
            with torch.no_grad():
                self.memory.mul_(mem_init / 0.02)
        if gpt2_init:
            with torch.no_grad():
                for block in self.backbone.blocks:  # N(0, 0.02) -> N(0, 0.02 / sqrt(2 l)), same draw
                    block.attn.out.weight.mul_(1 / math.sqrt(2 * cfg.n_layers))
                    block.ff.net[2].weight.mul_(1 / math.sqrt(2 * cfg.n_layers))
        self._masks = {}

    def _mask(self, m, n, device, layer):
        """None (plain causal, the fused path) or the boolean/float mask `(h or 1, t, t)` of the options."""
        if not (self.block_mask or self.mem_bias is not None):
            return None
        t = m + n + m
        allowed = torch.ones(t, t, dtype=torch.bool, device=device).tril()
        if self.block_mask:
            allowed[:m, :m] = True
            allowed[m + n :, m + n :] = True
        if self.mem_bias is None:
            return allowed
        queries = slice(m, t) if self.bias_all else slice(m, m + n)
        bias = torch.zeros(t, t, device=device)
        bias[queries, :m] = 1.0
        mask = torch.zeros(t, t, device=device).masked_fill(~allowed, float("-inf"))
        return mask + bias * self.mem_bias[layer].view(-1, 1, 1)  # (h, t, t)

    def _rope(self, m, n):
        cos, sin = self.backbone.rotary(m + n + m)
        if self.mem_pos != "shared":
            return cos, sin
        pos = torch.cat([torch.zeros(m, dtype=torch.long), torch.arange(1, n + 1), torch.full((m,), n + 1)])
        cos, sin = self.backbone.rotary(n + 2)
        return cos[pos], sin[pos]

    def initial_state(self, batch_size):
        self._first = True  # the next step is a sequence's first segment
        return super().initial_state(batch_size)

    def step(self, tokens, memory, return_attention=False):
        first, self._first = self._first, False
        if self.no_first_read and first:
            return self._step_without_read(tokens, memory, return_attention)
        if self.cfg.memory_form != "decoder":
            raise ValueError("StudyRMT: decoder form only")
        b, m, n = tokens.shape[0], memory.shape[1], tokens.shape[1]
        x = self.backbone.embed(tokens)  # (b, n, d)
        if self.embed_scale != 1.0:
            x = x * self.embed_scale
        read = self.in_norm(memory) if self.in_norm is not None else memory
        write = self.write.expand(b, -1, -1) if self.write is not None else read
        if self.write_tokens:  # write slot j starts from token j's embedding (plus the fresh vector, if any)
            write = x + (self.write if self.write is not None else 0)
        h = self.backbone.drop(torch.cat([read, x, write], dim=1))  # (b, m + n + m, d)
        rope = self._rope(m, n)
        attentions = []
        for layer, block in enumerate(self.backbone.blocks):
            h, weights = block(h, rope, True, self._mask(m, n, h.device, layer), None, return_attention)
            attentions.append(weights)
        normed = self.backbone.norm(h)
        new_memory = (h if self.prenorm else normed)[:, m + n :]
        if self.out_scale == "learn":
            new_memory = new_memory * self.scale
        elif self.out_scale is not None:
            new_memory = new_memory * self.out_scale
        return normed[:, m : m + n], new_memory, attentions


    def _step_without_read(self, tokens, memory, return_attention):
        """The first segment with no_first_read: `[tokens | write]`, no read slots (nothing to remember yet); the
        write slots start from the learned initial memory (or the fresh vectors / tokens, as in `step`)."""
        b, m, n = tokens.shape[0], memory.shape[1], tokens.shape[1]
        x = self.backbone.embed(tokens)
        if self.embed_scale != 1.0:
            x = x * self.embed_scale
        write = self.in_norm(memory) if self.in_norm is not None else memory
        if self.write is not None:
            write = self.write.expand(b, -1, -1)
        if self.write_tokens:
            write = x + (self.write if self.write is not None else 0)
        h = self.backbone.drop(torch.cat([x, write], dim=1))  # (b, n + m, d), causal
        rope = self.backbone.rotary(n + m)
        attentions = []
        for block in self.backbone.blocks:
            h, weights = block(h, rope, True, None, None, return_attention)
            attentions.append(weights)
        normed = self.backbone.norm(h)
        new_memory = (h if self.prenorm else normed)[:, n:]
        if self.out_scale == "learn":
            new_memory = new_memory * self.scale
        elif self.out_scale is not None:
            new_memory = new_memory * self.out_scale
        return normed[:, :n], new_memory, attentions


VARIANTS = {  # name: (StudyRMT options, ModelConfig overrides)
    "base": ({}, {}),
    "m0": ({}, {"num_mem_tokens": 0}),  # no memory: in one segment, the segment-only Transformer
    "m1": ({}, {"num_mem_tokens": 1}),
    "m2": ({}, {"num_mem_tokens": 2}),
    "m4": ({}, {"num_mem_tokens": 4}),
    # Q1, one change each
    "scale002": ({"out_scale": 0.02}, {}),  # (a) fixed
    "scalelearn": ({"out_scale": "learn", "out_scale_init": 0.02}, {}),  # (a) learned
    "sqrtd": ({"embed_scale": 8.0}, {}),  # (b)
    "emb50": ({"embed_scale": 50.0}, {}),  # (b') tokens at the memory's scale (0.02 * 50 = 1)
    "prenorm": ({"prenorm": True}, {}),  # (c)
    "fresh": ({"fresh_write": True}, {}),  # (d)
    "lnsmall": ({"in_norm": "ln", "in_gain": 0.02}, {}),  # (e) LayerNorm, gain 0.02
    "rmssmall": ({"in_norm": "rms", "in_gain": 0.02}, {}),  # (e) RMS norm, gain 0.02
    "ln1": ({"in_norm": "ln", "in_gain": 1.0}, {}),  # (e) LayerNorm, gain 1
    "gpt2init": ({"gpt2_init": True}, {}),  # (f)
    "tokwrite": ({"write_tokens": True}, {}),
    "tokwritefresh": ({"write_tokens": True, "fresh_write": True}, {}),
    # the g = 1 stall
    "block": ({"block_mask": True}, {}),
    "bias-2": ({"mem_bias": -2.0}, {}),
    "bias-4": ({"mem_bias": -4.0}, {}),
    "bias-8": ({"mem_bias": -8.0}, {}),
    "bias-30": ({"mem_bias": -30.0}, {}),  # tokens all but blind to the read slots
    "nofirst": ({"no_first_read": True}, {}),  # the first segment has no read slots
    "l1blind": ({"mem_bias": (-30.0, 0.0)}, {}),  # layer 1's tokens blind to the read slots, layer 2 sees them
    "l1bias-4": ({"mem_bias": (-4.0, 0.0)}, {}),
    "l1bias-8": ({"mem_bias": (-8.0, 0.0)}, {}),
    "pos": ({"mem_pos": "shared"}, {}),
    "meminit1": ({"mem_init": 1.0}, {}),
    "meminit0": ({"mem_init": 0.0}, {}),
}


def build_model(variant: str, vocab_size: int, segment_len: int, seed: int) -> StudyRMT:
    options, overrides = VARIANTS[variant]
    cfg = preset("lab", vocab_size=vocab_size, segment_len=segment_len, **overrides)
    with torch.random.fork_rng(devices=[]):
        torch.default_generator.manual_seed(seed)  # as train.seeded_model
        return StudyRMT(cfg, **options)


# ---------------------------------------------------------------- tasks, curricula


class UniformSegments:
    """Training batches of `base` over g' segments drawn uniformly from [low, g] for each batch (one g' per batch:
    the sequences of a batch have one length); evaluation (see `_eval_batches`) uses g itself. The curriculum of
    the follow-up papers: raise g when the accuracy at g passes the threshold, keep training on shorter ones too."""

    def __init__(self, base, low: int = 1):
        self.base, self.low = base, max(low, base.min_segments)
        self.min_segments, self.vocab_size, self.segment_len = base.min_segments, base.vocab_size, base.segment_len
        self.chance_accuracy, self.name = base.chance_accuracy, base.name

    def sample(self, batch_size, num_segments, generator):
        g = int(torch.randint(self.low, num_segments + 1, (1,), generator=generator))
        return self.base.sample(batch_size, g, generator)


_eval_batches = train_module.eval_batches


def _fixed_eval_batches(task, num_segments, *args, **kwargs):
    return _eval_batches(getattr(task, "base", task), num_segments, *args, **kwargs)


train_module.eval_batches = _fixed_eval_batches  # train() evaluates a UniformSegments stage at its own g

_explicit_attention = layers_module.explicit_attention


def _explicit_attention_float_mask(q, k, v, causal, mask, dropout):
    """minirmt's explicit attention, also for an additive float mask (StudyRMT's mem_bias) when weights are asked."""
    if mask is None or mask.dtype == torch.bool:
        return _explicit_attention(q, k, v, causal, mask, dropout)
    weights = (torch.einsum("b h i k, b h j k -> b h i j", q, k) / math.sqrt(q.shape[-1]) + mask).softmax(-1)
    return torch.einsum("b h i j, b h j k -> b h i k", F.dropout(weights, dropout), v), weights


layers_module.explicit_attention = _explicit_attention_float_mask


TASKS = {}  # name: recipe dict


def _task(name, **recipe):
    base = dict(task="assoc", n=8, sizes={}, g=4, stages=None, steps=1000, lr=3e-3, warmup=100, threshold=0.9,
                eval_every=50, stop_acc=None, stop_exact=None, budget=None, give_up=None, uniform=False,
                train={})
    unknown = set(recipe) - set(base)
    assert not unknown, unknown
    TASKS[name] = {**base, **recipe}


# Q1: copy over 3 and 4 segments of 8 at the CLI's defaults; stop once exact match >= 0.99 (12 or 16 digits)
_task("copy3", task="copy", g=3, stop_exact=0.99)
_task("copy4", task="copy", g=4, stop_exact=0.99)
# Q1/Q2: associative recall, plain (no hint), the CLI's assoc recipe otherwise: pairs-then-segments curriculum,
# lr 5e-3, warm-up 200, 2,000-step schedule, threshold 0.9, stop at 0.98; screens give up on the plateau
_PAIRS = (("p2", 2), ("p3", 2), ("p4", 2), ("p4", 3))  # (pairs, g) stages before (4, 4): train.pair_stages
_task("assoc4", stages="pairs", steps=2000, lr=5e-3, warmup=200, stop_acc=0.98, budget=180.0)
_task("assoc4s", stages="pairs", steps=2000, lr=5e-3, warmup=200, stop_acc=0.98, budget=180.0,
      give_up=(1000, 0))  # screen: stop when still on the first stage at step 1,000
_task("assoc4c", stages="pairs", steps=2000, lr=5e-3, warmup=200, stop_acc=0.98, budget=180.0,
      give_up=(1000, 0), train={"min_lr_ratio": 1.0})  # constant lr after the warm-up
_task("assoc4ct", stages="pairs", steps=2000, lr=5e-3, warmup=200, threshold=0.85, stop_acc=0.98, budget=180.0,
      train={"min_lr_ratio": 1.0})  # constant lr after the warm-up, stages move on at 0.85, no giving up
_task("assoc4u", stages="useg", steps=2000, lr=5e-3, warmup=200, stop_acc=0.98, budget=180.0,
      give_up=(1200, 0))  # 4 pairs throughout; g uniform in [2, max], max 2 -> 3 -> 4 at 0.9
# the g = 1 stall: the whole task in one segment
_task("g1p2", g=1, sizes={"num_pairs": 2}, steps=1500, lr=3e-3, stop_acc=0.99)
_task("g1p2lr5", g=1, sizes={"num_pairs": 2}, steps=1500, lr=5e-3, warmup=200, stop_acc=0.99)
_task("g1p4n16", n=16, g=1, sizes={"num_pairs": 4}, steps=1500, lr=3e-3, stop_acc=0.99)
# one hop: 2 pairs over 2 segments
_task("g2p2", g=2, sizes={"num_pairs": 2}, steps=1500, lr=5e-3, warmup=200, stop_acc=0.99)


def make_stages(recipe, task):
    """The curriculum before the target: None, "pairs" (train.pair_stages), "seg" (1, 2, 3 segments of 4 pairs:
    the follow-up papers), or "useg" (the same with UniformSegments training)."""
    kind, g = recipe["stages"], recipe["g"]
    if kind is None:
        return []
    if kind == "pairs":
        return size_stages(task, task.min_segments, "num_pairs", range(2, task.num_pairs)) + \
            [(task, k) for k in range(task.min_segments, g)]
    if kind == "p2seg":  # 2 pairs at 1, 2, 3 segments, then 3 and 4 pairs at g, then the target
        return [(dataclasses.replace(task, num_pairs=2), k) for k in range(1, g)] + \
            size_stages(task, g, "num_pairs", range(3, task.num_pairs))
    if kind in ("seg", "useg"):
        wrap = UniformSegments if kind == "useg" else (lambda t: t)
        return [(wrap(task), k) for k in range(max(1, task.min_segments), g)]
    raise ValueError(kind)


def answers_per_sequence(task, g):
    _, targets = task.sample(1, g, torch.Generator().manual_seed(0))
    return int((targets != IGNORE_INDEX).sum())


# ---------------------------------------------------------------- one run


def run_job(variant, task_name, seed, extra=None):
    """Train one (variant, task, seed) and return its row."""
    torch.set_num_threads(1)
    recipe = {**TASKS[task_name], **(extra or {})}
    task = make_task(recipe["task"], recipe["n"], **recipe["sizes"])
    g = recipe["g"]
    model = build_model(variant, task.vocab_size, recipe["n"], seed)
    stages = make_stages(recipe, task)
    target = UniformSegments(task) if recipe["uniform"] or recipe["stages"] == "useg" else task
    config = TrainConfig(steps=recipe["steps"], batch_size=64, lr=recipe["lr"], warmup=recipe["warmup"],
                         segments=g, curriculum_threshold=recipe["threshold"], stop_accuracy=recipe["stop_acc"],
                         eval_every=recipe["eval_every"], eval_batches=4, log_every=10, seed=seed, device="cpu",
                         dtype="float32", **recipe["train"])
    last_stage = len(stages)

    def callback(step, history):
        if not history:
            return False
        last = history[-1]
        if "eval_accuracy" not in last or last["step"] != step:
            return recipe["budget"] is not None and last["seconds"] >= recipe["budget"]
        print(f"  {variant}/{task_name}/s{seed} step {step} stage {last['stage']} g {last['segments']} "
              f"acc {last['eval_accuracy']:.3f} exact {last['eval_exact_match']:.3f} {last['seconds']:.0f}s",
              file=sys.stderr, flush=True)
        if recipe["stop_exact"] is not None and last["stage"] == last_stage and \
                last["eval_exact_match"] >= recipe["stop_exact"]:
            return True
        if recipe["give_up"] is not None:
            give_step, give_stage = recipe["give_up"]
            if step >= give_step and last["stage"] <= give_stage:
                return True
        return recipe["budget"] is not None and last["seconds"] >= recipe["budget"]

    load = os.getloadavg()
    started = time.perf_counter()
    result = train(model, target, config, stages=stages, callback=callback, progress=False)
    evals = [r for r in result.history if "eval_accuracy" in r]
    on_target = [r for r in evals if r["stage"] == last_stage]
    hit = next((r for r in on_target if r["eval_accuracy"] >= 0.95), None)
    exact = next((r for r in on_target if r["eval_exact_match"] >= 0.99), None)
    per_seq = answers_per_sequence(task, g)
    batches = math.ceil(HELD_OUT_ANSWERS / per_seq / 64)
    held = evaluate(model, _eval_batches(task, g, 64, batches, HELD_OUT_SEED))
    row = {
        "variant": variant, "task": task_name, "seed": seed, "extra": extra or {},
        "options": VARIANTS[variant][0], "model_overrides": VARIANTS[variant][1], "recipe": recipe,
        "steps": result.step, "train_seconds": round(result.seconds, 1), "cpu_seconds": round(result.cpu_seconds, 1),
        "wall_seconds": round(time.perf_counter() - started, 1),
        "step_095": hit and hit["step"], "seconds_095": hit and round(hit["seconds"], 1),
        "cpu_seconds_095": hit and round(hit["cpu_seconds"], 1),
        "step_exact099": exact and exact["step"], "seconds_exact099": exact and round(exact["seconds"], 1),
        "final_accuracy": round(result.metrics.get("eval_accuracy", float("nan")), 4),
        "final_exact_match": round(result.metrics.get("eval_exact_match", float("nan")), 4),
        "held_out": round(held["eval_accuracy"], 4), "held_out_exact": round(held["eval_exact_match"], 4),
        "held_out_answers": batches * 64 * per_seq, "stage_reached": result.stage, "last_stage": last_stage,
        "load_average": [round(x, 2) for x in (*load, *os.getloadavg())],
        "curve": [(r["step"], r["stage"], r["segments"], round(r["eval_accuracy"], 3), round(r["seconds"], 1))
                  for r in evals],
        "commit": _commit(), "time": time.strftime("%Y-%m-%dT%H:%M:%S"),
    }
    return row


def _commit():
    try:
        return subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True,
                              text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None


# ---------------------------------------------------------------- plans


def _jobs(variants, tasks, seeds, extra=None):
    return [(v, t, s, extra) for t in tasks for s in seeds for v in variants]


Q1_VARIANTS = ("base", "scale002", "scalelearn", "sqrtd", "prenorm", "fresh", "lnsmall", "rmssmall", "gpt2init")
STALL_VARIANTS = ("base", "m0", "m1", "m2", "block", "bias-4", "pos", "fresh", "scale002", "sqrtd", "lnsmall",
                  "gpt2init", "meminit1")
PLANS = {
    "q2a": [*_jobs(("base",), ("assoc4c", "assoc4u"), range(3)),
            *_jobs(("fresh", "lnsmall"), ("assoc4s",), range(3))],
    "q2conf": _jobs(("base",), ("assoc4ct",), range(10)),
    # the same with no step cap: with a constant lr the schedule does not depend on `steps`, so a run that stopped
    # before step 2,000 is the same run here; only the runs that hit the 2,000-step cap go on, to the 180 s budget
    "q2conf4k": _jobs(("base",), ("assoc4ct",), range(10), {"steps": 4000}),
    "smoke": [("base", "g1p2", 0, {"steps": 20, "eval_every": 10})],
    "speed": [("base", "copy3", 0, {"steps": 100, "stop_exact": None}),
              ("base", "copy4", 0, {"steps": 100, "stop_exact": None}),
              ("base", "g1p2", 0, {"steps": 100, "stop_acc": None}),
              ("base", "assoc4", 0, {"steps": 100, "stages": None})],
    "q1copy3": _jobs(Q1_VARIANTS, ("copy3",), range(3)),
    "q1copy3b": _jobs(Q1_VARIANTS, ("copy3",), (3, 4)),
    "q1copy4": _jobs(Q1_VARIANTS, ("copy4",), range(3)),
    "q1copy4s": _jobs(("base", "lnsmall", "scalelearn", "prenorm", "scale002", "fresh"), ("copy4",), range(3)),
    "stall": _jobs(STALL_VARIANTS, ("g1p2",), range(3)),
    "stall2": _jobs(("bias-30", "l1blind", "l1bias-4", "bias-8"), ("g1p2",), range(3)),
    "hop2": _jobs(("base", "nofirst", "bias-8", "m2", "l1blind"), ("g2p2",), range(3)),
}


def completed():
    if not RESULTS.exists():
        return set()
    rows = [json.loads(line) for line in RESULTS.read_text().splitlines() if line.strip()]
    return {(r["variant"], r["task"], r["seed"], json.dumps(r["extra"], sort_keys=True)) for r in rows}


def key(job):
    v, t, s, extra = job
    return (v, t, s, json.dumps(extra or {}, sort_keys=True))


# ---------------------------------------------------------------- probes


@torch.no_grad()
def probe_cosine(seeds=range(5)):
    """Cosine between the memory entering and leaving each segment of a fresh lab model (copy, g 4)."""
    task = make_task("copy", 8)
    out = {}
    for variant in ("base", "scale002", "sqrtd", "prenorm", "fresh", "lnsmall", "gpt2init"):
        per_seg = []
        for seed in seeds:
            model = build_model(variant, task.vocab_size, 8, seed).eval()
            tokens, _ = task.sample(256, 4, torch.Generator().manual_seed(seed))
            memory = model.initial_state(tokens.shape[0])
            cos, rms, between = [], [], []
            for x in tokens.split(8, dim=1):
                _, new, _ = model.step(x, memory)
                cos.append(F.cosine_similarity(memory, new, dim=-1).mean().item())
                rms.append(new.pow(2).mean().sqrt().item())
                # how much the memory out depends on the segment: mean cosine between two sequences' memories
                between.append(F.cosine_similarity(new[0::2], new[1::2], dim=-1).mean().item())
                memory = new
            per_seg.append((cos, rms, between))
        out[variant] = {
            "cos_in_out_per_segment": [round(sum(p[0][i] for p in per_seg) / len(per_seg), 5) for i in range(4)],
            "rms_out_per_segment": [round(sum(p[1][i] for p in per_seg) / len(per_seg), 4) for i in range(4)],
            "cos_between_sequences": [round(sum(p[2][i] for p in per_seg) / len(per_seg), 5) for i in range(4)],
        }
        print(variant, json.dumps(out[variant]), flush=True)
    emb = build_model("base", task.vocab_size, 8, 0).backbone.embed.weight
    out["token_embedding_std"] = round(emb.std().item(), 4)
    return out


def attention_stats(model, tokens, m):
    """Attention statistics of `model` on one-segment associative recall `tokens (b, n)` (pairs at 0..2p-1, queries
    after): per layer, the mass on the read slots from the tokens, from the pair positions and from the query keys;
    layer 1's previous-token score at the values (best head); layer 2's induction score at the query keys (attention
    to the stored value of the same key, best head)."""
    with torch.no_grad():
        model.eval()
        weights = model(tokens, return_attention=True).attentions[0]  # l tensors (b, h, t, t)
        model.train()
    b, n = tokens.shape
    rows = torch.arange(b)
    pairs = 2  # the stall study: 2 pairs
    values = [m + 2 * i + 1 for i in range(pairs)]
    query_keys = [m + j for j in range(2 * pairs, n) if j % 2 == 1]  # key positions of the queries (5, 7 for n 8)
    stats = {}
    for layer, w in enumerate(weights):
        w = w.float()  # (b, h, t, t)
        stats[f"l{layer + 1}_mem_tokens"] = round(w[:, :, m : m + n, :m].sum(-1).mean().item(), 3)
        stats[f"l{layer + 1}_mem_pairs"] = round(w[:, :, m : m + 2 * pairs, :m].sum(-1).mean().item(), 3)
        stats[f"l{layer + 1}_mem_query"] = round(w[:, :, query_keys, :m].sum(-1).mean().item(), 3)
        prev = torch.stack([w[:, :, v, v - 1] for v in values], -1).mean((0, 2))  # (h,)
        stats[f"l{layer + 1}_prev"] = round(prev.max().item(), 3)
        ind = []
        for q in query_keys:
            key_tok = tokens[:, q - m]  # (b,)
            stored = (tokens[:, : 2 * pairs : 2] == key_tok[:, None]).float().argmax(1)  # which pair
            ind.append(w[rows, :, q, m + 2 * stored + 1])  # (b, h)
        stats[f"l{layer + 1}_induction"] = round(torch.stack(ind, -1).mean((0, 2)).max().item(), 3)
    return stats


def probe_attention(variants, seeds, steps=1500, task_name="g1p2"):
    """Train each variant on the one-segment task and record attention statistics every 100 steps."""
    recipe = TASKS[task_name]
    task = make_task(recipe["task"], recipe["n"], **recipe["sizes"])
    tokens, _ = task.sample(256, 1, torch.Generator().manual_seed(99))
    out = []
    for seed in seeds:
        for variant in variants:
            model = build_model(variant, task.vocab_size, recipe["n"], seed)
            m = model.cfg.num_mem_tokens
            trace = []

            def callback(step, history, model=model, trace=trace, m=m, variant=variant, seed=seed):
                if step % 100 == 0:
                    acc = next((r["eval_accuracy"] for r in reversed(history) if "eval_accuracy" in r), None)
                    bias = model.mem_bias
                    extra = {} if bias is None else {"bias": [[round(x, 2) for x in r] for r in bias.tolist()]}
                    trace.append({"step": step, "acc": acc and round(acc, 3), **attention_stats(model, tokens, m),
                                  **extra})
                    print(variant, seed, json.dumps(trace[-1]), flush=True)
                return False

            config = TrainConfig(steps=steps, batch_size=64, lr=recipe["lr"], warmup=recipe["warmup"], segments=1,
                                 eval_every=100, seed=seed, device="cpu", dtype="float32")
            callback(0, [])
            train(model, task, config, callback=callback, progress=False)
            out.append({"variant": variant, "seed": seed, "task": task_name, "trace": trace})
    return out


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--plan", choices=sorted(PLANS))
    parser.add_argument("--probe", choices=("cosine", "attention"))
    parser.add_argument("--variants", default="base,m0,m2", help="--probe attention: the variants")
    parser.add_argument("--list", action="store_true")
    parser.add_argument("--only", help="comma-separated variants of the plan to run")
    parser.add_argument("--seeds", help="comma-separated seeds of the plan to run")
    parser.add_argument("--out", help="JSONL of the rows (default bench/results/memory_scale/memory_scale.jsonl)")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    global RESULTS
    RESULTS = Path(args.out) if args.out else RESULTS
    if args.list:
        for name, jobs in PLANS.items():
            print(f"{name:12s} {len(jobs):4d} jobs")
        return
    if args.probe == "cosine":
        result = probe_cosine()
        path = RESULTS.parent / "cosine_probe.json"
        path.write_text(json.dumps(result, indent=1) + "\n")
        print("wrote", path)
        return
    if args.probe == "attention":
        seeds = [int(x) for x in (args.seeds or "0,1").split(",")]
        result = probe_attention(args.variants.split(","), seeds)
        path = RESULTS.parent / f"attention_probe_{args.variants.replace(',', '_')}.json"
        path.write_text(json.dumps(result, indent=1) + "\n")
        print("wrote", path)
        return
    jobs = PLANS[args.plan]
    if args.only:
        jobs = [j for j in jobs if j[0] in args.only.split(",")]
    if args.seeds:
        jobs = [j for j in jobs if j[2] in {int(s) for s in args.seeds.split(",")}]
    done = completed()
    todo = [j for j in jobs if key(j) not in done]
    print(f"plan {args.plan}: {len(jobs)} jobs, {len(jobs) - len(todo)} done, {len(todo)} to run", flush=True)
    for job in todo:
        row = run_job(*job)
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        with RESULTS.open("a") as f:
            f.write(json.dumps(row) + "\n")
        print(json.dumps({k: row[k] for k in ("variant", "task", "seed", "steps", "train_seconds", "step_095",
                                              "step_exact099", "final_accuracy", "held_out")}), flush=True)


if __name__ == "__main__":
    main()
