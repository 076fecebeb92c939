"""A plain dense GPT decoder, the reference that minirmt's GPU throughput is held against.

Written here, independently of minirmt's backbone (nanoGPT's layout): learned absolute positions, pre-norm
blocks with one fused q/k/v projection, `scaled_dot_product_attention(is_causal=True)`, a 4d GELU MLP,
a final LayerNorm and a head tied to the token embedding. With the same d, l, h and v it has minirmt's
block parameters; it reads one context of t tokens and carries nothing between contexts.
"""

import torch.nn.functional as F
from einops import rearrange
from torch import nn

from minirmt.model.validation import IGNORE_INDEX


class DenseBlock(nn.Module):
    """Pre-norm block: x + attention(norm(x)), then x + MLP(norm(x)); `x (b, t, d)` -> `(b, t, d)`."""

    def __init__(self, d_model: int, n_heads: int):
        super().__init__()
        self.n_heads = n_heads
        self.norm1 = nn.LayerNorm(d_model)
        self.qkv = nn.Linear(d_model, 3 * d_model, bias=False)
        self.proj = nn.Linear(d_model, d_model, bias=False)
        self.norm2 = nn.LayerNorm(d_model)
        self.mlp = nn.Sequential(nn.Linear(d_model, 4 * d_model), nn.GELU(), nn.Linear(4 * d_model, d_model))

    def forward(self, x):
        q, k, v = rearrange(self.qkv(self.norm1(x)), "b t (three h k) -> three b h t k", three=3, h=self.n_heads)
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        x = x + self.proj(rearrange(y, "b h t k -> b t (h k)"))
        return x + self.mlp(self.norm2(x))


class DenseDecoder(nn.Module):
    """GPT decoder over `tokens (b, t)`, t <= context; `forward` returns the mean cross-entropy."""

    def __init__(self, vocab_size: int, d_model: int, n_layers: int, n_heads: int, context: int):
        super().__init__()
        self.embed = nn.Embedding(vocab_size, d_model)
        self.position = nn.Embedding(context, d_model)
        self.blocks = nn.ModuleList(DenseBlock(d_model, n_heads) for _ in range(n_layers))
        self.norm = nn.LayerNorm(d_model)
        self.head = nn.Linear(d_model, vocab_size, bias=False)
        self.head.weight = self.embed.weight
        for module in self.modules():
            if isinstance(module, nn.Linear | nn.Embedding):
                nn.init.normal_(module.weight, std=0.02)

    def forward(self, tokens, targets):
        """`tokens (b, t)`, `targets (b, t)` (-100 = ignore) -> mean cross-entropy (a scalar)."""
        x = self.embed(tokens) + self.position.weight[: tokens.shape[1]]
        for block in self.blocks:
            x = block(x)
        logits = self.head(self.norm(x))  # (b, t, v)
        return F.cross_entropy(logits.flatten(0, 1).float(), targets.flatten(), ignore_index=IGNORE_INDEX)

    def flops_per_token(self, context: int) -> float:
        """Training FLOPs per token, counted as minirmt.training.accel.flops_per_token counts them
        (6N + 12 l d T + head)."""
        d, v = self.embed.weight.shape[1], self.embed.weight.shape[0]
        block_params = sum(p.numel() for p in self.blocks.parameters())
        return 6 * block_params + 12 * len(self.blocks) * d * context + 6 * d * v
