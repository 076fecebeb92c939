"""Model configuration: one dataclass shared by the RMT and every baseline, plus named presets."""

from dataclasses import asdict, dataclass, replace

MEMORY_FORMS = ("decoder", "encoder")


@dataclass(frozen=True)
class ModelConfig:
    """Sizes of the backbone and of the memory (RMT paper, Sec. 3).

    vocab_size      v, number of token ids
    d_model         d, model width
    n_layers        l, number of Transformer blocks
    n_heads         h, attention heads (d_model / n_heads = k, the head width)
    segment_len     n, tokens per segment
    num_mem_tokens  m, memory tokens (0 turns RMT into a segment-only Transformer)
    d_ff            feed-forward width (default 4 * d_model)
    dropout         dropout on attention weights and residual branches
    bptt_depth      gradients flow through memory across at most this many segments (None = all)
    memory_form     "decoder": [read_mem | tokens | write_mem], causal (the paper's language-model form);
                    "encoder": [mem | tokens], bidirectional (for classification)
    memory_flat     recompute each segment's blocks (but the last's) in the backward pass: peak memory
                    barely grows with g
    xl_cache_len    hidden states cached per layer by the Transformer-XL baselines (default segment_len)
    rope_base       base of the rotary position frequencies
    """

    vocab_size: int
    d_model: int = 64
    n_layers: int = 2
    n_heads: int = 4
    segment_len: int = 8
    num_mem_tokens: int = 8
    d_ff: int | None = None
    dropout: float = 0.0
    bptt_depth: int | None = None
    memory_form: str = "decoder"
    memory_flat: bool = False
    xl_cache_len: int | None = None
    rope_base: float = 10_000.0

    def __post_init__(self):
        for name in ("vocab_size", "d_model", "n_layers", "n_heads", "segment_len"):
            _require_int(name, getattr(self, name), minimum=1)
        _require_int("num_mem_tokens", self.num_mem_tokens, minimum=0)
        if self.d_model % self.n_heads:
            raise ValueError(f"ModelConfig: n_heads={self.n_heads} must divide d_model={self.d_model}")
        if (self.d_model // self.n_heads) % 2:
            raise ValueError(
                f"ModelConfig: head width d_model/n_heads = {self.d_model // self.n_heads} must be even "
                "(rotary positions rotate pairs of features)"
            )
        if self.d_ff is not None:
            _require_int("d_ff", self.d_ff, minimum=1)
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"ModelConfig: dropout={self.dropout} must be in [0, 1)")
        if self.bptt_depth is not None:
            _require_int("bptt_depth", self.bptt_depth, minimum=1)
        if self.memory_form not in MEMORY_FORMS:
            raise ValueError(f"ModelConfig: memory_form={self.memory_form!r}, expected one of {MEMORY_FORMS}")
        if self.xl_cache_len is not None:
            _require_int("xl_cache_len", self.xl_cache_len, minimum=1)

    @property
    def ff_width(self) -> int:
        return self.d_ff if self.d_ff is not None else 4 * self.d_model

    @property
    def head_width(self) -> int:
        return self.d_model // self.n_heads

    @property
    def cache_len(self) -> int:
        return self.xl_cache_len if self.xl_cache_len is not None else self.segment_len

    @property
    def max_positions(self) -> int:
        """The longest input of one segment's attention: `[cache | read_mem | tokens | write_mem]`."""
        return self.cache_len + self.num_mem_tokens + self.segment_len + self.num_mem_tokens

    def to_dict(self) -> dict:
        return asdict(self)


def _require_int(name: str, value, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"ModelConfig: {name} must be an int, got {type(value).__name__} {value!r}")
    if value < minimum:
        raise ValueError(f"ModelConfig: {name}={value} must be >= {minimum}")


PRESETS = {
    # seconds on a CPU: unit tests
    "tiny": ModelConfig(vocab_size=16, d_model=32, n_layers=2, n_heads=2, segment_len=8, num_mem_tokens=4),
    # minutes on a laptop CPU: the synthetic tasks of the notebooks (GUIDE.md, "What is known to work")
    "lab": ModelConfig(vocab_size=12, d_model=64, n_layers=2, n_heads=4, segment_len=8, num_mem_tokens=8),
    # one GPU: word-level WikiText (GUIDE.md, "Language modelling on a GPU")
    "wikitext": ModelConfig(
        vocab_size=33_278, d_model=512, n_layers=6, n_heads=8, segment_len=128, num_mem_tokens=16, dropout=0.1
    ),
}


def preset(name: str, **overrides) -> ModelConfig:
    """A named configuration ("tiny", "lab", "wikitext"), with any field overridden."""
    if name not in PRESETS:
        raise ValueError(f"unknown preset {name!r}, expected one of {sorted(PRESETS)}")
    return replace(PRESETS[name], **overrides)
