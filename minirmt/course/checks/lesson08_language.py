"""Checkers of lesson 08, WikiText on a GPU: contiguous batches, loss by position, stream loss."""

import math
from collections.abc import Callable

import torch
from einops import rearrange

from minirmt.data.corpora import stream_batches

from .core import (
    CheckFailed,
    call,
    expect_close,
    expect_evaluation,
    expect_mode_kept,
    expect_tensor,
    forward_modes,
    known_mistakes,
    known_number,
    run_checker,
    seeded,
    sharp_rmt,
)


def reference_batchify(ids: torch.Tensor, b: int) -> tuple[torch.Tensor, torch.Tensor]:
    """A stream `ids (N,)` -> b contiguous rows `(b, L)`, L = (N - 1) // b, and their next tokens `(b, L)`:
    row r is ids[r L : (r + 1) L] and its targets ids[r L + 1 : (r + 1) L + 1] (Transformer-XL's batchify)."""
    return next(stream_batches(ids, b, (ids.numel() - 1) // b))


def check_batchify(fn) -> Callable:
    """Exercise 08.1: `batchify(ids (N,), b) -> (inputs (b, L), targets (b, L))`, L = (N - 1) // b."""

    def cases(fn):
        gen = seeded(81)
        settings = [(48, 4), (37, 3), (100, 7), (9, 1)]  # N, b
        for size, b in settings:
            ids = torch.randint(0, 1000, (size,), generator=gen)
            label = f"batchify(ids of N = {size} tokens, b = {b})"
            got = call(fn, ids.clone(), b)
            if not (isinstance(got, tuple | list) and len(got) == 2):
                raise CheckFailed(f"{label} returned {type(got).__name__}, expected a pair (inputs, targets)")
            length = (size - 1) // b
            hints = {(b, size // b): "L = (N - 1) // b: every input needs the next token as its target, so the "
                                     "last token of the stream can only be a target"}
            for value, what in zip(got, ("inputs", "targets")):
                expect_tensor(value, "b L", (b, length), f"{label}: {what}", hints=hints)
                if value.is_floating_point() or value.is_complex() or value.dtype == torch.bool:
                    raise CheckFailed(f"{label}: the {what} have dtype {value.dtype}; token ids are integers (the "
                                      "embedding looks them up, and the notebook calls .long() on them): slice and "
                                      "view `ids` itself, which keeps its integer dtype")
            inputs, targets = reference_batchify(ids, b)
            if torch.equal(got[0], targets) and torch.equal(got[1], inputs):
                raise CheckFailed(f"{label} returned (targets, inputs); return (inputs, targets)")
            used = ids[: b * length + 1]
            mistakes = [
                (rearrange(used[:-1], "(t b) -> b t", b=b),
                 "the rows interleave the stream (token t went to row t % b); each row must be one contiguous "
                 "piece ids[r L : (r + 1) L], so that the next batch continues every row where it stopped"),
            ]
            known_mistakes(got[0], inputs, mistakes)
            expect_close(got[0], inputs, "b L", f"{label}: inputs")
            known_mistakes(got[1], targets, [
                (inputs, "the targets are the inputs themselves; a language model predicts the NEXT token: "
                         "targets[r, t] = ids[r L + t + 1]"),
                (rearrange(used[1:], "(t b) -> b t", b=b), "the targets interleave the stream; shift each "
                                                           "contiguous row by one token instead"),
                (inputs.roll(-1, dims=1), "each row's last target is the first token of the NEXT row's text, "
                                          "ids[(r + 1) L]: take the targets from the stream, ids[1 : b L + 1], not "
                                          "by rolling each row"),
            ])
            expect_close(got[1], targets, "b L", f"{label}: targets")
        return len(settings)

    return run_checker("batchify", fn, reference_batchify, cases)


def reference_loss_by_position(loss: torch.Tensor, n: int) -> torch.Tensor:
    """Per-token losses `(b, g * n)` -> the mean loss at each position 0..n-1 inside a segment, `(n,)`."""
    return rearrange(loss, "b (g n) -> (b g) n", n=n).mean(0)


def check_loss_by_position(fn) -> Callable:
    """Exercise 08.3: `loss_by_position(loss (b, g * n), n) -> (n,)`, averaged over rows and segments."""

    def cases(fn):
        gen = seeded(82)
        settings = [(2, 3, 4), (3, 5, 5), (1, 1, 8), (4, 2, 3)]  # b, g, n
        for b, g, n in settings:
            loss = torch.rand(b, g * n, generator=gen) * 5
            label = f"loss_by_position(loss (b, g * n) = {(b, g * n)}, n = {n})"
            got = call(fn, loss.clone(), n)
            expect_tensor(got, "n", (n,), label, hints={
                (g,): "that is one mean per segment; average over rows and segments, keep the n positions",
                (b,): "that is one mean per row; average over rows and segments, keep the n positions",
                (g * n,): "that averages the rows only; fold the g segments of each row onto n positions too",
                (b * g,): "that is one mean per segment of each row; average over the (b g) rows of "
                          "'b (g n) -> (b g) n', dim 0, keeping the n positions",
                (g, n): "average over the rows too: mean over both b and g",
                (b, n): "average over the segments too: mean over both b and g",
            })
            expected = reference_loss_by_position(loss, n)
            known_mistakes(got, expected, [
                (rearrange(loss, "b (n g) -> (b g) n", n=n).mean(0),
                 'the pattern "b (n g)" makes the segment index the fastest-varying one (token t is segment '
                 't % g); a row is g segments one after the other, "b (g n) -> (b g) n"'),
                (loss[:, :n].mean(0), "that is the first segment only; average over all g segments"),
                (expected * b * g, "that is the sum over rows and segments; take the mean"),
                (rearrange(loss[:1], "b (g n) -> (b g) n", n=n).mean(0), "that is the first row only; average over "
                                                                         "every row b and every segment g"),
                (expected / math.log(2), "that is in bits (divided by ln 2); keep the losses as they are, in nats"),
                (loss.reshape(n, -1).mean(1), "view/reshape(n, -1) cuts the flattened losses into n blocks of "
                                              "b g consecutive tokens; position p is every n-th token of a row: "
                                              "rearrange(loss, 'b (g n) -> (b g) n', n=n)"),
            ], atol=1e-5)
            expect_close(got, expected, "n", label, atol=1e-5)
        return len(settings)

    return run_checker("loss_by_position", fn, reference_loss_by_position, cases)


@torch.no_grad()
def reference_stream_loss(model, batches) -> float:
    """Mean cross-entropy over every target of `batches` [(tokens (b, s), targets (b, s)), ...], one after the
    other, the state (`out.memory`) of each batch passed to the next (Transformer-XL style evaluation); in eval
    mode, the model's mode given back as it was."""
    was = model.training
    model.eval()
    state, total, count = None, 0.0, 0
    for tokens, targets in batches:
        out = model(tokens, memory=state, targets=targets)
        state = out.memory
        total, count = total + out.loss.item() * targets.numel(), count + targets.numel()
    model.train(was)
    return total / count


def check_stream_loss(fn) -> Callable:
    """Exercise 08.2: `stream_loss(model, batches) -> the mean loss over all targets`, memory carried."""

    def cases(fn):
        model = sharp_rmt(seed=83)
        gen = seeded(83)
        # b, lengths s of the batches, and the mode the model is handed in (a model just trained is in training mode)
        settings = [(2, (12, 12, 6), False), (3, (6, 18), False), (1, (6,), True)]
        for b, lengths, training in settings:
            stream = torch.randint(0, model.cfg.vocab_size, (b, sum(lengths) + 1), generator=gen)
            cuts = torch.tensor((0, *lengths)).cumsum(0).tolist()
            batches = [(stream[:, lo:hi], stream[:, lo + 1 : hi + 1]) for lo, hi in zip(cuts, cuts[1:])]
            label = f"stream_loss(batches of b = {b} rows and s = {list(lengths)} tokens)"
            got = _stream_call(fn, model.train(training), batches, label)
            if isinstance(got, torch.Tensor):
                raise CheckFailed(f"{label} is a tensor; return a plain float (use .item())")
            if isinstance(got, bool) or not isinstance(got, int | float):
                raise CheckFailed(f"{label} returned {type(got).__name__}, expected a number (a float)")
            known_number(got, reference_stream_loss(model, batches), label, _stream_mistakes(model.eval(), batches),
                         rel_tol=1e-4)
        return len(settings)

    return run_checker("stream_loss", fn, reference_stream_loss, cases)


def _stream_call(fn, model, batches, label: str):
    """Call the learner's stream_loss as a learner would, with gradients on: refuse training mode, gradients, and
    a model whose mode is not given back as it was."""
    was = model.training
    with forward_modes(model) as modes:
        got = call(fn, model, [(x.clone(), y.clone()) for x, y in batches], what=label)
    expect_evaluation(modes, label)
    expect_mode_kept(was, model.training, label)
    return got


@torch.no_grad()
def _stream_mistakes(model, batches) -> list[tuple[float, str]]:
    """The usual wrong stream losses, each with what went wrong."""
    counts = [y.numel() for _, y in batches]
    fresh = [model(x, targets=y).loss.item() for x, y in batches]
    carried, shifted, state = [], [], None
    for x, y in batches:
        out = model(x, memory=state, targets=y)
        carried.append(out.loss.item())
        shifted.append(torch.nn.functional.cross_entropy(out.logits[:, :-1].flatten(0, 1), y[:, 1:].flatten(),
                                                         reduction="sum").item())
        state = out.memory
    total = sum(loss * count for loss, count in zip(carried, counts))
    mean = total / sum(counts)
    return [
        (sum(loss * count for loss, count in zip(fresh, counts)) / sum(counts),
         "every batch starts from a fresh memory: pass `memory=out.memory` of one batch to the next"),
        (carried[-1], "that is the last batch's loss only: add up the losses of every batch (total and count "
                      "outside the loop)"),
        (sum(carried) / len(carried),
         "that averages the batches' mean losses, but the batches hold different numbers of targets: weight each "
         "mean by its number of targets (or sum the losses and divide by the total count)"),
        (mean / math.log(2), "that is in bits (log base 2); cross_entropy measures nats (natural log): do not "
                             "divide by ln 2"),
        (math.exp(mean), "that is the perplexity, exp(loss); return the mean loss itself"),
        (total, "that is the sum of the losses of all targets; divide by their number"),
        (sum(carried), "that is the sum of the batches' mean losses; return the mean over all targets (weight each "
                       "batch's mean by its number of targets, then divide by the total)"),
        (total / sum(y.shape[0] for _, y in batches), "that divides by the number of rows; divide by the number of "
                                                      "targets, targets.numel() per batch"),
        (total / sum(y.shape[1] for _, y in batches), "that divides by the length of one row; divide by the number "
                                                      "of targets, targets.numel() per batch"),
        (sum(shifted) / sum(y[:, 1:].numel() for _, y in batches),
         "the targets are already the next tokens (targets[t] = tokens[t + 1]): do not shift them again"),
    ]
