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
# # 01 · Segments and memory tokens
#
# **A Recurrent Memory Transformer reads a long sequence one segment at a time, and a few memory tokens
# around each segment carry what it must remember. In this notebook you build that input yourself: the cut
# into segments, the `[read | tokens | write]` layout, and the attention mask that makes it work.**
#
# ### What you will learn
# - cut token ids `(b, s)` into `g` segments of `n` tokens, `(g, b, n)`, with padding, using einops;
# - lay out one segment as `[read m | tokens n | write m]` and say what each block may attend to;
# - draw the attention mask, and recognise a mask that lets the memory see the future;
# - run one memory step by hand and check it against the model.
#
# ### Prerequisites
# You know PyTorch tensors and what a causal (decoder) Transformer does; `einops.rearrange` helps, and each
# pattern is explained. No training here: every cell runs in seconds.
#
# Shapes use the course's letters everywhere: `b` batch, `s` sequence, `g` segments, `n` segment length,
# `m` memory tokens, `d` model width, `h` heads, `l` layers, `v` vocabulary.

# %% [markdown]
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/minirmt/minirmt/blob/v0.1.0/notebooks/exercises/01_segments_and_memory.ipynb) (the learner copy)
#
# *This is the instructor's copy: it holds the worked solutions and the answer key. Learners open `notebooks/exercises/01_segments_and_memory.ipynb`.*

# %% tags=["nbval-skip"]
# On Colab, install this release of minirmt (elsewhere this cell does nothing).
import sys

if "google.colab" in sys.modules:
    import subprocess

    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "minirmt @ git+https://github.com/minirmt/minirmt@v0.1.0"], check=True)

# %%
import torch
from einops import rearrange

import minirmt
from minirmt import build_model, viz
from minirmt.course import checks, nb, widgets
from minirmt.data import tasks
from minirmt.model import masks, segments

nb.setup()

# %% [markdown]
# ## 1. Why segments?
#
# Self-attention compares every position with every other one, so its cost grows with the square of the
# length; in the words of the RMT paper's abstract, "the length of an input sequence is limited by quadratic
# computational complexity of self-attention". The Recurrent Memory Transformer (RMT; Bulatov, Kuratov &
# Burtsev, NeurIPS 2022) cuts the sequence into `g` segments of `n` tokens and processes them one after the
# other, passing a small memory from each segment to the next: it adds "special memory tokens to the input or
# output sequence" and uses them "to pass information between segments of the long sequence with the help of
# recurrence" (abstract; Sec. 3, Fig. 1).
#
# Each segment attends over its `n` tokens plus `2m` memory slots, so the cost per segment is fixed and the
# total grows linearly with `s`. Count the attention scores of one layer and one head:

# %% tags=["nbval-check-output"]
n, m = 128, 16
for s in (512, 2048, 8192, 32768):
    g = segments.num_segments(s, n)
    print(f"s = {s:>6}: full attention {s * s:>13,} scores   RMT {g:>3} segments x {(n + 2 * m) ** 2:,} = {g * (n + 2 * m) ** 2:>11,}")

# %% [markdown]
# The price: a token can no longer look at earlier segments directly. Whatever it needs from them must
# travel through the memory. That is the whole game of the course.
#
# ## 2. A long sequence
#
# We use a copy task like the paper's (Sec. 4, "Algorithmic Tasks"): read some digits, then after a "go" symbol (`>`) write them
# again. With segments of `n = 8` tokens and `g = 3` segments, the copy has to come from an earlier segment,
# so a model without memory cannot do it. `task.render` draws one sequence, with `|` between segments and
# `.` where nothing is asked.

# %% tags=["nbval-check-output"]
n = 8
task = tasks.make_task("copy", segment_len=n)
tokens, targets = task.sample(batch_size=4, num_segments=3, generator=torch.Generator().manual_seed(0))
print("tokens", tuple(tokens.shape), "targets", tuple(targets.shape))  # (b, s) = (4, 24)
print(task.render(tokens[0], targets[0]))

# %%
viz.plot_segments(tokens[0], n=n)  # the token ids of sequence 0 (0 = pad, 1 = go, 2.. = digits 0..9)

# %% [markdown]
# ## 3. Cutting into segments with einops
#
# The model wants the segments one after another: time first, `(g, b, n)`. One `rearrange` does it. Read
# `"b (g n) -> g b n"` as: the sequence axis is really `g` blocks of `n` consecutive tokens; pull the blocks
# out in front.

# %% tags=["nbval-check-output"]
stacked = rearrange(tokens, "b (g n) -> g b n", n=n)  # (g, b, n)
print(tuple(stacked.shape))
print(torch.equal(stacked[1, 0], tokens[0, 8:16]))  # segment 1 of sequence 0 is tokens 8..15

# %% [markdown]
# The order inside the parentheses matters. `(g n)` means "g blocks of n"; `(n g)` means "n blocks of g",
# which takes every g-th token, a *strided* cut. Both give the same shape, so only the values tell them
# apart. **Predict** what `(n g)` puts in segment 0 of the ids 0..11 with `n = 4`, then run:

# %% tags=["nbval-check-output"]
ids = torch.arange(12).unsqueeze(0)  # (b, s) = (1, 12)
print("b (g n):", rearrange(ids, "b (g n) -> g b n", n=4)[:, 0].tolist())
print("b (n g):", rearrange(ids, "b (n g) -> g b n", n=4)[:, 0].tolist())

# %% [markdown]
# Real sequences are rarely a whole number of segments. With `s = 21` and `n = 8` we need
# `g = ceil(21 / 8) = 3` segments, so the sequence is padded on the right with a pad id. The library has the
# pieces (`minirmt.model.segments`): `num_segments`, `pad_to_segments`, `stack`, and `split` / `merge`, which cut a
# tensor into a *list* of segments and glue them back (the model's loop uses those).

# %% tags=["nbval-check-output"]
short = tokens[:2, :21]  # (b, s) = (2, 21)
print("g =", segments.num_segments(21, n))
print(tuple(segments.pad_to_segments(short, n, value=0).shape))  # (b, g * n)
print([tuple(piece.shape) for piece in segments.split(short, n)])  # the last segment is shorter
print(torch.equal(segments.merge(segments.split(short, n)), short))

# %% [markdown]
# ### Exercise 01.1: split into segments
#
# Write `split_segments(tokens, n, pad_id)`: token ids `(b, s)` in, `(g, b, n)` out, the last segment padded
# on the right with `pad_id`. Use `torch.nn.functional.pad` (or `segments.pad_to_segments`) and one
# `rearrange`. The checker tries a few shapes, some of which do not divide evenly.

# %%
def split_segments(tokens, n, pad_id):
    """Token ids `(b, s)` -> segments `(g, b, n)`, g = ceil(s / n), right-padded with pad_id."""
    ### BEGIN SOLUTION
    s = tokens.shape[1]
    g = -(-s // n)  # ceil(s / n)
    padded = torch.nn.functional.pad(tokens, (0, g * n - s), value=pad_id)  # (b, g * n)
    return rearrange(padded, "b (g n) -> g b n", n=n)
    ### END SOLUTION


# %% tags=["nbval-check-output"]
split_segments = checks.check_split_segments(split_segments)

# %% [markdown]
# ## 4. Memory tokens: `[read | tokens | write]`
#
# The memory is `m` vectors of width `d`, a tensor `(m, d)` per sequence. Before the first segment it is a
# learned parameter; after each segment it is whatever the model wrote. For a decoder (a causal language
# model), the paper puts the memory **twice** around every segment (Sec. 3, Fig. 2):
#
# - **read slots** in front: the tokens attend to them, which is how the segment reads the memory;
# - **write slots** behind: with causal attention they see the whole segment, and their outputs become the
#   memory for the next segment.
#
# Both hold the *same* current memory; only their positions differ. Here is the copy sequence as the model
# sees it, with `m = 4`: R marks a read slot and W a write slot.

# %%
viz.plot_segments(tokens[0], n=n, m=4)

# %% [markdown]
# Now with a real (untrained) model. `preset("tiny")` has `d = 32`, `n = 8`, `m = 4`, two layers of two heads.
# The model's `initial_state` repeats its learned memory over the batch; `backbone.embed` turns ids into
# vectors; a `torch.cat` along the position axis lays out the input.

# %% tags=["nbval-check-output"]
cfg = minirmt.preset("tiny", vocab_size=task.vocab_size)
model = build_model("rmt", cfg, seed=0).eval()
m, d = cfg.num_mem_tokens, cfg.d_model

memory = model.initial_state(batch_size=4)  # (b, m, d)
x = model.backbone.embed(stacked[0])  # segment 0: ids (b, n) -> vectors (b, n, d)
inputs = torch.cat([memory, x, memory], dim=1)  # (b, m + n + m, d)
print("memory", tuple(memory.shape), " segment", tuple(x.shape), " input", tuple(inputs.shape))

# %% [markdown]
# ## 5. The attention mask
#
# Which position may attend to which? Write the rules down first:
#
# 1. a token sees every read slot (that is reading) and the tokens up to itself (causal);
# 2. a write slot sees every read slot and every token (that is writing), and the write slots up to itself;
# 3. a read slot sees only read slots up to itself: it carries the memory from *before* the segment (this is
#    the default; Section 5 ends with the paper's other choice).
#
# **Predict:** are these three rules anything more than an ordinary causal mask over the `2m + n` positions?
# Then look at the picture: query positions down, key positions across, light where attention is allowed (as in the attention maps
# later on, light means attention can flow).

# %%
viz.plot_mask(masks.rmt_decoder(m, n), m, n)

# %% [markdown]
# It *is* the plain causal mask: put the memory in the right places and the ordinary decoder does the rest.
# That is why the model can use PyTorch's fused causal attention (`scaled_dot_product_attention(is_causal=True)`)
# and never builds this matrix. Move the sliders to see how the blocks scale with `m` and `n`:

# %% tags=["nbval-ignore-output"]
widgets.mask_explorer(m=4, n=8)

# %%
viz.plot_mask(masks.rmt_decoder(2, 12), 2, 12)  # the same view, saved: m = 2, n = 12

# %% [markdown]
# ### Inside a memory block: causal or block
#
# Rule 3 is a choice. The paper's Sec. 3 makes the other one: "we allow all memory tokens in the read/write
# block to access all other tokens in the same block. The causal attention mask is applied only to tokens of
# the input sequence", and the authors' language-model code does so. Their later Hugging Face implementation
# keeps the plain causal mask, as `minirmt` does by default. `ModelConfig(memory_mask="block")` gives the
# paper's mask: each memory block sees all of itself; nothing else changes. **Predict** which cells differ.

# %%
viz.plot_mask(masks.rmt_decoder_block(m, n), m, n, title="memory_mask='block': each memory block sees itself")

# %% tags=["nbval-check-output"]
differ = masks.rmt_decoder_block(m, n) & ~masks.rmt_decoder(m, n)  # allowed by block, not by causal
rows, cols = differ.nonzero().unbind(1)
inside_read = (rows < m) & (cols < m)
inside_write = (rows >= m + n) & (cols >= m + n)
print("the masks differ only inside the read block and inside the write block:", bool((inside_read | inside_write).all()))
print("cells that differ:", int(differ.sum()), "= 2 x m(m - 1)/2 =", m * (m - 1))

# %% [markdown]
# With the block mask a token still sees no token after it, so the language model is still causal; only the
# memory slots see each other both ways. The fused kernel then takes the mask as an explicit matrix. Which of
# the two learns faster is an empirical question; the paper does not compare them.
#
# ### The encoder form: a classifier
#
# The paper's overview (Fig. 1) also has an **encoder** form, for classification: only `[memory | tokens]`,
# no mask at all, so every position sees every other and the memory slots read the whole segment.

# %%
viz.plot_mask(masks.rmt_encoder(m, n), m, n, title="encoder form: [memory | tokens], no mask")

# %% [markdown]
# Without a mask, a token also sees the token *after* it, so the encoder form cannot be trained to predict the
# next token: each position would read its own answer. In `minirmt` it is a classifier
# (`memory_form="encoder"` with `num_classes`): after the last segment it reads a class from the memory.
# Asked for next-token targets, it refuses:

# %% tags=["nbval-check-output"]
encoder = build_model("rmt", minirmt.preset("tiny", vocab_size=task.vocab_size, memory_form="encoder",
                                            num_classes=3), seed=0)
print("class logits", tuple(encoder(tokens, labels=torch.tensor([0, 1, 2, 0])).logits.shape))  # (b, y)
try:
    encoder(tokens, targets=targets)
except ValueError as error:
    print("ValueError:", error)

# %% [markdown]
# ### Exercise 01.2: build the mask from the rules
#
# Write `rmt_mask(m, n)`: a boolean `(2m + n, 2m + n)` matrix, True where query `i` may attend to key `j`.
# Build it **block by block** from the three rules (start from all False and switch blocks on), not with
# `tril`; then compare with the picture. The checker tells you which block is wrong and why it matters.

# %%
def rmt_mask(m, n):
    """The decoder RMT's attention mask over [read m | tokens n | write m]: bool `(2m + n, 2m + n)`."""
    ### BEGIN SOLUTION
    t = 2 * m + n
    read, toks, write = slice(0, m), slice(m, m + n), slice(m + n, t)
    causal = torch.ones(t, t, dtype=torch.bool).tril()
    mask = torch.zeros(t, t, dtype=torch.bool)
    mask[read, read] = causal[read, read]  # read slots: earlier read slots only
    mask[toks, read] = True  # rule 1: tokens read the memory ...
    mask[toks, toks] = causal[toks, toks]  # ... and see earlier tokens
    mask[write, read] = True  # rule 2: write slots see the old memory,
    mask[write, toks] = True  # the whole segment,
    mask[write, write] = causal[write, write]  # and earlier write slots
    return mask
    ### END SOLUTION


# %% tags=["nbval-check-output"]
rmt_mask = checks.check_rmt_mask(rmt_mask)

# %% [markdown]
# ### Experiment: memory only at the start?
#
# Why not save `m` positions and use `[memory | tokens]` with the causal mask, taking the memory's outputs
# as the next memory? **Predict** whether the first `m` outputs change when the segment's tokens change.
# Then run: we feed two different segments with the same memory and compare the outputs at the front slots
# and at the write slots.

# %% tags=["nbval-check-output"]
gen = torch.Generator().manual_seed(1)
segment_a = torch.randint(2, task.vocab_size, (1, n), generator=gen)  # (b, n)
segment_b = torch.randint(2, task.vocab_size, (1, n), generator=gen)
mem = model.initial_state(batch_size=1)  # (b, m, d)


def front_only(seg):
    """[memory | tokens], causal: the memory's outputs are the first m positions."""
    return model.backbone(torch.cat([mem, model.backbone.embed(seg)], dim=1), causal=True)[0][:, :m]


def write_slots(seg):
    """[read | tokens | write], causal: the memory's outputs are the last m positions."""
    return model.backbone(torch.cat([mem, model.backbone.embed(seg), mem], dim=1), causal=True)[0][:, -m:]


with torch.no_grad():
    print("front slots depend on the segment:", not torch.allclose(front_only(segment_a), front_only(segment_b)))
    print("write slots depend on the segment:", not torch.allclose(write_slots(segment_a), write_slots(segment_b)))

# %% [markdown]
# With a causal mask the front slots come before every token, so they can never see the segment: a memory
# read from there would carry nothing forward, however long you train: the experiment shows it for one untrained
# model, and the mask says why it holds for every model, trained or not. The write slots are what make the
# recurrence work.
#
# ## 6. One memory step
#
# Put it together: one segment of ids and the current memory in, the hidden states of the tokens and the new
# memory out. This is `RecurrentMemoryTransformer.step` (see `minirmt/model/rmt.py`); the vocabulary head turns
# the hidden states into logits afterwards.
#
# ### Exercise 01.3: the RMT step
#
# Write `rmt_step(model, tokens, memory)`: `tokens (b, n)`, `memory (b, m, d)` -> `(hidden (b, n, d),
# new_memory (b, m, d))`. Use `model.backbone.embed`, `torch.cat`, and
# `model.backbone(inputs, causal=True)`, which returns `(outputs (b, t, d), per-layer inputs, attention)`;
# keep only the outputs. Then slice: the tokens' outputs are the hidden states, the write slots' outputs
# are the new memory.

# %%
def rmt_step(model, tokens, memory):
    """One decoder RMT segment: `tokens (b, n)`, `memory (b, m, d)` -> `(hidden (b, n, d), new memory (b, m, d))`."""
    ### BEGIN SOLUTION
    m, n = memory.shape[1], tokens.shape[1]
    x = model.backbone.embed(tokens)  # (b, n, d)
    out = model.backbone(torch.cat([memory, x, memory], dim=1), causal=True)[0]  # (b, m + n + m, d)
    return out[:, m : m + n], out[:, m + n :]
    ### END SOLUTION


# %% tags=["nbval-check-output"]
rmt_step = checks.check_rmt_step(rmt_step)

# %% [markdown]
# A loop over segments with your step is already a whole RMT forward pass (notebook 02 is about this loop
# and about training through it). **Predict**, then check that it gives the model's logits:

# %% tags=["nbval-check-output"]
with torch.no_grad():
    memory = model.initial_state(batch_size=tokens.shape[0])  # (b, m, d)
    logits = []
    for segment in split_segments(tokens, n, pad_id=0):  # (b, n) each, in time order
        hidden, memory = rmt_step(model, segment, memory)
        logits.append(model.backbone.head(hidden))  # (b, n, v)
    ours = torch.cat(logits, dim=1)  # (b, s, v)
    out = model(tokens)
print(tuple(ours.shape), torch.allclose(ours, out.logits, atol=1e-5))
print(torch.allclose(memory, out.memory, atol=1e-5))  # the final memory (b, m, d) agrees too

# %% [markdown]
# ## 7. What the model attends to
#
# `model(tokens, return_attention=True)` also returns the attention weights: per segment, per layer, a
# tensor `(b, h, i, j)` laid out `[read | tokens | write]` on both axes. `viz.stack_attentions` stacks one
# sequence's weights into `(g, l, h, i, j)`. Here are both heads of layer 0 in every segment, for this
# **untrained** model:

# %%
with torch.no_grad():
    attention = viz.stack_attentions(model(tokens, return_attention=True).attentions)  # (g, l, h, i, j)
print(tuple(attention.shape))
viz.plot_attention_grid(attention[:, 0], m, n, row_label="segment", title="untrained model, layer 0")

# %% [markdown]
# The weights fill exactly the triangle you built, spread almost evenly over what each query may see: an
# untrained model has no reason to prefer anything. Notebook 05 opens the same maps for a trained model, to
# see how it reads and writes its memory.
#
# ## Summary
#
# - A long sequence `(b, s)` becomes `g = ceil(s / n)` segments `(g, b, n)`: pad on the right, then
#   `rearrange(x, "b (g n) -> g b n")`. `(n g)` would cut it strided, with the same shape.
# - The decoder RMT's segment input is `[read m | tokens n | write m]`, both memory blocks holding the same
#   current memory `(b, m, d)`; the outputs at the write slots are the next memory.
# - The mask over that input is just the causal mask: tokens read the read slots, the write slots see the
#   whole segment, nothing sees the future. Memory only in front of a causal segment cannot be written.
#   The paper's own mask (`memory_mask="block"`) also lets each memory block see all of itself.
# - The encoder form has no mask: it classifies (a class read from the memory), and refuses next-token
#   targets, which every position could read.
# - One memory step is embed, concatenate, run the backbone, slice; a loop over segments is the model.
#
# ## Questions
#
# 1. With `s = 4096`, `n = 512`, `m = 16`, how many attention scores per layer and head does full attention
#    compute, and how many does the RMT? What is the ratio for `s = 65536`?
# 2. The read and the write slots hold the same vectors. What makes their outputs differ?
# 3. In the encoder form the memory sees its whole segment. Why is that fine for classifying a document, but
#    not for a language model that predicts each next token?
# 4. A task pads each sequence to whole segments. What would go wrong if the padding went at the start?
# 5. Suppose the read slots could also see the tokens (the mistake the checker calls "the memory would see
#    the future"). Which positions could then learn about later tokens, and through which path?

# %% [markdown] tags=["answer"]
# **Answers** (the instructor's key; learner copies leave this cell out)
#
# *Predictions.* The three rules are exactly the causal mask over `[read | tokens | write]`. The block mask
# differs from it in `m(m - 1)` cells, all inside the two memory blocks. With memory only at the front, the
# first `m` outputs do not depend on the segment (the check prints False for the front slots, True for the
# write slots). Your loop of `rmt_step` reproduces the model's logits and final memory (True, True).
#
# 1. Full attention: `4096^2 = 16,777,216` scores. RMT: `g = 8` segments of `(512 + 32)^2 = 295,936`, so
#    `2,367,488`, about 7 times fewer. At `s = 65536`: `4.29e9` against `128 x 295,936 = 3.79e7`, about 113
#    times fewer: the ratio grows linearly with `s` (it is about `s / n` for `m << n`).
# 2. Their positions: a read slot sits before the tokens and, under the causal mask, sees only read slots; a
#    write slot sits after them and sees the whole segment. Same input vectors, different context, different
#    outputs (and different positional phases in the rotary attention).
# 3. A classifier predicts one label for the whole document, so it may look at everything; there is nothing
#    to leak. A language model's target at position `i` is token `i + 1`, which an unmasked position `i` can
#    see: it would learn to copy it and nothing else (its loss falls even on random tokens).
# 4. For one sequence, nothing breaks outright: the memory would read padding first and carry on. But every
#    token would move by the amount of padding, so where a segment boundary falls in the content would change
#    from one length to the next, and a text continued in the next batch (notebook 08) would have padding in
#    the middle of it. Right padding keeps every real token where it was and puts the padding after the
#    content, where nothing is asked.
# 5. The read slots would see the segment's tokens; every token reads the read slots, so token `i` could
#    learn about tokens after it through them (token `j > i` -> read slot -> token `i`), within one layer's
#    next step. Predicting the next token would become copying it.

# %% [markdown]
# ## References
#
# - A. Bulatov, Y. Kuratov, M. S. Burtsev. *Recurrent Memory Transformer.* NeurIPS 2022, arXiv:2207.06881:
#   abstract; Sec. 3, Figs. 1 and 2 (memory tokens, read and write slots, the memory mask); Sec. 4 (copy,
#   reverse, associative retrieval).
# - Z. Dai et al. *Transformer-XL: Attentive Language Models Beyond a Fixed-Length Context.* ACL 2019 (the
#   segment-level recurrence RMT builds on; notebook 06).
# - A. Rogozhnikov. *Einops: Clear and Reliable Tensor Manipulations with Einstein-like Notation.* ICLR 2022.
# - In this repository: `minirmt/model/segments.py`, `minirmt/model/masks.py`, `minirmt/model/rmt.py`.
