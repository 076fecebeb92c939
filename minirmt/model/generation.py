"""Sampling text from any model, segment by segment.

Completed segments are run once and only their state (memory or cache) is kept; the current, partial
segment is re-run for every new token. That is exactly how the models see text in training.
"""

import torch

from .recurrence import SegmentRecurrence
from .validation import check_tokens, require_int


@torch.no_grad()
def generate(model, prompt, max_new_tokens: int, temperature: float = 1.0, top_k: int | None = None,
             generator: torch.Generator | None = None) -> torch.Tensor:
    """Extend `prompt (b, s0)` (a batch of prompts: one prompt `ids` is `ids[None]`) by `max_new_tokens` sampled
    tokens -> `(b, s0 + max_new_tokens)`.

    temperature: > 0; lower is greedier.  top_k: sample among the k most likely tokens only.
    generator:   the random source (a `torch.Generator` on the prompt's device); never the global RNG.
    """
    if not isinstance(model, SegmentRecurrence):
        raise TypeError(f"model must be a minirmt model (build_model, RecurrentMemoryTransformer, ...), got "
                        f"{type(model).__name__}")
    if model.cfg.num_classes is not None:
        raise ValueError("model is a classifier (the encoder form): it reads a class from its memory, not text")
    if isinstance(prompt, torch.Tensor) and prompt.dim() == 1:
        raise ValueError(f"prompt must be a batch of prompts (b, s0), got one of shape {tuple(prompt.shape)}: pass "
                         f"prompt[None] for one prompt")
    check_tokens(prompt, model.cfg.vocab_size, name="prompt")
    require_int("generate", "max_new_tokens", max_new_tokens, minimum=0)
    if isinstance(temperature, bool) or not isinstance(temperature, (int, float)) or temperature <= 0:
        raise ValueError(f"temperature must be a number > 0, got {temperature!r}")
    require_int("generate", "top_k", top_k, minimum=1, optional=True)
    if generator is not None and not isinstance(generator, torch.Generator):
        raise TypeError(f"generator must be a torch.Generator or None, got {type(generator).__name__}")
    if top_k is not None and top_k > model.cfg.vocab_size:
        raise ValueError(f"top_k must be in [1, {model.cfg.vocab_size}] (vocab_size), got {top_k}")
    was_training = model.training
    model.eval()
    tokens, state, done = prompt, None, 0  # the first `done` tokens are summarised in `state`
    for _ in range(max_new_tokens):
        n = model.segment_len(tokens.shape[1])  # FullTransformer: the whole sequence, so nothing is folded
        while tokens.shape[1] - done > n:  # a segment is complete and followed by more: fold it into the state
            state = model(tokens[:, done : done + n], memory=state, return_logits=False).memory
            done += n
        logits = model(tokens[:, done:], memory=state).logits[:, -1]  # (b, v)
        next_token = sample(logits, temperature, top_k, generator)
        tokens = torch.cat([tokens, next_token], dim=1)
    model.train(was_training)
    return tokens


def sample(logits, temperature, top_k, generator) -> torch.Tensor:
    """Draw one token per row from `logits (b, v)` -> `(b, 1)`."""
    logits = logits.float() / temperature
    if top_k is not None:
        kth = torch.topk(logits, top_k, dim=-1).values[:, -1:]
        logits = logits.masked_fill(logits < kth, float("-inf"))
    return torch.multinomial(logits.softmax(dim=-1), num_samples=1, generator=generator)
