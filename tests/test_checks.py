"""The exercise checkers: the reference passes, known-bad versions fail with the intended message, and a
checker never raises and always hands back a working function."""

import pytest
import torch
from einops import rearrange

from minirmt import checks, masks, probe, segments


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
    (checks.check_answer_accuracy, checks.reference_answer_accuracy),
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
        checks.expect_tensor([1], "g b n", (3, 2, 8))
    with pytest.raises(checks.CheckFailed, match=r"has 2 dims"):
        checks.expect_tensor(torch.zeros(2, 8), "g b n", (3, 2, 8))
    with pytest.raises(checks.CheckFailed, match=r"n \(segment length\) is 9, expected 8"):
        checks.expect_tensor(torch.zeros(3, 2, 9), "g b n", (3, 2, 8))
    with pytest.raises(checks.CheckFailed, match="Hint: try this"):
        checks.expect_tensor(torch.zeros(2, 3, 8), "g b n", (3, 2, 8), hints={(2, 3, 8): "try this"})
    checks.expect_tensor(torch.zeros(3, 2, 8), "g b n", (3, 2, 8))


def test_expect_close_names_the_first_wrong_entry():
    expected = torch.zeros(2, 3)
    got = expected.clone()
    got[1, 2] = 5
    with pytest.raises(checks.CheckFailed, match=r"x\[b=1, n=2\] is 5.0, expected 0.0 \(1 of 6"):
        checks.expect_close(got, expected, "b n", "x")
    checks.expect_close(expected + 1e-6, expected, "b n", atol=1e-4)


def test_a_bug_in_the_checker_is_reported_not_raised(capsys):
    def cases(fn):
        raise RuntimeError("checker bug")

    returned = checks.run_checker("demo", lambda: 0, "reference", cases)
    assert returned == "reference" and "checker itself failed" in capsys.readouterr().out


# ---------------------------------------------------------------------------------------------------------
# 01_segments_and_memory


def test_split_segments(capsys):
    check, ref = checks.check_split_segments, checks.reference_split_segments
    assert_passes(check, ref, capsys)

    def floor_division(tokens, n, pad_id):  # drops the partial last segment
        g = tokens.shape[1] // n
        return rearrange(tokens[:, : g * n], "b (g n) -> g b n", n=n)

    def batch_first(tokens, n, pad_id):
        return rearrange(segments.pad_to_segments(tokens, n, pad_id), "b (g n) -> b g n", n=n)

    def strided(tokens, n, pad_id):
        return rearrange(segments.pad_to_segments(tokens, n, pad_id), "b (n g) -> g b n", n=n)

    def viewed(tokens, n, pad_id):
        padded = segments.pad_to_segments(tokens, n, pad_id)
        return padded.view(-1, tokens.shape[0], n)

    def left_padded(tokens, n, pad_id):
        pad = segments.pad_to_segments(tokens, n, pad_id).shape[1] - tokens.shape[1]
        return segments.stack(torch.nn.functional.pad(tokens, (pad, 0), value=pad_id), n)

    def extra_segment(tokens, n, pad_id):  # off by one: always adds a padding segment
        g = tokens.shape[1] // n + 1
        padded = torch.nn.functional.pad(tokens, (0, g * n - tokens.shape[1]), value=pad_id)
        return segments.stack(padded, n)

    assert_fails(check, floor_division, ref, "the last 5 tokens were dropped", capsys)
    assert_fails(check, batch_first, ref, "order (b, g, n)", capsys)
    assert_fails(check, strided, ref, "(strided)", capsys)
    assert_fails(check, viewed, ref, "mixes the sequences", capsys)
    assert_fails(check, left_padded, ref, "padding is at the start", capsys)
    assert_fails(check, extra_segment, ref, "one segment too many", capsys)


def test_rmt_mask(capsys):
    check, ref = checks.check_rmt_mask, masks.rmt_decoder
    assert_passes(check, ref, capsys)

    def memory_sees_the_future(m, n):  # read slots see the tokens
        mask = masks.rmt_decoder(m, n).clone()
        mask[:m, m : m + n] = True
        return mask

    def tokens_see_write(m, n):
        mask = masks.rmt_decoder(m, n).clone()
        mask[m : m + n, m + n :] = True
        return mask

    def no_reading(m, n):
        mask = masks.rmt_decoder(m, n).clone()
        mask[m : m + n, :m] = False
        return mask

    def as_floats(m, n):
        return masks.rmt_decoder(m, n).float()

    def encoder_sized(m, n):
        return masks.rmt_encoder(m, n)

    assert_fails(check, memory_sees_the_future, ref, "[read] attending to keys in [tokens]", capsys)
    assert_fails(check, memory_sees_the_future, ref, "the memory would see the future", capsys)
    assert_fails(check, tokens_see_write, ref, "they come after the whole segment", capsys)
    assert_fails(check, no_reading, ref, "are all False, expected all True", capsys)
    assert_fails(check, as_floats, ref, "expected torch.bool", capsys)
    assert_fails(check, encoder_sized, ref, "read AND write slots", capsys)


def backbone_run(model, tokens, memory, causal=True, write=True):
    x = model.backbone.embed(tokens)
    parts = [memory, x, memory] if write else [memory, x]
    return model.backbone(torch.cat(parts, dim=1), causal=causal)[0]


def test_rmt_step(capsys):
    check, ref = checks.check_rmt_step, checks.reference_rmt_step
    assert_passes(check, ref, capsys)

    def from_backbone(model, tokens, memory):  # the reference written out: must pass too
        m, n = memory.shape[1], tokens.shape[1]
        h = backbone_run(model, tokens, memory)
        return h[:, m : m + n], h[:, m + n :]

    def read_write_swapped(model, tokens, memory):
        m, n = memory.shape[1], tokens.shape[1]
        h = backbone_run(model, tokens, memory)
        return h[:, m : m + n], h[:, :m]

    def sees_the_future(model, tokens, memory):
        m, n = memory.shape[1], tokens.shape[1]
        h = backbone_run(model, tokens, memory, causal=False)
        return h[:, m : m + n], h[:, m + n :]

    def memory_only_in_front(model, tokens, memory):
        m = memory.shape[1]
        h = backbone_run(model, tokens, memory, write=False)
        return h[:, m:], h[:, -m:]

    def pair_swapped(model, tokens, memory):
        hidden, new_memory = ref(model, tokens, memory)
        return new_memory, hidden

    def whole_output(model, tokens, memory):
        return model(tokens, memory=memory)

    assert_passes(check, from_backbone, capsys)
    assert_fails(check, read_write_swapped, ref, "taken from the read slots", capsys)
    assert_fails(check, sees_the_future, ref, "attention is not causal", capsys)
    assert_fails(check, memory_only_in_front, ref, "no write slots", capsys)
    assert_fails(check, pair_swapped, ref, "returned (memory, hidden)", capsys)
    assert_fails(check, whole_output, ref, "expected a pair", capsys)


# ---------------------------------------------------------------------------------------------------------
# 05_inside_the_memory


def test_memory_similarity(capsys):
    check, ref = checks.check_memory_similarity, checks.reference_memory_similarity
    assert_passes(check, ref, capsys)

    def by_hand(states):
        flat = torch.nn.functional.normalize(states.flatten(1), dim=1)
        return flat @ flat.T

    def dot_product(states):
        flat = states.flatten(1)
        return flat @ flat.T

    def per_slot_mean(states):
        unit = torch.nn.functional.normalize(states, dim=-1)
        return torch.einsum("amd,bmd->ab", unit, unit) / states.shape[1]

    def per_slot_matrix(states):
        unit = torch.nn.functional.normalize(states.flatten(0, 1), dim=-1)
        return unit @ unit.T

    def distance(states):
        return 1 - by_hand(states)

    assert_passes(check, by_hand, capsys)
    assert_fails(check, dot_product, ref, "the diagonal is not 1", capsys)
    assert_fails(check, per_slot_mean, ref, "slot by slot", capsys)
    assert_fails(check, per_slot_matrix, ref, "one row per slot", capsys)
    assert_fails(check, distance, ref, "1 - cosine", capsys)


def test_fit_probe(capsys):
    check, ref = checks.check_fit_probe, probe.fit_linear_probe

    def by_hand(features, labels, num_classes, ridge):  # float32, lstsq-free normal equations
        x = torch.cat([features, torch.ones(len(features), 1)], dim=1)
        y = torch.nn.functional.one_hot(labels, num_classes).float()
        return torch.linalg.solve(x.T @ x + ridge * torch.eye(x.shape[1]), x.T @ y)

    def no_bias(features, labels, num_classes, ridge):
        y = torch.nn.functional.one_hot(labels, num_classes).double()
        x = features.double()
        return torch.linalg.solve(x.T @ x + ridge * torch.eye(x.shape[1], dtype=x.dtype), x.T @ y).float()

    def label_ids(features, labels, num_classes, ridge):
        x = torch.cat([features, torch.ones(len(features), 1)], dim=1).double()
        return torch.linalg.solve(x.T @ x + ridge * torch.eye(x.shape[1], dtype=x.dtype), x.T @ labels.double())

    def no_ridge(features, labels, num_classes, ridge):
        return ref(features, labels, num_classes, 0.0)

    def bias_first(features, labels, num_classes, ridge):
        x = torch.cat([torch.ones(len(features), 1), features], dim=1).double()
        y = torch.nn.functional.one_hot(labels, num_classes).double()
        return torch.linalg.solve(x.T @ x + ridge * torch.eye(x.shape[1], dtype=x.dtype), x.T @ y).float()

    assert_passes(check, ref, capsys)
    assert_passes(check, by_hand, capsys)
    assert_fails(check, no_bias, ref, "append a column of ones", capsys)
    assert_fails(check, label_ids, ref, "regress one-hot targets", capsys)
    assert_fails(check, no_ridge, ref, "matches ridge = 0", capsys)
    assert_fails(check, bias_first, ref, "the bias is the first row", capsys)


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


def test_run_segments(capsys):
    check, ref = checks.check_run_segments, checks.reference_run_segments
    assert_passes(check, ref, capsys)
    assert_passes(check, loop, capsys)

    def not_carried(model, tokens):
        return loop(model, tokens, carry=False)

    def keeps_the_read_memory(model, tokens):
        return loop(model, tokens, keep="read")

    def drops_the_last_segment(model, tokens):
        n = model.cfg.segment_len
        return loop(model, tokens[:, : tokens.shape[1] // n * n])

    def with_initial_memory(model, tokens):
        logits, memories = loop(model, tokens)
        return logits, [model.initial_state(tokens.shape[0]), *memories]

    def stacked_per_segment(model, tokens):
        logits, memories = loop(model, tokens)
        return logits.unflatten(1, (-1, model.cfg.segment_len))[:, :, 0], memories

    assert_fails(check, not_carried, ref, "every segment reads the initial memory", capsys)
    assert_fails(check, keeps_the_read_memory, ref, "collect the one it wrote", capsys)
    assert_fails(check, drops_the_last_segment, ref, "the last, shorter segment", capsys)
    assert_fails(check, with_initial_memory, ref, "the initial memory is not one of them", capsys)
    assert_fails(check, stacked_per_segment, ref, "torch.cat along dim 1", capsys)


def test_run_truncated(capsys):
    check, ref = checks.check_run_truncated, checks.reference_run_truncated
    assert_passes(check, ref, capsys)

    def right(model, tokens, depth):
        return loop(model, tokens, lambda i, g: 0 < i <= g - depth)

    def never_detached(model, tokens, depth):
        return loop(model, tokens)

    def one_too_many(model, tokens, depth):  # off by one: i < g - depth
        return loop(model, tokens, lambda i, g: 0 < i < g - depth)

    def one_too_few(model, tokens, depth):
        return loop(model, tokens, lambda i, g: 0 < i <= g - depth + 1)

    def detaches_the_initial_memory(model, tokens, depth):
        return loop(model, tokens, lambda i, g: i <= g - depth)

    def detaches_the_logits(model, tokens, depth):
        logits, memories = right(model, tokens, depth)
        return logits.detach(), memories

    def not_carried(model, tokens, depth):
        return loop(model, tokens, lambda i, g: 0 < i <= g - depth, carry=False)

    assert_passes(check, right, capsys)
    assert_fails(check, never_detached, ref, "every segment received gradient", capsys)
    assert_fails(check, one_too_many, ref, "one segment too many", capsys)
    assert_fails(check, one_too_few, ref, "one segment too few", capsys)
    assert_fails(check, detaches_the_initial_memory, ref, "never detach the memory entering segment 0", capsys)
    assert_fails(check, detaches_the_logits, ref, "not the logits", capsys)
    assert_fails(check, not_carried, ref, "every segment reads the initial memory", capsys)


# ---------------------------------------------------------------------------------------------------------
# 03_copy_and_reverse


def test_copy_targets(capsys):
    check, ref = checks.check_copy_targets, checks.reference_copy_targets
    assert_passes(check, ref, capsys)

    from minirmt.tasks import GO

    def by_hand(tokens, reverse=False):  # a loop over positions, as a learner might write it
        targets = torch.full_like(tokens, -100)
        for row in range(tokens.shape[0]):
            go = int((tokens[row] == GO).nonzero()[0])
            length = tokens.shape[1] - go
            for i in range(length):
                targets[row, go + i] = tokens[row, length - 1 - i if reverse else i]
        return targets

    def zeros_elsewhere(tokens, reverse=False):
        return ref(tokens, reverse).clamp(min=0)

    def one_late(tokens, reverse=False):
        return torch.nn.functional.pad(ref(tokens, reverse)[:, :-1], (1, 0), value=-100)

    def always_copy(tokens, reverse=False):
        return ref(tokens, False)

    def next_tokens(tokens, reverse=False):  # right except the last answer, which is never fed
        targets = ref(tokens, reverse)
        shifted = torch.nn.functional.pad(tokens[:, 1:], (0, 1), value=0)
        return torch.where(targets == -100, targets, shifted)

    def off_by_one(tokens, reverse=False):
        targets = ref(tokens, reverse)
        index = checks._source_index(tokens, reverse)
        return torch.where(targets == -100, targets, tokens.gather(1, (index + 1).clamp(max=tokens.shape[1] - 1)))

    def as_floats(tokens, reverse=False):
        return ref(tokens, reverse).float()

    assert_passes(check, by_hand, capsys)
    assert_fails(check, zeros_elsewhere, ref, "must hold -100", capsys)
    assert_fails(check, one_late, ref, "one position late", capsys)
    assert_fails(check, always_copy, ref, "this is the copy; with reverse=True", capsys)
    assert_fails(check, next_tokens, ref, "only the last position is wrong", capsys)
    assert_fails(check, off_by_one, ref, "off by one", capsys)
    assert_fails(check, as_floats, ref, "expected torch.long", capsys)


def test_answer_accuracy(capsys):
    check, ref = checks.check_answer_accuracy, checks.reference_answer_accuracy
    assert_passes(check, ref, capsys)

    def as_tensors(logits, targets):
        accuracy, exact = ref(logits, targets)
        return torch.tensor(accuracy), torch.tensor(exact)

    def every_position(logits, targets):
        right = logits.argmax(-1) == targets
        return right.float().mean().item(), ref(logits, targets)[1]

    def exact_over_every_position(logits, targets):
        right = logits.argmax(-1) == targets
        return ref(logits, targets)[0], right.all(dim=1).float().mean().item()

    def mean_sequence_accuracy(logits, targets):
        asked = targets != -100
        right = (logits.argmax(-1) == targets) & asked
        return ref(logits, targets)[0], (right.sum(1) / asked.sum(1)).mean().item()

    def swapped(logits, targets):
        return ref(logits, targets)[::-1]

    def per_sequence(logits, targets):
        asked = targets != -100
        return ((logits.argmax(-1) == targets) & asked).sum(1) / asked.sum(1), 0.0

    assert_passes(check, as_tensors, capsys)
    assert_fails(check, every_position, ref, "count only the answers", capsys)
    assert_fails(check, exact_over_every_position, ref, "asks every position to be right", capsys)
    assert_fails(check, mean_sequence_accuracy, ref, "the mean per-sequence accuracy", capsys)
    assert_fails(check, swapped, ref, "returned (exact match, accuracy)", capsys)
    assert_fails(check, per_sequence, ref, "expected one number", capsys)


# ---------------------------------------------------------------------------------------------------------
# 04_associative_recall


def test_recall_batch(capsys):
    import torch.nn.functional as F

    check, ref = checks.check_recall_batch, checks.reference_recall_batch
    assert_passes(check, ref, capsys)

    def by_hand(keys, values, order, s):  # a loop over the queries, as a learner might write it
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

    def zeros_elsewhere(keys, values, order, s):
        tokens, targets = ref(keys, values, order, s)
        return tokens, targets.clamp(min=0)

    def targets_on_values(keys, values, order, s):
        tokens, targets = ref(keys, values, order, s)
        return tokens, F.pad(targets[:, :-1], (1, 0), value=-100)

    def stored_order(keys, values, order, s):
        return ref(keys, values, torch.arange(order.shape[1]).expand_as(order), s)

    def starts_early(keys, values, order, s):  # 2q positions for the queries: one too many
        tokens, targets = ref(keys, values, order, s - 1)
        return F.pad(tokens, (0, 1), value=0), F.pad(targets, (0, 1), value=-100)

    assert_passes(check, by_hand, capsys)
    assert_fails(check, zeros_elsewhere, ref, "must be -100 where nothing is asked", capsys)
    assert_fails(check, targets_on_values, ref, "the targets sit on the values", capsys)
    assert_fails(check, stored_order, ref, "in the order given by `order`", capsys)
    assert_fails(check, starts_early, ref, "starts one position early", capsys)


def test_pairs_information(capsys):
    import math

    check, ref = checks.check_pairs_information, checks.reference_pairs_information
    assert_passes(check, ref, capsys)
    assert ref(4, 16, 16) == pytest.approx(math.log2(1820) + 16)
    assert ref(16, 16, 16) == pytest.approx(64)  # every key stored: only the values carry information

    def ordered(p, k, v):
        return math.log2(math.perm(k, p)) + p * math.log2(v)

    def with_replacement(p, k, v):
        return p * math.log2(k * v)

    def values_only(p, k, v):
        return p * math.log2(v)

    def in_nats(p, k, v):
        return math.log(math.comb(k, p)) + p * math.log(v)

    assert_passes(check, lambda p, k, v: torch.tensor(ref(p, k, v)), capsys)
    assert_fails(check, ordered, ref, "counts the order", capsys)
    assert_fails(check, with_replacement, ref, "without replacement", capsys)
    assert_fails(check, values_only, ref, "which keys were stored", capsys)
    assert_fails(check, in_nats, ref, "nats", capsys)


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


def test_attention_pairs(capsys):
    reference = checks.reference_attention_pairs
    assert_passes(checks.check_attention_pairs, reference, capsys)

    def floor_segments(model, s, n, m, c):  # off by one segment: the short last one is dropped
        return reference(model, s - s % n, n, m, c) if model != "full" else s * s

    def cache_from_the_start(model, s, n, m, c):
        if model != "xl":
            return reference(model, s, n, m, c)
        return sum(min(n, s - i) * (c + min(n, s - i)) for i in range(0, s, n))

    def read_only_memory(model, s, n, m, c):  # [read | tokens], the write slots forgotten
        if model != "rmt":
            return reference(model, s, n, m, c)
        return sum((m + min(n, s - i)) ** 2 for i in range(0, s, n))

    def causal_half(model, s, n, m, c):
        return s * (s + 1) // 2 if model == "full" else reference(model, s, n, m, c)

    assert_fails(checks.check_attention_pairs, floor_segments, reference, "the last, shorter segment is missing",
                 capsys)
    assert_fails(checks.check_attention_pairs, cache_from_the_start, reference, "the first segment has no cache",
                 capsys)
    assert_fails(checks.check_attention_pairs, read_only_memory, reference, "read AND write memory", capsys)
    assert_fails(checks.check_attention_pairs, causal_half, reference, "not only the causal half", capsys)
    assert_fails(checks.check_attention_pairs, lambda *a: [1], reference, "expected one number", capsys)


def test_xl_cache_reference_is_the_models_update():
    from minirmt import ModelConfig, TransformerXL

    cfg = ModelConfig(vocab_size=10, d_model=16, n_layers=2, n_heads=2, segment_len=4, xl_cache_len=6)
    model = TransformerXL(cfg)
    inputs = [torch.randn(3, 4, 16, requires_grad=True) * 2 for _ in range(2)]
    cache = torch.randn(2, 3, 6, 16)
    assert torch.equal(checks.reference_xl_cache(cache, inputs, 6), model.next_cache(cache, inputs))
    assert not checks.reference_xl_cache(None, inputs, 6).requires_grad


def test_xl_cache(capsys):
    reference = checks.reference_xl_cache
    assert_passes(checks.check_xl_cache, reference, capsys)

    def no_detach(cache, layer_inputs, c):
        new = torch.stack(layer_inputs)
        return (new if cache is None else torch.cat([cache, new], dim=2))[:, :, -c:]

    def oldest(cache, layer_inputs, c):
        new = torch.stack(layer_inputs).detach()
        return (new if cache is None else torch.cat([cache, new], dim=2))[:, :, :c]

    def drops_old_cache(cache, layer_inputs, c):
        return torch.stack(layer_inputs).detach()[:, :, -c:]

    def segment_first(cache, layer_inputs, c):
        new = torch.stack(layer_inputs).detach()
        return (new if cache is None else torch.cat([new, cache], dim=2))[:, :, -c:]

    def batch_first(cache, layer_inputs, c):
        return reference(cache, layer_inputs, c).transpose(0, 1)

    assert_fails(checks.check_xl_cache, no_detach, reference, "still carries gradient", capsys)
    assert_fails(checks.check_xl_cache, oldest, reference, "OLDEST c positions", capsys)
    assert_fails(checks.check_xl_cache, drops_old_cache, reference, "the old cache was dropped", capsys)
    assert_fails(checks.check_xl_cache, segment_first, reference, "the old cache comes first", capsys)
    assert_fails(checks.check_xl_cache, batch_first, reference, "stack the layers first", capsys)


# ---------------------------------------------------------------------------------------------------------
# 07_curriculum_and_length (helper-7)


def test_doubling_stages(capsys):
    reference = checks.reference_doubling_stages
    assert reference(1, 8) == [1, 2, 4] and reference(2, 12) == [2, 4, 8] and reference(3, 3) == []
    assert_passes(checks.check_doubling_stages, reference, capsys)
    assert_fails(checks.check_doubling_stages, lambda start, target: reference(start, target) + [target], reference,
                 "leave the target out", capsys)
    assert_fails(checks.check_doubling_stages, lambda start, target: list(range(start, target)), reference,
                 "grows by one segment per stage", capsys)

    def overshoots(start, target):
        stages = [start]
        while stages[-1] < target:
            stages.append(stages[-1] * 2)
        return stages

    assert_fails(checks.check_doubling_stages, overshoots, reference, "every stage must be below the target", capsys)
    assert_fails(checks.check_doubling_stages, lambda start, target: [g / 1 for g in reference(start, target)],
                 reference, "must be ints", capsys)


def test_fading_reverser_accuracy_depends_on_g_alone():
    task, model = checks._fading_task_and_model()
    for g, seed in [(4, 0), (5, 1), (6, 2), (8, 3)]:
        tokens, targets = task.sample(8, g, torch.Generator().manual_seed(seed))
        asked = targets != -100
        right = ((model(tokens).logits.argmax(-1) == targets) & asked).sum() / asked.sum()
        assert right.item() == pytest.approx(checks._fading_accuracy(g))
    assert model(tokens, targets=targets).loss is not None
    assert len({checks._fading_accuracy(g) for g in (4, 5, 6, 8)}) == 4  # graded, so mistakes show


def test_accuracy_by_segments(capsys):
    reference = checks.reference_accuracy_by_segments
    assert_passes(checks.check_accuracy_by_segments, reference, capsys)

    def every_position(model, task, segment_counts, batch_size=32, seed=0):
        result = {}
        for g in segment_counts:
            tokens, targets = task.sample(batch_size, g, torch.Generator().manual_seed(seed))
            result[g] = (model(tokens).logits.argmax(-1) == targets).float().mean().item()
        return result

    def one_length(model, task, segment_counts, batch_size=32, seed=0):
        return {g: reference(model, task, segment_counts[:1], batch_size, seed)[segment_counts[0]]
                for g in segment_counts}

    def tensors(model, task, segment_counts, batch_size=32, seed=0):
        return {g: torch.tensor(a) for g, a in reference(model, task, segment_counts, batch_size, seed).items()}

    assert_fails(checks.check_accuracy_by_segments, every_position, reference, "count only the answers", capsys)
    assert_fails(checks.check_accuracy_by_segments, one_length, reference, "num_segments=g", capsys)
    assert_fails(checks.check_accuracy_by_segments, tensors, reference, "use .item()", capsys)
    assert_fails(checks.check_accuracy_by_segments, lambda *a, **k: [0.5], reference, "expected a dict", capsys)


# ---------------------------------------------------------------------------------------------------------
# 08_wikitext_on_a_gpu


def test_batchify(capsys):
    assert_passes(checks.check_batchify, checks.reference_batchify, capsys)

    def interleaved(ids, b):
        L = (ids.numel() - 1) // b
        return (rearrange(ids[: b * L], "(t b) -> b t", b=b), rearrange(ids[1 : b * L + 1], "(t b) -> b t", b=b))

    def not_shifted(ids, b):
        inputs, _ = checks.reference_batchify(ids, b)
        return inputs, inputs.clone()

    def too_long(ids, b):
        L = ids.numel() // b
        return ids[: b * L].view(b, L), ids[: b * L].view(b, L)

    reference = checks.reference_batchify
    assert_fails(checks.check_batchify, interleaved, reference, "rows interleave the stream", capsys)
    assert_fails(checks.check_batchify, not_shifted, reference, "predicts the NEXT token", capsys)
    assert_fails(checks.check_batchify, too_long, reference, "L = (N - 1) // b", capsys)


def test_loss_by_position(capsys):
    assert_passes(checks.check_loss_by_position, checks.reference_loss_by_position, capsys)
    reference = checks.reference_loss_by_position
    assert_fails(checks.check_loss_by_position, lambda loss, n: rearrange(loss, "b (n g) -> (b g) n", n=n).mean(0),
                 reference, '"b (n g)" puts position fastest', capsys)
    assert_fails(checks.check_loss_by_position, lambda loss, n: loss[:, :n].mean(0), reference,
                 "first segment only", capsys)
    assert_fails(checks.check_loss_by_position, lambda loss, n: rearrange(loss, "b (g n) -> b g n", n=n).mean((0, 2)),
                 reference, "one mean per segment", capsys)


def test_stream_loss(capsys):
    assert_passes(checks.check_stream_loss, checks.reference_stream_loss, capsys)
    reference = checks.reference_stream_loss

    def no_carry(model, batches):
        losses = [(model(x, targets=y).loss, y.numel()) for x, y in batches]
        return sum(loss * count for loss, count in losses) / sum(count for _, count in losses)

    def mean_of_means(model, batches):
        state, losses = None, []
        for x, y in batches:
            out = model(x, memory=state, targets=y)
            state = out.memory
            losses.append(out.loss)
        return sum(losses) / len(losses)

    assert_fails(checks.check_stream_loss, no_carry, reference, "fresh memory", capsys)
    assert_fails(checks.check_stream_loss, mean_of_means, reference, "different numbers of targets", capsys)
