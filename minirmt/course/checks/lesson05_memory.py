"""Checkers of lesson 05, inside the memory: similarity of memory states, a linear probe."""

from collections.abc import Callable

import torch

from minirmt import viz
from minirmt.course import probe

from .core import call, expect_close, expect_tensor, known_mistakes, run_checker, seeded


def reference_memory_similarity(states: torch.Tensor) -> torch.Tensor:
    """`states (g, m, d)` -> `(g, g)`: cosine similarity of the flattened memory states."""
    return viz.memory_similarity(states)


def check_memory_similarity(fn) -> Callable:
    """Exercise 05.1: `memory_similarity(states (g, m, d)) -> (g, g)`, cosine similarity of whole states."""

    def cases(fn):
        gen = seeded(5)
        shapes = [(4, 3, 8), (6, 2, 5), (2, 4, 4), (5, 2, 6)]
        for k, (g, m, d) in enumerate(shapes):
            scale = torch.rand(g, 1, 1, generator=gen) * 3 + 0.5
            shared = torch.randn(1, m, d, generator=gen) if k < 3 else 0.0  # the last: no shared part, so that
            states = (torch.randn(g, m, d, generator=gen) + shared) * scale  # some states point away from others
            if k == 3:
                states[1] = -states[0]  # exactly opposite: similarity -1
            expected = reference_memory_similarity(states)
            got = call(fn, states.clone())
            label = f"memory_similarity(states of shape (g, m, d) = {(g, m, d)})"
            expect_tensor(got, "g g", expected.shape, label,
                          hints={(g * m, g * m): "that is one row per slot; flatten each state to one "
                                                 "vector (m * d) first",
                                 (m * d, m * d): "that compares the m * d features with each other (flat.T @ flat); "
                                                 "compare the states: flat @ flat.T"})
            flat = states.flatten(1)  # (g, m * d)
            norms = flat.norm(dim=1)  # (g,)
            per_slot = torch.nn.functional.normalize(states, dim=-1)
            across = flat / flat.norm(dim=0, keepdim=True)  # each feature normalised over the states
            known_mistakes(got.float(), expected, [
                (torch.corrcoef(flat), "that is the correlation (each state's mean subtracted first, "
                                       "torch.corrcoef); cosine similarity does not centre the vectors"),
                (across @ across.T, "each state must be divided by its own length: the norm over dim 1 (its m * d "
                                    "numbers), not over dim 0 (the states)"),
                (flat @ flat.T / norms**2, "divide the dot product of states i and j by both their lengths, "
                                           "|x_i| |x_j|: norms[:, None] * norms[None, :]"),
                (flat @ flat.T, "the diagonal is not 1: normalise each flattened state to unit length "
                                "(cosine similarity is the dot product of unit vectors)"),
                (torch.einsum("amd,bmd->ab", per_slot, per_slot) / m,
                 "you compared the states slot by slot and averaged; flatten each state to (m * d) first"),
                (torch.cdist(flat, flat), "that is the Euclidean distance (torch.cdist); cosine similarity is the dot "
                                          "product of the states each divided by its length"),
                (flat @ flat.T / flat.norm() ** 2, "that normalises once over the whole batch (flat.norm()); "
                                                   "divide each state by its own length, flat.norm(dim=1)"),
                (1 - expected, "these are 1 - cosine (a distance); return the similarity itself"),
                (expected.abs(), "a cosine similarity can be negative (states pointing away from each other, -1 "
                                 "for opposite ones): do not take its absolute value"),
                (expected.clamp(min=0), "a cosine similarity can be negative (-1 for opposite states): do not clip "
                                        "it at 0"),
            ], atol=1e-4)
            expect_close(got.float(), expected, "g g", label, atol=1e-4)
        return len(shapes)

    return run_checker("memory_similarity", fn, reference_memory_similarity, cases)


def check_fit_probe(fn) -> Callable:
    """Exercise 05.2: `fit_probe(features (N, f), labels (N,), num_classes, ridge) -> weights (f + 1, y)`."""

    def cases(fn):
        gen = seeded(7)
        shapes = [(300, 6, 4, 30.0, 4), (120, 10, 3, 5.0, 3), (80, 3, 5, 10.0, 4)]  # the last: no label 4
        for count, f, c, ridge, seen in shapes:
            centers = torch.randn(c, f, generator=gen) * 2
            labels = torch.randint(0, seen, (count,), generator=gen)
            features = centers[labels] + torch.randn(count, f, generator=gen) + 1.5
            expected = probe.fit_linear_probe(features, labels, c, ridge)
            label = (f"fit_probe(features (N, f) = {(count, f)}, y={c} classes, ridge={ridge}"
                     f"{'' if seen == c else f', no label {c - 1} among the labels'})")
            got = call(fn, features.clone(), labels.clone(), c, ridge, what=label)
            expect_tensor(got, "f+1 y", (f + 1, c), label, hints={
                (f + 1, seen): f"one column per label seen: F.one_hot(labels) without num_classes stops at the "
                               f"highest label present, {seen - 1}; pass num_classes={c} (a class may be missing "
                               "from a batch)",
                (f, c): "one row short: append a column of ones to the features (the bias) before solving",
                (f + 1,): "that regresses the label ids themselves; regress one-hot targets (N, y), one column "
                          "per class",
                (f + 1, 1): "that regresses the label ids themselves; regress one-hot targets (N, y), one "
                            "column per class",
            })
            x = probe.with_bias(features.double())  # (N, f + 1)
            y = torch.nn.functional.one_hot(labels, c).double()  # (N, y)
            free_bias = torch.eye(f + 1, dtype=x.dtype)
            free_bias[-1, -1] = 0
            known_mistakes(got.float(), expected, [
                (torch.linalg.solve(x.T @ x + ridge * free_bias, x.T @ y).float(),
                 f"the bias is not regularised here: the probe adds ridge * I to all of X^T X, the bias's diagonal "
                 f"entry included (ridge = {ridge}, torch.eye(f + 1))"),
                (probe.fit_linear_probe(features, labels, c, 0.0),
                 f"this matches ridge = 0: add ridge * I (ridge = {ridge}) to X^T X before solving"),
                (torch.linalg.solve(x.T @ x + ridge, x.T @ y).float(),
                 "ridge was added to every entry of X^T X; add it on the diagonal only: ridge * torch.eye(f + 1)"),
                (torch.linalg.solve(x.T @ x + ridge * len(labels) * torch.eye(f + 1, dtype=x.dtype),
                                    x.T @ y).float(),
                 f"ridge was scaled by N = {len(labels)}: add ridge * I itself to X^T X (ridge = {ridge})"),
                (torch.linalg.solve(x.T @ x + ridge * torch.eye(f + 1, dtype=x.dtype),
                                    x.T @ labels.double()).float().unsqueeze(1).expand(f + 1, c),
                 "every column regresses the label ids themselves; regress one-hot targets, "
                 f"F.one_hot(labels, num_classes={c}): column k is 1 where the label is k"),
                (torch.cat([expected[-1:], expected[:-1]]),  # what [1 | features] gives
                 "the bias is the first row: put the column of ones last, so the bias is the last row "
                 "(like minirmt.course.probe.with_bias)"),
            ], atol=2e-4)
            expect_close(got.float(), expected, "f y", label, atol=2e-4)
        return len(shapes)

    return run_checker("fit_probe", fn, probe.fit_linear_probe, cases)
