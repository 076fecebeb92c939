"""The memory hint: a training aid that tells the RMT's memory to hold the first segment.

Not in the RMT paper. On associative retrieval across segments the RMT can sit on a plateau, "a bag of values":
it knows which values were stored but not which key goes with which (2 pairs: 0.75 accuracy, 4 pairs: ~0.5), and
whether it leaves the plateau within a few thousand steps depends on the seed. The hint makes the escape come
early for every seed (the benchmarks' records say how often and how fast).

Two auxiliary losses on the memory after the first segment, `memory (b, m, d)`, in training only:
    copy      read through the model's (tied) vocabulary head, slot j must predict token j of the first
              segment: the memory becomes a copy of the segment, token-like vectors the next segment reads
              as if they were tokens
    previous  through a separate linear probe (d -> v, owned by the hint), slot j (j >= 1) must predict
              token j - 1: a value's slot also carries its key, so a query needs a single lookup

    hint loss = copy_weight * CE(head(memory), tokens[:, :m]) + previous_weight * CE(probe(memory[:, 1:]),
                tokens[:, :m-1])

It uses no answers, only the first segment's own tokens, and the evaluated model is a plain RMT (the probe is
not part of it). But it is task-aware, say so when you use it: it tells the memory to hold the first segment
(where associative retrieval puts its pairs) and that a token's predecessor matters (a key before its value).
"""

import torch
import torch.nn.functional as F
from torch import nn

from minirmt.model.rmt import RecurrentMemoryTransformer


def check_hint_model(model: nn.Module) -> None:
    """Raise a ValueError unless `model` can take the hint: an RMT whose m slots fit one segment (2 <= m <= n)."""
    if type(model) is not RecurrentMemoryTransformer:
        raise ValueError(f"the memory hint trains the RMT's memory; {type(model).__name__} carries none "
                         f"(use the rmt model, or turn the hint off)")
    m, n = model.cfg.num_mem_tokens, model.cfg.segment_len
    if not 2 <= m <= n:
        raise ValueError(f"the memory hint copies a segment of n = {n} tokens into m = {m} memory slots; "
                         f"it needs 2 <= m <= n (change the sizes, or turn the hint off)")


class MemoryHint(nn.Module):
    """The hint's two losses for `model` (an RMT); owns the previous-token probe, a `Linear(d, v)`.

    copy_weight, previous_weight   the weights of the two losses (1 and 1: bench recipe `copyprev`)
    generator                      draws the probe's initial weights (PyTorch's Linear default,
                                   uniform in +-1/sqrt(d)); None: PyTorch's global generator
    """

    def __init__(self, model: nn.Module, copy_weight: float = 1.0, previous_weight: float = 1.0,
                 generator: torch.Generator | None = None):
        super().__init__()
        check_hint_model(model)
        d, v = model.cfg.d_model, model.cfg.vocab_size
        self.copy_weight, self.previous_weight = copy_weight, previous_weight
        self.previous = nn.Linear(d, v, bias=False)  # slot j -> token j - 1
        with torch.no_grad():
            nn.init.uniform_(self.previous.weight, -d**-0.5, d**-0.5, generator=generator)

    def forward(self, head: nn.Module, memory: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
        """The hint loss, a scalar.

        head    the model's vocabulary head (d -> v), e.g. `model.backbone.head`
        memory  `(b, m, d)`, the memory after the first segment: `ModelOutput.memories[0]`
        tokens  `(b, s)`, the batch's token ids; the first m are the first segment's (m <= n)
        """
        m = memory.shape[1]
        copy = head(memory)  # (b, m, v): slot j says token j
        previous = self.previous(memory[:, 1:])  # (b, m - 1, v): slot j says token j - 1
        copy_loss = F.cross_entropy(copy.flatten(0, 1).float(), tokens[:, :m].flatten())
        previous_loss = F.cross_entropy(previous.flatten(0, 1).float(), tokens[:, : m - 1].flatten())
        return self.copy_weight * copy_loss + self.previous_weight * previous_loss
