"""The model registry: every model by its short name, built from one config (RMT paper, Sec. 4).

Every model is the same backbone with a different way of carrying state from one segment to the next, so
the command line, the trainers, the experiments, the checkers and the notebooks all pick a model by name here.
"""

import torch
from torch import nn

from .baselines import (
    FullTransformer,
    MemoryTokenTransformer,
    MemTransformerXL,
    RecurrentMemoryTransformerXL,
    SegmentTransformer,
    TransformerXL,
)
from .config import ModelConfig
from .rmt import RecurrentMemoryTransformer
from .validation import require_int

MODELS = {
    "rmt": RecurrentMemoryTransformer,
    "segment": SegmentTransformer,
    "full": FullTransformer,
    "xl": TransformerXL,
    "memxl": MemTransformerXL,
    "memtok": MemoryTokenTransformer,
    "rmtxl": RecurrentMemoryTransformerXL,
}

LABELS = {  # how figures and tables name each model
    "rmt": "RMT",
    "segment": "segment-only",
    "full": "full attention",
    "xl": "Transformer-XL",
    "memxl": "MemTr-XL",
    "memtok": "memory tokens",
    "rmtxl": "RMT + XL cache",
}


def describe(name: str) -> str:
    """One line on what the model `name` carries across segments (the first line of its class docstring)."""
    return _lookup(name).__doc__.strip().splitlines()[0]


def build_model(name: str, cfg: ModelConfig, seed: int | None = None) -> nn.Module:
    """The model called `name` (a key of MODELS) for `cfg`; with `seed`, its initial weights are drawn from it.

    PyTorch's initialisers read the global generator: with a seed they run inside `torch.random.fork_rng`,
    so the caller's global random state is left as it was.
    """
    cls = _lookup(name)
    require_int("build_model", "seed", seed, minimum=0, optional=True)
    if seed is None:
        return cls(cfg)
    with torch.random.fork_rng(devices=[]):
        torch.default_generator.manual_seed(seed)  # the CPU generator, where modules are initialised
        return cls(cfg)


def model_name(model: nn.Module) -> str:
    """The registry name of a model instance (the inverse of `build_model`)."""
    for name, cls in MODELS.items():
        if type(model) is cls:
            return name
    raise ValueError(f"{type(model).__name__} is not a registered model; expected one of {sorted(MODELS)}")


def _lookup(name: str) -> type:
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r}, expected one of {sorted(MODELS)}")
    return MODELS[name]
