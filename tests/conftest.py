"""Fixtures shared by the test modules, and where the tests find real corpora."""

import os
from pathlib import Path

import pytest
import torch

# Real corpora (WikiText-2 valid/test, pg-books) are never part of the repository: tests that need them read the
# folder named by MINIRMT_SHARED_DATA, or the repository's data/ folder, and skip (saying why) without them.
REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ["MINIRMT_SHARED_DATA"]) if os.environ.get("MINIRMT_SHARED_DATA") else None


def data_root(*parts: str) -> Path:
    """The first of $MINIRMT_SHARED_DATA and the repository's data/ that holds `parts`, else skip the test."""
    for root in (SHARED, REPO / "data"):
        if root is not None and root.joinpath(*parts).exists():
            return root
    pytest.skip(f"{'/'.join(parts)} is in neither $MINIRMT_SHARED_DATA ({SHARED}) nor {REPO / 'data'}")


@pytest.fixture(scope="module")
def one_thread():
    """Tiny models train fastest on one thread (more only add synchronisation, worse on a busy machine)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
