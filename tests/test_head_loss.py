"""The head's cross-entropy with gradients computed in the forward pass (memory_flat)."""

import torch
import torch.nn.functional as F

from minirmt.model.head_loss import head_loss_with_gradient


def test_loss_and_gradients_equal_the_plain_cross_entropy_with_ignored_targets():
    torch.manual_seed(0)
    hidden, weight = torch.randn(6, 4, requires_grad=True), torch.randn(10, 4, requires_grad=True)
    targets = torch.tensor([3, -100, 0, 9, -100, 3])
    plain = F.cross_entropy(hidden @ weight.T, targets, reduction="sum")
    expected = torch.autograd.grad(2.5 * plain, (hidden, weight))
    fused = head_loss_with_gradient(hidden, weight, targets)
    torch.testing.assert_close(fused, plain)
    for got, want in zip(torch.autograd.grad(2.5 * fused, (hidden, weight)), expected, strict=True):
        torch.testing.assert_close(got, want)  # the backward pass scales the kept gradients by 2.5


def test_no_logits_are_kept_for_the_backward_pass():
    hidden, weight = torch.randn(6, 4, requires_grad=True), torch.randn(10, 4, requires_grad=True)
    kept = []
    with torch.autograd.graph.saved_tensors_hooks(lambda t: kept.append(tuple(t.shape)) or t, lambda t: t):
        head_loss_with_gradient(hidden, weight, torch.tensor([1, 2, 3, 4, 5, 6]))
    assert sorted(kept) == [(6, 4), (10, 4)]  # the gradients of hidden and weight, not the (6, 10) logits


def test_gradient_dtypes_follow_the_inputs_under_bf16():
    hidden = torch.randn(6, 4, dtype=torch.bfloat16, requires_grad=True)
    weight = torch.randn(10, 4, requires_grad=True)  # an fp32 parameter, as under autocast
    head_loss_with_gradient(hidden, weight, torch.tensor([1, 2, 3, 4, 5, 6])).backward()
    assert hidden.grad.dtype == torch.bfloat16 and weight.grad.dtype == torch.float32
