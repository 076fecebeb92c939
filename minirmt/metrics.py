"""How answers are scored: per-token accuracy on the answer positions, and exact match of whole sequences.

A task's targets are -100 wherever nothing is asked (tasks.py), so both scores look only at the positions
whose target is an id. Every evaluation, checker and notebook scores answers with these functions.
"""

import torch

from .validation import IGNORE_INDEX


def answer_counts(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """`(4,)`: right answers, answers, sequences with every answer right, sequences, from the greedy predictions
    of `logits (b, s, v)` against `targets (b, s)`. Counts stay on the device (no wait), so they can be summed."""
    predictions = logits.argmax(dim=-1)  # (b, s)
    return prediction_counts(predictions, targets)


def prediction_counts(predictions: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """`answer_counts` of ids already predicted, `predictions (b, s)` against `targets (b, s)`."""
    asked = targets != IGNORE_INDEX  # (b, s)
    right = (predictions == targets) & asked
    exact = right.sum(dim=1) == asked.sum(dim=1)  # (b,)
    return torch.stack([right.sum(), asked.sum(), exact.sum(), torch.tensor(targets.shape[0], device=targets.device)])


def accuracy_and_exact_match(counts: torch.Tensor) -> tuple[float, float]:
    """(accuracy, exact match) of summed `answer_counts`: right / answers, exact sequences / sequences."""
    right, asked, exact, sequences = counts.double().tolist()
    return right / max(asked, 1.0), exact / max(sequences, 1.0)


def answer_accuracy(logits: torch.Tensor, targets: torch.Tensor) -> tuple[float, float]:
    """Per-token accuracy on the answers (targets != -100) and exact match (the fraction of sequences whose
    every answer is right) of `logits (b, s, v)` against `targets (b, s)`."""
    return accuracy_and_exact_match(answer_counts(logits, targets))
