"""Notebook setup: the run mode, threads, seeds, device and plotting/printing defaults, in one call.

Every notebook starts with `from minirmt.course import nb; nb.setup()` and chooses its sizes in one place with
`nb.pick(ci=..., lab=..., full=...)`. The mode comes from the environment variable MINIRMT_MODE:

    ci    CPU, seconds to a minute per notebook (the tests run this)
    lab   laptop CPU, minutes (the default; the outputs committed with the notebooks)
    full  GPU when there is one, the real scale
"""

import hashlib
import os
from importlib import resources
from pathlib import Path

import torch

from minirmt.training.common import set_cpu_threads

MODES = ("ci", "lab", "full")
ENV_VAR = "MINIRMT_MODE"

_UNSET = object()


def mode() -> str:
    """The run mode from MINIRMT_MODE: "ci", "lab" (default when unset or empty) or "full"."""
    value = os.environ.get(ENV_VAR, "").strip().lower() or "lab"
    if value not in MODES:
        raise ValueError(f"{ENV_VAR}={os.environ[ENV_VAR]!r} is not a mode; expected one of {MODES}")
    return value


def pick(ci, lab, full=_UNSET):
    """The value for the current mode; `full` defaults to `lab`. Example: `steps = nb.pick(ci=50, lab=1000)`."""
    choices = {"ci": ci, "lab": lab, "full": lab if full is _UNSET else full}
    return choices[mode()]


def device() -> str:
    """ "cuda" in full mode when a GPU is available, else "cpu" (ci and lab always run on the CPU)."""
    return "cuda" if mode() == "full" and torch.cuda.is_available() else "cpu"


def library_sha256() -> str:
    """The fingerprint of the library a notebook runs against: a sha256 fed, for each `minirmt/**/*.py` in order
    of its path, with `path + NUL + the file's bytes + NUL` (path: "minirmt/...", POSIX). Executing a notebook
    records it in the notebook's metadata (`metadata.minirmt.library_sha256`), so a stale output can be found."""
    package = Path(str(resources.files("minirmt")))
    files = sorted((f"minirmt/{f.relative_to(package).as_posix()}", f) for f in package.rglob("*.py"))
    digest = hashlib.sha256()
    for name, file in files:
        digest.update(name.encode() + b"\0" + file.read_bytes() + b"\0")
    return digest.hexdigest()


def summary(seed: int = 0) -> str:
    """One line: mode, device, torch version, threads and seed."""
    return (
        f"minirmt | mode {mode()} | device {device()} | torch {torch.__version__} | "
        f"threads {torch.get_num_threads()} | seed {seed}"
    )


def setup(seed: int = 0, threads: int | None = None) -> None:
    """Configure the notebook for the current mode and print what was chosen.

    On the CPU, one thread (`threads`, or OMP_NUM_THREADS, to change it): a notebook never knows how many
    kernels will share the machine, and one thread stays fast when they do. Also seeds torch's global
    generator (a safety net: library code and notebook cells take explicit generators), sets print options
    and small inline figures. Raises ValueError for an unknown MINIRMT_MODE.
    """
    threads_line = set_cpu_threads(threads, shared=True) if device() == "cpu" else None
    torch.manual_seed(seed)
    torch.set_printoptions(precision=3, sci_mode=False, linewidth=110)
    _setup_matplotlib()
    print(summary(seed) + (f" ({threads_line}; nb.setup(threads=N) to change)" if threads_line else ""))


def _setup_matplotlib() -> None:
    """Inline PNG figures at a modest resolution; figures from `minirmt.viz` display when a cell returns them."""
    import matplotlib

    try:
        from IPython import get_ipython
    except ImportError:  # plain Python: no inline backend to configure
        get_ipython = None
    shell = get_ipython() if get_ipython is not None else None
    if shell is not None and getattr(shell, "kernel", None) is not None:
        shell.run_line_magic("matplotlib", "inline")
        from matplotlib_inline.backend_inline import set_matplotlib_formats

        set_matplotlib_formats("retina")  # twice the pixels, shown at the same size: sharp on any screen
    matplotlib.rcParams.update({
        "figure.figsize": (6.0, 3.5),
        "figure.dpi": 80,
        "savefig.dpi": 80,
        "font.size": 9,
        "axes.titlesize": 10,
        "image.cmap": "viridis",
    })
