"""The models the RMT paper compares with (Sec. 4, 5), on the same backbone and the same call.

Each differs from RMT only in what crosses the segment boundary:
    SegmentTransformer      nothing: every segment alone (the floor)
    FullTransformer         no boundary: the whole sequence is one segment (the ceiling)
    TransformerXL           each layer's hidden states of the previous segment, gradient-stopped (Dai et al., 2019)
    MemTransformerXL        the XL cache plus m learned memory tokens in every segment (the paper's MemTr-XL)
    MemoryTokenTransformer  nothing, though every segment has the RMT's memory slots: extra tokens without
                            recurrence, the control that tells the two apart (the paper's MT)
    RecurrentMemoryTransformerXL   the RMT's memory and an XL cache both (the paper's RMT added to Tr-XL)
"""

import torch
from einops import repeat
from torch import nn

from . import masks
from .config import ModelConfig
from .recurrence import SegmentRecurrence
from .rmt import RecurrentMemoryTransformer
from .validation import check_state


def next_cache(cache, layer_inputs, c: int) -> torch.Tensor:
    """Keep the last c positions of `[cache | this segment]` per layer, without gradient: `(l, b, c, d)`.

    cache: `(l, b, c_old, d)` or None; layer_inputs: l tensors `(b, t, d)`, the input of each layer.
    """
    new = torch.stack(layer_inputs).detach()  # (l, b, t, d)
    if cache is not None:
        new = torch.cat([cache, new], dim=2)
    return new[:, :, -c:]


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
        return next_cache(cache, layer_inputs, self.cfg.cache_len)


class MemTransformerXL(TransformerXL):
    """MemTr-XL: Transformer-XL whose segments start with m learned memory tokens `[mem | tokens]`.

    Unlike RMT the memory tokens are the same parameters in every segment: they are not written and
    carried on (Burtsev & Sapunov, 2020); only the XL cache crosses segments. The mask is causal and the memory
    rows read the cache (the defaults); cfg.memory_mask="block" with cfg.memory_reads_cache=False is the
    authors' code: the memory block sees itself whole and not the cache (`masks.memxl_with_cache`).
    """

    def __init__(self, cfg: ModelConfig):
        super().__init__(cfg)
        self.memory = nn.Parameter(torch.randn(cfg.num_mem_tokens, cfg.d_model) * 0.02)

    def step(self, tokens, cache, return_attention=False):
        (b, n), m, cfg = tokens.shape, self.cfg.num_mem_tokens, self.cfg
        c = 0 if cache is None else cache.shape[2]
        authors = cfg.memory_mask == "block" or not cfg.memory_reads_cache
        mask = masks.memxl_with_cache(m, n, c, cfg.memory_mask, cfg.memory_reads_cache) if authors else None
        x = torch.cat([repeat(self.memory, "m d -> b m d", b=b), self.backbone.embed(tokens)], dim=1)
        h, layer_inputs, attn = self.backbone(x, cache=cache, mask=mask, return_attention=return_attention)
        tokens_only = [z[:, m:] for z in layer_inputs]  # cache the tokens' states, not the memory's
        return h[:, m:], self.next_cache(cache, tokens_only), attn


class MemoryTokenTransformer(RecurrentMemoryTransformer):
    """Memory tokens that are not carried: the RMT's memory slots in every segment, no recurrence (the paper's MT).

    The input is the RMT's `[mem | tokens | mem]`, but each segment starts from the learned initial memory, so
    nothing crosses a boundary (LM-RMT's `mem_at_end=False` runs). With the RMT's sizes and cost, it isolates
    what the recurrence adds to the extra tokens.
    """

    def step(self, tokens, memory, return_attention=False):
        return super().step(tokens, self.initial_state(tokens.shape[0]), return_attention)


class RecurrentMemoryTransformerXL(RecurrentMemoryTransformer):
    """RMT plus a Transformer-XL cache: recurrent memory and the previous segment's hidden states (Tr-XL + RMT).

    Each layer also attends to its own inputs at the previous segment's tokens (LM-RMT's `num_mem_tokens` with
    `mem_len`). state: `(memory (b, m, d), cache (l, b, c, d) or None)`. Tokens see the whole cache; the memory
    slots see it only with cfg.memory_reads_cache (LM-RMT's `read_mem_from_cache`). Only the tokens' states are
    cached, as in MemTransformerXL (the authors' code caches the memory slots' too).
    """

    def __init__(self, cfg: ModelConfig):
        super().__init__(cfg)
        if cfg.memory_form != "decoder":
            raise ValueError("RecurrentMemoryTransformerXL is a decoder: its cache holds the tokens before each one")

    def initial_state(self, batch_size: int) -> tuple:
        return super().initial_state(batch_size), None

    def check_state(self, state, batch_size: int) -> None:
        if not (isinstance(state, tuple) and len(state) == 2):
            raise TypeError("the state of an RMT with an XL cache is a pair (memory (b, m, d), cache (l, b, c, d) "
                            f"or None), got {type(state).__name__}")
        memory, cache = state
        super().check_state(memory, batch_size)
        if cache is not None:
            cfg = self.cfg
            check_state(cache, (cfg.n_layers, batch_size, cache.shape[2], cfg.d_model), "(l, b, c, d)")

    def step(self, tokens, state, return_attention=False):
        (memory, cache), cfg = state, self.cfg
        m, n = memory.shape[1], tokens.shape[1]
        c = 0 if cache is None else cache.shape[2]
        mask = (masks.rmt_with_cache(m, n, c, cfg.memory_mask, cfg.memory_reads_cache) if c
                else masks.rmt_decoder_mask(m, n, cfg.memory_mask))
        x = torch.cat([memory, self.backbone.embed(tokens), memory], dim=1)  # (b, m + n + m, d)
        h, layer_inputs, attn = self.backbone(x, cache=cache, mask=mask, return_attention=return_attention)
        tokens_only = [z[:, m : m + n] for z in layer_inputs]
        return h[:, m : m + n], (h[:, m + n :], next_cache(cache, tokens_only, cfg.cache_len)), attn
