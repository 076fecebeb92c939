"""The synthetic tasks: shapes, determinism, layouts a full-context rule solves and a memory-less one cannot."""

import dataclasses
import inspect

import pytest
import torch

from minirmt.data.tasks import GO, PAD, TASKS, Task, make_task

SMALL = {"copy": {}, "reverse": {}, "assoc": {"num_pairs": 2}, "mqar": {"num_pairs": 2}, "classify": {}, "needle": {}}
NEXT_TOKEN = ("copy", "reverse", "assoc", "mqar")  # next-token targets (classify, needle: own files)


def gen(seed):
    return torch.Generator().manual_seed(seed)


def cases(multi_segment_only=False):
    """(name, n, g) for every task and several segment shapes that fit its small sizes."""
    shapes = [(4, 2), (4, 3), (5, 3), (8, 3), (3, 4), (4, 4)] + ([] if multi_segment_only else [(16, 1), (9, 1)])
    return [(name, n, g) for name in NEXT_TOKEN for n, g in shapes
            if make_task(name, n, **SMALL[name]).min_segments <= g]


def small(name, n):
    return make_task(name, n, **SMALL[name])


# --- a full-context rule that reads the whole sequence --------------------------------------------------


def oracle(task, tokens):
    """Predictions `(b, s)` (-100 where the rule asks nothing) and the position each answer is read from."""
    pred, source = torch.full_like(tokens, -100), torch.full_like(tokens, -1)
    for i, row in enumerate(tokens.tolist()):
        if task.name in ("copy", "reverse"):  # say the digits before GO again, from GO on
            go = row.index(GO)
            where = [j for j in range(go) if row[j] != PAD]
            for k, j in enumerate(where[::-1] if task.name == "reverse" else where):
                pred[i, go + k], source[i, go + k] = row[j], j
        else:  # a key seen before is a query: answer the value that followed its first occurrence
            first = {}
            for t, token in enumerate(row):
                if 2 <= token < 2 + task.num_keys:
                    if token in first:
                        pred[i, t], source[i, t] = row[first[token] + 1], first[token] + 1
                    else:
                        first[token] = t
    return pred, source


# --- memory-less predictors: each sees only the answer's own segment up to the answer ---------------------


def own_segment(task, g, seed, rows):
    """Every answer of a batch: its position `t (a,)`, the answer `(a,)` and the tokens of its own segment up
    to it, latest first: `context (a, n)`, where `context[:, d]` is d places back (v before the segment)."""
    n, v = task.segment_len, task.vocab_size
    tokens, targets = task.sample(rows, g, gen(seed))
    row, t = (targets != -100).nonzero(as_tuple=True)
    where = t[:, None] - torch.arange(n)  # (a, n)
    context = tokens[row[:, None], where.clamp(min=0)].masked_fill(where < (t - t % n)[:, None], v)
    return t, targets[row, t], context


def memoryless_accuracies(task, g, answers=8000):
    """Held-out accuracy, over about `answers` answers, of simple predictors that read only the answer's own
    segment and its position in the whole sequence (more than a segment-only model knows).

    - `table k`: the most frequent answer, in other samples, given the position and the last k own tokens
      (k = 0, 1, 2): the empirical conditional distribution, fitted on one batch and scored on another;
    - `offset d`: repeat the own-segment token d places back;
    - `induction next/prev`: find the latest earlier own-segment copy of the current token, say its neighbour.
    """
    n, v = task.segment_len, task.vocab_size
    rows = -(-answers // int((task.sample(1, g, gen(0))[1] != -100).sum()))
    (t_fit, answers_fit, context_fit), (t, answers, context) = (own_segment(task, g, s, rows) for s in (10, 11))
    preds = {}
    for k in (0, 1, 2):
        table = {}
        for key, answer in zip(torch.cat([t_fit[:, None], context_fit[:, :k]], 1).tolist(), answers_fit.tolist()):
            table.setdefault(tuple(key), []).append(answer)
        mode = {key: max(set(seen), key=seen.count) for key, seen in table.items()}
        keys = torch.cat([t[:, None], context[:, :k]], 1).tolist()
        preds[f"table {k}"] = torch.tensor([mode.get(tuple(key), -1) for key in keys])
    for d in range(1, n):
        preds[f"offset {d}"] = context[:, d]
    padded = torch.cat([context, torch.full_like(context[:, :1], v)], 1)  # so that d + 1 = n is "nothing"
    for name, shift in (("induction next", -1), ("induction prev", 1)):
        pred, found = torch.full_like(t, -1), torch.zeros_like(t, dtype=torch.bool)
        for d in range(1, n):
            hit = (context[:, d] == context[:, 0]) & ~found
            pred[hit], found = padded[hit, d + shift], found | hit
        preds[name] = pred
    return {name: (pred == answers).float().mean().item() for name, pred in preds.items()}


# --- tests ------------------------------------------------------------------------------------------------


def test_names_and_defaults():
    assert TASKS == ("copy", "reverse", "assoc", "mqar", "classify", "needle")
    for name in TASKS:
        task = make_task(name, 8)
        assert isinstance(task, Task) and task.name == name and task.segment_len == 8
    copy, assoc = make_task("copy", 8), make_task("assoc", 4)
    assert (copy.vocab_size, copy.chance_accuracy, copy.min_segments) == (12, 0.1, 1)
    assert (assoc.vocab_size, assoc.chance_accuracy, assoc.min_segments) == (34, 1 / 16, 4)
    assert make_task("mqar", 4).vocab_size == 34
    with pytest.raises(dataclasses.FrozenInstanceError):
        copy.segment_len = 4


@pytest.mark.parametrize("name,n,g", cases())
def test_shapes_dtypes_and_ranges(name, n, g):
    task = small(name, n)
    tokens, targets = task.sample(5, g, gen(0))
    assert tokens.shape == targets.shape == (5, g * n)
    assert tokens.dtype == targets.dtype == torch.int64
    assert tokens.min() >= 0 and tokens.max() < task.vocab_size
    asked = targets != -100
    assert targets[asked].min() >= 2 and targets[asked].max() < task.vocab_size  # answers are data symbols
    assert (asked.sum(1) == asked.sum(1)[0]).all() and asked.sum(1)[0] >= 1


@pytest.mark.parametrize("name,n,g", cases())
def test_a_full_context_rule_gets_every_answer_and_nothing_else_is_asked(name, n, g):
    task = small(name, n)
    tokens, targets = task.sample(64, g, gen(1))
    pred, _ = oracle(task, tokens)
    assert torch.equal(pred, targets)  # 100% on the answers, and -100 exactly where the rule asks nothing


@pytest.mark.parametrize("name,n,g", cases(multi_segment_only=True))
def test_every_answer_repeats_a_symbol_from_an_earlier_segment(name, n, g):
    task = small(name, n)
    tokens, targets = task.sample(64, g, gen(2))
    _, source = oracle(task, tokens)
    asked = targets != -100
    t = torch.arange(g * n).expand_as(tokens)
    assert ((source[asked] // n) < (t[asked] // n)).all()


@pytest.mark.parametrize("name,n,g", [(name, n, g) for name in NEXT_TOKEN for n, g in [(4, 2), (5, 3), (4, 4)]])
def test_memoryless_predictors_stay_at_chance(name, n, g):
    task = small(name, n) if name in ("copy", "reverse") or (n, g) != (4, 4) else make_task(name, n)
    accuracy = memoryless_accuracies(task, g)
    best = max(accuracy, key=accuracy.get)
    assert accuracy[best] < task.chance_accuracy + 0.02, f"{best} reads the answer: {accuracy}"


@pytest.mark.parametrize("name", NEXT_TOKEN)
def test_the_same_predictors_solve_the_single_segment_control(name):
    """With g = 1 nothing is hidden in earlier segments, and the predictors above find the answers: they can
    detect a leak, so their failure with g >= 2 means something."""
    task = small(name, 16)
    assert max(memoryless_accuracies(task, 1, answers=4000).values()) > task.chance_accuracy + 0.4


def test_same_seed_same_batch_other_seed_other_batch():
    for name in TASKS:
        task = small(name, 4)
        a, b, c = (task.sample(8, 4, gen(seed)) for seed in (5, 5, 6))
        assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
        assert not torch.equal(a[0], c[0])


def test_the_global_rng_is_neither_read_nor_advanced():
    for name in TASKS:
        task = small(name, 4)
        torch.manual_seed(0)
        state = torch.random.get_rng_state()
        first = task.sample(8, 4, gen(3))
        assert torch.equal(torch.random.get_rng_state(), state)
        torch.manual_seed(1234)
        second = task.sample(8, 4, gen(3))
        assert torch.equal(first[0], second[0]) and torch.equal(first[1], second[1])


def test_known_good_settings():
    """The recipes' sizes: copy 12 digits over 3 segments of 8; 4 pairs then 4 queries over 4 segments of 4."""
    tokens, targets = make_task("copy", 8).sample(16, 3, gen(4))
    assert (tokens[:, 12] == GO).all() and (tokens[:, :12] >= 2).all()
    assert ((targets != -100).sum(1) == 12).all() and (targets[:, 12:] != -100).all()
    tokens, targets = make_task("assoc", 4).sample(16, 4, gen(4))
    assert (tokens[:, :8] >= 2).all()  # k v k v | k v k v
    assert ((targets != -100).sum(1) == 4).all() and (targets[:, :8] == -100).all()


def test_default_sources_fill_the_sequence():
    for n, g in [(8, 1), (8, 2), (8, 3), (5, 3), (4, 5)]:
        s = n * g
        copy_tokens, _ = make_task("copy", n).sample(2, g, gen(0))
        reverse_tokens, _ = make_task("reverse", n).sample(2, g, gen(0))
        assert (copy_tokens[0] >= 2).sum() == 2 * (s // 2) - 1  # the source and all but the last answer
        assert (reverse_tokens[0] >= 2).sum() == 2 * (s // 2 if g % 2 == 0 or g == 1 else n * (g // 2)) - 1


def test_keys_are_distinct_and_queries_ask_stored_keys():
    for name in ("assoc", "mqar"):
        task = make_task(name, 4, num_pairs=6)
        tokens, _ = task.sample(32, 6, gen(5))
        keys = tokens[:, :12:2]
        assert all(len(set(row)) == 6 for row in keys.tolist())
        pred, _ = oracle(task, tokens)
        assert ((pred != -100).sum(1) == 6).all()  # every stored key is asked once


def test_answers_are_fed_in_assoc_but_not_in_mqar():
    for name, fed in (("assoc", True), ("mqar", False)):
        task = make_task(name, 4, num_pairs=3)
        tokens, targets = task.sample(32, 6, gen(6))
        after_query = torch.roll(targets != -100, 1, dims=1)
        after_query[:, 0] = False  # not the wrap-around: the last answer is never read
        assert (tokens[after_query] >= 2 + task.num_keys).all() == fed  # a value follows each query
        assert (tokens[after_query] == PAD).all() != fed


def test_num_queries_and_a_curriculum_over_pairs():
    task = make_task("assoc", 4, num_pairs=3, num_queries=1)  # the paper's form: one question
    _, targets = task.sample(8, 3, gen(7))
    assert ((targets != -100).sum(1) == 1).all()
    grown = dataclasses.replace(make_task("assoc", 4, num_pairs=2), num_pairs=4)
    assert grown.num_pairs == 4 and grown.min_segments == 4
    with pytest.raises(ValueError, match="num_pairs=17"):
        dataclasses.replace(grown, num_pairs=17)


@pytest.mark.parametrize(
    "name,sizes,n", [("copy", {"source_len": 5}, 4), ("reverse", {"source_len": 5}, 4), ("assoc", {}, 4),
                     ("mqar", {"num_pairs": 3}, 3), ("copy", {}, 1), ("assoc", {"num_pairs": 1}, 8)]
)  # fmt: skip
def test_min_segments_is_the_first_g_that_fits(name, sizes, n):
    task = make_task(name, n, **sizes)
    g = task.min_segments
    task.sample(2, g, gen(0))
    task.sample(2, g + 3, gen(0))
    if g > 1:
        with pytest.raises(ValueError, match=f"fits from num_segments={g}"):
            task.sample(2, g - 1, gen(0))


def test_sizes_that_do_not_fit_name_themselves():
    with pytest.raises(ValueError, match=r"source_len=20 needs 40 tokens, more than g \* n = 2 \* 8 = 16"):
        make_task("copy", 8, source_len=20).sample(2, 2, gen(0))
    with pytest.raises(ValueError, match=r"num_pairs=4, num_queries=4 needs 15 tokens.*2 \* 4 = 8"):
        make_task("assoc", 4).sample(2, 2, gen(0))


@pytest.mark.parametrize(
    "call,error,message",
    [
        (lambda: make_task("sort", 8), ValueError, "unknown task 'sort'"),
        (lambda: make_task("copy", 0), ValueError, "segment_len=0 must be >= 1"),
        (lambda: make_task("copy", 8.0), TypeError, "segment_len must be an int"),
        (lambda: make_task("copy", 8, num_pairs=2), TypeError, "copy takes the sizes"),
        (lambda: make_task("copy", 8, source_len=0), ValueError, "source_len=0 must be >= 1"),
        (lambda: make_task("assoc", 8, num_keys=True), TypeError, "num_keys must be an int"),
        (lambda: make_task("assoc", 8, num_pairs=17), ValueError, "num_pairs=17 .* num_keys=16"),
        (lambda: make_task("mqar", 8, num_pairs=2, num_queries=3), ValueError, "num_queries=3 .*num_pairs=2"),
        (lambda: make_task("copy", 8).sample(0, 2, gen(0)), ValueError, "batch_size=0 must be >= 1"),
        (lambda: make_task("copy", 8).sample(4, 0, gen(0)), ValueError, "num_segments=0 must be >= 1"),
        (lambda: make_task("copy", 8).sample(4, 2, 0), TypeError, "generator must be a torch.Generator"),
        (lambda: make_task("copy", 8).sample(4, 2.0, gen(0)), TypeError, "num_segments must be an int"),
    ],
)
def test_bad_input_gives_a_clear_error(call, error, message):
    with pytest.raises(error, match=message):
        call()


@pytest.mark.parametrize("name,n,g,sizes", [("copy", 4, 3, {}), ("reverse", 4, 4, {}), ("assoc", 4, 4, {}),
                                            ("mqar", 4, 4, {"num_pairs": 2})])  # fmt: skip
def test_docstring_examples_are_real_samples(name, n, g, sizes):
    task = make_task(name, n, **sizes)
    tokens, targets = task.sample(1, g, gen(1))
    shown = task.render(tokens[0], targets[0]).splitlines()
    doc = [line.strip() for line in inspect.getdoc(type(task)).splitlines()]
    assert [line for line in doc if line.startswith(("tokens ", "targets "))] == shown
