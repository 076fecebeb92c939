"""The benchmark helpers under bench/ compute what they claim: the dense reference is a causal decoder, the
timing harness calls every step as often as it says, the memory benchmark compiles as `lm` does, and the
summary reads the records the scripts write; every script runs in --smoke mode. (The benchmarks themselves
are run by hand: bench/README.md.)"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import minirmt

BENCH = Path(__file__).resolve().parents[1] / "bench"
sys.path[:0] = [str(BENCH), str(BENCH / "goals"), str(BENCH / "studies")]
import gpu_memory  # noqa: E402
import harness  # noqa: E402
import summary  # noqa: E402
from assoc_variants import PreNormMemoryRMT, ScaledMemoryRMT  # noqa: E402
from dense import DenseDecoder  # noqa: E402

CFG = minirmt.ModelConfig(vocab_size=16, d_model=16, n_layers=2, n_heads=2, segment_len=4, num_mem_tokens=2)


def test_dense_decoder_is_causal_and_counts_flops():
    torch.manual_seed(0)
    model = DenseDecoder(vocab_size=16, d_model=16, n_layers=2, n_heads=2, context=8)
    tokens, targets = harness.lm_batch(16, 2, 8, seed=2)
    early = targets.clone()
    early[:, 4:] = -100  # only positions 0..3 count
    changed = tokens.clone()
    changed[:, 6] = (changed[:, 6] + 1) % 16  # a later token must not change earlier predictions
    torch.testing.assert_close(model(changed, early), model(tokens, early))
    block_params = sum(p.numel() for p in model.blocks.parameters())
    assert model.flops_per_token(8) == 6 * block_params + 12 * 2 * 16 * 8 + 6 * 16 * 16


def test_time_interleaved_calls_each_step_warmup_plus_rounds_times():
    calls = {"a": 0, "b": 0}

    def step(name):
        def run():
            calls[name] += 1
        return run

    times = harness.time_interleaved({"a": step("a"), "b": step("b")}, rounds=3, warmup=2)
    assert calls == {"a": 5, "b": 5}
    assert all(len(t["wall_s"]) == len(t["cpu_s"]) == 3 and t["warmup_s"] >= 0 for t in times.values())
    summary_ = harness.summarize(times, tokens_per_step=100)
    assert summary_["a"]["tokens_per_s"] == pytest.approx(100 / summary_["a"]["step_wall_s"])


def test_time_interleaved_runs_k_steps_back_to_back_and_records_their_mean(monkeypatch):
    clock = {"now": 0.0}
    monkeypatch.setattr(harness.time, "perf_counter", lambda: clock["now"])
    order = []

    def step(name, seconds):
        def run():
            order.append(name)
            clock["now"] += seconds
        return run

    times = harness.time_interleaved({"a": step("a", 1.0), "b": step("b", 3.0)}, rounds=2, warmup=1,
                                     steps_per_round=4)
    assert order == ["a", "b"] + ["a"] * 4 + ["b"] * 4 + ["a"] * 4 + ["b"] * 4
    assert times["a"]["wall_s"] == [1.0, 1.0] and times["b"]["wall_s"] == [3.0, 3.0]


def test_time_interleaved_leaves_out_a_step_that_runs_out_of_memory():
    calls = []

    def fails():
        calls.append("fails")
        raise torch.OutOfMemoryError("CUDA out of memory")

    times = harness.time_interleaved({"ok": lambda: calls.append("ok"), "fails": fails}, rounds=2, warmup=1)
    assert times["fails"] == {"error": "out of memory"} and calls.count("fails") == 1
    assert harness.summarize(times, 10)["fails"] == {"error": "out of memory"}


def test_train_step_changes_the_weights_and_returns_the_loss():
    torch.manual_seed(0)
    model = minirmt.RecurrentMemoryTransformer(CFG)
    before = model.memory.detach().clone()
    batch = harness.lm_batch(CFG.vocab_size, 2, 2 * CFG.segment_len)
    step = harness.train_step(harness.loss_fn(model, "minirmt"), torch.optim.AdamW(model.parameters()), batch)
    loss = step()
    assert loss.shape == () and not loss.requires_grad and torch.isfinite(loss)
    assert not torch.equal(model.memory, before)


@pytest.mark.parametrize("compile_mode, graphs", [("compiled", False), ("CUDA graphs", True)])
def test_memory_bench_compiles_each_setting_as_lm_would(monkeypatch, compile_mode, graphs):
    calls = []
    monkeypatch.setattr(gpu_memory, "compile_model", lambda model, cuda_graphs: calls.append(cuda_graphs))
    batch = harness.lm_batch(CFG.vocab_size, 2, 2 * CFG.segment_len)
    step = gpu_memory.minirmt_step(CFG, (True, compile_mode), batch, torch.device("cpu"))
    assert calls == [graphs] and torch.isfinite(step())
    gpu_memory.minirmt_step(CFG, (True, None), batch, torch.device("cpu"))
    assert calls == [graphs]  # eager: nothing compiled


def test_summary_reads_a_record(tmp_path, capsys):
    record = {
        "benchmark": "gpu_memory", "smoke": True, "environment": {"device": "cpu", "torch": torch.__version__},
        "results": {"minirmt flat=True": {1: {"oom": False, "peak_bytes": 2**30, "tokens_per_s": 10.0},
                                          16: {"oom": True}}},
        "summary": {"flat peak g=16 / g=1": None, "throughput cost of memory_flat by g": {1: 0.25}},
    }
    path = harness.write_json(tmp_path / "r.json", record)
    summary.main([str(path), str(tmp_path / "missing.json")])
    out = capsys.readouterr().out
    assert "g=1: 1.00 GiB" in out and "g=16: oom" in out and "30%: met" in out and "missing" in out


def test_summary_holds_every_dense_row_to_its_goal_and_skips_other_records(tmp_path, capsys):
    row = {"tokens_per_s": 1.0, "mfu": None, "step_peak_bytes": None}
    record = {
        "benchmark": "gpu_throughput", "environment": {"device": "cuda"},
        "results": {"minirmt compiled": row, "dense compiled": row, "peer": row},
        "ratios": {"minirmt compiled / peer": 9.9, "minirmt compiled / dense compiled": 0.83,
                   "minirmt compiled / peer-lean": 1.2},
    }
    paths = [harness.write_json(tmp_path / "t.json", record),
             harness.write_json(tmp_path / "profile.json", {"rows": []})]
    summary.main([str(p) for p in paths])
    out = capsys.readouterr().out
    assert "/ peer: 9.90x (goal >= 10: MISSED)" in out
    assert "/ dense compiled: 0.83x (goal >= 0.8: met)" in out
    assert "/ peer-lean: 1.20x (control)" in out
    assert "profile.json: not a benchmark record" in out and "each step timed alone" in out


def test_peer_loop_equals_the_peer_wrapper_loss():
    pytest.importorskip("recurrent_memory_transformer_pytorch")
    from recurrent_memory_transformer_pytorch import RecurrentMemoryTransformerWrapper

    torch.manual_seed(0)
    peer = harness.peer_model(CFG, "peer-lean")
    tokens, targets = harness.lm_batch(CFG.vocab_size, 2, 3 * CFG.segment_len, seed=3)
    loss, logits = harness.peer_forward(peer, tokens, targets)
    wrapper_loss, _ = RecurrentMemoryTransformerWrapper(peer)(torch.cat([tokens, targets[:, -1:]], 1), return_loss=True)
    torch.testing.assert_close(loss, wrapper_loss)
    assert logits.shape == (2, 3 * CFG.segment_len, CFG.vocab_size)


def test_time_to_solve_ratios_and_merge(tmp_path):
    import cpu_time_to_solve as tts

    def result(solved, wall, cpu):
        return {"solved": solved, "train_wall_s": wall, "train_cpu_s": cpu,
                "time_to_solve_wall_s": wall if solved else None, "time_to_solve_cpu_s": cpu if solved else None}

    runs = {"minirmt": result(True, 10.0, 5.0), "peer": result(False, 40.0, 20.0), "peer-lean": result(True, 20.0, 7.5)}
    ratios = tts.ratios(runs)
    assert ratios["peer / minirmt time to solve"]["at_least"] == {"wall": 4.0, "cpu_time": 4.0}
    assert ratios["peer-lean / minirmt time to solve"]["cpu_time"] == 1.5
    assert ratios["peer-lean / minirmt time to solve"]["at_least"] is None
    paths = []
    for name, r in runs.items():
        record = {"results": {name: r}, "peer_options": {}, "peer_differences": [], "notes": [],
                  "environment": {"device": name}, "smoke": False}
        paths.append(harness.write_json(tmp_path / f"{name}.json", record))
    merged = tts.merge(paths)
    assert list(merged["results"]) == list(runs) and merged["ratios"] == ratios
    assert [run["device"] for run in merged["environment"]["runs"]] == list(runs)


def _same_weights(variant):
    reference = minirmt.RecurrentMemoryTransformer(CFG)
    variant.load_state_dict(reference.state_dict(), strict=False)
    return reference, variant


def test_assoc_variants_change_only_the_memory_passed_on():
    tokens = torch.randint(0, CFG.vocab_size, (3, 12), generator=torch.Generator().manual_seed(0))
    n = CFG.segment_len
    reference, scaled = _same_weights(ScaledMemoryRMT(CFG, 1.0))
    torch.testing.assert_close(scaled(tokens).logits, reference(tokens).logits)  # scale 1: the RMT itself
    reference, prenorm = _same_weights(PreNormMemoryRMT(CFG))
    ref, out = reference(tokens).logits, prenorm(tokens).logits
    torch.testing.assert_close(out[:, :n], ref[:, :n])  # the first segment reads the same initial memory
    assert not torch.allclose(out[:, n:], ref[:, n:])  # later segments read the un-normed memory


def test_assoc_variants_pass_on_a_different_memory():
    tokens = torch.randint(0, CFG.vocab_size, (3, 12), generator=torch.Generator().manual_seed(0))
    reference, scaled = _same_weights(ScaledMemoryRMT(CFG, 0.02))
    torch.testing.assert_close(scaled(tokens).memories[0], 0.02 * reference(tokens).memories[0])
    reference, prenorm = _same_weights(PreNormMemoryRMT(CFG))
    normed = prenorm.backbone.norm(prenorm(tokens).memories[0])
    torch.testing.assert_close(normed, reference(tokens).memories[0])


SMOKE_SCRIPTS = ["goals/cpu_throughput.py", "goals/cpu_time_to_solve.py", "goals/gpu_throughput.py",
                 "goals/gpu_memory.py", "studies/profile_gpu.py", "studies/solve_tasks.py",
                 "studies/paper_step_speed.py"]


@pytest.mark.slow
@pytest.mark.parametrize("script", SMOKE_SCRIPTS)
def test_every_benchmark_runs_in_smoke_mode(script, tmp_path):
    """Tiny sizes on the CPU, compiled rows traced only: the scripts run from end to end on today's library."""
    root = BENCH.parent
    extra = ["--only", "copy"] if "solve_tasks" in script else ["--top", "2"] if "profile" in script else []
    done = subprocess.run([sys.executable, str(BENCH / script), "--smoke", *extra], cwd=tmp_path,
                          env={**os.environ, "PYTHONPATH": str(root), "OMP_NUM_THREADS": "1"},
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]


def test_seed_studies_share_one_command_line_and_record(tmp_path):
    threads = torch.get_num_threads()
    try:
        args, seeds = harness.seed_study_args("a study", ["--out", str(tmp_path / "r" / "out.json"), "--seeds", "0,2"])
        assert seeds == [0, 2] and torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(threads)
    written = harness.write_study(args.out, "bench/studies/x.py", rows=[{"seed": 0}])
    assert json.loads(written.read_text()) == {"made_by": "python bench/studies/x.py", "rows": [{"seed": 0}]}


def test_the_course_copy_of_the_paper_figure_is_the_bench_results_cut(tmp_path):
    """The notebooks' figure (the package's asset) holds exactly the rows of the bench record, so a record reported
    again without a new asset fails here."""
    sys.path.insert(0, str(BENCH / "studies"))
    import paper_figure_asset

    paper_figure_asset.main(tmp_path / "paper_figure.json")
    made = json.loads((tmp_path / "paper_figure.json").read_text())
    shipped = json.loads((Path(minirmt.__file__).parent / "course/assets/paper_figure.json").read_text())
    assert made == shipped
    assert {r["task"] for r in shipped["rows"]} == {"copy", "reverse", "assoc"}
    assert all(set(r) == set(paper_figure_asset.FIELDS) for r in shipped["rows"])
