"""minirmt.course.probe: the closed-form ridge probe solves its normal equations and decodes separable classes."""

import pytest
import torch

from minirmt.course import probe


def blobs(count=400, f=5, c=3, seed=0):
    gen = torch.Generator().manual_seed(seed)
    centers = torch.randn(c, f, generator=gen) * 4
    labels = torch.randint(0, c, (count,), generator=gen)
    return centers[labels] + torch.randn(count, f, generator=gen) * 0.5, labels


def test_fit_solves_the_ridge_normal_equations():
    features, labels = blobs()
    weights = probe.fit_linear_probe(features, labels, 3, ridge=2.0)
    assert weights.shape == (5 + 1, 3) and weights.dtype == torch.float32
    x = probe.with_bias(features).double()
    y = torch.nn.functional.one_hot(labels, 3).double()
    residual = (x.T @ x + 2.0 * torch.eye(6, dtype=x.dtype)) @ weights.double() - x.T @ y
    assert residual.abs().max() < 1e-2


def test_probe_decodes_separable_classes_and_not_noise():
    features, labels = blobs()
    weights = probe.fit_linear_probe(features[:300], labels[:300], 3)
    assert probe.probe_accuracy(weights, features[300:], labels[300:]) > 0.95
    assert probe.probe_predict(weights, features[300:]).shape == (100,)
    noise = torch.randn(400, 5, generator=torch.Generator().manual_seed(1))
    control = probe.fit_linear_probe(noise[:300], labels[:300], 3)
    assert probe.probe_accuracy(control, noise[300:], labels[300:]) < 0.6


def test_bad_inputs_are_named():
    with pytest.raises(ValueError, match=r"features \(N, f\) and labels \(N,\)"):
        probe.fit_linear_probe(torch.zeros(4, 2), torch.zeros(5, dtype=torch.long), 2)
    with pytest.raises(ValueError, match="ridge must be >= 0"):
        probe.fit_linear_probe(torch.zeros(4, 2), torch.zeros(4, dtype=torch.long), 2, ridge=-1.0)


def test_a_probe_solved_in_float64_predicts_as_one_in_float32():
    """A learner's probe may keep its float64 weights (notebook 05 suggests float64 for the solve)."""
    features = torch.randn(64, 5, generator=torch.Generator().manual_seed(0))
    labels = (features[:, 0] > 0).long()
    weights = probe.fit_linear_probe(features, labels, 2)
    assert probe.probe_accuracy(weights.double(), features, labels) == probe.probe_accuracy(weights, features, labels)
