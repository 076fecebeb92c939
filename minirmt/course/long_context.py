"""Reading far past the training length: accuracy against the number of segments and the needle's depth, and
what each length costs a model in time and memory.

The RMT follow-up (Bulatov, Kuratov & Burtsev, 2023, "Scaling Transformer to 1M tokens and beyond with RMT")
trained on a few segments and evaluated on thousands; BABILong (Kuratov et al., 2024) plots accuracy against the
length and against where the fact sits (the needle's depth). These functions make both tables for the needle task
(one question at the end of every sequence, `tasks.needle`), and measure the cost of reading one sequence.
"""

import torch

from minirmt.data.tasks.needle import needle_depth

from .meter import PeakMemory, median_seconds


@torch.no_grad()
def last_logits(model, tokens: torch.Tensor) -> torch.Tensor:
    """`(b, v)`: the logits at the last position of `tokens (b, s)`, read as a long text is read: a segment-level
    model one segment at a time, keeping only the state it hands on (RMT: m vectors); full attention at once."""
    model.eval()
    pieces = tokens.split(model.segment_len(tokens.shape[1]), dim=1)  # g pieces (b, n); one for full attention
    state = None
    for i, piece in enumerate(pieces):
        out = model(piece, memory=state, return_logits=i == len(pieces) - 1)
        state = out.memory
    return out.logits[:, -1]


def answers_right(model, tokens: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """`(b,)` bool: whether the model's greedy answer at the last position equals the last target."""
    return last_logits(model, tokens).argmax(-1) == targets[:, -1]


def samples(task, num_segments: int, count: int, seed: int, device="cpu") -> tuple[torch.Tensor, torch.Tensor]:
    """`count` seeded sequences of `num_segments` segments: tokens and targets `(count, s)`, on `device`."""
    tokens, targets = task.sample(count, num_segments, torch.Generator().manual_seed(seed))
    return tokens.to(device), targets.to(device)


def texts_right(model, task, g: int, count: int, seed: int, batch_size: int, device):
    """`(tokens (count, s), right (count,))`: `count` seeded texts of g segments and whether each answer is right,
    read `batch_size` texts at a time."""
    tokens, targets = samples(task, g, count, seed, device)
    right = torch.cat([answers_right(model, x, y) for x, y in zip(tokens.split(batch_size), targets.split(batch_size))])
    return tokens.cpu(), right.cpu()


def accuracy_by_length(model, task, segment_counts, count: int = 256, seed: int = 0, batch_size: int = 128,
                       device="cpu") -> dict[int, float]:
    """{g: answer accuracy over `count` seeded sequences of g segments} for every g in `segment_counts`."""
    return {g: texts_right(model, task, g, count, seed + g, batch_size, device)[1].float().mean().item()
            for g in segment_counts}


def accuracy_by_depth(model, task, segment_counts, bins: int = 4, count: int = 256, seed: int = 0,
                      batch_size: int = 128, device="cpu") -> torch.Tensor:
    """`(len(segment_counts), bins)`: answer accuracy for each g and each depth bin (bin k holds the needles at
    depths in [k / bins, (k + 1) / bins)); NaN where a bin drew no sequence."""
    table = torch.full((len(segment_counts), bins), float("nan"))
    for i, g in enumerate(segment_counts):
        tokens, right = texts_right(model, task, g, count, seed + g, batch_size, device)
        where = (needle_depth(tokens) * bins).long().clamp(max=bins - 1)  # (count,): each needle's bin
        for k in range(bins):
            if (where == k).any():
                table[i, k] = right[where == k].float().mean()
    return table


@torch.no_grad()
def reading_cost(model, task, num_segments: int, batch_size: int = 1, repeats: int = 5, device="cpu") -> dict:
    """What reading one batch of `num_segments` segments costs `model`: the median seconds of a forward pass
    (of `repeats`), seconds per thousand tokens, and the peak MiB of the tensors the pass allocates."""
    tokens, _ = samples(task, num_segments, batch_size, seed=0, device=device)
    seconds = median_seconds(lambda: last_logits(model, tokens), repeats, device)
    with PeakMemory() as meter:
        last_logits(model, tokens)
    s = tokens.shape[1]
    return {"segments": num_segments, "tokens": s, "seconds": seconds, "ms per 1k tokens": 1e6 * seconds / s,
            "peak MiB": meter.peak / 2**20}
