"""Evaluating a language model on a whole stream: loss, perplexity or bits per byte, and loss by position.

Every token of the stream is predicted once, with the state (RMT memory, XL cache) carried from segment to
segment and batch to batch, so a model is scored with all the context it can carry (RMT paper, Sec. 4).
"""

import torch
import torch.nn.functional as F
from einops import rearrange

from minirmt.data.corpora import check_stream, num_batches, score, stream_batches

from .accel import all_reduce, eager
from .common import autocast, check_batch_tokens
from .progress import progress_bar


@torch.no_grad()
def evaluate_lm(model: torch.nn.Module, ids: torch.Tensor, *, batch_size: int = 16, seq_len: int | None = None,
                unit: str = "ppl", dtype: torch.dtype | None = None, rank: int = 0, world_size: int = 1,
                progress: bool = False) -> dict:
    """Cross-entropy of `model` over a whole stream `ids (N,)`, segment by segment, state carried throughout.

    The stream is cut into `batch_size * world_size` rows (this process takes `batch_size` of them) and read
    `seq_len` tokens at a time (default the model's segment length n; give the whole window for a
    FullTransformer); RMT memory and XL caches pass on across batches, so every token is predicted with all
    the context the model can carry. Processes add up their sums (all_reduce).

    Returns {"loss": nats per token, unit: exp(loss) ("ppl") or loss / ln 2 ("bpb"), "unit", "tokens",
    "loss_by_position": mean loss at each position 0..n-1 inside a segment (memory should help most at the
    first positions, RMT paper, Sec. 4)}.
    """
    check_stream(ids)
    seq_len = seq_len or model.cfg.segment_len
    device = next(model.parameters()).device
    seg = model.segment_len(seq_len)
    check_batch_tokens("evaluate_lm", batch_size, -(-seq_len // seg), seg)
    sums = torch.zeros(seg, dtype=torch.float64, device=device)  # (n,) summed loss per position
    counts = torch.zeros(seg, dtype=torch.float64, device=device)
    was_training, state = model.training, None
    model.eval()
    bar = progress_bar(num_batches(ids.numel(), batch_size, seq_len, world_size), desc="evaluating",
                       enabled=progress, unit="batches")
    for tokens, targets in stream_batches(ids.to(device), batch_size, seq_len, rank, world_size):
        with autocast(device, dtype), eager():
            out = model(tokens, memory=state)
        state = out.memory
        loss = F.cross_entropy(out.logits.float().transpose(1, 2), targets, reduction="none")  # (b, s)
        batch_sums, batch_counts = position_sums(loss, seg)
        sums[: len(batch_sums)] += batch_sums
        counts[: len(batch_counts)] += batch_counts
        bar.update(1)
    bar.close()
    model.train(was_training)
    all_reduce(sums), all_reduce(counts)
    mean = float(sums.sum()) / max(float(counts.sum()), 1.0)
    return {"loss": mean, unit: score(mean, unit), "unit": unit, "tokens": int(counts.sum()),
            "loss_by_position": (sums / counts.clamp(min=1)).tolist()}


def position_sums(loss: torch.Tensor, n: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-token losses `(b, s)`, s = g * n (the last segment may be shorter) -> the sum and the count of
    losses at each position 0..n-1 inside a segment, both `(min(s, n),)` float64.

    `loss_by_position = sums / counts`: position 0 is the first token of every segment, which a model
    without memory predicts from nothing but itself (RMT paper, Sec. 4).
    """
    s = loss.shape[1]
    if s <= n:
        return loss.double().sum(0), torch.full((s,), float(loss.shape[0]), dtype=torch.float64, device=loss.device)
    padded = F.pad(loss.double(), (0, -s % n), value=float("nan"))  # (b, g * n)
    per_segment = rearrange(padded, "b (g n) -> (b g) n", n=n)
    return per_segment.nan_to_num().sum(0), (~per_segment.isnan()).sum(0).double()


def eval_seq_len(model: torch.nn.Module, segments: int) -> int:
    """Tokens an evaluation reads at a time: one segment n, or the whole window g * n of a FullTransformer."""
    return model.segment_len(segments * model.cfg.segment_len)
