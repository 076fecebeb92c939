"""minirmt: a minimal, from-scratch Recurrent Memory Transformer (Bulatov, Kuratov & Burtsev, NeurIPS 2022)."""

from .baselines import FullTransformer, MemTransformerXL, SegmentTransformer, TransformerXL
from .config import PRESETS, ModelConfig, preset
from .generation import generate
from .recurrence import ModelOutput
from .rmt import RecurrentMemoryTransformer

MODELS = {
    "rmt": RecurrentMemoryTransformer,
    "segment": SegmentTransformer,
    "full": FullTransformer,
    "xl": TransformerXL,
    "memxl": MemTransformerXL,
}


def build_model(name: str, cfg: ModelConfig):
    """A model by its short name: "rmt", "segment", "full", "xl" or "memxl"."""
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r}, expected one of {sorted(MODELS)}")
    return MODELS[name](cfg)


__all__ = [
    "MODELS", "PRESETS", "FullTransformer", "MemTransformerXL", "ModelConfig", "ModelOutput",
    "RecurrentMemoryTransformer", "SegmentTransformer", "TransformerXL", "build_model", "generate", "preset",
]
