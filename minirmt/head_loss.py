"""The vocabulary head and its cross-entropy, with their gradients computed in the forward pass (memory_flat).

With `memory_flat` (recurrence.py) a segment's activations are dropped after its forward pass and recomputed in
the backward pass. The head `(d -> v)` and the cross-entropy over the vocabulary are the largest part of that
recomputation: at v = 32,768 and d = 512 the head's matmul is a third of a segment's arithmetic, and its fp32
logits `(b * n, v)` are the largest tensor of the step. But the loss is a sum that nothing downstream
transforms, so its gradient is known in the forward pass up to one scalar factor (what the caller does with the
sum: divide by the number of targets). This function computes the loss and both gradients at once, keeps
the two gradients `(b * n, d)` and `(v, d)` instead of the logits, and scales them in the backward pass: the
head is never recomputed. The same trick is behind the "fused linear cross-entropy" of LLM training kernels.
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
        logits = (hidden @ w.T).float()  # (N, v)
        keep = targets != IGNORE_INDEX  # (N,)
        target = torch.where(keep, targets, 0)[:, None]  # (N, 1): any valid id where ignored
        log_norm = logits.logsumexp(dim=-1, keepdim=True)  # (N, 1)
        loss = ((log_norm - logits.gather(1, target)).squeeze(1) * keep).sum()
        # d loss / d logits = softmax - one-hot(target), zero on ignored rows; computed in place of the logits
        grad_logits = logits.sub_(log_norm).exp_()  # (N, v)
        grad_logits.scatter_add_(1, target, -torch.ones_like(target, dtype=grad_logits.dtype))
        grad_logits = (grad_logits * keep[:, None]).to(hidden.dtype)
        ctx.save_for_backward(grad_logits @ w, grad_logits.T @ hidden)  # (N, d), (v, d)
        ctx.weight_dtype = weight.dtype
        return loss

    @staticmethod
    def backward(ctx, grad_loss):
        grad_hidden, grad_weight = ctx.saved_tensors
        return grad_hidden * grad_loss, (grad_weight * grad_loss).to(ctx.weight_dtype), None
