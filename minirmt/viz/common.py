"""What every figure shares: the colours of the segment's blocks, one style per model, matrix inputs."""

import torch

from minirmt.model.registry import LABELS

BLOCK_COLORS = {"read": "tab:blue", "memory": "tab:blue", "tokens": "0.55", "write": "tab:orange"}

# Okabe & Ito's colour-blind-safe palette, its pale yellow (unreadable on white) swapped for Tol's wine; each line
# also gets its own marker and dash, so that models are told apart in grey print too.
OKABE_ITO = ("#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#882255", "#000000")
MARKERS = ("o", "s", "D", "^", "v", "P", "X", "*")
DASHES = ("-", "--", "-.", ":", (0, (5, 1)), (0, (3, 1, 1, 1, 1, 1)), (0, (1, 1)), (0, (8, 2)))


METRIC_LABELS = {"loss": "training loss", "eval_loss": "held-out loss", "eval_accuracy": "held-out accuracy",
                 "eval_exact_match": "held-out exact match", "segments": "segments g", "stage": "curriculum stage",
                 "hint_loss": "memory-hint loss"}


def readable(name):
    """The name a figure shows for a model's or a metric's short name (RMT, held-out accuracy, ...); any other
    name as it is."""
    return LABELS.get(name, METRIC_LABELS.get(name, name)) if isinstance(name, str) else name


def tick_rotation(names) -> dict:
    """Keyword arguments for `set_xticks`: slanted labels where long ones would run into each other."""
    longest = max((len(str(name)) for name in names), default=0)
    return {"rotation": 45, "ha": "right"} if longest > 5 else {}


def line_style(i: int) -> dict:
    """Keyword arguments for `ax.plot` that make the i-th line of a figure distinct: colour, marker and dash.
    Past eight lines the colours repeat, with the next marker and dash, so that no two lines look alike."""
    turn = i // len(OKABE_ITO)
    return {"color": OKABE_ITO[i % len(OKABE_ITO)], "marker": MARKERS[(i + turn) % len(MARKERS)],
            "linestyle": DASHES[(i + turn) % len(DASHES)]}


def as_matrix(x, name: str, dims: str = "(i, j)") -> torch.Tensor:
    x = torch.as_tensor(x).detach().cpu()
    if x.dim() != 2:
        raise ValueError(f"{name} must be a matrix {dims}, got shape {tuple(x.shape)}")
    return x.float()
