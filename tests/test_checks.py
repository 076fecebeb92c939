"""The exercise checkers: the reference passes, known-bad versions fail with the intended message, and a
checker never raises and always hands back a working function."""

import math

import pytest
import torch
import torch.nn.functional as F
from einops import rearrange

from minirmt.course import checks, probe
from minirmt.course.checks import core, lesson03_copy, lesson07_curriculum
from minirmt.data.tasks import GO
from minirmt.model import masks, segments
from minirmt.training.metrics import answer_accuracy


def run(checker, fn, capsys):
    """Run a checker; return (the function it handed back, what it printed)."""
    returned = checker(fn)
    return returned, capsys.readouterr().out


def assert_passes(checker, fn, capsys):
    returned, out = run(checker, fn, capsys)
    assert out.startswith("✓"), out
    assert returned is fn


def assert_fails(checker, fn, reference, expected_message, capsys):
    returned, out = run(checker, fn, capsys)
    assert out.startswith("✗"), out
    assert expected_message in out, out
    assert returned is reference


# ---------------------------------------------------------------------------------------------------------
# the machinery


def not_attempted(*args):
    raise NotImplementedError("exercise: write this")


# Every checker with the function it falls back to, lesson by lesson.
CHECKERS = [
    (checks.check_split_segments, checks.reference_split_segments),  # 01
    (checks.check_rmt_mask, masks.rmt_decoder),
    (checks.check_rmt_step, checks.reference_rmt_step),
    (checks.check_run_segments, checks.reference_run_segments),  # 02
    (checks.check_run_truncated, checks.reference_run_truncated),
    (checks.check_copy_targets, checks.reference_copy_targets),  # 03
    (checks.check_answer_accuracy, answer_accuracy),
    (checks.check_recall_batch, checks.reference_recall_batch),  # 04
    (checks.check_pairs_information, checks.reference_pairs_information),
    (checks.check_memory_similarity, checks.reference_memory_similarity),  # 05
    (checks.check_fit_probe, probe.fit_linear_probe),
    (checks.check_attention_pairs, checks.reference_attention_pairs),  # 06
    (checks.check_xl_cache, checks.reference_xl_cache),
    (checks.check_doubling_stages, checks.reference_doubling_stages),  # 07
    (checks.check_accuracy_by_segments, checks.reference_accuracy_by_segments),
    (checks.check_batchify, checks.reference_batchify),  # 08
    (checks.check_loss_by_position, checks.reference_loss_by_position),
    (checks.check_stream_loss, checks.reference_stream_loss),
]
BROKEN = (None, lambda *a, **k: "a string", lambda *a, **k: 1 / 0, lambda *a, **k: (torch.zeros(1), "x"))


@pytest.mark.parametrize("checker, reference", CHECKERS)
def test_every_checker_reports_not_attempted_and_never_raises(checker, reference, capsys):
    returned, out = run(checker, not_attempted, capsys)
    assert "not attempted" in out and returned is reference
    for bad in BROKEN:
        returned, out = run(checker, bad, capsys)
        assert out.startswith("✗") and returned is reference, out
    _, out = run(checker, lambda *a, **k: 1 / 0, capsys)
    assert "ZeroDivisionError" in out and "line" in out


def test_expect_tensor_checks_type_then_shape_by_name():
    with pytest.raises(checks.CheckFailed, match="is a list, expected a tensor"):
        core.expect_tensor([1], "g b n", (3, 2, 8))
    with pytest.raises(checks.CheckFailed, match=r"has 2 dims"):
        core.expect_tensor(torch.zeros(2, 8), "g b n", (3, 2, 8))
    with pytest.raises(checks.CheckFailed, match=r"n \(segment length\) is 9, expected 8"):
        core.expect_tensor(torch.zeros(3, 2, 9), "g b n", (3, 2, 8))
    with pytest.raises(checks.CheckFailed, match="Hint: try this"):
        core.expect_tensor(torch.zeros(2, 3, 8), "g b n", (3, 2, 8), hints={(2, 3, 8): "try this"})
    core.expect_tensor(torch.zeros(3, 2, 8), "g b n", (3, 2, 8))


def test_expect_close_names_the_first_wrong_entry():
    expected = torch.zeros(2, 3)
    got = expected.clone()
    got[1, 2] = 5
    with pytest.raises(checks.CheckFailed, match=r"x\[b=1, n=2\] is 5.0, expected 0.0 \(1 of 6"):
        core.expect_close(got, expected, "b n", "x")
    core.expect_close(expected + 1e-6, expected, "b n", atol=1e-4)


def test_a_bug_in_the_checker_is_reported_not_raised(capsys):
    def cases(fn):
        raise RuntimeError("checker bug")

    returned = checks.run_checker("demo", lambda: 0, "reference", cases)
    assert returned == "reference" and "checker itself failed" in capsys.readouterr().out


# ---------------------------------------------------------------------------------------------------------
# 01_segments_and_memory


def split_segments__floor_division(tokens, n, pad_id):  # drops the partial last segment
    g = tokens.shape[1] // n
    return rearrange(tokens[:, : g * n], "b (g n) -> g b n", n=n)


def split_segments__batch_first(tokens, n, pad_id):
    return rearrange(segments.pad_to_segments(tokens, n, pad_id), "b (g n) -> b g n", n=n)


def split_segments__strided(tokens, n, pad_id):
    return rearrange(segments.pad_to_segments(tokens, n, pad_id), "b (n g) -> g b n", n=n)


def split_segments__viewed(tokens, n, pad_id):
    padded = segments.pad_to_segments(tokens, n, pad_id)
    return padded.view(-1, tokens.shape[0], n)


def split_segments__left_padded(tokens, n, pad_id):
    pad = segments.pad_to_segments(tokens, n, pad_id).shape[1] - tokens.shape[1]
    return segments.stack(torch.nn.functional.pad(tokens, (pad, 0), value=pad_id), n)


def split_segments__extra_segment(tokens, n, pad_id):  # off by one: always adds a padding segment
    g = tokens.shape[1] // n + 1
    padded = torch.nn.functional.pad(tokens, (0, g * n - tokens.shape[1]), value=pad_id)
    return segments.stack(padded, n)


def rmt_mask__memory_sees_the_future(m, n):  # read slots see the tokens
    mask = masks.rmt_decoder(m, n).clone()
    mask[:m, m : m + n] = True
    return mask


def rmt_mask__tokens_see_write(m, n):
    mask = masks.rmt_decoder(m, n).clone()
    mask[m : m + n, m + n :] = True
    return mask


def rmt_mask__no_reading(m, n):
    mask = masks.rmt_decoder(m, n).clone()
    mask[m : m + n, :m] = False
    return mask


def rmt_mask__as_floats(m, n):
    return masks.rmt_decoder(m, n).float()


def rmt_mask__encoder_sized(m, n):
    return masks.rmt_encoder(m, n)


def backbone_run(model, tokens, memory, causal=True, write=True):
    x = model.backbone.embed(tokens)
    parts = [memory, x, memory] if write else [memory, x]
    return model.backbone(torch.cat(parts, dim=1), causal=causal)[0]


def rmt_step__from_backbone(model, tokens, memory):  # the reference written out: must pass too
    m, n = memory.shape[1], tokens.shape[1]
    h = backbone_run(model, tokens, memory)
    return h[:, m : m + n], h[:, m + n :]


def rmt_step__read_write_swapped(model, tokens, memory):
    m, n = memory.shape[1], tokens.shape[1]
    h = backbone_run(model, tokens, memory)
    return h[:, m : m + n], h[:, :m]


def rmt_step__sees_the_future(model, tokens, memory):
    m, n = memory.shape[1], tokens.shape[1]
    h = backbone_run(model, tokens, memory, causal=False)
    return h[:, m : m + n], h[:, m + n :]


def rmt_step__memory_only_in_front(model, tokens, memory):
    m = memory.shape[1]
    h = backbone_run(model, tokens, memory, write=False)
    return h[:, m:], h[:, -m:]


def rmt_step__pair_swapped(model, tokens, memory):
    hidden, new_memory = checks.reference_rmt_step(model, tokens, memory)
    return new_memory, hidden


def rmt_step__whole_output(model, tokens, memory):
    return model(tokens, memory=memory)


# ---------------------------------------------------------------------------------------------------------
# 05_inside_the_memory


def memory_similarity__by_hand(states):
    flat = torch.nn.functional.normalize(states.flatten(1), dim=1)
    return flat @ flat.T


def memory_similarity__dot_product(states):
    flat = states.flatten(1)
    return flat @ flat.T


def memory_similarity__per_slot_mean(states):
    unit = torch.nn.functional.normalize(states, dim=-1)
    return torch.einsum("amd,bmd->ab", unit, unit) / states.shape[1]


def memory_similarity__per_slot_matrix(states):
    unit = torch.nn.functional.normalize(states.flatten(0, 1), dim=-1)
    return unit @ unit.T


def memory_similarity__distance(states):
    return 1 - memory_similarity__by_hand(states)


def fit_probe__by_hand(features, labels, num_classes, ridge):  # float32, lstsq-free normal equations
    x = torch.cat([features, torch.ones(len(features), 1)], dim=1)
    y = torch.nn.functional.one_hot(labels, num_classes).float()
    return torch.linalg.solve(x.T @ x + ridge * torch.eye(x.shape[1]), x.T @ y)


def fit_probe__no_bias(features, labels, num_classes, ridge):
    y = torch.nn.functional.one_hot(labels, num_classes).double()
    x = features.double()
    return torch.linalg.solve(x.T @ x + ridge * torch.eye(x.shape[1], dtype=x.dtype), x.T @ y).float()


def fit_probe__label_ids(features, labels, num_classes, ridge):
    x = torch.cat([features, torch.ones(len(features), 1)], dim=1).double()
    return torch.linalg.solve(x.T @ x + ridge * torch.eye(x.shape[1], dtype=x.dtype), x.T @ labels.double())


def fit_probe__no_ridge(features, labels, num_classes, ridge):
    return probe.fit_linear_probe(features, labels, num_classes, 0.0)


def fit_probe__bias_first(features, labels, num_classes, ridge):
    x = torch.cat([torch.ones(len(features), 1), features], dim=1).double()
    y = torch.nn.functional.one_hot(labels, num_classes).double()
    return torch.linalg.solve(x.T @ x + ridge * torch.eye(x.shape[1], dtype=x.dtype), x.T @ y).float()


# ---------------------------------------------------------------------------------------------------------
# 02_recurrence_and_bptt


def loop(model, tokens, detach_if=lambda i, g: False, carry=True, keep="written"):
    """A recurrence loop with switchable mistakes: which hand-overs to detach, carrying, what to collect."""
    pieces = tokens.split(model.cfg.segment_len, dim=1)
    start = memory = model.initial_state(tokens.shape[0])
    logits, memories = [], []
    for i, x in enumerate(pieces):
        if detach_if(i, len(pieces)):
            memory = memory.detach()
        hidden, written, _ = model.step(x, memory if carry else start)
        logits.append(model.backbone.head(hidden))
        memories.append(written if keep == "written" else memory)
        memory = written
    return torch.cat(logits, dim=1), memories


def run_segments__not_carried(model, tokens):
    return loop(model, tokens, carry=False)


def run_segments__keeps_the_read_memory(model, tokens):
    return loop(model, tokens, keep="read")


def run_segments__drops_the_last_segment(model, tokens):
    n = model.cfg.segment_len
    return loop(model, tokens[:, : tokens.shape[1] // n * n])


def run_segments__with_initial_memory(model, tokens):
    logits, memories = loop(model, tokens)
    return logits, [model.initial_state(tokens.shape[0]), *memories]


def run_segments__stacked_per_segment(model, tokens):
    logits, memories = loop(model, tokens)
    return logits.unflatten(1, (-1, model.cfg.segment_len))[:, :, 0], memories


def run_truncated__right(model, tokens, depth):
    return loop(model, tokens, lambda i, g: 0 < i <= g - depth)


def run_truncated__never_detached(model, tokens, depth):
    return loop(model, tokens)


def run_truncated__one_too_many(model, tokens, depth):  # off by one: i < g - depth
    return loop(model, tokens, lambda i, g: 0 < i < g - depth)


def run_truncated__one_too_few(model, tokens, depth):
    return loop(model, tokens, lambda i, g: 0 < i <= g - depth + 1)


def run_truncated__detaches_the_initial_memory(model, tokens, depth):
    return loop(model, tokens, lambda i, g: i <= g - depth)


def run_truncated__detaches_the_logits(model, tokens, depth):
    logits, memories = run_truncated__right(model, tokens, depth)
    return logits.detach(), memories


def run_truncated__not_carried(model, tokens, depth):
    return loop(model, tokens, lambda i, g: 0 < i <= g - depth, carry=False)


# ---------------------------------------------------------------------------------------------------------
# 03_copy_and_reverse


def copy_targets__by_hand(tokens, reverse=False):  # a loop over positions, as a learner might write it
    targets = torch.full_like(tokens, -100)
    for row in range(tokens.shape[0]):
        go = int((tokens[row] == GO).nonzero()[0])
        length = tokens.shape[1] - go
        for i in range(length):
            targets[row, go + i] = tokens[row, length - 1 - i if reverse else i]
    return targets


def copy_targets__zeros_elsewhere(tokens, reverse=False):
    return checks.reference_copy_targets(tokens, reverse).clamp(min=0)


def copy_targets__one_late(tokens, reverse=False):
    return torch.nn.functional.pad(checks.reference_copy_targets(tokens, reverse)[:, :-1], (1, 0), value=-100)


def copy_targets__always_copy(tokens, reverse=False):
    return checks.reference_copy_targets(tokens, False)


def copy_targets__next_tokens(tokens, reverse=False):  # right except the last answer, which is never fed
    targets = checks.reference_copy_targets(tokens, reverse)
    shifted = torch.nn.functional.pad(tokens[:, 1:], (0, 1), value=0)
    return torch.where(targets == -100, targets, shifted)


def copy_targets__off_by_one(tokens, reverse=False):
    targets = checks.reference_copy_targets(tokens, reverse)
    index = lesson03_copy._source_index(tokens, reverse)
    return torch.where(targets == -100, targets, tokens.gather(1, (index + 1).clamp(max=tokens.shape[1] - 1)))


def copy_targets__as_floats(tokens, reverse=False):
    return checks.reference_copy_targets(tokens, reverse).float()


def answer_accuracy__as_tensors(logits, targets):
    accuracy, exact = answer_accuracy(logits, targets)
    return torch.tensor(accuracy), torch.tensor(exact)


def answer_accuracy__every_position(logits, targets):
    right = logits.argmax(-1) == targets
    return right.float().mean().item(), answer_accuracy(logits, targets)[1]


def answer_accuracy__exact_over_every_position(logits, targets):
    right = logits.argmax(-1) == targets
    return answer_accuracy(logits, targets)[0], right.all(dim=1).float().mean().item()


def answer_accuracy__mean_sequence_accuracy(logits, targets):
    asked = targets != -100
    right = (logits.argmax(-1) == targets) & asked
    return answer_accuracy(logits, targets)[0], (right.sum(1) / asked.sum(1)).mean().item()


def answer_accuracy__swapped(logits, targets):
    return answer_accuracy(logits, targets)[::-1]


def answer_accuracy__mean_of_sequence_accuracies(logits, targets):
    asked = targets != -100
    right = (logits.argmax(-1) == targets) & asked
    return (right.sum(1) / asked.sum(1)).mean().item(), answer_accuracy(logits, targets)[1]


def rmt_step__detached(model, tokens, memory):
    hidden, new_memory = checks.reference_rmt_step(model, tokens, memory.detach())
    return hidden, new_memory.detach()


def run_segments__detached(model, tokens):
    return loop(model, tokens, detach_if=lambda i, g: True)  # every hand-over, the initial memory too


def stream_loss__keeps_graph(model, batches):
    return checks.reference_stream_loss.__wrapped__(model, batches)  # the reference without its no_grad


def answer_accuracy__per_sequence(logits, targets):
    asked = targets != -100
    return ((logits.argmax(-1) == targets) & asked).sum(1) / asked.sum(1), 0.0


# ---------------------------------------------------------------------------------------------------------
# 04_associative_recall


def recall_batch__by_hand(keys, values, order, s):  # a loop over the queries, as a learner might write it
    b, p = keys.shape
    tokens = torch.zeros(b, s, dtype=torch.long)
    targets = torch.full((b, s), -100)
    tokens[:, 0 : 2 * p : 2], tokens[:, 1 : 2 * p : 2] = keys, values
    t = s - (2 * order.shape[1] - 1)
    for j in range(order.shape[1]):
        asked = order[:, j]
        tokens[:, t] = keys[torch.arange(b), asked]
        targets[:, t] = values[torch.arange(b), asked]
        if t + 1 < s:
            tokens[:, t + 1] = targets[:, t]
        t += 2
    return tokens, targets


def recall_batch__zeros_elsewhere(keys, values, order, s):
    tokens, targets = checks.reference_recall_batch(keys, values, order, s)
    return tokens, targets.clamp(min=0)


def recall_batch__targets_on_values(keys, values, order, s):
    tokens, targets = checks.reference_recall_batch(keys, values, order, s)
    return tokens, F.pad(targets[:, :-1], (1, 0), value=-100)


def recall_batch__stored_order(keys, values, order, s):
    return checks.reference_recall_batch(keys, values, torch.arange(order.shape[1]).expand_as(order), s)


def recall_batch__starts_early(keys, values, order, s):  # 2q positions for the queries: one too many
    tokens, targets = checks.reference_recall_batch(keys, values, order, s - 1)
    return F.pad(tokens, (0, 1), value=0), F.pad(targets, (0, 1), value=-100)


def pairs_information__ordered(p, k, v):
    return math.log2(math.perm(k, p)) + p * math.log2(v)


def pairs_information__with_replacement(p, k, v):
    return p * math.log2(k * v)


def pairs_information__values_only(p, k, v):
    return p * math.log2(v)


def pairs_information__in_nats(p, k, v):
    return math.log(math.comb(k, p)) + p * math.log(v)


def test_pairs_information_reference():
    assert checks.reference_pairs_information(4, 16, 16) == pytest.approx(math.log2(1820) + 16)
    # every key stored: only the values carry information
    assert checks.reference_pairs_information(16, 16, 16) == pytest.approx(64)


# ---------------------------------------------------------------------------------------------------------
# 06_rmt_vs_transformer_xl (helper-7)


def test_attention_pairs_reference_counts():
    pairs = checks.reference_attention_pairs
    assert pairs("full", 29, 8, 4, 8) == 29 * 29
    assert pairs("segment", 29, 8, 4, 8) == 3 * 64 + 25
    assert pairs("xl", 20, 8, 2, 8) == 8 * 8 + 8 * 16 + 4 * 12  # no cache, then c = 8
    assert pairs("xl", 24, 8, 2, 12) == 8 * 8 + 8 * 16 + 8 * 20  # the cache fills up: 0, 8, 12
    assert pairs("memxl", 16, 8, 2, 8) == 10 * 10 + 10 * 18
    assert pairs("rmt", 12, 8, 2, 8) == 12 * 12 + 8 * 8
    with pytest.raises(ValueError, match="model must be one of"):
        pairs("lstm", 8, 8, 2, 8)


def attention_pairs__floor_segments(model, s, n, m, c):  # off by one segment: the short last one is dropped
    return checks.reference_attention_pairs(model, s - s % n, n, m, c) if model != "full" else s * s


def attention_pairs__cache_from_the_start(model, s, n, m, c):
    if model != "xl":
        return checks.reference_attention_pairs(model, s, n, m, c)
    return sum(min(n, s - i) * (c + min(n, s - i)) for i in range(0, s, n))


def attention_pairs__read_only_memory(model, s, n, m, c):  # [read | tokens], the write slots forgotten
    if model != "rmt":
        return checks.reference_attention_pairs(model, s, n, m, c)
    return sum((m + min(n, s - i)) ** 2 for i in range(0, s, n))


def attention_pairs__causal_half(model, s, n, m, c):
    return s * (s + 1) // 2 if model == "full" else checks.reference_attention_pairs(model, s, n, m, c)


def test_xl_cache_reference_is_the_models_update():
    from minirmt import ModelConfig, TransformerXL

    cfg = ModelConfig(vocab_size=10, d_model=16, n_layers=2, n_heads=2, segment_len=4, xl_cache_len=6)
    model = TransformerXL(cfg)
    inputs = [torch.randn(3, 4, 16, requires_grad=True) * 2 for _ in range(2)]
    cache = torch.randn(2, 3, 6, 16)
    assert torch.equal(checks.reference_xl_cache(cache, inputs, 6), model.next_cache(cache, inputs))
    assert not checks.reference_xl_cache(None, inputs, 6).requires_grad


def xl_cache__no_detach(cache, layer_inputs, c):
    new = torch.stack(layer_inputs)
    return (new if cache is None else torch.cat([cache, new], dim=2))[:, :, -c:]


def xl_cache__oldest(cache, layer_inputs, c):
    new = torch.stack(layer_inputs).detach()
    return (new if cache is None else torch.cat([cache, new], dim=2))[:, :, :c]


def xl_cache__drops_old_cache(cache, layer_inputs, c):
    return torch.stack(layer_inputs).detach()[:, :, -c:]


def xl_cache__segment_first(cache, layer_inputs, c):
    new = torch.stack(layer_inputs).detach()
    return (new if cache is None else torch.cat([new, cache], dim=2))[:, :, -c:]


def xl_cache__batch_first(cache, layer_inputs, c):
    return checks.reference_xl_cache(cache, layer_inputs, c).transpose(0, 1)


# ---------------------------------------------------------------------------------------------------------
# 07_curriculum_and_length (helper-7)


def doubling_stages__overshoots(start, target):
    stages = [start]
    while stages[-1] < target:
        stages.append(stages[-1] * 2)
    return stages


def test_doubling_stages_reference():
    assert checks.reference_doubling_stages(1, 8) == [1, 2, 4]
    assert checks.reference_doubling_stages(2, 12) == [2, 4, 8]
    assert checks.reference_doubling_stages(3, 3) == []


def test_fading_reverser_accuracy_depends_on_g_alone():
    task, model = lesson07_curriculum._fading_task_and_model()
    for g, seed in [(4, 0), (5, 1), (6, 2), (8, 3)]:
        tokens, targets = task.sample(8, g, torch.Generator().manual_seed(seed))
        asked = targets != -100
        right = ((model(tokens).logits.argmax(-1) == targets) & asked).sum() / asked.sum()
        assert right.item() == pytest.approx(lesson07_curriculum._fading_accuracy(g))
    assert model(tokens, targets=targets).loss is not None
    assert len({lesson07_curriculum._fading_accuracy(g) for g in (4, 5, 6, 8)}) == 4  # graded, so mistakes show


def accuracy_by_segments__every_position(model, task, segment_counts, batch_size=32, seed=0):
    result = {}
    for g in segment_counts:
        tokens, targets = task.sample(batch_size, g, torch.Generator().manual_seed(seed))
        result[g] = (model(tokens).logits.argmax(-1) == targets).float().mean().item()
    return result


def accuracy_by_segments__one_length(model, task, segment_counts, batch_size=32, seed=0):
    first = checks.reference_accuracy_by_segments(model, task, segment_counts[:1], batch_size, seed)
    return {g: first[segment_counts[0]] for g in segment_counts}


def accuracy_by_segments__tensors(model, task, segment_counts, batch_size=32, seed=0):
    accuracies = checks.reference_accuracy_by_segments(model, task, segment_counts, batch_size, seed)
    return {g: torch.tensor(a) for g, a in accuracies.items()}


# ---------------------------------------------------------------------------------------------------------
# 08_wikitext_on_a_gpu


def batchify__interleaved(ids, b):
    L = (ids.numel() - 1) // b
    return (rearrange(ids[: b * L], "(t b) -> b t", b=b), rearrange(ids[1 : b * L + 1], "(t b) -> b t", b=b))


def batchify__not_shifted(ids, b):
    inputs, _ = checks.reference_batchify(ids, b)
    return inputs, inputs.clone()


def batchify__too_long(ids, b):
    L = ids.numel() // b
    return ids[: b * L].view(b, L), ids[: b * L].view(b, L)




def stream_loss__no_carry(model, batches):
    losses = [(model(x, targets=y).loss, y.numel()) for x, y in batches]
    return sum(loss * count for loss, count in losses) / sum(count for _, count in losses)


def stream_loss__mean_of_means(model, batches):
    state, losses = None, []
    for x, y in batches:
        out = model(x, memory=state, targets=y)
        state = out.memory
        losses.append(out.loss)
    return sum(losses) / len(losses)


# ---------------------------------------------------------------------------------------------------------
# the catalogues: every right answer passes, every known mistake is named (one test each)

RIGHT = [
    (checks.check_split_segments, checks.reference_split_segments),
    (checks.check_rmt_mask, masks.rmt_decoder),
    (checks.check_rmt_step, checks.reference_rmt_step),
    (checks.check_rmt_step, rmt_step__from_backbone),
    (checks.check_memory_similarity, checks.reference_memory_similarity),
    (checks.check_memory_similarity, memory_similarity__by_hand),
    (checks.check_fit_probe, probe.fit_linear_probe),
    (checks.check_fit_probe, fit_probe__by_hand),
    (checks.check_run_segments, checks.reference_run_segments),
    (checks.check_run_segments, loop),
    (checks.check_run_truncated, checks.reference_run_truncated),
    (checks.check_run_truncated, run_truncated__right),
    (checks.check_copy_targets, checks.reference_copy_targets),
    (checks.check_copy_targets, copy_targets__by_hand),
    (checks.check_answer_accuracy, answer_accuracy),
    (checks.check_recall_batch, checks.reference_recall_batch),
    (checks.check_recall_batch, recall_batch__by_hand),
    (checks.check_pairs_information, checks.reference_pairs_information),
    (checks.check_pairs_information, lambda p, k, v: torch.tensor(checks.reference_pairs_information(p, k, v))),
    (checks.check_attention_pairs, checks.reference_attention_pairs),
    (checks.check_xl_cache, checks.reference_xl_cache),
    (checks.check_doubling_stages, checks.reference_doubling_stages),
    (checks.check_accuracy_by_segments, checks.reference_accuracy_by_segments),
    (checks.check_batchify, checks.reference_batchify),
    (checks.check_loss_by_position, checks.reference_loss_by_position),
    (checks.check_stream_loss, checks.reference_stream_loss),
]

MISTAKES = [
    (checks.check_split_segments, split_segments__floor_division, "the last 5 tokens were dropped"),
    (checks.check_split_segments, split_segments__batch_first, "order (b, g, n)"),
    (checks.check_split_segments, split_segments__strided, "(strided)"),
    (checks.check_split_segments, split_segments__viewed, "mixes the sequences"),
    (checks.check_split_segments, split_segments__left_padded, "padding is at the start"),
    (checks.check_split_segments, split_segments__extra_segment, "one segment too many"),
    (checks.check_rmt_mask, rmt_mask__memory_sees_the_future, "[read] attending to keys in [tokens]"),
    (checks.check_rmt_mask, rmt_mask__memory_sees_the_future, "the memory would see the future"),
    (checks.check_rmt_mask, rmt_mask__tokens_see_write, "they come after the whole segment"),
    (checks.check_rmt_mask, rmt_mask__no_reading, "are all False, expected all True"),
    (checks.check_rmt_mask, rmt_mask__as_floats, "expected torch.bool"),
    (checks.check_rmt_mask, rmt_mask__encoder_sized, "read AND write slots"),
    (checks.check_rmt_step, rmt_step__read_write_swapped, "taken from the read slots"),
    (checks.check_rmt_step, rmt_step__sees_the_future, "attention is not causal"),
    (checks.check_rmt_step, rmt_step__memory_only_in_front, "no write slots"),
    (checks.check_rmt_step, rmt_step__pair_swapped, "returned (memory, hidden)"),
    (checks.check_rmt_step, rmt_step__whole_output, "expected a pair"),
    (checks.check_memory_similarity, memory_similarity__dot_product, "the diagonal is not 1"),
    (checks.check_memory_similarity, memory_similarity__per_slot_mean, "slot by slot"),
    (checks.check_memory_similarity, memory_similarity__per_slot_matrix, "one row per slot"),
    (checks.check_memory_similarity, memory_similarity__distance, "1 - cosine"),
    (checks.check_fit_probe, fit_probe__no_bias, "append a column of ones"),
    (checks.check_fit_probe, fit_probe__label_ids, "regress one-hot targets"),
    (checks.check_fit_probe, fit_probe__no_ridge, "matches ridge = 0"),
    (checks.check_fit_probe, fit_probe__bias_first, "the bias is the first row"),
    (checks.check_run_segments, run_segments__not_carried, "every segment reads the initial memory"),
    (checks.check_run_segments, run_segments__keeps_the_read_memory, "collect the one it wrote"),
    (checks.check_run_segments, run_segments__drops_the_last_segment, "the last, shorter segment"),
    (checks.check_run_segments, run_segments__with_initial_memory, "the initial memory is not one of them"),
    (checks.check_run_segments, run_segments__stacked_per_segment, "torch.cat along dim 1"),
    (checks.check_run_truncated, run_truncated__never_detached, "every segment received gradient"),
    (checks.check_run_truncated, run_truncated__one_too_many, "one segment too many"),
    (checks.check_run_truncated, run_truncated__one_too_few, "one segment too few"),
    (checks.check_run_truncated, run_truncated__detaches_the_initial_memory,
     "never detach the memory entering segment 0"),
    (checks.check_run_truncated, run_truncated__detaches_the_logits, "not the logits"),
    (checks.check_run_truncated, run_truncated__not_carried, "every segment reads the initial memory"),
    (checks.check_copy_targets, copy_targets__zeros_elsewhere, "must hold -100"),
    (checks.check_copy_targets, copy_targets__one_late, "one position late"),
    (checks.check_copy_targets, copy_targets__always_copy, "this is the copy; with reverse=True"),
    (checks.check_copy_targets, copy_targets__next_tokens, "only the last position is wrong"),
    (checks.check_copy_targets, copy_targets__off_by_one, "off by one"),
    (checks.check_copy_targets, copy_targets__as_floats, "expected torch.long"),
    (checks.check_answer_accuracy, answer_accuracy__every_position, "count only the answers"),
    (checks.check_answer_accuracy, answer_accuracy__exact_over_every_position, "asks every position to be right"),
    (checks.check_answer_accuracy, answer_accuracy__mean_sequence_accuracy, "the mean per-sequence accuracy"),
    (checks.check_answer_accuracy, answer_accuracy__swapped, "returned (exact match, accuracy)"),
    (checks.check_answer_accuracy, answer_accuracy__per_sequence, "expected one number"),
    (checks.check_answer_accuracy, answer_accuracy__as_tensors, "is a tensor; return a plain float"),
    (checks.check_answer_accuracy, answer_accuracy__mean_of_sequence_accuracies, "mean of each sequence's accuracy"),
    (checks.check_rmt_step, rmt_step__detached, "is it detached?"),
    (checks.check_run_segments, run_segments__detached, "is the memory detached?"),
    (checks.check_stream_loss, stream_loss__keeps_graph, "still holds its autograd graph"),
    (checks.check_recall_batch, recall_batch__zeros_elsewhere, "must be -100 where nothing is asked"),
    (checks.check_recall_batch, recall_batch__targets_on_values, "the targets sit on the values"),
    (checks.check_recall_batch, recall_batch__stored_order, "in the order given by `order`"),
    (checks.check_recall_batch, recall_batch__starts_early, "starts one position early"),
    (checks.check_pairs_information, pairs_information__ordered, "counts the order"),
    (checks.check_pairs_information, pairs_information__with_replacement, "without replacement"),
    (checks.check_pairs_information, pairs_information__values_only, "which keys were stored"),
    (checks.check_pairs_information, pairs_information__in_nats, "nats"),
    (checks.check_attention_pairs, attention_pairs__floor_segments, "the last, shorter segment is missing"),
    (checks.check_attention_pairs, attention_pairs__cache_from_the_start, "the first segment has no cache"),
    (checks.check_attention_pairs, attention_pairs__read_only_memory, "read AND write memory"),
    (checks.check_attention_pairs, attention_pairs__causal_half, "not only the causal half"),
    (checks.check_attention_pairs, lambda *a: [1], "expected one number"),
    (checks.check_xl_cache, xl_cache__no_detach, "still carries gradient"),
    (checks.check_xl_cache, xl_cache__oldest, "OLDEST c positions"),
    (checks.check_xl_cache, xl_cache__drops_old_cache, "the old cache was dropped"),
    (checks.check_xl_cache, xl_cache__segment_first, "the old cache comes first"),
    (checks.check_xl_cache, xl_cache__batch_first, "stack the layers first"),
    (checks.check_doubling_stages, lambda start,
     target: checks.reference_doubling_stages(start, target) + [target], "leave the target out"),
    (checks.check_doubling_stages, lambda start, target: list(range(start, target)), "grows by one segment per stage"),
    (checks.check_doubling_stages, doubling_stages__overshoots, "every stage must be below the target"),
    (checks.check_doubling_stages, lambda start,
     target: [g / 1 for g in checks.reference_doubling_stages(start, target)], "must be ints"),
    (checks.check_accuracy_by_segments, accuracy_by_segments__every_position, "count only the answers"),
    (checks.check_accuracy_by_segments, accuracy_by_segments__one_length, "num_segments=g"),
    (checks.check_accuracy_by_segments, accuracy_by_segments__tensors, "use .item()"),
    (checks.check_accuracy_by_segments, lambda *a, **k: [0.5], "expected a dict"),
    (checks.check_batchify, batchify__interleaved, "rows interleave the stream"),
    (checks.check_batchify, batchify__not_shifted, "predicts the NEXT token"),
    (checks.check_batchify, batchify__too_long, "L = (N - 1) // b"),
    (checks.check_loss_by_position, lambda loss,
     n: rearrange(loss, "b (n g) -> (b g) n", n=n).mean(0), 'makes the segment index the fastest-varying'),
    (checks.check_loss_by_position, lambda loss, n: loss[:, :n].mean(0), "first segment only"),
    (checks.check_loss_by_position, lambda loss,
     n: rearrange(loss, "b (g n) -> b g n", n=n).mean((0, 2)), "one mean per segment"),
    (checks.check_stream_loss, stream_loss__no_carry, "fresh memory"),
    (checks.check_stream_loss, stream_loss__mean_of_means, "different numbers of targets"),
]


def _name(fn) -> str:
    return getattr(fn, "__name__", "lambda").replace("__", ": ")


@pytest.mark.parametrize("checker, fn", RIGHT, ids=[f"{c.__name__}-{_name(f)}" for c, f in RIGHT])
def test_a_right_answer_passes(checker, fn, capsys):
    assert_passes(checker, fn, capsys)


@pytest.mark.parametrize("checker, fn, message", MISTAKES, ids=[f"{c.__name__}-{_name(f)}" for c, f, _ in MISTAKES])
def test_a_known_mistake_is_named(checker, fn, message, capsys):
    assert_fails(checker, fn, dict(CHECKERS)[checker], message, capsys)


def test_every_dimension_letter_of_a_checker_has_one_meaning():
    """Every letter that a checker names a dimension with (`expect_tensor(..., "l b c d", ...)`) is a key of
    DIMENSIONS, so a message reads "c (cached positions)" for the XL cache and "y (classes)" for a probe."""
    import ast
    import inspect

    from minirmt.course.checks import (
        lesson01_segments,
        lesson02_recurrence,
        lesson04_recall,
        lesson05_memory,
        lesson06_baselines,
        lesson08_language,
    )

    modules = (lesson01_segments, lesson02_recurrence, lesson03_copy, lesson04_recall, lesson05_memory,
               lesson06_baselines, lesson07_curriculum, lesson08_language)
    letters = set()
    for module in modules:
        for node in ast.walk(ast.parse(inspect.getsource(module))):
            name = getattr(node.func, "id", "") if isinstance(node, ast.Call) else ""
            if name in ("expect_tensor", "expect_close"):
                dims = node.args[1 if name == "expect_tensor" else 2]
                assert isinstance(dims, ast.Constant), f"{module.__name__}: dims must be a literal string"
                letters |= set(dims.value.split())
    assert letters <= set(checks.DIMENSIONS), letters - set(checks.DIMENSIONS)
    assert {"c", "y", "L"} <= letters  # the letters that once had two meanings are in use, with one each


def test_a_cache_message_says_cached_positions():
    with pytest.raises(checks.CheckFailed, match=r"c \(cached positions\) is 6, expected 4"):
        core.expect_tensor(torch.zeros(2, 3, 6, 8), "l b c d", (2, 3, 4, 8))
