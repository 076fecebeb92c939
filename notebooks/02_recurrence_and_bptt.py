# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.6
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 02 · Recurrence and backpropagation through time
#
# **The memory flows forward from segment to segment, and in training the gradients flow back along the same
# path. Here you write that loop, watch the gradients travel back through it, cut them with `detach`, and
# measure what unrolling costs in memory and how checkpointing flattens it.**
#
# ### What you will learn
# - write the RMT's recurrence: a Python loop that carries the memory `(b, m, d)` through `g` segments;
# - follow the gradient of a loss back through the memory, segment by segment (backpropagation through
#   time, BPTT), and truncate it with `detach` so that it reaches exactly the last `k` segments;
# - measure what autograd keeps for the backward pass as `g` grows, and flatten it with per-segment
#   activation checkpointing (`memory_flat=True`);
# - predict, then measure, what truncation does to learning a task that needs the memory.
#
# ### Prerequisites
# Notebook 01 (segments, `[read | tokens | write]`, one memory step). PyTorch autograd: `backward()`,
# `.grad`, `detach()`. Shapes use the course's letters: `b` batch, `s` sequence, `g` segments, `n` segment
# length, `m` memory tokens, `d` model width, `v` vocabulary.

# %% [markdown]
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/minirmt/minirmt/blob/v0.1.0/notebooks/exercises/02_recurrence_and_bptt.ipynb) (the learner copy)
#
# *This is the instructor's copy: it holds the worked solutions and the answer key. Learners open `notebooks/exercises/02_recurrence_and_bptt.ipynb`.*

# %% tags=["nbval-skip"]
# On Colab, install this release of minirmt (elsewhere this cell does nothing).
import sys

if "google.colab" in sys.modules:
    import subprocess

    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "minirmt @ git+https://github.com/minirmt/minirmt@v0.1.0"], check=True)

# %%
import dataclasses

import torch

import minirmt
from minirmt import build_model, viz
from minirmt.course import checks, nb, pretrained, widgets
from minirmt.data import tasks
from minirmt.training.task_loop import train

nb.setup()

# %% [markdown]
# Everything that depends on the run mode is chosen here: `ci` (the tests: tiny, seconds), `lab` (a laptop
# CPU: the saved outputs), `full` (a GPU). The three training runs of Section 4 ship with the package, each with
# its settings (`pretrained.run_of(name).train_config`); `TRAIN_LIVE = True` trains them here instead (about
# two minutes on a laptop CPU).

# %%
SIZES = nb.pick(ci=dict(batch=8, memory_segments=(1, 2, 4)), lab=dict(batch=32, memory_segments=(1, 2, 4, 8, 16)))
TRAIN_LIVE = False
SIZES

# %% [markdown]
# ## 1. A loop over segments
#
# The RMT paper puts the idea in one sentence: "we split them into segments and pass memory states from a
# previous to a current segment. This memory passing makes the model recurrent" (Sec. 1; Sec. 3, Fig. 1).
# Each segment is one call of the same Transformer, `model.step(tokens, memory)`, which returns the
# segment's hidden states and the new memory (notebook 01 built it). The forward pass is a plain loop:
#
# ```
# memory = initial memory                      (b, m, d), learned
# for each segment x (b, n):
#     hidden, memory = step(x, memory)         (b, n, d), (b, m, d)
#     logits of this segment = head(hidden)    (b, n, v)
# ```
#
# Because the memory written by segment 2 depends on the memory written by segment 1, and so on, a loss
# on the last segment depends on every segment before it, *through the memory*. Backpropagation follows
# those dependencies backwards: backpropagation through time (BPTT), exactly as in a recurrent network
# whose "time step" is a whole segment. The figure shows the unrolled computation: memory goes forward
# (blue), the gradient of the last segment's loss comes back (orange).

# %%
viz.plot_unrolled(4)

# %% [markdown]
# The model, the task and a batch. We use a copy task like the paper's (Sec. 4; notebook 03 is about it):
# read some digits, then after `>` write them again, with the copy in a later segment than the source.
# `preset("lab")` is the laptop-size model: `d = 64`, 2 layers, 4 heads, segments of `n = 8`, `m = 8`
# memory tokens.

# %% tags=["nbval-check-output"]
n = 8
task = tasks.make_task("copy", segment_len=n)
cfg = minirmt.preset("lab", vocab_size=task.vocab_size)
model = build_model("rmt", cfg, seed=0)
tokens, targets = task.sample(batch_size=4, num_segments=3, generator=torch.Generator().manual_seed(0))
print(task.render(tokens[0], targets[0]))
print("tokens", tuple(tokens.shape))  # (b, s) = (4, 24): g = 3 segments of n = 8

# %% [markdown]
# One step by hand: the initial memory is the model's learned `(m, d)` parameter repeated over the batch.

# %% tags=["nbval-check-output"]
memory = model.initial_state(batch_size=4)  # (b, m, d)
hidden, new_memory, _ = model.step(tokens[:, :n], memory)  # segment 0: (b, n) tokens
print("memory", tuple(memory.shape), "-> hidden", tuple(hidden.shape), "+ new memory", tuple(new_memory.shape))
print("logits", tuple(model.backbone.head(hidden).shape))  # (b, n, v)

# %% [markdown]
# ### Exercise 02.1: the recurrence loop
#
# Write `run_segments(model, tokens)`: token ids `(b, s)` in; out the logits `(b, s, v)` of the whole
# sequence and the list of the `g` memories written, one `(b, m, d)` per segment. Cut the sequence into
# segments of `model.cfg.segment_len` (the last one may be shorter: `tokens.split(n, dim=1)` does that),
# start from `model.initial_state(b)`, call `model.step(x, memory)` (it returns `hidden, memory,
# attention`), and turn the hidden states into logits with `model.backbone.head`. The checker compares
# with the model's own forward pass, on sequences that do and do not fill whole segments.

# %%
def run_segments(model, tokens):
    """Token ids `(b, s)` -> logits `(b, s, v)` and the list of g memories written, each `(b, m, d)`."""
    ### BEGIN SOLUTION
    memory = model.initial_state(tokens.shape[0])  # (b, m, d)
    logits, memories = [], []
    for x in tokens.split(model.cfg.segment_len, dim=1):  # g segments (b, n), the last maybe shorter
        hidden, memory, _ = model.step(x, memory)  # (b, n, d), (b, m, d)
        logits.append(model.backbone.head(hidden))  # (b, n, v)
        memories.append(memory)
    return torch.cat(logits, dim=1), memories
    ### END SOLUTION


# %% tags=["nbval-check-output"]
run_segments = checks.check_run_segments(run_segments)

# %% [markdown]
# That loop *is* the model: `RecurrentMemoryTransformer` (`minirmt/model/rmt.py`) inherits its `forward` from
# `SegmentRecurrence` (`minirmt/model/recurrence.py`), the same loop plus the loss, truncation and checkpointing
# that the rest of this notebook is about.

# %% tags=["nbval-check-output"]
with torch.no_grad():
    ours, memories = run_segments(model, tokens)
    out = model(tokens)
print(torch.allclose(ours, out.logits, atol=1e-5), len(memories), torch.allclose(memories[-1], out.memory))

# %% [markdown]
# ## 2. Gradients through time
#
# Which segments does the last segment's loss teach? Measure it: keep only the targets of the last segment,
# backpropagate, and look at the gradient that reaches each segment's **token embeddings** (the input of
# `model.step`). A forward hook on `model.backbone.embed` catches the `g` embedding outputs `(b, n, d)` as
# the loop makes them, and `retain_grad()` asks autograd to keep their gradients.

# %%
def grad_per_segment(model, tokens, targets, bptt_depth=None):
    """Norm of the gradient of the last segment's loss w.r.t. each segment's token embeddings: `(g,)`."""
    n = model.cfg.segment_len
    last_only = targets.clone()
    last_only[:, : -n] = -100  # supervise the last segment only
    embedded = []  # the g embedding outputs (b, n, d), in order

    def keep(module, inputs, output):
        output.retain_grad()
        embedded.append(output)

    hook = model.backbone.embed.register_forward_hook(keep)
    try:
        loss = model(tokens, targets=last_only, bptt_depth=bptt_depth).loss
    finally:
        hook.remove()
    loss.backward()
    model.zero_grad(set_to_none=True)
    return torch.stack([e.grad.norm() for e in embedded])  # (g,)


g = 6
long_tokens, long_targets = task.sample(batch_size=8, num_segments=g, generator=torch.Generator().manual_seed(1))
full = grad_per_segment(model, long_tokens, long_targets)
print([f"{x:.1e}" for x in full.tolist()])

# %% [markdown]
# Every segment receives gradient: the loss at the end of the sequence reaches back to the first tokens,
# through five memory hand-overs. Segment 0 stands out. The scales involved, in this untrained model:

# %% tags=["nbval-check-output"]
with torch.no_grad():
    memories = model(long_tokens).memories  # g states (b, m, d), each leaving a segment
initial_norm = model.initial_state(1).norm(dim=-1).mean().item()
passed_norm = memories[0].norm(dim=-1).mean().item()
token_norm = model.backbone.embed.weight.norm(dim=-1).mean().item()
print(f"norm per slot: the initial memory {initial_norm:.2f}, the memory leaving segment 0 {passed_norm:.2f} "
      f"(sqrt(d) = {model.cfg.d_model ** 0.5:.0f}); a token embedding {token_norm:.2f}")
assert initial_norm < 1 < passed_norm and token_norm < passed_norm / 20

# %% [markdown]
# Segment 0 reads the small learned initial memory, every later segment a memory that left a LayerNorm, about
# `sqrt(d)` per slot, many times larger. One reading of the gradient profile, which this notebook does not test:
# segment 0's write slots start from a much smaller input, and the final normalisation scales their gradients up.
#
# The same difference of scale has a second effect: token embeddings start far smaller than the memory (printed
# above), so in a fresh model the memory passes through a segment almost unchanged, whatever the segment holds.
# Does that slow learning? A study shipped with the package tried the fixes one would think of, three seeds each,
# on copy over 3 segments: the step at which each run first copied exactly (exact match >= 0.99).

# %%
scale = pretrained.result("memory_scale")
print("cosine between the memory entering and leaving each of segments 0-3 of a fresh model:",
      [round(c, 4) for c in scale["cosine_in_out"]["base"]])
for variant, runs in scale["runs"].items():
    steps = [runs[seed]["step_exact"] for seed in sorted(runs)]
    held_out = [round(runs[seed]["held_out"], 2) for seed in sorted(runs)]
    print(f"{variant:9s} {scale['variants'][variant]:60s} steps to exact copy: {steps}, held-out {held_out}")

# %% tags=["nbval-check-output"]
solved = {v: sum(r["step_exact"] is not None for r in runs.values()) for v, runs in scale["runs"].items()}
print("the library's RMT copies exactly in every seed:", solved["base"] == 3)
at_chance = {v: sum(r["held_out"] < 0.15 for r in runs.values()) for v, runs in scale["runs"].items()}
print("sqrt(d) embeddings leave 2 seeds of 3 at chance, GPT-2's residual scaling 1:",
      at_chance["sqrtd"] == 2 and at_chance["gpt2init"] == 1)
assert solved["base"] == 3 and at_chance["sqrtd"] == 2 and at_chance["gpt2init"] == 1

# %% [markdown]
# The near-identity is real (cosine 0.9995 for segments 1-3; segment 0, which receives the small initial memory,
# gets 0.46), but it does not hold learning back: the library's RMT copies exactly within 350-450 steps in every
# seed, and shrinking the memory to the tokens' scale (`scale002`, `lnsmall`) is no faster. Replacing the copy of
# the memory in the write slots by learned write tokens (`fresh`) is slower in every seed (550-1,000 steps). The two changes that make the residual stream dominate
# even more hurt: with embeddings scaled by √d no seed copies exactly and 2 of 3 end at chance (0.10) after
# their 1,000 steps; with GPT-2's `1/sqrt(2L)` scaling of the residual projections one seed stays at chance and only
# one copies exactly. So the library keeps its scale and its initialisation.
#
# ### Truncated BPTT
#
# Keeping the whole chain costs memory and time (Section 3), and very long chains can make gradients
# explode or vanish. The usual remedy, also in the paper's code, is to **truncate**: `detach()` the memory
# at some hand-overs, so that backpropagation stops there. The model's `bptt_depth = k` detaches the memory
# entering segments `1 .. g - k`: the last segment's loss then reaches exactly the last `k` segments.

# %%
viz.plot_unrolled(g, bptt_depth=2)

# %% [markdown]
# **Predict** before you run: with `g = 6` and `bptt_depth = 2`, which of the six gradient norms are exactly
# zero? With `bptt_depth = 1`? Do the norms of the segments inside the window change?

# %% tags=["nbval-check-output"]
norms = {"full BPTT": full}
for depth in (4, 2, 1):
    norms[f"bptt_depth={depth}"] = grad_per_segment(model, long_tokens, long_targets, bptt_depth=depth)
for name, values in norms.items():
    print(f"{name:>12}: segments with gradient {[int(i) for i in values.nonzero().flatten()]}")

# %%
for depth in (4, 2, 1):
    values = norms[f"bptt_depth={depth}"]
    assert (values[: g - depth] == 0).all() and (values[g - depth :] > 0).all()
    assert torch.allclose(values[g - depth :], full[g - depth :])  # inside the window: the same gradients
viz.plot_grad_norms(norms, title="gradient of the last segment's loss (x = exactly 0)")

# %% [markdown]
# (A log axis has no place for 0, so the exact zeros are drawn as crosses in a band of their own below the
# smallest norm; their height there means nothing.) Truncation does not scale gradients down: it cuts them to
# **exactly** zero outside the window and leaves them untouched inside. That is also how to test it: a truncation bug (a detach in the wrong place, or
# none at all) is silent in training, but a gradient that should be zero and is not shows it at once.
# Move the sliders to try other lengths and depths:

# %% tags=["nbval-ignore-output"]
explorer_tokens, explorer_targets = task.sample(batch_size=8, num_segments=8, generator=torch.Generator().manual_seed(2))
widgets.Explorer(
    lambda segments, depth: viz.plot_grad_norms(grad_per_segment(
        model, explorer_tokens[:, : segments * n], explorer_targets[:, : segments * n], bptt_depth=depth)),
    segments=(2, 8, 6), depth=(1, 8, 2),
)

# %%
viz.plot_grad_norms(grad_per_segment(model, long_tokens, long_targets, bptt_depth=3), title="g = 6, bptt_depth=3")

# %% [markdown]
# ### Exercise 02.2: truncation with `detach`
#
# Extend your loop: `run_truncated(model, tokens, bptt_depth)` returns the same logits and memories as
# `run_segments`, but detaches the memory **entering** segment `i` for every `0 < i <= g - bptt_depth`, so
# that the gradient of the last segment reaches exactly the last `bptt_depth` segments (all of them when
# `bptt_depth >= g`). Two traps: the values must not change (only the gradients do), and the learned
# initial memory entering segment 0 is never detached. The checker backpropagates through your loop and
# compares which segments receive gradient.

# %%
def run_truncated(model, tokens, bptt_depth):
    """Like `run_segments`, with the memory entering segments 1 .. g - bptt_depth detached."""
    ### BEGIN SOLUTION
    pieces = tokens.split(model.cfg.segment_len, dim=1)  # g segments (b, n)
    g = len(pieces)
    memory = model.initial_state(tokens.shape[0])  # (b, m, d)
    logits, memories = [], []
    for i, x in enumerate(pieces):
        if 0 < i <= g - bptt_depth:
            memory = memory.detach()  # no gradient flows back past this hand-over
        hidden, memory, _ = model.step(x, memory)  # (b, n, d), (b, m, d)
        logits.append(model.backbone.head(hidden))  # (b, n, v)
        memories.append(memory)
    return torch.cat(logits, dim=1), memories
    ### END SOLUTION


# %% tags=["nbval-check-output"]
run_truncated = checks.check_run_truncated(run_truncated)

# %% [markdown]
# ### Whose loss gets a window? `bptt_window`
#
# So far only the **last** segment's loss was measured. In training every segment with answers has a loss,
# and `bptt_depth` can mean two things for them:
#
# - `bptt_window="end"` (the default): one window, at the end of the sequence. The memory entering segments
#   `1 .. g - k` is detached, so the last segment's loss reaches back `k` segments, and the loss of a segment
#   before the window reaches no other segment at all.
# - `bptt_window="each"`: every segment's loss gets its own window of `k` segments, as in the authors'
#   synthetic-task code when its `mem_backprop_depth` is set to `k - 1 > 0` (the previous segments it reaches).
#   The model recomputes each window from a detached memory, so it costs up to `k` segment steps per segment.
#   The authors' default, `mem_backprop_depth=0`, detaches nothing: full BPTT, `bptt_depth=None` here, and it is
#   the setting of every copy, reverse and retrieval result they published.
#
# `bptt_depth=0` and `1` mean the same under both: no gradient crosses any hand-over (the paper's
# "memory without BPTT" setting); a negative depth is an error. **Predict**, for each window rule, which segments
# the loss of each segment alone sends gradient to (printed below: one line per loss, listing the segments it
# reaches).

# %%
def probe_hook(pieces, probes):
    """A forward hook for the embedding: adds `probes[j] (d,)` to the embeddings of segment j, found by its ids."""
    def add_probe(module, inputs, output):
        j = next(k for k, piece in enumerate(pieces) if torch.equal(piece, inputs[0]))
        return output + probes[j]  # (b, n, d): the same values, a path for the gradient
    return add_probe


def reach(model, tokens, targets):
    """`(g, g)`: True where the loss of segment i (row) sends gradient to the token embeddings of segment j.

    A forward hook adds a zero `(d,)` vector to the embeddings of each segment, recognised by its tokens
    (with `"each"` a segment is embedded again in every window that recomputes it); the gradient that reaches
    that vector is the gradient that reaches the segment."""
    n = model.cfg.segment_len
    pieces = tokens.split(n, dim=1)  # g segments (b, n)
    g = len(pieces)
    rows = []
    for i in range(g):
        only_i = torch.full_like(targets, -100)
        only_i[:, i * n : (i + 1) * n] = tokens[:, i * n : (i + 1) * n]  # any target will do: we need a loss here
        probes = torch.zeros(g, model.cfg.d_model, requires_grad=True)  # (g, d)
        hook = model.backbone.embed.register_forward_hook(probe_hook(pieces, probes))
        try:
            model(tokens, targets=only_i).loss.backward()
        finally:
            hook.remove()
        model.zero_grad(set_to_none=True)
        rows.append(probes.grad.abs().sum(1) > 0)  # (g,)
    return torch.stack(rows)  # (g, g)


windows = {}
for window in ("end", "each"):
    windowed = build_model("rmt", dataclasses.replace(cfg, bptt_depth=2, bptt_window=window), seed=0)
    windows[window] = reach(windowed, long_tokens, long_targets)  # (g, g)
    print(f"bptt_window={window!r}, bptt_depth=2: segments each loss reaches")
    for i, row in enumerate(windows[window]):
        print(f"  loss of segment {i}: {[int(j) for j in row.nonzero().flatten()]}")

# %% tags=["nbval-check-output"]
ends, each = windows["end"], windows["each"]
i, j = torch.meshgrid(torch.arange(g), torch.arange(g), indexing="ij")  # (g, g): loss segment, reached segment
itself, with_previous = i == j, (j <= i) & (j >= i - 1)
print("end: the last loss reaches the last 2 segments, every other loss only itself:",
      torch.equal(ends[:-1], itself[:-1]) and torch.equal(ends[-1], with_previous[-1]))
print("each: every loss reaches itself and the segment before it:", torch.equal(each, with_previous))
assert torch.equal(ends[:-1], itself[:-1]) and torch.equal(ends[-1], with_previous[-1]) and torch.equal(each, with_previous)

# %% [markdown]
# With the default, truncation is cheap (one pass) but most losses never train the memory; with `"each"`,
# every answer trains the writes `k - 1` segments before it, at up to `k` times the compute. Exercise 02.2 and
# Section 4 use the default.

# %% [markdown]
# ## 3. What unrolling costs
#
# To backpropagate, autograd keeps tensors from the forward pass: the inputs of every matrix product, the
# attention probabilities, the normalisation statistics... For `g` segments it keeps them for all `g`
# calls of the Transformer, so the memory of training grows linearly with the number of segments.
#
# How to measure it on a CPU? Process memory (RSS) is noisy: the allocator keeps freed blocks. Instead we
# ask autograd itself. `torch.autograd.graph.saved_tensors_hooks(pack, unpack)` calls `pack` on every
# tensor autograd saves for the backward pass; we add up the bytes of the distinct storages (a tensor and
# its views share one), leaving out the parameters, which exist anyway. The count is exact and the same on
# every machine.

# %%
def saved_mib(model, tokens, targets):
    """MiB of activations autograd keeps for the backward pass of one forward (parameters not counted)."""
    parameters = {p.untyped_storage().data_ptr() for p in model.parameters()}
    kept = {}  # storage address -> bytes

    def pack(tensor):
        storage = tensor.untyped_storage()
        if storage.data_ptr() not in parameters:
            kept[storage.data_ptr()] = storage.nbytes()
        return tensor

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda tensor: tensor):
        loss = model(tokens, targets=targets, return_logits=False).loss
    loss.backward()  # frees what was kept
    model.zero_grad(set_to_none=True)
    return sum(kept.values()) / 2**20


# %% [markdown]
# **Checkpointing.** `ModelConfig(memory_flat=True)` wraps each segment in
# `torch.utils.checkpoint.checkpoint`: the forward pass keeps only each segment's *inputs* (its tokens and
# the incoming memory, `(b, m, d)`), and the backward pass re-runs one segment at a time to rebuild its
# activations just before it needs them. Same gradients, one extra forward pass per segment, and the peak
# holds one segment's activations instead of `g`. The last segment is the exception: its backward pass comes
# right after its forward pass, so recomputing it would save nothing, and its activations are kept as usual.
# That is why at `g = 1` both models keep the same. (Re-running a segment in the backward pass rebuilds one
# segment's activations for a moment; the count of saved tensors does not see them, but they are one
# segment's worth, whatever `g`.)
#
# **Predict**: how do the two columns grow from `g = 1` to the largest `g` below?

# %%
flat_model = build_model("rmt", minirmt.preset("lab", vocab_size=task.vocab_size, memory_flat=True), seed=0)
memory_cost = {"full BPTT": [], "memory_flat=True": []}
for count in SIZES["memory_segments"]:
    x, y = task.sample(SIZES["batch"], count, generator=torch.Generator().manual_seed(3))
    memory_cost["full BPTT"].append({"segments": count, "MiB": saved_mib(model, x, y)})
    memory_cost["memory_flat=True"].append({"segments": count, "MiB": saved_mib(flat_model, x, y)})
for full_, flat_ in zip(*memory_cost.values()):
    print(f"g = {full_['segments']:>2}: full BPTT {full_['MiB']:7.2f} MiB   memory_flat {flat_['MiB']:6.2f} MiB")

# %% tags=["nbval-check-output"]
full_mib = [r["MiB"] for r in memory_cost["full BPTT"]]
flat_mib = [r["MiB"] for r in memory_cost["memory_flat=True"]]
g_max = SIZES["memory_segments"][-1]
print("memory_flat keeps at most what full BPTT keeps, at every g:", all(f <= b * 1.001 for f, b in zip(flat_mib, full_mib)))
print("the same at g = 1 (the last segment is kept either way):", abs(flat_mib[0] - full_mib[0]) < 0.01 * full_mib[0])
print("full BPTT grows about linearly with g:", full_mib[-1] > 0.9 * g_max * full_mib[0])
print("memory_flat grows by less than half of g = 1 over the whole range:", flat_mib[-1] < 1.5 * flat_mib[0])
assert all(f <= b * 1.001 for f, b in zip(flat_mib, full_mib)) and abs(flat_mib[0] - full_mib[0]) < 0.01 * full_mib[0]
assert full_mib[-1] > 0.9 * g_max * full_mib[0] and flat_mib[-1] < 1.5 * flat_mib[0]

# %%
viz.plot_curves(memory_cost, metrics="MiB", x="segments", title="kept for the backward pass")

# %% [markdown]
# Checkpointing changes the cost, not the result: the two models have the same weights, and their gradients
# agree. What it costs is compute: every segment but the last runs its forward pass twice. We count the
# forward passes of the backbone (one per segment) in one training step over `g = 4` segments, rather than
# time them: a count does not depend on how busy your machine is, and the time of a step is mostly these
# passes.

# %% tags=["nbval-check-output"]
x, y = task.sample(SIZES["batch"], 4, generator=torch.Generator().manual_seed(4))
passes = {}
for name, which in (("full", model), ("flat", flat_model)):
    passes[name] = 0
    hook = which.backbone.register_forward_hook(lambda module, inputs, output, name=name: passes.update(
        {name: passes[name] + 1}))
    which(x, targets=y).loss.backward()
    hook.remove()
grads_agree = all(torch.allclose(a.grad, b.grad, atol=1e-6) for a, b in zip(model.parameters(), flat_model.parameters()))
model.zero_grad(set_to_none=True)
flat_model.zero_grad(set_to_none=True)
print("same gradients:", grads_agree)
print("segment forward passes per step: full BPTT", passes["full"], "| memory_flat", passes["flat"],
      "(g + g - 1: every segment but the last again):", passes == {"full": 4, "flat": 4 + 3})
assert grads_agree and passes == {"full": 4, "flat": 7}

# %% [markdown]
# ## 4. Experiment: does truncation stop the model from learning?
#
# Train on copy over `g = 3` segments (the layout printed in Section 1: 12 source digits in segments 0-1,
# the copy in segments 1-2) with full BPTT, with `bptt_depth = 2`, and with `bptt_depth = 1`, where no
# gradient crosses any hand-over: the memory is never trained to keep anything *for* a later segment.
#
# **Predict** the answer accuracy of each run (chance is 0.1). Two things to weigh: with `bptt_depth = 2`
# the write of segment 0 never receives gradient from segment 2's answers, but segment 0 writes with the
# *same weights* that segment 1 learns to write with. With `bptt_depth = 1`, could the next segment learn to
# decode whatever segment 0 happens to write?

# %%
copy_results = {}
for depth in (None, 2, 1):
    shipped = f"copy-rmt-bptt-{depth or 'full'}"  # made by `python -m minirmt.course.pretrained`
    if TRAIN_LIVE:  # the shipped run's settings (its recipe), trained here with a progress bar
        recipe = pretrained.run_of(shipped)
        run = train(recipe.build_model(), recipe.task, recipe.train_config)
    else:
        run = pretrained.trained(shipped)
    name = "full BPTT" if depth is None else f"bptt_depth={depth}"
    copy_results[name] = run
    print(f"{name:>12}: answer accuracy {run.metrics['eval_accuracy']:.3f}, exact match "
          f"{run.metrics['eval_exact_match']:.3f}  ({run.seconds:.0f} s)")

# %%
assert copy_results["full BPTT"].metrics["eval_accuracy"] >= 0.95
viz.plot_curves({k: r.history for k, r in copy_results.items()}, metrics=("loss", "eval_accuracy"))

# %% [markdown]
# In the curves above the two truncated runs lie almost on top of each other. Which answers does each run get
# right? Answer `i` repeats source digit `i`: digits 0-7 were read in segment 0, digits 8-11 in segment 1.

# %%
eval_tokens, eval_targets = task.sample(512, 3, generator=torch.Generator().manual_seed(5))
asked = eval_targets[0] != -100  # (s,): the 12 answer positions, the same in every sequence
per_answer = {}
with torch.no_grad():
    for name, run in copy_results.items():
        right = run.model.eval()(eval_tokens).logits.argmax(-1) == eval_targets  # (b, s)
        per_answer[name] = dict(enumerate(right[:, asked].float().mean(0).tolist()))  # answer i -> accuracy
viz.plot_accuracy_vs_segments(per_answer, chance=task.chance_accuracy, xlabel="answer i (source digit i)",
                              title="accuracy of each answer after training", legend="below")

# %% tags=["nbval-check-output"]
truncated = [a for name in ("bptt_depth=2", "bptt_depth=1") for a in per_answer[name].values()]
print("full BPTT gets every answer right (> 0.95):", min(per_answer["full BPTT"].values()) > 0.95)
print("both truncated runs are near chance on every answer, digits 8-11 included (< 0.2):", max(truncated) < 0.2)
assert min(per_answer["full BPTT"].values()) > 0.95 and max(truncated) < 0.2

# %% [markdown]
# **Over seeds, with a control.** One run per setting says little, and a truncated run that fails might only need
# more steps. The package ships the same experiment over 3 seeds, and the truncated runs again with three times
# the steps (1,500), the control that tells truncation from budget. **Predict** first: with three times the
# steps, do the truncated runs learn?

# %%
truncation = pretrained.result("truncation")["rows"]  # one row per run: seed, bptt_depth, steps, accuracy


def seed_accuracies(depth, steps):
    """The answer accuracy of each seed's run with this bptt_depth and number of steps."""
    return [r["accuracy"] for r in truncation if r["bptt_depth"] == depth and r["steps"] == steps]


for depth, steps in ((None, 500), (2, 500), (1, 500), (2, 1500), (1, 1500)):
    name = "full BPTT" if depth is None else f"bptt_depth={depth}"
    print(f"{name:>12}, {steps:>5} steps: answer accuracy of seeds 0, 1, 2: "
          f"{[round(a, 3) for a in seed_accuracies(depth, steps)]}")

# %% tags=["nbval-check-output"]
at_500 = seed_accuracies(2, 500) + seed_accuracies(1, 500)
print("full BPTT copies in every seed (>= 0.95):", min(seed_accuracies(None, 500)) >= 0.95)
print("with 500 steps every truncated run is below 0.2:", max(at_500) < 0.2)
print("with 1,500 steps, bptt_depth=2 passes 0.5 in some seed:", max(seed_accuracies(2, 1500)) > 0.5)
print("bptt_depth=1 stays below 0.2 in every seed, also with 1,500 steps:", max(seed_accuracies(1, 1500)) < 0.2)
assert min(seed_accuracies(None, 500)) >= 0.95 and max(at_500) < 0.2
assert max(seed_accuracies(2, 1500)) > 0.5 and max(seed_accuracies(1, 1500)) < 0.2

# %% [markdown]
# With full BPTT the model copies every digit, in every seed. At 500 steps every truncated run is near chance,
# 0.1: not even digits 8-11 are learned, although their source (segment 1) and their answers (segment 2) both
# sit inside the window of `bptt_depth = 2`, where the gradient flows. The control changes the reading: with
# three times the steps, one seed of `bptt_depth = 2` reaches 0.77 (the other two stay at 0.10 and 0.21), so a
# window of two segments does not make the task impossible, it makes learning much slower and a matter of the
# seed; weight sharing can teach segment 0 to write what segment 1 learns to write. With `bptt_depth = 1`, where
# no gradient crosses any hand-over, every seed stays at chance (at most 0.14). So the two predictions fare
# differently. "The window covers some answers, so those are learned first" fails: at 500 steps the in-window
# digits are at chance like the rest (why is a good open question: Question 6 suggests an experiment). "Weight
# sharing will teach segment 0 anyway" holds for one seed of three with `bptt_depth = 2`, and only with three times
# the steps; with `bptt_depth = 1` for none.
#
# ## Summary
#
# - The RMT's forward pass is a Python loop: `hidden, memory = step(segment, memory)` for each of the `g`
#   segments, starting from a learned memory. Writing it takes ten lines.
# - Training backpropagates through that loop (BPTT): the loss of a late segment reaches every earlier
#   segment through the chain of memories.
# - `bptt_depth = k` detaches the memory before the last `k` segments: gradients outside the window become
#   exactly zero, inside they are unchanged. Test truncation by checking those zeros.
# - Truncation is not free: copy over 3 segments, learned perfectly with full BPTT in 500 steps, stays near
#   chance with `bptt_depth = 2` or `1` at that budget (3 seeds of 3); with three times the steps a window of 2
#   is learned in one seed of 3, a window of 1 in none.
# - Unrolling keeps every segment's activations for the backward pass: memory grows linearly with `g`.
#   Per-segment checkpointing (`memory_flat=True`) keeps only each segment's inputs and re-runs one segment
#   at a time: flat memory, same gradients, one more forward pass of compute.
#
# ## Questions
#
# 1. With `g = 10` and `bptt_depth = 3` (the default `bptt_window="end"`), which segments does the loss of
#    segment 9 reach? The loss of segment 4? And with `bptt_window="each"`?
# 2. Why does `grad_per_segment` call `model.zero_grad` before returning? Would the next call's measurement
#    change without it? What would?
# 3. The learned initial memory (`model.memory`) receives gradient from the last segment's loss only when
#    `bptt_depth >= g`. Which losses train it otherwise?
# 4. Checkpointing keeps each segment's tokens and incoming memory. For the `wikitext` preset (`d = 512`,
#    `m = 16`, `n = 128`, 6 layers) estimate the ratio between one segment's activations and one memory
#    state. What limits the number of segments then?
# 5. Transformer-XL also carries state between segments but never backpropagates into the previous segment
#    (its cache is detached). Which `bptt_depth` of the RMT is the closest analogue?
# 6. Train with `bptt_depth = 2` again, but supervise only answers 8-11 (set the other targets to -100).
#    Are they learned now? What does that tell you about the run above?

# %% [markdown] tags=["answer"]
# **Answers** (the instructor's key; learner copies leave this cell out)
#
# *Predictions.* With `g = 6`: `bptt_depth = 2` zeroes segments 0-3 exactly, `bptt_depth = 1` zeroes 0-4;
# the norms inside the window are unchanged (the cell asserts both). The `reach` pictures: with `"end"` the
# last row is `[4, 5]` and every other row only its own segment; with `"each"` row `i` is `[i - 1, i]`.
# Memory: full BPTT grows linearly with `g`, `memory_flat` stays at about the `g = 1` figure. Copy over 3
# segments: full BPTT solves it, `bptt_depth = 2` and `1` stay near chance at 500 steps. With three times the
# steps: `bptt_depth = 2` learns in one shipped seed of 3 (0.77), `bptt_depth = 1` in none.
#
# 1. `"end"`: the memory entering segments 1-7 is detached, so segment 9's loss reaches segments 7, 8 and 9;
#    segment 4's loss reaches only segment 4 (the memory entering it is detached). `"each"`: segment 9's
#    loss reaches 7-9, segment 4's reaches 2-4: every loss gets its own three segments.
# 2. `.backward()` adds into `.grad`. The measurement itself would not change: it reads the gradients of the
#    embedding outputs, new tensors in every call. What changes is the model: its parameters' gradients would
#    pile up across calls, and the next training step would start from stale gradients.
# 3. The losses of segments inside the last window whose chain reaches segment 0: none with `"end"` unless
#    `bptt_depth >= g`, except the loss of segment 0 itself, which reads the initial memory directly. So the
#    initial memory is trained by segment 0's loss (and, with `"each"`, by the losses of segments `< k`).
# 4. One segment's activations are many tensors of `(b, n + 2m, d)` per layer (inputs of each matrix
#    product, attention outputs, MLP hidden of width `4d`, norms): roughly `l x (n + 2m) x 10 d` numbers per
#    sequence, against `m x d` for a memory state: `6 x 160 x 10 / 16`, about 600 times more. With
#    checkpointing the segments' inputs are then nearly free, and the limit is compute (one more forward pass
#    per segment) and the time of a longer sequential loop, not memory.
# 5. `bptt_depth = 1` (or 0): the memory is carried forward but no gradient crosses a hand-over, as XL's
#    cache. The difference that remains: RMT's memory is a few written vectors, XL's cache is every hidden
#    state of the previous segment.
# 6. Try it; what it tests is whether the other answers' losses got in the way. If answers 8-11 are learned
#    when they are the only ones supervised, the failure above was one of optimisation (the loss of the
#    answers the window cannot explain swamps the rest); if they are not, the window of two segments is too
#    short for the model to learn to use memory at all within this budget.

# %% [markdown]
# ## References
#
# - A. Bulatov, Y. Kuratov, M. S. Burtsev. *Recurrent Memory Transformer.* NeurIPS 2022, arXiv:2207.06881:
#   Sec. 1 and 3, Fig. 1 (memory passed between segments, trained through the recurrence); Sec. 4 (copy).
# - P. J. Werbos. *Backpropagation through time: what it does and how to do it.* Proc. IEEE 78(10), 1990.
# - I. Sutskever. *Training Recurrent Neural Networks.* PhD thesis, University of Toronto, 2013
#   (truncated BPTT).
# - T. Chen, B. Xu, C. Zhang, C. Guestrin. *Training Deep Nets with Sublinear Memory Cost.* arXiv:1604.06174,
#   2016 (gradient checkpointing).
# - PyTorch: `torch.utils.checkpoint`, `torch.autograd.graph.saved_tensors_hooks`.
# - In this repository: `minirmt/model/recurrence.py` (the loop, `bptt_depth`, `memory_flat`), `minirmt/model/rmt.py`.
