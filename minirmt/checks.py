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

import math
import traceback
from collections.abc import Callable, Sequence

import torch
from einops import rearrange

from . import masks, probe, segments, tasks, viz
from .config import ModelConfig
from .rmt import RecurrentMemoryTransformer
from .validation import IGNORE_INDEX

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


# ----------------------------------------------------------------------------------------------------------
# 02_recurrence_and_bptt


def reference_run_segments(model: RecurrentMemoryTransformer, tokens: torch.Tensor):
    """The recurrence: `tokens (b, s)` -> logits `(b, s, v)` and the g memories written, each `(b, m, d)`."""
    out = model(tokens)
    return out.logits, out.memories


def reference_run_truncated(model: RecurrentMemoryTransformer, tokens: torch.Tensor, bptt_depth: int):
    """`reference_run_segments` with the memory entering segments 1 .. g - bptt_depth detached."""
    out = model(tokens, bptt_depth=bptt_depth)
    return out.logits, out.memories


def _loop_mistakes(model, tokens) -> list[tuple[torch.Tensor, str]]:
    """Wrong loops, flattened as `_flat_loop` does, each with what went wrong."""
    start = model.initial_state(tokens.shape[0])  # (b, m, d)
    pieces = tokens.split(model.cfg.segment_len, dim=1)
    stale = [model.step(x, start) for x in pieces]  # every segment given the initial memory
    read, memory = [], start
    for x in pieces:
        read.append(memory)
        memory = model.step(x, memory)[1]
    return [
        (_flat_loop(torch.cat([model.backbone.head(h) for h, _, _ in stale], dim=1), [w for _, w, _ in stale]),
         "every segment reads the initial memory: pass the memory returned by model.step on to the next segment"),
        (_flat_loop(model(tokens).logits, read),
         "memories[i] is the memory segment i read; collect the one it wrote (returned by model.step)"),
    ]


def _flat_loop(logits: torch.Tensor, memories) -> torch.Tensor:
    """`logits (b, s, v)` and g memories `(b, m, d)` -> one row per sequence `(b, s * v + g * m * d)`."""
    return torch.cat([logits.flatten(1), *(mem.flatten(1) for mem in memories)], dim=1)


def _check_loop_output(got, model, tokens, label: str) -> None:
    """Type, shapes, then values of a recurrence's `(logits (b, s, v), [g memories (b, m, d)])`."""
    cfg = model.cfg
    b, s = tokens.shape
    n, g = cfg.segment_len, -(-s // cfg.segment_len)
    with torch.no_grad():
        out = model(tokens)
    if not (isinstance(got, tuple | list) and len(got) == 2):
        raise CheckFailed(f"{label} returned {type(got).__name__}, expected a pair (logits (b, s, v), "
                          "list of g memories (b, m, d))")
    logits, memories = got
    hints = {(b, g, cfg.vocab_size): "that is one row per segment; keep every position: torch.cat along dim 1"}
    if s % n:
        hints[(b, (s // n) * n, cfg.vocab_size)] = (f"the last, shorter segment ({s % n} tokens) is missing; "
                                                   "tokens.split(n, dim=1) keeps it")
    expect_tensor(logits, "b s v", out.logits.shape, f"{label}: logits", hints=hints)
    if not isinstance(memories, list | tuple) or not all(isinstance(x, torch.Tensor) for x in memories):
        raise CheckFailed(f"{label}: the memories are a {type(memories).__name__}, expected a list of g = {g} "
                          "tensors (b, m, d)")
    if len(memories) != g:
        hint = " (the initial memory is not one of them: collect what each segment writes)" \
            if len(memories) == g + 1 else ""
        raise CheckFailed(f"{label}: {len(memories)} memories for g = {g} segments, expected one per segment{hint}")
    for i, mem in enumerate(memories):
        expect_tensor(mem, "b m d", out.memory.shape, f"{label}: memories[{i}]")
    with torch.no_grad():
        both = _flat_loop(logits.detach(), [mem.detach() for mem in memories])
        known_mistakes(both, _flat_loop(out.logits, out.memories), _loop_mistakes(model, tokens), atol=1e-4)
    for i in range(g):
        lo, hi = i * n, min(s, (i + 1) * n)
        if not torch.allclose(logits[:, lo:hi].detach(), out.logits[:, lo:hi], atol=1e-4, rtol=1e-4):
            first = "" if i == 0 else ", though the segments before it agree: is the memory carried over?"
            raise CheckFailed(f"{label}: the logits of segment {i} (positions {lo}..{hi - 1}) differ from the "
                              f"model's{first}")
        expect_close(memories[i].detach(), out.memories[i], "b m d", f"{label}: memories[{i}]", atol=1e-4)


def check_run_segments(fn) -> Callable:
    """Exercise 02.1: `run_segments(model, tokens (b, s)) -> (logits (b, s, v), [g memories (b, m, d)])`."""

    def cases(fn):
        model = _sharp_rmt(seed=21)
        gen = _seeded(21)
        shapes = [(2, 18), (3, 14), (1, 6)]  # whole segments, a shorter last segment, a single segment
        for b, s in shapes:
            tokens = torch.randint(0, model.cfg.vocab_size, (b, s), generator=gen)
            with torch.no_grad():
                got = call(fn, model, tokens.clone())
            _check_loop_output(got, model, tokens, f"run_segments(tokens of shape (b, s) = {(b, s)})")
        return len(shapes)

    return run_checker("run_segments", fn, reference_run_segments, cases)


def _segments_with_gradient(fn, model, tokens, bptt_depth) -> tuple[list[int], bool, object]:
    """Run `fn` with gradients; backpropagate a loss on the last segment's logits.

    Returns the segments whose token embeddings received gradient, whether the learned initial memory did,
    and fn's output.
    """
    n = model.cfg.segment_len
    embedded = []

    def keep(module, inputs, output):
        if output.requires_grad:
            output.retain_grad()
        embedded.append(output)

    model.zero_grad(set_to_none=True)
    hook = model.backbone.embed.register_forward_hook(keep)
    try:
        got = call(fn, model, tokens.clone(), bptt_depth)
    finally:
        hook.remove()
    if not (isinstance(got, tuple | list) and len(got) == 2 and isinstance(got[0], torch.Tensor)):
        return [], False, got
    g = -(-tokens.shape[1] // n)
    if len(embedded) != g:
        raise CheckFailed(f"model.backbone.embed ran {len(embedded)} times for g = {g} segments; call model.step "
                          "once per segment")
    logits = got[0]
    if not logits.requires_grad:
        return [], False, got
    weights = torch.randn(logits[:, -n:].shape, generator=_seeded(5))
    (logits[:, -n:] * weights).sum().backward()
    reached = [i for i, e in enumerate(embedded) if e.grad is not None and e.grad.abs().sum() > 0]
    initial = model.memory.grad is not None and model.memory.grad.abs().sum() > 0
    model.zero_grad(set_to_none=True)
    return reached, bool(initial), got


def check_run_truncated(fn) -> Callable:
    """Exercise 02.2: `run_truncated(model, tokens (b, s), bptt_depth)`: `run_segments` with truncated BPTT."""

    def cases(fn):
        model = _sharp_rmt(seed=22)
        gen = _seeded(22)
        settings = [(2, 24, 2), (2, 30, 1), (1, 18, 3), (2, 16, 5), (3, 30, 3)]  # b, s, bptt_depth
        for b, s, depth in settings:
            tokens = torch.randint(0, model.cfg.vocab_size, (b, s), generator=gen)
            g = -(-s // model.cfg.segment_len)
            label = f"run_truncated(g = {g} segments, bptt_depth={depth})"
            reached, initial, got = _segments_with_gradient(fn, model, tokens, depth)
            _check_loop_output(got, model, tokens, label)
            want = list(range(max(g - depth, 0), g))
            if not reached:
                raise CheckFailed(f"{label}: no gradient reaches even the last segment's tokens; detach the memory "
                                  "between segments, not the logits or hidden states")
            if reached != want:
                if reached == list(range(g)):
                    problem = "every segment received gradient: detach the memory entering segments " \
                              f"1 .. g - bptt_depth = {g - depth}"
                elif len(reached) == len(want) + 1:
                    problem = "one segment too many: detach when i <= g - bptt_depth (not i < g - bptt_depth)"
                elif len(reached) == len(want) - 1:
                    problem = "one segment too few: detach only when i <= g - bptt_depth"
                else:
                    problem = f"detach the memory entering segments 1 .. g - bptt_depth = {g - depth}"
                raise CheckFailed(f"{label}: the last segment's loss reached segments {reached}, expected the last "
                                  f"{min(depth, g)}, {want}: {problem}")
            if depth >= g and not initial:
                raise CheckFailed(f"{label}: the learned initial memory got no gradient although bptt_depth >= g; "
                                  "never detach the memory entering segment 0 (detach only for i > 0)")
        return len(settings)

    return run_checker("run_truncated", fn, reference_run_truncated, cases)


# ----------------------------------------------------------------------------------------------------------
# 03_copy_and_reverse


def _source_index(tokens: torch.Tensor, reverse: bool) -> torch.Tensor:
    """`(b, s)`: at each position from GO on, the index of the source digit answered there; -1 before GO."""
    s = tokens.shape[1]
    go = (tokens == tasks.GO).int().argmax(dim=1, keepdim=True)  # (b, 1)
    i = torch.arange(s, device=tokens.device) - go  # (b, s): answer number, negative before GO
    return torch.where(i < 0, -1, (s - go - 1 - i) if reverse else i)


def reference_copy_targets(tokens: torch.Tensor, reverse: bool = False) -> torch.Tensor:
    """The targets of a copy (or reverse) sequence `tokens (b, s)`: `(b, s)`, -100 before GO.

    The source is the first L tokens and GO sits at s - L; the answer at GO + i is source digit i (copy)
    or L - 1 - i (reverse): RMT paper, Sec. 4.1.
    """
    index = _source_index(tokens, reverse)  # (b, s)
    return tokens.gather(1, index.clamp(min=0)).masked_fill(index < 0, IGNORE_INDEX)


def check_copy_targets(fn) -> Callable:
    """Exercise 03.1: `copy_targets(tokens (b, s), reverse=False) -> targets (b, s)`."""

    def cases(fn):
        gen = _seeded(31)
        settings = [("copy", 8, 3, {}), ("copy", 4, 3, {"source_len": 5}), ("copy", 5, 1, {}),
                    ("reverse", 8, 4, {}), ("reverse", 4, 3, {"source_len": 3})]
        for name, n, g, sizes in settings:
            task = tasks.make_task(name, n, **sizes)
            tokens, expected = task.sample(3, g, gen)
            reverse = name == "reverse"
            got = call(fn, tokens.clone(), reverse)
            label = f"copy_targets({name}: g={g} segments of n={n}, reverse={reverse})"
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
            known_mistakes(got, expected, mistakes)
            wrong = got != expected
            if wrong.any() and not wrong[:, :-1].any():
                raise CheckFailed(f"{label}: only the last position is wrong. Its answer is never fed to the model "
                                  "(the sequence ends there), so take it from the source at the start, not from the "
                                  "tokens after GO")
            expect_close(got, expected, "b s", label)
        return len(settings)

    return run_checker("copy_targets", fn, reference_copy_targets, cases)


def reference_answer_accuracy(logits: torch.Tensor, targets: torch.Tensor) -> tuple[float, float]:
    """Per-token accuracy on the answer positions (targets != -100) and exact match (the fraction of
    sequences whose every answer token is right), from `logits (b, s, v)` and `targets (b, s)`."""
    asked = targets != IGNORE_INDEX  # (b, s)
    right = (logits.argmax(dim=-1) == targets) & asked
    accuracy = right.sum() / asked.sum().clamp(min=1)
    exact = (right.sum(dim=1) == asked.sum(dim=1)).float().mean()
    return accuracy.item(), exact.item()


def _as_number(x, what: str) -> float:
    if isinstance(x, torch.Tensor) and x.numel() == 1:
        return float(x.item())
    if isinstance(x, int | float) and not isinstance(x, bool):
        return float(x)
    raise CheckFailed(f"{what} is a {type(x).__name__}{tuple(x.shape) if isinstance(x, torch.Tensor) else ''}, "
                      "expected one number (a float, or a tensor with one element: use .item())")


def check_answer_accuracy(fn) -> Callable:
    """Exercise 03.2: `answer_accuracy(logits (b, s, v), targets (b, s)) -> (accuracy, exact_match)`."""

    def cases(fn):
        gen = _seeded(32)
        shapes = [(6, 10, 5), (8, 16, 12), (5, 7, 3)]
        for b, s, v in shapes:
            targets = torch.randint(0, v, (b, s), generator=gen)
            targets[:, : s // 2] = IGNORE_INDEX  # the first half asks nothing
            logits = torch.randn(b, s, v, generator=gen)
            # make some sequences right on every answer, the others right on about half of them
            good = torch.rand(b, s, generator=gen) < torch.linspace(1.0, 0.3, b).unsqueeze(1)
            good[: b // 3] = True
            boost = torch.nn.functional.one_hot(targets.clamp(min=0), v) * 10.0 * good.unsqueeze(-1)
            logits = logits + boost
            expected = reference_answer_accuracy(logits, targets)
            got = call(fn, logits.clone(), targets.clone())
            label = f"answer_accuracy(logits (b, s, v) = {(b, s, v)})"
            if not (isinstance(got, tuple | list) and len(got) == 2):
                raise CheckFailed(f"{label} returned {type(got).__name__}, expected a pair (accuracy, exact_match)")
            accuracy, exact = (_as_number(x, f"{label}: {name}") for x, name in zip(got, ("accuracy", "exact match")))
            right = logits.argmax(-1) == targets
            asked = targets != IGNORE_INDEX
            if abs(accuracy - expected[1]) < 1e-6 and abs(exact - expected[0]) < 1e-6 and expected[0] != expected[1]:
                raise CheckFailed(f"{label} returned (exact match, accuracy); return (accuracy, exact match)")
            if abs(accuracy - expected[0]) > 1e-6:
                hint = ""
                if abs(accuracy - right.float().mean().item()) < 1e-6:
                    hint = ": that counts every position; count only the answers, where targets != -100"
                raise CheckFailed(f"{label}: accuracy {accuracy:.4f}, expected {expected[0]:.4f}{hint}")
            if abs(exact - expected[1]) > 1e-6:
                hint = ""
                if abs(exact - right.all(dim=1).float().mean().item()) < 1e-6:
                    hint = ": that asks every position to be right; ask only the answers (targets != -100)"
                elif abs(exact - ((right & asked).sum(1) / asked.sum(1)).mean().item()) < 1e-6:
                    hint = (": that is the mean per-sequence accuracy; exact match counts a sequence as 1 only if "
                            "all its answers are right, else 0")
                raise CheckFailed(f"{label}: exact match {exact:.4f}, expected {expected[1]:.4f}{hint}")
        return len(shapes)

    return run_checker("answer_accuracy", fn, reference_answer_accuracy, cases)


# ----------------------------------------------------------------------------------------------------------
# 04_associative_recall


def reference_recall_batch(keys: torch.Tensor, values: torch.Tensor, order: torch.Tensor, s: int):
    """An associative-recall batch (RMT paper, Sec. 4.1): tokens `(b, s)` and targets `(b, s)`.

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
        gen = _seeded(41)
        settings = [(4, 4, {}), (8, 3, {"num_pairs": 3}), (4, 5, {"num_pairs": 3, "num_queries": 2}),
                    (6, 2, {"num_pairs": 2, "num_keys": 4, "num_values": 3})]  # n, g, sizes
        for n, g, sizes in settings:
            task = tasks.make_task("assoc", n, **sizes)
            keys, values, order, tokens, targets = _recall_case(task, g, gen)
            s = tokens.shape[1]
            label = (f"recall_batch(p={keys.shape[1]} pairs, q={order.shape[1]} queries, s={s})")
            got = call(fn, keys.clone(), values.clone(), order.clone(), s)
            if not (isinstance(got, tuple | list) and len(got) == 2):
                raise CheckFailed(f"{label} returned {type(got).__name__}, expected a pair (tokens (b, s), "
                                  "targets (b, s))")
            got_tokens, got_targets = got
            expect_tensor(got_tokens, "b s", tokens.shape, f"{label}: tokens")
            expect_tensor(got_targets, "b s", targets.shape, f"{label}: targets")
            q = order.shape[1]
            early = [torch.nn.functional.pad(x, (0, 1), value=fill) for x, fill in
                     zip(reference_recall_batch(keys, values, order, s - 1), (tasks.PAD, IGNORE_INDEX))]
            stored_order = reference_recall_batch(keys, values, torch.arange(q).expand_as(order), s)
            on_values = torch.nn.functional.pad(targets[:, :-1], (1, 0), value=IGNORE_INDEX)
            known_mistakes(torch.cat([got_tokens, got_targets], dim=1), torch.cat([tokens, targets], dim=1), [
                (torch.cat([tokens, targets.clamp(min=0)], dim=1),
                 "targets must be -100 where nothing is asked (the ignore_index of cross_entropy), not 0"),
                (torch.cat([tokens, on_values], dim=1),
                 "the targets sit on the values; put each value as the target at its key's position: targets[t] "
                 "is what comes after tokens[t]"),
                (torch.cat(stored_order, dim=1),
                 "the keys are asked in stored order; ask them in the order given by `order`: keys.gather(1, order)"),
                (torch.cat(early, dim=1),
                 f"the query phase starts one position early: it takes the last 2q - 1 = {2 * q - 1} positions, "
                 "because the last value is only a target, never read"),
            ])
            expect_close(got_tokens, tokens, "b s", f"{label}: tokens")
            expect_close(got_targets, targets, "b s", f"{label}: targets")
        return len(settings)

    return run_checker("recall_batch", fn, reference_recall_batch, cases)


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
            got = _as_number(call(fn, p, k, v), f"pairs_information({p}, {k}, {v})")
            label = f"pairs_information(num_pairs={p}, num_keys={k}, num_values={v})"
            if math.isclose(got, expected, rel_tol=1e-5):
                continue
            known = [
                (math.log2(math.perm(k, p)) + p * math.log2(v),
                 f"that counts the order the pairs were written in, log2(p!) = {math.log2(math.factorial(p)):.2f} "
                 "bits too many; recall does not care about the order (math.comb, not math.perm)"),
                (p * math.log2(k) + p * math.log2(v),
                 "the keys are distinct: choose p of the K keys without replacement, log2 C(K, p)"),
                (p * math.log2(v), "which keys were stored is information too: add log2 C(K, p)"),
                (expected * math.log(2), "that is in nats (natural log); use log2 for bits"),
            ]
            hint = next((message for value, message in known if math.isclose(got, value, rel_tol=1e-5)), "")
            raise CheckFailed(f"{label} is {got:.4f}, expected {expected:.4f}" + (f": {hint}" if hint else ""))
        return len(settings)

    return run_checker("pairs_information", fn, reference_pairs_information, cases)


# ----------------------------------------------------------------------------------------------------------
# 06_rmt_vs_transformer_xl (helper-7)

ATTENTION_MODELS = ("segment", "full", "xl", "memxl", "rmt")


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
    """
    if model not in ATTENTION_MODELS:
        raise ValueError(f"model must be one of {ATTENTION_MODELS}, got {model!r}")
    if model == "full":
        return s * s
    total = 0
    for before in range(0, s, n):  # `before` tokens precede this segment
        t, cached = min(n, s - before), min(c, before)
        queries, keys = {
            "segment": (t, t), "xl": (t, cached + t), "memxl": (m + t, cached + m + t), "rmt": (2 * m + t, 2 * m + t),
        }[model]
        total += queries * keys
    return total


def _attention_pairs_mistakes(model: str, s: int, n: int, m: int, c: int) -> list[tuple[int, str]]:
    """The usual wrong counts for one case, each with what went wrong."""
    g, rest = segments.num_segments(s, n), s % n
    ref = reference_attention_pairs
    mistakes = []
    if rest and model != "full":
        whole = ref(model, s - rest, n, m, c)
        mistakes.append((whole, f"the last, shorter segment is missing: s = {s} tokens make ceil(s / n) = {g} "
                                f"segments, the last one with s % n = {rest} tokens"))
        padded = ref(model, g * n, n, m, c)
        mistakes.append((padded, f"the last segment holds only s % n = {rest} tokens, not n = {n} (unless you pad it; "
                                 "count what the model computes on the unpadded sequence)"))
    if model == "xl":
        mistakes.append((sum(min(n, s - i) * (c + min(n, s - i)) for i in range(0, s, n)),
                         "the first segment has no cache: nothing came before it (c_0 = 0)"))
        if c > n:
            mistakes.append((sum(min(n, s - i) * ((c if i else 0) + min(n, s - i)) for i in range(0, s, n)),
                             "the cache cannot hold more than the tokens seen so far: c_i = min(c, tokens before "
                             "segment i)"))
        mistakes.append((ref("segment", s, n, m, c),
                         "that is a segment-only count: the queries also see the c_i cached positions"))
    if model == "memxl":
        mistakes.append((ref("xl", s, n, m, c), "MemTr-XL adds m memory tokens to every segment, as queries and keys"))
        cached_memory = sum((m + min(n, s - i)) * (min(c, i + m * (i // n)) + m + min(n, s - i))
                            for i in range(0, s, n))
        mistakes.append((cached_memory, "the cache holds the tokens' states only, not the memory tokens'"))
    if model == "rmt":
        mistakes.append((sum((m + min(n, s - i)) ** 2 for i in range(0, s, n)),
                         "the decoder RMT's input has read AND write memory: 2m + n_i positions per segment"))
        mistakes.append((sum(min(n, s - i) * (2 * m + min(n, s - i)) for i in range(0, s, n)),
                         "the memory slots are queries too (the write slots must attend to write the memory): "
                         "(2m + n_i) x (2m + n_i)"))
    if model == "full":
        mistakes.append((ref("segment", s, n, m, c), "full attention has no segments: one s x s matrix"))
        mistakes.append((s * (s + 1) // 2, "count the whole s x s score matrix (what the kernel computes), not only "
                                           "the causal half"))
    return mistakes


def check_attention_pairs(fn) -> Callable:
    """Exercise 06.1: `attention_pairs(model, s, n, m, c) -> int`, query-key scores per layer and head."""

    def cases(fn):
        sizes = [(64, 8, 4, 8), (29, 8, 4, 8), (30, 4, 2, 10), (5, 8, 3, 8), (100, 16, 8, 16), (48, 16, 4, 40)]
        count = 0
        for model in ATTENTION_MODELS:
            for s, n, m, c in sizes:
                expected = reference_attention_pairs(model, s, n, m, c)
                label = f"attention_pairs({model!r}, s={s}, n={n}, m={m}, c={c})"
                got = _as_number(call(fn, model, s, n, m, c), label)
                if got != expected:
                    for wrong, message in _attention_pairs_mistakes(model, s, n, m, c):
                        if got == wrong:
                            raise CheckFailed(f"{label} is {got}, expected {expected}: {message}")
                    raise CheckFailed(f"{label} is {got}, expected {expected}")
                count += 1
        return count

    return run_checker("attention_pairs", fn, reference_attention_pairs, cases)


def reference_xl_cache(cache: torch.Tensor | None, layer_inputs: Sequence[torch.Tensor], c: int) -> torch.Tensor:
    """Transformer-XL's cache update (Dai et al., 2019, Sec. 3.2), as `TransformerXL.next_cache` does it.

    cache         `(l, b, c_old, d)`, or None before the first segment
    layer_inputs  l tensors `(b, t, d)`: the input of each layer in this segment
    returns       `(l, b, min(c, c_old + t), d)`: per layer the last c positions of [cache | segment], detached
    """
    from types import SimpleNamespace

    from .baselines import TransformerXL

    return TransformerXL.next_cache(SimpleNamespace(cfg=SimpleNamespace(cache_len=c)), cache, list(layer_inputs))


def check_xl_cache(fn) -> Callable:
    """Exercise 06.2: `xl_cache(cache (l, b, c_old, d) or None, layer_inputs [l x (b, t, d)], c) -> (l, b, c, d)`."""

    def cases(fn):
        gen = _seeded(6)
        l, b, d = 2, 3, 8
        shapes = [(None, 6, 4), (4, 2, 4), (3, 5, 6), (None, 3, 5), (5, 5, 5)]  # (c_old, t, c)
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
            mistakes.append((both[:, :, :c], "these are the OLDEST c positions; keep the newest ones: [:, :, -c:]"))
            known_mistakes(got.detach(), expected, mistakes, atol=1e-5)
            expect_close(got.detach(), expected, "l b c d", label, atol=1e-5)
        return len(shapes)

    return run_checker("xl_cache", fn, reference_xl_cache, cases)


# ----------------------------------------------------------------------------------------------------------
# 07_curriculum_and_length (helper-7)


def reference_doubling_stages(start: int, target: int) -> list[int]:
    """The numbers of segments of a doubling curriculum's stages before the target: start, 2 start, 4 start, ...
    while below target (the RMT follow-ups grow the number of segments 1 -> 2 -> 4 -> ...; Bulatov et al., 2023).

    `train(model, task, config, stages=[(task, g) for g in reference_doubling_stages(start, target)])` then
    trains on each stage until it is learnt, and on `target` segments last.
    """
    stages, g = [], start
    while g < target:
        stages.append(g)
        g *= 2
    return stages


def check_doubling_stages(fn) -> Callable:
    """Exercise 07.1: `doubling_stages(start, target) -> [start, 2 start, 4 start, ...]`, all below target."""

    def cases(fn):
        settings = [(2, 12), (1, 8), (2, 5), (3, 3), (1, 1), (2, 16), (3, 24), (1, 2), (5, 11)]
        for start, target in settings:
            expected = reference_doubling_stages(start, target)
            got = call(fn, start, target)
            label = f"doubling_stages(start={start}, target={target})"
            if isinstance(got, tuple | range):
                got = list(got)
            if not isinstance(got, list):
                raise CheckFailed(f"{label} returned a {type(got).__name__}, expected a list of numbers of segments")
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
            ]
            for wrong, message in mistakes:
                if got == wrong:
                    raise CheckFailed(f"{label} is {got}, expected {expected}: {message}")
            raise CheckFailed(f"{label} is {got}, expected {expected}")
        return len(settings)

    return run_checker("doubling_stages", fn, reference_doubling_stages, cases)


def reference_accuracy_by_segments(model, task, segment_counts: Sequence[int], batch_size: int = 32,
                                   seed: int = 0) -> dict[int, float]:
    """Length generalisation: the model's answer accuracy on held-out sequences of each number of segments.

    For every g in segment_counts, one batch of `batch_size` sequences of g segments from a generator seeded
    with `seed`; accuracy = right answers / answers, over positions whose target is not -100.
    Returns `{g: accuracy}`.
    """
    was_training = model.training
    model.eval()
    result = {}
    with torch.no_grad():
        for g in segment_counts:
            tokens, targets = task.sample(batch_size, g, torch.Generator().manual_seed(seed))
            predictions = model(tokens).logits.argmax(-1)  # (b, s)
            asked = targets != -100
            result[g] = ((predictions == targets) & asked).sum().item() / asked.sum().item()
    model.train(was_training)
    return result


class _FadingReverser(torch.nn.Module):
    """A stand-in model for the checker: it solves `reverse` perfectly within `horizon` tokens and forgets beyond.

    The answer to source digit j at position t is right when t - j <= horizon, else it says PAD. For a reverse
    task with a fixed source, the accuracy depends on g alone (not on the digits drawn), so any way of sampling
    gives the same numbers.
    """

    def __init__(self, source_len: int, horizon: int, vocab_size: int):
        super().__init__()
        self.source_len, self.horizon, self.vocab_size = source_len, horizon, vocab_size

    def forward(self, tokens, memory=None, targets=None, **kwargs):
        from .recurrence import ModelOutput

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
    """The checker's reverse task (n = 4, source of 6) and a model that forgets after 13 tokens."""
    task = tasks.make_task("reverse", 4, source_len=6)
    return task, _FadingReverser(source_len=6, horizon=13, vocab_size=task.vocab_size)


def _fading_accuracy(g: int, n: int = 4, L: int = 6, horizon: int = 13, all_positions: bool = False) -> float:
    """The exact accuracy of `_FadingReverser` on g segments (per answer, or per position if all_positions)."""
    go = g * n - L
    right = sum(1 for i in range(L) if go + i - (L - 1 - i) <= horizon)
    return right / (g * n) if all_positions else right / L


def check_accuracy_by_segments(fn) -> Callable:
    """Exercise 07.2: `accuracy_by_segments(model, task, segment_counts, batch_size, seed) -> {g: accuracy}`."""

    def cases(fn):
        task, model = _fading_task_and_model()
        counts = [4, 5, 6, 8, 10]
        got = call(fn, model, task, list(counts), 16, 0)
        label = f"accuracy_by_segments(model, task, segment_counts={counts}, batch_size=16, seed=0)"
        if not isinstance(got, dict):
            raise CheckFailed(f"{label} returned a {type(got).__name__}, expected a dict {{g: accuracy}}")
        if set(got) != set(counts):
            raise CheckFailed(f"{label} has keys {sorted(got, key=repr)}, expected the numbers of segments {counts}")
        values = {}
        for g, value in got.items():
            if isinstance(value, torch.Tensor) and value.numel() == 1:
                raise CheckFailed(f"{label}[{g}] is a tensor; return a plain float (use .item())")
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise CheckFailed(f"{label}[{g}] is a {type(value).__name__}, expected a float in [0, 1]")
            values[g] = float(value)
        expected = {g: _fading_accuracy(g) for g in counts}
        if all(abs(values[g] - expected[g]) < 1e-6 for g in counts):
            return len(counts)
        if all(abs(values[g] - _fading_accuracy(g, all_positions=True)) < 1e-6 for g in counts):
            raise CheckFailed(f"{label} divides by every position: count only the answers, where targets != -100")
        if len(set(values.values())) == 1:
            raise CheckFailed(f"{label} gives {values[counts[0]]:.3f} for every g: sample each evaluation with "
                              "num_segments=g")
        if all(abs(values[g] - _fading_accuracy(g - 1)) < 1e-6 for g in counts):
            raise CheckFailed(f"{label} is the accuracy on g - 1 segments: task.sample(batch_size, g, generator) "
                              "takes the number of segments itself")
        wrong = next(g for g in counts if abs(values[g] - expected[g]) >= 1e-6)
        raise CheckFailed(f"{label}[{wrong}] is {values[wrong]:.4f}, expected {expected[wrong]:.4f} "
                          "(right answers / answers, at the positions where targets != -100)")

    return run_checker("accuracy_by_segments", fn, reference_accuracy_by_segments, cases)


# ----------------------------------------------------------------------------------------------------------
# 08_wikitext_on_a_gpu


def reference_batchify(ids: torch.Tensor, b: int) -> tuple[torch.Tensor, torch.Tensor]:
    """A stream `ids (N,)` -> b contiguous rows `(b, L)`, L = (N - 1) // b, and their next tokens `(b, L)`:
    row r is ids[r L : (r + 1) L] and its targets ids[r L + 1 : (r + 1) L + 1] (Transformer-XL's batchify)."""
    from .text import stream_batches

    return next(stream_batches(ids, b, (ids.numel() - 1) // b))


def check_batchify(fn) -> Callable:
    """Exercise 08.1: `batchify(ids (N,), b) -> (inputs (b, L), targets (b, L))`, L = (N - 1) // b."""

    def cases(fn):
        gen = _seeded(81)
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
            inputs, targets = reference_batchify(ids, b)
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
            ])
            expect_close(got[1], targets, "b L", f"{label}: targets")
        return len(settings)

    return run_checker("batchify", fn, reference_batchify, cases)


def reference_loss_by_position(loss: torch.Tensor, n: int) -> torch.Tensor:
    """Per-token losses `(b, g * n)` -> the mean loss at each position 0..n-1 inside a segment, `(n,)`."""
    return rearrange(loss, "b (g n) -> (b g) n", n=n).mean(0)


def check_loss_by_position(fn) -> Callable:
    """Exercise 08.2: `loss_by_position(loss (b, g * n), n) -> (n,)`, averaged over rows and segments."""

    def cases(fn):
        gen = _seeded(82)
        settings = [(2, 3, 4), (3, 5, 5), (1, 1, 8), (4, 2, 3)]  # b, g, n
        for b, g, n in settings:
            loss = torch.rand(b, g * n, generator=gen) * 5
            label = f"loss_by_position(loss (b, g * n) = {(b, g * n)}, n = {n})"
            got = call(fn, loss.clone(), n)
            expect_tensor(got, "n", (n,), label, hints={
                (g,): "that is one mean per segment; average over rows and segments, keep the n positions",
                (b,): "that is one mean per row; average over rows and segments, keep the n positions",
                (g * n,): "that averages the rows only; fold the g segments of each row onto n positions too",
            })
            expected = reference_loss_by_position(loss, n)
            known_mistakes(got, expected, [
                (rearrange(loss, "b (n g) -> (b g) n", n=n).mean(0),
                 'the pattern "b (n g)" puts position fastest: a row is g segments one after the other, '
                 '"b (g n) -> (b g) n"'),
                (loss[:, :n].mean(0), "that is the first segment only; average over all g segments"),
            ], atol=1e-5)
            expect_close(got, expected, "n", label, atol=1e-5)
        return len(settings)

    return run_checker("loss_by_position", fn, reference_loss_by_position, cases)


def reference_stream_loss(model, batches) -> torch.Tensor:
    """Mean cross-entropy over every target of `batches` [(tokens (b, s), targets (b, s)), ...], one after the
    other, the state (`out.memory`) of each batch passed to the next (Transformer-XL style evaluation)."""
    state, total, count = None, 0.0, 0
    for tokens, targets in batches:
        out = model(tokens, memory=state, targets=targets)
        state = out.memory
        total, count = total + out.loss * targets.numel(), count + targets.numel()
    return total / count


def check_stream_loss(fn) -> Callable:
    """Exercise 08.3: `stream_loss(model, batches) -> the mean loss over all targets`, memory carried."""

    def cases(fn):
        model = _sharp_rmt(seed=83)
        gen = _seeded(83)
        settings = [(2, (12, 12, 6)), (3, (6, 18)), (1, (6,))]  # b, lengths s of the batches
        for b, lengths in settings:
            stream = torch.randint(0, model.cfg.vocab_size, (b, sum(lengths) + 1), generator=gen)
            cuts = torch.tensor((0, *lengths)).cumsum(0).tolist()
            batches = [(stream[:, lo:hi], stream[:, lo + 1 : hi + 1]) for lo, hi in zip(cuts, cuts[1:])]
            label = f"stream_loss(batches of b = {b} rows and s = {list(lengths)} tokens)"
            with torch.no_grad():
                got = call(fn, model, [(x.clone(), y.clone()) for x, y in batches])
                expected = float(reference_stream_loss(model, batches))
                reset = [model(x, targets=y).loss for x, y in batches]
                carried, state = [], None
                for x, y in batches:
                    out = model(x, memory=state, targets=y)
                    carried.append(out.loss)
                    state = out.memory
            if isinstance(got, torch.Tensor) and got.numel() == 1:
                got = got.item()
            if not isinstance(got, int | float):
                raise CheckFailed(f"{label} returned {type(got).__name__}, expected a number (or a 0-dim tensor)")
            if math.isclose(got, expected, rel_tol=1e-4):
                continue
            known = [
                (float(sum(l * x.numel() for l, (x, _) in zip(reset, batches))) / sum(x.numel() for x, _ in batches),
                 "every batch starts from a fresh memory: pass `memory=out.memory` of one batch to the next"),
                (float(sum(carried)) / len(carried),
                 "that averages the batches' mean losses, but the batches hold different numbers of targets: "
                 "weight each mean by its number of targets (or sum the losses and divide by the total count)"),
            ]
            hint = next((message for value, message in known if math.isclose(got, value, rel_tol=1e-4)), "")
            raise CheckFailed(f"{label} is {got:.5f}, expected {expected:.5f}" + (f": {hint}" if hint else ""))
        return len(settings)

    return run_checker("stream_loss", fn, reference_stream_loss, cases)
