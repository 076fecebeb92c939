"""The Recurrent Memory Transformer (Bulatov, Kuratov & Burtsev, NeurIPS 2022).

RMT paper, Sec. 3: "memory tokens are added to the input sequence ... the outputs at the write positions
become the memory of the next segment", and gradients flow through that memory from segment to segment
(backpropagation through time). Everything else is an ordinary Transformer: see transformer.py.
"""

import torch
from einops import repeat
from torch import nn

from .config import ModelConfig
from .recurrence import SegmentRecurrence
from .validation import check_state


class RecurrentMemoryTransformer(SegmentRecurrence):
    """RMT: a Transformer that reads and writes m memory vectors in every segment.

    decoder form (default, the paper's language model, Fig. 1b):
        input  [read_mem | tokens | write_mem]   (b, m + n + m, d), causal attention
        read_mem and write_mem hold the same current memory; the outputs at the write slots (after the final
        norm) replace it. Tokens see the read slots; the write slots see the whole segment.
    encoder form (Fig. 1a, for classification):
        input  [mem | tokens]   (b, m + n, d), bidirectional; the outputs at the memory slots replace it.
    """

    def __init__(self, cfg: ModelConfig):
        super().__init__(cfg)
        # the initial memory: m learned vectors, distinct per slot (std 0.02, like the embeddings)
        self.memory = nn.Parameter(torch.randn(cfg.num_mem_tokens, cfg.d_model) * 0.02)

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
                                       return_attention=return_attention)  # (b, m + n + m, d)
            return h[:, m : m + n], h[:, m + n :], attn
        h, _, attn = self.backbone(torch.cat([memory, x], dim=1), causal=False,
                                   return_attention=return_attention)  # (b, m + n, d)
        return h[:, m:], h[:, :m], attn
