"""The models the RMT paper compares with (Sec. 4), on the same backbone and the same call.

Each differs from RMT only in what crosses the segment boundary:
    SegmentTransformer   nothing: every segment alone (the floor)
    FullTransformer      no boundary: the whole sequence is one segment (the ceiling)
    TransformerXL        each layer's hidden states of the previous segment, gradient-stopped (Dai et al., 2019)
    MemTransformerXL     the XL cache plus m learned memory tokens in every segment (the paper's MemTr-XL)
"""

import torch
from einops import repeat
from torch import nn

from .config import ModelConfig
from .recurrence import SegmentRecurrence
from .validation import check_state


class SegmentTransformer(SegmentRecurrence):
    """Each segment is processed on its own: no information crosses a segment boundary."""

    def step(self, tokens, state, return_attention=False):
        h, _, attn = self.backbone(self.backbone.embed(tokens), return_attention=return_attention)
        return h, None, attn


class FullTransformer(SegmentTransformer):
    """The whole sequence as one context: what segment-level recurrence tries to match, at quadratic cost."""

    def segment_len(self, s: int) -> int:
        return s


class TransformerXL(SegmentRecurrence):
    """Transformer-XL: each layer also attends to a cache of the previous segment's hidden states.

    The cache `(l, b, c, d)` holds, per layer, the inputs of that layer at the last c positions; it is
    detached, so no gradient crosses the boundary (Dai et al., 2019, Sec. 3.2: "stop-gradient").
    Rotary positions make the cache's positions relative, as XL's relative encoding does.
    """

    def initial_state(self, batch_size: int) -> None:
        return None  # no cache before the first segment

    def check_state(self, state, batch_size: int) -> None:
        cfg = self.cfg
        check_state(state, (cfg.n_layers, batch_size, state.shape[2], cfg.d_model), "(l, b, c, d)")

    def step(self, tokens, cache, return_attention=False):
        h, layer_inputs, attn = self.backbone(self.backbone.embed(tokens), cache=cache,
                                              return_attention=return_attention)
        return h, self.next_cache(cache, layer_inputs), attn

    def next_cache(self, cache, layer_inputs) -> torch.Tensor:
        """Keep the last c positions of `[cache | this segment]` per layer, without gradient: `(l, b, c, d)`."""
        new = torch.stack(layer_inputs).detach()  # (l, b, t, d)
        if cache is not None:
            new = torch.cat([cache, new], dim=2)
        return new[:, :, -self.cfg.cache_len :]


class MemTransformerXL(TransformerXL):
    """MemTr-XL: Transformer-XL whose segments start with m learned memory tokens `[mem | tokens]`.

    Unlike RMT the memory tokens are the same parameters in every segment: they are not written and
    carried on (Burtsev & Sapunov, 2020); only the XL cache crosses segments.
    """

    def __init__(self, cfg: ModelConfig):
        super().__init__(cfg)
        self.memory = nn.Parameter(torch.randn(cfg.num_mem_tokens, cfg.d_model) * 0.02)

    def step(self, tokens, cache, return_attention=False):
        b, m = tokens.shape[0], self.cfg.num_mem_tokens
        x = torch.cat([repeat(self.memory, "m d -> b m d", b=b), self.backbone.embed(tokens)], dim=1)
        h, layer_inputs, attn = self.backbone(x, cache=cache, return_attention=return_attention)
        tokens_only = [z[:, m:] for z in layer_inputs]  # cache the tokens' states, not the memory's
        return h[:, m:], self.next_cache(cache, tokens_only), attn
