"""The exercise checkers: per checker, a catalogue of the mistakes learners make, each refused with a message that
names it, and right answers written in other ways that pass; a checker never raises and always hands back a
working function."""

import contextlib
import itertools
import math
import time

import pytest
import torch
import torch.nn.functional as F
from einops import rearrange

from minirmt.course import checks, probe
from minirmt.course.checks import core, lesson03_copy, lesson07_curriculum
from minirmt.data.tasks import FIRST_SYMBOL, GO, PAD, make_task
from minirmt.model import masks, segments
from minirmt.training.metrics import answer_accuracy


def run(checker, fn, capsys):
    """Run a checker; return (the function it handed back, what it printed)."""
    returned = checker(fn)
    return returned, capsys.readouterr().out


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
    (checks.check_stream_loss, checks.reference_stream_loss),
    (checks.check_loss_by_position, checks.reference_loss_by_position),
    (checks.check_needle_depth, checks.reference_needle_depth),  # 09
    (checks.check_reliable_length, checks.reference_reliable_length),
]
REFERENCE = dict(CHECKERS)
CATALOGUED = set()  # the checkers that `catalogue` made a test for


def catalogue(checker, right, wrong):
    """One test over a checker's catalogue: its reference and every function of `right` pass (the learner's own
    function handed back); every (function, message fragment) of `wrong` fails with that fragment in its message
    (the reference handed back)."""
    CATALOGUED.add(checker)
    params = [pytest.param(REFERENCE[checker], None, id="right: reference")]
    params += [pytest.param(fn, None, id=f"right: {_name(fn)}") for fn in right]
    params += [pytest.param(fn, message, id=f"wrong: {_name(fn)}") for fn, message in wrong]

    @pytest.mark.parametrize("fn, message", params)
    def test(fn, message, capsys):
        returned, out = run(checker, fn, capsys)
        if message is None:
            assert out.startswith("✓") and returned is fn, out
        else:
            assert out.startswith("✗") and message in out and returned is REFERENCE[checker], out

    return test


def _name(fn) -> str:
    return fn.__name__.split("__")[-1]


# ---------------------------------------------------------------------------------------------------------
# the machinery


def not_attempted(*args):
    raise NotImplementedError("exercise: write this")


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


def test_every_checker_has_a_catalogue():
    assert {getattr(checks, name) for name in checks.__all__ if name.startswith("check_")} == set(REFERENCE)
    assert CATALOGUED == set(REFERENCE)


@pytest.mark.parametrize("checker, reference", CHECKERS)
def test_a_checker_is_fast_and_strict_mode_raises(checker, reference, capsys):
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as a notebook on a shared CPU runs (nb.setup)
    try:
        run(checker, reference, capsys)  # the first call pays for warming up
        start = time.process_time()
        run(checker, reference, capsys)
        assert time.process_time() - start < 1.0
    finally:
        torch.set_num_threads(threads)
    with checks.strict(), pytest.raises(AssertionError, match="✗"):
        checker(lambda *a, **k: "a string")


def test_expect_tensor_checks_type_then_shape_by_name():
    with pytest.raises(checks.CheckFailed, match="is a list, expected a tensor"):
        core.expect_tensor([1], "g b n", (3, 2, 8))
    with pytest.raises(checks.CheckFailed, match=r"has 2 dims"):
        core.expect_tensor(torch.zeros(2, 8), "g b n", (3, 2, 8))
    with pytest.raises(checks.CheckFailed, match=r"n \(segment length\) is 9, expected 8"):
        core.expect_tensor(torch.zeros(3, 2, 9), "g b n", (3, 2, 8))
    with pytest.raises(checks.CheckFailed, match="Hint: try this"):
        core.expect_tensor(torch.zeros(2, 3, 8), "g b n", (3, 2, 8), hints={(2, 3, 8): "try this"})
    with pytest.raises(checks.CheckFailed, match=r"expected \(f\+1, y\) = \(7, 4\): f\+1 \(features \+ 1\) is 6"):
        core.expect_tensor(torch.zeros(6, 4), "f+1 y", (7, 4))
    core.expect_tensor(torch.zeros(3, 2, 8), "g b n", (3, 2, 8))


def test_expect_close_names_the_first_wrong_entry():
    expected = torch.zeros(2, 3)
    got = expected.clone()
    got[1, 2] = 5
    with pytest.raises(checks.CheckFailed, match=r"x\[b=1, n=2\] is 5.0, expected 0.0 \(1 of 6"):
        core.expect_close(got, expected, "b n", "x")
    core.expect_close(expected + 1e-6, expected, "b n", atol=1e-4)


def test_call_refuses_an_argument_changed_in_place():
    def normalise(states, scale):
        states /= scale
        return states

    with pytest.raises(checks.CheckFailed, match="changed its argument `states` in place"):
        core.call(normalise, torch.ones(2, 3), 2.0)
    with pytest.raises(checks.CheckFailed, match="changed its argument `accuracy` in place"):
        core.call(lambda accuracy: accuracy.pop(8), {8: 1.0, 16: 0.5})
    with pytest.raises(checks.CheckFailed, match="argument 1"):
        core.call(lambda *a: a[0][0].zero_(), [torch.ones(3)])
    assert core.call(lambda x, s: x / s, torch.ones(2), 2.0).tolist() == [0.5, 0.5]


def test_call_names_the_input_and_the_learners_line():
    task = make_task("copy", 4)

    def draw(g):
        return task.sample(2, g, None)  # the error is raised inside the library

    learners_line = r"\(line \d+: `return task.sample\(2, g, None\)"
    with pytest.raises(checks.CheckFailed, match=r"^draw\(g=2\) raised TypeError: .*" + learners_line):
        core.call(draw, 2, what="draw(g=2)")


def test_known_number_names_the_mistake_it_matches():
    with pytest.raises(checks.CheckFailed, match="is 3, expected 2: off by one"):
        core.known_number(3.0, 2.0, "f(x)", [(4.0, "doubled"), (3.0, "off by one")])
    with pytest.raises(checks.CheckFailed, match=r"is 0.5000, expected 2$"):
        core.known_number(0.5, 2.0, "f(x)", [(3.0, "off by one")])
    core.known_number(2.0 + 1e-7, 2.0, "f(x)", [(2.0, "never")])


def test_a_bug_in_the_checker_is_reported_not_raised(capsys):
    def cases(fn):
        raise RuntimeError("checker bug")

    returned = checks.run_checker("demo", lambda: 0, "reference", cases)
    assert returned == "reference" and "checker itself failed" in capsys.readouterr().out


def test_every_dimension_letter_of_a_checker_has_one_meaning():
    """Every letter that a checker names a dimension with (`expect_tensor(..., "l b c d", ...)`) is a key of
    DIMENSIONS, so a message reads "c (cached positions)" for the XL cache and "y (classes)" for a probe."""
    import ast
    import importlib
    import inspect
    import pkgutil

    letters = set()
    for info in pkgutil.iter_modules(checks.__path__):
        module = importlib.import_module(f"{checks.__name__}.{info.name}")
        for node in ast.walk(ast.parse(inspect.getsource(module))):
            name = getattr(node.func, "id", "") if isinstance(node, ast.Call) else ""
            if name in ("expect_tensor", "expect_close"):
                dims = node.args[1 if name == "expect_tensor" else 2]
                assert isinstance(dims, ast.Constant), f"{module.__name__}: dims must be a literal string"
                letters |= {name.partition("+")[0] for name in dims.value.split()}
    assert letters <= set(checks.DIMENSIONS), letters - set(checks.DIMENSIONS)
    assert {"c", "y", "L"} <= letters  # the letters that once had two meanings are in use, with one each


def test_a_cache_message_says_cached_positions():
    with pytest.raises(checks.CheckFailed, match=r"c \(cached positions\) is 6, expected 4"):
        core.expect_tensor(torch.zeros(2, 3, 6, 8), "l b c d", (2, 3, 4, 8))


# ---------------------------------------------------------------------------------------------------------
# 01_segments_and_memory


def split_segments__by_hand(tokens, n, pad_id):
    g = math.ceil(tokens.shape[1] / n)
    padded = torch.full((tokens.shape[0], g * n), pad_id, dtype=tokens.dtype)
    padded[:, : tokens.shape[1]] = tokens
    return torch.stack(list(padded.split(n, dim=1)))


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
    return segments.stack(F.pad(tokens, (pad, 0), value=pad_id), n)


def split_segments__extra_segment(tokens, n, pad_id):  # off by one: always adds a padding segment
    g = tokens.shape[1] // n + 1
    return segments.stack(F.pad(tokens, (0, g * n - tokens.shape[1]), value=pad_id), n)


def split_segments__float_ids(tokens, n, pad_id):  # a float padding turns the ids into floats
    g = -(-tokens.shape[1] // n)
    padded = torch.full((tokens.shape[0], g * n), float(pad_id))
    padded[:, : tokens.shape[1]] = tokens
    return rearrange(padded, "b (g n) -> g b n", n=n)


def split_segments__zero_padding(tokens, n, pad_id):
    return checks.reference_split_segments(tokens, n, 0)


def split_segments__tokens_before_batch(tokens, n, pad_id):
    return rearrange(segments.pad_to_segments(tokens, n, pad_id), "b (g n) -> g n b", n=n)


test_split_segments = catalogue(checks.check_split_segments, [split_segments__by_hand], [
    (split_segments__floor_division, "the last 5 tokens were dropped"),
    (split_segments__batch_first, "so that `for segment in x` walks through time"),
    (split_segments__batch_first, "it looks like (b, g, n): the axes g and b are swapped"),
    (split_segments__strided, "(strided)"),
    (split_segments__viewed, "mixes the sequences"),
    (split_segments__left_padded, "padding is at the start"),
    (split_segments__extra_segment, "one segment too many"),
    (split_segments__float_ids, "a float padding"),
    (split_segments__zero_padding, "holds 0 instead of pad_id"),
    (split_segments__tokens_before_batch, "order (g, n, b)"),
])


def rmt_mask__by_blocks(m, n):
    t = 2 * m + n
    causal = torch.ones(t, t, dtype=torch.bool).tril()
    mask = torch.zeros(t, t, dtype=torch.bool)
    mask[:m, :m] = causal[:m, :m]
    mask[m:, :m] = True
    mask[m : m + n, m : m + n] = causal[m : m + n, m : m + n]
    mask[m + n :, m:] = causal[m + n :, m:]
    return mask


def rmt_mask__tril(m, n):
    return torch.ones(2 * m + n, 2 * m + n).tril().bool()


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


def rmt_mask__inverted(m, n):  # True = blocked, as for masked_fill
    return ~masks.rmt_decoder(m, n)


def rmt_mask__transposed(m, n):
    return masks.rmt_decoder(m, n).T


def rmt_mask__memory_blocks_see_themselves(m, n):
    return masks.rmt_decoder_block(m, n)


test_rmt_mask = catalogue(checks.check_rmt_mask, [rmt_mask__by_blocks, rmt_mask__tril], [
    (rmt_mask__memory_sees_the_future, "[read] attending to keys in [tokens]"),
    (rmt_mask__memory_sees_the_future, "the memory would see the future"),
    (rmt_mask__tokens_see_write, "they come after the whole segment"),
    (rmt_mask__no_reading, "are all False, expected all True"),
    (rmt_mask__as_floats, "expected torch.bool"),
    (rmt_mask__encoder_sized, "read AND write slots"),
    (rmt_mask__inverted, "True where attention is blocked"),
    (rmt_mask__transposed, "is transposed"),
    (rmt_mask__memory_blocks_see_themselves, "[read] attending to keys in [read] are all True, expected causal"),
])


def backbone_run(model, tokens, memory, causal=True, write=True):
    x = model.backbone.embed(tokens)
    parts = [memory, x, memory] if write else [memory, x]
    return model.backbone(torch.cat(parts, dim=1), causal=causal)[0]


def rmt_step__no_read_slots(model, tokens, memory):  # [tokens | memory]
    h = model.backbone(torch.cat([model.backbone.embed(tokens), memory], dim=1), causal=True)[0]
    return h[:, : tokens.shape[1]], h[:, tokens.shape[1] :]


def rmt_step__from_backbone(model, tokens, memory):  # the reference written out
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


def rmt_step__detached(model, tokens, memory):
    hidden, new_memory = checks.reference_rmt_step(model, tokens, memory.detach())
    return hidden, new_memory.detach()


def rmt_step__without_grad(model, tokens, memory):
    with torch.no_grad():
        return checks.reference_rmt_step(model, tokens, memory)


def rmt_step__logits(model, tokens, memory):
    hidden, new_memory = checks.reference_rmt_step(model, tokens, memory)
    return model.backbone.head(hidden), new_memory


def rmt_step__every_output(model, tokens, memory):
    m, n = memory.shape[1], tokens.shape[1]
    h = backbone_run(model, tokens, memory)
    return h, h[:, m + n :]


def rmt_step__with_attention(model, tokens, memory):
    return model.step(tokens, memory)


def rmt_step__front_only_first_outputs(model, tokens, memory):  # [memory | tokens], memory read off the front
    m = memory.shape[1]
    h = backbone_run(model, tokens, memory, write=False)
    return h[:, m:], h[:, :m]


def rmt_step__hidden_one_early(model, tokens, memory):
    m, n = memory.shape[1], tokens.shape[1]
    h = backbone_run(model, tokens, memory)
    return h[:, m - 1 : m + n - 1], h[:, m + n :]


def rmt_step__hidden_one_late(model, tokens, memory):
    m, n = memory.shape[1], tokens.shape[1]
    h = backbone_run(model, tokens, memory)
    return h[:, m + 1 : m + n + 1], h[:, m + n :]


def rmt_step__memory_one_early(model, tokens, memory):
    m, n = memory.shape[1], tokens.shape[1]
    h = backbone_run(model, tokens, memory)
    return h[:, m : m + n], h[:, m + n - 1 : -1]


def rmt_step__memory_one_short(model, tokens, memory):
    m, n = memory.shape[1], tokens.shape[1]
    h = backbone_run(model, tokens, memory)
    return h[:, m : m + n], h[:, m + n + 1 :]


def rmt_step__memory_unchanged(model, tokens, memory):
    return rmt_step__from_backbone(model, tokens, memory)[0], memory


def rmt_step__hard_coded_m(model, tokens, memory):  # m = 4 written in, where the model has 3
    n = tokens.shape[1]
    h = backbone_run(model, tokens, memory)
    return h[:, 3 : 3 + n], h[:, -4:]


test_rmt_step = catalogue(checks.check_rmt_step, [rmt_step__from_backbone], [
    (rmt_step__read_write_swapped, "the output at the read slots"),
    (rmt_step__no_read_slots, "the input has no read slots"),
    (rmt_step__front_only_first_outputs, "which see no token of the segment"),
    (rmt_step__hidden_one_early, "hidden is off by one"),
    (rmt_step__hidden_one_late, "hidden is off by one"),
    (rmt_step__memory_one_early, "the new memory is off by one"),
    (rmt_step__memory_one_short, "Hint: the new memory is the last m outputs"),
    (rmt_step__hard_coded_m, "or a hard-coded m?"),
    (rmt_step__memory_unchanged, "the memory passed in, unchanged"),
    (rmt_step__sees_the_future, "attention is not causal"),
    (rmt_step__memory_only_in_front, "no write slots"),
    (rmt_step__pair_swapped, "returned (memory, hidden)"),
    (rmt_step__whole_output, "expected a pair"),
    (rmt_step__detached, "is it detached"),
    (rmt_step__without_grad, "computed under torch.no_grad()"),
    (rmt_step__logits, "those are logits"),
    (rmt_step__every_output, "the backbone's whole output"),
    (rmt_step__with_attention, "returned 3 values"),
])


# ---------------------------------------------------------------------------------------------------------
# 02_recurrence_and_bptt


def loop(model, tokens, detach_if=lambda i, g: False, carry=True, keep="written", start="learned",
         no_grad_if=lambda i, g: False):
    """A recurrence loop with switchable mistakes: which hand-overs to detach, carrying, what to collect, the
    initial memory, which segments to run without gradients."""
    pieces = tokens.split(model.cfg.segment_len, dim=1)
    first = model.initial_state(tokens.shape[0])
    memory = first = torch.zeros_like(first) if start == "zeros" else first
    logits, memories = [], []
    for i, x in enumerate(pieces):
        if detach_if(i, len(pieces)):
            memory = memory.detach()
        with torch.no_grad() if no_grad_if(i, len(pieces)) else contextlib.nullcontext():
            hidden, written, _ = model.step(x, memory if carry else first)
        logits.append(model.backbone.head(hidden))
        memories.append(written if keep == "written" else memory)
        memory = written
    return torch.cat(logits, dim=1), memories


def run_segments__loop(model, tokens):
    return loop(model, tokens)


def run_segments__by_index(model, tokens):
    n, memory, logits, memories = model.cfg.segment_len, model.initial_state(len(tokens)), [], []
    for start in range(0, tokens.shape[1], n):
        hidden, memory, _ = model.step(tokens[:, start : start + n], memory)
        logits.append(model.backbone.head(hidden))
        memories.append(memory)
    return torch.cat(logits, 1), memories


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


def run_segments__detached(model, tokens):
    return loop(model, tokens, detach_if=lambda i, g: True)  # every hand-over, the initial memory too


def run_segments__from_zeros(model, tokens):
    return loop(model, tokens, start="zeros")


def run_segments__hidden_states(model, tokens):
    memory, hidden, memories = model.initial_state(len(tokens)), [], []
    for x in tokens.split(model.cfg.segment_len, dim=1):
        h, memory, _ = model.step(x, memory)
        hidden.append(h)
        memories.append(memory)
    return torch.cat(hidden, dim=1), memories


def run_segments__stacked_memories(model, tokens):
    logits, memories = loop(model, tokens)
    return logits, torch.stack(memories)


def run_segments__without_grad(model, tokens):
    with torch.no_grad():
        return loop(model, tokens)


def run_segments__joined_along_the_batch(model, tokens):
    logits, memories = loop(model, tokens)
    return rearrange(logits, "b (g n) v -> (g b) n v", n=model.cfg.segment_len), memories


test_run_segments = catalogue(checks.check_run_segments, [run_segments__loop, run_segments__by_index], [
    (run_segments__not_carried, "every segment reads the initial memory"),
    (run_segments__keeps_the_read_memory, "collect the one it wrote"),
    (run_segments__drops_the_last_segment, "the last, shorter segment"),
    (run_segments__with_initial_memory, "the initial memory is not one of them"),
    (run_segments__stacked_per_segment, "torch.cat along dim 1"),
    (run_segments__detached, "is the memory detached?"),
    (run_segments__from_zeros, "starts from zeros"),
    (run_segments__hidden_states, "those are the hidden states"),
    (run_segments__stacked_memories, "no torch.stack"),
    (run_segments__without_grad, "the logits carry no gradient"),
    (run_segments__joined_along_the_batch, "joined along the batch"),
])


def run_truncated__right(model, tokens, depth):
    return loop(model, tokens, lambda i, g: 0 < i <= g - depth)


def run_truncated__detaches_what_it_hands_on(model, tokens, depth):
    pieces = tokens.split(model.cfg.segment_len, dim=1)
    memory, logits, memories = model.initial_state(len(tokens)), [], []
    for i, x in enumerate(pieces):
        hidden, memory, _ = model.step(x, memory)
        logits.append(model.backbone.head(hidden))
        memories.append(memory)
        if i + 1 <= len(pieces) - depth:  # the memory entering segment i + 1
            memory = memory.detach()
    return torch.cat(logits, dim=1), memories


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


def run_truncated__first_segments_detached(model, tokens, depth):  # i < bptt_depth instead of i <= g - depth
    return loop(model, tokens, lambda i, g: 0 < i < depth)


def run_truncated__only_at_the_cut(model, tokens, depth):  # one hand-over detached: i == g - depth
    return loop(model, tokens, lambda i, g: i == g - depth)


def run_truncated__early_segments_without_grad(model, tokens, depth):  # the gradient stops, but so does training
    return loop(model, tokens, no_grad_if=lambda i, g: i < g - depth)


def run_truncated__zeroed(model, tokens, depth):  # the memory zeroed at each cut instead of detached
    pieces = tokens.split(model.cfg.segment_len, dim=1)
    logits, memories, memory = [], [], model.initial_state(tokens.shape[0])
    for i, x in enumerate(pieces):
        hidden, memory, _ = model.step(x, torch.zeros_like(memory) if 0 < i <= len(pieces) - depth else memory)
        logits.append(model.backbone.head(hidden))
        memories.append(memory)
    return torch.cat(logits, dim=1), memories


def run_truncated__every_kth(model, tokens, depth):  # detached at every bptt_depth-th hand-over
    return loop(model, tokens, lambda i, g: i > 0 and i % depth == 0)


test_run_truncated = catalogue(
    checks.check_run_truncated, [run_truncated__right, run_truncated__detaches_what_it_hands_on], [
        (run_truncated__never_detached, "every segment received gradient"),
        (run_truncated__zeroed, "the memory was replaced by zeros at the cut"),
        (run_truncated__every_kth, "nor only at every bptt_depth-th segment"),
        (run_truncated__one_too_many, "segments [1] keep their gradient"),
        (run_truncated__one_too_few, "segments [2] lose their gradient"),
        (run_truncated__first_segments_detached, "segments [1] keep their gradient though they lie more than"),
        (run_truncated__detaches_the_initial_memory, "never detach the memory entering segment 0"),
        (run_truncated__detaches_the_logits, "not the logits"),
        (run_truncated__not_carried, "every segment reads the initial memory"),
        (run_truncated__early_segments_without_grad, "ran under torch.no_grad()"),
        (run_truncated__early_segments_without_grad, "does not reach their own tokens"),
        (run_truncated__only_at_the_cut, "the loss of segment 1 reached segments [0, 1], expected [1]"),
        (run_truncated__only_at_the_cut, "not only at i = g - bptt_depth"),
    ])


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
    return F.pad(checks.reference_copy_targets(tokens, reverse)[:, :-1], (1, 0), value=-100)


def copy_targets__always_copy(tokens, reverse=False):
    return checks.reference_copy_targets(tokens, False)


def copy_targets__next_tokens(tokens, reverse=False):  # right except the last answer, which is never fed
    targets = checks.reference_copy_targets(tokens, reverse)
    return torch.where(targets == -100, targets, F.pad(tokens[:, 1:], (0, 1), value=0))


def copy_targets__off_by_one(tokens, reverse=False):
    targets = checks.reference_copy_targets(tokens, reverse)
    index = lesson03_copy._source_index(tokens, reverse)
    return torch.where(targets == -100, targets, tokens.gather(1, (index + 1).clamp(max=tokens.shape[1] - 1)))


def copy_targets__as_floats(tokens, reverse=False):
    return checks.reference_copy_targets(tokens, reverse).float()


def copy_targets__written_into_the_tokens(tokens, reverse=False):
    targets = tokens  # not a copy
    targets.copy_(checks.reference_copy_targets(tokens.clone(), reverse))
    return targets


def copy_targets__source_length_from_go(tokens, reverse=False):  # L taken as GO's position
    targets = torch.full_like(tokens, -100)
    for row in range(tokens.shape[0]):
        go = int((tokens[row] == GO).nonzero()[0])
        for i in range(tokens.shape[1] - go):
            targets[row, go + i] = tokens[row, go - 1 - i if reverse else i]
    return targets


def copy_targets__go_at_half(tokens, reverse=False):  # GO assumed at s // 2
    s = tokens.shape[1]
    source = tokens[:, : s - s // 2]
    targets = torch.full_like(tokens, -100)
    targets[:, s // 2 :] = source.flip(1) if reverse else source
    return targets


def copy_targets__go_at_half_raises(tokens, reverse=False):  # GO at s // 2, the source length right
    go, s = int((tokens[0] == GO).nonzero()[0]), tokens.shape[1]
    targets = torch.full_like(tokens, -100)
    targets[:, s // 2 :] = tokens[:, : s - go].flip(1) if reverse else tokens[:, : s - go]
    return targets


def copy_targets__source_length_is_go(tokens, reverse=False):  # L = position of GO: the slices disagree
    go = int((tokens[0] == GO).nonzero()[0])
    targets = torch.full_like(tokens, -100)
    targets[:, go:] = tokens[:, :go].flip(1) if reverse else tokens[:, :go]
    return targets


def copy_targets__source_length_is_go_at_the_end(tokens, reverse=False):
    go = int((tokens[0] == GO).nonzero()[0])
    targets = torch.full_like(tokens, -100)
    targets[:, -go:] = tokens[:, :go].flip(1) if reverse else tokens[:, :go]
    return targets


def targets_from_go(tokens, go, reverse):
    """The notebook's copy_targets, with GO's position `go (b, 1)` (or (1, s)) found by the caller."""
    s = tokens.shape[1]
    i = torch.arange(s) - go
    source = (s - go - 1 - i) if reverse else i
    return tokens.gather(1, source.clamp(0, s - 1).expand_as(tokens)).masked_fill(i < 0, -100)


def copy_targets__argmax_of_tokens(tokens, reverse=False):  # the largest token id, not GO
    return targets_from_go(tokens, tokens.argmax(dim=1, keepdim=True), reverse)


def copy_targets__argmax_over_the_batch(tokens, reverse=False):  # dim=0: along the batch, not the row
    return targets_from_go(tokens, (tokens == GO).int().argmax(dim=0, keepdim=True), reverse)


def copy_targets__row_zeros_go(tokens, reverse=False):  # "find GO" in row 0 only, used for every row
    return targets_from_go(tokens, (tokens[0] == GO).int().argmax(), reverse)


def copy_targets__digit_values(tokens, reverse=False):  # the digit-to-id offset forgotten
    targets = checks.reference_copy_targets(tokens, reverse)
    return torch.where(targets == -100, targets, targets - FIRST_SYMBOL)


test_copy_targets = catalogue(checks.check_copy_targets, [copy_targets__by_hand], [
    (copy_targets__digit_values, "the answers are digit values; targets are token ids"),
    (copy_targets__row_zeros_go, "GO sits at a different place in each row (here at [7, 9, 6]), but every row took"),
    (copy_targets__argmax_of_tokens, "tokens.argmax(1) finds the largest token id, not GO"),
    (copy_targets__argmax_over_the_batch, "an argmax over dim 0 (the batch)"),
    (copy_targets__zeros_elsewhere, "must hold -100"),
    (copy_targets__one_late, "one position late"),
    (copy_targets__always_copy, "this is the copy; with reverse=True"),
    (copy_targets__next_tokens, "only the last position is wrong"),
    (copy_targets__off_by_one, "off by one"),
    (copy_targets__as_floats, "expected torch.long"),
    (copy_targets__written_into_the_tokens, "changed its argument `tokens` in place"),
    (copy_targets__source_length_from_go, "not the first (position of GO) ones"),
    (copy_targets__go_at_half, "GO is not always at s // 2 = 6 (here at 7)"),
    (copy_targets__source_length_is_go, "copy_targets(copy: g=3 segments of n=4, reverse=False) raised RuntimeError"),
    (copy_targets__source_length_is_go, "Tensor sizes: [3, 7] (line"),
    (copy_targets__source_length_is_go, "not the first (position of GO) ones"),
    (copy_targets__go_at_half_raises, "GO is not always at s // 2 = 6 (here at 7)"),
    (copy_targets__source_length_is_go_at_the_end, "not the first (position of GO) ones"),
])


def answer_accuracy__notebook(logits, targets):
    asked = targets != -100
    right = (logits.argmax(dim=-1) == targets) & asked
    exact = (right.sum(dim=1) == asked.sum(dim=1)).float().mean()
    return (right.sum() / asked.sum()).item(), exact.item()


def answer_accuracy__rows_right_where_asked(logits, targets):
    asked = targets != -100
    right = logits.argmax(-1) == targets
    return right[asked].float().mean().item(), (right | ~asked).all(dim=1).float().mean().item()


def answer_accuracy__as_tensors(logits, targets):
    accuracy, exact = answer_accuracy(logits, targets)
    return torch.tensor(accuracy), torch.tensor(exact)


def answer_accuracy__every_position(logits, targets):
    return (logits.argmax(-1) == targets).float().mean().item(), answer_accuracy(logits, targets)[1]


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


def answer_accuracy__per_sequence(logits, targets):
    asked = targets != -100
    return ((logits.argmax(-1) == targets) & asked).sum(1) / asked.sum(1), 0.0


def answer_accuracy__one_flag_for_the_batch(logits, targets):
    asked = targets != -100
    right = (logits.argmax(-1) == targets) & asked
    return answer_accuracy(logits, targets)[0], float(right.sum() == asked.sum())


def answer_accuracy__counts(logits, targets):
    asked = targets != -100
    right = (logits.argmax(-1) == targets) & asked
    return right.sum().item(), answer_accuracy(logits, targets)[1]


def answer_accuracy__rows_counted(logits, targets):
    asked = targets != -100
    right = (logits.argmax(-1) == targets) & asked
    return answer_accuracy(logits, targets)[0], (right.sum(1) == asked.sum(1)).sum().item()


def answer_accuracy__percent(logits, targets):
    return tuple(100 * x for x in answer_accuracy(logits, targets))


def answer_accuracy__argmax_over_positions(logits, targets):
    asked = targets != -100
    right = (logits.argmax(1) == targets) & asked
    return (right.sum() / asked.sum()).item(), (right.sum(1) == asked.sum(1)).float().mean().item()


def answer_accuracy__answerless_rows_left_out(logits, targets):
    asked = targets != -100
    right = (logits.argmax(-1) == targets) & asked
    exact = (right.sum(1) == asked.sum(1))[asked.any(1)]
    return (right.sum() / asked.sum()).item(), exact.float().mean().item()


def answer_accuracy__answerless_rows_counted_0(logits, targets):
    asked = targets != -100
    right = (logits.argmax(-1) == targets) & asked
    return (right.sum() / asked.sum()).item(), ((right.sum(1) == asked.sum(1)) & asked.any(1)).float().mean().item()


def answer_accuracy__any_answer_right(logits, targets):  # .any where exact match needs .all
    asked = targets != -100
    right = (logits.argmax(-1) == targets) & asked
    return (right.sum() / asked.sum()).item(), right.any(1).float().mean().item()


def answer_accuracy__shifted(logits, targets):  # logits[t] taken to predict targets[t + 1]
    return answer_accuracy__notebook(logits[:, :-1], targets[:, 1:])


def answer_accuracy__target_probability(logits, targets):  # the right answer's probability, not the argmax
    asked = targets != -100
    right = (logits.argmax(-1) == targets) | ~asked
    probability = logits.softmax(-1).gather(-1, targets.clamp(min=0).unsqueeze(-1)).squeeze(-1)
    return probability[asked].mean().item(), right.all(1).float().mean().item()


test_answer_accuracy = catalogue(
    checks.check_answer_accuracy, [answer_accuracy__notebook, answer_accuracy__rows_right_where_asked], [
        (answer_accuracy__every_position, "count only the answers"),
        (answer_accuracy__exact_over_every_position, "asks every position to be right"),
        (answer_accuracy__mean_sequence_accuracy, "the mean per-sequence accuracy"),
        (answer_accuracy__swapped, "returned (exact match, accuracy)"),
        (answer_accuracy__per_sequence, "expected one number"),
        (answer_accuracy__as_tensors, "is a tensor; return a plain float"),
        (answer_accuracy__mean_of_sequence_accuracies, "mean of each sequence's accuracy"),
        (answer_accuracy__one_flag_for_the_batch, "one flag for the whole batch"),
        (answer_accuracy__counts, "the number of right answers"),
        (answer_accuracy__rows_counted, "the number of sequences all right"),
        (answer_accuracy__percent, "a percentage"),
        (answer_accuracy__argmax_over_positions, "argmax over the vocabulary"),
        (answer_accuracy__answerless_rows_left_out, "the last row asks nothing): exact match"),
        (answer_accuracy__answerless_rows_left_out, "a row with no answers (every target -100) is an exact match"),
        (answer_accuracy__answerless_rows_counted_0, "count it as 1, among the b rows"),
        (answer_accuracy__any_answer_right, "counts a row if ANY of its answers is right"),
        (answer_accuracy__target_probability, "the mean probability given to the right answer"),
        (answer_accuracy__shifted, "shifts the logits against the targets by one"),
    ])


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


def recall_batch__targets_are_keys(keys, values, order, s):
    tokens, targets = checks.reference_recall_batch(keys, values, order, s)
    return tokens, torch.where(targets == -100, targets, tokens)


def recall_batch__first_rows_order(keys, values, order, s):
    return checks.reference_recall_batch(keys, values, order[0].expand_as(order), s)


def recall_batch__values_not_fed(keys, values, order, s):
    tokens, targets = checks.reference_recall_batch(keys, values, order, s)
    q = order.shape[1]
    tokens[:, s - 2 * q + 2 :: 2] = PAD
    return tokens, targets


def recall_batch__queries_after_the_pairs(keys, values, order, s):
    used = 2 * keys.shape[1] + 2 * order.shape[1] - 1
    tokens, targets = checks.reference_recall_batch(keys, values, order, used)
    return F.pad(tokens, (0, s - used), value=PAD), F.pad(targets, (0, s - used), value=-100)


def recall_batch__float_tokens(keys, values, order, s):
    tokens, targets = checks.reference_recall_batch(keys, values, order, s)
    return tokens.float(), targets


def recall_batch__values_in_stored_order(keys, values, order, s):
    tokens, targets = checks.reference_recall_batch(keys, values, order, s)
    q = order.shape[1]
    start = s - (2 * q - 1)
    tokens[:, start + 1 :: 2], targets[:, start::2] = values[:, : q - 1], values[:, :q]
    return tokens, targets


def recall_batch__early_every_value_fed(keys, values, order, s):  # 2q positions, the last value fed at s - 1
    q = order.shape[1]
    tokens, targets = checks.reference_recall_batch(keys, values, order, s)
    tokens[:, s - 2 * q :: 2], tokens[:, s - 2 * q + 1 :: 2] = keys.gather(1, order), values.gather(1, order)
    targets[:] = -100
    targets[:, s - 2 * q :: 2] = values.gather(1, order)
    return tokens, targets


def recall_batch__early_raises(keys, values, order, s):  # 2q positions: q - 1 values for q places
    q = order.shape[1]
    tokens, targets = checks.reference_recall_batch(keys, values, order, s)
    tokens[:, s - 2 * q + 1 :: 2] = values.gather(1, order)[:, :-1]
    return tokens, targets


def recall_batch__late_raises(keys, values, order, s):  # 2q - 2 positions: q keys for q - 1 places
    q = order.shape[1]
    tokens, targets = checks.reference_recall_batch(keys, values, order, s)
    tokens[:, s - 2 * q + 2 :: 2] = keys.gather(1, order)
    return tokens, targets


def recall_batch__int32_targets(keys, values, order, s):
    tokens, targets = checks.reference_recall_batch(keys, values, order, s)
    return tokens, targets.int()


def recall_batch__value_first(keys, values, order, s):  # v k v k: each pair written value first
    tokens, targets = checks.reference_recall_batch(keys, values, order, s)
    p = keys.shape[1]
    tokens[:, 0 : 2 * p : 2], tokens[:, 1 : 2 * p : 2] = values, keys
    return tokens, targets


def recall_batch__asked_values_in_stored_order(keys, values, order, s):  # the targets only, tokens right
    tokens, targets = checks.reference_recall_batch(keys, values, order, s)
    q = order.shape[1]
    targets[:, s - (2 * q - 1) :: 2] = values[:, :q]
    return tokens, targets


test_recall_batch = catalogue(checks.check_recall_batch, [recall_batch__by_hand], [
    (recall_batch__asked_values_in_stored_order, "the asked values are in stored order (values[:, :q]), not in the"),
    (recall_batch__int32_targets, "have dtype torch.int32, expected torch.long (int64"),
    (recall_batch__value_first, "the pairs are written value first (v k v k ...)"),
    (recall_batch__zeros_elsewhere, "must be -100 where nothing is asked"),
    (recall_batch__targets_on_values, "the targets sit on the values"),
    (recall_batch__stored_order, "in the order given by `order`"),
    (recall_batch__starts_early, "starts one position early"),
    (recall_batch__targets_are_keys, "the target at each asked key is its VALUE"),
    (recall_batch__first_rows_order, "in row 0's order"),
    (recall_batch__values_not_fed, "the asked values are not fed back"),
    (recall_batch__queries_after_the_pairs, "the query phase follows the pairs"),
    (recall_batch__float_tokens, "expected torch.long"),
    (recall_batch__values_in_stored_order, "the asked values are in stored order"),
    (recall_batch__early_every_value_fed, "the query phase starts one position early"),
    (recall_batch__early_raises, "raised RuntimeError"),
    (recall_batch__early_raises, "3 places for 2 tokens, so the query phase starts one position early"),
    (recall_batch__late_raises, "2 places for 3 tokens, so the query phase starts one position late"),
])


def pairs_information__as_tensor(p, k, v):
    return torch.tensor(checks.reference_pairs_information(p, k, v))


def pairs_information__keys_only(p, k, v):  # the values forgotten
    return math.log2(math.comb(k, p))


def pairs_information__by_lgamma(p, k, v):
    log_comb = math.lgamma(k + 1) - math.lgamma(p + 1) - math.lgamma(k - p + 1)
    return log_comb / math.log(2) + p * math.log2(v)


def pairs_information__ordered(p, k, v):
    return math.log2(math.perm(k, p)) + p * math.log2(v)


def pairs_information__with_replacement(p, k, v):
    return p * math.log2(k * v)


def pairs_information__values_only(p, k, v):
    return p * math.log2(v)


def pairs_information__in_nats(p, k, v):
    return math.log(math.comb(k, p)) + p * math.log(v)


def pairs_information__one_value(p, k, v):
    return math.log2(math.comb(k, p)) + math.log2(v)


def pairs_information__a_value_per_key(p, k, v):
    return math.log2(math.comb(k, p)) + k * math.log2(v)


def pairs_information__in_digits(p, k, v):
    return math.log10(math.comb(k, p)) + p * math.log10(v)


def pairs_information__count(p, k, v):
    return math.comb(k, p) * v**p


def pairs_information__rounded_up(p, k, v):
    return math.ceil(checks.reference_pairs_information(p, k, v))


def pairs_information__rounded(p, k, v):
    return round(checks.reference_pairs_information(p, k, v))


def pairs_information__truncated(p, k, v):
    return int(checks.reference_pairs_information(p, k, v))


def test_pairs_information_reference():
    assert checks.reference_pairs_information(4, 16, 16) == pytest.approx(math.log2(1820) + 16)
    # every key stored: only the values carry information
    assert checks.reference_pairs_information(16, 16, 16) == pytest.approx(64)


def pairs_information__keys_and_values_swapped(p, k, v):
    return math.log2(math.comb(v, p)) + p * math.log2(k)


test_pairs_information = catalogue(
    checks.check_pairs_information, [pairs_information__by_lgamma], [
        (pairs_information__as_tensor, "is a tensor; return a plain float"),
        (pairs_information__keys_only, "the values are information too"),
        (pairs_information__keys_and_values_swapped, "num_keys and num_values are swapped"),
        (pairs_information__ordered, "counts the order"),
        (pairs_information__with_replacement, "without replacement"),
        (pairs_information__values_only, "which keys were stored"),
        (pairs_information__in_nats, "nats"),
        (pairs_information__one_value, "p log2 V, not log2 V"),
        (pairs_information__a_value_per_key, "not K log2 V"),
        (pairs_information__in_digits, "log10"),
        (pairs_information__count, "its log2"),
        (pairs_information__rounded_up, "rounded to whole bits"),
        (pairs_information__rounded, "rounded to whole bits"),
        (pairs_information__truncated, "rounded to whole bits"),
    ])


# ---------------------------------------------------------------------------------------------------------
# 05_inside_the_memory


def memory_similarity__by_hand(states):
    flat = F.normalize(states.flatten(1), dim=1)
    return flat @ flat.T


def memory_similarity__cosine_pairs(states):
    flat = states.flatten(1)
    return F.cosine_similarity(flat[:, None], flat[None], dim=-1)


def memory_similarity__dot_product(states):
    flat = states.flatten(1)
    return flat @ flat.T


def memory_similarity__per_slot_mean(states):
    unit = F.normalize(states, dim=-1)
    return torch.einsum("amd,bmd->ab", unit, unit) / states.shape[1]


def memory_similarity__per_slot_matrix(states):
    unit = F.normalize(states.flatten(0, 1), dim=-1)
    return unit @ unit.T


def memory_similarity__cdist(states):
    flat = states.flatten(1)
    return torch.cdist(flat, flat)


def memory_similarity__normalised_once(states):
    flat = states.flatten(1)
    flat = flat / flat.norm()
    return flat @ flat.T


def memory_similarity__distance(states):
    return 1 - memory_similarity__by_hand(states)


def memory_similarity__correlation(states):
    return torch.corrcoef(states.flatten(1))


def memory_similarity__normalised_across_states(states):
    flat = states.flatten(1)
    flat = flat / flat.norm(dim=0, keepdim=True)
    return flat @ flat.T


def memory_similarity__one_length_twice(states):
    flat = states.flatten(1)
    return flat @ flat.T / flat.norm(dim=1) ** 2


def memory_similarity__features_compared(states):
    flat = F.normalize(states.flatten(1), dim=1)
    return flat.T @ flat


def memory_similarity__absolute(states):
    return memory_similarity__by_hand(states).abs()


def memory_similarity__clipped(states):
    return memory_similarity__by_hand(states).clamp(min=0)


def memory_similarity__normalised_in_place(states):
    flat = states.flatten(1)  # a view of states
    flat /= flat.norm(dim=1, keepdim=True)
    return flat @ flat.T


test_memory_similarity = catalogue(
    checks.check_memory_similarity, [memory_similarity__by_hand, memory_similarity__cosine_pairs], [
        (memory_similarity__dot_product, "the diagonal is not 1"),
        (memory_similarity__cdist, "the Euclidean distance (torch.cdist)"),
        (memory_similarity__normalised_once, "normalises once over the whole batch"),
        (memory_similarity__per_slot_mean, "slot by slot"),
        (memory_similarity__per_slot_matrix, "one row per slot"),
        (memory_similarity__distance, "1 - cosine"),
        (memory_similarity__correlation, "that is the correlation"),
        (memory_similarity__normalised_across_states, "not over dim 0"),
        (memory_similarity__one_length_twice, "by both their lengths"),
        (memory_similarity__features_compared, "compare the states: flat @ flat.T"),
        (memory_similarity__normalised_in_place, "changed its argument `states` in place"),
        (memory_similarity__absolute, "do not take its absolute value"),
        (memory_similarity__clipped, "do not clip it at 0"),
    ])


def ridge_solve(x, y, ridge, eye=None):
    eye = torch.eye(x.shape[1], dtype=x.dtype) if eye is None else eye
    return torch.linalg.solve(x.T @ x + ridge * eye, x.T @ y)


def features_and_targets(features, labels, num_classes, bias_first=False):
    ones = torch.ones(len(features), 1)
    x = torch.cat([ones, features] if bias_first else [features, ones], dim=1).double()
    return x, F.one_hot(labels, num_classes).double()


def fit_probe__by_hand(features, labels, num_classes, ridge):  # float32, lstsq-free normal equations
    x = torch.cat([features, torch.ones(len(features), 1)], dim=1)
    return ridge_solve(x, F.one_hot(labels, num_classes).float(), ridge)


def fit_probe__by_inverse(features, labels, num_classes, ridge):
    x, y = features_and_targets(features, labels, num_classes)
    return torch.linalg.inv(x.T @ x + ridge * torch.eye(x.shape[1], dtype=x.dtype)) @ x.T @ y


def fit_probe__no_bias(features, labels, num_classes, ridge):
    return ridge_solve(features.double(), F.one_hot(labels, num_classes).double(), ridge).float()


def fit_probe__label_ids(features, labels, num_classes, ridge):
    x, _ = features_and_targets(features, labels, num_classes)
    return ridge_solve(x, labels.double(), ridge)


def fit_probe__no_ridge(features, labels, num_classes, ridge):
    return probe.fit_linear_probe(features, labels, num_classes, 0.0)


def fit_probe__bias_first(features, labels, num_classes, ridge):
    return ridge_solve(*features_and_targets(features, labels, num_classes, bias_first=True), ridge).float()


def fit_probe__bias_not_regularised(features, labels, num_classes, ridge):
    x, y = features_and_targets(features, labels, num_classes)
    eye = torch.eye(x.shape[1], dtype=x.dtype)
    eye[-1, -1] = 0
    return ridge_solve(x, y, ridge, eye).float()


def fit_probe__ridge_on_every_entry(features, labels, num_classes, ridge):
    x, y = features_and_targets(features, labels, num_classes)
    return torch.linalg.solve(x.T @ x + ridge, x.T @ y).float()


def fit_probe__one_hot_without_num_classes(features, labels, num_classes, ridge):
    x, _ = features_and_targets(features, labels, num_classes)
    return ridge_solve(x, F.one_hot(labels).double(), ridge).float()


def fit_probe__ridge_times_n(features, labels, num_classes, ridge):
    x, y = features_and_targets(features, labels, num_classes)
    return ridge_solve(x, y, ridge * len(labels)).float()


def fit_probe__label_ids_in_every_column(features, labels, num_classes, ridge):  # no one-hot
    x, _ = features_and_targets(features, labels, num_classes)
    return ridge_solve(x, labels.double()[:, None].expand(-1, num_classes), ridge).float()


test_fit_probe = catalogue(checks.check_fit_probe, [fit_probe__by_hand, fit_probe__by_inverse], [
    (fit_probe__ridge_times_n, "ridge was scaled by N"),
    (fit_probe__label_ids_in_every_column, "every column regresses the label ids themselves"),
    (fit_probe__no_bias, "append a column of ones"),
    (fit_probe__label_ids, "regress one-hot targets"),
    (fit_probe__no_ridge, "matches ridge = 0"),
    (fit_probe__bias_first, "the bias is the first row"),
    (fit_probe__bias_not_regularised, "the bias is not regularised"),
    (fit_probe__ridge_on_every_entry, "on the diagonal only"),
    (fit_probe__one_hot_without_num_classes, "no label 4 among the labels) has shape (4, 4), expected (f+1, y)"),
    (fit_probe__one_hot_without_num_classes, "F.one_hot(labels) without num_classes"),
])


# ---------------------------------------------------------------------------------------------------------
# 06_rmt_vs_transformer_xl


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


def attention_pairs__by_cases(model, s, n, m, c):  # one branch per model, cache counted as it fills
    if model == "full":
        return s * s
    total, seen = 0, 0
    while seen < s:
        t = min(n, s - seen)
        cached = min(c, seen)
        if model == "segment":
            total += t * t
        elif model == "xl":
            total += t * (cached + t)
        elif model == "memxl":
            total += (m + t) * (cached + m + t)
        elif model in ("rmt", "memtok"):
            total += (2 * m + t) ** 2
        else:
            total += (2 * m + t) * (cached + 2 * m + t)
        seen += t
    return total


def pairs_except(model_name, count):
    """attention_pairs right for every model but `model_name`, counted there by `count(t, cached, s, n, m, c)`."""
    def attention_pairs(model, s, n, m, c):
        if model != model_name:
            return checks.reference_attention_pairs(model, s, n, m, c)
        return sum(count(min(n, s - i), min(c, i), s, n, m, c) for i in range(0, s, n))
    attention_pairs.__name__ = count.__name__
    return attention_pairs


def attention_pairs__floor_segments(model, s, n, m, c):  # off by one segment: the short last one is dropped
    return checks.reference_attention_pairs(model, s - s % n, n, m, c) if model != "full" else s * s


def attention_pairs__causal_half(model, s, n, m, c):
    return s * (s + 1) // 2 if model == "full" else checks.reference_attention_pairs(model, s, n, m, c)


def attention_pairs__fractional_segments(model, s, n, m, c):
    return checks.reference_attention_pairs(model, s, n, m, c) * (s / n) / math.ceil(s / n)


def attention_pairs__a_list(model, s, n, m, c):
    return [checks.reference_attention_pairs(model, s, n, m, c)]


def attention_pairs__a_float(model, s, n, m, c):
    return float(checks.reference_attention_pairs(model, s, n, m, c))


def cache_from_the_start(t, cached, s, n, m, c):
    return t * (c + t)


def cache_without_min(t, cached, s, n, m, c):  # c cached positions from the second segment on, however few came
    return t * ((c if cached else 0) + t)


def cache_previous_segment_only(t, cached, s, n, m, c):  # the cache read as the last segment, n positions at most
    return t * (min(cached, n) + t)


def cache_as_queries(t, cached, s, n, m, c):
    return (cached + t) ** 2


def read_only_memory(t, cached, s, n, m, c):  # [read | tokens], the write slots forgotten
    return (m + t) ** 2


def memory_as_keys_only(t, cached, s, n, m, c):
    return t * (cached + m + t)


def memtok_as_segment(t, cached, s, n, m, c):
    return t * t


def rmtxl_without_cache(t, cached, s, n, m, c):
    return (2 * m + t) ** 2


def memory_not_keys(t, cached, s, n, m, c):  # MemTr-XL whose memory tokens attend but are never attended to
    return (m + t) * (cached + t)


def attention_pairs__rmtxl_cache_counts_memory(model, s, n, m, c):  # the cache fills with [read | tokens | write]
    if model != "rmtxl":
        return checks.reference_attention_pairs(model, s, n, m, c)
    return sum((2 * m + min(n, s - i)) * (min(c, i // n * (n + 2 * m)) + 2 * m + min(n, s - i)) for i in range(0, s, n))


test_attention_pairs = catalogue(checks.check_attention_pairs, [attention_pairs__by_cases], [
    (attention_pairs__rmtxl_cache_counts_memory, "the cache counts memory positions"),
    (pairs_except("memxl", memory_not_keys), "the m memory tokens are keys too"),
    (attention_pairs__floor_segments, "the last, shorter segment is missing"),
    (pairs_except("xl", cache_from_the_start), "the first segment has no cache"),
    (pairs_except("xl", cache_without_min), "the cache holds at most the tokens seen so far: c_i = min(c, "),
    (pairs_except("xl", cache_previous_segment_only), "the cache is not just the previous segment"),
    (pairs_except("xl", cache_as_queries), "the cached positions are keys only"),
    (pairs_except("rmt", read_only_memory), "read AND write memory"),
    (pairs_except("memxl", memory_as_keys_only), "the m memory tokens are queries too"),
    (pairs_except("memtok", memtok_as_segment), "memory tokens that are not carried still take the RMT's input"),
    (pairs_except("rmtxl", rmtxl_without_cache), "also attends to the c_i cached positions"),
    (attention_pairs__causal_half, "not only the causal half"),
    (attention_pairs__fractional_segments, "not a whole number"),
    (attention_pairs__a_list, "expected one number"),
    (attention_pairs__a_float, "is a float, 2048.0; the signature says -> int"),
])


def test_xl_cache_reference_is_the_models_update():
    from minirmt import ModelConfig, TransformerXL

    cfg = ModelConfig(vocab_size=10, d_model=16, n_layers=2, n_heads=2, segment_len=4, xl_cache_len=6)
    model = TransformerXL(cfg)
    inputs = [torch.randn(3, 4, 16, requires_grad=True) * 2 for _ in range(2)]
    cache = torch.randn(2, 3, 6, 16)
    assert torch.equal(checks.reference_xl_cache(cache, inputs, 6), model.next_cache(cache, inputs))
    assert not checks.reference_xl_cache(None, inputs, 6).requires_grad


def xl_cache__notebook(cache, layer_inputs, c):
    new = torch.stack(layer_inputs).detach()
    if cache is not None:
        new = torch.cat([cache, new], dim=2)
    return new[:, :, -c:]


def xl_cache__layer_by_layer(cache, layer_inputs, c):
    with torch.no_grad():
        kept = [x if cache is None else torch.cat([cache[i], x], dim=1) for i, x in enumerate(layer_inputs)]
        return torch.stack([x[:, max(0, x.shape[1] - c) :] for x in kept])


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


def xl_cache__layers_concatenated(cache, layer_inputs, c):
    new = torch.cat(layer_inputs).detach()  # (l b, t, d)
    return (new if cache is None else torch.cat([cache.flatten(0, 1), new], dim=1))[:, -c:]


def xl_cache__a_list(cache, layer_inputs, c):
    return list(checks.reference_xl_cache(cache, layer_inputs, c))


def xl_cache__joined_along_the_batch(cache, layer_inputs, c):
    new = torch.stack(layer_inputs).detach()
    return (new if cache is None else torch.cat([cache, new], dim=1))[:, :, -c:]


def xl_cache__first_input_everywhere(cache, layer_inputs, c):
    return xl_cache__notebook(cache, [layer_inputs[0]] * len(layer_inputs), c)


test_xl_cache = catalogue(checks.check_xl_cache, [xl_cache__notebook, xl_cache__layer_by_layer], [
    (xl_cache__first_input_everywhere, "every layer got the same input, layer_inputs[0]"),
    (xl_cache__no_detach, "still carries gradient"),
    (xl_cache__oldest, "OLDEST c positions"),
    (xl_cache__drops_old_cache, "the old cache was dropped"),
    (xl_cache__segment_first, "the old cache comes first"),
    (xl_cache__batch_first, "stack the layers first"),
    (xl_cache__layers_concatenated, "torch.stack(layer_inputs) makes the new first axis"),
    (xl_cache__a_list, "torch.stack the layers into one tensor"),
    (xl_cache__joined_along_the_batch, "joined along the batch (dim 1)"),
])


# ---------------------------------------------------------------------------------------------------------
# 07_curriculum_and_length


def test_doubling_stages_reference():
    assert checks.reference_doubling_stages(1, 8) == [1, 2, 4]
    assert checks.reference_doubling_stages(2, 12) == [2, 4, 8]
    assert checks.reference_doubling_stages(3, 3) == []


def doubling_stages__by_logarithm(start, target):
    return [start * 2**i for i in range(max(0, math.ceil(math.log2(target / start))))]


def doubling_stages__overshoots(start, target):
    stages = [start]
    while stages[-1] < target:
        stages.append(stages[-1] * 2)
    return stages


def doubling_stages__with_target(start, target):
    return checks.reference_doubling_stages(start, target) + [target]


def doubling_stages__one_more_each(start, target):
    return list(range(start, target))


def doubling_stages__floats(start, target):
    return [g / 1 for g in checks.reference_doubling_stages(start, target)]


def doubling_stages__generator(start, target):
    g = start
    while g < target:
        yield g
        g *= 2


def doubling_stages__powers_of_two(start, target):
    return [2**i for i in range(target) if 2**i < target]


def doubling_stages__powers_of_two_from_start(start, target):  # the powers of two between start and target
    return [2**i for i in range(target.bit_length()) if start <= 2**i < target]


def doubling_stages__two_more_each(start, target):
    return list(range(start, target, 2))


def doubling_stages__first_doubled(start, target):
    return [2 * g for g in checks.reference_doubling_stages(start, target)]


def doubling_stages__stops_early(start, target):
    stages, g = [], start
    while 2 * g < target:
        stages.append(g)
        g *= 2
    return stages


test_doubling_stages = catalogue(checks.check_doubling_stages, [doubling_stages__by_logarithm], [
    (doubling_stages__with_target, "leave the target out"),
    (doubling_stages__one_more_each, "grows by one segment per stage"),
    (doubling_stages__overshoots, "every stage must be below the target"),
    (doubling_stages__floats, "must be ints"),
    (doubling_stages__generator, "list(...)"),
    (doubling_stages__powers_of_two, "powers of two from 1"),
    (doubling_stages__powers_of_two_from_start, "is [4, 8, 16], expected [3, 6, 12]: those are powers of two"),
    (doubling_stages__two_more_each, "adds 2 segments per stage"),
    (doubling_stages__first_doubled, "not 2 * start"),
    (doubling_stages__stops_early, "the last stage below the target is missing"),
])


def test_fading_reverser_accuracy_depends_on_g_alone():
    task, model = lesson07_curriculum._fading_task_and_model()
    for g, seed in [(4, 0), (5, 1), (6, 2), (8, 3)]:
        tokens, targets = task.sample(8, g, torch.Generator().manual_seed(seed))
        asked = targets != -100
        right = ((model(tokens).logits.argmax(-1) == targets) & asked).sum() / asked.sum()
        assert right.item() == pytest.approx(lesson07_curriculum._fading_accuracy(g))
    assert model(tokens, targets=targets).loss is not None
    assert len({lesson07_curriculum._fading_accuracy(g) for g in (4, 5, 6, 8)}) == 4  # graded, so mistakes show
    assert torch.equal(model.calls[-1], tokens)  # it records what it was called on


def accuracies(model, task, segment_counts, batch_size, generator_for, measure=None, evaluate=True, no_grad=True):
    """{g: accuracy} with switchable mistakes: the generator of each g, the measure, eval mode, no_grad."""
    was = model.training
    if evaluate:
        model.eval()
    result = {}
    with torch.no_grad() if no_grad else contextlib.nullcontext():
        for g in segment_counts:
            tokens, targets = task.sample(batch_size, g, generator_for(g))
            logits = model(tokens).logits
            result[g] = measure(logits, targets) if measure else answer_accuracy(logits, targets)[0]
    model.train(was)
    return result


def accuracy_by_segments__notebook(model, task, segment_counts, batch_size=32, seed=0):
    was = model.training
    model.eval()
    result = {}
    with torch.no_grad():
        for g in segment_counts:
            tokens, targets = task.sample(batch_size, g, torch.Generator().manual_seed(seed))
            predictions = model(tokens).logits.argmax(-1)
            asked = targets != -100
            result[g] = ((predictions == targets) & asked).sum().item() / asked.sum().item()
    model.train(was)
    return result


def accuracy_by_segments__gradients_off_for_good(model, task, segment_counts, batch_size=32, seed=0):
    torch.set_grad_enabled(False)  # instead of `with torch.no_grad():`
    return accuracies(model, task, segment_counts, batch_size, lambda g: torch.Generator().manual_seed(seed),
                      no_grad=False)


def accuracy_by_segments__parameters_frozen(model, task, segment_counts, batch_size=32, seed=0):
    for parameter in model.parameters():
        parameter.requires_grad_(False)  # "no gradients" by freezing the model for good
    return accuracy_by_segments__notebook(model, task, segment_counts, batch_size, seed)


def accuracy_by_segments__flag_set_by_hand(model, task, segment_counts, batch_size=32, seed=0):
    was = model.training
    model.training = False  # the model's own flag only: its layers stay in training mode
    result = accuracies(model, task, segment_counts, batch_size, lambda g: torch.Generator().manual_seed(seed),
                        evaluate=False)
    model.training = was
    return result


def accuracy_by_segments__left_in_training_mode(model, task, segment_counts, batch_size=32, seed=0):
    result = accuracy_by_segments__notebook(model, task, segment_counts, batch_size, seed)
    model.train()  # "back to training", whatever mode it came in
    return result


def accuracy_by_segments__left_in_eval_mode(model, task, segment_counts, batch_size=32, seed=0):
    result = accuracy_by_segments__notebook(model, task, segment_counts, batch_size, seed)
    model.eval()
    return result


def accuracy_by_segments__seeded_once(model, task, segment_counts, batch_size=32, seed=0):  # one shared generator
    generator = torch.Generator().manual_seed(seed)
    model.eval()
    with torch.inference_mode():
        return {g: answer_accuracy(model(x).logits, y)[0] for g in segment_counts
                for x, y in [task.sample(batch_size, g, generator)]}


def accuracy_by_segments__no_generator(model, task, segment_counts, batch_size=32, seed=0):
    return accuracies(model, task, segment_counts, batch_size, lambda g: None)


def accuracy_by_segments__not_in_eval_mode(model, task, segment_counts, batch_size=32, seed=0):
    return accuracies(model, task, segment_counts, batch_size, lambda g: torch.Generator().manual_seed(seed),
                      evaluate=False)


def accuracy_by_segments__with_gradients(model, task, segment_counts, batch_size=32, seed=0):
    return accuracies(model, task, segment_counts, batch_size, lambda g: torch.Generator().manual_seed(seed),
                      no_grad=False)


def accuracy_by_segments__generator_not_seeded(model, task, segment_counts, batch_size=32, seed=0):
    return accuracies(model, task, segment_counts, batch_size, lambda g: torch.Generator())


def accuracy_by_segments__random_seed(model, task, segment_counts, batch_size=32, seed=0):
    generator = torch.Generator()
    generator.seed()  # a fresh random seed each call
    return accuracies(model, task, segment_counts, batch_size, lambda g: generator)


def accuracy_by_segments__seed_plus_g(model, task, segment_counts, batch_size=32, seed=0):  # a new seed per g
    return accuracies(model, task, segment_counts, batch_size, lambda g: torch.Generator().manual_seed(seed + g))


def seeded_accuracies(measure=None):
    def accuracy_by_segments(model, task, segment_counts, batch_size=32, seed=0):
        return accuracies(model, task, segment_counts, batch_size, lambda g: torch.Generator().manual_seed(seed),
                          measure)
    return accuracy_by_segments


def accuracy_by_segments__every_position(model, task, segment_counts, batch_size=32, seed=0):
    return seeded_accuracies(lambda logits, targets: (logits.argmax(-1) == targets).float().mean().item())(
        model, task, segment_counts, batch_size, seed)


def accuracy_by_segments__exact_match(model, task, segment_counts, batch_size=32, seed=0):
    return seeded_accuracies(lambda logits, targets: answer_accuracy(logits, targets)[1])(
        model, task, segment_counts, batch_size, seed)


def accuracy_by_segments__percent(model, task, segment_counts, batch_size=32, seed=0):
    return {g: 100 * a for g, a in seeded_accuracies()(model, task, segment_counts, batch_size, seed).items()}


def accuracy_by_segments__tensors(model, task, segment_counts, batch_size=32, seed=0):
    return {g: torch.tensor(a) for g, a in seeded_accuracies()(model, task, segment_counts, batch_size, seed).items()}


def accuracy_by_segments__one_length(model, task, segment_counts, batch_size=32, seed=0):
    first = seeded_accuracies()(model, task, segment_counts[:1], batch_size, seed)
    return {g: first[segment_counts[0]] for g in segment_counts}


def accuracy_by_segments__one_segment_short(model, task, segment_counts, batch_size=32, seed=0):
    result = seeded_accuracies()(model, task, [g - 1 for g in segment_counts if g > 4], batch_size, seed)
    return {g: result.get(g - 1, 1.0) for g in segment_counts}  # 4 segments is the shortest this task takes


def accuracy_by_segments__fixed_batch(model, task, segment_counts, batch_size=32, seed=0):
    return seeded_accuracies()(model, task, segment_counts, 32, seed)  # the default, whatever is asked


def accuracy_by_segments__a_list(model, task, segment_counts, batch_size=32, seed=0):
    return list(seeded_accuracies()(model, task, segment_counts, batch_size, seed).values())


test_accuracy_by_segments = catalogue(
    checks.check_accuracy_by_segments, [accuracy_by_segments__notebook], [
        (accuracy_by_segments__seeded_once, "the batches of g = [5, 6, 8] are not what a new generator seeded"),
        (accuracy_by_segments__seeded_once, "a generator shared by all g"),
        (accuracy_by_segments__seed_plus_g, "seeded with another number (such as seed + g)"),
        (accuracy_by_segments__no_generator, "g, generator) needs a torch.Generator (generator must be"),
        (accuracy_by_segments__not_in_eval_mode, "call model.eval() first"),
        (accuracy_by_segments__with_gradients, "evaluate under torch.no_grad()"),
        (accuracy_by_segments__generator_not_seeded, "seed=1 drew the same sequences as seed=0"),
        (accuracy_by_segments__random_seed, "a second call with seed=0 drew other sequences"),
        (accuracy_by_segments__every_position, "count only the answers"),
        (accuracy_by_segments__exact_match, "is the exact match"),
        (accuracy_by_segments__percent, "is a percentage"),
        (accuracy_by_segments__tensors, "use .item()"),
        (accuracy_by_segments__one_length, "num_segments=g"),
        (accuracy_by_segments__one_segment_short, "the accuracy on g - 1 segments"),
        (accuracy_by_segments__a_list, "expected a dict"),
        (accuracy_by_segments__fixed_batch, "the batches hold [32] sequences, expected batch_size=16"),
        (accuracy_by_segments__left_in_eval_mode, "left the model in eval mode, but it came in training mode"),
        (accuracy_by_segments__left_in_training_mode, "left the model in training mode, but it came in eval mode"),
        (accuracy_by_segments__flag_set_by_hand, "ran the model in training mode: call model.eval() first"),
        (accuracy_by_segments__gradients_off_for_good, "left gradients switched off for the whole session"),
        (accuracy_by_segments__parameters_frozen, "changed which parameters of the model are trained"),
    ])


# ---------------------------------------------------------------------------------------------------------
# 08_wikitext_on_a_gpu


def batchify__notebook(ids, b):
    L = (ids.numel() - 1) // b
    return ids[: b * L].view(b, L), ids[1 : b * L + 1].view(b, L)


def batchify__rearranged(ids, b):
    L = (ids.numel() - 1) // b
    return rearrange(ids[: b * L], "(b L) -> b L", b=b), rearrange(ids[1 : b * L + 1], "(b L) -> b L", b=b)


def batchify__interleaved(ids, b):
    L = (ids.numel() - 1) // b
    return (rearrange(ids[: b * L], "(t b) -> b t", b=b), rearrange(ids[1 : b * L + 1], "(t b) -> b t", b=b))


def batchify__not_shifted(ids, b):
    inputs, _ = checks.reference_batchify(ids, b)
    return inputs, inputs.clone()


def batchify__too_long(ids, b):
    L = ids.numel() // b
    return ids[: b * L].view(b, L), ids[: b * L].view(b, L)


def batchify__swapped(ids, b):
    return checks.reference_batchify(ids, b)[::-1]


def batchify__rows_rolled(ids, b):
    inputs, _ = checks.reference_batchify(ids, b)
    return inputs, inputs.roll(-1, dims=1)


def batchify__as_floats(ids, b):
    return tuple(x.float() for x in checks.reference_batchify(ids, b))


test_batchify = catalogue(checks.check_batchify, [batchify__notebook, batchify__rearranged], [
    (batchify__as_floats, "inputs have dtype torch.float32; token ids are integers"),
    (batchify__interleaved, "rows interleave the stream"),
    (batchify__not_shifted, "predicts the NEXT token"),
    (batchify__too_long, "L = (N - 1) // b"),
    (batchify__swapped, "returned (targets, inputs)"),
    (batchify__rows_rolled, "not by rolling each row"),
])


def stream_loss__notebook(model, batches):
    was = model.training
    model.eval()
    loss = stream_loss__without_eval(model, batches)
    model.train(was)
    return loss


def stream_loss__without_eval(model, batches):  # right only for a model already in eval mode
    state, total, count = None, 0.0, 0
    with torch.no_grad():
        for tokens, targets in batches:
            out = model(tokens, memory=state, targets=targets)
            state = out.memory
            total, count = total + out.loss.item() * targets.numel(), count + targets.numel()
    return total / count


def stream_loss__a_tensor(model, batches):
    return torch.tensor(stream_loss__notebook(model, batches))


def stream_loss__detached_at_the_end(model, batches):  # computed with gradients, returned without the graph
    state, total, count = None, 0.0, 0
    for tokens, targets in batches:
        out = model(tokens, memory=state, targets=targets)
        state = out.memory
        total, count = total + out.loss * targets.numel(), count + targets.numel()
    return (total / count).detach()


def stream_loss__summed_by_hand(model, batches):
    was = model.training
    state, total, count = None, 0.0, 0
    with torch.no_grad():
        model.eval()
        for tokens, targets in batches:
            out = model(tokens, memory=state)
            state = out.memory
            total += F.cross_entropy(out.logits.transpose(1, 2), targets, reduction="sum")
            count += targets.numel()
    model.train(was)
    return (total / count).item()


def stream_loss__keeps_graph(model, batches):
    return checks.reference_stream_loss.__wrapped__(model, batches)  # the reference without its no_grad


def stream_loss__in_training_mode(model, batches):
    model.train()
    return stream_loss__without_eval(model, batches)


def stream_loss__left_in_training_mode(model, batches):  # evaluated in eval mode, then "put back" to training
    model.eval()
    loss = stream_loss__without_eval(model, batches)
    model.train()
    return loss


def stream_loss__left_in_eval_mode(model, batches):
    model.eval()
    return stream_loss__without_eval(model, batches)


def stream_losses(model, batches, carry=True):
    """[(mean loss, number of targets)] of each batch, the memory carried or not."""
    state, losses = None, []
    with torch.no_grad():
        for x, y in batches:
            out = model(x, memory=state, targets=y)
            state = out.memory if carry else None
            losses.append((out.loss.item(), y))
    return losses


def stream_loss__no_carry(model, batches):
    losses = stream_losses(model, batches, carry=False)
    return sum(loss * y.numel() for loss, y in losses) / sum(y.numel() for _, y in losses)


def stream_loss__mean_of_means(model, batches):
    losses = stream_losses(model, batches)
    return sum(loss for loss, _ in losses) / len(losses)


def stream_loss__in_bits(model, batches):
    return stream_loss__notebook(model, batches) / math.log(2)


def stream_loss__perplexity(model, batches):
    return math.exp(stream_loss__notebook(model, batches))


def stream_loss__last_batch(model, batches):
    return stream_losses(model, batches)[-1][0]


def stream_loss__summed(model, batches):
    return sum(loss * y.numel() for loss, y in stream_losses(model, batches))


def stream_loss__sum_of_means(model, batches):
    return sum(loss for loss, _ in stream_losses(model, batches))


def stream_loss__per_row(model, batches):
    losses = stream_losses(model, batches)
    return sum(loss * y.numel() for loss, y in losses) / sum(len(y) for _, y in losses)


def stream_loss__shifted_again(model, batches):
    state, total, count = None, 0.0, 0
    with torch.no_grad():
        for tokens, targets in batches:
            out = model(tokens, memory=state)
            state = out.memory
            total += F.cross_entropy(out.logits[:, :-1].flatten(0, 1), targets[:, 1:].flatten(), reduction="sum")
            count += targets[:, 1:].numel()
    return (total / count).item()


test_stream_loss = catalogue(
    checks.check_stream_loss, [stream_loss__notebook, stream_loss__summed_by_hand], [
        (stream_loss__keeps_graph, "ran the model with gradients on: evaluate under torch.no_grad()"),
        (stream_loss__sum_of_means, "the sum of the batches' mean losses"),
        (stream_loss__detached_at_the_end, "ran the model with gradients on: evaluate under torch.no_grad()"),
        (stream_loss__in_training_mode, "ran the model in training mode: call model.eval() first"),
        (stream_loss__left_in_training_mode, "left the model in training mode"),
        (stream_loss__left_in_eval_mode, "left the model in eval mode, but it came in training mode"),
        (stream_loss__without_eval, "ran the model in training mode: call model.eval() first"),
        (stream_loss__a_tensor, "is a tensor; return a plain float"),
        (stream_loss__no_carry, "fresh memory"),
        (stream_loss__mean_of_means, "different numbers of targets"),
        (stream_loss__in_bits, "in bits"),
        (stream_loss__perplexity, "the perplexity"),
        (stream_loss__summed, "the sum of the losses"),
        (stream_loss__last_batch, "the last batch's loss only"),
        (stream_loss__per_row, "divides by the number of rows"),
        (stream_loss__shifted_again, "do not shift them again"),
    ])


def test_stream_loss_gradients_are_checked_on_every_batch(capsys):
    def graph_after_the_first_batch(model, batches):  # only the first batch without gradients
        state, total, count = None, 0.0, 0
        for i, (tokens, targets) in enumerate(batches):
            with torch.no_grad() if i == 0 else contextlib.nullcontext():
                out = model(tokens, memory=state, targets=targets)
            state = out.memory
            total, count = total + out.loss * targets.numel(), count + targets.numel()
        return total / count

    returned, out = run(checks.check_stream_loss, graph_after_the_first_batch, capsys)
    assert out.startswith("✗") and "ran the model with gradients on" in out, out


def loss_by_position__viewed(loss, n):
    return loss.view(-1, n).mean(0)


def loss_by_position__unflattened(loss, n):
    return loss.unflatten(1, (-1, n)).mean((0, 1))


def loss_by_position__strided(loss, n):
    return rearrange(loss, "b (n g) -> (b g) n", n=n).mean(0)


def loss_by_position__first_segment(loss, n):
    return loss[:, :n].mean(0)


def loss_by_position__per_segment(loss, n):
    return rearrange(loss, "b (g n) -> b g n", n=n).mean((0, 2))


def loss_by_position__summed(loss, n):
    return rearrange(loss, "b (g n) -> (b g) n", n=n).sum(0)


def loss_by_position__blocks(loss, n):
    return loss.reshape(n, -1).mean(1)


def loss_by_position__per_row_and_segment(loss, n):
    return rearrange(loss, "b (g n) -> (b g) n", n=n).mean(1)


def loss_by_position__rows_kept_apart(loss, n):
    return rearrange(loss, "b (g n) -> b g n", n=n).mean(0)


def loss_by_position__first_row(loss, n):
    return loss_by_position__viewed(loss[:1], n)


def loss_by_position__in_bits(loss, n):
    return loss_by_position__viewed(loss, n) / math.log(2)


test_loss_by_position = catalogue(
    checks.check_loss_by_position, [loss_by_position__viewed, loss_by_position__unflattened], [
        (loss_by_position__first_row, "the first row only"),
        (loss_by_position__in_bits, "that is in bits"),
        (loss_by_position__strided, "makes the segment index the fastest"),
        (loss_by_position__first_segment, "first segment only"),
        (loss_by_position__per_segment, "one mean per segment"),
        (loss_by_position__summed, "the sum over rows and segments"),
        (loss_by_position__blocks, "n blocks of b g consecutive tokens"),
        (loss_by_position__per_row_and_segment, "one mean per segment of each row"),
        (loss_by_position__rows_kept_apart, "average over the rows too"),
    ])


# ---------------------------------------------------------------------------------------------------------
# 09_reading_far


def needle_depth__row_by_row(tokens):
    s = tokens.shape[1]
    return torch.tensor([(row[:-2] == row[-1]).nonzero()[0].item() / (s - 2) for row in tokens])


def needle_depth__positions(tokens):
    return checks.reference_needle_depth(tokens) * (tokens.shape[1] - 2)


def needle_depth__divided_by_s(tokens):
    return checks.reference_needle_depth(tokens) * (tokens.shape[1] - 2) / tokens.shape[1]


def needle_depth__divided_by_s_minus_3(tokens):  # off by one in the denominator
    return checks.reference_needle_depth(tokens) * (tokens.shape[1] - 2) / (tokens.shape[1] - 3)


def needle_depth__the_value(tokens):
    return checks.reference_needle_depth(tokens) + 1 / (tokens.shape[1] - 2)


def needle_depth__question_mark(tokens):
    return (tokens[:, :-2] == tokens[:, -2:-1]).float().argmax(1) / (tokens.shape[1] - 2)


def needle_depth__last_place(tokens):
    before = tokens[:, :-2]
    found = (before == tokens[:, -1:]).long() * torch.arange(before.shape[1])
    return found.max(1).values / before.shape[1]


def needle_depth__kept_dim(tokens):
    return checks.reference_needle_depth(tokens)[:, None]


def needle_depth__integer_division(tokens):
    return (tokens[:, :-2] == tokens[:, -1:]).int().argmax(1) // (tokens.shape[1] - 2)


def needle_depth__every_match(tokens):
    return torch.where(tokens[:, :-2] == tokens[:, -1:])[1] / (tokens.shape[1] - 2)


test_needle_depth = catalogue(checks.check_needle_depth, [needle_depth__row_by_row], [
    (needle_depth__positions, "gives positions"),
    (needle_depth__divided_by_s, "divides by s ="),
    (needle_depth__divided_by_s_minus_3, "off by one in the denominator: divide by the count of those positions"),
    (needle_depth__the_value, "points at the value"),
    (needle_depth__question_mark, "is 0 in every row"),
    (needle_depth__last_place, "is the LAST place of the key"),
    (needle_depth__kept_dim, "one depth per row"),
    (needle_depth__integer_division, "expected floats"),
    (needle_depth__every_match, "gives two matches in its row"),
])


def reliable_length__sorted_items(accuracy, threshold=0.9):
    reliable = None
    for g, value in sorted(accuracy.items()):
        if value < threshold:
            return reliable
        reliable = g
    return reliable


def reliable_length__takewhile(accuracy, threshold=0.9):
    kept = list(itertools.takewhile(lambda g: accuracy[g] >= threshold, sorted(accuracy)))
    return kept[-1] if kept else None


def reliable_length__any_passing(accuracy, threshold=0.9):
    passing = [g for g, a in accuracy.items() if a >= threshold]
    return max(passing) if passing else None


def reliable_length__first_failing(accuracy, threshold=0.9):
    return next((g for g in sorted(accuracy) if accuracy[g] < threshold), max(accuracy))


def reliable_length__strictly_above(accuracy, threshold=0.9):
    return checks.reference_reliable_length(accuracy, math.nextafter(threshold, 1))


def reliable_length__unsorted(accuracy, threshold=0.9):
    reliable = None
    for g, a in accuracy.items():
        if a < threshold:
            break
        reliable = g
    return reliable


def reliable_length__fixed_threshold(accuracy, threshold=0.9):  # the argument ignored
    return reliable_length__sorted_items(accuracy)


def reliable_length__the_accuracy(accuracy, threshold=0.9):
    g = checks.reference_reliable_length(accuracy, threshold)
    return None if g is None else accuracy[g]


def reliable_length__zero_for_none(accuracy, threshold=0.9):
    return checks.reference_reliable_length(accuracy, threshold) or 0


def reliable_length__every_reliable_length(accuracy, threshold=0.9):
    return list(itertools.takewhile(lambda g: accuracy[g] >= threshold, sorted(accuracy)))


def reliable_length__pops_the_lengths(accuracy, threshold=0.9):
    reliable = None
    while accuracy:
        g = min(accuracy)
        if accuracy.pop(g) < threshold:
            break
        reliable = g
    return reliable


def test_reliable_length_reference():
    assert checks.reference_reliable_length({8: 1.0, 16: 0.5, 32: 1.0}) == 8
    assert checks.reference_reliable_length({8: 0.5}) is None


test_reliable_length = catalogue(
    checks.check_reliable_length, [reliable_length__sorted_items, reliable_length__takewhile], [
        (reliable_length__any_passing, "every shorter one"),
        (reliable_length__first_failing, "the first length that fails"),
        (reliable_length__strictly_above, "equal to the threshold"),
        (reliable_length__unsorted, "sorted(accuracy)"),
        (reliable_length__the_accuracy, "an accuracy; return the length g"),
        (reliable_length__fixed_threshold, "that is the answer for 0.9; compare the accuracies with the `threshold`"),
        (reliable_length__zero_for_none, "return None (0 is not a length)"),
        (reliable_length__every_reliable_length, "return one length g"),
        (reliable_length__pops_the_lengths, "changed its argument `accuracy` in place"),
    ])
