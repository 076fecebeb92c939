"""Checkers of lesson 09, reading far past the training length: the needle's depth, the longest reliable length."""

from collections.abc import Callable

import torch

from minirmt.data.tasks import make_task
from minirmt.data.tasks.needle import needle_depth

from .core import CheckFailed, call, expect_tensor, run_checker, seeded

reference_needle_depth = needle_depth  # the library's own: tasks/needle.py


def _needle_cases() -> list[tuple[str, torch.Tensor]]:
    """(label, tokens (b, s)) of the needle task at 2, 5 and 9 segments of 8; then 5 segments where rows 0..3 hold
    the asked key a second time, just before the question (its first place is still the fact)."""
    task = make_task("needle", 8, num_facts=2)
    cases = [(f"needle_depth(tokens) for g = {g} segments of 8", task.sample(16, g, seeded(g))[0]) for g in (2, 5, 9)]
    twice = cases[1][1].clone()
    twice[:4, -3] = twice[:4, -1]
    return [*cases, ("needle_depth(tokens) where rows 0..3 hold the asked key twice", twice)]


def check_needle_depth(fn) -> Callable:
    """Exercise 09.1: `needle_depth(tokens (b, s)) -> (b,)` floats in [0, 1)."""

    def cases(fn):
        checked = 0
        for label, tokens in _needle_cases():
            expected = reference_needle_depth(tokens)
            got = call(fn, tokens.clone())
            b, s = tokens.shape
            expect_tensor(got, "b", (b,), what=label, hints={
                (b, 1): "one depth per row, (b,): drop the kept dim (argmax(1) without keepdim, or .squeeze(1))",
                (b + 4,): "a key that appears twice gives two matches in its row: take the first place of each row, "
                          "(before == key).float().argmax(1)",
            })
            if not got.is_floating_point():
                raise CheckFailed(f"{label} has dtype {got.dtype}, expected floats: divide the positions with / "
                                  "(true division), not // (a fraction of the s - 2 tokens, in [0, 1))")
            got = got.float()
            if torch.allclose(got, expected, atol=1e-6):
                checked += 1
                continue
            last = (s - 3 - (tokens[:, :-2] == tokens[:, -1:]).flip(1).float().argmax(1)) / (s - 2)
            known = [
                (expected * (s - 2), f"gives positions, 0 .. {s - 3}: divide by the s - 2 tokens before the question, "
                                     "for a depth in [0, 1)"),
                (expected * (s - 2) / s, f"divides by s = {s}: the depth is a fraction of the s - 2 tokens before the "
                                         "question"),
                (expected * (s - 2) / (s - 3), f"divides by s - 3 = {s - 3}, the last position before the question, "
                                               f"so the depth is off by one in the denominator: divide by the count "
                                               f"of those positions, s - 2 = {s - 2}"),
                (expected + 1 / (s - 2), "points at the value, one place after the key: find the key itself"),
                (torch.zeros_like(expected), "is 0 in every row: either nothing matched (the asked key is the LAST "
                                             "token, tokens[:, -1]; tokens[:, -2] is the question mark; look for it "
                                             "in tokens[:, :-2]) or the depth was rounded down (integer division, "
                                             "or a segment number instead of a position)"),
                (last, "is the LAST place of the key; the depth is where it FIRST appears: "
                       "argmax returns the first of equal maxima"),
            ]
            for wrong, message in known:
                if torch.allclose(got, wrong, atol=1e-5):
                    raise CheckFailed(f"{label} {message}")
            raise CheckFailed(f"{label} is {got[:4].tolist()} ..., expected {expected[:4].tolist()} ...: find where "
                              "the asked key (the last token) first appears before the question")
        return checked

    return run_checker("needle_depth", fn, reference_needle_depth, cases)


def reference_reliable_length(accuracy: dict[int, float], threshold: float = 0.9) -> int | None:
    """The longest length g of `accuracy = {g: accuracy}` up to which every accuracy (at g and at every shorter
    length) is at least `threshold`; None if the shortest length already falls below it."""
    return _reliable(sorted(accuracy), accuracy, threshold)


def _reliable(lengths, accuracy: dict, threshold: float):
    """The last of `lengths`, taken in that order, before the first whose accuracy is below `threshold`."""
    reliable = None
    for g in lengths:
        if accuracy[g] < threshold:
            break
        reliable = g
    return reliable


def check_reliable_length(fn) -> Callable:
    """Exercise 09.2: `reliable_length({g: accuracy}, threshold) -> g or None`."""

    def cases(fn):
        settings = [
            ({8: 1.0, 16: 0.98, 32: 0.93, 64: 0.85, 128: 0.5}, 0.9, None),
            ({128: 0.5, 8: 1.0, 32: 0.93, 16: 0.98, 64: 0.85}, 0.9, "shuffled"),
            ({8: 1.0, 16: 0.7, 32: 0.95, 64: 0.3}, 0.9, "a dip"),
            ({8: 0.9, 16: 0.9, 32: 0.89}, 0.9, "equal"),
            ({8: 0.6, 16: 0.95}, 0.9, "none"),
            ({4: 1.0, 8: 1.0}, 0.9, "all"),
            ({8: 1.0, 16: 0.8, 32: 0.6}, 0.75, "another threshold"),
        ]
        for accuracy, threshold, _ in settings:
            expected = reference_reliable_length(accuracy, threshold)
            got = call(fn, dict(accuracy), threshold)
            label = f"reliable_length({accuracy}, threshold={threshold})"
            if got == expected and (got is None) == (expected is None) and not isinstance(got, bool):
                continue
            if isinstance(got, list | tuple | set | dict):
                raise CheckFailed(f"{label} is a {type(got).__name__}; return one length g (or None)")
            if got in accuracy.values() and got not in accuracy:
                raise CheckFailed(f"{label} is {got}, an accuracy; return the length g, the key of the dict")
            if threshold != 0.9 and got == reference_reliable_length(accuracy):
                raise CheckFailed(f"{label} is {got}, expected {expected}: that is the answer for 0.9; compare the "
                                  "accuracies with the `threshold` argument")
            if expected is None and got == 0:
                raise CheckFailed(f"{label} is 0, expected None: when even the shortest length is below the "
                                  "threshold, return None (0 is not a length)")
            if expected is None and got is not None:
                raise CheckFailed(f"{label} is {got}, expected None: the shortest length is already below the "
                                  "threshold")
            passing = [g for g, a in accuracy.items() if a >= threshold]
            failing = sorted(g for g, a in accuracy.items() if a < threshold)
            if passing and got == max(passing):
                raise CheckFailed(f"{label} is {got}, expected {expected}: a length counts only if every shorter one "
                                  "is reliable too; stop at the first length below the threshold")
            if failing and got == failing[0]:
                raise CheckFailed(f"{label} is {got}, the first length that fails; return the one before it, "
                                  f"{expected}")
            if got == _reliable(list(accuracy), accuracy, threshold):
                raise CheckFailed(f"{label} is {got}, expected {expected}: go through the lengths in order, "
                                  "sorted(accuracy)")
            if threshold in accuracy.values():
                raise CheckFailed(f"{label} is {got!r}, expected {expected!r}: an accuracy equal to the threshold "
                                  "counts as reliable (>=)")
            raise CheckFailed(f"{label} is {got!r}, expected {expected!r}: take the lengths as numbers, in "
                              "increasing order, and stop at the first below the threshold")
        return len(settings)

    return run_checker("reliable_length", fn, reference_reliable_length, cases)
