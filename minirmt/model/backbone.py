"""The backbone every model shares: token embeddings -> blocks -> final norm -> vocabulary head.

The RMT and the baselines differ only in what they put around a segment before the blocks (memory
vectors, a cache of the previous segment) and in what they carry to the next segment; see rmt.py and
baselines.py. Keeping one backbone makes the comparisons of the paper (Sec. 4) fair.
"""

import torch
import torch.nn.functional as F
from torch import nn

from .config import ModelConfig
from .layers import Block, Rotary
from .masks import with_cache


class Backbone(nn.Module):
    """A GPT-style decoder stack that reads embeddings, not token ids, so memory vectors can join in."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.embed = ShiftedEmbedding(cfg.vocab_size, cfg.d_model) if cfg.token_shift else \
            nn.Embedding(cfg.vocab_size, cfg.d_model)
        self.rotary = Rotary(cfg.head_width, cfg.rope_base, max_positions=cfg.max_positions)
        self.blocks = nn.ModuleList(
            Block(cfg.d_model, cfg.n_heads, cfg.head_width, cfg.ff_width, cfg.dropout) for _ in range(cfg.n_layers)
        )
        self.norm = nn.LayerNorm(cfg.d_model)
        self.head = nn.Linear(cfg.d_model, cfg.vocab_size, bias=False)
        self.head.weight = self.embed.weight  # tied input and output embeddings, as in GPT-2
        self.drop = nn.Dropout(cfg.dropout)
        self.apply(_init_weights)

    def forward(self, x, causal=True, cache=None, mask=None, return_attention=False):
        """Run the blocks over `x (b, t, d)`; positions restart at 0 for every call.

        cache: `(l, b, c, d)`, per layer the hidden states of the c positions before x (Transformer-XL),
               already detached; attention then spans `[cache | x]`.
        mask:  boolean `(t, c + t)` (True = may attend), instead of the causal mask (masks.py)
        Returns the normed output `(b, t, d)`, a list over layers of each layer's input `(b, t, d)` (what a
        Transformer-XL caches for the next segment),
        and a list over layers of attention weights `(b, h, t, c + t)` (or Nones).
        """
        t = x.shape[1]
        c = 0 if cache is None else cache.shape[2]
        rope = self.rotary(c + t)
        if mask is None and c > 0:
            mask = with_cache(t, c)
        mask = None if mask is None else mask.to(x.device)
        x = self.drop(x)
        layer_inputs, attentions = [], []
        for layer, block in enumerate(self.blocks):
            layer_inputs.append(x)
            past = None if cache is None else cache[layer]
            x, weights = block(x, rope, causal, mask, past, return_attention)
            attentions.append(weights)
        return self.norm(x), layer_inputs, attentions


class ShiftedEmbedding(nn.Embedding):
    """Token embeddings plus, from a second table `prev (v, d)`, the embedding of the token before: a token shift
    (the "smeared keys" of Olsson et al., 2022; RWKV's token shift). Not in the RMT paper.

    Associative retrieval (`k1 v1 .. k4 v4 q ?`) needs a value bound to the key before it, which takes a first
    layer head that attends to the previous token; nothing in the loss rewards that head until the second layer
    already matches keys, and a plain model can sit on the "bag of values" for tens of thousands of steps. Handed
    the previous token, it learns the task in a few hundred. One call is one segment, so a segment's first token
    gets nothing: no model sees across a boundary through the shift.
    """

    def __init__(self, num_embeddings: int, embedding_dim: int):
        super().__init__(num_embeddings, embedding_dim)
        self.prev = nn.Parameter(torch.randn(num_embeddings, embedding_dim) * 0.02)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        """`tokens (b, t)` -> `(b, t, d)`: the embedding of token i plus the prev-embedding of token i - 1."""
        before = F.embedding(tokens[:, :-1], self.prev)  # (b, t - 1, d)
        return super().forward(tokens) + F.pad(before, (0, 0, 1, 0))


def _init_weights(module: nn.Module) -> None:
    """normal(0, 0.02) for every linear and embedding weight, zero biases: GPT-2's scale, without its extra
    1/sqrt(2l) for the residual projections (with it, or with embeddings scaled by sqrt(d), copy across segments
    stayed at chance for most seeds: bench/results/memory_scale/).

    Embeddings at std 0.02 matter: at PyTorch's default std 1.0, associative recall across segments stalls
    on a plateau for thousands of steps.
    """
    if isinstance(module, nn.Linear | nn.Embedding):
        nn.init.normal_(module.weight, mean=0.0, std=0.02)
    if isinstance(module, nn.Linear) and module.bias is not None:
        nn.init.zeros_(module.bias)
