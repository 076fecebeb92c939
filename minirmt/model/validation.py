"""Checks of what users pass to a model: a clear error that names the argument, never a deep IndexError."""

import dataclasses

import torch

IGNORE_INDEX = -100  # targets at this value are not predicted (PyTorch's cross-entropy convention)


def require_int(owner: str, name: str, value, minimum: int, optional: bool = False) -> None:
    """`value` must be an int >= `minimum` (a bool is not an int here), or None if `optional`.

    TypeError for a value that is not an int, ValueError for one below the minimum; the message names
    `owner` (the config or function) and the argument.
    """
    if optional and value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int):
        kind = "an int or None" if optional else "an int"
        raise TypeError(f"{owner}: {name} must be {kind} >= {minimum}, got {type(value).__name__} {value!r}")
    if value < minimum:
        raise ValueError(f"{owner}: {name}={value} must be >= {minimum}")


def require_numbers(config) -> None:
    """Every field of the dataclass `config` declared `float` (or `float | None`) must hold a number (or None):
    a TypeError naming the field, before any comparison of it could fail with a message that does not."""
    owner = type(config).__name__
    for f in dataclasses.fields(config):
        optional = f.type in (float | None, "float | None")
        value = getattr(config, f.name)
        if f.type not in (float, "float") and not optional or (optional and value is None):
            continue
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            kind = "a number or None" if optional else "a number"
            raise TypeError(f"{owner}: {f.name} must be {kind}, got {type(value).__name__} {value!r}")


def require(owner: str, name: str, value, ok: bool, expected: str) -> None:
    """Raise a ValueError naming `owner`, the argument and what was `expected` unless `ok`."""
    if not ok:
        raise ValueError(f"{owner}: {name}={value!r}, expected {expected}")


def check_tokens(tokens, vocab_size: int, name: str = "tokens", values: bool = True) -> None:
    """`tokens` must be integer ids `(b, s)` with b, s >= 1 and (with `values`) every id in [0, vocab_size).

    Reading the ids' range waits for the device (a host-device synchronisation): `values=False` checks
    only the type and shape, for ids already checked (a whole token stream, once).
    """
    _check_int_matrix(tokens, name)
    if not values:
        return
    low, high = int(tokens.min()), int(tokens.max())
    if low < 0 or high >= vocab_size:
        raise ValueError(f"{name} must be ids in [0, {vocab_size}) (vocab_size), got values in [{low}, {high}]")


def check_targets(targets, tokens: torch.Tensor, vocab_size: int, values: bool = True) -> None:
    """`targets` must match `tokens (b, s)`, with ids in [0, vocab_size) or -100 (not predicted)."""
    _check_int_matrix(targets, "targets")
    if targets.shape != tokens.shape:
        raise ValueError(f"targets must have the shape of tokens {tuple(tokens.shape)}, got {tuple(targets.shape)}")
    if not values:
        return
    bad = (targets != IGNORE_INDEX) & ((targets < 0) | (targets >= vocab_size))
    if bad.any():
        raise ValueError(
            f"targets must be ids in [0, {vocab_size}) or {IGNORE_INDEX}, got {int(targets[bad][0])}"
        )


def check_labels(labels, batch_size: int, num_classes: int) -> None:
    """`labels` must be integer classes `(b,)` in [0, num_classes), one per sequence."""
    if not isinstance(labels, torch.Tensor) or labels.is_floating_point() or labels.dtype == torch.bool:
        got = labels.dtype if isinstance(labels, torch.Tensor) else type(labels).__name__
        raise TypeError(f"labels must be a tensor of integer classes (b,), got {got}")
    if tuple(labels.shape) != (batch_size,):
        raise ValueError(f"labels must have shape (b,) = ({batch_size},), one class per sequence, got "
                         f"{tuple(labels.shape)}")
    if bool(((labels < 0) | (labels >= num_classes)).any()):
        raise ValueError(f"labels must be classes in [0, {num_classes}) (num_classes), got values in "
                         f"[{int(labels.min())}, {int(labels.max())}]")


def check_state(state, expected: tuple[int, ...], name: str) -> None:
    """A carried state (memory `(b, m, d)` or cache `(l, b, c, d)`) must be a float tensor of the expected shape."""
    if not isinstance(state, torch.Tensor) or not state.is_floating_point():
        raise TypeError(f"memory must be a float tensor {name}, got {type(state).__name__}")
    if tuple(state.shape) != expected:
        raise ValueError(f"memory must have shape {name} = {expected}, got {tuple(state.shape)}")


def _check_int_matrix(x, name: str) -> None:
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor of token ids (b, s), got {type(x).__name__}")
    if x.is_floating_point() or x.is_complex() or x.dtype == torch.bool:
        raise TypeError(f"{name} must hold integer token ids, got dtype {x.dtype}")
    if x.dim() != 2:
        raise ValueError(f"{name} must have shape (b, s) (batch, sequence), got {x.dim()} dims {tuple(x.shape)}")
    if x.numel() == 0:
        raise ValueError(f"{name} must not be empty, got shape {tuple(x.shape)} (b, s)")
