"""The Recurrent Memory Transformer (Bulatov, Kuratov & Burtsev, NeurIPS 2022).

RMT paper, Sec. 3 and Fig. 1: memory tokens are added to the input of every segment, the outputs at the write
positions become the memory of the next segment, and gradients flow through that memory from segment to
segment (backpropagation through time). Everything else is an ordinary Transformer: see transformer.py.
"""

import torch
from einops import reduce, repeat
from torch import nn

from . import masks
from .config import ModelConfig
from .recurrence import SegmentRecurrence
from .validation import check_state


class RecurrentMemoryTransformer(SegmentRecurrence):
    """RMT: a Transformer that reads and writes m memory vectors in every segment, carried to the next.

    decoder form (default, the paper's language model):
        input  [read_mem | tokens | write_mem]   (b, m + n + m, d), causal attention (cfg.memory_mask: or
        each memory block bidirectional inside itself, as in the paper's code); read_mem and write_mem hold
        the same current memory; the outputs at the write slots (after the final norm) replace it.
    encoder form (Sec. 3, for classification; cfg.num_classes set):
        input  [mem | tokens]   (b, m + n, d), bidirectional; the outputs at the memory slots replace it, and
        the class logits `(b, y)` are read from the memory after the last segment.
    """

    def __init__(self, cfg: ModelConfig):
        super().__init__(cfg)
        # the initial memory: m learned vectors, distinct per slot (std 0.02, like the embeddings)
        self.memory = nn.Parameter(torch.randn(cfg.num_mem_tokens, cfg.d_model) * 0.02)
        if cfg.num_classes is not None:
            self.classifier = nn.Linear(cfg.d_model, cfg.num_classes)

    def initial_state(self, batch_size: int) -> torch.Tensor:
        """The learned initial memory for every sequence of the batch: `(b, m, d)`."""
        return repeat(self.memory, "m d -> b m d", b=batch_size)

    def check_state(self, state, batch_size: int) -> None:
        check_state(state, (batch_size, self.cfg.num_mem_tokens, self.cfg.d_model), "(b, m, d)")

    def step(self, tokens, memory, return_attention=False):
        """One segment: `tokens (b, n)`, `memory (b, m, d)` -> hidden `(b, n, d)`, new memory `(b, m, d)`."""
        m, n = memory.shape[1], tokens.shape[1]
        x = self.backbone.embed(tokens)  # (b, n, d)
        if self.cfg.memory_form == "decoder":
            h, _, attn = self.backbone(torch.cat([memory, x, memory], dim=1), causal=True,
                                       mask=masks.rmt_decoder_mask(m, n, self.cfg.memory_mask),
                                       return_attention=return_attention)  # (b, m + n + m, d)
            return h[:, m : m + n], h[:, m + n :], attn
        h, _, attn = self.backbone(torch.cat([memory, x], dim=1), causal=False,
                                   return_attention=return_attention)  # (b, m + n, d)
        return h[:, m:], h[:, :m], attn

    def classify(self, memory: torch.Tensor) -> torch.Tensor:
        """The class logits `(b, y)` of the memory after the last segment `(b, m, d)`, averaged over its slots (the
        authors' classifier reads a CLS token instead; the mean of the memory keeps the encoder form plain)."""
        return self.classifier(reduce(memory, "b m d -> b d", "mean"))
