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
# # 09 · Reading far past the training length
#
# **Hide one fact in a long text of noise, ask about it at the very end, and watch a Recurrent Memory Transformer
# trained on short texts answer on texts dozens of times longer, where a Transformer with full attention,
# trained on the same texts, cannot. Then find where the RMT itself starts to fail.**
#
# ### What you will learn
# - what a needle-in-a-haystack task is (BABILong's layout) and why a model without memory is at chance on it
#   once the text is longer than one segment;
# - to measure a model far past its training length: accuracy against the length, and against where the fact
#   sits (the needle's *depth*);
# - to measure what reading a long text costs each model: attention scores and peak memory;
# - to say where the RMT's reading breaks down, and what the evidence on why does and does not show.
#
# ### Prerequisites
# 00 tour; 02 (recurrence); 07 (curriculum and length) helps: this notebook is its finale.

# %% [markdown]
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/minirmt/minirmt/blob/v0.1.0/notebooks/exercises/09_reading_far.ipynb) (the learner copy)
#
# *This is the instructor's copy: it holds the worked solutions and the answer key. Learners open `notebooks/exercises/09_reading_far.ipynb`.*

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
# ## 1. A needle in a haystack
#
# The RMT follow-up *Scaling Transformer to 1M tokens and beyond with RMT* (Bulatov et al., 2023)
# trained an RMT on texts of a few segments and then asked it about facts hidden in texts of up to two million
# tokens. BABILong (Kuratov et al., 2024) turned this into a benchmark: short facts scattered through books,
# a question at the end, and accuracy plotted against the length of the text and against where the fact sits.
#
# Our version is small enough for a laptop. A fact is a key (a letter) followed by its value (a digit); it sits
# at a random place in `g` segments of filler (random symbols, shown as `-`), and the text ends with a
# question: `?` and the key. Only the last target, the value, is scored.

# %%
import dataclasses
import json
import platform
from pathlib import Path

import torch
from tqdm.auto import tqdm

from minirmt import viz
from minirmt.course import checks, long_context, pretrained
from minirmt.training.task_loop import train

task = pretrained.run_of("needle-rmt-s0").task  # the task the shipped checkpoints were trained on
n = task.segment_len
tokens, targets = task.sample(2, 4, torch.Generator().manual_seed(0))
for row in range(2):
    print(task.render(tokens[row], targets[row]), end="\n\n")
print(f"{task.num_keys} keys, {task.num_values} values, {task.num_filler} filler symbols; n = {n} tokens a segment; "
      f"chance = {task.chance_accuracy:.3f}")

# %% [markdown]
# A model that sees only the last segment reads the question but not the fact (in a text of two segments or
# more the fact always sits before the last segment; a text of one segment holds both): it can only guess one
# of the values, `1 / num_values` right. The RMT must notice the fact when it passes, write it into its memory, and
# carry it through every segment of filler after it, unchanged enough to be read at the end.
#
# ## 2. How deep is the needle?
#
# ### Exercise 09.1: needle depth
#
# BABILong reports accuracy against the needle's **depth**: where the fact sits, as a fraction of the text
# before the question (0 at the very start, near 1 just before the question). Write `needle_depth(tokens)`:
# for `tokens (b, s)`, whose last two tokens are the question (`?`, then the key), find where the asked key
# first appears in the `s - 2` tokens before the question, and divide by `s - 2`. Return `(b,)` floats.

# %%
def needle_depth(tokens):
    """(b, s) -> (b,): where the asked key sits, as a fraction of the s - 2 tokens before the question."""
    ### BEGIN SOLUTION
    before = tokens[:, :-2]  # (b, s - 2)
    position = (before == tokens[:, -1:]).float().argmax(1)  # (b,): the first match
    return position / before.shape[1]
    ### END SOLUTION


needle_depth = checks.check_needle_depth(needle_depth)

# %% [markdown]
# ## 3. Three readers, trained on the same short texts
#
# Three models of the same size (d = 64, 2 layers, 4 heads; the RMT has `m = 4` memory tokens), trained on the
# same batches for the same number of steps (4,000), on texts of **1 to 8 segments** (64 tokens at most). Each
# batch draws its number of segments at random up to the current stage's maximum, and the maximum grows as the
# model learns: the curriculum of the RMT follow-ups (notebook 07).
#
# - **RMT**: reads one segment at a time and hands `m` memory vectors to the next;
# - **full attention**: a Transformer that sees the whole text at once (rotary positions, so it can run on
#   texts of any length);
# - **segment-only**: the same Transformer, one segment at a time, nothing handed on (the control).
#
# Training one takes a few minutes on a laptop, so the package ships the trained weights, three seeds of each
# (`minirmt.course.pretrained`; `python -m minirmt.course.pretrained` makes them again). Replace the first line
# below by `TRAIN_LIVE = True` to train seed 0 here instead; in `full` mode on a GPU they are always trained live
# (the RMT and full attention for twice the steps). A run trained here starts from the same data and weights as
# the shipped seed 0, but another processor adds the same numbers in another order, and how far a model reads
# past its training length is sensitive to such small differences: expect numbers within the spread of the
# three shipped seeds (the figure after the next one), not the same ones.

# %%
TRAIN_LIVE = nb.pick(ci=False, lab=False, full=True)
live_steps = nb.pick(ci=None, lab=None, full=8_000)  # None: the recipe's
names = {"RMT": "needle-rmt-s0", "full attention": "needle-full-s0", "segment-only": "needle-segment"}
models = {}
for label, name in names.items():
    if TRAIN_LIVE:
        run = pretrained.run_of(name)
        config = run.train_config if live_steps is None or label == "segment-only" else \
            dataclasses.replace(run.train_config, steps=live_steps)
        models[label] = train(run.build_model(), run.task, config, progress=True).model.eval()
    else:
        models[label], run, info = pretrained.load(name)
train_segments = pretrained.run_of("needle-rmt-s0").train_config.segments  # the longest training texts
print(f"trained on 1 to {train_segments} segments ({train_segments * n} tokens)")

# %% [markdown]
# ## 4. Predict, then read longer texts
#
# We test each model on texts of `train_segments` segments (1x) up to many times longer, the same texts for
# every model. Full attention is read up to 32x (2,048 tokens), the segment-only control up to 4x.
#
# **Predict first.** At the training length, which two models answer? On texts 4 times longer, which still
# answer? At 32 times? At 256 times?

# %%
device = nb.device()
factors = {"RMT": nb.pick(ci=[1, 2, 4, 8], lab=[1, 4, 16, 32, 64, 256], full=[1, 4, 16, 64, 256, 1024, 4096]),
           "full attention": nb.pick(ci=[1, 2, 4, 8], lab=[1, 2, 4, 8, 16, 32], full=[1, 2, 4, 8, 16, 32, 64]),
           "segment-only": [1, 2, 4]}
count = nb.pick(ci=64, lab=128, full=256)
accuracy = {}
for label, model in models.items():
    accuracy[label] = {}
    for f in tqdm(factors[label], desc=label):  # a progress bar: the longest texts take a while
        accuracy[label].update(long_context.accuracy_by_length(model.to(device), task, [f * train_segments],
                                                               count=count, batch_size=count, device=device))
    print(f"{label:15s} " + "  ".join(f"{g // train_segments}x: {a:.2f}" for g, a in accuracy[label].items()))

# %% tags=["nbval-check-output"]
rmt, full, alone = accuracy["RMT"], accuracy["full attention"], accuracy["segment-only"]
far = max(full)  # the longest text both read
print("at the training length, RMT and full attention answer (> 0.9):",
      min(rmt[train_segments], full[train_segments]) > 0.9)
print("segment-only stays near chance at the training length and beyond:", max(alone.values()) < task.chance_accuracy + 0.1)
print("at the longest text full attention read, RMT answers better by more than 0.2:", rmt[far] > full[far] + 0.2)
assert min(rmt[train_segments], full[train_segments]) > 0.9
assert max(alone.values()) < task.chance_accuracy + 0.1 and rmt[far] > full[far] + 0.2
short_texts = long_context.accuracy_by_length(models["segment-only"].to(device), task, [1, 2], count=count,
                                              batch_size=count, device=device)
print("segment-only answers a text of one segment (> 0.9):", short_texts[1] > 0.9,
      "| two segments, near chance:", short_texts[2] < task.chance_accuracy + 0.1)
assert short_texts[1] > 0.9 and short_texts[2] < task.chance_accuracy + 0.1

# %% [markdown]
# That is one seed of each. The package also records how each of the three seeds read texts up to 1,024 times
# the training length when it was made (128 texts per length): the lines are the mean over seeds, the bands
# the lowest and highest seed.

# %%
def seed_reads(prefix):
    """[{g: accuracy}] of each of the three seeds of a checkpoint family, as recorded."""
    return [{int(g): a for g, a in pretrained.load(f"{prefix}-s{seed}")[2]["read"].items()} for seed in range(3)]


def over_seeds(prefix):
    """{g: (mean, lowest, highest)} of the recorded readings of the three seeds of a checkpoint family."""
    reads = seed_reads(prefix)
    return {g: (sum(r[g] for r in reads) / 3, min(r[g] for r in reads), max(r[g] for r in reads)) for g in reads[0]}


per_seed = {"RMT": seed_reads("needle-rmt"), "full attention": seed_reads("needle-full")}
for label, reads in per_seed.items():
    for seed, row in enumerate(reads):
        print(f"{label:15s} seed {seed}: " + "  ".join(f"{g // train_segments}x {a:.2f}" for g, a in row.items()))
seeds = {"RMT": over_seeds("needle-rmt"), "full attention": over_seeds("needle-full")}
length_axis = f"segments g of the text ({train_segments} segments = 1x the training length)"
viz.plot_accuracy_panels({"answer accuracy, 3 seeds; trained on 1 to 8 segments": seeds},
                         chance={"answer accuracy, 3 seeds; trained on 1 to 8 segments": task.chance_accuracy},
                         xlabel=length_axis)

# %% tags=["nbval-check-output"]
at32 = 32 * train_segments
print("at 32x the training length, the RMT's mean over seeds is >= 0.9:", seeds["RMT"][at32][0] >= 0.9)
print("and no RMT seed is below 0.8 there:", seeds["RMT"][at32][1] >= 0.8)
print("every full-attention seed is below 0.5 there:", seeds["full attention"][at32][2] < 0.5)
print(f"RMT at 32x: mean {seeds['RMT'][at32][0]:.2f}, seeds " + ", ".join(f"{r[at32]:.2f}" for r in per_seed["RMT"]))
assert seeds["RMT"][at32][0] >= 0.9 and seeds["RMT"][at32][1] >= 0.8 and seeds["full attention"][at32][2] < 0.5
rmt_seeds = per_seed["RMT"]
print("RMT seed 1 answers every question at every recorded length (>= 0.99):", min(rmt_seeds[1].values()) >= 0.99)
print(f"seed 0 at 64x and 128x: {rmt_seeds[0][64 * train_segments]:.2f}, {rmt_seeds[0][128 * train_segments]:.2f}")
settled = [a for g, a in rmt_seeds[2].items() if g >= 8 * train_segments]
print(f"seed 2 from 8x on: between {min(settled):.2f} and {max(settled):.2f}")
assert min(rmt_seeds[1].values()) >= 0.99 and rmt_seeds[0][128 * train_segments] < 0.7
assert 0.8 < min(settled) and max(settled) < 0.9

# %% [markdown]
# Full attention learns the task as well as the RMT at the training length, but it has only ever seen
# positions up to 64 apart. On longer texts its accuracy falls within a few doublings, in every seed (below 0.5
# at 32x, checked above). Our reading, not tested here: on longer texts its attention meets distances it was
# never trained on. The RMT never sees a distance longer than a segment plus its memory: a longer text only
# means more steps of the same recurrence. How many steps its memory survives differs from seed to seed
# (printed above): in the shipped runs seed 1 answers every question up to 1,024x (65,536 tokens), seed 0
# answers reliably (0.9 or more) up to 64x and slips after it (0.66 at 128x), and seed 2 stays between 0.84
# and 0.89 from 8x on, all the way to 1,024x. Three seeds of one small model: the spread is part of the result.
#
# ## 5. The longest reliable length
#
# ### Exercise 09.2: reliable length
#
# Write `reliable_length(accuracy, threshold)`: from `{g: accuracy}`, the longest `g` such that the accuracy
# at `g` **and at every shorter length** is at least `threshold` (None if the shortest length already falls
# below it). Go through the lengths in increasing order.

# %%
def reliable_length(accuracy, threshold=0.9):
    """The longest g up to which every accuracy in {g: accuracy} is >= threshold; None if none is."""
    ### BEGIN SOLUTION
    reliable = None
    for g in sorted(accuracy):
        if accuracy[g] < threshold:
            break
        reliable = g
    return reliable
    ### END SOLUTION


reliable_length = checks.check_reliable_length(reliable_length)

# %%
for label, reads in per_seed.items():
    for seed, row in enumerate(reads):
        g = reliable_length(row, 0.9)
        print(f"{label:15s} seed {seed}: reliable (>= 0.9) up to " + ("no length" if g is None else
              f"{g} segments, {g // train_segments}x the training length"))
        if label == "RMT" and seed == 0:
            assert g == 64 * train_segments  # Section 4: one seed reliable up to 64x

# %% [markdown]
# ## 6. Where does the RMT start to fail?
#
# The same RMT, the same recipe, trained for **2,000** steps instead of 4,000: it answers perfectly at the
# training length too. **Predict**: does it read as far? (Its seeds were read up to 128x, where the figure's line
# for it ends.)

# %%
seeds["RMT, 2,000 steps"] = over_seeds("needle-rmt-short")
viz.plot_accuracy_panels({"RMT: 4,000 against 2,000 steps (3 seeds each)": {
    "RMT, 4,000 steps": seeds["RMT"], "RMT, 2,000 steps": seeds["RMT, 2,000 steps"]}},
    chance={"RMT: 4,000 against 2,000 steps (3 seeds each)": task.chance_accuracy}, xlabel=length_axis)

# %% tags=["nbval-check-output"]
short = seeds["RMT, 2,000 steps"]
print("trained for 2,000 steps, every seed answers at the training length (>= 0.95):", short[train_segments][1] >= 0.95)
print("and at 16x the training length the mean has fallen below 0.9:", short[16 * train_segments][0] < 0.9)
assert short[train_segments][1] >= 0.95 and short[16 * train_segments][0] < 0.9

# %% [markdown]
# Both answer every question at the training length, so the training accuracy cannot tell them apart; only
# reading longer texts does. What changes with the extra steps? Follow the memory of seed 0 of each (the shipped
# models) through long texts: the cosine
# similarity between the memory after `k` segments and the memory after 8 segments, the end of the longest
# training text (1 = the same), averaged over 128 texts of 16x the training length (128 segments). The dotted
# line marks 8 segments, the training length.

# %%
# the shipped seed-0 models, also after TRAIN_LIVE: the accuracies compared with them below are theirs
long_model, short_model = (pretrained.load(name)[0] for name in ("needle-rmt-s0", "needle-rmt-short-s0"))
far_tokens, _ = task.sample(128, 16 * train_segments, torch.Generator().manual_seed(3))
drift = {}
for label, model in (("RMT, 4,000 steps", long_model), ("RMT, 2,000 steps", short_model)):
    with torch.no_grad():
        memories = torch.stack(model(far_tokens).memories).flatten(2)  # (g, b, m * d)
    similarity = torch.nn.functional.cosine_similarity(memories, memories[train_segments - 1], dim=-1)  # (g, b)
    drift[label] = [{"segments read": k + 1, "similarity to the memory after 8 segments": float(similarity[k].mean())}
                    for k in range(len(memories))]
figure = viz.plot_curves(drift, metrics=["similarity to the memory after 8 segments"], x="segments read",
                         title="how far the memory moves past the training length (mean of 128 texts)")
figure.axes[0].axvline(train_segments, color="0.3", linestyle=":", linewidth=1)
figure.axes[0].set_xscale("log", base=2)
figure.axes[0].set_ylabel("cosine similarity")
for label, rows in drift.items():
    print(f"{label}: similarity after 32, 40 and 128 segments: "
          + ", ".join(f"{rows[k - 1]['similarity to the memory after 8 segments']:.2f}" for k in (32, 40, 128)))
figure

# %% [markdown]
# Every segment of filler is read by the same network and nudges the memory. The two models move differently
# (printed under the figure, checked below): the 4,000-step model's memory stays close (about 0.9) for the first 40
# or so segments, then moves away steeply to about 0.35 at 128 segments, while the 2,000-step model's drifts slowly, then drops suddenly between about 32 and 40 segments
# (from about 0.8 to 0.48) and stays flat near 0.48 from there to the end. One reading, not tested here: its
# memory falls into a settled state that further filler no longer moves, and that no longer holds the fact. A
# caution on the measure itself: the needle sits anywhere in the 128 segments, so in most texts the memory after
# 8 segments, the reference, has not read the fact yet; the similarity follows the memory's path, not the fact.
#
# A tempting explanation is that a model fails once its memory has drifted into states its reader never saw. The
# evidence is mixed (checked below): at 4x the memory of the 2,000-step model has moved further than the other's
# and it starts to fail, but at 16x the 4,000-step model's memory has moved *further* (similarity about 0.35
# against 0.48) and it still answers every question (1.00), while the 2,000-step model answers only 0.21 of its questions, far below it.
# How far the memory moves, as one cosine over a whole state, does not decide whether the reader can still find
# the fact. One seed of each: a hypothesis to test, not a finding.

# %% tags=["nbval-check-output"]
def similarity_at(label, g):
    return drift[label][g - 1]["similarity to the memory after 8 segments"]


read = {label: pretrained.load(name)[2]["read"] for label, name in
        (("RMT, 4,000 steps", "needle-rmt-s0"), ("RMT, 2,000 steps", "needle-rmt-short-s0"))}
g16 = 16 * train_segments
print("at 4x, the 2,000-step memory has moved further:",
      similarity_at("RMT, 2,000 steps", 4 * train_segments) < similarity_at("RMT, 4,000 steps", 4 * train_segments))
for label in read:
    print(f"{label}, at 16x: similarity {similarity_at(label, g16):.2f}, accuracy {read[label][str(g16)]:.2f}")
short_sims = [row["similarity to the memory after 8 segments"] for row in drift["RMT, 2,000 steps"]]
print("the 2,000-step memory drops by more than 0.2 between 32 and 40 segments:", short_sims[31] - short_sims[39] > 0.2)
print("and from 40 segments on stays within 0.44 to 0.52:", 0.44 < min(short_sims[39:]) and max(short_sims[39:]) < 0.52)
assert short_sims[31] - short_sims[39] > 0.2 and 0.44 < min(short_sims[39:]) and max(short_sims[39:]) < 0.52
print("at 16x, the 4,000-step memory has moved further, yet it answers every question (>= 0.99) and the other "
      "is below 0.3:", similarity_at("RMT, 4,000 steps", g16) < similarity_at("RMT, 2,000 steps", g16)
      and read["RMT, 4,000 steps"][str(g16)] >= 0.99 and read["RMT, 2,000 steps"][str(g16)] < 0.3)
assert similarity_at("RMT, 2,000 steps", 4 * train_segments) < similarity_at("RMT, 4,000 steps", 4 * train_segments)
assert similarity_at("RMT, 4,000 steps", g16) < similarity_at("RMT, 2,000 steps", g16)
assert read["RMT, 4,000 steps"][str(g16)] >= 0.99 and read["RMT, 2,000 steps"][str(g16)] < 0.3

# %% [markdown]
# ## 7. Where the needle sits
#
# Accuracy against length hides *which* facts are lost. BABILong's heatmap splits each length by the needle's
# depth: is a fact at the start of a long text (which must survive every segment after it) harder than one
# just before the question? Here for the RMT trained 2,000 steps, the one that fails.

# %%
bins = 4
depth_lengths = [f * train_segments for f in nb.pick(ci=[1, 4], lab=[1, 4, 16, 64], full=[1, 4, 16, 64, 256])]
table = long_context.accuracy_by_depth(short_model, task, depth_lengths, bins=bins, count=2 * count)
viz.plot_heatmap(table, xlabel="depth of the needle (0 = the start of the text)",
                 ylabel="length (x the training length)", title="RMT, 2,000 steps: accuracy by length and depth",
                 row_labels=[f"{g // train_segments}x ({g} segments)" for g in depth_lengths],
                 col_labels=["0-¼", "¼-½", "½-¾", "¾-1"], value_label="accuracy")

# %% tags=["nbval-check-output"]
print("at the training length, every depth is answered (>= 0.9):", bool(table[0].min() >= 0.9))
assert table[0].min() >= 0.9

# %%
for g, row in zip(depth_lengths, table):
    print(f"{g // train_segments}x, by depth quarter: " + "  ".join(f"{a:.2f}" for a in row.tolist()))

# %% [markdown]
# At the training length every depth is answered. On longer texts, compare the columns: if the needles at the
# start were lost first, the memory would be *forgetting*, the fact overwritten segment by segment. In the
# lab run (one model, printed above) the 16x row goes the other way: the needles in the first quarter of the
# text are found most often (about 0.4), the other three quarters at about 0.1-0.16. The 64x row shows no such
# pattern: every quarter sits between about 0.1 and 0.17. So, a reading from one row of about 64 texts a cell:
# the memory is not simply overwritten, oldest fact first. One possible reading of that row, a hypothesis: a fact
# written early enters a memory still close to states the reader knows from training, a fact written late one
# that has moved for many segments.
#
# ## 8. What a long text costs
#
# Reading a text of `s` tokens, full attention computes scores between every pair of positions, `s x s` per
# layer and head, and holds every position's keys and values at once. The RMT reads one segment at a time,
# `(2m + n) x (2m + n)` scores per segment, and keeps only its `m` memory vectors between segments. We count the
# scores, and measure the peak of the memory the tensors of one reading take (`long_context.reading_cost`;
# `minirmt.course.meter.PeakMemory` adds up every tensor an operation returns while it is alive): neither depends
# on what else the machine is doing. Time does: with `MEASURE_LIVE = True` the cell also plots milliseconds per
# thousand tokens (the median of 5 readings of one text per length, on this machine). Both axes of the plot are
# logarithmic: a line of slope 1 grows with the length, a line of slope 2 with its square.

# %%
MEASURE_LIVE = False
cost_factors = nb.pick(ci=[1, 4, 16], lab=[1, 4, 16, 64], full=[1, 4, 16, 64, 256, 1024])
cost = {label: [] for label in ("RMT", "full attention")}
for f in tqdm(cost_factors, desc="lengths"):
    for label in cost:
        row = long_context.reading_cost(models[label].to(device), task, f * train_segments, device=device)
        g, m = f * train_segments, models["RMT"].cfg.num_mem_tokens
        row["attention scores per layer and head"] = (g * n) ** 2 if label == "full attention" else g * (2 * m + n) ** 2
        if not MEASURE_LIVE:
            row.pop("ms per 1k tokens")
        cost[label].append(row)

# %%
viz.plot_curves(cost, metrics=["attention scores per layer and head", "peak MiB"]
                + (["ms per 1k tokens"] if MEASURE_LIVE else []), x="tokens", title="reading one text", log=True)

# %% tags=["nbval-check-output"]
rmt_mib = [row["peak MiB"] for row in cost["RMT"]]
full_mib = [row["peak MiB"] for row in cost["full attention"]]
growth = cost_factors[-1] / cost_factors[0]
print("RMT's peak memory is flat (within 10%) from the shortest text to the longest:", rmt_mib[-1] < 1.1 * rmt_mib[0])
print("full attention's grows at least half as fast as the length:", full_mib[-1] > growth / 2 * full_mib[0])
assert rmt_mib[-1] < 1.1 * rmt_mib[0] and full_mib[-1] > growth / 2 * full_mib[0]

# %% [markdown]
# The RMT's peak memory does not move with the length: one segment's activations and `m` vectors, whatever
# came before. Full attention's grows with every token (its keys and values; PyTorch's fused attention never
# stores the `s x s` scores, so it grows linearly rather than quadratically). Its attention scores grow with the
# square of the length, the RMT's linearly. Whether that makes full attention slower on your machine depends on
# the lengths: a loop of small segments against a few large matrix products (Section 9 shows a GPU run where
# full attention is faster up to 65,536 tokens). What it cannot do at those lengths is answer. The RMT follow-up
# read two million tokens one segment at a time, with this flat memory.
#
# ## 9. At GPU scale
#
# In `full` mode, on a GPU, this notebook trains the three models live, for 8,000 steps instead of 4,000,
# reads texts up to 4,096 times the training length (32,768 segments, 262,144 tokens), and writes what it
# measured to `runs/09_reading_far/needle_full_mode.json`. The package ships the result of one such run (one seed).

# %%
results_file = nb.pick(ci=None, lab=None, full=Path("runs/09_reading_far/needle_full_mode.json"))
if results_file:  # full mode: keep this run's measurements, in a run folder
    results_file.parent.mkdir(parents=True, exist_ok=True)
    results_file.write_text(json.dumps({
        "device": torch.cuda.get_device_name() if device == "cuda" else platform.processor() or "CPU",
        "train_segments": train_segments, "steps": live_steps, "accuracy": {k: {str(g): a for g, a in v.items()} for k, v in accuracy.items()},
        "cost": cost}, indent=1))
gpu = pretrained.result("needle_full_mode")
print(f"{gpu['device']}: trained on 1 to {gpu['train_segments']} segments for {gpu['steps']:,} steps")
for label, row in gpu["accuracy"].items():
    print(f"{label:15s} " + "  ".join(f"{int(g) // gpu['train_segments']}x: {a:.2f}" for g, a in row.items()))
print("reading one text on the GPU, ms per 1k tokens and peak MiB:")
for label, rows in gpu["cost"].items():
    print(f"{label:15s} " + "  ".join(f"{r['tokens']}: {r['ms per 1k tokens']:.1f} ms, {r['peak MiB']:.2f} MiB"
                                      for r in rows))

# %% tags=["nbval-check-output"]
gpu_rmt = {int(g): a for g, a in gpu["accuracy"]["RMT"].items()}
gpu_full = {int(g): a for g, a in gpu["accuracy"]["full attention"].items()}
longest = max(gpu_rmt)
print(f"GPU run: the RMT stays above 0.7 up to {longest // gpu['train_segments']}x the training length:",
      min(gpu_rmt.values()) > 0.7)
print("full attention is near chance from 8x on:", all(a < 0.2 for g, a in gpu_full.items() if g >= 8 * 8))
assert min(gpu_rmt.values()) > 0.7 and all(a < 0.2 for g, a in gpu_full.items() if g >= 8 * 8)

# %% [markdown]
# The GPU run is one seed, trained twice as long, in bfloat16. It reads 4,096 times the training length
# (262,144 tokens) without collapsing, but not perfectly: 0.94 at 4x, then about 0.75 from 16x all the way to
# 4,096x, like the CPU seed that settled near 0.87. Full attention, also trained twice as long, scores 0.53
# at 2x, where every CPU seed scored 1.00 (Section 4), and is at chance from 8x on. More steps did not
# buy a perfect reader here; whether bfloat16 rounding of the memory at every segment costs accuracy, we did not
# measure. What the run shows at scale is the shape: the RMT's accuracy holds its level from 16x to 4,096x the
# training length (a factor of 256) with a memory of 4 vectors, and its peak memory does not grow.

# %% [markdown]
# ## Summary
#
# - A needle task hides a fact in filler and asks about it at the end: on texts of more than one segment a
#   model without memory is at chance, so every right answer is memory at work.
# - Trained on texts of up to 8 segments, the RMT answers on texts dozens of times longer: at 32x the mean
#   over 3 seeds is 0.95 (two seeds at 1.00, one at 0.84), with a peak memory that does not depend on the
#   length. At 1,024x it depends on the seed: seed 1 still answers every question, seed 2 about 0.87, seed 0
#   falls to 0.17. Full attention, trained on the same texts, is far below the RMT from 8x (0.06-0.32 over 3
#   seeds at 8x, against chance 0.125; at most 0.16 by 32x), and its memory grows with the length.
# - The same recipe run for 2,000 steps instead of 4,000 is just as right at the training length and fails far sooner:
#   length generalisation is a property of the training, not only of the architecture, and only reading
#   longer texts measures it. Why it fails is open: its memory drops suddenly, then stays flat, but at 16x
#   the model that still answers has moved further than the one that fails.
#
# ## Questions
#
# 1. The segment-only model answers every question on a text of one segment, and is at chance on texts of two
#    segments or more (printed in Section 4). Why?
# 2. Full attention sees the whole text at once. Why does it fail on longer texts, while it answers at the
#    training length?
# 3. The RMT's attention scores per token are constant, and so is its peak memory. What does that make the cost of
#    reading a text of a million tokens?
# 4. Both RMTs of Section 6 are perfect at the training length. They are two runs of one recipe, not one run
#    stopped early: the 2,000-step run has its own cosine schedule, which reaches its lowest learning rate at
#    step 2,000. If what you want is long texts, how would you choose the number of steps?
# 5. In the heatmap, is a needle at the start of a long text harder than one just before the question? What
#    does the answer tell you about how the memory fails?

# %% [markdown] tags=["answer"]
# **Answers** (the instructor's key; learner copies leave this cell out)
#
# *Predictions.* Section 4: at the training length the RMT and full attention answer, segment-only guesses. At
# 4x full attention is already far below 1 and falls towards chance; the RMT answers at 4x and 32x, and at 256x
# in two of the three recorded seeds (seed 0 falls to 0.38 there, printed in Section 4). Section 6: no, the RMT
# trained for 2,000 steps reads far less far: its accuracy falls within a few doublings past the training
# length, although it is perfect at it.
#
# 1. In a text of one segment the fact and the question share the segment, and the model reads both: it
#    answers (1.00 for the shipped model). In a longer text the fact always sits before the last segment, and
#    the last segment holds the question but not the fact; the model carries nothing from earlier segments, so
#    every value is equally likely given what it sees. Its best is `1 / num_values`.
# 2. Its attention has only ever been trained at distances up to 64 positions (rotary positions encode
#    distances). At 128 or 1,000 positions the query-key scores meet phases it never saw, and the head that
#    found the key on short texts no longer finds it: nothing in training asked it to.
# 3. Linear time and constant memory: a million tokens are 125,000 segments of 8, each the same small
#    computation, so the time grows linearly: a million times the cost of a token (and the same
#    `m` vectors of memory at the end as at the start); full attention would need `10^12` scores per layer
#    and head.
# 4. Compare whole runs of different lengths on longer texts (a held-out set at, say, 8x and 32x the training
#    length): the training accuracy cannot tell the two models apart. Stopping a 4,000-step run at step 2,000
#    would not give the 2,000-step model, since its learning rate would still be high there; to pick the steps
#    from one run, evaluate long texts along it and then train again with the chosen number of steps (its
#    schedule scaled to fit). Training with more segments, or on a mix that reaches longer, is the other lever.
# 5. Not in the lab run: at 16x the needles at the start of a long text are found *more* often than the
#    others, and at 64x no depth stands out. Read from that one row, the memory is not overwritten segment by
#    segment (that would lose the oldest facts first); why a fact written late is harder to find is a hypothesis
#    (Section 7). Check it on your own run's heatmap: with another seed the numbers change.

# %% [markdown]
# ## References
#
# - A. Bulatov, Y. Kuratov, Y. Kapushev, M. Burtsev. *Scaling Transformer to 1M tokens and beyond with RMT.*
#   2023. [arXiv:2304.11062](https://arxiv.org/abs/2304.11062)
# - Y. Kuratov, A. Bulatov, P. Anokhin, I. Rodkin, D. Sorokin, A. Sorokin, M. Burtsev. *BABILong: Testing the
#   Limits of LLMs with Long Context Reasoning-in-a-Haystack.* NeurIPS 2024 Datasets and Benchmarks.
#   [arXiv:2406.10149](https://arxiv.org/abs/2406.10149)
# - A. Bulatov, Y. Kuratov, M. Burtsev. *Recurrent Memory Transformer.* NeurIPS 2022.
#   [arXiv:2207.06881](https://arxiv.org/abs/2207.06881)
# - In this package: `minirmt/data/tasks/needle.py`, `minirmt/course/long_context.py`, `minirmt/course/meter.py`,
#   `minirmt/course/pretrained.py`.
