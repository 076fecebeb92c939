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
# # 00 · A tour of the Recurrent Memory Transformer
#
# **In five minutes: a tiny Recurrent Memory Transformer that copies digits it can no longer see, trained
# beside a model without memory, and a look at what it keeps in its memory.**
#
# ### What you will learn
# - why a Transformer that reads a long sequence segment by segment forgets, and how memory tokens fix it;
# - what the RMT's input `[read memory | tokens | write memory]` is and how the memory goes from one segment
#   to the next;
# - how to train one with `minirmt`, next to a model without memory;
# - how to look inside: an attention map of the memory, and an experiment that wipes or swaps the memory.
#
# ### Prerequisites
# Python and a little PyTorch (tensors, `model(x)`, a loss). Nothing about RMT: this tour shows the whole
# idea once; notebooks 01 to 09 take each piece apart. The two models trained here ship with the package, so
# the tour runs in seconds; set `TRAIN_LIVE = True` below to train them yourself (about a minute on a laptop).

# %% [markdown]
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/minirmt/minirmt/blob/v0.1.0/notebooks/exercises/00_tour.ipynb) (the learner copy)
#
# *This is the instructor's copy: it holds the worked solutions and the answer key. Learners open `notebooks/exercises/00_tour.ipynb`.*

# %% tags=["nbval-skip"]
# On Colab, install this release of minirmt (elsewhere this cell does nothing).
import sys

if "google.colab" in sys.modules:
    import subprocess

    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "minirmt @ git+https://github.com/minirmt/minirmt@v0.1.0"], check=True)

# %%
from minirmt.course import nb

nb.setup()

# %% [markdown]
# The line above names the **run mode**: `lab` (a laptop CPU, the default: shipped runs are read, small ones
# trained), `ci` (the tests: tiny, seconds) or `full` (a GPU: the larger experiments are trained). Every notebook
# reads it from the environment variable `MINIRMT_MODE`: set it before Jupyter starts (`MINIRMT_MODE=full jupyter
# lab`), or at the top of a notebook (`os.environ["MINIRMT_MODE"] = "full"`, then run it from the start).
#
# ## 1. The idea
#
# Self-attention lets every token look at every other token, at a cost that grows with the square of the
# length. The RMT paper puts the problem this way: "the length of an input sequence is limited by quadratic
# computational complexity of self-attention" (Bulatov et al., 2022, abstract).
#
# The cheap way out is to cut the sequence into **segments** of `n` tokens and run the Transformer on one
# segment at a time: the cost grows linearly with the length, but a segment cannot see the ones before it.
#
# The Recurrent Memory Transformer keeps the Transformer exactly as it is and adds `m` **memory tokens**:
# "We implement a memory mechanism with no changes to Transformer model by adding special memory tokens to
# the input or output sequence" (abstract). In the decoder form (Sec. 3, Fig. 2) each segment's input is
#
# ```
# [ read memory (m) | the segment's tokens (n) | write memory (m) ]
# ```
#
# Both memory blocks hold the current memory. Attention is causal, so the tokens can *read* the memory at the
# start, and the write slots at the end see the whole segment. Their outputs become the memory of the next
# segment: a recurrence, like an RNN whose state is `m` vectors. Training backpropagates through that chain of
# memories (backpropagation through time), so the model learns what to write.
#
# Here is one sequence of the task we will train on, cut into segments, as the RMT sees it
# (`R` = read slots, `W` = write slots):

# %%
import torch

from minirmt import build_model, viz
from minirmt.course import pretrained, widgets
from minirmt.training import metrics
from minirmt.training.task_loop import train

TRAIN_LIVE = False  # True: train the two models here (about a minute on a laptop CPU) instead of loading them
recipe = pretrained.run_of("tour-rmt")  # the settings of this tour's runs (task, model, training)
task, cfg, config = recipe.task, recipe.model_config, recipe.train_config
n, m, g = cfg.segment_len, cfg.num_mem_tokens, config.segments  # segment length, memory tokens, segments

tokens, targets = task.sample(batch_size=4, num_segments=g, generator=torch.Generator().manual_seed(0))
print(task.render(tokens[0], targets[0]))  # `|` separates segments, `.` = nothing to predict there
viz.plot_segments(tokens[0], n, m, title="token ids: 0 = pad, 1 = GO, digit k = k + 2")

# %% [markdown]
# **The copy task** (paper, Sec. 4, "Algorithmic Tasks"): read some digits, then, after the `>` (GO) token, write them again. The
# targets line shows what the model must predict at each position. The digits to copy sit in earlier
# segments than the answers, so a model that sees one segment at a time has nothing to go on: its best
# guess is a random digit, with accuracy `1 / number of digits`. The picture shows the same sequence as token
# ids, the numbers the model reads: digit k is id k + 2, since ids 0 and 1 are the pad and GO tokens.

# %% tags=["nbval-check-output"]
s = g * n
print("tokens and targets are (b, s) with s = g * n:", tuple(tokens.shape) == (4, s) == tuple(targets.shape))
answers = (targets[0] != -100).nonzero().flatten()  # positions t where an answer is asked
sources = answers - (s - len(answers))  # where the digit to write at t was read
print("the answer at t repeats the digit at its source:", bool((targets[0, answers] == tokens[0, sources]).all()))
print("every source lies in an earlier segment than its answer:", bool((sources // n < answers // n).all()))

# %% [markdown]
# ## 2. The model
#
# `minirmt` builds every model from one configuration. The RMT and the segment-only baseline share the same
# backbone (embeddings, blocks, output head); they differ only in what crosses a segment boundary: the
# memory, or nothing.

# %%
rmt = build_model("rmt", cfg, seed=0)  # cfg: d = 64, 2 layers, 4 heads, m = 8, n = 8
out = rmt(tokens, targets=targets)
print(cfg)
print("logits  ", tuple(out.logits.shape), "  (b, s, v)")
print("memory  ", tuple(out.memory.shape), "  (b, m, d): what the next segment would read")
print("memories", len(out.memories), "states, one after each segment")
print(f"loss     {out.loss.item():.3f}  (untrained: about ln v = {torch.log(torch.tensor(cfg.vocab_size)).item():.3f})")

# %% tags=["nbval-check-output"]
b, v = tokens.shape[0], cfg.vocab_size
print("logits (b, s, v):", tuple(out.logits.shape) == (b, s, v))
print("memory (b, m, d):", tuple(out.memory.shape) == (b, cfg.num_mem_tokens, cfg.d_model))
print("one memory state per segment:", len(out.memories) == g)

# %% [markdown]
# ## 3. Train it, next to a model without memory
#
# **Predict first.** Chance is `1 / number of digits` (printed below). After the same number of training
# steps, what accuracy on the answers do you expect from the segment-only model? From the RMT?
#
# Both models get the same task, the same number of steps and the same optimiser (AdamW, warm-up then
# cosine; see `minirmt/training/task_loop.py`). Accuracy is measured on held-out sequences, on answer positions
# only. The runs ship with the package; with `TRAIN_LIVE = True` this cell trains them (progress bars).

# %%
print(config)
if TRAIN_LIVE:
    runs = {name: train(build_model(name, cfg, seed=0), task, config) for name in ("rmt", "segment")}
else:  # made by `python -m minirmt.course.pretrained tour-rmt tour-segment`, with the settings printed above
    runs = {name: pretrained.trained(f"tour-{name}") for name in ("rmt", "segment")}
print(f"chance: {task.chance_accuracy:.2f}  (accuracy: the share of answer digits right; exact match: the share of "
      "sequences with every answer right)")
for name, run in runs.items():
    print(f"{name:8s} accuracy {run.metrics['eval_accuracy']:.3f}  exact match {run.metrics['eval_exact_match']:.3f}")

# %%
viz.plot_curves({name: run.history for name, run in runs.items()}, metrics=("loss", "eval_accuracy"))

# %% tags=["nbval-check-output"]
rmt_accuracy = runs["rmt"].metrics["eval_accuracy"]
segment_accuracy = runs["segment"].metrics["eval_accuracy"]
print("RMT learned to copy (accuracy > 0.9):", rmt_accuracy > 0.9)
print("segment-only stays near chance:", abs(segment_accuracy - task.chance_accuracy) < 0.15)
assert rmt_accuracy > 0.9 and abs(segment_accuracy - task.chance_accuracy) < 0.15

# %% [markdown]
# The segment-only model never sees the digits it must write: it stays at chance however long it trains.
# The RMT carries them across the boundary in `m` vectors.
#
# ## 4. Look inside the memory
#
# **Is the answer really in the memory?** Run the trained RMT over all segments but the last, then run the
# last segment three times: with the memory it wrote, with the memory wiped (the learned initial memory, as
# at the start of a sequence), and with the memory of *another* sequence of the batch. Predict what each
# will do before you run it.

# %%
rmt = runs["rmt"].model.cpu().eval()
tokens, targets = task.sample(batch_size=256, num_segments=g, generator=torch.Generator().manual_seed(1))
cut = (g - 1) * n  # the last segment starts here
other = targets.roll(1, dims=0)  # the answers of the neighbouring sequence in the batch


def answer_accuracy(logits, answers):
    """Accuracy on the answer positions (answers != -100); notebook 03 builds this metric as an exercise."""
    return metrics.answer_accuracy(logits, answers)[0]


with torch.no_grad():
    memory = rmt(tokens[:, :cut]).memory  # (b, m, d): written by the first g - 1 segments
    last = tokens[:, cut:]  # (b, n)
    experiments = {
        "its own memory": rmt(last, memory=memory).logits,
        "memory wiped": rmt(last).logits,
        "another sequence's memory": rmt(last, memory=memory.roll(1, dims=0)).logits,
    }
print("accuracy on the last segment's answers")
print(f"{'':28s} {'its own answers':>16s} {'the other sequence':>19s}")
for name, logits in experiments.items():
    print(f"{name:28s} {answer_accuracy(logits, targets[:, cut:]):16.2f} {answer_accuracy(logits, other[:, cut:]):19.2f}")

# %% tags=["nbval-check-output"]
own = answer_accuracy(experiments["its own memory"], targets[:, cut:])
wiped = answer_accuracy(experiments["memory wiped"], targets[:, cut:])
swapped = answer_accuracy(experiments["another sequence's memory"], other[:, cut:])
swapped_own = answer_accuracy(experiments["another sequence's memory"], targets[:, cut:])
print("wiping the memory drops accuracy to chance or below (within 0.05):", wiped < task.chance_accuracy + 0.05 < own)
print("with another sequence's memory, it mostly writes that sequence's digits:", swapped > 0.5)
print("... and its own digits no better than chance (within 0.1):", swapped_own < task.chance_accuracy + 0.1)
assert wiped < task.chance_accuracy + 0.05 < own and swapped > 0.5 and swapped_own < task.chance_accuracy + 0.1

# %% [markdown]
# Everything the last segment knows about the digits comes through the `m` memory vectors: wipe them and
# accuracy falls to chance or below; hand it another sequence's memory and it writes mostly *that* sequence's digits, and its
# own no better than chance, although each answer it has already written is fed back to it as the next input
# (after the GO token): the digits it writes come from the memory.
#
# **Where does it read and write?** With `return_attention=True` the model also returns its attention weights,
# per segment and layer `(b, h, i, j)` for query `i` and key `j`, laid out `[read | tokens | write]`. Below: the
# head that reads the memory most in the last segment. Left, the tokens attending to the read slots; right,
# the write slots attending to the old memory and the segment's tokens.

# %%
with torch.no_grad():
    out = rmt(tokens[:1], return_attention=True)
attention = viz.stack_attentions(out.attentions)  # (g, l, h, i, j), i = j = m + n + m
reads = attention[-1, :, :, m : m + n, :m].sum(-1).mean(-1)  # (l, h): attention mass from tokens to read slots
layer, head = divmod(int(reads.argmax()), attention.shape[2])
print(f"attention {tuple(attention.shape)} = (g, l, h, i, j); strongest reader: layer {layer}, head {head}")
viz.plot_read_write(attention[-1, layer, head], m, n, title=f"last segment, layer {layer}, head {head}")

# %% tags=["nbval-check-output"]
read_slot = attention[-1, layer, head, m + 1 : m + n, :m].argmax(-1)  # (n - 1,): the slot each token reads most
print("the slot each token position 1..7 reads most:", read_slot.tolist())
print("in order (never going back):", bool((read_slot.diff() >= 0).all()))
assert (read_slot.diff() >= 0).all()

# %% [markdown]
# Read the left map row by row: from position 1 on, most tokens read mostly one slot, and the slot moves on as
# the position does, a diagonal. In the last segment the positions are answers, so the answers look up the slots
# one after another, in order: what you would expect if each slot held one digit, in the order they were
# written. The figure cannot tell what a slot holds; notebook 05 tests it with a probe.

# %% [markdown]
# Move the sliders to see every segment, layer and head. Look for heads whose write slots attend to the
# digits (that is where the memory is written) and heads whose write slots attend to the read slots (the
# memory carried over from the segment before).

# %% tags=["nbval-ignore-output"]
widgets.attention_explorer(out.attentions, m, n, view="read_write")

# %%
writes = attention[0, :, :, m + n :, m : m + n].sum(-1).mean(-1)  # (l, h): mass from write slots to the tokens
layer, head = divmod(int(writes.argmax()), attention.shape[2])
viz.plot_read_write(attention[0, layer, head], m, n, title=f"first segment, layer {layer}, head {head}: the strongest writer")

# %% tags=["nbval-check-output"]
focus = attention[0, layer, head, m + n :, m : m + n].max(-1).values  # (m,): each write slot's largest weight on a token
print("each write slot's largest attention weight on one token:", [round(w, 2) for w in focus.tolist()])
print("write slots that put over half their attention on a single token:", int((focus > 0.5).sum()), "of", m)
assert (focus > 0.5).sum() >= m // 2

# %% [markdown]
# Here the right half tells the story: in the first segment, where the digits are, most write slots put most of
# their attention on a single token. That is a route by which a segment's digits can get into the memory: a write
# slot's output becomes a read slot of the next segment. Attention shows where information *can* flow; that the
# digits do travel through the memory is what the wipe and swap experiments above showed.

# %% [markdown]
# **How does the memory change from segment to segment?** The cosine similarity between the memory states
# of one sequence (each state `(m, d)` flattened): 1 means unchanged.

# %%
states = [rmt.initial_state(1)] + out.memories
viz.plot_memory_similarity(states, names=viz.state_names(len(states)),
                           title="memory states: initial, then after each segment")

# %% tags=["nbval-check-output"]
similarity = viz.memory_similarity(states)  # (g + 1, g + 1)
print(f"initial against after segment 0: {similarity[0, 1]:.2f}")
print("each state against the next one:", [round(similarity[k, k + 1].item(), 2) for k in range(1, len(states) - 1)])
assert similarity[0, 1] < 0.3 and all(similarity[k, k + 1] > 0.7 for k in range(1, len(states) - 1))

# %% [markdown]
# The first segment replaces the initial memory almost entirely (a similarity near 0); after that, neighbouring
# states are much alike. Does that mean each segment changes the memory only in part? A control: the memories of
# two *different* sequences, after the same segment. They hold different digits, so whatever similarity they
# share is not about the digits.

# %%
with torch.no_grad():
    second_memories = rmt(tokens[1:2]).memories  # a second sequence: other digits
between = [torch.nn.functional.cosine_similarity(a.flatten(), b.flatten(), dim=0).item()
           for a, b in zip(out.memories, second_memories)]
print("sequence 0 against sequence 1, after the same segment:", [round(v, 2) for v in between])

# %% tags=["nbval-check-output"]
print("two sequences' memories are as alike as neighbouring states of one (above 0.7):", min(between) > 0.7)
assert min(between) > 0.7

# %% [markdown]
# Two sequences with different digits have memories about as similar as neighbouring states of one sequence.
# So most of what a state holds is the same whatever the digits (a shared part the model writes every time),
# and a high similarity between states does not say how much of the *content* changed. The digits live in a
# smaller part of each state; notebook 05 reads them out with probes, which is the right tool for that question.

# %% [markdown]
# ## Summary
#
# - A Transformer run segment by segment is cheap (linear in the length) but forgets everything outside
#   the segment: on copy it sits at chance.
# - RMT adds `m` memory tokens, `[read | tokens | write]`: tokens read the memory, the write slots summarise
#   the segment, and their outputs become the next segment's memory. Nothing else in the Transformer changes.
# - Trained with backpropagation through the memories, a tiny RMT copies digits across segments; wiping or
#   swapping its memory shows that the digits really travel there.
#
# ## Questions
#
# 1. The memory has `m * d` numbers, each a 32-bit float. How many bits is that, and how many digits would fit
#    in that many bits? Why does a trained model use far fewer?
# 2. Why must the write slots come *after* the segment's tokens (what could a write slot at the start see)?
# 3. The segment-only model gets exactly the same training budget. Could more steps ever help it here?
# 4. In the swap experiment the sequence's own digits are in the last segment's input (each answer is fed
#    back as the next input), yet the model writes the other sequence's digits. Why can the input not help?

# %% [markdown] tags=["answer"]
# **Answers** (the instructor's key; learner copies leave this cell out)
#
# *Predictions.* The segment-only model stays at chance (it never sees the digits it must write); the RMT
# reaches (near) 1.0 in the same steps. With its own memory the last segment answers; with the memory wiped it
# falls to chance; with another sequence's memory it writes the *other* sequence's digits.
#
# 1. In principle a huge number: `m * d` 32-bit floats are thousands of bits, and one digit needs
#    `log2 10 = 3.3` bits. Training uses far fewer because the network must learn to write and read with
#    attention in a few layers: what it can learn to use, not raw capacity, limits it.
# 2. Under the causal mask a position sees only what comes before it. A write slot at the start would see no
#    token of the segment, so its output could not depend on the segment: it could carry nothing forward.
# 3. No: the digits it must write are in an earlier segment, which it never sees. No amount of training puts
#    information into its input; chance is its best.
# 4. The input before an answer is the previous answer: the digit before, in the source. Digits are drawn
#    independently, so it says nothing about the next one. Everything the segment can see is useless for the
#    answer; only the memory holds it, and a swapped memory brings the other sequence's digit.

# %% [markdown]
# ## Where to next
#
# 01 segments and memory tokens · 02 recurrence and backpropagation through time · 03 copy and reverse ·
# 04 associative recall · 05 inside the memory · 06 RMT vs Transformer-XL · 07 curriculum and length ·
# 08 WikiText on a GPU · 09 reading far past the training length.
#
# ## References
#
# - A. Bulatov, Y. Kuratov, M. Burtsev. *Recurrent Memory Transformer.* NeurIPS 2022.
#   [arXiv:2207.06881](https://arxiv.org/abs/2207.06881)
# - A. Bulatov, Y. Kuratov, Y. Kapushev, M. Burtsev. *Scaling Transformer to 1M tokens and beyond with RMT.*
#   2023. [arXiv:2304.11062](https://arxiv.org/abs/2304.11062)
# - Z. Dai et al. *Transformer-XL: Attentive Language Models Beyond a Fixed-Length Context.* ACL 2019.
#   [arXiv:1901.02860](https://arxiv.org/abs/1901.02860)
