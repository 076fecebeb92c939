"""Attention masks, as boolean matrices `(i, j)`: True where query i may attend to key j.

The models never need these on their fast path: a plain causal mask over the decoder input
`[read_mem | tokens | write_mem]` already gives the paper's semantics (RMT paper, Sec. 3, Fig. 1b), and
`scaled_dot_product_attention(is_causal=True)` applies it without building a matrix. They exist to be drawn,
tested and varied in the notebooks, and for the Transformer-XL cache, whose mask is not square.
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
    """`(m + n + m, m + n + m)`: the decoder RMT's mask over `[read_mem | tokens | write_mem]`.

    It is just the causal mask: tokens see the read memory and earlier tokens, the write memory sees
    everything (RMT paper, Sec. 3: "write memory tokens ... attend to all the segment tokens").
    """
    return causal(m + n + m)


def rmt_encoder(m: int, n: int) -> torch.Tensor:
    """`(m + n, m + n)`: the encoder form `[mem | tokens]`, every position sees every position."""
    return bidirectional(m + n)
