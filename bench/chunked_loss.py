"""A cross-entropy that never holds a segment's fp32 logits: an experiment, and a proposal for recurrence.py.

minirmt's loss (recurrence.py) computes each segment's logits `(b, n, v)`, casts them to fp32 and keeps
the log-softmax for the backward pass: with b = 16, n = 512, v = 32,768 that is 1 GiB a segment. Here the
head and the cross-entropy run on chunks of rows, and each chunk is recomputed in the backward pass
(activation checkpointing), so at most one chunk of logits exists at a time; the price is one more head
matmul per token.
"""

import torch
import torch.nn.functional as F
from torch.utils.checkpoint import checkpoint

import minirmt
from minirmt.validation import IGNORE_INDEX


def chunked_cross_entropy(hidden: torch.Tensor, weight: torch.Tensor, targets: torch.Tensor,
                          chunk: int = 2048) -> torch.Tensor:
    """Summed cross-entropy of `hidden (N, d)` through the head `weight (v, d)` against `targets (N,)`.

    Positions whose target is -100 add nothing. Equal to
    `F.cross_entropy(hidden @ weight.T, targets, reduction="sum")`, in pieces of `chunk` rows.
    """
    total = hidden.new_zeros((), dtype=torch.float32)
    for h, y in zip(hidden.split(chunk), targets.split(chunk)):
        total = total + checkpoint(_summed_cross_entropy, h, weight, y, use_reentrant=False)
    return total


def _summed_cross_entropy(h, weight, y):
    return F.cross_entropy(F.linear(h, weight).float(), y, ignore_index=IGNORE_INDEX, reduction="sum")


class ChunkedLossRMT(minirmt.RecurrentMemoryTransformer):
    """minirmt's RMT whose training loss (targets given, return_logits=False) uses `chunked_cross_entropy`.

    It overrides `SegmentRecurrence._segment_with_loss`, a private method: this is a benchmark of the idea.
    """

    chunk = 2048

    def _segment_with_loss(self, x, y, memory, return_attention, return_logits):
        if y is None or return_logits:
            return super()._segment_with_loss(x, y, memory, return_attention, return_logits)
        hidden, memory, attn = self.step(x, memory, return_attention)  # (b, n, d), (b, m, d)
        loss_sum = chunked_cross_entropy(hidden.flatten(0, 1), self.backbone.head.weight, y.flatten(), self.chunk)
        return None, loss_sum, (y != IGNORE_INDEX).sum(), memory, attn
