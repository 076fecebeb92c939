"""Exercise checkers for the notebooks, one module per lesson (`lesson01_segments.py` ... `lesson09_needle.py`).

`fn = checks.check_<name>(fn)` calls the learner's function on seeded, non-trivial cases and prints one
line: passed; what is wrong (type, then shape, then values, in the dimension names of `core.DIMENSIONS`; a
known mistake is named, with how to fix it; an argument changed in place is refused too); or "not attempted"
while the function still raises NotImplementedError. It
returns the learner's function when it passes and the library's version otherwise, so a learner who is stuck
can go on. A checker never raises, unless checking is strict (`checks.strict()`, for an autograder).

To add a checker: in the lesson's module write `cases(fn)` that raises `CheckFailed` with a helpful message or
returns how many cases passed, end with `return run_checker(name, fn, reference, cases)`, and give it a
catalogue in tests/test_checks.py: right answers written in other ways, and each known mistake with its message.
"""

from .core import DIMENSIONS, CheckFailed, NotAttempted, run_checker, strict
from .lesson01_segments import (
    check_rmt_mask,
    check_rmt_step,
    check_split_segments,
    reference_rmt_step,
    reference_split_segments,
)
from .lesson02_recurrence import (
    check_run_segments,
    check_run_truncated,
    reference_run_segments,
    reference_run_truncated,
)
from .lesson03_copy import check_answer_accuracy, check_copy_targets, reference_copy_targets
from .lesson04_recall import (
    check_pairs_information,
    check_recall_batch,
    reference_pairs_information,
    reference_recall_batch,
)
from .lesson05_memory import check_fit_probe, check_memory_similarity, reference_memory_similarity
from .lesson06_baselines import check_attention_pairs, check_xl_cache, reference_attention_pairs, reference_xl_cache
from .lesson07_curriculum import (
    check_accuracy_by_segments,
    check_doubling_stages,
    reference_accuracy_by_segments,
    reference_doubling_stages,
)
from .lesson08_language import (
    check_batchify,
    check_loss_by_position,
    check_stream_loss,
    reference_batchify,
    reference_loss_by_position,
    reference_stream_loss,
)
from .lesson09_needle import (
    check_needle_depth,
    check_reliable_length,
    reference_needle_depth,
    reference_reliable_length,
)

__all__ = [
    "DIMENSIONS",
    "CheckFailed",
    "NotAttempted",
    "run_checker",
    "strict",
    "check_accuracy_by_segments",
    "check_answer_accuracy",
    "check_attention_pairs",
    "check_batchify",
    "check_copy_targets",
    "check_doubling_stages",
    "check_fit_probe",
    "check_loss_by_position",
    "check_memory_similarity",
    "check_needle_depth",
    "check_pairs_information",
    "check_recall_batch",
    "check_reliable_length",
    "check_rmt_mask",
    "check_rmt_step",
    "check_run_segments",
    "check_run_truncated",
    "check_split_segments",
    "check_stream_loss",
    "check_xl_cache",
    "reference_accuracy_by_segments",
    "reference_attention_pairs",
    "reference_batchify",
    "reference_copy_targets",
    "reference_doubling_stages",
    "reference_loss_by_position",
    "reference_memory_similarity",
    "reference_needle_depth",
    "reference_pairs_information",
    "reference_recall_batch",
    "reference_reliable_length",
    "reference_rmt_step",
    "reference_run_segments",
    "reference_run_truncated",
    "reference_split_segments",
    "reference_stream_loss",
    "reference_xl_cache",
]
