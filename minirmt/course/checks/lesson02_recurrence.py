"""Checkers of lesson 02, recurrence and BPTT: the loop over segments, and its truncated version."""

from collections.abc import Callable

import torch

from minirmt.model.rmt import RecurrentMemoryTransformer

from .core import CheckFailed, call, expect_close, expect_tensor, known_mistakes, run_checker, seeded, sharp_rmt


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
    from_zeros = model(tokens, memory=torch.zeros_like(start))
    return [
        (_flat_loop(from_zeros.logits, from_zeros.memories),
         "the loop starts from zeros: start from model.initial_state(b), the learned initial memory"),
        (_flat_loop(torch.cat([model.backbone.head(h) for h, _, _ in stale], dim=1), [w for _, w, _ in stale]),
         "every segment reads the initial memory: pass the memory returned by model.step on to the next segment"),
        (_flat_loop(model(tokens).logits, read),
         "memories[i] is the memory segment i read; collect the one it wrote (returned by model.step)"),
    ]


def _flat_loop(logits: torch.Tensor, memories) -> torch.Tensor:
    """`logits (b, s, v)` and g memories `(b, m, d)` -> one row per sequence `(b, s * v + g * m * d)`."""
    return torch.cat([logits.flatten(1), *(mem.flatten(1) for mem in memories)], dim=1)


def _zeroed_mistakes(model, tokens, depth: int) -> list[tuple[torch.Tensor, str]]:
    """Truncation done by zeroing the memory instead of detaching it, at each cut or at g - bptt_depth only."""
    g = -(-tokens.shape[1] // model.cfg.segment_len)
    message = ("the memory was replaced by zeros at the cut: truncation keeps its value and stops only its gradient, "
               "memory = memory.detach()")
    mistakes = []
    for cut in (lambda i: 0 < i <= g - depth, lambda i: i == g - depth):
        logits, memories, memory = [], [], model.initial_state(tokens.shape[0])
        for i, x in enumerate(tokens.split(model.cfg.segment_len, dim=1)):
            hidden, memory, _ = model.step(x, torch.zeros_like(memory) if cut(i) else memory)
            logits.append(model.backbone.head(hidden))
            memories.append(memory)
        mistakes.append((_flat_loop(torch.cat(logits, dim=1), memories), message))
    return mistakes


def _check_loop_output(got, model, tokens, label: str, depth: int | None = None) -> None:
    """Type, shapes, then values of a recurrence's `(logits (b, s, v), [g memories (b, m, d)])`; depth: that of
    truncated BPTT, whose known mistakes are named too."""
    cfg = model.cfg
    b, s = tokens.shape
    n, g = cfg.segment_len, -(-s // cfg.segment_len)
    with torch.no_grad():
        out = model(tokens)
    if not (isinstance(got, tuple | list) and len(got) == 2):
        raise CheckFailed(f"{label} returned {type(got).__name__}, expected a pair (logits (b, s, v), "
                          "list of g memories (b, m, d))")
    logits, memories = got
    hints = {(b, g, cfg.vocab_size): "that is one row per segment; keep every position: torch.cat along dim 1",
             (b, s, cfg.d_model): "those are the hidden states; model.backbone.head turns them into logits",
             (b, g, n, cfg.vocab_size): "torch.stack made an axis of segments; join them along the sequence: "
                                        "torch.cat(logits, dim=1)"}
    if s == g * n:
        hints[(g * b, n, cfg.vocab_size)] = "the segments were joined along the batch; join them along the " \
                                            "sequence: torch.cat(logits, dim=1)"
    if s % n:
        hints[(b, (s // n) * n, cfg.vocab_size)] = (f"the last, shorter segment ({s % n} tokens) is missing; "
                                                   "tokens.split(n, dim=1) keeps it")
    expect_tensor(logits, "b s v", out.logits.shape, f"{label}: logits", hints=hints)
    if not isinstance(memories, list | tuple) or not all(isinstance(x, torch.Tensor) for x in memories):
        raise CheckFailed(f"{label}: the memories are a {type(memories).__name__}, expected a list of g = {g} "
                          "tensors (b, m, d), one per segment (append each to a list; no torch.stack)")
    if len(memories) != g:
        hint = " (the initial memory is not one of them: collect what each segment writes)" \
            if len(memories) == g + 1 else ""
        raise CheckFailed(f"{label}: {len(memories)} memories for g = {g} segments, expected one per segment{hint}")
    for i, mem in enumerate(memories):
        expect_tensor(mem, "b m d", out.memory.shape, f"{label}: memories[{i}]")
    with torch.no_grad():
        both = _flat_loop(logits.detach(), [mem.detach() for mem in memories])
        mistakes = _loop_mistakes(model, tokens) + ([] if depth is None else _zeroed_mistakes(model, tokens, depth))
        known_mistakes(both, _flat_loop(out.logits, out.memories), mistakes, atol=1e-4)
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
        model = sharp_rmt(seed=21)
        gen = seeded(21)
        shapes = [(2, 18), (3, 14), (1, 6)]  # whole segments, a shorter last segment, a single segment
        for b, s in shapes:
            tokens = torch.randint(0, model.cfg.vocab_size, (b, s), generator=gen)
            with torch.no_grad():
                got = call(fn, model, tokens.clone())
            _check_loop_output(got, model, tokens, f"run_segments(tokens of shape (b, s) = {(b, s)})")
        tokens = torch.randint(0, model.cfg.vocab_size, (2, 18), generator=gen)  # 3 segments, with gradients
        label = "run_segments(g = 3 segments)"
        got, embedded = _run_watched(lambda model, tokens, _: fn(model, tokens), model, tokens, None)
        _check_loop_output(got, model, tokens, label)
        reached, initial = _gradients(model, got, embedded, label)(2)
        if reached != [0, 1, 2] or not initial:
            raise CheckFailed(f"{label}: the last segment's loss reached segments {reached} of [0, 1, 2] and "
                              f"{'' if initial else 'not '}the learned initial memory: is the memory detached? "
                              "Backpropagation through time needs every memory to stay in the graph")
        return len(shapes) + 1

    return run_checker("run_segments", fn, reference_run_segments, cases)


def _run_watched(fn, model, tokens, bptt_depth) -> tuple[object, list[torch.Tensor]]:
    """Call `fn` with gradients on; return its output and the token embeddings of each segment it ran."""
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
    g = -(-tokens.shape[1] // model.cfg.segment_len)
    if len(embedded) != g:
        raise CheckFailed(f"model.backbone.embed ran {len(embedded)} times for g = {g} segments; call model.step "
                          "once per segment")
    return got, embedded


def _gradients(model, got, embedded: list[torch.Tensor], label: str) -> Callable[[int], tuple[list[int], bool]]:
    """Backpropagate from `got`'s logits: every segment's own loss must reach its tokens. Returns `reach`:
    segment i -> the segments whose tokens the loss of segment i alone reached, and whether the initial memory was."""
    logits = got[0]
    if not logits.requires_grad:
        raise CheckFailed(f"{label}: the logits carry no gradient (did it run under torch.no_grad(), or detach "
                          "them?); training backpropagates through this loop: detach only the memory, not the logits")
    weights = torch.randn(logits.shape, generator=seeded(5))
    (logits * weights).sum().backward(retain_graph=True)
    untrained = [i for i, e in enumerate(embedded) if e.grad is None or e.grad.abs().sum() == 0]
    if untrained:
        raise CheckFailed(f"{label}: the loss of segments {untrained} does not reach their own tokens: they ran "
                          "under torch.no_grad() (or their logits were detached). Truncation cuts only the memory "
                          "handed from one segment to the next (memory.detach()); every segment's own loss must "
                          "still train the model")
    return lambda i: _reached(model, logits * weights, embedded, i)


def _reached(model, loss: torch.Tensor, embedded: list[torch.Tensor], i: int) -> tuple[list[int], bool]:
    """Backpropagate segment i's part of `loss (b, s, v)` alone: the segments whose tokens it reached, and whether
    the initial memory was."""
    n = model.cfg.segment_len
    for e in embedded:
        e.grad = None
    model.zero_grad(set_to_none=True)
    loss[:, i * n : (i + 1) * n].sum().backward(retain_graph=True)
    reached = [j for j, e in enumerate(embedded) if e.grad is not None and e.grad.abs().sum() > 0]
    initial = model.memory.grad is not None and model.memory.grad.abs().sum() > 0
    model.zero_grad(set_to_none=True)
    return reached, bool(initial)


def check_run_truncated(fn) -> Callable:
    """Exercise 02.2: `run_truncated(model, tokens (b, s), bptt_depth)`: `run_segments` with truncated BPTT."""

    def cases(fn):
        model = sharp_rmt(seed=22)
        gen = seeded(22)
        settings = [(2, 24, 2), (2, 30, 1), (1, 18, 3), (2, 16, 5), (3, 30, 3)]  # b, s, bptt_depth
        for b, s, depth in settings:
            tokens = torch.randint(0, model.cfg.vocab_size, (b, s), generator=gen)
            g = -(-s // model.cfg.segment_len)
            label = f"run_truncated(g = {g} segments, bptt_depth={depth})"
            got, embedded = _run_watched(fn, model, tokens, depth)
            _check_loop_output(got, model, tokens, label, depth)
            reach = _gradients(model, got, embedded, label)
            reached, initial = reach(g - 1)
            want = list(range(max(g - depth, 0), g))
            if not reached:
                raise CheckFailed(f"{label}: no gradient reaches even the last segment's tokens; detach the memory "
                                  "between segments, not the logits or hidden states")
            if reached != want:
                if reached == list(range(g)):
                    problem = "every segment received gradient: detach the memory entering segments " \
                              f"1 .. g - bptt_depth = {g - depth}"
                elif set(want) < set(reached):
                    problem = f"segments {sorted(set(reached) - set(want))} keep their gradient though they lie more " \
                              f"than bptt_depth = {depth} segments back: detach the memory entering every segment " \
                              f"i with 1 <= i <= g - bptt_depth = {g - depth}"
                elif set(reached) < set(want):
                    problem = f"segments {sorted(set(want) - set(reached))} lose their gradient though they lie " \
                              f"within bptt_depth = {depth}: detach only the memory entering segments 1 .. " \
                              f"g - bptt_depth = {g - depth} (the one segment i is given, before its model.step)"
                else:
                    problem = f"detach the memory entering segments 1 .. g - bptt_depth = {g - depth}"
                raise CheckFailed(f"{label}: the last segment's loss reached segments {reached}, expected the last "
                                  f"{min(depth, g)}, {want}: {problem}")
            if depth >= g and not initial:
                raise CheckFailed(f"{label}: the learned initial memory got no gradient although bptt_depth >= g; "
                                  "never detach the memory entering segment 0 (detach only for i > 0)")
            _check_earlier_cut(reach, g, depth, label)
        return len(settings)

    return run_checker("run_truncated", fn, reference_run_truncated, cases)


def _check_earlier_cut(reach: Callable[[int], tuple[list[int], bool]], g: int, depth: int, label: str) -> None:
    """The loss of segment i = g - bptt_depth - 1 must reach segment i alone: the memory entering it is cut too."""
    i = g - depth - 1
    if i < 1:
        return
    reached = reach(i)[0]
    if reached != [i]:
        raise CheckFailed(f"{label}: the loss of segment {i} reached segments {reached}, expected [{i}]: the memory "
                          f"entering segment {i} was not detached. Detach it at every hand-over 0 < i <= g - "
                          f"bptt_depth = {g - depth}, not only at i = g - bptt_depth, nor only at every "
                          "bptt_depth-th segment")
