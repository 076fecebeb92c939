"""A proposed change to minirmt/layers.py, measured here before it is made: one q/k/v projection and one
rotary call in the model's dtype.

Today `Attention` projects q and (k, v) separately and rotates q and k one after the other in float32
(`rotate`: cast, four half-width products, a subtraction, an addition, a concatenation, a cast back, for each).
The proposal rotates q and k together, in the activations' dtype (bf16 under autocast), as
x cos + rotate_half(x) sin with full-width cos/sin: fewer, smaller elementwise passes, which matter on a GPU
in eager mode (torch.compile fuses either form). The projection weights are the same numbers, stacked.

`use_proposed_attention(model)` swaps the proposed modules into a minirmt model in place, keeping its
weights, so gpu_throughput.py can time both in one run.
"""

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import nn

from minirmt.layers import explicit_attention


class ProposedRotary(nn.Module):
    """Rotary angles for positions 0..t-1 as full-width `(t, k)` cosines and sines (each angle twice)."""

    def __init__(self, inv_freq: torch.Tensor):
        super().__init__()
        self.register_buffer("inv_freq", inv_freq, persistent=False)

    def forward(self, t: int) -> tuple[torch.Tensor, torch.Tensor]:
        positions = torch.arange(t, device=self.inv_freq.device, dtype=torch.float32)
        angles = torch.outer(positions, self.inv_freq).repeat(1, 2)
        return angles.cos(), angles.sin()


def rotate(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Rotate `x (..., t, k)` by its positions' angles (`cos`, `sin`: `(t, k)`), in x's dtype.

    Feature i of the first half and feature i of the second half form one pair:
    (x1, x2) -> (x1 cos - x2 sin, x2 cos + x1 sin).
    """
    x1, x2 = x.chunk(2, dim=-1)
    return x * cos.to(x.dtype) + torch.cat([-x2, x1], dim=-1) * sin.to(x.dtype)


class ProposedAttention(nn.Module):
    """minirmt's `Attention` with one `qkv` projection and q, k rotated together (same call, same weights)."""

    def __init__(self, d_model: int, n_heads: int, dropout: float):
        super().__init__()
        self.n_heads = n_heads
        self.qkv = nn.Linear(d_model, 3 * d_model, bias=False)
        self.out = nn.Linear(d_model, d_model, bias=False)
        self.dropout = dropout

    def forward(self, x, rope, causal=True, mask=None, past=None, return_weights=False):
        """`x (b, t, d)` -> `(b, t, d)` and the weights `(b, h, t, c + t)` (or None); rope: `(c + t, k)` each."""
        t = x.shape[1]
        keys_in = x if past is None else torch.cat([past, x], dim=1)  # (b, c + t, d)
        qkv = rearrange(self.qkv(keys_in), "b j (three h k) -> three b h j k", three=3, h=self.n_heads)
        qk, v = qkv.split([2, 1])  # (2, b, h, c + t, k), (1, b, h, c + t, k)
        q, k = rotate(qk, *rope)  # queries and keys rotated in one go
        q, v = q[:, :, -t:], v[0]  # queries only for the t new positions
        dropout = self.dropout if self.training else 0.0
        if return_weights:
            y, weights = explicit_attention(q, k, v, causal, mask, dropout)
        else:
            is_causal = causal and mask is None
            y = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=dropout, is_causal=is_causal)
            weights = None
        return self.out(rearrange(y, "b h t k -> b t (h k)")), weights


def use_proposed_attention(model: nn.Module) -> nn.Module:
    """Swap `ProposedAttention` and `ProposedRotary` into a minirmt model, in place, keeping its weights.

    A model whose attention already has one `qkv` projection (the proposal applied to minirmt) is left as is.
    """
    backbone = model.backbone
    if all(hasattr(block.attn, "qkv") for block in backbone.blocks):
        return model
    backbone.rotary = ProposedRotary(backbone.rotary.inv_freq)
    for block in backbone.blocks:
        old = block.attn
        d, h = old.out.weight.shape[0], old.n_heads
        new = ProposedAttention(d, h, old.dropout).to(old.out.weight.device)
        with torch.no_grad():
            new.qkv.weight.copy_(torch.cat([old.query.weight, old.key_value.weight]))
            new.out.weight.copy_(old.out.weight)
        block.attn = new
    return model
