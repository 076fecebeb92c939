"""How answers are scored: per-token accuracy on the answer positions, and exact match of whole sequences.

A task's answers are next-token targets `(b, s)`, -100 wherever nothing is asked, or one class label per
sequence `(b,)` (classify). Both scores look only at what is asked. Every evaluation, checker and notebook scores
answers with these functions.
"""

import torch

from .validation import IGNORE_INDEX


def supervise(answers: torch.Tensor) -> dict:
    """How a batch's answers are given to a model: `targets=` for `(b, s)`, `labels=` for a classifier's `(b,)`."""
    return {"labels" if answers.dim() == 1 else "targets": answers}


def answer_counts(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """`(4,)`: right answers, answers, sequences with every answer right, sequences, from the greedy predictions
    of `logits (b, s, v)` against `targets (b, s)` (or a classifier's `(b, y)` against labels `(b,)`). Counts stay
    on the device (no wait), so they can be summed."""
    if targets.dim() == 1:  # one label per sequence: a sequence of one answer
        logits, targets = logits[:, None], targets[:, None]
    return prediction_counts(logits.argmax(dim=-1), targets)


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
