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
# # 04 · Associative recall and memory capacity
#
# **Store key-value pairs in the first segment, answer "what was the value of key `f`?" three segments later.
# Copy only has to replay a list; recall has to bind each key to its value and look it up. How much fits in
# `m` memory vectors of width `d`, and what does it take to *learn* to use them? Counted in bits, the space is
# plentiful here; what this notebook's runs show to be hard is the learning.**
#
# ### What you will learn
# - build an associative-recall batch (the paper's associative retrieval, RMT Sec. 4) and its multi-query
#   cousin MQAR (Zoology, Arora et al. 2023);
# - run the two controls every memory experiment needs: full attention and no memory;
# - recognise a training plateau, the "bag of values", and compute the accuracy it gives;
# - see what one small change to the input, the *token shift*, does to that plateau, and why;
# - train the RMT through a curriculum over segment lengths and read the result over ten seeds;
# - set the paper's retrieval figure (Fig. 4) beside the authors' numbers;
# - count the bits a set of pairs holds and compare them with the memory's `m x d` numbers;
# - meet a second route, the *memory hint*, a training aid that tells the memory what to hold.
#
# ### Prerequisites
# Notebooks 02 (recurrence, BPTT) and 03 (copy, accuracy on the answers, curriculum over segments). Shapes
# use the course's letters: `b` batch, `s` sequence, `g` segments, `n` segment length, `m` memory tokens,
# `d` model width, `v` vocabulary; here also `p` pairs and `q` queries.

# %% [markdown]
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/minirmt/minirmt/blob/v0.1.0/notebooks/exercises/04_associative_recall.ipynb) (the learner copy)
#
# *This is the instructor's copy: it holds the worked solutions and the answer key. Learners open `notebooks/exercises/04_associative_recall.ipynb`.*

# %% tags=["nbval-skip"]
# On Colab, install this release of minirmt (elsewhere this cell does nothing).
import sys

if "google.colab" in sys.modules:
    import subprocess

    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "minirmt @ git+https://github.com/minirmt/minirmt@v0.1.0"], check=True)

# %%
import math

import torch

from minirmt import viz
from minirmt.course import checks, nb, pretrained
from minirmt.data import tasks
from minirmt.training.task_loop import train

nb.setup()

# %% [markdown]
# Everything that depends on the run mode is chosen here. The package ships every run this notebook analyses,
# trained with the recipes printed beside them (`pretrained.run_of(name)`), and the notebook reads them; replace
# the line below by `TRAIN_LIVE = True` to train them here instead, with the same recipes and seeds (about five
# minutes on a laptop CPU, with progress bars; the `full` run mode trains them anyway).

# %%
TRAIN_LIVE = nb.pick(ci=False, lab=False, full=True)


def shipped_or_live(name):
    """The shipped run `name`, or, with TRAIN_LIVE, the same recipe trained here."""
    if not TRAIN_LIVE:
        return pretrained.trained(name)  # made by `python -m minirmt.course.pretrained NAME`
    run = pretrained.run_of(name)
    return train(run.build_model(), run.task, run.train_config)


# %% [markdown]
# ## 1. The task
#
# The paper's third algorithmic task, associative retrieval (Sec. 4), asks the model to store pairs and
# answer a query about one of them. Our version (`tasks.make_task("assoc", n)`): 16 keys (`a`-`p`) and 16
# values (`0`-`F`); `p` pairs written `k v k v ...` at the start, padded to whole segments; then a query phase
# at the very end that asks every stored key once, in random order, each followed by its value (teacher
# forcing), with the loss on the values. This is our layout, used in every run of this notebook; the paper's
# (4 pairs of 26 letter keys and 10 digit values, one query, a fixed total length cut into 1 to 5 segments)
# is `make_task("assoc", layout="paper", segments=g)`. Here 4 pairs over 4 segments of 8: the pairs fill the
# first segment, the questions close the last one, three segments later.

# %% tags=["nbval-check-output"]
n, g, p = 8, 4, 4
task = tasks.make_task("assoc", segment_len=n, num_pairs=p)
tokens, targets = task.sample(batch_size=4, num_segments=g, generator=torch.Generator().manual_seed(0))
print("tokens", tuple(tokens.shape), " vocabulary", task.vocab_size, " chance", task.chance_accuracy)
print(task.render(tokens[0], targets[0]))

# %% [markdown]
# Values are drawn independently (a value can be stored twice, as `3` is in the example built by hand below), so without the pairs a fed-back
# value says nothing about the next answer: a model that cannot see the pairs is at chance, 1/16. Two things make recall harder than copy: the memory must keep
# *which value goes with which key*, not just a list, and the order of the questions is random, so the
# model cannot simply replay what it stored.
#
# **MQAR** (multi-query associative recall; Zoology, Arora et al. 2023, Sec. 3) scatters the queries over a
# long stretch of padding and never feeds the answers back: the target sits on the key itself.

# %% tags=["nbval-check-output"]
mqar = tasks.make_task("mqar", segment_len=4, num_pairs=4)
print(mqar.render(*(x[0] for x in mqar.sample(1, 6, torch.Generator().manual_seed(0)))))

# %% [markdown]
# ### Exercise 04.1: a recall batch
#
# Write `recall_batch(keys, values, order, s)`: the token ids of the stored pairs, `keys (b, p)` and
# `values (b, p)`, and `order (b, q)`, which pair each query asks, in asking order; return `tokens (b, s)`
# and `targets (b, s)` in the layout above. The pairs go `k v k v ...` from position 0; the query phase
# takes the **last** `2q - 1` positions, `k v k v ... k` (the last value is only a target, never read); the
# target at each asked key is its value; `tasks.PAD` fills the rest of the tokens and -100 the rest of the
# targets. `keys.gather(1, order)` picks the asked keys.

# %%
def recall_batch(keys, values, order, s):
    """Pairs `keys, values (b, p)` and queries `order (b, q)` -> `tokens (b, s)`, `targets (b, s)`."""
    ### BEGIN SOLUTION
    b, p = keys.shape
    q = order.shape[1]
    start = s - (2 * q - 1)  # the first query
    tokens = torch.full((b, s), tasks.PAD)
    tokens[:, 0 : 2 * p : 2], tokens[:, 1 : 2 * p : 2] = keys, values  # k v k v ...
    asked_keys, asked_values = keys.gather(1, order), values.gather(1, order)  # (b, q)
    tokens[:, start::2] = asked_keys
    tokens[:, start + 1 :: 2] = asked_values[:, :-1]  # fed back, except the last
    targets = torch.full((b, s), -100)
    targets[:, start::2] = asked_values  # after reading a key, say its value
    return tokens, targets
    ### END SOLUTION


# %% tags=["nbval-check-output"]
recall_batch = checks.check_recall_batch(recall_batch)

# %% [markdown]
# With your builder you can write any recall question by hand. Here one sequence stores `a -> 3`, `b -> 7`,
# `c -> 3` and asks `c` then `a`:

# %% tags=["nbval-check-output"]
key = {c: tasks.FIRST_SYMBOL + i for i, c in enumerate("abcdefghijklmnop")}
value = {c: tasks.FIRST_SYMBOL + 16 + i for i, c in enumerate("0123456789ABCDEF")}
mine = recall_batch(torch.tensor([[key["a"], key["b"], key["c"]]]), torch.tensor([[value["3"], value["7"], value["3"]]]),
                    order=torch.tensor([[2, 0]]), s=12)
print(task.render(mine[0][0], mine[1][0]))

# %% [markdown]
# ## 2. Two controls, and a plateau
#
# Before training the RMT, calibrate the task with two models of the same size (`preset("lab")`: d 64, 2 layers,
# 4 heads; the segment-only model has the token shift of Section 3, full attention here does not):
#
# - `FullTransformer` sees the whole sequence as one context (no segments): the task is then a lookup by
#   attention. It shows what this model size can learn with this recipe.
# - `SegmentTransformer` sees one segment at a time and carries nothing: it must stay at chance, 1/16.
#
# **Predict** both accuracies. A hint in the form of a question: what accuracy does a model get that knows
# *which values* were stored, but not which key goes with which?

# %%
runs = {name: shipped_or_live(name) for name in ("assoc-full-plain", "assoc-segment")}
for name, run in runs.items():
    print(f"{name:>16}: accuracy {run.metrics['eval_accuracy']:.3f} after {run.step} steps   "
          f"recipe: {pretrained.CHECKPOINTS[name][2]}")
viz.plot_curves({name: run.history for name, run in runs.items()}, metrics=("loss", "eval_accuracy"))

# %% [markdown]
# Work the hint out. Take a model that sees the stored values but not which key has which. Asked the first key,
# it can only guess among the `p` stored values; that answer is then fed back, so it can cross it off and guess
# the second among the `p - 1` left, and so on; the last answer is certain. If the `p` values were all different,
# its accuracy would be the mean of `1/p, 1/(p-1), ..., 1`. But values repeat (they are drawn independently),
# and a repeated value is a better guess: with `3, 3, 7` stored, guessing `3` is right 2 times in 3. The best
# such model guesses a most frequent value left, and its accuracy, averaged over random draws, is the
# **bag-of-values plateau**. `bag_of_values` estimates it by drawing many sets of values.

# %% tags=["nbval-check-output"]
def distinct_values(pairs):
    """The plateau if the stored values were all different: mean of 1/p, 1/(p-1), ..., 1."""
    return sum(1 / k for k in range(1, pairs + 1)) / pairs


def bag_of_values(pairs, num_values=16, draws=100_000):
    """Accuracy of knowing which values were stored (repeats included), not which key has which, crossing off
    each fed-back answer and guessing a most frequent value left; averaged over `draws` random sets."""
    generator = torch.Generator().manual_seed(0)
    asked = torch.randint(num_values, (draws, pairs), generator=generator)  # (b, p), already in asking order
    right = 0.0
    for i in range(pairs):  # the i-th question: the values not yet fed back are asked[:, i:]
        left = torch.nn.functional.one_hot(asked[:, i:], num_values).sum(dim=1)  # (b, v): how often each is left
        right += (left.max(dim=1).values / (pairs - i)).mean().item()
    return right / pairs


for pairs in (2, 3, 4, 8):
    print(f"{pairs} pairs: bag of values {bag_of_values(pairs):.3f}   (all values different: "
          f"{distinct_values(pairs):.3f})")

# %% tags=["nbval-check-output"]
def evaluations(run):
    """{step: held-out accuracy} of a run's evaluations."""
    return {r["step"]: r["eval_accuracy"] for r in run.history if "eval_accuracy" in r}


plateau = bag_of_values(p)
full_at = evaluations(runs["assoc-full-plain"])
on_plateau = all(abs(a - plateau) < 0.03 for step, a in full_at.items() if step >= 200)
print(f"full attention within 0.03 of the plateau ({plateau:.3f}) from step 200 to its end:", on_plateau)
print("segment-only within 0.05 of chance:", runs["assoc-segment"].metrics["eval_accuracy"] < task.chance_accuracy + 0.05)
assert on_plateau and runs["assoc-segment"].metrics["eval_accuracy"] < task.chance_accuracy + 0.05

# %% [markdown]
# The segment-only model is at chance, as it must be. Full attention, which sees the pairs and the questions at
# once, climbs within 200 steps to the bag-of-values plateau (0.57 with 4 pairs: the dashed line of the next
# figure; within 0.03 of it, checked above) and is still there after 1,500
# steps in this run (one seed). Learning *which* values appeared is easy: attention to "the values" as
# a group is enough. Binding a key to its value takes two attention steps that only pay off together: in the first
# layer, each value must take in the key just before it (a *previous-token head*); in the second, the question
# must look for that key among the values. Until the first exists the second earns nothing, and until the second
# exists nothing in the loss rewards the first. That is a reading of the curve, not yet a test of it; the next
# section tests it.
#
# ## 3. The token shift
#
# If the plateau is the missing previous-token head, handing each token its predecessor directly should remove
# it. The **token shift** does exactly that: a token's input embedding is its own embedding plus a second,
# learned embedding of the token before it (`ModelConfig(token_shift=True)`, `minirmt/model/backbone.py`,
# `ShiftedEmbedding`). It is not in the RMT paper; it is the "smeared keys" of Olsson et al. (2022) and the token
# shift of RWKV. Inside a segment only: a segment's first token gets nothing, so no model sees across a segment
# boundary through it (the segment-only control above has the shift too, and it is at chance).
#
# **Predict**: the same full-attention model, same recipe and seed, with the shift. Does it leave the plateau?

# %%
runs["assoc-full"] = shipped_or_live("assoc-full")
print("the segment-only control has the shift as well:", pretrained.run_of("assoc-segment").model_config.token_shift)
print("assoc-full-plain and assoc-full differ only in:",
      {k: (a, b) for k, a in vars(pretrained.run_of("assoc-full-plain").model_config).items()
       if (b := vars(pretrained.run_of("assoc-full").model_config)[k]) != a})
figure = viz.plot_curves({"full attention": runs["assoc-full-plain"].history, "full attention + token shift":
                          runs["assoc-full"].history}, metrics=("eval_accuracy",),
                         title="4 pairs over 4 segments, one seed each")
figure.axes[0].axhline(plateau, color="0.3", linestyle="--", linewidth=1, label="bag-of-values plateau")
figure.axes[0].axhline(task.chance_accuracy, color="0.6", linestyle=":", linewidth=1, label="chance")
figure.axes[0].legend(fontsize=8)
figure

# %% tags=["nbval-check-output"]
shift_at = evaluations(runs["assoc-full"])
left_at = min(step for step, a in shift_at.items() if a >= 0.95)
print(f"with the shift: 0.95 first at step {left_at}, {shift_at[max(shift_at)]:.3f} at the end")
print(f"without it: never above {max(full_at.values()):.2f}")
assert shift_at[max(shift_at)] >= 0.95 and max(full_at.values()) < 0.7

# %% [markdown]
# With the shift the run sits on the same plateau for a while, then leaves it abruptly and answers every question;
# without it, the same seed and recipe never leave. One pair of runs supports the reading of Section 2 rather than
# proves it (Question 4 asks you to run more seeds), and it tells you where to look: if the reading is right, the
# plateau is a circuit that gradient descent finds late, because half of it earns nothing alone. Either way the
# plateau is not a failure of memory: full attention, which needs no memory at all, shows it too.
#
# ## 4. The RMT: a curriculum over segment lengths
#
# Now the RMT (`m = 8` memory tokens) on the same task, with the shift and a second aid: a **curriculum over the
# number of segments at a fixed length**. The authors' later work (Bulatov et al., 2023) trained with a curriculum
# that adds segments; this one keeps the text and cuts it finer. The
# same 32 tokens are first read as one segment of 32 (the pairs and the questions side by side, plus the
# memory), then as 2 segments of 16, then as the target, 4 segments of 8. The memory keeps its size; a stage
# ends when an evaluation passes 0.9, and the run stops at 0.98. This is `python -m minirmt train --task assoc`.
# Its optimiser settings are not those of Sections 2-3 (a learning rate of 5e-3 against 3e-3, among others: the
# recipe is printed below), so how fast it learns is not comparable with the full-attention runs there.

# %%
runs["assoc-rmt"] = rmt = shipped_or_live("assoc-rmt")
print("recipe:", pretrained.run_of("assoc-rmt").train_config)
print(f"RMT: accuracy {rmt.metrics['eval_accuracy']:.3f} on 4 pairs over 4 segments after {rmt.step} steps")
viz.plot_curves(rmt.history, metrics=("loss", "eval_accuracy", "stage"))

# %% tags=["nbval-check-output"]
stage_at = {r["step"]: r["stage"] for r in rmt.history if "eval_accuracy" in r}
print("reaches the last stage (4 segments of 8):", max(stage_at.values()) == 2)
print("0.95 or more on it at the end:", rmt.metrics["eval_accuracy"] >= 0.95)
one_segment = [a for step, a in evaluations(rmt).items() if stage_at[step] == 0]
cut = [a for step, a in evaluations(rmt).items() if stage_at[step] > 0]
print(f"one segment: up to {max(one_segment):.3f}; once cut: first {cut[0]:.3f}, last {cut[-1]:.3f}")
assert max(stage_at.values()) == 2 and rmt.metrics["eval_accuracy"] >= 0.95
assert cut[0] < max(one_segment) - 0.03 and cut[-1] > cut[0]

# %% [markdown]
# Curriculum stage 0 is one segment of 32, 1 is two of 16, 2 the target; the held-out accuracy is measured on the
# stage the run is in, so its points before the target are on easier versions of the task. In one segment the run answers nearly everything
# (0.999, printed above); when the text is first cut (the answers now have to cross a memory hand-over),
# accuracy drops, then climbs back through the later stages. One reading, which the curve fits but does not
# prove: the binding learned in one segment carries over, and what is new is writing it into the memory and
# reading it back.
#
# One run says little about a recipe. The package ships the same recipe over 10 seeds, each final model scored on
# 8,192 fresh answers. **Predict**: how many of the 10 reach 0.95?

# %%
study = pretrained.result("assoc_seeds")
print("made by:", study["made_by"])
seeds = study["results"]["assoc"]  # one row per seed: held_out, steps_to_solve, seconds_to_solve, curve, ...
for r in seeds:
    print(f"seed {r['seed']}: held-out {r['held_out']:.3f}, 0.95 first at step {r['steps_to_solve']}, "
          f"stopped at step {r['steps']}")
viz.plot_curves({f"seed {r['seed']}": [{"step": step, "eval_accuracy": a} for step, _, a in r["curve"]] for r in seeds},
                metrics=("eval_accuracy",), title="RMT, shift + length curriculum: 10 seeds", legend="below")

# %% tags=["nbval-check-output"]
held_out = [r["held_out"] for r in seeds]
print(f"seeds at 0.95 or more held-out: {sum(a >= 0.95 for a in held_out)} of {len(held_out)}")
assert len(held_out) == 10 and min(held_out) >= 0.95

# %% [markdown]
# Every seed of ten solves it, in a few hundred steps. That it works is shown; *which* of the two aids each seed
# needed is not (Question 5 asks you to take the curriculum away).
#
# ### The paper's retrieval figure
#
# The paper's own layout (Sec. 4, Fig. 4) is smaller and harder on the memory: 4 pairs `k1 v1 ... k4 v4`, then one
# of the keys again as the question and `?`, where the one answer, its value, is the target: 10 tokens in all, cut
# into `g = 1 ... 5` segments (printed below), with as many memory tokens as a segment has tokens. At `g = 5` the
# first four segments hold one pair each and the last the question, and 2 memory tokens must carry all 4 pairs
# to it. We ran the paper's comparison (`python -m minirmt experiment paper`, most runs on a GPU) at the authors'
# size for this task (`preset("paper-retrieval")`: width 64, 6 layers): the RMT,
# Transformer-XL with a cache of one segment, and a model without memory, 3 seeds each, every model with the shift.
# The RMT trained with the same kind of curriculum as above (the 10 tokens read as 1, 2, ... segments up to `g`),
# in batches of 256 and without dropout, for at most 10,000 steps; the baselines on the target from the start, as
# in the paper, in batches of 64 (Transformer-XL for at most 6,000 steps, the model without memory 1,000: the step
# counts are printed below). The recipes are in `minirmt/training/recipes.py` (`PAPER_TASK_RECIPES`,
# `PAPER_MODEL_RECIPES`, printed below).
#
# The authors' figure puts a run at "`g` segments" when they gave it segments of `t = ceil(10 / g)` tokens and a
# memory (or cache) of `t`; they then cut the 10 tokens with `torch.chunk(x, 10 // t)`, which makes `10 // t`
# pieces: their "3 segments" (`t = 4`) ran as two of 5, like their "2", and their "4" (`t = 3`) as [4, 4, 2].
# Below, every run sits at the number of pieces that really ran (ours: `[5, 5]` at `g = 2`, `[4, 4, 2]` at 3,
# `[3, 3, 3, 1]` at 4, five of 2 at 5), the authors' too, each with the memory it had (printed below: at `[4, 4, 2]`
# theirs was 3 tokens, ours 4); they ran nothing cut like our `g = 4`. The thick bars are the authors' range over
# their seeds.

# %% tags=["nbval-check-output"]
for g in range(1, 6):
    paper_assoc = tasks.make_task("assoc", layout="paper", segments=g)
    print(f"g = {g}, segments of n = {paper_assoc.segment_len}:")
    print(paper_assoc.render(*(x[0] for x in paper_assoc.sample(1, g, torch.Generator().manual_seed(0)))))

# %%
from minirmt.training import paper_experiment, paper_reference, recipes

paper_run = pretrained.result("paper_figure")
print("made by:", paper_run["made_by"])
retrieval = [r for r in paper_run["rows"] if r["task"] == "assoc"]
ours = paper_experiment.summarize(retrieval)["assoc"]  # {model: {g: (mean, lowest, highest, seeds)}}
for model in paper_experiment.MODELS:
    print(f"{paper_experiment.LABELS[model]:15s} " + "  ".join(
        f"g={g}: {mean:.2f} ({low:.2f}-{high:.2f}, {seeds} seeds)" for g, (mean, low, high, seeds) in ours[model].items()))
    runs = [r for r in retrieval if r["model"] == model]
    print(f"{'':15s} at most {max(r['steps'] for r in runs):,} steps of {runs[0]['batch_size']} sequences")
print("recipes: every model", recipes.PAPER_TASK_RECIPES["assoc"], "; the RMT also",
      recipes.PAPER_MODEL_RECIPES[("assoc", "rmt")])
print("the authors' runs we compare with (their label, the cut that ran, memory or cache, sequences, seeds):")
for model in ("rmt", "xl"):
    for g in ours[model]:
        for run in paper_reference.comparable("assoc", model, g):
            print(f"  {paper_experiment.LABELS[model]:15s} our g={g}: their \"{run.label}\", cut {list(run.cut)}, "
                  f"{'memory' if model == 'rmt' else 'cache'} {max(run.memory, run.cache)}, "
                  f"{run.steps * paper_reference.BATCH_SIZE / 1e6:.1f}M sequences, seeds {run.accuracy}")
authors_low = {g: paper_reference.lowest("assoc", "rmt", g) for g in ours["rmt"]}
print("authors' RMT, lowest seed:", authors_low)
rmt_runs = [r for r in retrieval if r["model"] == "rmt"]
print(f"our RMT runs: {min(r['sequences'] for r in rmt_runs):,}-{max(r['sequences'] for r in rmt_runs):,} training "
      f"sequences; the authors' RMT runs: {paper_experiment.authors_range('assoc', 'rmt', 5)[2]:,}")
paper_experiment.plot_paper(retrieval)

# %% tags=["nbval-check-output"]
reached = {g: ours["rmt"][g][0] >= low for g, low in authors_low.items() if low is not None}
print("our RMT's mean at or above the authors' lowest seed, at each g they ran:", reached)
print("every RMT seed at 0.98 or more, at every g:", all(low >= 0.98 for _, low, _, _ in ours["rmt"].values()))
print("full context (g = 1, no memory needed): every seed at 0.99 or more:", ours["segment"][1][1] >= 0.99)
print("no memory from g = 3 on: every seed below 0.15:", all(ours["segment"][g][2] < 0.15 for g in (3, 4, 5)))
tenth = paper_experiment.authors_range("assoc", "rmt", 5)[2] / 10
print("every RMT run on a tenth of the authors' sequences or fewer:", all(r["sequences"] <= tenth for r in rmt_runs))
xl_below = {g: ours["xl"][g][2] < ours["rmt"][g][1] for g in (3, 4, 5)}
print("Transformer-XL's best seed below the RMT's worst, g = 3-5:", xl_below)
print("XL at g = 5: best seed below the authors' lowest:",
      f"{ours['xl'][5][2]:.2f} < {paper_reference.lowest('assoc', 'xl', 5):.2f}")
assert all(reached.values()) and len(reached) == 3
assert all(low >= 0.98 for _, low, _, _ in ours["rmt"].values()) and ours["segment"][1][1] >= 0.99
assert all(ours["segment"][g][2] < 0.15 for g in (3, 4, 5))
assert all(r["sequences"] <= tenth for r in rmt_runs)
assert all(xl_below.values()) and ours["xl"][5][2] < paper_reference.lowest("assoc", "xl", 5)
xl_seq = max(r["sequences"] for r in retrieval if r["model"] == "xl" and r["g"] >= 3)
rmt_seq = min(r["sequences"] for r in rmt_runs if r["g"] >= 3)
print(f"... on fewer sequences than any RMT run there: {xl_seq:,} < {rmt_seq:,}")
print(f"no memory at g = 2: about half right ({ours['segment'][2][0]:.2f})")
assert xl_seq < rmt_seq and 0.35 < ours["segment"][2][0] < 0.6
print("XL's dip: every seed at g = 4 below every seed at g = 5:", ours["xl"][4][2] < ours["xl"][5][1])
assert ours["xl"][4][2] < ours["xl"][5][1]

# %% [markdown]
# The RMT reaches the paper's result in every cell: 0.98 or more in every seed from 2 to 5 segments, at or above
# the authors' lowest seed wherever they ran the same cut, on a tenth of their training sequences or fewer. Our
# recipe differs from theirs in several ways at once (the shift, the curriculum, larger batches, no dropout); which
# of them buys the saving, these runs do not separate. Full
# attention over all 10 tokens (`g = 1`) answers every question, as it should. Without memory the model is at
# chance once the pairs lie in other segments than the question; at `g = 2` it gets about half right, since the
# question's own segment still shows some of the pairs. Transformer-XL, whose cache holds the previous segment's
# keys and values, stays below every RMT seed from 3 segments on, and at 5 segments below the authors' XL runs.
# Its budget was smaller: 384,000 sequences, against at least 512,000 for our RMT runs at 3 to 5 segments and 32M
# for the authors' XL runs (printed above), so neither comparison is like for like. Its dip at 4 segments, below its score at 5, is there in every seed; why, we have not tested (the last
# of the 4 segments holds only the `?`, as printed above). Each cell holds three seeds, a small sample: the spread between seeds is printed beside each mean.
#
# ## 5. How much is there to remember?
#
# Count it. The model must keep which `p` of the `K = 16` keys were stored (the order they came in does not
# matter for answering) and, for each, one of `V = 16` values.
#
# ### Exercise 04.2: bits in a set of pairs
#
# Write `pairs_information(num_pairs, num_keys, num_values)`: the bits needed to describe `p` stored pairs
# with distinct keys, `log2 C(K, p) + p log2 V` (`math.comb`, `math.log2`). Why `C(K, p)` and not
# `K^p` or `K! / (K - p)!`? The checker will tell you if you count the wrong thing.

# %%
def pairs_information(num_pairs, num_keys, num_values):
    """Bits in p stored pairs: which p of the K keys (as a set) and one of V values for each."""
    ### BEGIN SOLUTION
    return math.log2(math.comb(num_keys, num_pairs)) + num_pairs * math.log2(num_values)
    ### END SOLUTION


# %% tags=["nbval-check-output"]
pairs_information = checks.check_pairs_information(pairs_information)

# %% [markdown]
# Compare with the memory: `m x d` numbers, each a 32-bit float.

# %% tags=["nbval-check-output"]
d = pretrained.run_of("assoc-rmt").model_config.d_model
for pairs in (2, 4, 8, 16):
    print(f"{pairs:>2} pairs: {pairs_information(pairs, 16, 16):5.1f} bits")
for m in (1, 2, 8):
    print(f"m = {m}: {m * d} numbers = {m * d * 32:,} bits of float32")

# %% [markdown]
# Even one memory vector (`m = 1`, 64 floats, 2,048 bits) holds far more than the 64 bits of all 16 pairs.
# Counted in bits, the memory is not the bottleneck; how many pairs a trained RMT can actually keep is another
# question, an empirical property of the model and its training, not of `m x d`. This notebook does not measure
# it (no run here varies `m` or `p`); Question 7 asks you to. What Sections 2-4 did show is that *learning* to
# bind is the hard part, even where nothing has to be carried.
#
# ## 6. Another route: the memory hint
#
# Without the token shift, the RMT can still be taught this task by telling the memory, during training only,
# what it should hold. Two auxiliary losses on the memory after the first segment, `memory (b, m, d)` with
# `m <= n`:
#
# - **copy**: read through the model's own vocabulary head, slot `j` must predict token `j` of the first
#   segment. The memory becomes a copy of the pairs, which the next segment reads as if they were tokens.
# - **previous**: through a separate linear probe (`d -> v`), slot `j` must predict token `j - 1`, so the
#   slot of a value also carries its key: the previous-token head of Section 2, asked for directly.
#
# `hint loss = CE(head(memory), tokens[:, :m]) + CE(probe(memory[:, 1:]), tokens[:, :m-1])` is added to the
# task's loss in training steps; evaluation never sees it. It uses no answers, and the model you evaluate is a
# plain RMT (the probe is not part of it). But it is **task-aware**: it tells the memory to keep the first
# segment, which is where this task puts its pairs. It is not in the RMT paper. In the library it is
# `TrainConfig(memory_hint=True)` (`minirmt/training/hint.py`; on the command line `--memory-hint`). This run
# uses it with a curriculum over pairs (2, then 3, then 4 pairs over 2 segments, then 3 and 4 segments) and no
# token shift.

# %%
hinted = shipped_or_live("assoc-rmt-hint")
print("recipe:", pretrained.CHECKPOINTS["assoc-rmt-hint"][2])
print(f"RMT + memory hint: accuracy {hinted.metrics['eval_accuracy']:.3f} on 4 pairs over 4 segments after "
      f"{hinted.step} steps")
viz.plot_curves(hinted.history, metrics=("loss", "hint_loss", "eval_accuracy", "stage"))

# %% tags=["nbval-check-output"]
evidence = pretrained.result("assoc_evidence")
print("hint runs:", evidence["hint"]["about"])
print("plain runs:", evidence["plain"]["about"])
hint_held_out = [run["held_out"] for run in evidence["hint"]["runs"].values()]
plain_held_out = [run["held_out"] for run in evidence["plain"]["runs"].values()]
print(f"with the hint: {sum(a >= 0.95 for a in hint_held_out)} of {len(hint_held_out)} seeds at 0.95 or more")
print(f"neither hint nor shift (a curriculum over pairs): {sum(a >= 0.95 for a in plain_held_out)} of "
      f"{len(plain_held_out)}; the others at {sorted(round(a, 2) for a in plain_held_out if a < 0.95)}")
assert hinted.metrics["eval_accuracy"] >= 0.95 and all("hint_loss" in r for r in hinted.history if "loss" in r)
assert min(hint_held_out) >= 0.95 and sum(a >= 0.95 for a in plain_held_out) == 5
assert all(a < 0.25 for a in plain_held_out if a < 0.95)

# %% [markdown]
# The training loss is the task's; the memory-hint loss is the hint's, which training adds to it; as in Section 4,
# the held-out accuracy is measured on the current stage. Over seeds, the hint took every seed of 8 to the target; with
# neither the hint nor the shift, a curriculum over pairs took 5 of 10, and the other 5 ended at 0.09-0.20 on the
# target (chance 0.0625), far from solving it. The two studies differ in more than the hint (printed above: the
# schedule, the threshold, and a 180 s cap on the plain runs), so this says the hint route worked in every seed
# tried, not how much of the difference is the hint's. If the reading of Section 2 is right, the two routes remove the same obstacle: both
# hand the network the key-before-value link that it otherwise has to find by luck. The shift does it in the
# input, for any task, and carries nothing across segments; the hint does it in the memory, and only for tasks that
# put what matters in the first segment.
#
# ## Summary
#
# - Associative recall stores `p` key-value pairs and asks for them segments later, in random order: the
#   memory must bind keys to values, not just keep a list.
# - Controls first: a segment-only model sits at chance; full attention, which needs no memory, shows what the
#   network can learn, and here it sits on the bag-of-values plateau (`bag_of_values(4)` = 0.57).
# - The plateau is a learning problem, not a memory problem: full attention, which needs no memory, shows it too.
#   One reading, supported by one pair of runs: binding needs a previous-token head that earns nothing alone.
#   Handing each token its predecessor (the token shift, not in the paper) let the same full-attention run
#   leave the plateau.
# - The RMT with the shift and a curriculum over segment lengths (one segment of 32, two of 16, four of 8)
#   solves 4 pairs over 4 segments in every seed of 10.
# - On the paper's own retrieval layout (Fig. 4), with the same two aids and larger batches, the RMT reaches the
#   authors' lowest seed or more at 2, 3 and 5 segments and 0.98 or more at 4 (a cut they did not run), 3 seeds
#   each, on a tenth of their training sequences or fewer.
# - `p` pairs hold `log2 C(K, p) + p log2 V` bits, a tiny fraction of the memory's `m x d` floats.
# - The memory hint, a task-aware training aid, is another route: 8 seeds of 8 without the shift.
#
# ## Questions
#
# 1. Derive `distinct_values(p)` for large `p`. (Hint: the harmonic numbers.) How close to chance does it get?
#    Why is `bag_of_values(p)` above it, and by more as `p` grows?
# 2. `pairs_information(16, 16, 16)` is 64 bits, less than `pairs_information(8, 16, 16)` plus 32. Why
#    does storing *every* key make the set of keys free?
# 3. In MQAR the answers are never fed back. What is the bag-of-values plateau there?
# 4. Section 3 compared one seed with the shift and one without. Train `assoc-full-plain` and `assoc-full` with
#    seeds 1 and 2 (`pretrained.run_of(name)`, then `dataclasses.replace(run.train_config, seed=1)`). Does the
#    pattern hold?
# 5. Train the RMT of Section 4 with `curriculum="none"` for seeds 0 to 2. How many leave the plateau within
#    its 2,000 steps? What does that say about which aid the recipe needs?
# 6. Why must the token shift give a segment's *first* token nothing? What would the segment-only control of
#    Section 2 be able to do if it did not?
# 7. Measure capacity: train the RMT recipe of Section 4 with `num_mem_tokens` 8, 2 and 1, and with 4 and 8
#    pairs (`pretrained.run_of("assoc-rmt")`, then `dataclasses.replace` on its configs). Where does it stop
#    solving the task, and how does that compare with the bits of Section 5?

# %% [markdown] tags=["answer"]
# **Answers** (the instructor's key; learner copies leave this cell out)
#
# *Predictions.* Section 2: the segment-only model stays at chance, 1/16; full attention reaches the
# bag-of-values plateau (0.57 with 4 pairs) and, in this run, stays there. Section 3: with the shift it leaves the
# plateau and answers everything. Section 4: all 10 seeds reach 0.95.
#
# 1. `distinct_values(p) = (1 + 1/2 + ... + 1/p) / p = H_p / p`, about `(ln p + 0.58) / p`: it falls towards 0
#    as `p` grows, but with 16 pairs it is still `H_16 / 16 = 0.21`, well above chance (1/16), because the
#    fed-back answers narrow down the values left. `bag_of_values(p)` is higher because repeated values are
#    better guesses, and the more pairs there are, the more often some value repeats (with 8 pairs of 16 values
#    a repeat is likely: 1 - 16!/(8! 16^8), about 0.88).
# 2. With every key stored there is only one set of keys, `C(16, 16) = 1`, so it takes `log2 1 = 0` bits: only
#    the 16 values carry information (`16 x 4 = 64` bits). With 8 keys, *which* 8 of 16 is worth
#    `log2 C(16, 8) = 13.7` bits on top of the values' 32.
# 3. No answer is fed back, so nothing is crossed off: every question is a guess among the `p` stored values, the
#    best guess being a most frequent one. With all values different that is `1/p` (0.25 with 4 pairs) for every
#    question alike; repeats raise it a little, as in Question 1.
# 4. Expect the runs without the shift to stay on or near the plateau for most or all of the 1,500 steps, and
#    the runs with it to leave, at a step that varies from seed to seed. The point is the count over seeds, not
#    one run; if a seed breaks the pattern, that is a result to report.
# 5. Expect fewer seeds to reach the target without the curriculum, and later: at 4 segments of 8 the first
#    gradient toward binding has to pass through a memory hand-over, where in one segment of 32 it does not. If
#    all three solve it, the shift alone suffices for this task and the curriculum is insurance.
# 6. The first token of a segment would then get an embedding of the previous segment's last token: a channel
#    across the boundary that bypasses the memory. The segment-only control would no longer be blind (it could,
#    for example, pass on the last token of each segment), and the comparison "with memory against without"
#    would be unfair to the memory.
# 7. The course has no measured answer; that is the point of the question. A likely outcome: the RMT fails well
#    before the bits run out as `p` grows or `m` shrinks, because what limits it is what a slot can be trained to
#    hold and what the reader can pick out, not the float32 bits. Report the count over seeds, not one run.

# %% [markdown]
# ## References
#
# - A. Bulatov, Y. Kuratov, M. S. Burtsev. *Recurrent Memory Transformer.* NeurIPS 2022, arXiv:2207.06881:
#   Sec. 4 and App. A.2 (associative retrieval).
# - A. Bulatov, Y. Kuratov, M. S. Burtsev. *Scaling Transformer to 1M tokens and beyond with RMT.*
#   arXiv:2304.11062, 2023 (the curriculum over the number of segments).
# - S. Arora, S. Eyuboglu, A. Timalsina, I. Johnson, M. Poli, J. Zou, A. Rudra, C. Ré. *Zoology: Measuring
#   and Improving Recall in Efficient Language Models.* arXiv:2312.04927, 2023 (MQAR, Sec. 3).
# - C. Olsson et al. *In-context Learning and Induction Heads.* Transformer Circuits Thread, 2022 (previous-token
#   heads, "smeared keys", and the abrupt jump of two-step attention circuits).
# - B. Peng et al. *RWKV: Reinventing RNNs for the Transformer Era.* arXiv:2305.13048, 2023 (token shift).
# - In this package: `minirmt/data/tasks/recall.py` (`AssociativeRecall`, `MultiQueryRecall`),
#   `minirmt/model/backbone.py` (`ShiftedEmbedding`), `minirmt/training/task_loop.py` (`length_stages`,
#   `pair_stages`), `minirmt/training/hint.py` (the memory hint), `minirmt/training/recipes.py` (the recipes).
