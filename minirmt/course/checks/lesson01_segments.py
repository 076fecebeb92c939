"""Checkers of lesson 01, segments and memory tokens: splitting into segments, the RMT mask, one RMT step."""

from collections.abc import Callable

import torch
from einops import rearrange

from minirmt import viz
from minirmt.model import masks, segments
from minirmt.model.rmt import RecurrentMemoryTransformer

from .core import CheckFailed, call, expect_close, expect_tensor, known_mistakes, run_checker, seeded, sharp_rmt


def reference_split_segments(tokens: torch.Tensor, n: int, pad_id: int) -> torch.Tensor:
    """`tokens (b, s)` -> `(g, b, n)`: padded on the right with pad_id to whole segments, time first."""
    return segments.stack(segments.pad_to_segments(tokens, n, pad_id), n)


def check_split_segments(fn) -> Callable:
    """Exercise 01.1: `split_segments(tokens (b, s), n, pad_id) -> (g, b, n)`."""

    def cases(fn):
        gen = seeded(1)
        shapes = [(2, 21, 8, 0), (3, 24, 8, 0), (1, 5, 4, 11), (4, 30, 7, 1)]
        for b, s, n, pad_id in shapes:
            tokens = torch.randint(2, 11, (b, s), generator=gen)
            expected = reference_split_segments(tokens, n, pad_id)
            g = expected.shape[0]
            got = call(fn, tokens.clone(), n, pad_id)
            label = f"split_segments(tokens of shape (b, s) = {(b, s)}, n={n})"
            hints = {
                (b, g, n): "segments come first so that `for segment in x` walks through time",
                (g * b, n): "keep the segments and the batch apart: (g, b, n)",
                (g, n, b): "the dims are in the order (g, n, b); the batch comes before the tokens: (g, b, n)",
            }
            if s % n:
                hints[(s // n, b, n)] = (f"the last {s % n} tokens were dropped: pad the sequence to "
                                         f"ceil(s / n) * n = {g * n} tokens before cutting")
            else:
                hints[(g + 1, b, n)] = (f"one segment too many: s = {s} fills exactly {g} segments of n = {n}; "
                                        "pad only up to the next multiple of n")
            expect_tensor(got, "g b n", expected.shape, label, hints=hints)
            if got.dtype != tokens.dtype:
                raise CheckFailed(f"{label} has dtype {got.dtype}, expected {tokens.dtype} like the token ids (an "
                                  "embedding looks up integer ids): a float padding (torch.zeros, or torch.full with "
                                  "a float) turned them into floats; pad with torch.nn.functional.pad(tokens, ..., "
                                  "value=pad_id), or give the padding dtype=tokens.dtype")
            padded = segments.pad_to_segments(tokens, n, pad_id)
            left = torch.nn.functional.pad(tokens, (g * n - s, 0), value=pad_id)
            mistakes = [
                (rearrange(padded, "b (n g) -> g b n", g=g),
                 "segment 0 holds tokens 0, g, 2g, ... (strided): 'b (n g)' cuts the wrong way round; a segment "
                 "is n consecutive tokens, 'b (g n) -> g b n'"),
                (padded.reshape(g, b, n),
                 "reshape/view(g, b, n) reinterprets the memory and mixes the sequences of the batch; move the "
                 "segment axis with rearrange(x, 'b (g n) -> g b n', n=n)"),
                (segments.stack(left, n), "the padding is at the start; pad at the end, so that segment 0 "
                                          "starts with the first token"),
            ]
            if pad_id != 0:
                mistakes.append((reference_split_segments(tokens, n, 0),
                                 f"the padding holds 0 instead of pad_id = {pad_id}"))
            known_mistakes(got, expected, mistakes)
            expect_close(got, expected, "g b n", label)
        return len(shapes)

    return run_checker("split_segments", fn, reference_split_segments, cases)


MASK_RULES = {
    ("read", "read"): "read slot i sees read slots 0..i (causal), like any prefix",
    ("read", "tokens"): "the read slots hold the memory from before this segment: if they saw the tokens, a "
                        "token could read later tokens through them (the memory would see the future)",
    ("read", "write"): "the read slots must not see the write slots, which come after them",
    ("tokens", "read"): "every token sees every read slot: that is how the segment reads the memory",
    ("tokens", "tokens"): "token i sees tokens 0..i only (causal)",
    ("tokens", "write"): "tokens must not see the write slots: they come after the whole segment (the future)",
    ("write", "read"): "the write slots see every read slot, so the old memory can be carried over",
    ("write", "tokens"): "the write slots see every token of the segment: that is how the memory is written",
    ("write", "write"): "write slot i sees write slots 0..i (causal)",
}


def _pattern(block: torch.Tensor) -> str:
    if block.all():
        return "all True"
    if not block.any():
        return "all False"
    if block.shape[0] == block.shape[1] and torch.equal(block, torch.ones_like(block).tril()):
        return "causal (lower triangle)"
    return "a mixed pattern"


def check_rmt_mask(fn) -> Callable:
    """Exercise 01.2: `rmt_mask(m, n) -> (2m + n, 2m + n)` bool, the decoder mask over [read | tokens | write]."""

    def cases(fn):
        sizes = [(2, 5), (4, 8), (1, 1), (3, 2)]
        for m, n in sizes:
            expected = masks.rmt_decoder(m, n)
            got = call(fn, m, n)
            label = f"rmt_mask(m={m}, n={n})"
            expect_tensor(got, "i j", expected.shape, label,
                          hints={(m + n, m + n): "that is [memory | tokens]; the decoder has read AND write slots"})
            if got.dtype != torch.bool:
                raise CheckFailed(f"{label} has dtype {got.dtype}, expected torch.bool (True = may attend); "
                                  "use .bool() or build it from torch.ones(..., dtype=torch.bool)")
            if torch.equal(got, ~expected):
                raise CheckFailed(f"{label} is True where attention is blocked: here True means query i MAY attend "
                                  "to key j (the bool attn_mask of scaled_dot_product_attention); invert it")
            if torch.equal(got, expected.T):
                raise CheckFailed(f"{label} is transposed: row i is the query, column j the key, mask[i, j] = "
                                  "may query i attend to key j")
            blocks = viz.layout(2 * m + n, m, n)
            for row, r0, r1 in blocks:
                for col, c0, c1 in blocks:
                    want, have = expected[r0:r1, c0:c1], got[r0:r1, c0:c1]
                    if not torch.equal(want, have):
                        raise CheckFailed(
                            f"{label}: queries in [{row}] attending to keys in [{col}] are {_pattern(have)}, "
                            f"expected {_pattern(want)}: {MASK_RULES[row, col]}"
                        )
        return len(sizes)

    return run_checker("rmt_mask", fn, masks.rmt_decoder, cases)


def reference_rmt_step(model: RecurrentMemoryTransformer, tokens: torch.Tensor, memory: torch.Tensor):
    """One decoder RMT segment: `tokens (b, n)`, `memory (b, m, d)` -> hidden `(b, n, d)`, new memory `(b, m, d)`."""
    hidden, new_memory, _ = model.step(tokens, memory)
    return hidden, new_memory


def check_rmt_step(fn) -> Callable:
    """Exercise 01.3: `rmt_step(model, tokens (b, n), memory (b, m, d)) -> (hidden (b, n, d), memory (b, m, d))`."""

    def cases(fn):
        model = sharp_rmt(seed=3)
        m, d = model.cfg.num_mem_tokens, model.cfg.d_model
        gen = seeded(3)
        shapes = [(2, 6), (3, 4), (1, 6)]
        for b, n in shapes:
            tokens = torch.randint(0, model.cfg.vocab_size, (b, n), generator=gen)
            memory = torch.randn(b, m, d, generator=gen)
            label = f"rmt_step on tokens (b, n) = {(b, n)}, memory (b, m, d) = {(b, m, d)}"
            with torch.no_grad():
                hidden, new_memory = reference_rmt_step(model, tokens, memory)
                got = call(fn, model, tokens, memory.clone(), what=label)
                mistakes = _rmt_step_mistakes(model, tokens, memory)
            if isinstance(got, tuple | list) and len(got) == 3:
                raise CheckFailed(f"{label} returned 3 values; return the pair (hidden (b, n, d), new memory "
                                  "(b, m, d)), without model.step's attention")
            if not (isinstance(got, tuple | list) and len(got) == 2):
                raise CheckFailed(f"{label} returned {type(got).__name__}, expected a pair "
                                  "(hidden (b, n, d), new memory (b, m, d))")
            got_hidden, got_memory = got
            if m != n and isinstance(got_hidden, torch.Tensor) and tuple(got_hidden.shape) == (b, m, d) \
                    and isinstance(got_memory, torch.Tensor) and tuple(got_memory.shape) == (b, n, d):
                raise CheckFailed(f"{label} returned (memory, hidden); return (hidden, new memory)")
            expect_tensor(got_hidden, "b n d", hidden.shape, "hidden", hints={
                (b, n, model.cfg.vocab_size): "those are logits (after model.backbone.head); return the hidden "
                                              "states, the backbone's outputs at the token positions",
                (b, 2 * m + n, d): "that is the backbone's whole output; the hidden states are its token "
                                   "positions m .. m + n - 1",
            })
            wrong_m = (f"the new memory is the last m outputs, h[:, -m:], with m = model.cfg.num_mem_tokens (here "
                       f"{m}): an off-by-one in the slice, or a hard-coded m?")
            expect_tensor(got_memory, "b m d", new_memory.shape, "new memory", hints={
                (b, m - 1, d): wrong_m, (b, m + 1, d): wrong_m})
            if torch.allclose(got_memory.detach(), memory, atol=1e-6):
                raise CheckFailed(f"{label}: the new memory is the memory passed in, unchanged; it is the outputs "
                                  "at the write slots, h[:, -m:]")
            both = torch.cat([got_hidden.detach(), got_memory.detach()], dim=1)  # (b, n + m, d)
            known_mistakes(both, torch.cat([hidden, new_memory], dim=1), mistakes, atol=1e-4)
            expect_close(got_hidden.detach(), hidden, "b n d", "hidden", atol=1e-4)
            expect_close(got_memory.detach(), new_memory, "b m d", "new memory", atol=1e-4)
        memory = torch.randn(2, m, d, generator=gen, requires_grad=True)  # the memory a segment is handed
        _, got_memory = call(fn, model, torch.randint(0, model.cfg.vocab_size, (2, 6), generator=gen), memory)
        if not got_memory.requires_grad or torch.autograd.grad(got_memory.sum(), memory, allow_unused=True)[0] is None:
            raise CheckFailed("the new memory does not depend on the memory it was given through the graph (is it "
                              "detached, or computed under torch.no_grad()?): training backpropagates through this "
                              "chain of memories (notebook 02), so keep both in the graph")
        return len(shapes) + 1

    return run_checker("rmt_step", fn, reference_rmt_step, cases)


def _rmt_step_mistakes(model, tokens, memory) -> list[tuple[torch.Tensor, str]]:
    """The usual wrong versions of one RMT step: [hidden | new memory] `(b, n + m, d)` and what went wrong."""
    m, n = memory.shape[1], tokens.shape[1]
    x = model.backbone.embed(tokens)  # (b, n, d)
    h = model.backbone(torch.cat([memory, x, memory], dim=1), causal=True)[0]  # (b, m + n + m, d)
    open_h = model.backbone(torch.cat([memory, x, memory], dim=1), causal=False)[0]
    front = model.backbone(torch.cat([memory, x], dim=1), causal=True)[0]  # (b, m + n, d)
    back = model.backbone(torch.cat([x, memory], dim=1), causal=True)[0]  # (b, n + m, d)
    slice_ = "the outputs at the n token positions are h[:, m : m + n], after the m read slots"
    return [
        (torch.cat([h[:, m : m + n], h[:, :m]], dim=1),
         "the new memory is the output at the read slots (the first m positions), which see no token of the "
         "segment: put m write slots after the tokens, [memory | tokens | memory], and take the last m outputs"),
        (torch.cat([h[:, m - 1 : m + n - 1], h[:, m + n :]], dim=1), f"hidden is off by one: {slice_}"),
        (torch.cat([h[:, m + 1 : m + n + 1], h[:, m + n :]], dim=1), f"hidden is off by one: {slice_}"),
        (torch.cat([h[:, m : m + n], h[:, m + n - 1 : -1]], dim=1),
         "the new memory is off by one: it is the last m outputs, h[:, -m:] (the write slots)"),
        (torch.cat([open_h[:, m : m + n], open_h[:, m + n :]], dim=1),
         "attention is not causal: tokens see later tokens and the write slots (the future); call the "
         "backbone with causal=True"),
        (torch.cat([front[:, m:], front[:, -m:]], dim=1),
         "the input has no write slots: use [memory | tokens | memory], so that the memory is written after "
         "the segment (RMT paper, Sec. 3)"),
        (back, "the input has no read slots: the tokens cannot read the old memory (it sits after them); use "
               "[memory | tokens | memory], read slots first (RMT paper, Sec. 3)"),
        (torch.cat([h[:, :n], h[:, m + n :]], dim=1),
         "hidden should be the outputs at the n token positions, m .. m + n - 1, not the first n outputs"),
    ]
