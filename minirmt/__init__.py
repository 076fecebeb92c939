"""minirmt: a minimal, from-scratch Recurrent Memory Transformer (Bulatov, Kuratov & Burtsev, NeurIPS 2022).

The package in layers; each imports only the layers below it:

    model/      the RMT and its baselines (start here: model/__init__.py gives the reading order)
    data/       what a model reads: synthetic tasks, corpora, downloads
    viz/        figures: tensors and results in, matplotlib Figures out
    training/   the loops, recipes, the paper's experiment, accelerators
    course/     the notebooks' side: set-up, shipped runs, checkers, widgets, learner copies
    cli.py      `python -m minirmt ...` (options.py: its flags, made from the configs' fields)
"""

from minirmt.model.baselines import FullTransformer, MemTransformerXL, SegmentTransformer, TransformerXL
from minirmt.model.config import PRESETS, ModelConfig, preset
from minirmt.model.generation import generate
from minirmt.model.recurrence import ModelOutput
from minirmt.model.registry import MODELS, build_model
from minirmt.model.rmt import RecurrentMemoryTransformer

__all__ = [
    "MODELS", "PRESETS", "FullTransformer", "MemTransformerXL", "ModelConfig", "ModelOutput",
    "RecurrentMemoryTransformer", "SegmentTransformer", "TransformerXL", "build_model", "generate", "preset",
]
