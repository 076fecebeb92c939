"""Model configuration: one dataclass shared by the RMT and every baseline, plus named presets."""

import dataclasses
from dataclasses import MISSING, asdict, dataclass, replace

from .validation import require, require_int, require_numbers

MEMORY_FORMS = ("decoder", "encoder")
MEMORY_MASKS = ("causal", "block")
BPTT_WINDOWS = ("end", "each")


def option(default, help: str, choices: tuple | None = None):
    """A dataclass field with a default, its help text and (optionally) its allowed values.

    A dict default is given to each instance as a fresh copy (a dataclass default must not be shared).
    """
    metadata = {"help": help} if choices is None else {"help": help, "choices": tuple(choices)}
    if isinstance(default, dict):
        return dataclasses.field(default_factory=lambda: dict(default), metadata=metadata)
    return dataclasses.field(default=default, metadata=metadata)


@dataclass(frozen=True)
class ModelConfig:
    """Sizes of the backbone and of the memory (RMT paper, Sec. 3), shared by the RMT and every baseline.

    Each field's help says what it is; the letters are the dimension names used in every shape.
    """

    vocab_size: int = option(MISSING, "v, number of token ids")
    d_model: int = option(64, "d, model width")
    n_layers: int = option(2, "l, number of Transformer blocks")
    n_heads: int = option(4, "h, attention heads")
    d_head: int | None = option(None, "k, the width of each head (none: d_model / n_heads)")
    segment_len: int = option(8, "n, tokens per segment")
    num_mem_tokens: int = option(8, "m, memory tokens (0 turns the RMT into a segment-only Transformer)")
    d_ff: int | None = option(None, "feed-forward width (none: 4 * d_model)")
    dropout: float = option(0.0, "dropout on attention weights and residual branches")
    bptt_depth: int | None = option(None, "truncated BPTT: the last segment's loss reaches back through memory "
                                          "across this many segments, itself included; 0 or 1: no gradient "
                                          "through memory (none: all)")
    memory_form: str = option("decoder", "decoder: [read_mem | tokens | write_mem], causal (the paper's "
                                         "language model); encoder: [mem | tokens], bidirectional",
                              choices=MEMORY_FORMS)
    memory_mask: str = option("causal", "decoder form and MemTr-XL: causal, or block (each memory block sees itself "
                                        "fully, as in the paper's own code); see masks.py", choices=MEMORY_MASKS)
    bptt_window: str = option("end", "with bptt_depth: end (one window, at the end of the sequence) or each (every "
                                     "segment's loss gets its own window, recomputed, as in the paper's code)",
                              choices=BPTT_WINDOWS)
    num_classes: int | None = option(None, "y, classes of the encoder form's classifier, read from the memory "
                                           "after the last segment (none: a language model)")
    memory_reads_cache: bool = option(True, "the RMT with an XL cache and MemTr-XL: do the memory slots attend to "
                                            "the cache too (the authors' runs: no)")
    memory_flat: bool = option(False, "recompute each segment's blocks (but the last's) in the backward pass, "
                                      "so that peak memory barely grows with the number of segments")
    xl_cache_len: int | None = option(None, "c, hidden states cached per layer by the Transformer-XL models "
                                            "(none: segment_len)")
    rope_base: float = option(10_000.0, "base of the rotary position frequencies")
    token_shift: bool = option(False, "each token's embedding also gets its previous token's, from a second table "
                                      "(within the segment: a segment's first token gets none); associative "
                                      "retrieval needs it to be learned in thousands of steps (backbone.py)")

    def __post_init__(self):
        require_numbers(self)
        for name in ("vocab_size", "d_model", "n_layers", "n_heads", "segment_len"):
            require_int("ModelConfig", name, getattr(self, name), minimum=1)
        require_int("ModelConfig", "num_mem_tokens", self.num_mem_tokens, minimum=0)
        for name in ("d_ff", "xl_cache_len", "d_head"):
            require_int("ModelConfig", name, getattr(self, name), minimum=1, optional=True)
        require_int("ModelConfig", "bptt_depth", self.bptt_depth, minimum=0, optional=True)
        if self.d_head is None and self.d_model % self.n_heads:
            raise ValueError(f"ModelConfig: n_heads={self.n_heads} must divide d_model={self.d_model} (or give "
                             f"d_head, the width of each head)")
        if self.head_width % 2:
            raise ValueError(f"ModelConfig: the head width k = {self.head_width} must be even (rotary positions "
                             "rotate pairs of features)")
        require("ModelConfig", "dropout", self.dropout, 0.0 <= self.dropout < 1.0, "a number in [0, 1)")
        require("ModelConfig", "memory_form", self.memory_form, self.memory_form in MEMORY_FORMS,
                f"one of {MEMORY_FORMS}")
        require("ModelConfig", "memory_mask", self.memory_mask, self.memory_mask in MEMORY_MASKS,
                f"one of {MEMORY_MASKS}")
        require("ModelConfig", "bptt_window", self.bptt_window, self.bptt_window in BPTT_WINDOWS,
                f"one of {BPTT_WINDOWS}")
        require_int("ModelConfig", "num_classes", self.num_classes, minimum=2, optional=True)
        if (self.memory_form == "encoder") != (self.num_classes is not None):
            raise ValueError("ModelConfig: the encoder form is a classifier and a classifier is an encoder: give "
                             "memory_form='encoder' together with num_classes (the classes to predict)")
        if self.bptt_window == "each" and self.memory_flat:
            raise ValueError("ModelConfig: bptt_window='each' recomputes its windows already; memory_flat is for "
                             "bptt_window='end'")

    @property
    def ff_width(self) -> int:
        return self.d_ff if self.d_ff is not None else 4 * self.d_model

    @property
    def head_width(self) -> int:
        return self.d_head if self.d_head is not None else self.d_model // self.n_heads

    @property
    def cache_len(self) -> int:
        return self.xl_cache_len if self.xl_cache_len is not None else self.segment_len

    @property
    def max_positions(self) -> int:
        """The longest input of one segment's attention: `[cache | read_mem | tokens | write_mem]`."""
        return self.cache_len + self.num_mem_tokens + self.segment_len + self.num_mem_tokens

    def to_dict(self) -> dict:
        return asdict(self)


PRESETS = {
    # seconds on a CPU: unit tests
    "tiny": ModelConfig(vocab_size=16, d_model=32, n_layers=2, n_heads=2, segment_len=8, num_mem_tokens=4),
    # minutes on a laptop CPU: the synthetic tasks of the notebooks
    "lab": ModelConfig(vocab_size=12, d_model=64, n_layers=2, n_heads=4, segment_len=8, num_mem_tokens=8),
    # the authors' two model sizes for the algorithmic tasks (RMT paper, Sec. 4; LM-RMT's published runs): copy and
    # reverse, 4 layers of 4 heads of 64 at d 128; associative retrieval, 6 layers of 4 heads of 32 at d 64; both
    # with dropout 0.1 and each memory block seeing itself whole (segment_len and num_mem_tokens: set per run)
    "paper-copy": ModelConfig(vocab_size=12, d_model=128, n_layers=4, n_heads=4, d_head=64, d_ff=256,
                              segment_len=24, num_mem_tokens=24, dropout=0.1, memory_mask="block"),
    "paper-retrieval": ModelConfig(vocab_size=37, d_model=64, n_layers=6, n_heads=4, d_head=32, d_ff=128,
                                   segment_len=5, num_mem_tokens=5, dropout=0.1, memory_mask="block"),
    # one GPU: word-level WikiText
    "wikitext": ModelConfig(
        vocab_size=33_278, d_model=512, n_layers=6, n_heads=8, segment_len=128, num_mem_tokens=16, dropout=0.1
    ),
}


def preset(name: str, **overrides) -> ModelConfig:
    """A named configuration (one of PRESETS), with any field overridden."""
    if name not in PRESETS:
        raise ValueError(f"unknown preset {name!r}, expected one of {sorted(PRESETS)}")
    return replace(PRESETS[name], **overrides)
