"""Attention masks, as boolean matrices `(i, j)`: True where query i may attend to key j.

Two masks over the decoder input `[read_mem | tokens | write_mem]`, chosen by `ModelConfig.memory_mask`:

    causal  the plain causal mask (the default, as in the authors' Hugging Face wrapper): tokens see the read
            slots and earlier tokens, the write slots see the whole segment, and inside each memory block slot
            j sees slots <= j. `scaled_dot_product_attention(is_causal=True)` applies it without a matrix.
    block   the mask of the paper's own code (LM-RMT `mem_transformer.py`; RMT paper, Sec. 3: "we allow all
            memory tokens in the read/write block to access all other tokens in the same block"): the same, but
            each memory block sees itself fully. It is passed to the fused kernel as an explicit matrix.

The others are drawn and varied in the notebooks, and serve the Transformer-XL caches, whose masks are not square.
"""

import torch


def causal(t: int) -> torch.Tensor:
    """`(t, t)`: position i sees positions 0..i (a decoder)."""
    return torch.ones(t, t, dtype=torch.bool).tril()


def bidirectional(t: int) -> torch.Tensor:
    """`(t, t)`: every position sees every position (an encoder)."""
    return torch.ones(t, t, dtype=torch.bool)


def with_cache(t: int, c: int) -> torch.Tensor:
    """`(t, c + t)`: causal over t new positions that also see all c cached ones before them (Transformer-XL)."""
    return torch.ones(t, c + t, dtype=torch.bool).tril(diagonal=c)


def rmt_decoder(m: int, n: int) -> torch.Tensor:
    """`(m + n + m, m + n + m)`: the decoder RMT's default mask over `[read_mem | tokens | write_mem]`, causal."""
    return causal(m + n + m)


def rmt_decoder_block(m: int, n: int) -> torch.Tensor:
    """`(m + n + m, m + n + m)`: the causal mask, with each memory block bidirectional inside itself."""
    mask = causal(m + n + m)
    mask[:m, :m] = True  # the read block sees all of itself (and still nothing after it)
    mask[m + n :, m + n :] = True  # the write block sees all of itself
    return mask


def rmt_decoder_mask(m: int, n: int, kind: str) -> torch.Tensor | None:
    """The decoder mask of `ModelConfig.memory_mask` ("causal" or "block"); None for causal, which the fused
    kernel applies without a matrix."""
    return None if kind == "causal" else rmt_decoder_block(m, n)


def rmt_with_cache(m: int, n: int, c: int, kind: str = "causal", memory_reads_cache: bool = True) -> torch.Tensor:
    """`(2m + n, c + 2m + n)`: an RMT segment `[read | tokens | write]` that also attends to c cached positions
    of the previous segment (the paper's RMT with a Transformer-XL cache). Tokens always see the whole cache; the
    memory slots see it only if `memory_reads_cache` (LM-RMT's `read_mem_from_cache`)."""
    t = m + n + m
    inside = rmt_decoder_block(m, n) if kind == "block" else causal(t)
    mask = torch.cat([torch.ones(t, c, dtype=torch.bool), inside], dim=1)
    if not memory_reads_cache:
        mask[:m, :c] = False
        mask[m + n :, :c] = False
    return mask


def memxl_with_cache(m: int, n: int, c: int, kind: str = "causal", memory_reads_cache: bool = True) -> torch.Tensor:
    """`(m + n, c + m + n)`: a MemTr-XL segment `[mem | tokens]` after c cached positions. Causal, as the default;
    with `kind="block"` the memory block sees itself fully, and without `memory_reads_cache` the memory rows do
    not see the cache: both together are the authors' code (LM-RMT `mem_transformer.py`)."""
    t = m + n
    mask = with_cache(t, c)
    if kind == "block":
        mask[:m, c : c + m] = True
    if not memory_reads_cache:
        mask[:m, :c] = False
    return mask


def rmt_encoder(m: int, n: int) -> torch.Tensor:
    """`(m + n, m + n)`: the encoder form `[mem | tokens]`, every position sees every position."""
    return bidirectional(m + n)
