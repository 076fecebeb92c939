"""The model against the paper and the authors' code: the encoder form classifies and cannot read its targets,
truncated BPTT in both of its forms, the two memory masks, the models added from the paper (memory tokens that
are not carried, the RMT with an XL cache), generation leaving the model as it was."""

import pytest
import torch

import minirmt
from minirmt import build_model, preset
from minirmt.model import masks
from minirmt.training.recipes import recipe
from minirmt.training.task_loop import train

pytestmark = pytest.mark.usefixtures("one_thread")  # conftest.py

def make(name="rmt", seed=0, **overrides):
    return build_model(name, preset("tiny", **overrides), seed=seed).eval()


def ids(b, s, seed=1, v=16):
    return torch.randint(0, v, (b, s), generator=torch.Generator().manual_seed(seed))


# ---------------------------------------------------------------- the encoder form


def test_the_encoder_form_refuses_next_token_targets():
    """Bidirectional attention lets every token read its own next-token target: the encoder must not take them."""
    model = make(memory_form="encoder", num_classes=4)
    x = ids(2, 16)
    with pytest.raises(ValueError, match="every token would read its own next-token target"):
        model(x, targets=x)


def test_the_encoder_classifies_with_labels():
    model = make(memory_form="encoder", num_classes=4)
    x, labels = ids(3, 24), torch.tensor([0, 3, 1])
    out = model(x, labels=labels)
    assert out.logits.shape == (3, 4)
    torch.testing.assert_close(out.loss, torch.nn.functional.cross_entropy(out.logits, labels))
    out.loss.backward()
    assert model.memory.grad.abs().sum() > 0  # the class is read through the memory of every segment


@pytest.mark.parametrize("labels, error, words", [
    (torch.tensor([0, 1]), ValueError, "shape (b,) = (3,)"),
    (torch.tensor([0, 1, 4]), ValueError, "classes in [0, 4)"),
    (torch.tensor([0.0, 1.0, 2.0]), TypeError, "integer classes"),
])
def test_bad_labels_give_a_clear_error(labels, error, words):
    with pytest.raises(error) as info:
        make(memory_form="encoder", num_classes=4)(ids(3, 8), labels=labels)
    assert words in str(info.value)


def test_a_language_model_has_no_classes_to_read():
    with pytest.raises(ValueError, match="no memory to read a class from"):
        model = build_model("segment", preset("tiny", memory_form="encoder", num_classes=2))
        model(ids(2, 8), labels=torch.ones(2).long())


def test_the_classify_task_needs_memory_across_segments():
    """The encoder RMT learns which class the first segment held, over 8 segments; memory tokens that are not
    carried (the same model without recurrence) stay near chance."""
    accuracy = {}
    for name in ("rmt", "memtok"):
        r = recipe("classify", name, steps=150, eval_every=150, batch_size=32, device="cpu")
        accuracy[name] = train(r.build_model(), r.task, r.train_config, progress=False).metrics["eval_accuracy"]
    assert accuracy["rmt"] > 0.9 and accuracy["memtok"] < 0.45, accuracy


def test_the_classify_label_is_the_first_segments_class():
    task = minirmt.data.tasks.make_task("classify", 4)
    tokens, labels = task.sample(64, 5, torch.Generator().manual_seed(0))
    first = tokens[:, :4]
    is_class = (first >= 2) & (first < 2 + task.num_classes)
    assert torch.equal(is_class.sum(1), torch.ones(64, dtype=torch.long))  # one class symbol in segment 0
    assert torch.equal(first[is_class] - 2, labels)
    last = tokens[:, -4:]
    decoys = last[(last >= 2) & (last < 2 + task.num_classes)] - 2
    assert (decoys == labels).float().mean() < 0.5  # the last segment's decoy says little of the label


# ---------------------------------------------------------------- truncated BPTT


def window_of(model, g, i, depth):
    """The segments whose computation the loss of segment i alone reaches: segment j is filled with token j + 1,
    and every call of the embedding (recomputations too) is recorded with the segment it embeds."""
    x = torch.arange(1, g + 1).repeat_interleave(8).expand(2, -1)  # (b, 8 g): segment j holds token j + 1
    targets = torch.full_like(x, -100)
    targets[:, 8 * i : 8 * (i + 1)] = x[:, 8 * i : 8 * (i + 1)]
    calls = []

    def record(module, inputs, output):
        output.retain_grad()
        calls.append((int(inputs[0][0, 0]) - 1, output))

    hook = model.backbone.embed.register_forward_hook(record)
    model(x, targets=targets, bptt_depth=depth).loss.backward()
    hook.remove()
    return sorted({j for j, out in calls if out.grad is not None and out.grad.abs().sum() > 0})


@pytest.mark.parametrize("depth", [1, 2, 3])
def test_with_each_window_every_segments_loss_reaches_depth_segments(depth):
    model = make(bptt_window="each").train()
    for i in range(5):
        assert window_of(model, 5, i, depth) == list(range(max(0, i - depth + 1), i + 1)), (i, depth)


def test_with_the_end_window_only_the_last_segments_loss_reaches_back():
    model = make(bptt_window="end").train()
    assert window_of(model, 5, 4, 2) == [3, 4]  # the last segment: its window
    assert window_of(model, 5, 2, 2) == [2]  # an earlier one: no memory gradient at all


def test_each_window_gives_the_same_values_and_full_bptt_when_the_window_spans_the_sequence(monkeypatch):
    """With a window as long as the sequence (5 segments), every segment's loss reaches back to the initial
    memory: the recomputed windows give full BPTT's gradient, through `_each_window` itself."""
    x = ids(2, 40)  # 5 segments of 8
    end, each = make(bptt_window="end"), make(bptt_window="each")
    torch.testing.assert_close(end(x, bptt_depth=2).logits, each(x, bptt_depth=2).logits)
    full = make(bptt_window="end").train()
    full(x, targets=x).loss.backward()
    windows = make(bptt_window="each").train()
    calls = []
    each_window = type(windows)._each_window
    monkeypatch.setattr(type(windows), "_each_window", lambda self, *a: calls.append(1) or each_window(self, *a))
    windows(x, targets=x, bptt_depth=5).loss.backward()
    assert calls == [1]
    for name, p in full.named_parameters():
        torch.testing.assert_close(p.grad, dict(windows.named_parameters())[name].grad, msg=name)


@pytest.mark.parametrize("depth", [0, 1])
def test_depth_0_and_1_send_no_gradient_through_memory(depth):
    model = make().train()
    x = ids(2, 24)
    out = model(x, targets=x, bptt_depth=depth)
    for memory in out.memories[:-1]:
        memory.retain_grad()
    out.loss.backward()
    assert all(m.grad is None or m.grad.abs().sum() == 0 for m in out.memories[:-1])
    assert make(bptt_depth=0).cfg.bptt_depth == 0  # the config accepts it too


def test_a_negative_depth_is_an_error_in_the_call_too():
    with pytest.raises(ValueError, match="bptt_depth=-1 must be >= 0"):
        make()(ids(2, 16), bptt_depth=-1)


# ---------------------------------------------------------------- the memory mask


def read_slot_sees_later_read_slots(model) -> bool:
    """Does read slot 0's output in the first layer depend on read slot 1 (a later position in its block)?"""
    out = model(ids(1, 8), return_attention=True)
    weights = out.attentions[0][0][0]  # segment 0, layer 0, sequence 0: (h, i, j)
    return bool((weights[:, 0, 1] > 0).all())


def test_the_block_mask_lets_each_memory_block_see_itself():
    assert not read_slot_sees_later_read_slots(make(memory_mask="causal"))
    assert read_slot_sees_later_read_slots(make(memory_mask="block"))
    weights = make(memory_mask="block")(ids(1, 8), return_attention=True).attentions[0][0][0]
    m, n = 4, 8
    assert torch.all(weights[:, :m, m:] == 0)  # the read block still sees nothing after it
    assert torch.all(weights[:, m : m + n, m + n :] == 0)  # tokens never see the write slots
    assert torch.all(weights[:, m + n :, m + n :] > 0)  # the write block sees all of itself


def test_the_block_mask_takes_the_fused_kernel_with_the_same_result():
    model = make(memory_mask="block")
    x = ids(2, 21)
    torch.testing.assert_close(model(x).logits, model(x, return_attention=True).logits, atol=1e-5, rtol=1e-4)


def test_the_block_mask_is_the_causal_one_but_inside_the_memory_blocks():
    causal, block = masks.rmt_decoder(3, 5), masks.rmt_decoder_block(3, 5)
    differs = (causal != block).nonzero().tolist()
    assert differs and all((i < 3 and j < 3) or (i >= 8 and j >= 8) for i, j in differs)


# ---------------------------------------------------------------- the paper's other models


def test_memory_tokens_that_are_not_carried_cost_what_the_rmt_does():
    from minirmt.training.accel import flops_per_token

    assert flops_per_token(make("memtok"), 24) == flops_per_token(make("rmt"), 24)
    out = make("memtok")(ids(2, 24))
    assert out.logits.shape == (2, 24, 16)


def test_the_rmt_with_a_cache_reads_it_and_its_memory_may_not():
    x = ids(1, 16)
    for reads, expected in ((True, True), (False, False)):
        out = make("rmtxl", memory_reads_cache=reads)(x, return_attention=True)
        weights = out.attentions[1][0][0]  # segment 1 (it has a cache), layer 0: (h, i, c + 2m + n)
        c, m, n = 8, 4, 8
        assert weights.shape[-1] == c + 2 * m + n
        assert bool((weights[:, :m, :c].sum(-1) > 0).all()) == expected  # read slots -> cache
        assert bool((weights[:, m : m + n, :c].sum(-1) > 0).all())  # tokens always see the cache


def test_the_rmt_with_a_cache_passes_both_on():
    model = make("rmtxl")
    x = ids(2, 24)
    whole = model(x).logits
    first = model(x[:, :16])
    torch.testing.assert_close(model(x[:, 16:], memory=first.memory).logits, whole[:, 16:])
    with pytest.raises(TypeError, match="a pair"):
        model(x, memory=first.memory[0])


# ---------------------------------------------------------------- generation


@pytest.mark.parametrize("training", [True, False])
def test_generation_leaves_the_model_in_the_mode_it_found(training):
    model = make().train(training)
    minirmt.generate(model, ids(1, 4), 3, generator=torch.Generator().manual_seed(0))
    assert model.training == training


def test_memxl_offers_the_authors_mask(monkeypatch):
    """MemTr-XL: by default causal with the cache read by every row; with the block mask and without
    memory_reads_cache, as in the authors' code, the memory rows see their whole block and no cache."""
    mask = masks.memxl_with_cache(2, 3, 4, "block", memory_reads_cache=False)  # (m + n, c + m + n)
    assert mask.shape == (5, 9)
    assert not mask[:2, :4].any() and mask[:2, 4:6].all() and not mask[:2, 6:].any()  # memory rows
    assert mask[2:, :4].all() and torch.equal(mask[2:, 4:], masks.causal(5)[2:])  # the tokens as before
    assert torch.equal(masks.memxl_with_cache(2, 3, 4), masks.with_cache(5, 4))  # the default: causal
    x = ids(2, 24)
    authors = make("memxl", memory_mask="block", memory_reads_cache=False)
    default = make("memxl")
    default.load_state_dict(authors.state_dict())
    assert not torch.allclose(authors(x).logits, default(x).logits)  # the mask changes what the tokens read
    seen = []
    monkeypatch.setattr(authors.backbone, "forward", lambda h, **kw: seen.append(kw["mask"]) or
                        type(authors.backbone).forward(authors.backbone, h, **kw))
    authors(x)
    assert seen[0] is not None and not seen[1][:4, :8].any()  # segment 2's memory rows see no cached position
