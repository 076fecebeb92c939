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
# # 05 · Inside the memory
#
# **Train a small RMT to copy digits across segments, then open it up: what it writes into its memory,
# where it reads from, how the memory moves from segment to segment, and what a linear probe can read out
# of it.**
#
# ### What you will learn
# - read attention maps laid out `[read | tokens | write]` for every segment, layer and head, and find the
#   writing (write slots attending to tokens) and the reading (tokens attending to read slots);
# - compare memory states across segments with cosine similarity and a 2-D projection;
# - fit a linear probe in closed form and decode the digits the memory holds, with a control;
# - say what a probe shows and what it does not.
#
# ### Prerequisites
# Notebook 01 (the `[read | tokens | write]` layout and its mask); notebook 03 (the copy task) helps. The
# model opened here ships with the package, trained by the settings printed in Section 1; set
# `TRAIN_LIVE = True` below to train it yourself (the same seed gives the same data and initial weights; the
# last digits of the result can differ with the processor).

# %% [markdown]
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/minirmt/minirmt/blob/v0.1.0/notebooks/exercises/05_inside_the_memory.ipynb) (the learner copy)
#
# *This is the instructor's copy: it holds the worked solutions and the answer key. Learners open `notebooks/exercises/05_inside_the_memory.ipynb`.*

# %% tags=["nbval-skip"]
# On Colab, install this release of minirmt (elsewhere this cell does nothing).
import sys

if "google.colab" in sys.modules:
    import subprocess

    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "minirmt @ git+https://github.com/minirmt/minirmt@v0.1.0"], check=True)

# %%
import dataclasses

import torch

from minirmt import build_model, viz
from minirmt.course import checks, nb, pretrained, probe, widgets
from minirmt.data import tasks
from minirmt.training.task_loop import train

nb.setup()

# %% [markdown]
# The settings, in one place: whether the model is loaded (the one the package ships) or trained here, and how
# many sequences the probes learn from and are tested on.

# %%
TRAIN_LIVE = False  # True: train the model here (about a minute and a half on a laptop CPU)
PROBE_TRAIN, PROBE_TEST = 2048, 512

# %% [markdown]
# ## 1. A model worth opening
#
# The copy task of the RMT paper (Sec. 4, "Algorithmic Tasks"), cut into `g = 3` segments of `n = 8` tokens: twelve digits, a
# "go" symbol `>`, then the twelve digits again. The first eight digits fill segment 0, so by the time the
# copy starts (in segment 1) and goes on (segment 2) they are only in the memory. The model is the `lab`
# preset: `d = 64`, two layers of four heads, `m = 8` memory tokens. With full backpropagation through the
# three segments it copies perfectly within its 1,000 training steps (the curve below reaches 1.0 long before the
# end).

# %% tags=["nbval-check-output"]
recipe = pretrained.run_of("copy-rmt-g3")  # the run: its task, model config and training config
task, cfg, G = recipe.task, recipe.model_config, recipe.train_config.segments
m, n, d = cfg.num_mem_tokens, cfg.segment_len, cfg.d_model
example, example_targets = task.sample(1, G, torch.Generator().manual_seed(0))
print(task.render(example[0], example_targets[0]))
print(f"m = {m}, n = {n}, d = {d}, vocabulary v = {task.vocab_size}")

# %% [markdown]
# The training run's settings are printed first: AdamW with a warm-up and a cosine decay, full backpropagation
# through the 3 segments, an evaluation on held-out sequences as it goes. The package ships the trained model;
# with `TRAIN_LIVE = True` this cell trains it instead, with a progress bar.

# %%
print(recipe.train_config)
if TRAIN_LIVE:
    result = train(recipe.build_model(), task, dataclasses.replace(recipe.train_config, device=nb.device()))
else:
    result = pretrained.trained("copy-rmt-g3")  # made by `python -m minirmt.course.pretrained copy-rmt-g3`
model = result.model.cpu().eval()
print(f"{result.step} steps ({result.seconds:.0f} s of training): accuracy {result.metrics['eval_accuracy']:.3f}, "
      f"exact match {result.metrics['eval_exact_match']:.3f} (chance {task.chance_accuracy:.2f})")
viz.plot_curves(result.history, ["loss", "eval_accuracy"])

# %% tags=["nbval-check-output"]
first_right = min(r["step"] for r in result.history if r.get("eval_accuracy", 0) >= 0.99)
print(f"accuracy 0.99 or more from step {first_right} of {result.step}")
assert first_right <= result.step // 2

# %% [markdown]
# Sixteen held-out sequences to look at, and what the model answers for the first one (the `targets` line
# shows its predictions where an answer is asked):

# %%
tokens, targets = task.sample(16, G, torch.Generator().manual_seed(1))  # (b, s) = (16, 24)
with torch.no_grad():
    out = model(tokens, return_attention=True)
asked = targets != -100
predictions = torch.where(asked, out.logits.argmax(-1), -100)  # (b, s)
print(task.render(tokens[0], predictions[0]))
print(f"accuracy on these 16: {(predictions == targets)[asked].float().mean():.3f}")

# %% [markdown]
# ## 2. Reading and writing: attention maps
#
# `out.attentions` holds, for every segment, one `(b, h, i, j)` tensor per layer, laid out
# `[read m | tokens n | write m]` on both axes (notebook 01). Two blocks of each map are the memory at work:
#
# - **writing**: the rows of the write slots, over the token columns: what each slot copies from the segment;
# - **reading**: the rows of the tokens, over the read-slot columns: which slot each token consults.
#
# Explore every segment, layer and head with the sliders (run the notebook to use them):

# %% tags=["nbval-ignore-output"]
widgets.attention_explorer(out.attentions, m, n)

# %% [markdown]
# The same view, saved for the static notebook: segment 0, every layer and head. **Predict** first:
# in segment 0 nothing has to be answered yet, so where should the write slots look?

# %%
attention = viz.stack_attentions(out.attentions, batch=0)  # (g, l, h, i, j)
print(tuple(attention.shape))
viz.plot_attention_grid(attention[0], m, n, title="segment 0: one row per layer, one column per head")

# %% [markdown]
# The two layers split the work: in layer 0 the write rows light up over the token columns (writing), while in
# layer 1 most of the tokens' attention goes to the read slots (the read rows themselves are left out of the
# count, since they can attend only to each other). In segment 0 those slots hold only the learned initial
# memory, the same for every sequence, so nothing is read from them yet; one reading, not tested here, is that
# they serve as a fixed place to park attention. Reading proper shows in the later segments (below). Measured over the 16 sequences,
# averaging the heads:

# %% tags=["nbval-check-output"]
heads = torch.stack([torch.stack(layers) for layers in out.attentions]).mean(3)  # (g, l, b, i, j), mean of heads
write_rows, token_rows = slice(m + n, None), slice(m, m + n)
writes = heads[0, :, :, write_rows, m : m + n].sum(-1).mean((1, 2))  # (l,): write rows' mass on the tokens
reads = heads[0, :, :, token_rows, :m].sum(-1).mean((1, 2))  # (l,): the token rows' mass on the read slots
print("segment 0: write slots attend mostly to the tokens in layer 0 (> 0.6), little in layer 1 (< 0.3):",
      bool(writes[0] > 0.6 and writes[1] < 0.3))
print("segment 0, layer 1: the token rows put more than half their attention on the read slots:", bool(reads[1] > 0.5))
assert writes[0] > 0.6 and writes[1] < 0.3 and reads[1] > 0.5

# %% [markdown]
# `viz.plot_read_write` cuts the two memory blocks out of one map; averaging over the heads of a layer shows
# the overall flow. In segment 0 (below, left half: reading; right half: writing) most write slots attend
# sharply to one or two source tokens each: the memory is being filled, a few digits per slot (Section 4's per-slot probe
# shows which).

# %%
viz.plot_read_write(attention[0, 0].mean(0), m, n, title="sequence 0, segment 0, layer 0, mean over heads")

# %% [markdown]
# In segment 2 every token is a copy step. Now the *reading* half lights up: each position attends mostly
# to one read slot, nearly a different one for each position, as if looking the digit up by its position.

# %%
viz.plot_read_write(attention[2, 0].mean(0), m, n, title="sequence 0, segment 2, layer 0, mean over heads")

# %% tags=["nbval-check-output"]
sharp = heads[0, 0, :, write_rows, m : m + n]  # (b, m, n): segment 0, layer 0, write rows over the tokens
top_two = (sharp.topk(2, dim=-1).values.sum(-1) / sharp.sum(-1)).mean(0)  # (m,): share of the 2 strongest tokens
looked_up = heads[2, 0, :, token_rows, :m]  # (b, n, m): segment 2, layer 0, tokens over the read slots
slots_used = torch.tensor([len(set(row.argmax(-1).tolist())) for row in looked_up])  # (b,): distinct slots read
print("segment 0: at least 6 of the 8 write slots put > 80% of their token attention on 1 or 2 tokens:",
      int((top_two > 0.8).sum()) >= 6)
print("segment 2: the 8 positions read mostly from at least 6 different slots, in every sequence:",
      bool((slots_used >= 6).all()))
assert (top_two > 0.8).sum() >= 6 and (slots_used >= 6).all()

# %% [markdown]
# Attention shows where information *could* flow, not what it carries: a slot that attends to a token may
# store its digit, its position, or nothing useful. To see what the memory holds we read it out directly
# (Section 4 below). First, how much does it change from segment to segment?
#
# ## 3. The memory across segments
#
# The memory is a tensor `(m, d)` per sequence: the learned initial state, then one state after each segment.
# `out.memories` holds the `g` states after the segments; we put the initial state in front.

# %% tags=["nbval-check-output"]
states = torch.stack([model.initial_state(tokens.shape[0]).detach(), *out.memories])  # (g + 1, b, m, d)
print(tuple(states.shape))  # states[0] is the initial memory, states[k] the memory after segment k - 1

# %% [markdown]
# ### Exercise 05.1: how similar are two memory states?
#
# Write `memory_similarity(states)`: `states (g, m, d)` for one sequence -> `(g, g)`, the cosine similarity
# between every pair of states, each state flattened to one vector of `m * d` numbers. (Cosine similarity is
# the dot product of the two vectors divided by both their lengths.)

# %%
def memory_similarity(states):
    """Cosine similarity of whole memory states: `(g, m, d)` -> `(g, g)`."""
    ### BEGIN SOLUTION
    flat = states.flatten(1)  # (g, m * d)
    flat = flat / flat.norm(dim=1, keepdim=True)
    return flat @ flat.T
    ### END SOLUTION


# %% tags=["nbval-check-output"]
memory_similarity = checks.check_memory_similarity(memory_similarity)

# %% [markdown]
# **Predict:** the initial state is the same for every sequence; each segment then writes new digits in. Will
# the states after segments 0, 1 and 2 resemble the initial state, or each other?
#
# Run the cell, then read on.

# %%
similarity = memory_similarity(states[:, 0])  # (g + 1, g + 1) for sequence 0
viz.plot_heatmap(similarity, "memory state", "memory state", vmin=-1.0, vmax=1.0, cmap="RdBu_r",
                 title="cosine similarity of memory states, sequence 0", row_labels=viz.state_names(len(states)),
                 col_labels=viz.state_names(len(states)), value_label="cosine similarity")

# %% tags=["nbval-check-output"]
every = torch.stack([memory_similarity(states[:, i]) for i in range(states.shape[1])])  # (b, g + 1, g + 1)
later = every[:, 1:, 1:]
print("in every sequence the initial state is nearly orthogonal to the later ones (|cos| < 0.2):",
      bool(every[:, 0, 1:].abs().max() < 0.2))
print("... and the later states stay close to one another (cos > 0.7):", bool(later.min() > 0.7))
assert every[:, 0, 1:].abs().max() < 0.2 and later.min() > 0.7

# %% [markdown]
# The initial state is almost orthogonal to everything after it, while the three later states stay close to
# one another: the first segment moves the memory to a different region, and later segments edit it there.

# %% [markdown]
# Slot by slot (`per_slot=True`): each block of `m x m` compares the slots of two states. Slide through the
# sequences of the batch to see which patterns are the same for every sequence (the model's layout) and which
# change (the digits):

# %% tags=["nbval-ignore-output"]
widgets.memory_explorer(list(states), per_slot=True)

# %%
viz.plot_memory_similarity(list(states), per_slot=True, batch=0, names=viz.state_names(len(states)))

# %% [markdown]
# A 2-D picture of the same path: project every state of every sequence on its first two principal
# components (`viz.pca_2d`, an SVD of the centred states). All sequences start at the same point (the
# initial memory). **Predict**: will the points after that group by sequence (their digits differ) or by
# segment?

# %%
viz.plot_memory_trajectory(list(states), names=viz.state_names(len(states)))

# %% tags=["nbval-check-output"]
coords, _ = viz.pca_2d(states.flatten(2).flatten(0, 1))  # (states * b, 2), state-major
coords = coords.reshape(states.shape[0], states.shape[1], 2)  # (g + 1, b, 2)
centres = coords.mean(1)  # (g + 1, 2): the centre of each state's points
spread = (coords - centres[:, None]).norm(dim=-1).mean()  # how far a point lies from its state's centre
apart = torch.cdist(centres, centres)[torch.triu_indices(len(centres), len(centres), 1).unbind()].min()
print("the points group by state: the closest two centres lie farther apart than a point from its centre:",
      bool(apart > spread))
assert apart > spread

# %% [markdown]
# The points group by state, not by sequence: the largest differences between the memories are *when* they
# were written (after which segment), not *which digits* they hold. The digits are there all the same, in
# directions this picture does not show: the probes of the next section read them out.

# %% [markdown]
# ## 4. What does the memory hold? A linear probe
#
# A **linear probe** asks whether a quantity can be read out of a hidden state by a single linear map
# (Alain & Bengio, 2016). Here: can the digit at source position `p` be decoded from the memory after
# segment `k`? We fit one probe per `(k, p)` on some sequences and measure its accuracy on others. Chance is
# 0.1 (ten digits).
#
# The probe is ridge regression onto one-hot labels, solved in closed form:
#
# $$X = [\,\text{features} \mid 1\,] \in \mathbb{R}^{N \times (f+1)},\quad
#   Y = \text{one\_hot}(\text{labels}) \in \mathbb{R}^{N \times c},\quad
#   W = (X^\top X + \lambda I)^{-1} X^\top Y,$$
#
# and the prediction for a row `x` is `argmax(x W)`.
#
# ### Exercise 05.2: fit the probe
#
# Write `fit_probe(features, labels, num_classes, ridge)`: `features (N, f)`, integer `labels (N,)` ->
# `W (f + 1, y)`, one column per class (`y = num_classes`), the column of ones appended **last** (so the bias is
# the last row). `torch.linalg.solve` solves the linear system; float64 makes it more accurate.

# %%
def fit_probe(features, labels, num_classes, ridge):
    """Closed-form ridge probe: `features (N, f)`, `labels (N,)` -> weights `(f + 1, y)`, bias last."""
    ### BEGIN SOLUTION
    x = torch.cat([features, torch.ones(features.shape[0], 1)], dim=1).double()  # (N, f + 1)
    y = torch.nn.functional.one_hot(labels, num_classes).double()  # (N, y)
    w = torch.linalg.solve(x.T @ x + ridge * torch.eye(x.shape[1], dtype=x.dtype), x.T @ y)
    return w.float()
    ### END SOLUTION


# %% tags=["nbval-check-output"]
fit_probe = checks.check_fit_probe(fit_probe)

# %% [markdown]
# Now the features: the memory after each segment, flattened to `m * d = 512` numbers, for `PROBE_TRAIN`
# sequences to fit on and `PROBE_TEST` fresh ones to test on. The labels: the source digits.

# %%
def memory_features(model, count, seed):
    """The memory after each segment for `count` fresh sequences: `(g, N, m * d)`, and the source digits `(N, L)`."""
    seq, _ = task.sample(count, G, torch.Generator().manual_seed(seed))
    with torch.no_grad():
        memories = model(seq, return_logits=False).memories  # g states (N, m, d)
    source_len = seq.shape[1] // 2
    return torch.stack(memories).flatten(2), seq[:, :source_len] - tasks.FIRST_SYMBOL


def probe_table(model, ridge=1.0):
    """Test accuracy of one probe per (segment k, source position p): `(g, L)`."""
    train_x, train_y = memory_features(model, PROBE_TRAIN, seed=10)
    test_x, test_y = memory_features(model, PROBE_TEST, seed=11)
    table = torch.zeros(G, train_y.shape[1])
    for k in range(G):
        for p in range(train_y.shape[1]):
            weights = fit_probe(train_x[k], train_y[:, p], 10, ridge)
            table[k, p] = probe.probe_accuracy(weights, test_x[k], test_y[:, p])
    return table


# %% [markdown]
# **Predict** before running. After segment 0 the model has seen digits 0-7. During segment 1 it sees
# digits 8-11, then `>`, and answers digits 0-3; segment 2 answers digits 4-11. So which digits *must* the
# memory hold after segment 0? After segment 1? After segment 2?

# %%
trained = probe_table(model)
viz.plot_heatmap(trained, "source position p", "memory after segment k",
                 title="probe accuracy: digit p from the memory after segment k (chance 0.10)", value_label="accuracy")

# %% [markdown]
# Every digit the memory has seen is decoded (almost) perfectly from the state after every segment, and digits
# 8-11 are at chance after segment 0, before the model has seen them (checked below, with the control). Notice that the
# memory still holds digits 0-3 after segment 1, though the copy no longer needs them. Careful: digits 0-2 are
# also fed back into segment 1 as the first answers (teacher forcing), so the memory may have written them
# afresh; digit 3 is never an input there, so it is the clean test of keeping (printed below). A likely reason for
# keeping, not tested here: nothing in the loss asks the memory to forget, and twelve digits fit easily in
# `m * d = 512` numbers (Question 1 asks what would make it forget).

# %% tags=["nbval-check-output"]
print("digit 3, never an input in segment 1, still decodable after it (> 0.9):", bool(trained[1, 3] > 0.9))
assert trained[1, 3] > 0.9

# %% [markdown]
# ### The control: the same probe on an untrained network
#
# A probe that succeeds shows that the digit is *linearly present* in the state, not that the model put it
# there on purpose: a random network's state is a rich random function of its input too. Hewitt & Liang (2019)
# make the point that a probe needs a control; theirs randomise the labels (control tasks), ours randomises the
# network. So we run the same probes on the same network **before
# training** (the same seed, the same initial weights).

# %%
untrained = probe_table(build_model("rmt", cfg, seed=0).eval())
viz.plot_heatmap(untrained, "source position p", "memory after segment k",
                 title="control: the same network before training", value_label="accuracy")

# %% [markdown]
# The untrained network's memory is far from empty: the first and the last digit of the segment are
# decodable most of the time, the others less often but above chance. Only the difference between the two
# tables is what training put there.
#
# One check holds for every model, trained or not, in every mode: after segment 0 the memory has not seen
# digits 8-11 yet, so no probe can beat chance on them. A probe that did would mean a leak from the future
# (a bug in the mask or in the recurrence).

# %% tags=["nbval-check-output"]
print("digits 8-11 decodable after segment 0 (trained): ", bool(trained[0, 8:].max() > 0.3))
print("digits 8-11 decodable after segment 0 (untrained):", bool(untrained[0, 8:].max() > 0.3))

# %%
assert trained[0, :8].mean() > 0.3, "the memory after segment 0 should hold the digits it has seen"
assert trained[0, 8:].max() < 0.3 and untrained[0, 8:].max() < 0.3, "a probe decoded digits from the future"

# %% [markdown]
# And what this model's tables show, checked:

# %% tags=["nbval-check-output"]
seen = torch.ones_like(trained, dtype=torch.bool)
seen[0, 8:] = False  # after segment 0 the memory has seen digits 0-7
ends, middle = untrained[0, [0, 7]], untrained[0, 1:7]
print("trained: every digit seen so far decoded at > 0.95, after every segment:", bool(trained[seen].min() > 0.95))
print("untrained: the segment's first and last digit decoded more often than any digit between (> 0.6):",
      bool(ends.min() > 0.6 and ends.min() > middle.max()))
print("untrained: the digits between above chance (> 0.2):", bool(middle.min() > 0.2))
assert trained[seen].min() > 0.95 and ends.min() > 0.6 and ends.min() > middle.max() and middle.min() > 0.2

# %% [markdown]
# Side by side, the digits the memory holds after segment 0, trained against untrained:

# %%
viz.plot_accuracy_vs_segments({"trained": dict(enumerate(trained[0].tolist())),
                               "untrained": dict(enumerate(untrained[0].tolist()))},
                              chance=task.chance_accuracy, xlabel="source position p", ylabel="probe accuracy",
                              title="digits decodable from the memory after segment 0")

# %% [markdown]
# ### Which slot holds which digit?
#
# The same probe on a single slot (`d = 64` features instead of `m * d`): a table of slots against source
# positions, after segment 0. One bright cell per row would mean one digit per slot; a smear would mean the
# digits are spread over slots (a distributed code), just as usable by the next segment. **Compare** with the
# writing half of the segment-0 map in Section 2, with care: that map is one sequence, where a slot's focus can
# differ from its usual one; the check below averages the attention over 16 sequences. There, for this model,
# write slot 6 attends to token 0 and a probe reads digit 0 from slot 6 alone; slot 3 attends to token 7 and holds
# digit 7. (Another run may assign other slots: the code is learned, not built in.)

# %%
train_x, train_y = memory_features(model, PROBE_TRAIN, seed=10)
test_x, test_y = memory_features(model, PROBE_TEST, seed=11)
train_x, test_x = train_x[0].unflatten(1, (m, d)), test_x[0].unflatten(1, (m, d))  # (N, m, d) after segment 0
per_slot = torch.zeros(m, 8)
for slot in range(m):
    for p in range(8):
        weights = fit_probe(train_x[:, slot], train_y[:, p], 10, 1.0)
        per_slot[slot, p] = probe.probe_accuracy(weights, test_x[:, slot], test_y[:, p])
viz.plot_heatmap(per_slot, "source position p", "memory slot", title="probe from one slot, after segment 0",
                 value_label="accuracy")

# %% tags=["nbval-check-output"]
attended = heads[0, 0, :, write_rows, m : m + n].mean(0).argmax(-1)  # (m,): the token each write slot reads most
agree = per_slot[torch.arange(m), attended] > 0.9  # (m,): its digit is decoded from that slot alone
print(f"slot 6 attends to token {attended[6]}, slot 3 to token {attended[3]}")
print("for at least 6 of the 8 slots, the digit of the token it attends to most is decoded from it (> 0.9):",
      int(agree.sum()) >= 6)
assert agree.sum() >= 6

# %% [markdown]
# ## Summary
#
# - Attention maps show the memory's two operations: write slots attending to the segment's tokens (writing)
#   and tokens attending to read slots (reading). They show where information can flow, not what it is.
# - Memory states move away from the shared initial state as digits are stored; cosine similarity and a PCA
#   projection make the path visible.
# - A closed-form linear probe decodes, from the memory after each segment, every digit seen so far (even
#   those the task no longer needs); digits the memory has not seen stay near chance (below 0.3), whatever the model.
# - Attention and probes agree: the slot that attends to a source token during writing is a slot from which a
#   probe reads that token's digit (some digits can be read from several slots).
# - Probes need a control: an untrained network's memory already encodes some digits linearly. The
#   difference between the two tables is what training put there.
#
# ## Questions
#
# 1. After segment 1 the memory still holds digits 0-3, which the copy no longer needs. What would have to
#    change (in the task, the memory size, the loss) to make the model forget them?
# 2. Why can an untrained network's memory let a probe decode some source digits? Which positions would you
#    expect to be easiest, given how attention spreads over a segment in an untrained model (notebook 01)?
# 3. A probe reaches 100% on digit 3 from the memory after segment 0. Does that prove the model *uses* that
#    information to answer? What experiment would test it (hint: change the memory and watch the answer)?
# 4. Why fit the probe on some sequences and measure it on others? What happens with 512 features and fewer
#    than 512 training sequences if `ridge` is 0?
# 5. The memory has `m = 8` slots and after segment 0 holds 8 digits. What would you expect with `m = 4`?
#    Try it (retrain with `minirmt.preset("lab", vocab_size=..., num_mem_tokens=4)`).

# %% [markdown] tags=["answer"]
# **Answers** (the instructor's key; learner copies leave this cell out)
#
# *Predictions.* Segment 0: the write slots look at the segment's tokens (there is something to store,
# nothing to answer). Memory states: the states after segments 0, 1 and 2 resemble each other more than the
# initial state. The probe: after segment 0 the memory must hold digits 0-7 (all of them are answered later);
# after segment 1, digits 4-11 (0-3 have been answered); after segment 2, nothing more is needed.
#
# 1. Something has to make holding them costly or useless: a smaller memory (fewer slots than digits to keep),
#    a loss that penalises what is no longer needed, or a task that reuses the slots for new content. With
#    room to spare and no pressure, keeping old digits costs the model nothing.
# 2. Attention in an untrained network spreads almost evenly, so each write slot averages the segment's token
#    embeddings: a linear probe can pull a digit out of such a mixture when few digits share it. The control
#    table shows which positions are easiest: the first digit of the segment and the last, well above the
#    digits between. A likely reason (a hypothesis; the notebook does not test it): the last token sits right
#    next to the write slots (the smallest rotary distance), and the first is the one every later position can
#    attend to. A guess of "the last digits only" misses the first.
# 3. No: decodable is not used. Test it by intervening: change the memory (replace the part from which digit 3
#    is decoded, or swap memories between sequences as in notebook 00) and check whether the answer for digit 3
#    changes accordingly.
# 4. A probe that memorises its fitting sequences scores well on them by construction; only held-out sequences
#    measure what the memory holds. With 512 features and fewer than 512 sequences, ordinary least squares
#    (`ridge = 0`) can fit any labels exactly, even random ones: perfect fit, meaningless probe. The ridge term
#    (and the held-out test) prevent that.
# 5. With 4 slots and 8 digits to hold, each slot must carry two digits; expect the probe to still read most
#    digits (a vector of width 64 can hold several) but less cleanly, and the model to learn more slowly. Try it
#    and compare the tables.

# %% [markdown]
# ## References
#
# - A. Bulatov, Y. Kuratov, M. S. Burtsev. *Recurrent Memory Transformer.* NeurIPS 2022, arXiv:2207.06881:
#   Sec. 3 (memory read and write), Sec. 4 (copy, under "Algorithmic Tasks"); the model "is trained to control both memory operations
#   and sequence representations processing" (abstract).
# - M. S. Burtsev, Y. Kuratov, A. Peganov, G. V. Sapunov. *Memory Transformer.* arXiv:2006.11527, 2020
#   (memory tokens and attention patterns over them).
# - G. Alain, Y. Bengio. *Understanding intermediate layers using linear classifier probes.* arXiv:1610.01644, 2016.
# - J. Hewitt, P. Liang. *Designing and Interpreting Probes with Control Tasks.* EMNLP 2019.
# - In this repository: `minirmt/viz/`, `minirmt/course/widgets.py`, `minirmt/course/probe.py`.
