"""How answers are scored: per-token accuracy on the answer positions, and exact match of whole sequences.

A task's answers are next-token targets `(b, s)`, -100 wherever nothing is asked, or one class label per
sequence `(b,)` (classify). Both scores look only at what is asked. Every evaluation, checker and notebook scores
answers with these functions.
"""

import torch

from minirmt.model.validation import IGNORE_INDEX


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


@torch.no_grad()
def free_running_predictions(model, tokens: torch.Tensor, targets: torch.Tensor,
                             across_segments: bool = True) -> torch.Tensor:
    """The model's greedy answers `(b, s)` when each answer it gives is fed back in place of the true one.

    Where an answer is read at position t and then fed in at t + 1 (`tokens[t + 1] == targets[t]`: copy, reverse,
    retrieval), the model's own prediction replaces it, as when it writes the answer out. The sequence is read
    segment by segment with the state carried; inside a segment the prefix is re-run for every answer. With no
    answer fed back (mqar) this equals teacher forcing. `across_segments=False` is the authors' scoring of the
    paper's tasks (LM-RMT `train_synthetic.py`): an answer is fed back inside its segment only, and every segment
    starts from the true token.
    """
    was_training = model.training
    model.eval()
    tokens, n = tokens.clone(), model.segment_len(tokens.shape[1])
    asked = targets != IGNORE_INDEX  # (b, s)
    fed = torch.zeros_like(asked)
    fed[:, 1:] = asked[:, :-1] & (tokens[:, 1:] == targets[:, :-1])  # (b, s): inputs that are given answers
    state, s = None, tokens.shape[1]
    for start in range(0, s, n):
        end = min(start + n, s)
        for t in range(start, end - 1):  # an answer read at t feeds position t + 1 of this segment
            if fed[:, t + 1].any():
                logits = model(tokens[:, start : t + 1], memory=state).logits[:, -1]  # (b, v)
                tokens[:, t + 1] = torch.where(fed[:, t + 1], logits.argmax(-1), tokens[:, t + 1])
        out = model(tokens[:, start:end], memory=state)
        if across_segments and end < s and fed[:, end].any():  # the last answer feeds the next segment's first
            tokens[:, end] = torch.where(fed[:, end], out.logits[:, -1].argmax(-1), tokens[:, end])
        state = out.memory
    predictions = model(tokens).logits.argmax(-1)
    model.train(was_training)
    return predictions


def free_running_accuracy(model, tokens: torch.Tensor, targets: torch.Tensor,
                          across_segments: bool = True) -> tuple[float, float]:
    """(accuracy, exact match) of `free_running_predictions`: the answers as the model writes them out."""
    predictions = free_running_predictions(model, tokens, targets, across_segments)
    return accuracy_and_exact_match(prediction_counts(predictions, targets))
