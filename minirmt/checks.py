"""Exercise checkers for the notebooks.

`fn = checks.check_<name>(fn)` calls the learner's function on seeded, non-trivial cases and prints one
line: passed; what is wrong (type, then shape, then values, in GUIDE.md's dimension names, with a hint for
the usual mistakes); or "not attempted" while the function still raises NotImplementedError. It returns the
learner's function when it passes and the library's version otherwise, so a learner who is stuck can go on.
A checker never raises.

The shared machinery comes first (`run_checker`, `call`, `expect_tensor`, `expect_close`, `known_mistakes`),
then each notebook's checkers in order. To add a checker: write `cases(fn)` that raises `CheckFailed` with
a helpful message or returns how many cases passed, and end with `return run_checker(name, fn, reference,
cases)`; test the reference and at least two known-bad variants in tests/test_checks.py.
"""

import traceback
from collections.abc import Callable, Sequence

import torch
from einops import rearrange

from . import masks, probe, segments, viz
from .config import ModelConfig
from .rmt import RecurrentMemoryTransformer

DIMENSIONS = {
    "b": "batch", "s": "sequence", "g": "segments", "n": "segment length", "m": "memory tokens",
    "d": "model width", "h": "heads", "k": "head width", "v": "vocabulary", "l": "layers",
    "i": "queries", "j": "keys", "N": "examples", "f": "features", "c": "classes",
}


# ----------------------------------------------------------------------------------------------------------
# machinery


class CheckFailed(Exception):
    """The learner's function gave a wrong answer; the message says what is wrong and how to fix it."""


class NotAttempted(Exception):
    """The learner's function still raises NotImplementedError."""


def run_checker(name: str, fn, reference: Callable, cases: Callable) -> Callable:
    """Run `cases(fn)`, print one line, and return `fn` if it passed, else `reference`.

    cases: calls fn on seeded examples; raises CheckFailed (or NotAttempted, through `call`) or returns the
           number of cases passed.
    """
    try:
        if not callable(fn):
            raise CheckFailed(f"expected a function, got {type(fn).__name__}")
        count = cases(fn)
    except NotAttempted:
        print(f"… {name}: not attempted yet (it raises NotImplementedError); using the library's version for now")
        return reference
    except CheckFailed as failure:
        print(f"✗ {name}: {failure}\n  (using the library's version so you can go on)")
        return reference
    except Exception as bug:  # a bug in the checker itself must not stop the notebook
        print(f"? {name}: the checker itself failed ({type(bug).__name__}: {bug}); using the library's version")
        return reference
    print(f"✓ {name}: passed {count} cases")
    return fn


def call(fn: Callable, *args, **kwargs):
    """Call the learner's function: NotImplementedError -> NotAttempted; any other error -> CheckFailed."""
    try:
        return fn(*args, **kwargs)
    except NotImplementedError as error:
        raise NotAttempted() from error
    except Exception as error:
        frame = traceback.extract_tb(error.__traceback__)[-1]
        raise CheckFailed(
            f"it raised {type(error).__name__}: {error} (line {frame.lineno}: `{(frame.line or '').strip()}`)"
        ) from error


def _dims(dims: str | Sequence[str]) -> list[str]:
    return dims.split() if isinstance(dims, str) else list(dims)


def expect_tensor(value, dims: str, shape: Sequence[int], what: str = "the result", dtype=None,
                  hints: dict | None = None) -> None:
    """Check type, then number of dims, then each dim (by name), then dtype; raise CheckFailed on the first miss.

    dims:  names of the dimensions, e.g. "g b n"; shape: the expected sizes, in the same order
    hints: {wrong shape: message} for the usual mistakes, added to the message when the shape matches
    """
    names, shape = _dims(dims), tuple(int(x) for x in shape)
    want = f"({', '.join(names)}) = {shape}"
    if not isinstance(value, torch.Tensor):
        raise CheckFailed(f"{what} is a {type(value).__name__}, expected a tensor {want}")
    got = tuple(value.shape)
    hint = (hints or {}).get(got)
    suffix = f". Hint: {hint}" if hint else ""
    if len(got) != len(names):
        raise CheckFailed(f"{what} has {len(got)} dims {got}, expected {len(names)}: {want}{suffix}")
    for name, size, expected in zip(names, got, shape):
        if size != expected:
            raise CheckFailed(
                f"{what} has shape {got}, expected {want}: {name} ({DIMENSIONS.get(name, name)}) is {size}, "
                f"expected {expected}{suffix}"
            )
    if dtype is not None and value.dtype != dtype:
        raise CheckFailed(f"{what} has dtype {value.dtype}, expected {dtype}")


def _mismatch(value: torch.Tensor, expected: torch.Tensor, atol: float) -> torch.Tensor:
    if expected.is_floating_point():
        return ~torch.isclose(value.float(), expected.float(), atol=atol, rtol=atol)
    return value != expected


def expect_close(value: torch.Tensor, expected: torch.Tensor, dims: str, what: str = "the result",
                 atol: float = 0.0) -> None:
    """Values equal (or within atol, relative and absolute, for floats); else name the first wrong entry."""
    wrong = _mismatch(value, expected, atol)
    if wrong.any():
        index = tuple(wrong.nonzero()[0].tolist())
        where = ", ".join(f"{name}={i}" for name, i in zip(_dims(dims), index))
        raise CheckFailed(
            f"{what}[{where}] is {_show(value[index])}, expected {_show(expected[index])} "
            f"({int(wrong.sum())} of {wrong.numel()} entries are wrong)"
        )


def known_mistakes(value: torch.Tensor, expected: torch.Tensor, mistakes: Sequence[tuple[torch.Tensor, str]],
                   atol: float = 0.0) -> None:
    """If `value` is wrong and equals the output of a known mistake (same shape and values), raise its message.

    A mistake that gives the right answer on this case (e.g. padding on the wrong side when there is no
    padding) is skipped.
    """
    if tuple(value.shape) == tuple(expected.shape) and not _mismatch(value, expected, atol).any():
        return
    for wrong_value, message in mistakes:
        if tuple(wrong_value.shape) == tuple(value.shape) and not _mismatch(value, wrong_value, atol).any():
            raise CheckFailed(message)


def _show(x: torch.Tensor):
    return x.item() if x.dtype == torch.bool or not x.is_floating_point() else round(x.item(), 5)


def _seeded(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


# ----------------------------------------------------------------------------------------------------------
# 01_segments_and_memory


def reference_split_segments(tokens: torch.Tensor, n: int, pad_id: int) -> torch.Tensor:
    """`tokens (b, s)` -> `(g, b, n)`: padded on the right with pad_id to whole segments, time first."""
    return segments.stack(segments.pad_to_segments(tokens, n, pad_id), n)


def check_split_segments(fn) -> Callable:
    """Exercise 01.1: `split_segments(tokens (b, s), n, pad_id) -> (g, b, n)`."""

    def cases(fn):
        gen = _seeded(1)
        shapes = [(2, 21, 8, 0), (3, 24, 8, 0), (1, 5, 4, 11), (4, 30, 7, 1)]
        for b, s, n, pad_id in shapes:
            tokens = torch.randint(2, 11, (b, s), generator=gen)
            expected = reference_split_segments(tokens, n, pad_id)
            g = expected.shape[0]
            got = call(fn, tokens.clone(), n, pad_id)
            label = f"split_segments(tokens of shape (b, s) = {(b, s)}, n={n})"
            hints = {
                (b, g, n): "the dims are in the order (b, g, n); put segments first: (g, b, n), so that "
                           "`for segment in x` walks through time",
                (g * b, n): "keep the segments and the batch apart: (g, b, n)",
            }
            if s % n:
                hints[(s // n, b, n)] = (f"the last {s % n} tokens were dropped: pad the sequence to "
                                         f"ceil(s / n) * n = {g * n} tokens before cutting")
            else:
                hints[(g + 1, b, n)] = (f"one segment too many: s = {s} fills exactly {g} segments of n = {n}; "
                                        "pad only up to the next multiple of n")
            expect_tensor(got, "g b n", expected.shape, label, hints=hints)
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


def _sharp_rmt(seed: int, **sizes) -> RecurrentMemoryTransformer:
    """A small decoder RMT with large random weights (sharp attention, so that mistakes change the outputs)."""
    cfg = ModelConfig(**{"vocab_size": 12, "d_model": 32, "n_layers": 2, "n_heads": 2, "segment_len": 6,
                         "num_mem_tokens": 3, **sizes})
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = RecurrentMemoryTransformer(cfg).eval()
    gen = _seeded(seed)
    with torch.no_grad():
        for p in model.parameters():
            if p.dim() >= 2:
                p.copy_(torch.randn(p.shape, generator=gen) * 0.3)
    return model


def check_rmt_step(fn) -> Callable:
    """Exercise 01.3: `rmt_step(model, tokens (b, n), memory (b, m, d)) -> (hidden (b, n, d), memory (b, m, d))`."""

    def cases(fn):
        model = _sharp_rmt(seed=3)
        m, d = model.cfg.num_mem_tokens, model.cfg.d_model
        gen = _seeded(3)
        shapes = [(2, 6), (3, 4), (1, 6)]
        for b, n in shapes:
            tokens = torch.randint(0, model.cfg.vocab_size, (b, n), generator=gen)
            memory = torch.randn(b, m, d, generator=gen)
            with torch.no_grad():
                hidden, new_memory = reference_rmt_step(model, tokens, memory)
                got = call(fn, model, tokens, memory.clone())
                mistakes = _rmt_step_mistakes(model, tokens, memory)
            label = f"rmt_step on tokens (b, n) = {(b, n)}, memory (b, m, d) = {(b, m, d)}"
            if not (isinstance(got, tuple | list) and len(got) == 2):
                raise CheckFailed(f"{label} returned {type(got).__name__}, expected a pair "
                                  "(hidden (b, n, d), new memory (b, m, d))")
            got_hidden, got_memory = got
            if m != n and isinstance(got_hidden, torch.Tensor) and tuple(got_hidden.shape) == (b, m, d) \
                    and isinstance(got_memory, torch.Tensor) and tuple(got_memory.shape) == (b, n, d):
                raise CheckFailed(f"{label} returned (memory, hidden); return (hidden, new memory)")
            expect_tensor(got_hidden, "b n d", hidden.shape, "hidden")
            expect_tensor(got_memory, "b m d", new_memory.shape, "new memory")
            both = torch.cat([got_hidden.detach(), got_memory.detach()], dim=1)  # (b, n + m, d)
            known_mistakes(both, torch.cat([hidden, new_memory], dim=1), mistakes, atol=1e-4)
            expect_close(got_hidden.detach(), hidden, "b n d", "hidden", atol=1e-4)
            expect_close(got_memory.detach(), new_memory, "b m d", "new memory", atol=1e-4)
        return len(shapes)

    return run_checker("rmt_step", fn, reference_rmt_step, cases)


def _rmt_step_mistakes(model, tokens, memory) -> list[tuple[torch.Tensor, str]]:
    """The usual wrong versions of one RMT step: [hidden | new memory] `(b, n + m, d)` and what went wrong."""
    m, n = memory.shape[1], tokens.shape[1]
    x = model.backbone.embed(tokens)  # (b, n, d)
    h = model.backbone(torch.cat([memory, x, memory], dim=1), causal=True)[0]  # (b, m + n + m, d)
    open_h = model.backbone(torch.cat([memory, x, memory], dim=1), causal=False)[0]
    front = model.backbone(torch.cat([memory, x], dim=1), causal=True)[0]  # (b, m + n, d)
    return [
        (torch.cat([h[:, m : m + n], h[:, :m]], dim=1),
         "the new memory is taken from the read slots (the first m outputs); take the write slots, the last "
         "m outputs: only they have seen the whole segment"),
        (torch.cat([open_h[:, m : m + n], open_h[:, m + n :]], dim=1),
         "attention is not causal: tokens see later tokens and the write slots (the future); call the "
         "backbone with causal=True"),
        (torch.cat([front[:, m:], front[:, -m:]], dim=1),
         "the input has no write slots: use [memory | tokens | memory], so that the memory is written after "
         "the segment (RMT paper, Sec. 3)"),
        (torch.cat([h[:, :n], h[:, m + n :]], dim=1),
         "hidden should be the outputs at the n token positions, m .. m + n - 1, not the first n outputs"),
    ]


# ----------------------------------------------------------------------------------------------------------
# 05_inside_the_memory


def reference_memory_similarity(states: torch.Tensor) -> torch.Tensor:
    """`states (g, m, d)` -> `(g, g)`: cosine similarity of the flattened memory states."""
    return viz.memory_similarity(states)


def check_memory_similarity(fn) -> Callable:
    """Exercise 05.1: `memory_similarity(states (g, m, d)) -> (g, g)`, cosine similarity of whole states."""

    def cases(fn):
        gen = _seeded(5)
        shapes = [(4, 3, 8), (6, 2, 5), (2, 4, 4)]
        for g, m, d in shapes:
            scale = torch.rand(g, 1, 1, generator=gen) * 3 + 0.5
            states = (torch.randn(g, m, d, generator=gen) + torch.randn(1, m, d, generator=gen)) * scale
            expected = reference_memory_similarity(states)
            got = call(fn, states.clone())
            label = f"memory_similarity(states of shape (g, m, d) = {(g, m, d)})"
            expect_tensor(got, "g g", expected.shape, label,
                          hints={(g * m, g * m): "that is one row per slot; flatten each state to one "
                                                 "vector (m * d) first"})
            flat = states.flatten(1)
            per_slot = torch.nn.functional.normalize(states, dim=-1)
            known_mistakes(got.float(), expected, [
                (flat @ flat.T, "the diagonal is not 1: normalise each flattened state to unit length "
                                "(cosine similarity is the dot product of unit vectors)"),
                (torch.einsum("amd,bmd->ab", per_slot, per_slot) / m,
                 "you compared the states slot by slot and averaged; flatten each state to (m * d) first"),
                (1 - expected, "these are 1 - cosine (a distance); return the similarity itself"),
            ], atol=1e-4)
            expect_close(got.float(), expected, "g g", label, atol=1e-4)
        return len(shapes)

    return run_checker("memory_similarity", fn, reference_memory_similarity, cases)


def check_fit_probe(fn) -> Callable:
    """Exercise 05.2: `fit_probe(features (N, f), labels (N,), num_classes, ridge) -> weights (f + 1, c)`."""

    def cases(fn):
        gen = _seeded(7)
        shapes = [(300, 6, 4, 1.0), (120, 10, 3, 0.1), (80, 3, 5, 10.0)]
        for count, f, c, ridge in shapes:
            centers = torch.randn(c, f, generator=gen) * 2
            labels = torch.randint(0, c, (count,), generator=gen)
            features = centers[labels] + torch.randn(count, f, generator=gen) + 1.5
            expected = probe.fit_linear_probe(features, labels, c, ridge)
            got = call(fn, features.clone(), labels.clone(), c, ridge)
            label = f"fit_probe(features (N, f) = {(count, f)}, c={c}, ridge={ridge})"
            expect_tensor(got, "f c", (f + 1, c), label, hints={
                (f, c): "one row short: append a column of ones to the features (the bias) before solving",
                (f + 1,): "that regresses the label ids themselves; regress one-hot targets (N, c), one column "
                          "per class",
                (f + 1, 1): "that regresses the label ids themselves; regress one-hot targets (N, c), one "
                            "column per class",
            })
            known_mistakes(got.float(), expected, [
                (probe.fit_linear_probe(features, labels, c, 0.0),
                 f"this matches ridge = 0: add ridge * I (ridge = {ridge}) to X^T X before solving"),
                (torch.cat([expected[-1:], expected[:-1]]),  # what [1 | features] gives
                 "the bias is the first row: put the column of ones last, so the bias is the last row "
                 "(like minirmt.probe.with_bias)"),
            ], atol=2e-3)
            expect_close(got.float(), expected, "f c", label, atol=2e-3)
        return len(shapes)

    return run_checker("fit_probe", fn, probe.fit_linear_probe, cases)
