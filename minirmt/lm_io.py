"""What a language-model run reads and writes: its token streams, its vocabulary, metrics.json and its figures."""

import json
from pathlib import Path
from typing import TYPE_CHECKING

from . import viz
from .text import corpus_info

if TYPE_CHECKING:  # the type hints only: lm.py imports this module
    from .lm import LMConfig, LMResult


def corpus_vocab(cfg: "LMConfig") -> list[str] | None:
    """The tokens of a word corpus's vocabulary, id by id (None for bytes, or ids passed in)."""
    vocab = corpus_info(cfg.corpus).vocab(cfg.data_root) if cfg.corpus is not None else None
    return None if vocab is None else vocab.itos


def run_streams(cfg: "LMConfig", device, train_ids, valid_ids, test_ids):
    """The training stream, the evaluation streams {"valid": ids, "test": ids} on `device`, v and the unit."""
    corpus = corpus_info(cfg.corpus) if cfg.corpus is not None else None
    vocab_size, unit = cfg.vocab_size or corpus.vocab_size, cfg.unit or corpus.unit
    if train_ids is None:
        if corpus is None:
            raise ValueError("LMConfig.corpus is None: pass the training ids to train_lm")
        train_ids = corpus.load(cfg.train_split, cfg.data_root, cfg.train_tokens)
    evals = {}
    for split, ids in (("valid", valid_ids), ("test", test_ids)):
        name = getattr(cfg, f"{split}_split")
        if ids is None and name is not None and corpus is not None:
            ids = corpus.load(name, cfg.data_root, cfg.eval_tokens)
        if ids is not None:
            evals[split] = ids[: cfg.eval_tokens].to(device)
    return train_ids, evals, vocab_size, unit


def write_metrics(run: "LMResult", out: str | Path) -> Path:
    """Write `out/metrics.json` (sizes, device, history, final evaluations), `curves.png`, `by_position.png`."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    metrics = {**run.info, "step": run.step, "tokens": run.tokens, "seconds": run.seconds,
               "tokens_per_s": run.tokens_per_s, "mfu": run.mfu, "interrupted": run.interrupted,
               "history": run.history, "final": run.final}
    path = out / "metrics.json"
    path.write_text(json.dumps(metrics, indent=1))
    name, unit = run.info.get("model", "model"), run.info.get("unit", "ppl")
    viz.plot_lm_curves({name: run.history}).savefig(out / "curves.png", dpi=120)
    split = "test" if "test" in run.final else "valid" if "valid" in run.final else None
    if split is not None:
        curve = {name: run.final[split]["loss_by_position"]}
        viz.plot_loss_by_position(curve, unit, title=f"{split} loss by position").savefig(out / "by_position.png",
                                                                                         dpi=120)
    return path
