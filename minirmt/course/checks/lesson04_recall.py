"""Checkers of lesson 04, associative recall: a batch of the task, the information in the pairs."""

import math
from collections.abc import Callable

import torch

from minirmt.data import tasks
from minirmt.model.validation import IGNORE_INDEX

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


def reference_recall_batch(keys: torch.Tensor, values: torch.Tensor, order: torch.Tensor, s: int):
    """An associative-recall batch (RMT paper, Sec. 4): tokens `(b, s)` and targets `(b, s)`.

    keys, values `(b, p)`: token ids of the stored pairs, written `k v k v ...` from position 0;
    order `(b, q)`: which pairs are asked, in which order. The query phase fills the last 2q - 1 positions
    with `k v k v ... k` (the last value is only a target, never read); the target at each asked key is its
    value; PAD in between; -100 where nothing is asked.
    """
    b, p = keys.shape
    q = order.shape[1]
    start = s - (2 * q - 1)  # the first query
    tokens = torch.full((b, s), tasks.PAD, dtype=torch.long, device=keys.device)
    tokens[:, 0 : 2 * p : 2], tokens[:, 1 : 2 * p : 2] = keys, values
    asked_keys, asked_values = keys.gather(1, order), values.gather(1, order)  # (b, q)
    tokens[:, start::2] = asked_keys
    tokens[:, start + 1 :: 2] = asked_values[:, :-1]
    targets = torch.full_like(tokens, IGNORE_INDEX)
    targets[:, start::2] = asked_values
    return tokens, targets


def _recall_case(task, g: int, generator: torch.Generator):
    """A batch of `task` and the keys `(b, p)`, values `(b, p)` and order `(b, q)` it was built from."""
    tokens, targets = task.sample(3, g, generator)
    p, s = task.num_pairs, tokens.shape[1]
    q = task.num_pairs if task.num_queries is None else task.num_queries
    keys, values = tokens[:, 0 : 2 * p : 2], tokens[:, 1 : 2 * p : 2]
    asked = tokens[:, s - (2 * q - 1) :: 2]  # (b, q) the asked keys
    order = (asked.unsqueeze(-1) == keys.unsqueeze(1)).int().argmax(-1)  # (b, q): the pair each one asks
    return keys, values, order, tokens, targets


def check_recall_batch(fn) -> Callable:
    """Exercise 04.1: `recall_batch(keys (b, p), values (b, p), order (b, q), s) -> tokens (b, s), targets (b, s)`."""

    def cases(fn):
        gen = seeded(41)
        settings = [(8, 3, {"num_pairs": 3}), (4, 4, {}), (4, 5, {"num_pairs": 3, "num_queries": 2}),
                    (6, 2, {"num_pairs": 2, "num_keys": 4, "num_values": 3})]  # n, g, sizes
        for n, g, sizes in settings:
            task = tasks.make_task("assoc", n, **sizes)
            keys, values, order, tokens, targets = _recall_case(task, g, gen)
            s = tokens.shape[1]
            label = (f"recall_batch(p={keys.shape[1]} pairs, q={order.shape[1]} queries, s={s})")
            got = _call_recall(fn, keys, values, order, s, label)
            if not (isinstance(got, tuple | list) and len(got) == 2):
                raise CheckFailed(f"{label} returned {type(got).__name__}, expected a pair (tokens (b, s), "
                                  "targets (b, s))")
            got_tokens, got_targets = got
            expect_tensor(got_tokens, "b s", tokens.shape, f"{label}: tokens")
            expect_tensor(got_targets, "b s", targets.shape, f"{label}: targets")
            for value, what in ((got_tokens, "tokens"), (got_targets, "targets")):
                _expect_long(value, f"{label}: the {what}")
            both = torch.cat([got_tokens, got_targets], dim=1)
            known_mistakes(both, torch.cat([tokens, targets], dim=1), _recall_mistakes(keys, values, order, targets))
            expect_close(got_tokens, tokens, "b s", f"{label}: tokens")
            expect_close(got_targets, targets, "b s", f"{label}: targets")
        return len(settings)

    return run_checker("recall_batch", fn, reference_recall_batch, cases)


def _expect_long(value: torch.Tensor, what: str) -> None:
    """Token ids and class indices are torch.long (int64); name how another dtype came in."""
    if value.dtype == torch.long:
        return
    how = ("torch.zeros, or torch.full with a float, makes floats; use torch.full((b, s), tasks.PAD) or "
           "dtype=torch.long") if value.is_floating_point() else \
        "a narrower integer type is not what embeddings and cross_entropy take; make them with dtype=torch.long"
    raise CheckFailed(f"{what} have dtype {value.dtype}, expected torch.long (int64: token ids, and the class "
                      f"indices cross_entropy takes): {how}")


def _call_recall(fn, keys, values, order, s: int, label: str):
    """Call the learner's recall_batch; a shape error of q tokens put in q +- 1 places names the query phase."""
    try:
        return call(fn, keys.clone(), values.clone(), order.clone(), s, what=label)
    except CheckFailed as failure:
        q = order.shape[1]
        places, given = slice_sizes(failure) or (0, 0)
        if {places, given} != {q - 1, q}:
            raise
        raise CheckFailed(f"{failure}: {places} places for {given} tokens, so the query phase starts one position "
                          f"{'early' if places > given else 'late'}. It is the last 2q - 1 = {2 * q - 1} positions, "
                          f"from s - (2q - 1) = {s - 2 * q + 1}: q = {q} keys, with the q - 1 = {q - 1} fed values "
                          "between them") from failure


def _recall_mistakes(keys, values, order, targets) -> list[tuple[torch.Tensor, str]]:
    """The usual wrong batches, tokens and targets joined `(b, 2s)`, each with what went wrong."""
    p, q, s = keys.shape[1], order.shape[1], targets.shape[1]
    start = s - (2 * q - 1)  # the first query
    tokens = reference_recall_batch(keys, values, order, s)[0]
    early = [torch.nn.functional.pad(x, (0, 1), value=fill) for x, fill in
             zip(reference_recall_batch(keys, values, order, s - 1), (tasks.PAD, IGNORE_INDEX))]
    early_fed = early[0].clone()
    early_fed[:, -1] = values.gather(1, order)[:, -1]  # all q values fed, the last one at s - 1
    stored_values = [tokens.clone(), targets.clone()]
    stored_values[0][:, start + 1 :: 2], stored_values[1][:, start::2] = values[:, : q - 1], values[:, :q]
    stored_order = reference_recall_batch(keys, values, torch.arange(q).expand_as(order), s)
    value_first = tokens.clone()
    value_first[:, 0 : 2 * p : 2], value_first[:, 1 : 2 * p : 2] = values, keys
    on_values = torch.nn.functional.pad(targets[:, :-1], (1, 0), value=IGNORE_INDEX)
    asked = targets != IGNORE_INDEX
    used = 2 * p + 2 * q - 1  # pairs, then the query phase right after them
    fed = torch.roll(asked, 1, dims=1) & (torch.arange(s) > start)  # the values fed back
    early_message = (f"the query phase starts one position early: it takes the last 2q - 1 = {2 * q - 1} positions, "
                     "because the last value is only a target, never read")
    return [
        (torch.cat([value_first, targets], dim=1),
         "the pairs are written value first (v k v k ...); each key comes first, then its value: k v k v ..., "
         "keys at the even positions 0, 2, ..., values at the odd ones"),
        (torch.cat([tokens, targets.masked_scatter(asked, keys.gather(1, order))], dim=1),
         "the targets are the asked keys; the target at each asked key is its VALUE: values.gather(1, order)"),
        (torch.cat(reference_recall_batch(keys, values, order[:1].expand_as(order), s), dim=1),
         "every row is asked in row 0's order (order[0]); each row has its own: keys.gather(1, order)"),
        (torch.cat([tokens.masked_fill(fed, tasks.PAD), targets], dim=1),
         "the asked values are not fed back: after each asked key but the last, its value is the next token "
         "(teacher forcing), k v k v ... k"),
        (torch.cat([tokens, targets.clamp(min=0)], dim=1),
         "targets must be -100 where nothing is asked (the ignore_index of cross_entropy), not 0"),
        (torch.cat([tokens, on_values], dim=1),
         "the targets sit on the values; put each value as the target at its key's position: targets[t] is what "
         "comes after tokens[t]"),
        (torch.cat(stored_order, dim=1),
         "the keys are asked in stored order; ask them in the order given by `order`: keys.gather(1, order)"),
        *((torch.cat(both, dim=1),
           "the asked values are in stored order (values[:, :q]), not in the asking order; gather them like the keys, "
           "values.gather(1, order), so that each asked key is followed by its own value")
          for both in (stored_values, [tokens, stored_values[1]], [stored_values[0], targets])),
        (torch.cat(early, dim=1), early_message),
        (torch.cat([early_fed, early[1]], dim=1), early_message),
        (torch.cat([torch.nn.functional.pad(x, (0, s - used), value=fill) for x, fill in
                    zip(reference_recall_batch(keys, values, order, used), (tasks.PAD, IGNORE_INDEX))], dim=1),
         f"the query phase follows the pairs; it takes the LAST 2q - 1 = {2 * q - 1} positions of the s tokens, so "
         "that the questions close the last segment"),
    ]


def reference_pairs_information(num_pairs: int, num_keys: int, num_values: int) -> float:
    """Bits of information in p stored pairs: which p of the K keys (order irrelevant), and a value of V for
    each: log2 C(K, p) + p log2 V."""
    return math.log2(math.comb(num_keys, num_pairs)) + num_pairs * math.log2(num_values)


def check_pairs_information(fn) -> Callable:
    """Exercise 04.2: `pairs_information(num_pairs, num_keys, num_values) -> bits (a float)`."""

    def cases(fn):
        settings = [(4, 16, 16), (1, 16, 16), (6, 16, 16), (3, 8, 5), (16, 16, 16)]
        for p, k, v in settings:
            expected = reference_pairs_information(p, k, v)
            label = f"pairs_information(num_pairs={p}, num_keys={k}, num_values={v})"
            result = call(fn, p, k, v)
            if isinstance(result, torch.Tensor):
                raise CheckFailed(f"{label} is a tensor; return a plain float (use .item(), or math.log2 and "
                                  "math.comb, which need no tensors)")
            got = as_number(result, label)
            known_number(got, expected, label, [
                (reference_pairs_information(p, v, k),
                 "num_keys and num_values are swapped: choose p of the K = num_keys keys, log2 C(K, p), and one of "
                 "the V = num_values values for each, p log2 V"),
                (math.log2(math.perm(k, p)) + p * math.log2(v),
                 f"that counts the order the pairs were written in, log2(p!) = {math.log2(math.factorial(p)):.2f} "
                 "bits too many; recall does not care about the order (math.comb, not math.perm)"),
                (p * math.log2(k) + p * math.log2(v),
                 "the keys are distinct: choose p of the K keys without replacement, log2 C(K, p)"),
                (p * math.log2(v), "which keys were stored is information too: add log2 C(K, p)"),
                (math.log2(math.comb(k, p)), "the values are information too: each of the p keys holds one of V "
                                             "values, add p log2 V"),
                (math.log2(math.comb(k, p)) + math.log2(v), "each of the p keys has its own value: p log2 V, "
                                                            "not log2 V"),
                (math.log2(math.comb(k, p)) + k * math.log2(v), "only the p stored keys have a value: p log2 V, "
                                                                "not K log2 V"),
                (expected * math.log(2), "that is in nats (natural log); use log2 for bits"),
                (expected * math.log10(2), "that is in decimal digits (log10); use log2 for bits"),
                (math.comb(k, p) * v**p, "that is the number of possible sets of pairs; the bits are its log2"),
                *((whole(expected), "that is rounded to whole bits; return the exact number, a float")
                  for whole in (round, math.ceil, math.floor)),
            ])
        return len(settings)

    return run_checker("pairs_information", fn, reference_pairs_information, cases)
