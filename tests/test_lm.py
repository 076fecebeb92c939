"""Language modelling on a contiguous stream: evaluation, carried state, resume, DDP, a real corpus."""

import json
import math
import os
import subprocess
import sys

import pytest
import torch
from conftest import REPO, data_root

from minirmt import MODELS, build_model, cli
from minirmt.data.corpora import load_bytes
from minirmt.model.config import ModelConfig
from minirmt.training import accel, lm_loop
from minirmt.training.accel import flops_per_token
from minirmt.training.lm_loop import LMConfig, train_lm, train_step
from minirmt.training.perplexity import eval_seq_len, evaluate_lm, position_sums

SIZES = set(ModelConfig.__dataclass_fields__) - {"vocab_size"}  # LMConfig has its own vocab_size


def config(**overrides):
    """A tiny LMConfig; ModelConfig fields among the overrides go into model_args."""
    base = dict(corpus=None, vocab_size=16, unit="ppl", model="rmt", preset="tiny", batch_size=4, segments=2,
                steps=3, warmup=1, lr=1e-2, log_every=1, valid_split=None, test_split=None)
    sizes = {"segment_len": 8, "num_mem_tokens": 2, **{k: v for k, v in overrides.items() if k in SIZES}}
    return LMConfig(**{**base, **{k: v for k, v in overrides.items() if k not in SIZES}}, model_args=sizes)


def stream(n=2_000, v=16, seed=0):
    return torch.randint(0, v, (n,), generator=torch.Generator().manual_seed(seed))


def model_for(cfg):
    return build_model(cfg.model, lm_loop.model_config(cfg, cfg.vocab_size), seed=0)


# ---------------------------------------------------------------- evaluation


@pytest.mark.parametrize("v, unit, expected", [(16, "ppl", 16.0), (256, "bpb", 8.0)])
def test_uniform_model_scores_vocab_size_perplexity_or_8_bits_per_byte(v, unit, expected):
    model = model_for(config(vocab_size=v))
    with torch.no_grad():
        model.backbone.embed.weight.zero_()  # tied with the head: every logit is 0, every prediction uniform
    ids = stream(1_001, v)
    result = evaluate_lm(model, ids, batch_size=3, unit=unit)
    assert result[unit] == pytest.approx(expected, rel=1e-5)
    assert result["unit"] == unit
    assert result["tokens"] == 3 * (1_000 // 3)  # every target of the 3 rows, each once
    assert len(result["loss_by_position"]) == 8
    assert all(x == pytest.approx(math.log(v), rel=1e-5) for x in result["loss_by_position"])


@pytest.mark.parametrize("name", ["rmt", "xl", "memxl", "segment"])
def test_evaluation_carries_state_across_batches(name):
    """Reading one segment per call (state carried between calls) equals reading 3 segments per call."""
    model = model_for(config(model=name)).eval()
    ids = stream(4 * 24 * 2 + 1)
    one = evaluate_lm(model, ids, batch_size=4, seq_len=8)
    three = evaluate_lm(model, ids, batch_size=4, seq_len=24)
    assert one["tokens"] == three["tokens"] == 4 * 48
    assert one["loss"] == pytest.approx(three["loss"], rel=1e-5)
    torch.testing.assert_close(torch.tensor(one["loss_by_position"]), torch.tensor(three["loss_by_position"]))


def test_full_transformer_is_evaluated_on_whole_windows():
    cfg = config(model="full")
    model = model_for(cfg)
    assert eval_seq_len(model, cfg.segments) == 16
    result = evaluate_lm(model, stream(500), batch_size=2, seq_len=16)
    assert len(result["loss_by_position"]) == 16


# ---------------------------------------------------------------- training steps and the carried state


def second_batch_loss(name, first_seed):
    """Loss on a fixed second batch after a first batch drawn from `first_seed` (lr 0: weights never change)."""
    cfg = config(model=name)
    model = model_for(cfg)
    optimizer = torch.optim.AdamW(model.parameters(), lr=0.0, weight_decay=0.0)
    first = stream(4 * 16, seed=first_seed).view(4, 16)
    second = stream(4 * 16, seed=99).view(4, 16)
    _, states = train_step(model, optimizer, first, first, [None], clip=1.0, dtype=None)
    assert all(s is None or not s.requires_grad for s in states)  # detached: no gradient crosses batches
    loss, _ = train_step(model, optimizer, second, second, states, clip=1.0, dtype=None)
    return loss.item()


@pytest.mark.parametrize("name, carries", [("rmt", True), ("xl", True), ("memxl", True), ("segment", False)])
def test_second_batch_depends_on_first_batch_only_with_a_carried_state(name, carries):
    changed = second_batch_loss(name, first_seed=1) != pytest.approx(second_batch_loss(name, first_seed=2), abs=1e-7)
    assert changed == carries


def test_state_restarts_with_every_epoch():
    """A stream of one batch per epoch, lr 0: every step sees the same batch and the same (reset) memory."""
    cfg = config(lr=1e-12, warmup=0, weight_decay=0.0, steps=3, batch_size=2)
    run = train_lm(cfg, train_ids=stream(2 * 16 + 1), log=None)
    losses = [r["loss"] for r in run.history]
    assert losses == pytest.approx([losses[0]] * 3, abs=1e-6)


def test_accumulation_splits_rows_without_changing_the_step():
    cfg = config(model="rmt", batch_size=4)
    tokens = stream(4 * 16, seed=3).view(4, 16)
    results = []
    for parts in (1, 2):
        model = model_for(cfg)
        optimizer = torch.optim.AdamW(model.parameters(), lr=1e-2)
        loss, states = train_step(model, optimizer, tokens, tokens, [None] * parts, clip=None, dtype=None)
        results.append((loss.item(), torch.cat(states), model.backbone.head.weight.detach().clone()))
    assert results[0][0] == pytest.approx(results[1][0], rel=1e-5)
    torch.testing.assert_close(results[0][1], results[1][1], rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(results[0][2], results[1][2], rtol=1e-4, atol=1e-5)


def test_training_lowers_the_loss_and_writes_metrics_and_figures(tmp_path):
    ids = (torch.arange(3_000) % 7).long()  # a periodic stream: easy to learn
    run = train_lm(config(steps=25, out=str(tmp_path)), train_ids=ids, test_ids=ids[:500], log=None)
    losses = [r["loss"] for r in run.history]
    assert losses[-1] < 0.5 * losses[0]
    assert run.final["test"]["loss"] < 1.0
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["step"] == 25 and metrics["tokens"] == 25 * 4 * 16 and metrics["world_size"] == 1
    assert {"loss_by_position", "ppl", "tokens"} <= set(metrics["final"]["test"])
    assert {"checkpoint.pt", "curves.png", "by_position.png"} <= {p.name for p in tmp_path.iterdir()}


def test_time_budget_ends_the_run():
    run = train_lm(config(steps=None, time_budget=0.5, log_every=2), train_ids=stream(5_000), log=None)
    assert run.step >= lm_loop.WARM_STEPS and run.tokens_per_s is not None and run.tokens_per_s > 0


# ---------------------------------------------------------------- checkpoints


def test_resume_continues_exactly(tmp_path):
    """4 steps in one go == 2 steps, stop, resume from the checkpoint, 2 more (dropout, memory, stream, Adam)."""
    cfg = config(steps=4, dropout=0.1)
    ids = stream(3_000)
    straight = train_lm(cfg, train_ids=ids, log=None)
    first = train_lm(replace_out(cfg, tmp_path), train_ids=ids, callback=lambda step, history: step == 2, log=None)
    assert first.step == 2
    resumed = train_lm(cfg, train_ids=ids, resume=tmp_path / "checkpoint.pt", log=None)
    assert resumed.step == 4
    assert [r["loss"] for r in resumed.history] == pytest.approx([r["loss"] for r in straight.history], rel=1e-6)
    for (name, a), b in zip(straight.model.state_dict().items(), resumed.model.state_dict().values()):
        torch.testing.assert_close(a, b, msg=name)


def replace_out(cfg, out):
    return LMConfig.from_dict({**cfg.to_dict(), "out": str(out)})


def test_ctrl_c_keeps_what_was_saved(tmp_path):
    def interrupt(step, history):
        if step == 2:
            raise KeyboardInterrupt

    run = train_lm(config(steps=5, out=str(tmp_path)), train_ids=stream(3_000), callback=interrupt, log=None)
    assert run.interrupted and run.step == 2
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["interrupted"] and metrics["step"] == 2
    assert torch.load(tmp_path / "checkpoint.pt", weights_only=True)["step"] == 2


# ---------------------------------------------------------------- data parallel (gloo, 2 processes)


@pytest.mark.timeout(300)
def test_ddp_two_processes_match_one_process_with_both_shards(tmp_path):
    """2 ranks x 2 rows == 1 process x 4 rows: each rank reads its own rows, DDP averages the gradients."""
    text = tmp_path / "corpus.txt"
    text.write_bytes(bytes(stream(6_000, v=256, seed=5).to(torch.uint8).tolist()))
    args = ["--corpus", str(text), "--valid-split", "none", "--test-split", "none", "--preset", "tiny",
            "--segment-len", "8", "--num-mem-tokens", "2", "--segments", "2", "--steps", "3", "--warmup", "1",
            "--lr", "1e-2", "--log-every", "1", "--device", "cpu"]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", "-m", "minirmt", "lm",
           *args, "--batch-size", "2", "--out", str(tmp_path / "ddp")]
    done = subprocess.run(cmd, env=env, cwd=REPO, capture_output=True, text=True, timeout=280)
    assert done.returncode == 0, done.stderr[-3000:]
    ddp = json.loads((tmp_path / "ddp" / "metrics.json").read_text())
    assert cli.main(["lm", *args, "--batch-size", "4", "--out", str(tmp_path / "single")]) == 0
    single = json.loads((tmp_path / "single" / "metrics.json").read_text())
    assert ddp["world_size"] == 2 and ddp["tokens"] == single["tokens"] == 3 * 4 * 16
    assert [r["loss"] for r in ddp["history"]] == pytest.approx([r["loss"] for r in single["history"]], rel=1e-4)


# ---------------------------------------------------------------- a real corpus


def test_tiny_training_on_the_wikitext2_valid_file_lowers_the_loss():
    root = data_root("wikitext-2", "wiki.valid.raw.gz")
    cfg = config(corpus="wikitext-2-raw", data_root=str(root / "wikitext-2"), vocab_size=None, unit=None,
                 train_split="valid", test_split="test", train_tokens=100_000, eval_tokens=4_000, steps=30,
                 log_every=5, batch_size=8, segment_len=16)
    run = train_lm(cfg, log=None)
    losses = [r["loss"] for r in run.history]
    assert run.info["unit"] == "bpb" and run.info["model_config"]["vocab_size"] == 256
    assert losses[-1] < losses[0] - 1.0
    assert run.final["test"]["bpb"] < 7.0  # a uniform byte model scores 8 bits per byte


def test_real_bytes_load_as_a_uint8_stream():
    ids = load_bytes(data_root("wikitext-2", "wiki.valid.raw.gz") / "wikitext-2" / "wiki.valid.raw.gz", limit=1_000)
    assert ids.dtype == torch.uint8 and ids.shape == (1_000,)


# ---------------------------------------------------------------- cost, config, command line


def test_flops_per_token_counts_memory_slots_and_cache():
    cfg = config(segment_len=8, num_mem_tokens=2)
    models = {name: model_for(LMConfig.from_dict({**cfg.to_dict(), "model": name})) for name in MODELS}
    seg = models["segment"]
    blocks = sum(p.numel() for p in seg.backbone.blocks.parameters())
    d, l, v = 32, 2, 16
    assert flops_per_token(seg, 16) == 6 * blocks + 12 * l * d * 8 + 6 * d * v
    assert flops_per_token(models["rmt"], 16) == (6 * blocks + 12 * l * d * 12) * 12 / 8 + 6 * d * v
    assert flops_per_token(models["xl"], 16) == 6 * blocks + 12 * l * d * 16 + 6 * d * v
    assert flops_per_token(models["full"], 16) == 6 * blocks + 12 * l * d * 16 + 6 * d * v


@pytest.mark.parametrize("overrides, message", [
    ({"model": "gpt"}, "model='gpt'"),
    ({"batch_size": 6, "accumulation": 4}, "accumulation=4 must divide batch_size=6"),
    ({"steps": None}, "give at least one"),
    ({"dtype": "float16"}, "dtype='float16'"),
    ({"segments": 0}, "segments=0"),
])
def test_config_rejects_bad_values(overrides, message):
    with pytest.raises(ValueError, match=message):
        config(**overrides)


def test_too_short_a_stream_is_a_clear_error():
    with pytest.raises(ValueError, match="fewer than one batch"):
        train_lm(config(), train_ids=stream(40), log=None)


def test_command_line_maps_every_option_to_the_config():
    args = cli.make_parser().parse_args(["lm", "--steps", "none", "--time-budget", "60", "--betas", "0.9", "0.99",
                                         "--compile", "--cuda-graphs", "--corpus", "pg-books", "--segment-len", "128",
                                         "--memory-flat", "--bptt-depth", "2"])
    assert args.run is cli.cmd_lm
    cfg = LMConfig(**cli.given(args, args.lm_fields), model_args=cli.given(args, args.model_fields))
    assert cfg.steps is None and cfg.time_budget == 60.0 and cfg.betas == (0.9, 0.99) and cfg.compile
    assert cfg.cuda_graphs and cfg.corpus == "pg-books"
    assert cfg.model_args == {"segment_len": 128, "memory_flat": True, "bptt_depth": 2}
    model_cfg = lm_loop.model_config(cfg, 256)
    assert model_cfg.segment_len == 128 and model_cfg.d_model == 512  # the preset's


def test_help_shows_every_default(capsys):
    with pytest.raises(SystemExit) as exit_:
        cli.main(["lm", "--help"])
    text = " ".join(capsys.readouterr().out.split())  # argparse wraps lines
    assert exit_.value.code == 0
    assert "--lr FLOAT peak learning rate" in text and "(default: 0.0006)" in text
    assert "--d-model INT d, model width (default: the preset's (wikitext: 512))" in text


@pytest.mark.parametrize("path", ["segments", "whole"])
def test_compiled_code_computes_what_the_eager_model_does(path):
    """The compiled paths, traced by dynamo and run through autograd (the "aot_eager" backend: the same graph
    capture as on a GPU, without generating kernels), give the eager loss and gradients."""
    model = model_for(config(memory_flat=path == "segments"))
    tokens = stream(64).view(2, 32)
    expected = model(tokens, targets=tokens, return_logits=False).loss
    expected.backward()
    grads = [p.grad.clone() for p in model.parameters() if p.grad is not None]
    model.zero_grad()
    names = list(model.state_dict())
    if path == "segments":
        model.compile_segments(backend="aot_eager")
    else:
        model.compile(backend="aot_eager")
    loss = model(tokens, targets=tokens, return_logits=False).loss
    loss.backward()
    assert list(model.state_dict()) == names  # checkpoints load into compiled and plain models alike
    assert loss.item() == pytest.approx(expected.item(), rel=1e-5)
    for got, want in zip([p.grad for p in model.parameters() if p.grad is not None], grads):
        torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("memory_flat, compiled", [(False, "_compiled_call_impl"), (True, "_segment_with_loss")])
def test_compile_model_compiles_the_whole_forward_or_each_segment_under_memory_flat(memory_flat, compiled):
    model = model_for(config(memory_flat=memory_flat))
    accel.compile_model(model)
    assert vars(model).get(compiled) is not None  # what it compiled; running inductor would take a minute here


def test_training_stream_ids_are_checked_once_up_front():
    bad = stream(3_000)
    bad[2_500] = 16  # one id beyond vocab_size 16, far into the stream
    with pytest.raises(ValueError, match=r"the training stream must be ids in \[0, 16\).*got values in \[0, 16\]"):
        train_lm(config(steps=1), train_ids=bad, log=None)


def test_a_step_need_not_check_the_ids_again():
    model = model_for(config())
    tokens = stream(64).view(2, 32)
    checked = model(tokens, targets=tokens).loss
    assert model(tokens, targets=tokens, check_ids=False).loss.item() == checked.item()
    with pytest.raises(ValueError, match="vocab_size"):
        model(tokens + 16, targets=tokens)
    with pytest.raises(ValueError, match="shape"):  # the shape is still checked without the ids
        model(tokens, targets=tokens[:, :8], check_ids=False)


def test_cuda_graphs_need_compile():
    with pytest.raises(ValueError, match="cuda_graphs=True needs compile=True"):
        config(cuda_graphs=True)
    assert config(compile=True, cuda_graphs=True, memory_flat=True).model_args["memory_flat"]


def test_model_args_must_be_model_config_fields():
    with pytest.raises(ValueError, match=r"model_args \['depth', 'vocab_size'\] are not ModelConfig fields"):
        LMConfig(corpus="pg-books", model_args={"depth": 3, "vocab_size": 7})


def test_training_a_stream_keeps_the_initial_memory_fixed():
    """The state is carried across batches, so the initial memory is read once per pass: it is not trained,
    and DDP therefore never meets a parameter without a gradient."""
    model = model_for(config())
    initial = model.memory.detach().clone()
    train_lm(config(steps=3), train_ids=stream(3_000), model=model, log=None)
    assert not model.memory.requires_grad and torch.equal(model.memory, initial)
    assert all(p.requires_grad for name, p in model.named_parameters() if name != "memory")


def test_position_sums_fold_segments_onto_positions():
    loss = torch.arange(2 * 10, dtype=torch.float32).view(2, 10)  # b = 2, s = 10: segments of 4, 4 and 2
    sums, counts = position_sums(loss, 4)
    assert counts.tolist() == [6, 6, 4, 4]
    assert sums.tolist() == [0 + 4 + 8 + 10 + 14 + 18, 1 + 5 + 9 + 11 + 15 + 19, 2 + 6 + 12 + 16, 3 + 7 + 13 + 17]
    short_sums, short_counts = position_sums(loss[:, :3], 4)
    assert short_counts.tolist() == [2, 2, 2] and short_sums.tolist() == [10, 12, 14]


@pytest.mark.slow
def test_gpu_study_smoke_run_writes_a_row_per_seed_and_the_merged_table(tmp_path):
    """bench/studies/lm_gpu.py end to end on the CPU (--smoke): two rows, one seed, a few steps, the merged table."""
    script = REPO / "bench" / "studies" / "lm_gpu.py"
    cmd = [sys.executable, str(script), "--smoke", "--data", str(data_root("pg-books") / "pg-books"),
           "--rows", "rmt,segment", "--seeds", "0", "--steps", "3", "--train-bytes", "50000", "--eval-bytes", "2000",
           "--out", str(tmp_path)]
    done = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=500)
    assert done.returncode == 0, done.stderr[-3000:]
    row = json.loads((tmp_path / "rmt-s0.json").read_text())
    assert (row["row"], row["seed"], row["steps"]) == ("rmt", 0, 3)
    assert 0 < row["test_bpb"] < 9 and len(row["loss_by_position"]) == row["sizes"]["segment_len"]
    assert set(json.loads((tmp_path / "results.json").read_text())) == {"rmt", "segment"}
    assert {"curves.png", "by_position.png"} <= {p.name for p in tmp_path.iterdir()}
    assert "segment only" in done.stdout and "test bpb" in done.stdout
