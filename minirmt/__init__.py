"""minirmt: a minimal, from-scratch Recurrent Memory Transformer (Bulatov, Kuratov & Burtsev, NeurIPS 2022)."""

from .baselines import FullTransformer, MemTransformerXL, SegmentTransformer, TransformerXL
from .config import PRESETS, ModelConfig, preset
from .generation import generate
from .models import MODELS, build_model
from .recurrence import ModelOutput
from .rmt import RecurrentMemoryTransformer

__all__ = [
    "MODELS", "PRESETS", "FullTransformer", "MemTransformerXL", "ModelConfig", "ModelOutput",
    "RecurrentMemoryTransformer", "SegmentTransformer", "TransformerXL", "build_model", "generate", "preset",
]
