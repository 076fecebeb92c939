"""The machinery every checker shares: call the learner's function safely, compare shapes (in the
dimension names) and values, recognise known mistakes, print one line, hand back a working function."""

import inspect
import math
import os
import re
import sys
import traceback
from collections.abc import Callable, Sequence
from contextlib import contextmanager
from pathlib import Path

import torch

from minirmt.model.config import ModelConfig
from minirmt.model.rmt import RecurrentMemoryTransformer

# What each dimension letter of a checker's message means: one meaning per letter (a test checks the messages).
DIMENSIONS = {
    "b": "batch", "s": "sequence", "g": "segments", "n": "segment length", "m": "memory tokens",
    "d": "model width", "h": "heads", "k": "head width", "v": "vocabulary", "l": "layers",
    "i": "queries", "j": "keys", "c": "cached positions", "N": "examples", "f": "features", "y": "classes",
    "L": "tokens per row",
}


class CheckFailed(Exception):
    """The learner's function gave a wrong answer; the message says what is wrong and how to fix it."""


class NotAttempted(Exception):
    """The learner's function still raises NotImplementedError."""


STRICT = os.environ.get("MINIRMT_STRICT_CHECKS", "") not in ("", "0")
# Where a traceback line is the library's, not the learner's.
LIBRARIES = tuple(str(Path(module.__file__).parent) + os.sep for module in (torch, sys.modules["minirmt"]))


@contextmanager
def strict(on: bool = True):
    """Inside the block a checker that does not pass raises AssertionError instead of handing back the library's
    version: what an autograder (nbgrader) needs to give no points. Also on with MINIRMT_STRICT_CHECKS=1."""
    global STRICT
    before, STRICT = STRICT, on
    try:
        yield
    finally:
        STRICT = before


def run_checker(name: str, fn, reference: Callable, cases: Callable) -> Callable:
    """Run `cases(fn)`, print one line, and return `fn` if it passed, else `reference` (strict: raise).

    cases: calls fn on seeded examples; raises CheckFailed (or NotAttempted, through `call`) or returns the
           number of cases passed.
    """
    try:
        if not callable(fn):
            raise CheckFailed(f"expected a function, got {type(fn).__name__}")
        count = cases(fn)
    except NotAttempted:
        return _fall_back(reference, f"… {name}: not attempted yet (it raises NotImplementedError); using the "
                                     f"library's version for now")
    except CheckFailed as failure:
        return _fall_back(reference, f"✗ {name}: {failure}\n  (using the library's version so you can go on)")
    except Exception as bug:  # a bug in the checker itself must not stop the notebook
        return _fall_back(reference, f"? {name}: the checker itself failed ({type(bug).__name__}: {bug}); using "
                                     f"the library's version")
    print(f"✓ {name}: passed {count} cases")
    return fn


def _fall_back(reference: Callable, message: str) -> Callable:
    print(message)
    if STRICT:
        raise AssertionError(message.split("\n")[0])
    return reference


def call(fn: Callable, *args, what: str = "it", **kwargs):
    """Call the learner's function: NotImplementedError -> NotAttempted; any other error, or an argument changed
    in place (the caller's tensor, list or dict would change with it), -> CheckFailed.

    what: the call, as the message names it (which input made it fail)
    """
    before = [_copy(x) for x in args]
    trainable = [[q.requires_grad for q in x.parameters()] for x in args if isinstance(x, torch.nn.Module)]
    grad_was = torch.is_grad_enabled()
    try:
        result = fn(*args, **kwargs)
    except NotImplementedError as error:
        raise NotAttempted() from error
    except Exception as error:
        frame = _learner_frame(error)
        raise CheckFailed(
            f"{what} raised {type(error).__name__}: {error} (line {frame.lineno}: `{(frame.line or '').strip()}`)"
        ) from error
    finally:
        grad_left = torch.is_grad_enabled()
        torch.set_grad_enabled(grad_was)  # whatever the function did, the session goes on as it was
    if grad_left != grad_was:
        raise CheckFailed(f"{what} left gradients switched {'on' if grad_left else 'off'} for the whole session "
                          "(torch.set_grad_enabled); switch them off only inside `with torch.no_grad():`")
    if [[q.requires_grad for q in x.parameters()] for x in args if isinstance(x, torch.nn.Module)] != trainable:
        raise CheckFailed(f"{what} changed which parameters of the model are trained (requires_grad_): leave them "
                          "as they are; for an evaluation, `with torch.no_grad():` is enough")
    for name, arg, copy in zip(_arg_names(fn, len(args)), args, before):
        if not _same(arg, copy):
            raise CheckFailed(_changed_in_place(name, arg))
    return result


# torch's error when a slice of one length is given values of another: the last sizes of the two.
SLICE_ERROR = re.compile(r"Target sizes: \[[^\]]*?(\d+)\]\.\s+Tensor sizes: \[[^\]]*?(\d+)\]")


def slice_sizes(failure: CheckFailed) -> tuple[int, int] | None:
    """(places, values) when `call` failed on an assignment of values of one length to a slice of another."""
    match = SLICE_ERROR.search(str(failure.__cause__))
    return (int(match[1]), int(match[2])) if match else None


def _learner_frame(error: Exception) -> traceback.FrameSummary:
    """The last line of the traceback outside torch and minirmt (the learner's line), else the last line."""
    frames = traceback.extract_tb(error.__traceback__)
    return next((f for f in reversed(frames) if not f.filename.startswith(LIBRARIES)), frames[-1])


def _copy(x):
    """What `_same` compares an argument with after the call: tensors, and lists, tuples and dicts of them."""
    if isinstance(x, torch.Tensor):
        return x.detach().clone()
    if isinstance(x, list | tuple):
        return [_copy(item) for item in x]
    if isinstance(x, dict):
        return {key: _copy(value) for key, value in x.items()}
    return x if isinstance(x, int | float | str | bool) else None  # a model or anything else: not compared


def _same(x, copy) -> bool:
    if copy is None:
        return True
    if isinstance(copy, torch.Tensor):
        return isinstance(x, torch.Tensor) and x.shape == copy.shape and torch.equal(x.detach(), copy)
    if isinstance(copy, list):
        return isinstance(x, list | tuple) and len(x) == len(copy) and all(map(_same, x, copy))
    if isinstance(copy, dict):
        return isinstance(x, dict) and list(x) == list(copy) and all(_same(x[k], copy[k]) for k in copy)
    return x is copy or x == copy


def _arg_names(fn: Callable, count: int) -> list[str]:
    """The learner's names for the first `count` positional arguments (`argument i` where it has none)."""
    try:
        kinds = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
        names = [p.name for p in inspect.signature(fn).parameters.values() if p.kind in kinds]
    except (TypeError, ValueError):
        names = []
    return [names[i] if i < len(names) else f"argument {i + 1}" for i in range(count)]


def _changed_in_place(name: str, arg) -> str:
    if isinstance(arg, torch.Tensor):
        how = (f"`{name}[...] = ...`, `{name} /= ...`, a method ending in `_`, or any of these on a view of it such "
               f"as `{name}.flatten(1)`")
        fix = f"build a new tensor (`{name} = {name} / ...`), or work on `{name}.clone()`"
    else:
        how = "`.pop`, `del`, `.append`, `.sort()` or an assignment into it"
        fix = f"work on a copy (`sorted({name})`, `dict({name})`, `list({name})`)"
    return (f"it changed its argument `{name}` in place ({how}), so the caller's `{name}` changed too: {fix}")


def _dims(dims: str | Sequence[str]) -> list[str]:
    return dims.split() if isinstance(dims, str) else list(dims)


def expect_tensor(value, dims: str, shape: Sequence[int], what: str = "the result", dtype=None,
                  hints: dict | None = None) -> None:
    """Check type, then number of dims, then each dim (by name), then dtype; raise CheckFailed on the first miss.

    dims:  names of the dimensions, e.g. "g b n" (or "f+1 y": one more than f); shape: the expected sizes
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
    if sorted(got) == sorted(shape) and got != shape:
        raise CheckFailed(f"{what} has shape {got}, expected {want}: {_permuted(names, got, shape)}{suffix}")
    for name, size, expected in zip(names, got, shape):
        if size != expected:
            raise CheckFailed(
                f"{what} has shape {got}, expected {want}: {name} ({_meaning(name)}) is {size}, "
                f"expected {expected}{suffix}"
            )
    if dtype is not None and value.dtype != dtype:
        raise CheckFailed(f"{what} has dtype {value.dtype}, expected {dtype}")


def _permuted(names: list[str], got: tuple, shape: tuple) -> str:
    """Name the axes a shape with the right sizes in the wrong order seems to have swapped."""
    by_size = {size: [n for n, x in zip(names, shape) if x == size] for size in shape}
    if any(len(v) > 1 for v in by_size.values()):
        return "the right sizes in another order: put the axes in the order " + ", ".join(names)
    order = [by_size[size][0] for size in got]
    moved = [name for name, place in zip(names, order) if name != place]
    return (f"it looks like ({', '.join(order)}): the axes {' and '.join(moved)} are swapped; "
            f"put them in the order ({', '.join(names)})")


def _meaning(name: str) -> str:
    """`"f"` -> "features"; `"f+1"` -> "features + 1"."""
    letter, _, extra = name.partition("+")
    return DIMENSIONS.get(letter, letter) + (f" + {extra}" if extra else "")


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


@contextmanager
def forward_modes(model: torch.nn.Module):
    """Inside the block, record (training mode, gradients on) at every call of `model`: yields the list. Training
    mode counts if any submodule is in it (setting `model.training = False` by hand leaves the layers training)."""
    modes = []
    hook = model.register_forward_pre_hook(lambda module, args: modes.append(
        (any(part.training for part in module.modules()), torch.is_grad_enabled())))
    try:
        yield modes
    finally:
        hook.remove()


def expect_evaluation(modes: Sequence[tuple[bool, bool]], label: str) -> None:
    """An evaluation runs the model in eval mode and without gradients: name the first of the two that was not."""
    if any(training for training, _ in modes):
        raise CheckFailed(f"{label} ran the model in training mode: call model.eval() first (dropout and anything "
                          "else that acts only in training would change the result)")
    if any(grad for _, grad in modes):
        raise CheckFailed(f"{label} ran the model with gradients on: evaluate under torch.no_grad(), so that no "
                          "graph is built (it costs memory and time, and nothing here is trained)")


def expect_mode_kept(came_training: bool, left_training: bool, label: str) -> None:
    """An evaluation gives the model its mode back: name the mode it was left in, if not the one it came in."""
    if left_training != came_training:
        now, then = ("training", "eval") if left_training else ("eval", "training")
        raise CheckFailed(f"{label} left the model in {now} mode, but it came in {then} mode: an evaluation gives "
                          "the model's mode back as it found it (was = model.training ... model.train(was))")


def seeded(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def as_number(x, what: str) -> float:
    if isinstance(x, torch.Tensor) and x.numel() == 1:
        return float(x.item())
    if isinstance(x, int | float) and not isinstance(x, bool):
        return float(x)
    raise CheckFailed(f"{what} is a {type(x).__name__}{tuple(x.shape) if isinstance(x, torch.Tensor) else ''}, "
                      "expected one number (a float, or a tensor with one element: use .item())")


def known_number(got: float, expected: float, label: str, mistakes: Sequence[tuple[float, str]],
                 rel_tol: float = 1e-5) -> None:
    """If `got` is not `expected`, raise CheckFailed, naming the first known mistake whose value `got` matches."""
    if math.isclose(got, expected, rel_tol=rel_tol, abs_tol=1e-9):
        return
    hint = next((message for value, message in mistakes if math.isclose(got, value, rel_tol=rel_tol, abs_tol=1e-9)),
                "")
    raise CheckFailed(f"{label} is {_number(got)}, expected {_number(expected)}" + (f": {hint}" if hint else ""))


def _number(x: float) -> str:
    return str(int(x)) if float(x).is_integer() and abs(x) < 1e15 else f"{x:.4f}"


def sharp_rmt(seed: int, **sizes) -> RecurrentMemoryTransformer:
    """A small decoder RMT with large random weights (sharp attention, so that mistakes change the outputs)."""
    cfg = ModelConfig(**{"vocab_size": 12, "d_model": 32, "n_layers": 2, "n_heads": 2, "segment_len": 6,
                         "num_mem_tokens": 3, **sizes})
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = RecurrentMemoryTransformer(cfg).eval()
    gen = seeded(seed)
    with torch.no_grad():
        for p in model.parameters():
            if p.dim() >= 2:
                p.copy_(torch.randn(p.shape, generator=gen) * 0.3)
    return model
