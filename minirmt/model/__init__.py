"""The RMT and its baselines, read in one sitting, top to bottom (RMT paper, Sec. 3). Imports nothing else of minirmt.

    config.py       ModelConfig: the sizes of the backbone and of the memory; presets        (Sec. 3, 4)
    validation.py   what a model checks of its inputs: one clear error that names the argument
    layers.py       rotary positions, attention (fused and explicit), feed-forward, the block
    backbone.py     embeddings -> blocks -> norm -> vocabulary head, shared by every model
    masks.py        who attends to whom: causal, the memory block, the XL cache               (Sec. 3)
    segments.py     a long sequence cut into segments and put back together                   (Sec. 3)
    head_loss.py    the vocabulary head's loss with its gradient in the forward pass (memory-flat backprop)
    recurrence.py   the loop over segments: state in, state out, BPTT and its truncation       (Sec. 3)
    rmt.py          the Recurrent Memory Transformer: memory tokens read and written           (Sec. 3)
    baselines.py    segment-only, full attention, Transformer-XL, MemTr-XL and the RMT + cache  (Sec. 4, 5)
    registry.py     every model by its short name, built from one config
    generation.py   sampling from any model, segment by segment

Every model is the same backbone with another way of carrying state from one segment to the next, so the
difference between two models is a few lines of `rmt.py` or `baselines.py`.
"""
