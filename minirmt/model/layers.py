"""The parts of a Transformer block: rotary positions, attention, feed-forward, the pre-norm block.

Shapes: b batch, t positions of this call, c cached positions, h heads,
k head width, d model width; attention weights are `(b, h, i, j)` for query i and key j.
"""

import math

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import nn


class Rotary(nn.Module):
    """Rotary position embeddings (Su et al., 2021): a position rotates each pair of query/key features.

    Only differences of positions matter in the scores `q_i . k_j`, so positions can restart in every
    segment and a Transformer-XL cache just takes the positions before the segment.

    The cosines and sines are a table computed once for `max_positions` positions (computed in the forward
    pass, a compiler would recompute them inside every layer's rotation kernel). A longer call (the
    full-context baseline on a long sequence) computes its angles for that call.
    """

    def __init__(self, head_width: int, base: float, max_positions: int):
        super().__init__()
        inv_freq = base ** (-torch.arange(0, head_width, 2, dtype=torch.float32) / head_width)  # (k/2,)
        self.register_buffer("inv_freq", inv_freq, persistent=False)
        cos, sin = self.angles(max_positions)
        self.register_buffer("cos", cos, persistent=False)
        self.register_buffer("sin", sin, persistent=False)

    def angles(self, t: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Cosines and sines of the angles of positions 0..t-1, each `(t, k/2)`."""
        positions = torch.arange(t, device=self.inv_freq.device, dtype=torch.float32)
        angles = torch.outer(positions, self.inv_freq)
        return angles.cos(), angles.sin()

    def forward(self, t: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Cosines and sines for positions 0..t-1, each `(t, k/2)`: rows of the table where it is long enough."""
        if t > self.cos.shape[0]:
            return self.angles(t)
        return self.cos[:t], self.sin[:t]


def rotate(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Rotate `x (b, h, t, k)` by the angles of its t positions (`cos`, `sin`: `(t, k/2)`), in x's dtype.

    Feature i of the first half and feature i of the second half form one pair:
    (x1, x2) -> (x1 cos - x2 sin, x1 sin + x2 cos).
    """
    cos, sin = cos.to(x.dtype), sin.to(x.dtype)
    x1, x2 = x.chunk(2, dim=-1)
    return torch.cat([x1 * cos - x2 * sin, x1 * sin + x2 * cos], dim=-1)


class Attention(nn.Module):
    """Multi-head self-attention with rotary positions and an optional cache of earlier hidden states.

    Fast path: `F.scaled_dot_product_attention` (fused kernels, no weights returned).
    Explicit path (`return_weights=True`): softmax(q k^T / sqrt(k)) written out, for attention maps.
    """

    def __init__(self, d_model: int, n_heads: int, head_width: int, dropout: float):
        super().__init__()
        self.n_heads = n_heads
        self.qkv = nn.Linear(d_model, 3 * n_heads * head_width, bias=False)  # queries, keys, values in one matmul
        self.out = nn.Linear(n_heads * head_width, d_model, bias=False)
        self.dropout = dropout

    def forward(self, x, rope, causal=True, mask=None, past=None, return_weights=False):
        """`x (b, t, d)` -> `(b, t, d)` and the weights `(b, h, t, c + t)` (or None).

        rope:  (cos, sin), each `(c + t, k/2)`, for the c cached and t new positions
        mask:  boolean `(t, c + t)`, True = may attend; None means causal (or none when causal=False)
        past:  `(b, c, d)` hidden states of the previous segment (Transformer-XL), already detached
        """
        keys_in = x if past is None else torch.cat([past, x], dim=1)  # (b, c + t, d)
        c = keys_in.shape[1] - x.shape[1]
        qkv = rearrange(self.qkv(keys_in), "b j (three h k) -> three b h j k", three=3, h=self.n_heads)
        q, k, v = qkv[0, :, :, c:], qkv[1], qkv[2]  # queries of the t new positions; the c cached ones are unused
        cos, sin = rope
        q, k = rotate(q, cos[c:], sin[c:]), rotate(k, cos, sin)
        dropout = self.dropout if self.training else 0.0
        if return_weights:
            y, weights = explicit_attention(q, k, v, causal, mask, dropout)
        else:
            is_causal = causal and mask is None
            y = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=dropout, is_causal=is_causal)
            weights = None
        return self.out(rearrange(y, "b h t k -> b t (h k)")), weights


def explicit_attention(q, k, v, causal, mask, dropout):
    """Attention written out: `q (b, h, i, k)`, `k, v (b, h, j, k)` -> `(b, h, i, k)` and weights `(b, h, i, j)`.

    Same function as the fused kernel (a test checks it), slower, but the weights can be looked at.
    """
    scores = torch.einsum("b h i k, b h j k -> b h i j", q, k) / math.sqrt(q.shape[-1])
    if mask is None and causal:
        mask = torch.ones(scores.shape[-2:], dtype=torch.bool, device=q.device).tril()
    if mask is not None:
        scores = scores.masked_fill(~mask, float("-inf"))
    weights = scores.softmax(dim=-1)
    y = torch.einsum("b h i j, b h j k -> b h i k", F.dropout(weights, dropout), v)
    return y, weights


class FeedForward(nn.Module):
    """Position-wise MLP: d -> d_ff -> d with a GELU."""

    def __init__(self, d_model: int, d_ff: int, dropout: float):
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(d_model, d_ff), nn.GELU(), nn.Linear(d_ff, d_model), nn.Dropout(dropout)
        )

    def forward(self, x):
        return self.net(x)


class Block(nn.Module):
    """Pre-norm Transformer block: x + attention(norm(x)), then x + feed_forward(norm(x))."""

    def __init__(self, d_model: int, n_heads: int, head_width: int, d_ff: int, dropout: float):
        super().__init__()
        self.norm1 = nn.LayerNorm(d_model)
        self.attn = Attention(d_model, n_heads, head_width, dropout)
        self.norm2 = nn.LayerNorm(d_model)
        self.ff = FeedForward(d_model, d_ff, dropout)
        self.drop = nn.Dropout(dropout)

    def forward(self, x, rope, causal=True, mask=None, past=None, return_weights=False):
        """`x (b, t, d)` -> `(b, t, d)`, attention weights or None. `past (b, c, d)` is this layer's cache input."""
        past = None if past is None else self.norm1(past)
        a, weights = self.attn(self.norm1(x), rope, causal, mask, past, return_weights)
        x = x + self.drop(a)
        return x + self.ff(self.norm2(x)), weights
