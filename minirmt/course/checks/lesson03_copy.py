"""Checkers of lesson 03, copy and reverse: the targets of a copy task, answer accuracy."""

from collections.abc import Callable

import torch

from minirmt.data import tasks
from minirmt.model.validation import IGNORE_INDEX
from minirmt.training.metrics import answer_accuracy

from .core import (
    CheckFailed,
    as_number,
    call,
    expect_close,
    expect_tensor,
    known_mistakes,
    known_number,
    run_checker,
    seeded,
    slice_sizes,
)


def _go(tokens: torch.Tensor) -> torch.Tensor:
    """`(b, 1)`: where GO sits in each row of `tokens (b, s)`."""
    return (tokens == tasks.GO).int().argmax(dim=1, keepdim=True)


def _source_index(tokens: torch.Tensor, reverse: bool) -> torch.Tensor:
    """`(b, s)`: at each position from GO on, the index of the source digit answered there; -1 before GO."""
    s = tokens.shape[1]
    go = _go(tokens)  # (b, 1)
    i = torch.arange(s, device=tokens.device) - go  # (b, s): answer number, negative before GO
    return torch.where(i < 0, -1, (s - go - 1 - i) if reverse else i)


def _answers(tokens: torch.Tensor, start, L, reverse: bool) -> torch.Tensor:
    """`(b, s)`: source digit i (or L - 1 - i) at position start + i for i < L, -100 elsewhere; start and L are
    ints or `(b, 1)`. With start = GO and L = s - GO these are the targets; other values make the usual mistakes."""
    s = tokens.shape[1]
    i = torch.arange(s, device=tokens.device).expand_as(tokens) - start  # (b, s)
    index = (L - 1 - i) if reverse else i
    inside = (i >= 0) & (i < L)
    return tokens.gather(1, (index * inside).clamp(0, s - 1)).masked_fill(~inside, IGNORE_INDEX)


def reference_copy_targets(tokens: torch.Tensor, reverse: bool = False) -> torch.Tensor:
    """The targets of a copy (or reverse) sequence `tokens (b, s)`: `(b, s)`, -100 before GO.

    The source is the first L tokens and GO sits at s - L; the answer at GO + i is source digit i (copy)
    or L - 1 - i (reverse): RMT paper, Sec. 4.
    """
    index = _source_index(tokens, reverse)  # (b, s)
    return tokens.gather(1, index.clamp(min=0)).masked_fill(index < 0, IGNORE_INDEX)


def check_copy_targets(fn) -> Callable:
    """Exercise 03.1: `copy_targets(tokens (b, s), reverse=False) -> targets (b, s)`."""

    def cases(fn):
        settings = _copy_cases(seeded(31))
        for label, tokens, expected, reverse in settings:
            got = _call_copy(fn, tokens, reverse, label)
            expect_tensor(got, "b s", expected.shape, label)
            if got.dtype != torch.long:
                raise CheckFailed(f"{label} has dtype {got.dtype}, expected torch.long (token ids, like the targets "
                                  "cross_entropy takes)")
            asked = expected != IGNORE_INDEX
            index = _source_index(tokens, reverse)  # (b, s)
            digit = "L - 1 - i" if reverse else "i"
            late, early = (tokens.gather(1, (index + k).clamp(0, tokens.shape[1] - 1)).masked_fill(~asked, IGNORE_INDEX)
                           for k in (1, -1))  # answers taken one source digit too far, one too near

            mistakes = [
                (torch.where(asked, expected - tasks.FIRST_SYMBOL, expected),
                 f"the answers are digit values; targets are token ids, like the tokens: digit k is token id "
                 f"k + tasks.FIRST_SYMBOL = k + {tasks.FIRST_SYMBOL}, so take the tokens themselves, not digits"),
                (expected.masked_fill(~asked, 0), "positions with nothing to predict must hold -100 (the "
                                                  "ignore_index of cross_entropy), not 0"),
                (torch.cat([torch.full_like(expected[:, :1], IGNORE_INDEX), expected[:, :-1]], dim=1),
                 "the answers start one position late: targets[t] is the token that comes after tokens[t], so "
                 "the GO position itself already asks for the first digit"),
                (reference_copy_targets(tokens, not reverse),
                 f"this is the {'copy' if reverse else 'reverse'}; with reverse={reverse} the answer at GO + i is "
                 f"source digit {digit}"),
                (late, f"off by one: the answer at GO + i is source digit {digit}, tokens[:, {digit}]"),
                (early, f"off by one: the answer at GO + i is source digit {digit}, tokens[:, {digit}]"),
            ]
            go, s = _go(tokens), tokens.shape[1]
            mistakes += [
                (_answers(tokens, s // 2, s - s // 2, reverse), _GO_AT_HALF.format(s // 2, go[0].item())),
                (_answers(tokens, go, go, reverse).masked_fill(~asked, IGNORE_INDEX), _L_AT_GO),
                (_answers(tokens, s - go, go, reverse), _L_AT_GO),
                (_answers(tokens, tokens.argmax(1, keepdim=True), s - tokens.argmax(1, keepdim=True), reverse),
                 "tokens.argmax(1) finds the largest token id, not GO: take the argmax of the match, "
                 "(tokens == tasks.GO).int().argmax(1)"),
                (_answers(tokens, 0, s, reverse), "GO was found at position 0 in every row: an argmax over dim 0 (the "
                                                  "batch) or a match of the wrong token; find GO along each row, "
                                                  "(tokens == tasks.GO).int().argmax(dim=1)"),
                (_answers(tokens, go[:1], s - go[:1], reverse),
                 f"GO sits at a different place in each row (here at {go.flatten().tolist()}), but every row took row "
                 "0's: find it in each row, (tokens == tasks.GO).int().argmax(dim=1, keepdim=True)"),
            ]
            known_mistakes(got, expected, mistakes)
            wrong = got != expected
            if wrong.any() and not wrong[:, :-1].any():
                raise CheckFailed(f"{label}: only the last position is wrong. Its answer is never fed to the model "
                                  "(the sequence ends there), so take it from the source at the start, not from the "
                                  "tokens after GO")
            expect_close(got, expected, "b s", label)
        return len(settings)

    return run_checker("copy_targets", fn, reference_copy_targets, cases)


def _copy_cases(generator: torch.Generator) -> list[tuple[str, torch.Tensor, torch.Tensor, bool]]:
    """(label, tokens (b, s), targets (b, s), reverse): batches of copy and reverse, then a copy batch whose rows
    hold sources of different lengths, so that GO sits at a different place in each row."""
    settings = [("copy", 8, 3, {}), ("copy", 4, 3, {"source_len": 5}), ("copy", 5, 1, {}),
                ("reverse", 8, 4, {}), ("reverse", 4, 3, {"source_len": 3})]
    cases = [(f"copy_targets({name}: g={g} segments of n={n}, reverse={name == 'reverse'})",
              *tasks.make_task(name, n, **sizes).sample(3, g, generator), name == "reverse")
             for name, n, g, sizes in settings]
    rows = [tasks.make_task("copy", 4, source_len=L).sample(1, 3, generator) for L in (5, 3, 6)]
    mixed = [torch.cat(x) for x in zip(*rows)]
    return [*cases, ("copy_targets(copy: g=3 segments of n=4, sources of 5, 3 and 6 digits)", *mixed, False)]


_GO_AT_HALF = "GO is not always at s // 2 = {} (here at {}): find it, (tokens == tasks.GO).int().argmax(1), since " \
              "the source may be shorter than s / 2"
_L_AT_GO = "the source is the first L = s - (position of GO) tokens, not the first (position of GO) ones: padding " \
           "may sit between the source and GO"


def _call_copy(fn, tokens: torch.Tensor, reverse: bool, label: str):
    """Call the learner's copy_targets; a slice of answers of the wrong length names GO or L taken wrong."""
    try:
        return call(fn, tokens.clone(), reverse, what=label)
    except CheckFailed as failure:
        go, s = _go(tokens)[0].item(), tokens.shape[1]
        hint = {(s - go, go): _L_AT_GO, (s - s // 2, s - go): _GO_AT_HALF.format(s // 2, go)}.get(slice_sizes(failure))
        if hint is None:
            raise
        raise CheckFailed(f"{failure}: {hint}") from failure


def _answer_case(b: int, s: int, v: int, generator: torch.Generator,
                 empty: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """`logits (b, s, v)` and `targets (b, s)`: rows 0 and 1 right on every answer, the others on about half.

    The first half of every row asks nothing, except row 1, which asks every position; row 0 asks one answer
    fewer than the rest. So the rows ask different numbers of answers, and an exact match over every position,
    or one flag for the whole batch, gives another number than the right one. `empty`: the last row asks nothing
    (an exact match, as all of its zero answers are right).
    """
    targets = torch.randint(0, v, (b, s), generator=generator)
    targets[:, : s // 2] = IGNORE_INDEX
    targets[1] = torch.randint(0, v, (s,), generator=generator)
    targets[0, s // 2] = IGNORE_INDEX
    good = torch.rand(b, s, generator=generator) < torch.linspace(1.0, 0.3, b).unsqueeze(1)
    good[:2] = True
    if empty:
        targets[-1] = IGNORE_INDEX
    boost = torch.nn.functional.one_hot(targets.clamp(min=0), v) * 10.0 * good.unsqueeze(-1)
    return torch.randn(b, s, v, generator=generator) + boost, targets


def _accuracy_mistakes(logits: torch.Tensor, targets: torch.Tensor) -> tuple[list, list]:
    """The usual wrong (accuracy, exact match) numbers, each with what went wrong: two lists of (value, message)."""
    s, v = logits.shape[1:]
    asked = targets != IGNORE_INDEX  # (b, s)
    right = (logits.argmax(-1) == targets) & asked  # (b, s)
    accuracy, exact = answer_accuracy(logits, targets)
    per_row = (right.sum(1) / asked.sum(1)).mean().item()
    percent = "that is a percentage; return a fraction in [0, 1]"
    answered = asked.any(dim=1)  # (b,)
    empty_row = "a row with no answers (every target -100) is an exact match, all of its zero answers being right: " \
                "count it as 1, among the b rows"
    accuracy_mistakes = [
        (right.float().mean().item(), "that counts every position; count only the answers, where targets != -100"),
        (per_row, "that is the mean of each sequence's accuracy; sequences ask different numbers of answers, so "
                  "count right answers over all answers of the batch at once"),
        (right.sum().item(), "that is the number of right answers; divide by the number of answers, asked.sum()"),
        (100 * accuracy, percent),
        (logits.softmax(-1).gather(-1, targets.clamp(min=0).unsqueeze(-1))[asked].mean().item(),
         "that is the mean probability given to the right answer; accuracy counts predictions, the argmax: "
         "(logits.argmax(-1) == targets), at the answers"),
        (answer_accuracy(logits[:, :-1], targets[:, 1:])[0],
         "that shifts the logits against the targets by one; they are already aligned: logits[:, t] predicts "
         "targets[:, t] (the targets are the next tokens), compare them position by position"),
    ]
    any_right = "that counts a row if ANY of its answers is right; exact match needs ALL of them right: " \
                "((predictions == targets) | ~asked).all(dim=1)"
    exact_mistakes = [
        (right.any(dim=1).float().mean().item(), any_right),
        ((right | ~asked).any(dim=1).float().mean().item(), any_right),
        (float(right.sum() == asked.sum()), "that is one flag for the whole batch (1 only if every sequence is "
                                            "right); exact match is per sequence: a row counts 1 if all its answers "
                                            "are right, then take the mean over the b rows"),
        ((logits.argmax(-1) == targets).all(dim=1).float().mean().item(),
         "that asks every position to be right; ask only the answers (targets != -100)"),
        (per_row, "that is the mean per-sequence accuracy; exact match counts a sequence as 1 only if all its "
                  "answers are right, else 0"),
        ((right.sum(1) == asked.sum(1)).sum().item(), "that is the number of sequences all right; divide by b "
                                                      "for the fraction (or .float().mean())"),
        ((right.sum(1) == asked.sum(1))[answered].float().mean().item(), empty_row),
        (((right.sum(1) == asked.sum(1)) & answered).float().mean().item(), empty_row),
        (100 * exact, percent),
    ]
    if s == v:  # the prediction taken over the positions (dim 1) runs without error only here
        wrong = logits.argmax(1) == targets  # (b, s)
        message = "the prediction is the argmax over the vocabulary, the last dim: logits.argmax(-1), not over " \
                  "the positions (dim 1)"
        accuracy_mistakes.append(((wrong & asked).sum().item() / asked.sum().item(), message))
        exact_mistakes.append((((wrong & asked).sum(1) == asked.sum(1)).float().mean().item(), message))
    return accuracy_mistakes, exact_mistakes


def check_answer_accuracy(fn) -> Callable:
    """Exercise 03.2: `answer_accuracy(logits (b, s, v), targets (b, s)) -> (accuracy, exact_match)`."""

    def cases(fn):
        gen = seeded(32)
        shapes = [(5, 7, 7, False), (6, 10, 5, True), (8, 16, 12, False)]
        for b, s, v, empty in shapes:
            logits, targets = _answer_case(b, s, v, gen, empty)
            expected = answer_accuracy(logits, targets)
            label = f"answer_accuracy(logits (b, s, v) = {(b, s, v)}{', the last row asks nothing' if empty else ''})"
            got = call(fn, logits.clone(), targets.clone(), what=label)
            if not (isinstance(got, tuple | list) and len(got) == 2):
                raise CheckFailed(f"{label} returned {type(got).__name__}, expected a pair (accuracy, exact_match)")
            for x, name in zip(got, ("accuracy", "exact match")):
                if isinstance(x, torch.Tensor) and x.numel() == 1:
                    raise CheckFailed(f"{label}: the {name} is a tensor; return a plain float (use .item())")
            accuracy, exact = (as_number(x, f"{label}: {name}") for x, name in zip(got, ("accuracy", "exact match")))
            if abs(accuracy - expected[1]) < 1e-6 and abs(exact - expected[0]) < 1e-6 and expected[0] != expected[1]:
                raise CheckFailed(f"{label} returned (exact match, accuracy); return (accuracy, exact match)")
            accuracy_mistakes, exact_mistakes = _accuracy_mistakes(logits, targets)
            known_number(accuracy, expected[0], f"{label}: accuracy", accuracy_mistakes)
            known_number(exact, expected[1], f"{label}: exact match", exact_mistakes)
        return len(shapes)

    return run_checker("answer_accuracy", fn, answer_accuracy, cases)
