"""The rule of a run folder, for everything that writes one (`train`, `lm`, `demo`, `experiment`, the shipped
checkpoints): nothing saved is lost, and no number comes from a run other than the one asked for.

    claim(out, ("checkpoint.pt", "metrics.json"))      # a new run: refused where one is already
    check_agrees("--resume", saved, given)            # a resumed run: the settings given must be the saved ones
    check_more_steps(done=600, steps=500)              # a resumed run must have steps left
    settings_key(task, model_config, train_config)     # a sweep's saved row: keyed by every setting it ran with

Each refusal is a ValueError of one line that names what is there and what to do instead.
"""

import hashlib
import json
import os
from pathlib import Path

OVERWRITE = "--overwrite (overwrite=True)"  # how a user says "replace it", on the command line and in Python


def claim(folder, files, overwrite: bool = False, resume_hint: str | None = None) -> Path:
    """Make `folder` ready for a new run that writes `files` (names inside it); returns it as a Path.

    Where the folder already holds any of those files, refuse unless `overwrite`; with it, remove them first,
    so that no file of the earlier run is left beside the new one's. `resume_hint` (e.g. "--resume
    runs/copy/checkpoint.pt") is offered as the way to continue the earlier run instead.
    """
    folder = Path(folder)
    found = [name for name in files if (folder / name).exists()]
    if found and not overwrite:
        instead = f", or continue it with {resume_hint}" if resume_hint else ""
        raise ValueError(f"{folder} holds another run ({', '.join(found)}); choose another --out, or replace it "
                         f"with {OVERWRITE}{instead}")
    writable(folder)
    for name in found:
        (folder / name).unlink()
    return folder


def writable(folder) -> Path:
    """Create `folder` (and its parents); a ValueError of one line if it cannot be written."""
    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise ValueError(f"cannot create the output folder {folder} ({error.strerror})") from error
    if not os.access(folder, os.W_OK):
        raise ValueError(f"the output folder {folder} is read-only; choose another --out")
    return folder


def same_folder(a, b) -> bool:
    """Do two paths name the same folder (however they are spelled)?"""
    return Path(a).resolve() == Path(b).resolve()


def check_agrees(owner: str, saved: dict, given: dict) -> None:
    """Refuse when a setting in `given` differs from the one in `saved`, or is not one of its settings: a resumed
    run is the saved one. Each difference is named with both values."""
    differ = [f"{name}={value!r} " + (f"(saved: {saved[name]!r})" if name in saved else "(not a setting of it)")
              for name, value in given.items() if name not in saved or not _equal(value, saved[name])]
    if differ:
        raise ValueError(f"{owner} continues the saved run, whose settings differ from those given: "
                         f"{', '.join(differ)}; leave them out, or start a new run with another --out")


def check_same_model(saved_config: dict, model) -> None:
    """Refuse to resume into `model` a checkpoint whose ModelConfig `saved_config` differs from the model's (the
    settings a checkpoint of an older version does not name keep their defaults, and are not compared)."""
    check_agrees("resume", saved_config, {k: v for k, v in model.cfg.to_dict().items() if k in saved_config})


def check_more_steps(done: int, steps: int | None) -> None:
    """Refuse to continue a run of `done` steps when `steps` (its new total) leaves none to do."""
    if steps is not None and steps <= done:
        raise ValueError(f"the run has done {done} steps and steps={steps}: nothing to continue; give more "
                         f"steps (--steps above {done}) to train it further")


def settings_key(*settings) -> str:
    """A short key of JSON-able settings: equal settings give equal keys, any difference another key."""
    text = json.dumps(settings, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _equal(a, b) -> bool:
    """Equal as saved: a tuple and the list it is written back as are the same setting."""
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(_equal(x, y) for x, y in zip(a, b))
    return a == b
