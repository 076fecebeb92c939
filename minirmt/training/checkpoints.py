"""Checkpoints written atomically, and the global random state (dropout's) that a resumed run continues."""

import os
import tempfile
from contextlib import contextmanager
from pathlib import Path

import torch


def save_checkpoint(path: str | Path, **state) -> Path:
    """Write `state` (tensors, state dicts, numbers, strings, lists, dicts) to `path` atomically.

    The data goes to a temporary file in the same folder, then `os.replace` swaps it in: a crash or
    Ctrl-C mid-write leaves the previous checkpoint intact, never a truncated one.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save(state, f)
        os.chmod(tmp, 0o666 & ~_umask())  # as open() would create it (mkstemp makes it private)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def load_checkpoint(path: str | Path, map_location="cpu") -> dict:
    """Read a checkpoint written by `save_checkpoint` (tensors land on `map_location`)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint at {str(path)!r}")
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except Exception as error:  # truncated, corrupt, or not a checkpoint at all
        raise ValueError(f"{path} is not a readable minirmt checkpoint ({type(error).__name__}): it is corrupt, "
                         f"truncated or another kind of file") from error


def load_weights(model: torch.nn.Module, weights: dict) -> None:
    """`model.load_state_dict(weights)`; weights of another model or size are a ValueError of one line."""
    try:
        model.load_state_dict(weights)
    except RuntimeError as error:  # missing or unexpected keys, size mismatches: a list of every tensor
        first = str(error).splitlines()[1].strip() if len(str(error).splitlines()) > 1 else str(error)
        raise ValueError(f"the checkpoint's weights do not fit this {type(model).__name__} (another model or "
                         f"size: {first.rstrip(':.')})") from error


def random_state(device: torch.device) -> dict:
    """PyTorch's global random state (CPU, and the device's on CUDA): what dropout draws from."""
    device = torch.device(device)
    return {"cpu": torch.get_rng_state(), "cuda": torch.cuda.get_rng_state(device) if device.type == "cuda" else None}


@contextmanager
def seeded_global_rng(seed: int, device: torch.device, state: dict | None = None):
    """Inside the block the global generators (dropout's) start from `seed`, or from a saved `state`; outside
    it the caller's global random state is left as it was (`torch.random.fork_rng`)."""
    device = torch.device(device)
    cuda = [device] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=cuda):
        torch.manual_seed(seed)
        if state is not None:
            torch.set_rng_state(state["cpu"])
            if cuda and state.get("cuda") is not None:
                torch.cuda.set_rng_state(state["cuda"], device)
        yield
