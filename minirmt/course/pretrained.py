"""Small trained models shipped with the package, so that a notebook's analysis need not wait for training.

Each checkpoint is a recipe (recipes.py) run to its end: its task, model, overrides and seed are the table below,
so `python -m minirmt.course.pretrained --overwrite` makes every shipped file again (`... pretrained --overwrite
needle-rmt-s0`: one; without `--overwrite` a file already there is left alone, and the run refused).
A checkpoint keeps the trained weights and the run's history and last evaluation; after training, `make` also
reads each needle model far past its training length and records the accuracies.

    model, run, info = pretrained.load("needle-rmt-s0")  # eval mode; the Recipe; {"eval_accuracy", "read", ...}
    result = pretrained.trained("copy-rmt-g4")         # the same as a TrainResult: .model, .history, .metrics
    pretrained.result("needle_full_mode")             # a shipped result, e.g. notebook 09's GPU run

The results a notebook shows without re-running them (a GPU run, several seeds) ship beside the checkpoints as
JSON, each written by the script or notebook named in its "made_by" field.
"""

import argparse
import json
import sys
import time
from importlib import resources
from pathlib import Path

from minirmt.data.corpora import SAMPLE, corpus_info
from minirmt.model.registry import build_model
from minirmt.training.checkpoints import load_checkpoint, save_checkpoint
from minirmt.training.lm_loop import LMConfig, LMResult, model_config, train_lm
from minirmt.training.recipes import Recipe, recipe
from minirmt.training.run_folder import claim
from minirmt.training.task_loop import TrainResult, train

from . import long_context

# name -> (task, model, recipe overrides, the factors of the training length `make` reads it at afterwards)
FAR = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024)
# the plain schedule the notebooks' experiments use: TrainConfig's defaults, no curriculum, no early stop
PLAIN = {"lr": 3e-3, "warmup": 100, "eval_every": 100, "curriculum": "none", "stop_accuracy": None}
CHECKPOINTS = {
    # notebook 09: one fact in filler, read far past the training length
    **{f"needle-rmt-s{seed}": ("needle", "rmt", {"seed": seed}, FAR) for seed in (0, 1, 2)},
    **{f"needle-rmt-short-s{seed}": ("needle", "rmt", {"seed": seed, "steps": 2000}, FAR[:8]) for seed in (0, 1, 2)},
    **{f"needle-full-s{seed}": ("needle", "full", {"seed": seed}, FAR[:6]) for seed in (0, 1, 2)},
    "needle-segment": ("needle", "segment", {"steps": 500}, FAR[:3]),
    # notebook 00: the tour's RMT and segment-only model, copy over 3 segments of 8
    **{f"tour-{model}": ("copy", model, {**PLAIN, "segments": 3, "steps": 500, "warmup": 50}, ())
       for model in ("rmt", "segment")},
    # notebook 02: copy over 3 segments of 8 with full BPTT and with the gradient cut to 2 and to 1 segments
    **{f"copy-rmt-bptt-{depth or 'full'}": ("copy", "rmt", {**PLAIN, "segments": 3, "steps": 500, "eval_every": 83,
                                                            "bptt_depth": depth}, ()) for depth in (None, 2, 1)},
    # notebook 03: copy and reverse over 4 segments of 8 (the largest g of its experiment)
    "copy-rmt-g4": ("copy", "rmt", {**PLAIN, "segments": 4, "steps": 400}, ()),
    "copy-segment-g4": ("copy", "segment", {**PLAIN, "segments": 4, "steps": 300}, ()),
    "reverse-rmt-g4": ("reverse", "rmt", {**PLAIN, "segments": 4, "steps": 400}, ()),
    # notebook 04: 4 pairs over 4 segments of 8: full attention without and with the token shift, the segment-only
    # control, the RMT of `train --task assoc` (shift and curriculum "length"), and the other route, without the
    # shift: the pairs-then-segments curriculum with the memory hint
    "assoc-full-plain": ("assoc", "full", {**PLAIN, "segments": 4, "steps": 1500, "token_shift": False}, ()),
    "assoc-full": ("assoc", "full", {**PLAIN, "segments": 4, "steps": 1500}, ()),
    "assoc-segment": ("assoc", "segment", {**PLAIN, "segments": 4, "steps": 500}, ()),
    "assoc-rmt": ("assoc", "rmt", {}, ()),
    "assoc-rmt-hint": ("assoc", "rmt", {"token_shift": False, "curriculum": "pairs", "memory_hint": True}, ()),
    # notebook 05: the copy model it opens up, 3 segments of 8
    "copy-rmt-g3": ("copy", "rmt", {**PLAIN, "segments": 3, "steps": 1000}, ()),
    # notebook 07: copy of 4 digits over 4 segments of 4, with no curriculum, one more segment per stage, doubling
    **{f"copy-curriculum-{name}": ("copy", "rmt", {**PLAIN, "segment_len": 4, "source_len": 4, "segments": 4,
                                                   "steps": 500, "batch_size": 32, "warmup": 50, "eval_every": 50,
                                                   "curriculum": curriculum}, ())
       for name, curriculum in (("none", "none"), ("plus1", "segments"), ("doubling", "doubling"))},
}
READ_COUNT = 128  # texts per length in the reading `make` records
# notebook 08: three small byte-level language models trained on the shipped WikiText-2 sample (300 KB), tested
# on its 100 KB of test text; the same run for each model but the name
LANGUAGE_RUN = {"corpus": SAMPLE, "train_split": "valid", "valid_split": None, "test_split": "test",
                "preset": "tiny", "model_args": {"d_model": 64, "n_layers": 2, "n_heads": 4, "segment_len": 32,
                                                 "num_mem_tokens": 8},
                "steps": 1000, "batch_size": 16, "segments": 4, "lr": 3e-3, "warmup": 50, "eval_every": 0,
                "log_every": 50, "device": "cpu"}
LANGUAGE_MODELS = {f"lm-{model}": model for model in ("rmt", "segment", "xl")}


def checkpoint_path(name: str) -> Path:
    """Where the package keeps checkpoint `name`."""
    _check(name)
    return Path(str(resources.files("minirmt.course.assets") / f"{name}.pt"))


def lm_run_of(name: str) -> LMConfig:
    """The LMConfig language model `name` (LANGUAGE_MODELS) is trained with."""
    if name not in LANGUAGE_MODELS:
        raise ValueError(f"unknown language model {name!r}, expected one of {tuple(LANGUAGE_MODELS)}")
    return LMConfig(model=LANGUAGE_MODELS[name], **LANGUAGE_RUN)


def load_lm(name: str) -> LMResult:
    """Language model `name` as the LMResult its training returned: the model (eval mode, CPU), its history and
    its final test evaluation (loss by position included)."""
    state = _read(name, "language model")
    config = lm_run_of(name)
    model = build_model(config.model, model_config(config, corpus_info(config.corpus).vocab_size))
    model.load_state_dict(state["model"])
    info = state["info"]
    return LMResult(model.eval(), info["history"], info["final"], step=info["steps"], tokens=info["tokens"],
                    seconds=info["seconds"])


def _read(name: str, kind: str) -> dict:
    """The shipped file of `name`, read; one line saying how to make it where this installation lacks it."""
    path = checkpoint_path(name)
    if not path.is_file():
        raise FileNotFoundError(f"{kind} {name!r} is not in this installation ({path}); make it with "
                                f"`python -m minirmt.course.pretrained {name}`")
    return load_checkpoint(path)


def run_of(name: str) -> Recipe:
    """The recipe checkpoint `name` is trained from."""
    if name not in CHECKPOINTS:
        raise ValueError(f"unknown checkpoint {name!r}, expected one of {tuple(CHECKPOINTS)}")
    task, model, overrides, _ = CHECKPOINTS[name]
    return recipe(task, model, **overrides)


def load(name: str):
    """`(model, recipe, info)`: checkpoint `name` in eval mode on the CPU, its recipe, and what `make` recorded:
    "eval_accuracy" on the held-out batches at the training length, "steps", "seconds", "history" and "metrics"
    (the run's records and last evaluation, as in TrainResult), and for a needle model "read": {g: answer
    accuracy on READ_COUNT texts of g segments} at the table's factors of the training length."""
    state = _read(name, "checkpoint")
    run = run_of(name)
    model = run.build_model()
    model.load_state_dict(state["model"])
    return model.eval(), run, state["info"]


def trained(name: str) -> TrainResult:
    """Checkpoint `name` as the TrainResult its training returned: the model (eval mode, CPU), history, metrics
    (the needle models keep their readings instead: their history and metrics are empty)."""
    model, run, info = load(name)
    return TrainResult(model, info.get("history", []), info.get("metrics", {}), step=info["steps"],
                       segments=run.train_config.segments, seconds=info["seconds"])


def result(name: str) -> dict:
    """The shipped result `name` (minirmt/course/assets/<name>.json)."""
    path = Path(str(resources.files("minirmt.course.assets") / f"{name}.json"))
    if not path.is_file():
        shipped = sorted(p.name[:-5] for p in path.parent.iterdir() if p.name.endswith(".json"))
        raise FileNotFoundError(f"no shipped result {name!r}; the package has {shipped}")
    return json.loads(path.read_text())


def make(name: str, out: Path | None = None, progress: bool = True, overwrite: bool = False) -> dict:
    """Train checkpoint `name` from its recipe and write it (to the package's assets unless `out`); a file already
    there is replaced only with `overwrite` (refused before any training)."""
    path = _target(name, out)
    claim(path.parent, [path.name], overwrite)
    if name in LANGUAGE_MODELS:
        return _make_lm(name, path)
    run = run_of(name)
    started = time.perf_counter()
    result = train(run.build_model(), run.task, run.train_config, progress=progress)
    info = {"eval_accuracy": result.metrics["eval_accuracy"], "steps": result.step,
            "seconds": round(time.perf_counter() - started, 1), "history": result.history, "metrics": result.metrics}
    g = run.train_config.segments
    lengths = [f * g for f in CHECKPOINTS[name][3]]
    if lengths:
        read = long_context.accuracy_by_length(result.model.cpu(), run.task, lengths, count=READ_COUNT, seed=1000)
        info["read"] = {str(length): accuracy for length, accuracy in read.items()}
    save_checkpoint(path, model=result.model.state_dict(), info=info)
    return info


def _make_lm(name: str, path: Path) -> dict:
    run = train_lm(lm_run_of(name), log=None)
    info = {"steps": run.step, "tokens": run.tokens, "seconds": round(run.seconds, 1), "history": run.history,
            "final": run.final, "test_bpb": run.final["test"]["bpb"]}
    save_checkpoint(path, model=run.model.state_dict(), info=info)
    return info


def report() -> str:
    """A markdown table of every shipped checkpoint: its training and its recorded readings."""
    factors = sorted({f for *_, far in CHECKPOINTS.values() for f in far})
    lines = ["| checkpoint | steps | training s | accuracy at 1x | " + " | ".join(f"{f}x" for f in factors) + " |",
             "|---" * (len(factors) + 4) + "|"]
    for name in CHECKPOINTS:
        _, run, info = load(name)
        g = run.train_config.segments
        read = info.get("read", {})
        cells = [f"{read[str(f * g)]:.2f}" if str(f * g) in read else "" for f in factors]
        lines.append(f"| {name} | {info['steps']} | {info['seconds']:.0f} | {info['eval_accuracy']:.3f} | "
                     + " | ".join(cells) + " |")
    return "\n".join(lines)


def _target(name: str, out: Path | None) -> Path:
    """Where `make` writes checkpoint `name`: into `out`, or the package's assets."""
    return (Path(out) / f"{name}.pt") if out is not None else checkpoint_path(name)


def _check(name: str) -> None:
    if name not in CHECKPOINTS and name not in LANGUAGE_MODELS:
        raise ValueError(f"unknown checkpoint {name!r}, expected one of {(*CHECKPOINTS, *LANGUAGE_MODELS)}")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description="Train the package's small checkpoints again, from their recipes.")
    every = (*CHECKPOINTS, *LANGUAGE_MODELS)
    p.add_argument("names", nargs="*", default=list(every), help=f"some of {every} (all)")
    p.add_argument("--out", type=Path, default=None, help="write here instead of the package's assets")
    p.add_argument("--report", action="store_true", help="print the shipped checkpoints' table, train nothing")
    p.add_argument("--overwrite", action="store_true", help="replace checkpoints already there (default: refuse)")
    args = p.parse_args(argv)
    if args.report:
        print(report())
        return 0
    unknown = [n for n in args.names if n not in every]
    if unknown:
        p.exit(2, f"{p.prog}: error: unknown checkpoint {unknown[0]!r}, expected one of {every}\n")
    try:  # every file is checked before any training
        for path in [] if args.overwrite else [_target(name, args.out) for name in args.names]:
            claim(path.parent, [path.name])
    except ValueError as error:
        p.exit(2, f"{p.prog}: error: {error}\n")
    for name in args.names:
        info = make(name, args.out, overwrite=args.overwrite)
        print(name, {key: value for key, value in info.items() if key not in ("history", "metrics")}, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
