"""The loop over segments that every model shares, with BPTT truncation and memory-flat backprop.

A model is a `step` from (segment tokens, state) to (hidden states, next state); this file runs the
steps left to right (RMT paper, Sec. 3, Fig. 1: "the recurrent memory transformer processes segments
one after another, passing memory to the next"), sums the loss per segment and returns one output.
"""

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.checkpoint import checkpoint

from . import segments
from .backbone import Backbone
from .config import ModelConfig
from .head_loss import head_loss_with_gradient
from .validation import IGNORE_INDEX, check_labels, check_targets, check_tokens, require_int


@dataclass
class ModelOutput:
    """What every model returns.

    logits:     (b, s, v), or None with return_logits=False
    loss:       mean cross-entropy over the targets that are not -100, or None without targets
    memory:     the state to pass to the next call: RMT memory (b, m, d), XL cache (l, b, c, d), or None
    memories:   the state after each of the g segments
    attentions: with return_attention, per segment a list over layers of weights (b, h, i, j)
    """

    logits: torch.Tensor | None
    loss: torch.Tensor | None
    memory: torch.Tensor | None
    memories: list
    attentions: list | None = None


def detached_before(i: int, g: int, bptt_depth: int | None) -> bool:
    """Is the state entering segment i (of g) detached? Truncated BPTT keeps one window at the end of the
    sequence: with `bptt_depth = k`, the hand-overs into segments 0 < i <= g - k are cut, so the last segment's
    loss reaches back through the last k segments only (RMT paper, Sec. 3; None: never cut)."""
    return bptt_depth is not None and 0 < i <= g - bptt_depth


class SegmentRecurrence(nn.Module):
    """Base class: runs `step` over the segments of a sequence. Subclasses say what the state is."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        if not isinstance(cfg, ModelConfig):
            raise TypeError(f"{type(self).__name__} takes a ModelConfig, got {type(cfg).__name__}; from a dict d: "
                            f"ModelConfig(**d) or preset(name, **d)")
        self.cfg = cfg
        self.backbone = Backbone(cfg)

    def initial_state(self, batch_size: int):
        """The state before the first segment (None for models that carry nothing)."""
        return None

    def check_state(self, state, batch_size: int) -> None:
        """Raise a clear error if a state passed in by the user has the wrong shape."""
        raise ValueError(f"{type(self).__name__} carries no memory between segments; pass memory=None")

    def step(self, tokens, state, return_attention=False):
        """One segment: `tokens (b, n)`, state -> hidden `(b, n, d)`, next state, attention list or None."""
        raise NotImplementedError

    def segment_len(self, s: int) -> int:
        """Length of the segments a sequence of s tokens is cut into."""
        return self.cfg.segment_len

    def forward(self, tokens, memory=None, targets=None, labels=None, bptt_depth=None, return_attention=False,
                return_logits=True, check_ids=True) -> ModelOutput:
        """Process `tokens (b, s)` segment by segment, carrying the state (memory) from one to the next.

        memory:      the state from an earlier call (e.g. the previous batch of a text stream), or None
        targets:     `(b, s)` ids to predict (-100 = ignore); the loss is one mean over all segments
        labels:      `(b,)` classes, for a classifier (cfg.num_classes): its logits `(b, y)` and loss
        bptt_depth:  truncated BPTT (default cfg.bptt_depth): with cfg.bptt_window "end", the last segment's
                     loss reaches back through this many segments, itself included (`detached_before`); with
                     "each", every segment's loss does (as the authors' synthetic-task code does, recomputing
                     each window from a detached memory: their `mem_backprop_depth = k > 0` is depth k + 1 here;
                     their default `mem_backprop_depth = 0`, used in all their published runs, is full BPTT,
                     depth None). 0 or 1: no gradient crosses a hand-over of memory.
        check_ids:   check that every id is in range (each check waits for the device); False where the ids
                     were checked once for a whole stream (train_lm)
        """
        check_tokens(tokens, self.cfg.vocab_size, values=check_ids)
        b = tokens.shape[0]
        classifier = self.cfg.num_classes is not None
        if classifier and targets is not None:
            raise ValueError("the encoder form is bidirectional: every token would read its own next-token "
                             "target. It is a classifier: give labels (b,) instead of targets")
        if targets is not None:
            check_targets(targets, tokens, self.cfg.vocab_size, values=check_ids)
        if labels is not None:
            check_labels(labels, b, self.cfg.num_classes)
        memory = self.initial_state(b) if memory is None else memory
        if memory is not None:
            self.check_state(memory, b)
        depth = self.cfg.bptt_depth if bptt_depth is None else bptt_depth
        require_int("forward", "bptt_depth", depth, minimum=0, optional=True)
        n = self.segment_len(tokens.shape[1])
        xs = segments.split(tokens, n)
        ys = segments.split(targets, n) if targets is not None else [None] * len(xs)
        loop = self._each_window if depth is not None and self.cfg.bptt_window == "each" else self._end_window
        logits, memories, attentions, loss = loop(xs, ys, memory, depth, return_attention,
                                                  return_logits and not classifier)
        memory = memories[-1]
        if classifier:
            logits = self.classify(memory)  # (b, y)
            loss = F.cross_entropy(logits.float(), labels) if labels is not None else None
        else:
            logits = segments.merge(logits) if return_logits else None
        return ModelOutput(logits=logits, loss=loss if targets is not None or labels is not None else None,
                           memory=memory, memories=memories, attentions=attentions if return_attention else None)

    def classify(self, memory):
        """Class logits `(b, y)` from the state after the last segment (models with a memory to read)."""
        raise ValueError(f"{type(self).__name__} has no memory to read a class from: use rmt or memtok")

    def _end_window(self, xs, ys, memory, depth, return_attention, return_logits):
        """Every segment left to right; the hand-overs before the last window are detached."""
        g = len(xs)
        logits, memories, attentions = [], [], []
        loss_sum = count = xs[0].new_zeros((), dtype=torch.float32)
        for i, (x, y) in enumerate(zip(xs, ys, strict=True)):
            if memory is not None and detached_before(i, g, depth):
                memory = _detach(memory)  # truncated BPTT: no gradient into segments before the window
            seg_logits, seg_loss, seg_count, memory, seg_attn = self._run_segment(
                x, y, memory, return_attention, return_logits, last=i == g - 1
            )
            logits.append(seg_logits)
            memories.append(memory)
            attentions.append(seg_attn)
            loss_sum, count = loss_sum + seg_loss, count + seg_count
        return logits, memories, attentions, loss_sum / count.clamp(min=1)

    def _each_window(self, xs, ys, memory, depth, return_attention, return_logits):
        """Every segment's loss gets its own window of `depth` segments: segment i is recomputed from the
        detached memory that entered segment i - depth + 1, through the segments in between (their outputs
        are dropped), so its gradient reaches exactly those segments. Costs up to `depth` steps a segment.
        A window that starts at segment 0 starts from the learned initial memory, which so gets a gradient;
        the authors' code starts it from a detached copy, so there the initial memory is not trained."""
        entering = [memory]  # the memory entering each segment (values only; gradients come from the windows)
        logits, memories, attentions = [], [], []
        loss_sum = count = xs[0].new_zeros((), dtype=torch.float32)
        for i, (x, y) in enumerate(zip(xs, ys, strict=True)):
            start = max(0, i - max(depth, 1) + 1)
            state = entering[start] if start == 0 else _detach(entering[start])
            for j in range(start, i):  # the window before segment i, recomputed with its graph
                _, state, _ = self.step(xs[j], state)
            seg_logits, seg_loss, seg_count, state, seg_attn = self._segment_with_loss(
                x, y, state, return_attention, return_logits)
            entering.append(_detach(state))
            logits.append(seg_logits)
            memories.append(state)
            attentions.append(seg_attn)
            loss_sum, count = loss_sum + seg_loss, count + seg_count
        return logits, memories, attentions, loss_sum / count.clamp(min=1)

    def compile_segments(self, **options) -> "SegmentRecurrence":
        """`torch.compile` the work of one segment in place (embedding, blocks, head and loss); returns self.

        The segment is the unit that repeats, g times a step, so one compilation (per input shape) serves every
        segment. `options` go to `torch.compile` (e.g. `mode="reduce-overhead"`: replay each segment's kernels
        from a CUDA graph). To compile the whole forward pass, the loop included, use PyTorch's `model.compile()`.
        Parameter names, hence checkpoints, stay.
        """
        allow_recompiles()
        self._segment_with_loss = torch.compile(self._segment_with_loss, **options)
        self._flat_segment = torch.compile(self._flat_segment, **options)  # the same work under memory_flat
        return self

    def _run_segment(self, x, y, memory, return_attention, return_logits, last):
        """One step plus its loss; with cfg.memory_flat its activations are recomputed in backward.

        The last segment is never recomputed: the backward pass starts with it, right after the forward
        pass, so keeping its activations costs no more memory than recomputing them would.
        """
        if not (self.cfg.memory_flat and torch.is_grad_enabled() and not return_attention and not last):
            return self._segment_with_loss(x, y, memory, return_attention, return_logits)
        if y is not None and not return_logits:
            return self._flat_segment(x, y, memory)
        return checkpoint(self._segment_with_loss, x, y, memory, False, return_logits, use_reentrant=False)

    def _flat_segment(self, x, y, memory):
        """memory_flat in training: only the blocks are recomputed in backward; the head's and the loss's
        gradients are computed now and kept instead of the logits (head_loss.py)."""
        hidden, memory, _ = checkpoint(self.step, x, memory, use_reentrant=False)  # (b, n, d), state
        loss_sum = head_loss_with_gradient(hidden.flatten(0, 1), self.backbone.head.weight, y.flatten())
        return None, loss_sum, (y != IGNORE_INDEX).sum(), memory, None

    def _segment_with_loss(self, x, y, memory, return_attention, return_logits):
        hidden, memory, attn = self.step(x, memory, return_attention)
        logits = self.backbone.head(hidden)  # (b, n, v)
        loss_sum = count = logits.new_zeros((), dtype=torch.float32)
        if y is not None:
            loss_sum = F.cross_entropy(
                logits.flatten(0, 1).float(), y.flatten(), ignore_index=IGNORE_INDEX, reduction="sum"
            )
            count = (y != IGNORE_INDEX).sum()
        return (logits if return_logits else None), loss_sum, count, memory, attn


def map_state(fn, state):
    """`fn` applied to every tensor of a carried state: a tensor, a tuple of them (an RMT with an XL cache
    carries (memory, cache)), or None."""
    if isinstance(state, tuple):
        return tuple(map_state(fn, part) for part in state)
    return fn(state) if isinstance(state, torch.Tensor) else state


def _detach(state):
    """A carried state without its graph."""
    return map_state(torch.Tensor.detach, state)


def allow_recompiles() -> None:
    """Every model in the process shares the code of `forward` and of the segment, and each keeps a few compiled
    versions (first segment or not, a carried state or none): allow more than torch's default of 8."""
    torch._dynamo.config.recompile_limit = max(torch._dynamo.config.recompile_limit, 64)
