"""gate_failures counts every passing repeat, reads the std cap as "at most", and one fold
(no std) fails quietly."""

from __future__ import annotations

import warnings

import numpy as np

from breast_cancer_ml.domain.nested_cv import FoldOutcome
from breast_cancer_ml.domain.promotion import GateThresholds
from breast_cancer_ml.domain.selection import gate_failures


def _outcome(repeat: int, recall: float) -> FoldOutcome:
    empty = np.array([], dtype=np.int64)
    return FoldOutcome(repeat, 0, {"recall": recall}, 0.5, {}, 0, 0, 0, empty, empty / 1.0)


def test_every_passing_repeat_counts() -> None:
    gate = GateThresholds(min_recall=0.9, max_recall_std=0.1)
    outcomes = [_outcome(r, recall) for r in (0, 1, 2) for recall in (0.95, 0.97)]
    f = gate_failures(outcomes, gate)
    assert (f.repeats, f.passed, f.low_recall, f.high_std) == (3, 3, 0, 0)


def test_a_std_equal_to_the_cap_is_within_it() -> None:
    """Recalls 0.5, 1.0, 0.75: mean 0.75, sample std exactly 0.25 (all binary fractions)."""
    gate = GateThresholds(min_recall=0.7, max_recall_std=0.25)
    f = gate_failures([_outcome(0, r) for r in (0.5, 1.0, 0.75)], gate)
    assert (f.passed, f.low_recall, f.high_std) == (1, 0, 0)


def test_a_repeat_of_one_fold_fails_the_std_rule_without_a_numpy_warning() -> None:
    gate = GateThresholds(min_recall=0.9, max_recall_std=0.1)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        f = gate_failures([_outcome(0, 1.0)], gate)
    assert (f.passed, f.low_recall, f.high_std) == (0, 0, 1)
