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
# # 03 · Copy and reverse
#
# **The paper's first test of a memory: read a string of digits, then write it out again, forwards or
# backwards, when the string and its copy lie in different segments. A Transformer that sees one segment
# at a time cannot do it; the same Transformer with eight memory tokens learns it in a few minutes on a
# laptop.**
#
# ### What you will learn
# - lay out the copy and reverse tasks of the RMT paper (Sec. 4), in our layout and in the paper's, and build
#   their targets yourself;
# - measure a sequence model the way the paper does: per-token accuracy on the answers, and exact match;
# - predict, then see, that a segment-only Transformer stays at chance while the RMT solves the task;
# - read an accuracy-vs-segments plot, the paper's main figure for these tasks.
#
# ### Prerequisites
# Notebooks 01 (segments and memory tokens) and 02 (the recurrence and BPTT). Shapes use the course's
# letters: `b` batch, `s` sequence, `g` segments, `n` segment length, `m` memory tokens, `d` model width,
# `v` vocabulary.

# %% [markdown]
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/minirmt/minirmt/blob/v0.1.0/notebooks/exercises/03_copy_and_reverse.ipynb) (the learner copy)
#
# *This is the instructor's copy: it holds the worked solutions and the answer key. Learners open `notebooks/exercises/03_copy_and_reverse.ipynb`.*

# %% tags=["nbval-skip"]
# On Colab, install this release of minirmt (elsewhere this cell does nothing).
import sys

if "google.colab" in sys.modules:
    import subprocess

    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "minirmt @ git+https://github.com/minirmt/minirmt@v0.1.0"], check=True)

# %%
import dataclasses
import math

import torch

import minirmt
from minirmt import build_model, viz
from minirmt.course import checks, nb, pretrained
from minirmt.data import tasks
from minirmt.training.task_loop import train

nb.setup()

# %% [markdown]
# The experiments' sizes, in one place. The package ships the runs of Sections 3 and 4, each with its training
# settings (`pretrained.run_of(name).train_config`), so the notebook reads them in seconds; set
# `TRAIN_LIVE = True` to train them here instead, with the same settings (about three minutes on a laptop CPU,
# with progress bars). Seed 0 draws the same data and the same initial weights either way; a run trained here
# can still differ a little from the shipped one (another processor or thread count adds the same
# numbers in another order; a few hundredths of accuracy on reverse), not in what the notebook concludes from it (the
# checks below hold for both).

# %%
TRAIN_LIVE = False
SIZES = dict(counts=(1, 2, 4), eval_batch=256, solved=0.95)
SIZES

# %% [markdown]
# ## 1. The tasks
#
# The RMT paper tests its memory "on the tasks that require global information about the whole input
# sequence to be solved": copy, reverse and associative retrieval (Sec. 1 and 4). Copy and reverse read
# a source string and then, after a start symbol, write it again, as is or back to front. What makes them a
# test of memory is where things sit: the source fills the first segments and the answers the last ones, so
# every answer repeats a digit from an **earlier** segment, and nothing in its own segment says which.
#
# Our version (`minirmt.data.tasks`): 10 digits (token ids 2..11), `>` (GO, id 1) starts the answer, `_` (PAD,
# id 0) fills any gap. With `g` segments of `n = 8` tokens the source takes half the sequence. The model
# is trained like a language model with teacher forcing: `targets[t]` is what it must output after reading
# `tokens[: t + 1]`, and `.` marks positions where nothing is asked (target -100).
#
# **Two layouts.** The figures of Sections 3 and 4 use `minirmt`'s own layout: segments of a fixed length
# `n = 8`, the source half the sequence, so a longer sequence (more segments) also means a longer source. The
# paper does it the other way round (Sec. 4, Fig. 4): a fixed task (copy: 24 digits, then `>`, then the digits
# **twice**) cut into 1, 3, 6 or 9 segments, so more segments means shorter ones, and memory size = segment
# length. Ours lets one small model grow the difficulty step by step on a laptop; the paper's compares models
# on one task as it is cut finer. `make_task(name, layout="paper", segments=g)` gives the paper's (Section 5):

# %% tags=["nbval-check-output"]
n = 8
copy_task = tasks.make_task("copy", segment_len=n)
reverse_task = tasks.make_task("reverse", segment_len=n)
tokens, targets = copy_task.sample(batch_size=4, num_segments=4, generator=torch.Generator().manual_seed(0))
print("tokens", tuple(tokens.shape), "targets", tuple(targets.shape))  # (b, s) = (4, 32)
print(copy_task.render(tokens[0], targets[0]))
print(reverse_task.render(*(x[0] for x in reverse_task.sample(1, 4, torch.Generator().manual_seed(0)))))

# %% tags=["nbval-check-output"]
paper_copy = tasks.make_task("copy", layout="paper", segments=3)
print(f"the paper's copy in 3 segments of n = {paper_copy.segment_len}:")
print(paper_copy.render(*(x[0] for x in paper_copy.sample(1, 3, torch.Generator().manual_seed(0)))))
paper_reverse = tasks.make_task("reverse", layout="paper", segments=2)
print(f"the paper's reverse (24 digits, then them backwards) in 2 segments of n = {paper_reverse.segment_len}:")
print(paper_reverse.render(*(x[0] for x in paper_reverse.sample(1, 2, torch.Generator().manual_seed(0)))))

# %%
viz.plot_segments(tokens[0], n=n, m=8, title="copy over 4 segments as the RMT reads it: token ids (digit d is id d + 2), "
                                         "R read and W write slots")

# %% [markdown]
# The figure shows token ids, not digits: digit `d` is id `d + 2`, `GO` is 1 (the rendered lines above show
# the digits). The answer at position `GO + i` is source digit `i` (copy) or `L - 1 - i` (reverse, for a source of `L`
# digits). Read the rendered copy: the first target sits *at* the `>` itself, because after reading `>` the
# model must say the first digit. The digits after `>` are the answers fed back in (teacher forcing); the
# last answer is never fed back, since the sequence ends.
#
# ### Exercise 03.1: build the targets
#
# Write `copy_targets(tokens, reverse=False)`: from the token ids `(b, s)` of a copy (or reverse) sequence,
# return its targets `(b, s)`: -100 before `GO`, the right source digit from `GO` on. Find `GO`
# (`tasks.GO`) in each row; the source is the first `L = s - position of GO` tokens. `torch.gather` does
# it without a loop, but a loop is fine too.

# %%
def copy_targets(tokens, reverse=False):
    """Token ids `(b, s)` of copy/reverse sequences -> targets `(b, s)`: -100 before GO, then the source."""
    ### BEGIN SOLUTION
    s = tokens.shape[1]
    go = (tokens == tasks.GO).int().argmax(dim=1, keepdim=True)  # (b, 1): where GO sits
    i = torch.arange(s) - go  # (b, s): the answer number, negative before GO
    source = (s - go - 1 - i) if reverse else i  # (b, s): which source digit answers there
    answers = tokens.gather(1, source.clamp(0, s - 1))  # (b, s)
    return answers.masked_fill(i < 0, -100)
    ### END SOLUTION


# %% tags=["nbval-check-output"]
copy_targets = checks.check_copy_targets(copy_targets)

# %% tags=["nbval-check-output"]
print(torch.equal(copy_targets(tokens), targets))  # the task's own targets, rebuilt from the tokens

# %% [markdown]
# ## 2. Measuring: accuracy and exact match
#
# The paper reports accuracy on the answers. Two numbers are worth having: the **per-token accuracy** over
# answer positions (targets != -100), and the **exact match**, the fraction of sequences whose every answer
# is right. A model that gets 15 of 16 digits right has per-token accuracy 0.94 and can still have exact
# match 0.
#
# ### Exercise 03.2: accuracy on the answers
#
# Write `answer_accuracy(logits, targets)`: `logits (b, s, v)` and `targets (b, s)` in, `(accuracy,
# exact_match)` out, two Python floats. The prediction is the `argmax` over the vocabulary; count only the
# positions with a target. A sequence with no answers (every target -100) counts as an exact match, and stays
# among the `b` sequences of the mean.

# %%
def answer_accuracy(logits, targets):
    """Per-token accuracy on the answers and exact match, from `logits (b, s, v)` and `targets (b, s)`."""
    ### BEGIN SOLUTION
    asked = targets != -100  # (b, s)
    right = (logits.argmax(dim=-1) == targets) & asked  # (b, s)
    accuracy = right.sum() / asked.sum()
    exact = (right.sum(dim=1) == asked.sum(dim=1)).float().mean()  # every answer of the sequence right
    return accuracy.item(), exact.item()
    ### END SOLUTION


# %% tags=["nbval-check-output"]
answer_accuracy = checks.check_answer_accuracy(answer_accuracy)

# %% [markdown]
# An untrained model guesses, so its accuracy should sit near chance, 1 in 10 digits:

# %% tags=["nbval-check-output"]
cfg = minirmt.preset("lab", vocab_size=copy_task.vocab_size)  # d 64, 2 layers, 4 heads, n 8, m 8
untrained = build_model("rmt", cfg, seed=0).eval()
with torch.no_grad():
    accuracy, exact = answer_accuracy(untrained(tokens).logits, targets)
print("chance:", copy_task.chance_accuracy, " untrained accuracy below 0.3:", accuracy < 0.3, " exact match:", exact)


# %% [markdown]
# ## 3. Predict, then train: with and without memory
#
# Two models on the same backbone (`preset("lab")`: `d = 64`, 2 layers, 4 heads, segments of `n = 8`):
#
# - `SegmentTransformer` processes each segment on its own and carries nothing: a token sees only the
#   earlier tokens of its own segment.
# - `RecurrentMemoryTransformer` adds `m = 8` memory tokens, read and written in every segment.
#
# We train each on copy (our layout) with `g = 1, 2, ...` segments (a new model for every `g`, the same optimiser: AdamW,
# learning rate 3e-3, warm-up then cosine; the RMT trains 400 steps, the segment-only model 300, since its loss
# is flat from step 50 on, as the curves below show) and measure the answer accuracy on fresh
# sequences. Trained here (`TRAIN_LIVE = True`), they are scored with your `answer_accuracy`; otherwise the
# table reads the scores the package recorded when it trained them, by the same rule. With `g = 1` the whole
# task sits in one segment.
#
# **Predict** both curves before you run: accuracy against the number of segments, for each model. Could
# the segment-only model do better than chance on *any* answer when `g >= 2`? (Look at the layout in
# Section 1: where is each answer's source digit?)

# %%
def accuracy_on(model, task, g, seed=7):
    """Answer accuracy and exact match of `model` on `eval_batch` fresh sequences of g segments."""
    model.eval()
    tokens, targets = task.sample(SIZES["eval_batch"], g, torch.Generator().manual_seed(seed))
    with torch.no_grad():
        return answer_accuracy(model(tokens).logits, targets)


models = (("RMT", "rmt"), ("segment-only", "segment"))
G = SIZES["counts"][-1]  # the largest g
runs, table = {}, {"RMT": {}, "segment-only": {}}
if TRAIN_LIVE:  # the shipped runs' settings (their recipes), at every g
    for g in SIZES["counts"]:
        for name, kind in models:
            recipe = pretrained.run_of(f"copy-{kind}-g{G}")
            runs[name, g] = train(recipe.build_model(), copy_task, dataclasses.replace(recipe.train_config, segments=g))
            table[name][g] = accuracy_on(runs[name, g].model, copy_task, g)[0]
else:  # the shipped runs: seed 0 of the study below, and the two models trained at the largest g
    shipped = pretrained.result("copy_seeds")["rows"]  # one row per run: seed, g, model, accuracy
    for name, kind in models:
        table[name] = {r["g"]: r["accuracy"] for r in shipped if r["seed"] == 0 and r["model"] == kind}
        runs[name, G] = pretrained.trained(f"copy-{kind}-g{G}")  # made by `python -m minirmt.course.pretrained`
for g in SIZES["counts"]:
    print(f"g = {g}: RMT {table['RMT'][g]:.3f}   segment-only {table['segment-only'][g]:.3f}")

# %%
assert table["RMT"][G] >= SIZES["solved"]
assert all(table["segment-only"][g] < copy_task.chance_accuracy + 0.1 for g in SIZES["counts"] if g >= 2)
viz.plot_accuracy_vs_segments(table, chance=copy_task.chance_accuracy, title="copy (our layout): answer accuracy",
                              legend="below")

# %% [markdown]
# With one segment both models copy perfectly: the whole task is in view, and copying is an easy job for
# attention. From two segments on, the segment-only model is at chance, 0.1, exactly as the layout
# predicts: every answer's source digit is in an earlier segment, out of its sight, and no amount of
# training can change that. The RMT, the same backbone plus 8 memory vectors, stays at 1.0 up to 4
# segments in this seed: 16 digits, each carried across two memory hand-overs (digits 0-7 from segment 0
# to their answers in segment 2, digits 8-15 from segment 1 to segment 3). This is the paper's finding for copy and
# reverse (Sec. 5, Fig. 4), here on our layout: what the segment-level model cannot see, the memory carries.
#
# That was one seed. The package ships the same runs for 3 seeds (the first is this notebook's):

# %%
copy_seeds = pretrained.result("copy_seeds")["rows"]  # one row per run: seed, g, model, accuracy
for kind, name in (("rmt", "RMT"), ("segment", "segment-only")):
    print(f"{name:13s} " + "  ".join(
        f"g = {g}: " + "/".join(f"{r['accuracy']:.2f}" for r in copy_seeds if r["model"] == kind and r["g"] == g)
        for g in (1, 2, 4)))

# %% tags=["nbval-check-output"]
rmt_short = [r["accuracy"] for r in copy_seeds if r["model"] == "rmt" and r["g"] <= 2]
rmt_far = [r["accuracy"] for r in copy_seeds if r["model"] == "rmt" and r["g"] == 4]
alone_far = [r["accuracy"] for r in copy_seeds if r["model"] == "segment" and r["g"] >= 2]
print("RMT copies (>= 0.95) at g = 1 and 2, in every seed:", min(rmt_short) >= 0.95)
print("at g = 4, every RMT seed is far above chance (> 0.5):", min(rmt_far) > 0.5)
print("segment-only is at chance (< 0.2) from g = 2 on, in every seed:", max(alone_far) < 0.2)
assert min(rmt_short) >= 0.95 and min(rmt_far) > 0.5 and max(alone_far) < 0.2

# %% [markdown]
# Over seeds the picture holds, with one exception that matters: at `g = 4` one seed of three is at 0.76 after
# its 400 steps, while the others copy perfectly. Whether it would get there with more steps, these runs do not
# say (its curve is not among the shipped runs; training its recipe for more steps is one way to find out). The
# segment-only model is at chance from `g = 2` on in every seed.
#
# The training curves at the largest `g` show *when* the RMT finds the solution:

# %%
viz.plot_curves({name: runs[name, G].history for name in table}, metrics=("loss", "eval_accuracy"))

# %% tags=["nbval-check-output"]
loss_at = {name: {r["step"]: r["loss"] for r in runs[name, G].history if "loss" in r} for name in table}
settled = all(abs(loss - math.log(10)) < 0.03 for step, loss in loss_at["segment-only"].items() if step >= 50)
print("segment-only: loss within 0.03 of ln 10 from step 50 on:", settled)
print("RMT: still above 1.5 at step 100, below 0.1 by step 250:",
      loss_at["RMT"][100] > 1.5 and loss_at["RMT"][250] < 0.1)
assert settled and loss_at["RMT"][100] > 1.5 and loss_at["RMT"][250] < 0.1

# %% [markdown]
# The segment-only model's loss settles at `ln 10 = 2.30` within a few dozen steps: it has learned that
# an answer is one of ten digits, and nothing more can be learned from what it sees. The RMT's loss first
# creeps down, then falls off a cliff (in this run between steps 100 and 250) to almost zero: the model has found a way
# to write the digits into memory and read them back in order. A slow start and then a sudden drop are common in
# these tasks (notebook 04 shows a long plateau); a run stopped before the drop looks like a failure.
#
# ## 4. Experiment: reverse
#
# Reverse asks for the last source digit first. **Predict**: is it harder or easier than copy for the RMT?
# Think about what the memory must do: when the answers start, which digit did the memory take in most
# recently, and which one is asked first? In copy, the first digit read is the first asked (a queue); in
# reverse, the last read is the first asked (a stack).

# %%
if TRAIN_LIVE:
    recipe = pretrained.run_of(f"reverse-rmt-g{G}")
    reverse_run = train(recipe.build_model(), reverse_task, recipe.train_config)
else:
    reverse_run = pretrained.trained(f"reverse-rmt-g{G}")  # the same settings, shipped
reverse_accuracy, reverse_exact = accuracy_on(reverse_run.model, reverse_task, G)
print(f"reverse over {G} segments: accuracy {reverse_accuracy:.3f}, exact match {reverse_exact:.3f}")
print(f"copy over {G} segments:    accuracy {table['RMT'][G]:.3f}")

# %%
viz.plot_curves({"copy": runs["RMT", G].history, "reverse": reverse_run.history}, metrics=("loss", "eval_accuracy"))

# %% tags=["nbval-check-output"]
losses = [r["loss"] for r in reverse_run.history if "loss" in r]  # one record every 10 steps
print("reverse well above chance but behind copy:",
      reverse_task.chance_accuracy + 0.3 < reverse_accuracy < table["RMT"][G] - 0.05)
print("fewer than 1 reverse sequence in 5 entirely right:", reverse_exact < 0.2)
print("reverse loss still falling at the end (last < 0.8 x that of 50 steps before):", losses[-1] < 0.8 * losses[-6])
assert reverse_task.chance_accuracy + 0.3 < reverse_accuracy < table["RMT"][G] - 0.05
assert reverse_exact < 0.2 and losses[-1] < 0.8 * losses[-6]

# %% [markdown]
# With the same 400 steps reverse is clearly harder in this run (one seed): well above chance per digit but
# behind copy, and (almost) no sequence entirely right (exact match at or near 0, printed above). It is not stuck, though: its loss is still falling when
# training stops. Does it get there with more steps? Try it: train the reverse run's recipe yourself with
# `steps=1000` (`dataclasses.replace(recipe.train_config, steps=1000)`). On its own layout (Section 5) the paper's
# RMT reaches 1.0 on reverse over 4 segments and on copy over 3 and 6 (Fig. 4).
# Why reverse is slower we did not measure; a hypothesis you could test with the tools of notebook 05 (attention maps and probes) on a reverse model: in copy, the digits are
# read out in the order they were written, and the answer at `GO + i` can use the same position `i` as
# the source digit; in reverse the read-out order is the opposite of the write order. "Harder" shows up
# as "slower", the usual way task difficulty shows in these curves.
#
# ## 5. The paper's experiment, on the paper's layouts
#
# The paper's Fig. 4 compares RMT, Transformer-XL (its cache as large as the RMT's memory) and a model without
# memory on the paper's layouts, cut into more and more segments. We ran the same comparison on a GPU
# (`python -m minirmt experiment paper`), at the paper's model size for these tasks (`preset("paper-copy")`: width
# 128, 4 layers), with memory = cache = one segment, 3 seeds per setting. A run
# stops once it answers everything right. Answers are scored as the authors scored them: each answer written
# out and fed back as the next input within its segment, while every segment starts again from the true tokens.
# The package ships the results; in the figure the lines are our mean over seeds, shaded between the lowest and
# the highest seed (invisible where every seed scored the same), the thick bars beside them the range of the
# authors' own runs (a short tick where all their seeds scored the same; printed below).

# %%
from minirmt.training import paper_experiment, paper_reference

paper_run = pretrained.result("paper_figure")
print("made by:", paper_run["made_by"])
paper_rows = [r for r in paper_run["rows"] if r["task"] in ("copy", "reverse")]  # retrieval: notebook 04
ours = paper_experiment.summarize(paper_rows)  # {task: {model: {g: (mean, lowest, highest, seeds)}}}
for name in ("copy", "reverse"):
    for model in paper_experiment.MODELS:
        cells = ours[name].get(model, {})
        print(f"{name:8s} {paper_experiment.LABELS[model]:15s} " + "  ".join(
            f"g={g}: {mean:.2f} ({low:.2f}-{high:.2f}, {seeds} seed{'s' * (seeds > 1)})"
            for g, (mean, low, high, seeds) in cells.items()))
sequences = [r["sequences"] for r in paper_rows if r["model"] == "rmt"]
xl_steps = {}
for r in paper_rows:
    if r["model"] == "xl":
        xl_steps[f"{r['task']} g={r['g']}"] = max(xl_steps.get(f"{r['task']} g={r['g']}", 0), r["steps"])
print("Transformer-XL, most steps of 64 sequences over the seeds of each cell:", xl_steps)
print(f"RMT runs trained on {min(sequences):,}-{max(sequences):,} sequences; the authors' runs of these cells on "
      f"{min(paper_experiment.authors_range(t, 'rmt', g)[2] for t, g in (('copy', 3), ('reverse', 2))):,} or more")
print("the authors' runs (lowest-highest over seeds, sequences trained):")
for name in ("copy", "reverse"):
    for model in paper_experiment.MODELS:
        cells = {g: paper_experiment.authors_range(name, model, g) for g in ours[name].get(model, {})}
        print(f"  {name:8s} {paper_experiment.LABELS[model]:15s} " + "  ".join(
            f"g={g}: {low:.2f}-{high:.2f} ({seq / 1e6:.1f}M)" for g, (low, high, seq) in cells.items() if low is not None))
paper_experiment.plot_paper(paper_rows)

# %% tags=["nbval-check-output"]
copy_, reverse_ = ours["copy"], ours["reverse"]
rmt_cells = [copy_["rmt"][g] for g in (3, 6, 9)] + [reverse_["rmt"][g] for g in (2, 4, 6)]
print("RMT at 0.99 or more in every seed, at every g of both tasks:", all(low >= 0.99 for _, low, _, _ in rmt_cells))
print("no memory at chance (< 0.15) at every g > 1:", all(ours[t]["segment"][g][2] < 0.15 for t in ("copy", "reverse")
                                                          for g in ours[t]["segment"] if g > 1))
print("reverse over 4 segments: Transformer-XL's best seed below RMT's worst:",
      reverse_["xl"][4][2] < reverse_["rmt"][4][1])
assert all(low >= 0.99 for _, low, _, _ in rmt_cells)
assert all(ours[t]["segment"][g][2] < 0.15 for t in ("copy", "reverse") for g in ours[t]["segment"] if g > 1)
print(f"no memory, copy over 3 segments: {copy_['segment'][3][0]:.3f} (chance 0.1; one answer of 48 in view: "
      f"{(47 * 0.1 + 1) / 48:.3f})")
assert abs(copy_["segment"][3][0] - (47 * 0.1 + 1) / 48) < 0.01
assert reverse_["xl"][4][2] < reverse_["rmt"][4][1]
print("... and below the authors' lowest XL seed there, in all 3 seeds:",
      reverse_["xl"][4][3] == 3 and reverse_["xl"][4][2] < paper_reference.lowest("reverse", "xl", 4))
assert reverse_["xl"][4][3] == 3 and reverse_["xl"][4][2] < paper_reference.lowest("reverse", "xl", 4)
print("copy over 6 segments: XL's seeds scatter from about 0.5 to 1.0:", copy_["xl"][6][1:3])
assert copy_["xl"][6][1] < 0.6 and copy_["xl"][6][2] > 0.95
xl_budget = min(r["sequences"] for r in paper_rows if (r["task"], r["model"], r["g"]) == ("reverse", "xl", 4))
print("... though it trained on more sequences than any RMT run:", xl_budget > max(sequences))
assert xl_budget > max(sequences)
falls = {t: [ours[t]["xl"][g][0] for g in gs] for t, gs in (("copy", (3, 6, 9)), ("reverse", (2, 4, 6)))}
print("Transformer-XL's mean falls as the segments get shorter:",
      {t: [round(a, 2) for a in v] for t, v in falls.items()})
shortest = {(t, g): (ours[t]["xl"][g][2], paper_reference.lowest(t, "xl", g)) for t, g in (("copy", 9), ("reverse", 6))}
print("at the shortest segments, its best seed below the authors' lowest:",
      {f"{t} g={g}": f"{a:.2f} < {b:.2f}" for (t, g), (a, b) in shortest.items()})
assert all(v == sorted(v, reverse=True) and v[0] > v[-1] for v in falls.values())
assert all(ours_best < authors_low for ours_best, authors_low in shortest.values())
xl_short = [r["sequences"] for r in paper_rows if r["model"] == "xl" and (r["task"], r["g"]) in shortest]
authors_short = min(paper_experiment.authors_range(t, "xl", g)[2] for t, g in shortest)
print(f"... after at most {max(xl_short):,} sequences, under a hundredth of the authors' {authors_short:,}")
assert max(xl_short) < authors_short / 100

# %% [markdown]
# Every RMT cell of the figure reaches the paper's result: 0.99 or more in every seed, copy up to 9 segments and
# reverse up to 6, after a few tens of thousands of training sequences (the authors trained theirs on millions;
# a run here stops as soon as it is right). The model without memory is at chance whenever the answers sit in
# other segments than their source (over 3 segments of copy it scores 0.12, not 0.10: the last of the 48 answers
# repeats the digit that opens its own segment, as the rendered copy above shows). Transformer-XL copies over
# 3 segments and reverses over 2, but over 4 segments of reverse all three of its seeds stop near 0.6 (after
# 2,000 steps, more training than any RMT run here needed), below the authors' XL runs (0.83-0.88) and below
# every RMT seed. One reading, which this table does not test: a cache of one segment holds only the previous
# segment's keys and values, and most reverse answers need digits from further back. With shorter segments our
# XL falls further (the authors' falls too, from 6 segments of copy and 4 of reverse on). Its seeds can disagree
# widely: over 6 segments of copy they scatter from 0.5 to 1.0. Over 9 segments of copy and 6 of reverse every
# seed of our XL stays below the authors' lowest, after 2,000 steps: 128,000 sequences, under a hundredth of the
# 22.4M-28.8M their XL runs there trained on.
# Associative retrieval, the paper's third task, has its own notebook (04).
#
# ## Summary
#
# - Copy and reverse put the source and the answers in different segments: every answer needs a digit from
#   an earlier segment, so they test exactly what the memory carries.
# - Targets are next-token style: the `GO` position asks for the first digit; -100 marks positions that ask
#   nothing. Report per-token accuracy on the answers *and* exact match.
# - A segment-only Transformer stays at chance (0.1) for every `g >= 2`, whatever its training: the
#   information is not in its input. The RMT, the same backbone plus `m = 8` memory tokens, carries the
#   digits across segments, in a few hundred steps (2 seeds of 3 at 4 segments; the third stopped at 0.76);
#   reverse takes longer than copy.
# - On the paper's layouts (a fixed task cut finer), at the paper's model size, the RMT reaches 0.99 or more in
#   every seed of every cell of copy and reverse, as in the paper's Fig. 4; Transformer-XL falls behind on
#   reverse over 4 segments.
#
# ## Questions
#
# 1. The source of a copy over `g` segments has `4g` digits here. How many bits is that? The memory holds
#    `m x d = 512` numbers. Is the memory's size the limit? (Notebook 04 counts what a memory must hold.)
# 2. Why does the copy's first target sit at the `GO` position and not one later? What would the model
#    learn if the targets were shifted by one?
# 3. The segment-only model's loss on the answers stays near `ln 10 = 2.3`. Why exactly that number?
# 4. Evaluate the trained RMT on `g + 1` and `g + 2` segments (longer sources than it was trained on).
#    What do you expect? (Notebook 07 is about length generalisation.)
# 5. Train the RMT over 4 segments with `curriculum="segments"` (`dataclasses.replace(recipe.train_config,
#    curriculum="segments")`): it starts with the fewest
#    segments and adds one whenever the evaluation accuracy passes 0.97. Is it faster than training on 4 segments from
#    the start? (Note that here the source grows with `g`.) Then try `num_mem_tokens=2`.

# %% [markdown] tags=["answer"]
# **Answers** (the instructor's key; learner copies leave this cell out)
#
# *Predictions.* Section 3: both models copy at `g = 1`; from `g = 2` on the segment-only model is at chance
# on every answer (each answer's source digit sits in an earlier segment), the RMT stays near 1.0. Section 4:
# reverse is slower to learn than copy for the RMT at the same budget.
#
# 1. `4g` digits of 10 values: `4g log2(10)`, about `13.3 g` bits; 53 bits at `g = 4`. The memory's `512`
#    floating-point numbers could hold far more, so raw size is not the limit here; what limits the model is
#    what it can learn to write and read back (notebook 04 measures capacity against the number of pairs).
# 2. Because `targets[t]` is the token to output after reading `tokens[: t + 1]`: after reading `>` the first
#    digit is due. Shifted by one, the model would be asked to output each digit *after* it has been fed that
#    same digit as input (teacher forcing): it would learn to echo its input, which needs no memory.
# 3. It cannot see the source, so the best it can do is to spread its probability evenly over the 10 digits:
#    the loss is `-ln(1/10) = ln 10 = 2.30` nats per answer.
# 4. Expect it to fail, gradually or at once: the source grows with `g` in this layout, so `g + 1` segments
#    mean more digits than it ever wrote into memory, and answer positions it never saw. Some of the first
#    digits may still be right.
# 5. Try it and compare the step at which each run reaches 0.97 on 4 segments. A curriculum usually reaches
#    the longer lengths sooner here because each stage starts from a model that already copies; the growing
#    source makes each stage a new, larger task. With `num_mem_tokens=2` the memory has 2 slots for up to 16
#    digits: expect the longer stages to be much slower or to fail.

# %% [markdown]
# ## References
#
# - A. Bulatov, Y. Kuratov, M. S. Burtsev. *Recurrent Memory Transformer.* NeurIPS 2022, arXiv:2207.06881:
#   Sec. 1 and 4 (copy, reverse and associative retrieval), Sec. 5 and Fig. 4 (accuracy against the number of
#   segments).
# - A. Bulatov, Y. Kuratov, M. S. Burtsev. *Scaling Transformer to 1M tokens and beyond with RMT.*
#   arXiv:2304.11062, 2023 (the curriculum over segments).
# - A. Graves, G. Wayne, I. Danihelka. *Neural Turing Machines.* arXiv:1410.5401, 2014 (copy as a memory test).
# - In this package: `minirmt/data/tasks/` (the layouts; `paper.py` the paper's), `minirmt/training/task_loop.py` (`train`,
#   `evaluate`), `minirmt/training/paper_experiment.py` (the paper's experiment),
#   `minirmt/model/baselines.py` (`SegmentTransformer`).
