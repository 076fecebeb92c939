"""Checkers of lesson 07, curriculum and length: doubling stages, accuracy against segments."""

from collections.abc import Callable, Sequence

import torch

from minirmt.data import tasks
from minirmt.model.recurrence import ModelOutput
from minirmt.training.metrics import answer_accuracy
from minirmt.training.task_loop import doubling_counts

from .core import CheckFailed, call, expect_evaluation, expect_mode_kept, forward_modes, run_checker

reference_doubling_stages = doubling_counts  # Exercise 07.1's answer is the library's rule (training/task_loop.py)


def check_doubling_stages(fn) -> Callable:
    """Exercise 07.1: `doubling_stages(start, target) -> [start, 2 start, 4 start, ...]`, all below target."""

    def cases(fn):
        settings = [(2, 12), (1, 8), (2, 5), (3, 3), (1, 1), (2, 16), (3, 24), (1, 2), (5, 11), (4, 3)]
        for start, target in settings:
            expected = reference_doubling_stages(start, target)
            got = call(fn, start, target)
            label = f"doubling_stages(start={start}, target={target})"
            if isinstance(got, tuple | range):
                got = list(got)
            if not isinstance(got, list):
                hint = ": return a list, list(...) of it" if hasattr(got, "__next__") else ""
                raise CheckFailed(f"{label} returned a {type(got).__name__}, expected a list of numbers of segments"
                                  + hint)
            if not all(isinstance(x, int) and not isinstance(x, bool) for x in got):
                raise CheckFailed(f"{label} is {got}: the numbers of segments must be ints (use // or int(), "
                                  "not /)")
            if got == expected:
                continue
            linear = list(range(start, target))
            mistakes = [
                (expected + [target], "leave the target out: train() always adds it as the last stage"),
                (expected + [start * 2 ** len(expected)] if expected else [start],
                 f"every stage must be below the target = {target}"),
                (expected[1:], f"the first stage is start = {start} itself"),
                ([2 * g for g in expected], f"the first stage is start = {start}, not 2 * start"),
                (expected[:-1], f"the last stage below the target is missing ({expected[-1] if expected else ''})"),
                (linear, "that grows by one segment per stage; double it: start, 2 start, 4 start, ..."),
                ([2**i for i in range(target.bit_length()) if 2**i < target],
                 f"those are the powers of two from 1; start at start = {start}: start, 2 start, 4 start, ..."),
            ]
            for wrong, message in mistakes:
                if got == wrong:
                    raise CheckFailed(f"{label} is {got}, expected {expected}: {message}")
            if got and start & (start - 1) and all(x > 0 and not x & (x - 1) for x in got):
                raise CheckFailed(f"{label} is {got}, expected {expected}: those are powers of two; the stages are "
                                  f"start = {start} times them: start, 2 start, 4 start, ...")
            steps = {b - a for a, b in zip(got, got[1:])}
            if len(got) > 2 and len(steps) == 1:
                raise CheckFailed(f"{label} is {got}, expected {expected}: that adds {steps.pop()} segments per "
                                  "stage; double instead: start, 2 start, 4 start, ...")
            raise CheckFailed(f"{label} is {got}, expected {expected}")
        return len(settings)

    return run_checker("doubling_stages", fn, reference_doubling_stages, cases)


def reference_accuracy_by_segments(model, task, segment_counts: Sequence[int], batch_size: int = 32,
                                   seed: int = 0) -> dict[int, float]:
    """Length generalisation: the model's answer accuracy on held-out sequences of each number of segments.

    For every g in segment_counts, one batch of `batch_size` sequences of g segments from a new generator seeded
    with `seed` (so a g's batch does not depend on the other lengths); accuracy = right answers / answers, over
    positions whose target is not -100.
    Returns `{g: accuracy}`.
    """
    was_training = model.training
    model.eval()
    result = {}
    with torch.no_grad():
        for g in segment_counts:
            tokens, targets = task.sample(batch_size, g, torch.Generator().manual_seed(seed))
            result[g] = answer_accuracy(model(tokens).logits, targets)[0]
    model.train(was_training)
    return result


class _FadingReverser(torch.nn.Module):
    """A stand-in model for the checker: it solves `reverse` perfectly within `horizon` tokens and forgets beyond.

    The answer to source digit j at position t is right when t - j <= horizon, else it says PAD. For a reverse
    task with a fixed source, the accuracy depends on g alone (not on the digits drawn), so any way of sampling
    gives the same numbers. It starts in training mode and records the tokens of every call.
    """

    def __init__(self, source_len: int, horizon: int, vocab_size: int):
        super().__init__()
        self.source_len, self.horizon, self.vocab_size = source_len, horizon, vocab_size
        self.calls = []
        self.layer = torch.nn.Linear(1, 1)  # a layer: its mode and its parameters are those a real model has

    def forward(self, tokens, memory=None, targets=None, **kwargs):
        self.calls.append(tokens.clone())
        b, s = tokens.shape
        L = self.source_len
        go = s - L  # reverse with a fixed source: GO then L - 1 fed answers end the sequence
        answer = torch.zeros_like(tokens)  # PAD by default
        t = torch.arange(go, s)
        j = L - 1 - (t - go)  # source position answered at t
        remembered = (t - j) <= self.horizon
        answer[:, t] = torch.where(remembered, tokens[:, j], torch.zeros_like(tokens[:, j]))
        logits = torch.nn.functional.one_hot(answer, self.vocab_size).float() * 10
        loss = None
        if targets is not None:
            loss = torch.nn.functional.cross_entropy(logits.flatten(0, 1), targets.flatten(), ignore_index=-100)
        return ModelOutput(logits=logits, loss=loss, memory=None, memories=[])


def _fading_task_and_model():
    """The checker's reverse task (n = 4, source of 6) and a model that forgets after 15 tokens."""
    task = tasks.make_task("reverse", 4, source_len=6)
    return task, _FadingReverser(source_len=6, horizon=15, vocab_size=task.vocab_size)


def _fading_accuracy(g: int, n: int = 4, L: int = 6, horizon: int = 15, all_positions: bool = False) -> float:
    """The exact accuracy of `_FadingReverser` on g segments (per answer, or per position if all_positions)."""
    go = g * n - L
    right = sum(1 for i in range(L) if go + i - (L - 1 - i) <= horizon)
    return right / (g * n) if all_positions else right / L


def check_accuracy_by_segments(fn) -> Callable:
    """Exercise 07.2: `accuracy_by_segments(model, task, segment_counts, batch_size, seed) -> {g: accuracy}`."""

    def cases(fn):
        counts = [4, 5, 6, 8]
        label = _accuracy_label(counts, seed=0)
        got, calls, modes, left_training = _accuracy_run(fn, counts, seed=0)
        if not isinstance(got, dict):
            raise CheckFailed(f"{label} returned a {type(got).__name__}, expected a dict {{g: accuracy}}")
        if set(got) != set(counts):
            raise CheckFailed(f"{label} has keys {sorted(got, key=repr)}, expected the numbers of segments {counts}")
        expect_evaluation(modes, label)
        sizes = sorted({len(tokens) for tokens in calls})
        if sizes != [BATCH]:
            raise CheckFailed(f"{label}: the batches hold {sizes} sequences, expected batch_size={BATCH}: draw them "
                              "with the `batch_size` argument, task.sample(batch_size, g, generator)")
        _check_accuracies(got, counts, label)
        again = _accuracy_run(fn, counts, seed=0)[1]
        if not _same_batches(calls, again):
            raise CheckFailed(f"{label}: a second call with seed=0 drew other sequences: seed the generator, "
                              "torch.Generator().manual_seed(seed), so that every model is scored on the same ones")
        _, seed1_calls, _, left_training_from_eval = _accuracy_run(fn, counts, seed=1, training=False)
        if _same_batches(calls, seed1_calls):
            raise CheckFailed(f"{label}: seed=1 drew the same sequences as seed=0: seed the generator with the "
                              "`seed` argument, torch.Generator().manual_seed(seed)")
        stale = _not_fresh(calls, seed=0)
        if stale:
            raise CheckFailed(f"{label}: the batches of g = {stale} are not what a new generator seeded with `seed` "
                              f"draws. {_seeding_mistake(calls, seed=0)}")
        expect_mode_kept(True, left_training, label)
        expect_mode_kept(False, left_training_from_eval, label)
        return len(counts) + 4

    return run_checker("accuracy_by_segments", fn, reference_accuracy_by_segments, cases)


BATCH = 16  # the batch size the checker asks for: not the exercise's default, so that a fixed size shows


def _accuracy_label(counts: list[int], seed: int) -> str:
    return f"accuracy_by_segments(model, task, segment_counts={counts}, batch_size={BATCH}, seed={seed})"


def _accuracy_run(fn, counts: list[int], seed: int, training: bool = True) -> tuple[object, list, list, bool]:
    """Call fn on a fresh stand-in model, in training mode (as after training) or not; return its result, the
    tokens of each model call, their modes, and whether the model was left in training mode."""
    task, model = _fading_task_and_model()
    model.train(training)
    label = _accuracy_label(counts, seed)
    try:
        with forward_modes(model) as modes:
            got = call(fn, model, task, list(counts), BATCH, seed, what=label)
        return got, model.calls, modes, model.training
    except CheckFailed as failure:
        cause = failure.__cause__
        if isinstance(cause, TypeError) and "generator" in str(cause):
            raise CheckFailed(f"{label}: task.sample(batch_size, g, generator) needs a torch.Generator ({cause}): "
                              "pass torch.Generator().manual_seed(seed)") from failure
        raise


def _not_fresh(calls, seed: int) -> list[int]:
    """The g whose batch differs from the one `task.sample` draws from a new generator seeded with `seed`."""
    task = _fading_task_and_model()[0]
    drawn = {tokens.shape[1] // task.segment_len: tokens for tokens in calls}
    return [g for g, tokens in drawn.items()
            if not torch.equal(tokens, task.sample(len(tokens), g, torch.Generator().manual_seed(seed))[0])]


def _seeding_mistake(calls, seed: int) -> str:
    """What went wrong with batches that are not fresh: one generator shared by all g, or seeds other than `seed`."""
    task, generator = _fading_task_and_model()[0], torch.Generator().manual_seed(seed)
    shared = [task.sample(len(tokens), tokens.shape[1] // task.segment_len, generator)[0] for tokens in calls]
    if _same_batches(calls, shared):
        return ("Seed a new one for every g, torch.Generator().manual_seed(seed) inside the loop: a generator shared "
                "by all g draws each batch where the last one stopped, so a g's batch would depend on the lengths "
                "evaluated before it")
    return ("Each g got a generator seeded with another number (such as seed + g): seed every one with `seed` "
            "itself, torch.Generator().manual_seed(seed), so that every length is scored on the draws `seed` names")


def _same_batches(calls, other) -> bool:
    return len(calls) == len(other) and all(map(torch.equal, calls, other))


def _check_accuracies(got: dict, counts: list[int], label: str) -> None:
    """The accuracies of the stand-in model, which depend on g alone; the usual wrong ones named."""
    values = {}
    for g, value in got.items():
        if isinstance(value, torch.Tensor) and value.numel() == 1:
            raise CheckFailed(f"{label}[{g}] is a tensor; return a plain float (use .item())")
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise CheckFailed(f"{label}[{g}] is a {type(value).__name__}, expected a float in [0, 1]")
        values[g] = float(value)
    expected = {g: _fading_accuracy(g) for g in counts}
    if all(abs(values[g] - expected[g]) < 1e-6 for g in counts):
        return
    known = [
        ({g: _fading_accuracy(g, all_positions=True) for g in counts},
         "divides by every position: count only the answers, where targets != -100"),
        ({g: float(expected[g] == 1.0) for g in counts},
         "is the exact match (1 only if every answer of a sequence is right); return the accuracy, right answers / "
         "answers"),
        ({g: 100 * expected[g] for g in counts}, "is a percentage; return a fraction in [0, 1]"),
        ({g: _fading_accuracy(g - 1) for g in counts},
         "is the accuracy on g - 1 segments: task.sample(batch_size, g, generator) takes the number of segments "
         "itself"),
    ]
    for wrong, message in known:
        if all(abs(values[g] - wrong[g]) < 1e-6 for g in counts):
            raise CheckFailed(f"{label} {message}")
    if len(set(values.values())) == 1:
        raise CheckFailed(f"{label} gives {values[counts[0]]:.3f} for every g: sample each evaluation with "
                          "num_segments=g")
    wrong = next(g for g in counts if abs(values[g] - expected[g]) >= 1e-6)
    raise CheckFailed(f"{label}[{wrong}] is {values[wrong]:.4f}, expected {expected[wrong]:.4f} "
                      "(right answers / answers, at the positions where targets != -100)")
