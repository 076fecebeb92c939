"""Behaviour of the RMT and the baselines: shapes, causality, memory, BPTT, fast path, errors."""

import pytest
import torch

import minirmt
from minirmt import ModelConfig, RecurrentMemoryTransformer, SegmentTransformer, build_model, preset
from minirmt.model.layers import Attention, Rotary, rotate
from minirmt.model.masks import with_cache

ALL = sorted(minirmt.MODELS)
RECURRENT = ["rmt", "segment", "xl", "memxl", "memtok", "rmtxl"]


def make(name, seed=0, **overrides):
    torch.manual_seed(seed)
    return build_model(name, preset("tiny", **overrides)).eval()


def ids(b, s, seed=1, v=16):
    return torch.randint(0, v, (b, s), generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("name", ALL)
@pytest.mark.parametrize("s", [1, 7, 8, 9, 24, 29])
def test_shapes_for_ragged_lengths(name, s):
    model = make(name)
    out = model(ids(3, s))
    assert out.logits.shape == (3, s, 16)
    g = 1 if name == "full" else -(-s // 8)
    assert len(out.memories) == g
    if name in ("rmt", "memtok"):
        assert out.memory.shape == (3, 4, 32)
    if name in ("xl", "memxl"):
        assert out.memory.shape == (2, 3, min(s, 8), 32)
    if name == "rmtxl":
        assert out.memory[0].shape == (3, 4, 32) and out.memory[1].shape == (2, 3, min(s, 8), 32)


@pytest.mark.parametrize("name", ALL)
def test_causal_later_tokens_never_change_earlier_logits(name):
    model = make(name)
    x = ids(2, 29)
    y = x.clone()
    y[:, 13:] = (y[:, 13:] + 1) % 16
    a, b = model(x).logits, model(y).logits
    torch.testing.assert_close(a[:, :13], b[:, :13])
    assert not torch.allclose(a[:, 13:], b[:, 13:])


def test_memory_carries_segment_0_to_segment_2_in_rmt_not_in_segment():
    x = ids(2, 24)
    y = x.clone()
    y[:, :8] = (y[:, :8] + 3) % 16  # change segment 0 only
    for name, should_change in [("rmt", True), ("rmtxl", True), ("segment", False), ("memtok", False)]:
        model = make(name)
        a, b = model(x).logits[:, 16:], model(y).logits[:, 16:]
        assert (not torch.allclose(a, b)) == should_change, name


def memory_gradients(depth, g=5):
    """Gradient of the last segment's loss w.r.t. the memory written by each segment."""
    model = make("rmt")
    x = ids(2, 8 * g)
    targets = torch.full_like(x, -100)
    targets[:, -8:] = x[:, -8:]
    out = model(x, targets=targets, bptt_depth=depth)
    for mem in out.memories[:-1]:
        mem.retain_grad()
    out.loss.backward()
    return [0.0 if mem.grad is None else mem.grad.abs().sum().item() for mem in out.memories[:-1]], model


@pytest.mark.parametrize("depth", [1, 2, 3])
def test_bptt_depth_gradient_is_exactly_zero_beyond_the_window(depth):
    grads, _ = memory_gradients(depth, g=5)
    # memory written by segment j is read by segment j + 1; it keeps its gradient iff j + 1 > g - depth
    for j, grad in enumerate(grads):
        if j >= 5 - depth:
            assert grad > 0, f"segment {j} is inside the window of {depth}"
        else:
            assert grad == 0.0, f"segment {j} is outside the window of {depth}"


def test_full_bptt_reaches_every_segment_and_the_initial_memory():
    grads, model = memory_gradients(None, g=5)
    assert all(grad > 0 for grad in grads)
    assert model.memory.grad.abs().sum() > 0


def test_bptt_depth_from_config_is_the_default():
    torch.manual_seed(0)
    model = RecurrentMemoryTransformer(preset("tiny", bptt_depth=1))
    x = ids(2, 24)
    out = model(x, targets=x)
    out.memories[0].retain_grad()
    out.loss.backward()
    assert out.memories[0].grad is None or out.memories[0].grad.abs().sum() == 0


@pytest.mark.parametrize("name", ALL)
def test_explicit_attention_matches_the_fused_kernel(name):
    model = make(name)
    x = ids(2, 21)
    fast = model(x)
    slow = model(x, return_attention=True)
    torch.testing.assert_close(fast.logits, slow.logits, atol=1e-5, rtol=1e-4)
    for seg in slow.attentions:
        for weights in seg:
            torch.testing.assert_close(weights.sum(-1), torch.ones_like(weights.sum(-1)))


def test_rmt_attention_layout_is_read_tokens_write():
    model = make("rmt")
    out = model(ids(1, 16), return_attention=True)
    weights = out.attentions[0][0]  # segment 0, layer 0: (b, h, m + n + m, m + n + m)
    assert weights.shape == (1, 2, 4 + 8 + 4, 4 + 8 + 4)
    assert torch.all(weights[..., :4, 4:] == 0)  # read memory sees only read memory
    assert torch.all(weights[..., 12:, :].sum(-1) > 0.99)  # write slots see the whole segment
    assert torch.all(weights[..., 4:12, 12:] == 0)  # tokens never see the write slots


def test_rmt_with_zero_memory_tokens_is_the_segment_transformer():
    rmt = make("rmt", num_mem_tokens=0)
    seg = SegmentTransformer(rmt.cfg).eval()
    seg.backbone.load_state_dict(rmt.backbone.state_dict())
    x = ids(2, 29)
    torch.testing.assert_close(rmt(x).logits, seg(x).logits)


@pytest.mark.parametrize("name", ["xl", "memxl"])
def test_xl_cache_is_gradient_stopped_but_carries_information(name):
    model = make(name)
    x = ids(2, 16)
    embedded = []  # the embeddings of each segment, in order

    def keep(module, inputs, output):
        output.retain_grad()
        embedded.append(output)

    model.backbone.embed.register_forward_hook(keep)
    out = model(x, targets=x.masked_fill(torch.arange(16) < 8, -100))  # loss on segment 1 only
    out.loss.backward()
    assert embedded[0].grad is None or embedded[0].grad.abs().sum() == 0  # no gradient into segment 0
    assert embedded[1].grad.abs().sum() > 0
    assert not out.memories[0].requires_grad
    y = x.clone()
    y[:, :8] = (y[:, :8] + 5) % 16
    assert not torch.allclose(model(x).logits[:, 8:], model(y).logits[:, 8:])  # segment 1 reads the cache


@pytest.mark.parametrize("name", RECURRENT)
@pytest.mark.parametrize("return_logits", [False, True])  # head and loss fused (head_loss.py), or recomputed
def test_memory_flat_backprop_gives_the_same_gradients(name, return_logits):
    x = ids(2, 29)
    targets = x.masked_fill(x < 3, -100)
    grads = []
    for flat in (False, True):
        model = make(name, memory_flat=flat).train()
        model(x, targets=targets, return_logits=return_logits).loss.backward()
        grads.append({k: p.grad.clone() for k, p in model.named_parameters() if p.grad is not None})
    assert grads[0].keys() == grads[1].keys()
    for k in grads[0]:
        torch.testing.assert_close(grads[0][k], grads[1][k], atol=1e-6, rtol=1e-5)


def test_memory_flat_recomputes_every_segment_but_the_last(monkeypatch):
    model = make("rmt", memory_flat=True).train()
    steps, step = [], model.step

    def counted_step(*args, **kwargs):
        steps.append(1)
        return step(*args, **kwargs)

    monkeypatch.setattr(model, "step", counted_step)
    loss = model(ids(2, 32), targets=ids(2, 32), return_logits=False).loss  # 4 segments of 8
    assert len(steps) == 4
    loss.backward()
    assert len(steps) == 4 + 3  # segments 0, 1 and 2 run again in the backward pass; the last is kept


def test_memory_flat_never_recomputes_the_head():
    model = make("rmt", memory_flat=True).train()
    calls = []
    model.backbone.head.register_forward_hook(lambda *_: calls.append(1))
    model(ids(2, 32), targets=ids(2, 32), return_logits=False).loss.backward()  # 4 segments of 8
    assert len(calls) == 1  # the last segment's; the others' head gradients come from head_loss.py


def test_rotary_table_and_longer_calls_agree():
    rotary = Rotary(head_width=8, base=10_000.0, max_positions=6)
    long_cos, long_sin = rotary(10)  # longer than the table: computed for the call
    cos, sin = rotary(6)
    assert long_cos.shape == (10, 4)
    torch.testing.assert_close(long_cos[:6], cos)
    torch.testing.assert_close(long_sin[:6], sin)


def test_attention_with_a_cache_computes_the_last_rows_of_attention_over_cache_and_segment():
    torch.manual_seed(0)
    attn = Attention(d_model=16, n_heads=2, head_width=8, dropout=0.0)
    rotary = Rotary(head_width=8, base=10_000.0, max_positions=8)
    past, x = torch.randn(2, 5, 16), torch.randn(2, 3, 16)  # c = 5 cached positions, t = 3 new ones
    whole, _ = attn(torch.cat([past, x], dim=1), rotary(8), causal=True)
    part, _ = attn(x, rotary(8), causal=True, mask=with_cache(3, 5), past=past)
    torch.testing.assert_close(part, whole[:, 5:])


def test_rotary_scores_depend_only_on_the_distance_of_positions():
    rotary = Rotary(head_width=8, base=10_000.0, max_positions=12)
    cos, sin = rotary(12)
    q, k = torch.randn(8), torch.randn(8)

    def score(i, j):  # q at position i, k at position j
        return rotate(q.expand(1, 1, 1, 8), cos[i : i + 1], sin[i : i + 1]).flatten() @ rotate(
            k.expand(1, 1, 1, 8), cos[j : j + 1], sin[j : j + 1]
        ).flatten()

    torch.testing.assert_close(score(5, 2), score(9, 6))
    assert not torch.allclose(score(5, 2), score(5, 4))


@pytest.mark.parametrize("name", ALL)
def test_same_seed_same_result(name):
    x = ids(2, 20)
    a = make(name, seed=3)(x, targets=x).loss
    b = make(name, seed=3)(x, targets=x).loss
    c = make(name, seed=4)(x, targets=x).loss
    assert a.item() == b.item() and a.item() != c.item()


def test_memory_passed_in_continues_the_sequence():
    model = make("rmt")
    x = ids(2, 32)
    whole = model(x)
    first = model(x[:, :16])
    second = model(x[:, 16:], memory=first.memory)
    torch.testing.assert_close(whole.logits[:, 16:], second.logits)


def test_loss_is_one_mean_over_supervised_positions():
    model = make("rmt")
    x = ids(2, 20)
    targets = torch.full_like(x, -100)
    targets[:, 5] = x[:, 5]
    targets[1, 17] = x[1, 17]
    out = model(x, targets=targets)
    logp = out.logits.log_softmax(-1)
    expected = -(logp[0, 5, x[0, 5]] + logp[1, 5, x[1, 5]] + logp[1, 17, x[1, 17]]) / 3
    torch.testing.assert_close(out.loss, expected)


def test_encoder_form_memory_reads_the_whole_segment():
    model = make("rmt", memory_form="encoder", num_classes=3)
    x = ids(2, 16)
    y = x.clone()
    y[:, 7] = (y[:, 7] + 1) % 16
    out_x, out_y = model(x), model(y)
    assert out_x.logits.shape == (2, 3)  # class logits (b, y), read from the memory after the last segment
    assert not torch.allclose(out_x.memories[0][:, 0], out_y.memories[0][:, 0])  # slot 0 sees token 7


@pytest.mark.parametrize("name", ALL)
def test_generation_is_seeded_and_extends_the_prompt(name):
    model = make(name)
    prompt = ids(2, 11)
    a = minirmt.generate(model, prompt, 10, temperature=0.8, top_k=5, generator=torch.Generator().manual_seed(0))
    b = minirmt.generate(model, prompt, 10, temperature=0.8, top_k=5, generator=torch.Generator().manual_seed(0))
    assert a.shape == (2, 21) and torch.equal(a, b) and torch.equal(a[:, :11], prompt)


def test_greedy_generation_agrees_with_the_full_forward_pass():
    model = make("rmt")
    out = minirmt.generate(model, ids(1, 6), 14, top_k=1, generator=torch.Generator().manual_seed(0))
    logits = model(out).logits
    torch.testing.assert_close(out[:, 6:], logits[:, 5:-1].argmax(-1))


# --- bad input -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "tokens, error, words",
    [
        (torch.rand(2, 8), TypeError, "integer"),
        ([[1, 2, 3]], TypeError, "torch.Tensor"),
        (torch.zeros(8, dtype=torch.long), ValueError, "(b, s)"),
        (torch.zeros(2, 3, 4, dtype=torch.long), ValueError, "(b, s)"),
        (torch.zeros(2, 0, dtype=torch.long), ValueError, "empty"),
        (torch.full((2, 8), 16), ValueError, "vocab_size"),
        (torch.full((2, 8), -1), ValueError, "[0, 16)"),
    ],
)
@pytest.mark.parametrize("name", ["rmt", "xl"])
def test_bad_tokens_give_a_clear_error(name, tokens, error, words):
    with pytest.raises(error, match="tokens") as info:
        make(name)(tokens)
    assert words in str(info.value)


def test_bad_memory_and_targets_give_a_clear_error():
    model = make("rmt")
    x = ids(2, 8)
    with pytest.raises(ValueError, match=r"\(b, m, d\).*\(2, 4, 32\).*\(2, 5, 32\)"):
        model(x, memory=torch.zeros(2, 5, 32))
    with pytest.raises(TypeError, match="float"):
        model(x, memory=torch.zeros(2, 4, 32, dtype=torch.long))
    with pytest.raises(ValueError, match="targets must have the shape"):
        model(x, targets=x[:, :4])
    with pytest.raises(ValueError, match="targets must be ids"):
        model(x, targets=x + 100)
    with pytest.raises(ValueError, match="carries no memory"):
        make("segment")(x, memory=torch.zeros(2, 4, 32))


@pytest.mark.parametrize(
    "overrides, error, words",
    [
        (dict(n_heads=3), ValueError, "n_heads=3 must divide d_model=32"),
        (dict(segment_len=0), ValueError, "segment_len=0"),
        (dict(vocab_size=2.5), TypeError, "vocab_size must be an int"),
        (dict(num_mem_tokens=-1), ValueError, "num_mem_tokens=-1"),
        (dict(dropout=1.0), ValueError, "dropout"),
        (dict(bptt_depth=-1), ValueError, "bptt_depth=-1 must be >= 0"),
        (dict(memory_form="sideways"), ValueError, "memory_form"),
        (dict(memory_form="encoder"), ValueError, "give memory_form='encoder' together with num_classes"),
        (dict(num_classes=3), ValueError, "give memory_form='encoder' together with num_classes"),
        (dict(memory_form="encoder", num_classes=1), ValueError, "num_classes=1 must be >= 2"),
        (dict(memory_mask="full"), ValueError, "memory_mask"),
        (dict(bptt_window="each", bptt_depth=2, memory_flat=True), ValueError, "recomputes its windows already"),
        (dict(d_model=36, n_heads=4), ValueError, "head width"),
    ],
)
def test_invalid_config_is_rejected_with_a_clear_message(overrides, error, words):
    with pytest.raises(error, match="ModelConfig") as info:
        preset("tiny", **overrides)
    assert words in str(info.value)


def test_unknown_names_are_rejected():
    with pytest.raises(ValueError, match="unknown model 'gpt'"):
        build_model("gpt", preset("tiny"))
    with pytest.raises(ValueError, match="unknown preset"):
        preset("huge")
    with pytest.raises(ValueError, match="temperature"):
        minirmt.generate(make("rmt"), ids(1, 4), 3, temperature=0)


def test_presets_build():
    for name in minirmt.PRESETS:
        cfg = preset(name)
        assert isinstance(cfg, ModelConfig)
        assert cfg.ff_width == (2 * cfg.d_model if name.startswith("paper") else 4 * cfg.d_model)
    copy, retrieval = preset("paper-copy"), preset("paper-retrieval")  # the authors' sizes (LM-RMT's runs)
    assert (copy.d_model, copy.n_layers, copy.n_heads, copy.head_width, copy.ff_width) == (128, 4, 4, 64, 256)
    assert (retrieval.d_model, retrieval.n_layers, retrieval.n_heads, retrieval.head_width) == (64, 6, 4, 32)
    assert copy.memory_mask == retrieval.memory_mask == "block" and copy.dropout == retrieval.dropout == 0.1


def test_heads_may_be_wider_than_d_model_over_h():
    """d_head sets the head width k on its own (the authors' copy model: d 128, 4 heads of 64)."""
    cfg = preset("tiny", d_model=32, n_heads=4, d_head=16)
    model = RecurrentMemoryTransformer(cfg)
    assert cfg.head_width == 16 and model.backbone.blocks[0].attn.qkv.weight.shape == (3 * 4 * 16, 32)
    x = torch.randint(0, cfg.vocab_size, (2, 20))
    out = model(x, targets=x)
    out.loss.backward()
    assert out.logits.shape == (2, 20, cfg.vocab_size)
    assert preset("tiny").head_width == 16  # without d_head: d_model / n_heads
