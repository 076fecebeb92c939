"""`python -m minirmt ...`: every command of minirmt, with one vocabulary of options.

    python -m minirmt train --task copy --out runs/copy            # RMT, with the settings that solve the task
    python -m minirmt train --task assoc --out runs/assoc          # 4 pairs over 4 segments (recipes.py)
    python -m minirmt train --resume runs/copy/checkpoint.pt --steps 2000   # go on, for longer
    python -m minirmt eval --checkpoint runs/copy/checkpoint.pt    # at the length it was trained on (3 segments)
    python -m minirmt demo --out runs/demo                         # RMT vs no memory on copy, 4 segments
    python -m minirmt train --task copy --layout paper --segments 9 --out runs/copy9   # the paper's layout
    python -m minirmt experiment paper --out runs/paper --jobs 2   # the paper's Fig. 4, 3 seeds
    python -m minirmt download wikitext-2                          # into the data folder (sha256 checked)
    python -m minirmt lm --corpus wikitext-2 --model rmt --out runs/wt2   # language modelling (GPU ready)
    python -m minirmt lm-eval --checkpoint runs/wt2/checkpoint.pt --split test   # score a language model
    python -m minirmt sample --checkpoint runs/wt2/checkpoint.pt --prompt "The"  # write text with it
    python -m minirmt models                                       # the models and what each carries

The options of `train` and `lm` are the fields of ModelConfig, TrainConfig, LMConfig and the tasks, named as
there (`--num-mem-tokens 8`, `--bptt-depth 2`); `--help` shows each one's default. Wrong flags and impossible
settings end with one line on stderr and exit status 2. A command never writes over a run already in its `--out`
unless given `--overwrite`, and `--resume` goes on with the saved run's settings (training/run_folder.py).
"""

import argparse
import json
import os
import sys
import time
from pathlib import Path

import torch

from minirmt import viz
from minirmt.data import corpora, downloads
from minirmt.data.corpora import corpus_info
from minirmt.data.tasks import LAYOUTS, PAPER_SEGMENTS, TASK_CLASSES
from minirmt.model.config import ModelConfig, preset
from minirmt.model.generation import generate
from minirmt.model.registry import MODELS, build_model, describe
from minirmt.options import add_options, given
from minirmt.training import paper_experiment, run_folder
from minirmt.training.checkpoints import load_checkpoint
from minirmt.training.common import resolve_device, set_cpu_threads
from minirmt.training.lm_loop import LMConfig, lm_meta, load_lm, train_lm
from minirmt.training.perplexity import eval_seq_len, evaluate_lm
from minirmt.training.recipes import (
    PAPER_RECIPES,
    RECIPES,
    load_run,
    recipe,
    run_meta,
    shown_default,
    shown_paper_steps,
)
from minirmt.training.task_loop import TrainConfig, evaluate, held_out, train


class Parser(argparse.ArgumentParser):
    """argparse, but an error is one line on stderr (no usage block) and exit status 2."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message}\n")


def positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


def make_parser() -> Parser:
    parser = Parser(prog="python -m minirmt", description=__doc__.split("\n\n")[0],
                    formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True, parser_class=Parser)
    _add_train(commands)
    _add_eval(commands)
    _add_demo(commands)
    _add_experiment(commands)
    _add_download(commands)
    _add_lm(commands)
    _add_lm_eval(commands)
    _add_sample(commands)
    p = commands.add_parser("models", help="list the models and what each carries across segments")
    p.set_defaults(run=cmd_models, parser=p)
    return parser


def main(argv=None) -> int:
    """Run the command line `argv` (default: sys.argv[1:]); returns the exit status."""
    args = make_parser().parse_args(argv)
    return args.run(args, args.parser)


def _checked(parser: Parser, make):
    """Run `make()`; a bad setting or file from the library becomes one line and exit status 2."""
    try:
        return make()
    except (ValueError, TypeError, FileNotFoundError, downloads.DownloadError) as e:
        parser.error(str(e))


def _model_help() -> str:
    return "; ".join(f"{name}: {describe(name).rstrip('.')}" for name in MODELS)


def _add_overwrite(p: Parser) -> None:
    p.add_argument("--overwrite", action="store_true", help="replace a run already in --out (default: refuse)")


def _add_threads(p: Parser) -> None:
    p.add_argument("--threads", type=positive, help="CPU threads for torch (default: OMP_NUM_THREADS, else one "
                                                    "thread when other jobs use the cores, else all of them)")


def _apply_threads(args, parser) -> str:
    """Set torch's CPU threads (training.common.cpu_threads); returns the choice and why, for the run's output."""
    return _checked(parser, lambda: set_cpu_threads(args.threads))


# ---------------------------------------------------------------- train and eval

MODEL_FIELDS, TRAIN_FIELDS, TASK_FIELDS = "model_fields", "train_fields", "task_fields"
TRAIN_FILES = ("checkpoint.pt", "config.json", "metrics.json")  # what `train` writes into --out


def _add_train(commands) -> None:
    p = commands.add_parser("train", help="train a model on a synthetic task (recipes.py gives the defaults)")
    p.add_argument("--task", choices=list(RECIPES), help="the task (required unless --resume)")
    p.add_argument("--model", choices=list(MODELS), help=_model_help() + " (default: rmt)")
    p.add_argument("--out", type=Path, help="folder for config.json, metrics.json, checkpoint.pt "
                                            "(default with --resume: the checkpoint's folder)")
    p.add_argument("--layout", choices=LAYOUTS, help="minirmt: the task's layout, grown with "
                   "the number of segments; paper: the paper's copy, reverse or assoc, of fixed length, cut into "
                   "--segments segments (memory = cache = one segment) (default: minirmt)")
    p.add_argument("--resume", type=Path, help="continue the run saved in this checkpoint.pt")
    p.add_argument("--quiet", action="store_true", help="no progress display")
    _add_overwrite(p)
    _add_threads(p)
    shown = {name: text for name in ("segment_len", "segments", "steps", "lr", "warmup", "eval_every",
                                     "curriculum", "curriculum_threshold", "stop_accuracy", "memory_hint")
             if (text := shown_default(name)) is not None}
    shown["warmup"] = f"{shown.get('warmup', TrainConfig.warmup)}; others 100; at most a tenth of --steps"
    lab = preset("lab", vocab_size=1)
    shown |= {name: f"{getattr(lab, name)}" for name in ("d_model", "n_layers", "n_heads", "num_mem_tokens")}
    groups = {MODEL_FIELDS: add_options(p, ModelConfig, skip=("vocab_size", "num_classes"), shown_defaults=shown),
              TRAIN_FIELDS: add_options(p, TrainConfig, shown_defaults=shown), TASK_FIELDS: []}
    for cls in TASK_CLASSES.values():
        groups[TASK_FIELDS] += add_options(p, cls, skip=("segment_len", *groups[TASK_FIELDS]))
    p.set_defaults(run=cmd_train, parser=p, **groups)


def _train_settings(args) -> dict:
    return given(args, args.model_fields + args.train_fields + args.task_fields)


def train_setup(args):
    """The recipe of `train` arguments: every option left out takes the recipe's value."""
    if args.task is None:
        raise ValueError("--task is required (or --resume a checkpoint)")
    return recipe(args.task, args.model or "rmt", layout=args.layout or "minirmt", **_train_settings(args))


def resume_setup(args):
    """The task, model, config and checkpoint of `train --resume`: the saved run, with the training options given
    laid over its config; the task and model options given must be the saved ones."""
    model, task, state = load_run(args.resume)
    meta, settings = state["meta"], _train_settings(args)
    saved = {"task": meta["task"], "model": meta["model"], "layout": meta.get("layout", "minirmt"),
             **meta["task_sizes"], **state["model_config"]}
    chosen = {"task": args.task, "model": args.model, "layout": args.layout}
    run_folder.check_agrees("--resume", saved, {**{k: v for k, v in chosen.items() if v is not None},
                                                **{k: v for k, v in settings.items() if k not in args.train_fields}})
    config = TrainConfig.from_dict({**state["train_config"], **settings})
    run_folder.check_more_steps(state["step"], config.steps)  # before anything is said or written
    return model.train(), task, config, state


def cmd_train(args, parser) -> int:
    if args.resume is not None:
        model, task, config, state = _checked(parser, lambda: resume_setup(args))
        out, name = args.out or args.resume.parent, state["meta"]["model"]
    else:
        r = _checked(parser, lambda: train_setup(args))
        model, task, config, state, out, name = r.build_model(), r.task, r.train_config, None, args.out, r.model_name
        if out is None:
            parser.error("--out is required (a folder for the run)")
    _checked(parser, lambda: resolve_device(config.device))
    if state is None or not run_folder.same_folder(out, args.resume.parent):  # a new run, or a resumed one elsewhere
        hint = f"--resume {out / 'checkpoint.pt'}" if state is None else None
        _checked(parser, lambda: run_folder.claim(out, TRAIN_FILES, args.overwrite, resume_hint=hint))
    meta = run_meta(task, name)
    threads = _apply_threads(args, parser)
    started = time.perf_counter()
    result = _checked(parser, lambda: train(model, task, config, checkpoint=out / "checkpoint.pt", resume=state,
                                            progress=not args.quiet, meta=meta))
    (out / "config.json").write_text(json.dumps(
        {**meta, "model_config": model.cfg.to_dict(), "train_config": config.to_dict()}, indent=1) + "\n")
    metrics = {**{k: result.metrics.get(k) for k in ("eval_accuracy", "eval_exact_match", "eval_loss")},
               "steps": result.step, "segments": config.segments, "train_seconds": round(result.seconds, 3),
               "wall_seconds": round(time.perf_counter() - started, 3), "chance_accuracy": task.chance_accuracy,
               "interrupted": result.interrupted, "cpu_threads": threads, "history": result.history}
    (out / "metrics.json").write_text(json.dumps(metrics, indent=1) + "\n")
    print(json.dumps({k: v for k, v in metrics.items() if k != "history"}))
    return 130 if result.interrupted else 0


def _add_eval(commands) -> None:
    p = commands.add_parser("eval", help="evaluate a checkpoint, print metrics as JSON")
    p.add_argument("--checkpoint", required=True, type=Path)
    p.add_argument("--segments", type=positive, help="g to evaluate on (default: as trained; more = generalise)")
    p.add_argument("--batches", type=positive, default=8, help="held-out batches (default: 8)")
    p.add_argument("--batch-size", type=positive, default=64, help="sequences per batch (default: 64)")
    p.add_argument("--seed", type=int, default=12345, help="seed of the held-out batches (default: 12345)")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N (default: auto)")
    p.set_defaults(run=cmd_eval, parser=p)


def cmd_eval(args, parser) -> int:
    device = _checked(parser, lambda: resolve_device(args.device))
    model, task, state = _checked(parser, lambda: load_run(args.checkpoint, device))
    trained = state["train_config"]["segments"] or task.min_segments
    g = args.segments or trained
    if g < task.min_segments:
        parser.error(f"--segments {g}: {task.name} as trained needs at least {task.min_segments} segments")
    batches = _checked(parser, lambda: held_out(task, g, args.batch_size, args.batches, args.seed, device))
    if g != trained:
        print(f"note: trained on {trained} segments, evaluated on {g}: at a length it was not trained on, accuracy "
              f"may fall to chance ({task.chance_accuracy:.3f}); notebook 07 is the lesson on length", file=sys.stderr)
    metrics = evaluate(model, batches, progress=True, total=args.batches)
    print(json.dumps({"task": task.name, "model": state["meta"]["model"], "segments": g,
                      "trained_segments": trained, **metrics, "chance_accuracy": task.chance_accuracy}))
    return 0


# ---------------------------------------------------------------- demo and experiments


def _add_demo(commands) -> None:
    p = commands.add_parser("demo", help="RMT vs a model without memory on copy over 4 segments (CPU, minutes)")
    p.add_argument("--out", type=Path, default=Path("runs/demo"), help="folder for the figures (default: runs/demo)")
    p.add_argument("--steps", type=positive, default=600, help="optimizer steps per model (default: 600)")
    p.add_argument("--quiet", action="store_true", help="no progress display")
    _add_overwrite(p)
    _add_threads(p)
    p.set_defaults(run=cmd_demo, parser=p)


DEMO_FILES = ("attention.png", "curves.png", "metrics.json")  # what `demo` writes into --out


def cmd_demo(args, parser) -> int:
    """RMT and SegmentTransformer on copy over 4 segments of 8 (8 digits, answers 2 segments later)."""
    _checked(parser, lambda: run_folder.claim(args.out, DEMO_FILES, args.overwrite))
    threads = _apply_threads(args, parser)
    histories, scores, models = {}, {}, {}
    for name in ("rmt", "segment"):
        r = recipe("copy", name, segments=4, source_len=8, steps=args.steps, eval_every=max(1, args.steps // 10),
                   device="cpu")
        models[name] = build_model(name, r.model_config, seed=0)
        result = train(models[name], r.task, r.train_config, progress=not args.quiet)
        histories[name], scores[name] = result.history, result.metrics
        if result.interrupted:
            return 130
    task, rmt = r.task, models["rmt"]
    print(f"CPU threads: {threads}")
    print(f"{'model':10s} {'accuracy':>9s} {'exact':>7s} {'seconds':>8s}   (copy 8 digits over 4 segments of 8; "
          f"chance {task.chance_accuracy:.2f})")
    for name, m in scores.items():
        print(f"{name:10s} {m['eval_accuracy']:9.3f} {m['eval_exact_match']:7.3f} {m['seconds']:8.1f}")
    tokens, _ = task.sample(1, 4, torch.Generator().manual_seed(0))
    with torch.no_grad():
        attentions = rmt(tokens, return_attention=True).attentions  # g lists of l maps (1, h, i, j)
    weights = viz.stack_attentions(attentions).mean(dim=2)  # (g, l, i, j), averaged over heads
    viz.plot_attention_grid(weights, m=rmt.cfg.num_mem_tokens, n=8, row_label="segment", col_label="layer",
                            title="RMT attention, heads averaged").savefig(args.out / "attention.png", dpi=100)
    viz.plot_curves(histories, metrics=("loss", "eval_accuracy")).savefig(args.out / "curves.png", dpi=100)
    (args.out / "metrics.json").write_text(json.dumps(scores, indent=1) + "\n")
    print(f"figures: {args.out / 'attention.png'}, {args.out / 'curves.png'}")
    return 0


def _add_experiment(commands) -> None:
    p = commands.add_parser("experiment", help="the paper's algorithmic experiment on the paper's layouts (Fig. 4)")
    p.add_argument("name", choices=["paper"])
    p.add_argument("--out", required=True, type=Path, help="folder for rows.jsonl, results.json, results.md and "
                                                         "the figure (a sweep stopped half way goes on from there; "
                                                         "rows of other settings are kept, and not reused)")
    p.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2], help="seeds of every setting (default: 0 1 2)")
    p.add_argument("--tasks", nargs="+", choices=list(PAPER_SEGMENTS), help="only these tasks (default: all)")
    p.add_argument("--models", nargs="+", choices=list(paper_experiment.MODELS),
                   help="only these models (default: all)")
    p.add_argument("--segments", nargs="+", type=positive, help="only these numbers of segments (default: the "
                                                                "paper's)")
    p.add_argument("--recipe", choices=list(PAPER_RECIPES), default="ours", help="how to train: ours (AdamW 1e-3, "
                   "cosine, stop once right) or the authors' (Adam 1e-4, batch 32, clip 0.25) (default: ours)")
    p.add_argument("--size", choices=["paper", "lab"], default="paper", help="the authors' model sizes, or the "
                   "laptop size (d 64, 2 layers) (default: paper)")
    p.add_argument("--steps", type=positive, help=f"most steps per run (default: the recipe's, {shown_paper_steps()})")
    p.add_argument("--batch-size", type=positive, help="sequences per step (default: the recipe's)")
    p.add_argument("--lr", type=float, help="peak learning rate (default: the recipe's)")
    p.add_argument("--device", default="cpu", help="cpu, cuda or auto (default: cpu)")
    p.add_argument("--compile", action="store_true", help="torch.compile every model, replayed from CUDA graphs on "
                   "a GPU: these small models spend most of a step launching kernels, which this saves")
    p.add_argument("--jobs", type=positive, default=1, help="runs at once, each in its own process (default: 1)")
    p.add_argument("--time-limit", type=positive, metavar="SECONDS", help="stop every run this long after the start; "
                   "an unfinished run keeps its state in OUT/unfinished and goes on from it next time")
    p.add_argument("--report", action="store_true", help="run nothing: remake the table and figure from every row "
                   "in --out (per cell and seed, the run that trained longest)")
    p.set_defaults(run=cmd_experiment, parser=p)


def cmd_experiment(args, parser) -> int:
    if args.report:
        if not paper_experiment.read_rows(args.out):
            parser.error(f"--report: {args.out} holds no finished run (its rows.jsonl is missing or empty)")
        rows = paper_experiment.report(args.out)
        if not rows:
            parser.error(f"--report: no row of {args.out} is a run of today's recipes (they changed since)")
        print(f"{len(rows)} runs; results: {args.out / 'results.md'}")
        return 0
    settings = {"recipe": args.recipe, "size": args.size,
                **{k: v for k, v in (("steps", args.steps), ("batch_size", args.batch_size), ("lr", args.lr))
                   if v is not None}}
    device, _ = _checked(parser, lambda: (resolve_device(args.device), run_folder.writable(args.out)))
    if args.compile:
        settings.update(compile=True, cuda_graphs=device.type == "cuda")
    plan = {"seeds": tuple(args.seeds), **{k: tuple(v) for k, v in (("tasks", args.tasks), ("models", args.models),
                                                                   ("segments", args.segments)) if v}}
    if paper_experiment.run_paper(args.out, jobs=args.jobs, time_limit=args.time_limit, device=args.device, **plan,
                                  **settings):
        print(f"results: {args.out / 'results.md'}, {args.out / 'accuracy.png'}")
    return 0


# ---------------------------------------------------------------- data and language models


def _add_download(commands) -> None:
    p = commands.add_parser("download", help="fetch and verify a WikiText archive into the data folder")
    p.add_argument("name", nargs="?", choices=list(downloads.WIKITEXT), help="the archive")
    p.add_argument("--dest", type=Path, default=None, help="folder to unpack into (default: the data folder)")
    p.add_argument("--list", action="store_true", help="list the archives and where they would go")
    p.set_defaults(run=cmd_download, parser=p)


def cmd_download(args, parser) -> int:
    if args.list:
        print(downloads.listing())
        return 0
    if args.name is None:
        parser.error(f"name the archive to download, one of {list(downloads.WIKITEXT)} (or --list)")
    print(_checked(parser, lambda: downloads.download(args.name, args.dest)))
    return 0


def _add_lm(commands) -> None:
    p = commands.add_parser("lm", help="train and evaluate a language model on a text corpus (GPU ready)")
    wikitext = preset("wikitext")
    shown = {f: f"the preset's (wikitext: {getattr(wikitext, f)})" for f in ModelConfig.__dataclass_fields__}
    groups = {"lm_fields": add_options(p, LMConfig, skip=("model_args",)),
              MODEL_FIELDS: add_options(p, ModelConfig, skip=("vocab_size", "num_classes"), shown_defaults=shown)}
    p.add_argument("--resume", type=Path, default=None, help="continue the run saved in this checkpoint.pt, with its "
                                                             "settings (--out default: its folder)")
    _add_overwrite(p)
    _add_threads(p)
    p.set_defaults(run=cmd_lm, parser=p, **groups)


def lm_resume_setup(args) -> LMConfig:
    """The LMConfig of `lm --resume`: the saved run's, with the options given laid over it (train_lm then checks
    that the stream and the model stay the saved ones)."""
    saved = lm_meta(load_checkpoint(args.resume), args.resume)["lm_config"]
    model_args = {**saved["model_args"], **given(args, args.model_fields)}
    return LMConfig.from_dict({**saved, "out": str(args.resume.parent), **given(args, args.lm_fields),
                               "model_args": model_args})


def cmd_lm(args, parser) -> int:
    """Run `train_lm` from parsed arguments; print the final evaluations (rank 0)."""
    _apply_threads(args, parser)  # train_lm's first log line gives the threads of a CPU run
    if args.resume is not None:
        cfg = _checked(parser, lambda: lm_resume_setup(args))
    else:
        cfg = _checked(parser, lambda: LMConfig(**given(args, args.lm_fields),
                                                model_args=given(args, args.model_fields)))
    if cfg.corpus is not None:
        _checked(parser, lambda: corpus_info(cfg.corpus))
    result = _checked(parser, lambda: train_lm(cfg, resume=args.resume, overwrite=args.overwrite))
    if int(os.environ.get("RANK", "0")) == 0:
        summary = {split: {k: v for k, v in r.items() if k != "loss_by_position"} for split, r in result.final.items()}
        print(json.dumps({"step": result.step, "tokens": result.tokens, "tokens_per_s": result.tokens_per_s,
                          "mfu": result.mfu, **summary}))
    return 130 if result.interrupted else 0


def _add_lm_eval(commands) -> None:
    p = commands.add_parser("lm-eval", help="score a language-model checkpoint on a split of its corpus")
    p.add_argument("--checkpoint", required=True, type=Path, help="a checkpoint.pt written by `lm --out`")
    p.add_argument("--split", default="test", help="the split to score (default: test)")
    p.add_argument("--corpus", help="another corpus of the same vocabulary (default: the checkpoint's)")
    p.add_argument("--data-root", help="folder that holds the corpus (default: the data folder)")
    p.add_argument("--tokens", type=positive, help="score this prefix of the split (default: all of it)")
    p.add_argument("--batch-size", type=positive, default=16, help="rows read at once (default: 16)")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N (default: auto)")
    p.set_defaults(run=cmd_lm_eval, parser=p)


def cmd_lm_eval(args, parser) -> int:
    device = _checked(parser, lambda: resolve_device(args.device))
    model, cfg, _ = _checked(parser, lambda: load_lm(args.checkpoint, device))
    corpus = _checked(parser, lambda: corpus_info(args.corpus or cfg.corpus))
    ids = _checked(parser, lambda: corpus.load(args.split, args.data_root or cfg.data_root, args.tokens))
    result = _checked(parser, lambda: evaluate_lm(model, ids, batch_size=args.batch_size, unit=corpus.unit,
                                                  seq_len=eval_seq_len(model, cfg.segments), progress=True))
    print(json.dumps({"corpus": corpus.name, "split": args.split, **{k: v for k, v in result.items()
                                                                    if k != "loss_by_position"}}))
    return 0


def _add_sample(commands) -> None:
    p = commands.add_parser("sample", help="write text with a language-model checkpoint")
    p.add_argument("--checkpoint", required=True, type=Path, help="a checkpoint.pt written by `lm --out`")
    p.add_argument("--prompt", default="", help="the text to go on from (default: none)")
    p.add_argument("--tokens", type=positive, default=200, help="tokens to write (default: 200)")
    p.add_argument("--temperature", type=float, default=0.8, help="> 0; lower is greedier (default: 0.8)")
    p.add_argument("--top-k", type=positive, help="sample among the k likeliest tokens only (default: all)")
    p.add_argument("--seed", type=int, default=0, help="seed of the sampling (default: 0)")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N (default: auto)")
    p.set_defaults(run=cmd_sample, parser=p)


def cmd_sample(args, parser) -> int:
    device = _checked(parser, lambda: resolve_device(args.device))
    model, _, state = _checked(parser, lambda: load_lm(args.checkpoint, device))
    words = state.get("vocab")
    vocab = corpora.Vocab(words) if words else None
    if vocab is not None:
        prompt = vocab.encode([args.prompt]) if args.prompt else torch.tensor([vocab.stoi[vocab.eos]])
        prompt = prompt[:-1] if args.prompt else prompt  # not the end of line that encode adds
    else:
        prompt = torch.tensor(list(args.prompt.encode("utf-8")) or [ord("\n")])
    generator = torch.Generator(device=device).manual_seed(args.seed)
    out = _checked(parser, lambda: generate(model, prompt[None].to(device), args.tokens, args.temperature,
                                            args.top_k, generator))[0].cpu()
    print(vocab.decode(out) if vocab is not None else corpora.decode_bytes(out))
    return 0


def cmd_models(args, parser) -> int:
    for name in MODELS:
        print(f"{name:8s} {describe(name)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
