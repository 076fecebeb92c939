"""The vocabulary head and its cross-entropy, with their gradients computed in the forward pass (memory_flat).

With `memory_flat` (recurrence.py) a segment's activations are dropped after its forward pass and recomputed in
the backward pass. The head `(d -> v)` and the cross-entropy over the vocabulary are the largest part of that
recomputation when the vocabulary is large, and the fp32 logits `(b * n, v)` are the largest tensor of the step.
But the loss is a sum that nothing downstream transforms, so its gradient is known in the forward pass up to
one scalar factor (what the caller does with the sum: divide by the number of targets). This function computes
the loss and both gradients at once, keeps the two gradients `(b * n, d)` and `(v, d)` (in the activations'
dtype) instead of the logits, and scales them in the backward pass: the head is never recomputed. The price:
those two gradients are kept per segment, where the recomputation keeps nothing. The same trick is behind the
"fused linear cross-entropy" of LLM training kernels.
"""

import torch

from .validation import IGNORE_INDEX


def head_loss_with_gradient(hidden: torch.Tensor, weight: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Summed cross-entropy of the head `hidden (N, d) @ weight (v, d).T` against `targets (N,)` (-100: ignored).

    Equal to `F.cross_entropy(hidden @ weight.T, targets, reduction="sum")`, with the same gradients for
    `hidden` and `weight`; what autograd keeps for the backward pass is those gradients, not the logits.
    """
    return _HeadLossWithGradient.apply(hidden, weight, targets)


class _HeadLossWithGradient(torch.autograd.Function):
    @staticmethod
    def forward(ctx, hidden, weight, targets):
        w = weight.to(hidden.dtype)  # (v, d): the head runs in the activations' dtype (bf16 under autocast)
        log_probs = torch.log_softmax(hidden @ w.T, dim=-1, dtype=torch.float32)  # (N, v)
        keep = (targets != IGNORE_INDEX)[:, None]  # (N, 1)
        target = torch.where(keep, targets[:, None], 0)  # (N, 1): any valid id where ignored
        loss = -(log_probs.gather(1, target) * keep).sum()
        # d loss / d logits = softmax - one-hot(target), computed in place of the log-probabilities
        grad_logits = log_probs.exp_().scatter_add_(1, target, -torch.ones_like(log_probs[:, :1]))
        grad_logits = grad_logits.to(hidden.dtype)
        kept = hidden * keep  # (N, d): ignored rows add nothing to either gradient
        ctx.save_for_backward((grad_logits @ w) * keep, grad_logits.T @ kept)  # (N, d), (v, d)
        ctx.weight_dtype = weight.dtype
        return loss

    @staticmethod
    def backward(ctx, grad_loss):
        grad_hidden, grad_weight = ctx.saved_tensors
        return grad_hidden * grad_loss, (grad_weight * grad_loss).to(ctx.weight_dtype), None
