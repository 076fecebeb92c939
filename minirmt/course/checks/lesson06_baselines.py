"""Checkers of lesson 06, RMT against Transformer-XL: attention pairs per model, the XL cache."""

from collections.abc import Callable, Sequence
from types import SimpleNamespace

import torch

from minirmt.model import segments
from minirmt.model.baselines import TransformerXL
from minirmt.model.registry import MODELS

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
)


def reference_attention_pairs(model: str, s: int, n: int, m: int, c: int) -> int:
    """How many query-key scores one layer and head computes for a sequence of s tokens (the sizes of its
    attention matrices, summed over segments; a plain implementation computes and stores all of them).

    Segments hold n tokens, the last one the remainder: n_i for i = 0 .. ceil(s / n) - 1. m memory tokens,
    c cached positions (Transformer-XL). Per segment, queries x keys:
        segment   n_i x n_i
        full      one segment of s tokens: s x s
        xl        n_i x (c_i + n_i), with c_i = min(c, tokens before segment i): the first segment has no cache
        memxl     (m + n_i) x (c_i + m + n_i): m memory tokens in every segment; the cache holds tokens only
        rmt       (2m + n_i) x (2m + n_i): [read m | tokens n_i | write m] (RMT paper, Sec. 3)
        memtok    as rmt: the same input, the memory only not carried
        rmtxl     (2m + n_i) x (c_i + 2m + n_i): the RMT's input, plus the cache of the tokens before
    """
    if model not in tuple(MODELS):
        raise ValueError(f"model must be one of {tuple(MODELS)}, got {model!r}")
    return s * s if model == "full" else _segment_pairs(model, s, n, m, lambda before: min(c, before))


def _segment_pairs(model: str, s: int, n: int, m: int, cache: Callable[[int], int]) -> int:
    """The pairs of a segmented model, summed over segments; cache(tokens before a segment) -> its c_i."""
    total = 0
    for before in range(0, s, n):  # `before` tokens precede this segment
        t, cached = min(n, s - before), cache(before)
        queries, keys = {
            "segment": (t, t), "xl": (t, cached + t), "memxl": (m + t, cached + m + t), "rmt": (2 * m + t, 2 * m + t),
            "memtok": (2 * m + t, 2 * m + t), "rmtxl": (2 * m + t, cached + 2 * m + t),
        }[model]
        total += queries * keys
    return total


def _attention_pairs_mistakes(model: str, s: int, n: int, m: int, c: int) -> list[tuple[int, str]]:
    """The usual wrong counts for one case, each with what went wrong."""
    g, rest = segments.num_segments(s, n), s % n
    ref = reference_attention_pairs

    def total(queries_keys) -> int:
        """Summed over segments i: queries x keys = queries_keys(c_i, n_i, i)."""
        return sum(q * k for q, k in (queries_keys(cached, t, i) for i, (cached, t) in enumerate(_segments(s, n, c))))

    mistakes = []
    if model != "full":  # first: with s % n tokens in the last segment, it may match the count of n there
        mistakes.append((_segment_pairs(model, s, n, m, lambda before: c if before else 0),
                         "the cache holds at most the tokens seen so far: c_i = min(c, tokens before segment i), "
                         "not c"))
        mistakes.append((_segment_pairs(model, s, n, m, lambda before: min(c, before, n)),
                         "the cache is not just the previous segment: it keeps the last c_i = min(c, tokens before "
                         "segment i) positions, several segments back when c > n"))
    if model == "rmtxl":  # before the last segment's: a cache that counts memory may match it
        mistakes += [(total(lambda cached, t, i, w=w: (2 * m + t, min(c, i * (n + w)) + 2 * m + t)),
                      "the cache counts memory positions: it holds the tokens' states only, c_i = min(c, tokens "
                      "before segment i); the 2m memory slots are new in every segment") for w in (2 * m, m)]
    if rest and model != "full":
        mistakes.append((ref(model, s - rest, n, m, c), f"the last, shorter segment is missing: s = {s} tokens make "
                                                        f"ceil(s / n) = {g} segments, the last one with s % n = "
                                                        f"{rest} tokens"))
        mistakes.append((ref(model, g * n, n, m, c), f"the last segment holds only s % n = {rest} tokens, not n = {n} "
                                                     "(unless you pad it; count what the model computes on the "
                                                     "unpadded sequence)"))
    by_model = {
        "xl": [
            (total(lambda cached, t, i: (t, c + t)),
             "the first segment has no cache: nothing came before it (c_0 = 0)"),
            (ref("segment", s, n, m, c), "that is a segment-only count: the queries also see the c_i cached positions"),
            (total(lambda cached, t, i: (cached + t, cached + t)),
             "the cached positions are keys only (they are not computed again): n_i x (c_i + n_i)"),
        ],
        "memxl": [
            (ref("xl", s, n, m, c), "MemTr-XL adds m memory tokens to every segment, as queries and keys"),
            (total(lambda cached, t, i: (m + t, min(c, i * (n + m)) + m + t)),
             "the cache holds the tokens' states only, not the memory tokens'"),
            (total(lambda cached, t, i: (m + t, cached + t)),
             "the m memory tokens are keys too: every query sees them, (m + n_i) x (c_i + m + n_i)"),
            (total(lambda cached, t, i: (t, cached + m + t)),
             "the m memory tokens are queries too: (m + n_i) x (c_i + m + n_i)"),
        ],
        "rmt": [
            (total(lambda cached, t, i: (m + t, m + t)),
             "the decoder RMT's input has read AND write memory: 2m + n_i positions per segment"),
            (total(lambda cached, t, i: (t, 2 * m + t)),
             "the memory slots are queries too (the write slots must attend to write the memory): "
             "(2m + n_i) x (2m + n_i)"),
        ],
        "memtok": [(ref("segment", s, n, m, c), "memory tokens that are not carried still take the RMT's input "
                                                "[read m | tokens n_i | write m]: (2m + n_i) x (2m + n_i)")],
        "rmtxl": [(ref("rmt", s, n, m, c), "RMT + XL cache also attends to the c_i cached positions: "
                                           "(2m + n_i) x (c_i + 2m + n_i)")],
        "full": [
            (ref("segment", s, n, m, c), "full attention has no segments: one s x s matrix"),
            (s * (s + 1) // 2, "count the whole s x s score matrix (what the kernel computes), not only the causal "
                               "half"),
        ],
    }
    return mistakes + by_model.get(model, [])


def _segments(s: int, n: int, c: int) -> list[tuple[int, int]]:
    """Per segment of s tokens cut every n: (cached positions c_i, tokens n_i)."""
    return [(min(c, before), min(n, s - before)) for before in range(0, s, n)]


def check_attention_pairs(fn) -> Callable:
    """Exercise 06.1: `attention_pairs(model, s, n, m, c) -> int`, query-key scores per layer and head."""

    def cases(fn):
        sizes = [(64, 8, 4, 8), (29, 8, 4, 8), (30, 4, 2, 10), (5, 8, 3, 8), (100, 16, 8, 16), (48, 16, 4, 40)]
        count, typed = 0, None  # typed: the first call whose count is not an int
        for model in tuple(MODELS):
            for s, n, m, c in sizes:
                expected = reference_attention_pairs(model, s, n, m, c)
                label = f"attention_pairs({model!r}, s={s}, n={n}, m={m}, c={c})"
                result = call(fn, model, s, n, m, c, what=label)
                got = as_number(result, label)
                if not got.is_integer():
                    raise CheckFailed(f"{label} is {got}, not a whole number: count whole segments (// and %, or "
                                      "math.ceil), each a whole matrix")
                known_number(got, expected, label, _attention_pairs_mistakes(model, s, n, m, c), rel_tol=0.0)
                if typed is None and (not isinstance(result, int) or isinstance(result, bool)):
                    typed = f"{label} is a {type(result).__name__}, {result!r}"
                count += 1
        if typed:  # after the values, so that a wrong count is named first
            raise CheckFailed(f"{typed}; the signature says -> int: count in ints (// and %, not /), or return "
                              "int(...)")
        return count

    return run_checker("attention_pairs", fn, reference_attention_pairs, cases)


def reference_xl_cache(cache: torch.Tensor | None, layer_inputs: Sequence[torch.Tensor], c: int) -> torch.Tensor:
    """Transformer-XL's cache update (Dai et al., 2019, Sec. 3.2), as `TransformerXL.next_cache` does it.

    cache         `(l, b, c_old, d)`, or None before the first segment
    layer_inputs  l tensors `(b, t, d)`: the input of each layer in this segment
    returns       `(l, b, min(c, c_old + t), d)`: per layer the last c positions of [cache | segment], detached
    """
    return TransformerXL.next_cache(SimpleNamespace(cfg=SimpleNamespace(cache_len=c)), cache, list(layer_inputs))


def check_xl_cache(fn) -> Callable:
    """Exercise 06.2: `xl_cache(cache (l, b, c_old, d) or None, layer_inputs [l x (b, t, d)], c) -> (l, b, c, d)`."""

    def cases(fn):
        gen = seeded(6)
        l, b, d = 2, 3, 8
        shapes = [(None, 6, 4), (5, 5, 5), (4, 2, 4), (3, 5, 6), (None, 3, 5)]  # (c_old, t, c)
        for c_old, t, c in shapes:
            cache = None if c_old is None else torch.randn(l, b, c_old, d, generator=gen)
            weight = torch.randn(d, d, generator=gen).requires_grad_()
            layer_inputs = [torch.randn(b, t, d, generator=gen) @ weight for _ in range(l)]  # carry gradient
            expected = reference_xl_cache(cache, layer_inputs, c)
            got = call(fn, None if cache is None else cache.clone(), list(layer_inputs), c)
            kept = expected.shape[2]
            label = (f"xl_cache(cache {'None' if cache is None else (l, b, c_old, d)}, "
                     f"{l} layer inputs (b, t, d) = {(b, t, d)}, c={c})")
            total = t + (c_old or 0)
            hints = {(b, l, kept, d): "stack the layers first: (l, b, c, d), one cache per layer"}
            if total > c:
                hints[(l, b, total, d)] = f"keep only the last c = {c} positions of [cache | segment]"
            if c_old is not None and t < kept:
                hints[(l, b, t, d)] = (f"the old cache was dropped: a segment of t = {t} < c = {c} tokens keeps "
                                       "older positions too; concatenate [cache | segment] before cutting")
            hints[(l, 2 * b, kept, d)] = "the cache and the segment were joined along the batch (dim 1); join " \
                                         "them along the positions, dim 2"
            hints[(l, b, kept, 2 * d)] = "the cache and the segment were joined along the width d (the last dim); " \
                                         "join them along the positions, dim 2"
            if isinstance(got, list | tuple):
                raise CheckFailed(f"{label} is a {type(got).__name__}; torch.stack the layers into one tensor "
                                  "(l, b, c, d)")
            if isinstance(got, torch.Tensor) and got.dim() == 3:
                raise CheckFailed(f"{label} has 3 dims {tuple(got.shape)}, expected 4: (l, b, c, d). torch.cat "
                                  "joined the layers along an existing axis; torch.stack(layer_inputs) makes the new "
                                  "first axis, l")
            expect_tensor(got, "l b c d", expected.shape, label, hints=hints)
            if got.requires_grad:
                raise CheckFailed(
                    f"{label} still carries gradient (requires_grad=True): detach it. Transformer-XL stops the "
                    "gradient at the cache (SG in Dai et al., 2019, Sec. 3.2); without it, every backward pass "
                    "would run on into the previous segment, and the graph would grow with every segment"
                )
            both = torch.stack(layer_inputs).detach() if cache is None else \
                torch.cat([cache, torch.stack(layer_inputs).detach()], dim=2)
            mistakes = []
            if cache is not None:  # first: where both match, a learner who got here passed the case without cache
                swapped = torch.cat([torch.stack(layer_inputs).detach(), cache], dim=2)[:, :, -c:]
                mistakes.append((swapped, "the order is [segment | cache]; the old cache comes first: "
                                          "[cache | segment], oldest position first"))
            for first in (0, -1):
                same = [layer_inputs[first]] * l
                mistakes.append((reference_xl_cache(cache, same, c).detach(),
                                 f"every layer got the same input, layer_inputs[{first}]; each layer caches its own "
                                 "input: torch.stack(layer_inputs), one (b, t, d) per layer"))
            mistakes.append((both[:, :, :c], "these are the OLDEST c positions; keep the newest ones: [:, :, -c:]"))
            known_mistakes(got.detach(), expected, mistakes, atol=1e-5)
            expect_close(got.detach(), expected, "l b c d", label, atol=1e-5)
        return len(shapes)

    return run_checker("xl_cache", fn, reference_xl_cache, cases)
