"""Linear probes: what a single linear map can read out of a hidden state (Alain & Bengio, 2016).

Closed-form ridge regression onto one-hot labels:

    X = [features | 1]   (N, f + 1)      Y = one_hot(labels)   (N, y)
    W = (X^T X + ridge * I)^-1 X^T Y     (f + 1, y)            prediction = argmax(X W)

A probe that decodes a value shows that the value is *linearly present* in the state, not that the model
uses it: compare with the same probe on an untrained model's states (a control).
"""

import torch


def with_bias(features: torch.Tensor) -> torch.Tensor:
    """`features (N, f)` -> `(N, f + 1)`: a column of ones appended, for the bias."""
    return torch.cat([features, features.new_ones(features.shape[0], 1)], dim=1)


def fit_linear_probe(features: torch.Tensor, labels: torch.Tensor, num_classes: int, ridge: float = 1.0):
    """Ridge regression from `features (N, f)` to one-hot `labels (N,)` of y classes -> weights `(f + 1, y)`.

    Solved in float64 for accuracy; the bias is the last row and is regularised like the rest.
    """
    if features.dim() != 2 or labels.shape != features.shape[:1]:
        raise ValueError(
            f"fit_linear_probe: need features (N, f) and labels (N,), got {tuple(features.shape)} and "
            f"{tuple(labels.shape)}"
        )
    if ridge < 0:
        raise ValueError(f"fit_linear_probe: ridge must be >= 0, got {ridge}")
    x = with_bias(features.detach().double())  # (N, f + 1)
    y = torch.nn.functional.one_hot(labels.long(), num_classes).double()  # (N, y)
    gram = x.T @ x + ridge * torch.eye(x.shape[1], dtype=x.dtype)
    return torch.linalg.solve(gram, x.T @ y).float()


def probe_predict(weights: torch.Tensor, features: torch.Tensor) -> torch.Tensor:
    """The probe's class for each row of `features (N, f)`: `(N,)`."""
    return (with_bias(features.detach().float()) @ weights.float()).argmax(dim=-1)  # weights of any float dtype


def probe_accuracy(weights: torch.Tensor, features: torch.Tensor, labels: torch.Tensor) -> float:
    """Fraction of rows whose predicted class equals `labels (N,)`."""
    return float((probe_predict(weights, features) == labels).float().mean())
