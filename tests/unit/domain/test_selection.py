"""Gate pass share per repeat and the recommendation rule."""

from __future__ import annotations

import numpy as np
import pytest

from breast_cancer_ml.domain.nested_cv import FoldOutcome
from breast_cancer_ml.domain.promotion import GateThresholds
from breast_cancer_ml.domain.selection import (
    Bar,
    gate_pass_share,
    most_chosen_params,
    recommend,
    shortfall,
)

BAR = Bar(recall=0.975, precision=0.93, roc_auc=0.995)


def outcome(repeat: int, recall: float, params: dict[str, int] | None = None) -> FoldOutcome:
    empty = np.array([], dtype=np.int64)
    return FoldOutcome(
        repeat, 0, {"recall": recall}, 0.5, params or {}, 0, 0, 0, empty, empty.astype(float)
    )


def test_gate_pass_share_counts_repeats() -> None:
    gate = GateThresholds(min_recall=0.95, max_recall_std=0.05)
    folds = [
        *(outcome(0, r) for r in (1.0, 0.95, 0.96)),  # passes
        *(outcome(1, r) for r in (0.9, 0.95, 0.96)),  # mean 0.937: fails
        *(outcome(2, r) for r in (1.0, 0.85, 1.0)),  # mean 0.95, std 0.087: fails
        *(outcome(3, r) for r in (0.97, 0.97, 0.97)),  # passes
    ]
    assert gate_pass_share(folds, gate) == 0.5


def s(recall: float, precision: float, auc: float) -> dict[str, float]:
    return {"recall_mean": recall, "precision_mean": precision, "roc_auc_mean": auc}


@pytest.mark.parametrize(
    ("summaries", "best", "meets"),
    [
        # the only model meeting the bar wins, even with lower recall than a failing one
        ({"a": s(0.99, 0.90, 0.996), "b": s(0.976, 0.94, 0.996)}, "b", True),
        # among models meeting the bar: higher recall
        ({"a": s(0.98, 0.95, 0.996), "b": s(0.99, 0.94, 0.996)}, "b", True),
        # none meets it: the smallest total shortfall, not the fewest misses
        ({"a": s(0.98, 0.85, 0.996), "b": s(0.97, 0.92, 0.994)}, "b", False),
        # recall ties are broken by precision
        ({"a": s(0.98, 0.95, 0.996), "b": s(0.98, 0.96, 0.996)}, "b", True),
        # NaN never wins
        ({"a": s(float("nan"), 0.95, 0.996), "b": s(0.96, 0.95, 0.996)}, "b", False),
    ],
)
def test_recommendation(summaries: dict[str, dict[str, float]], best: str, meets: bool) -> None:
    rec = recommend(summaries, BAR)
    assert rec.model == best
    assert rec.meets_bar is meets
    assert rec.ranking[0] == best
    assert set(rec.ranking) == set(summaries)


def test_shortfall_is_zero_when_the_bar_is_met() -> None:
    assert shortfall(s(0.98, 0.95, 0.996), BAR) == 0
    assert shortfall(s(0.965, 0.92, 0.995), BAR) == pytest.approx(0.01 + 0.01)


def test_misses_are_named() -> None:
    rec = recommend({"a": s(0.97, 0.95, 0.99)}, BAR)
    assert rec.missed == ("recall 0.9700 < 0.975", "roc_auc 0.9900 < 0.995")


def test_most_chosen_params() -> None:
    folds = [outcome(0, 1, {"c": 1}), outcome(0, 1, {"c": 2}), outcome(1, 1, {"c": 2})]
    assert most_chosen_params(folds) == ({"c": 2}, 2)


def test_gate_failures_say_which_rule_failed_in_each_repeat() -> None:
    """Repeat 0: recalls 0.90, 0.92 (mean 0.91 < 0.95, std 0.014 fine): low recall.
    Repeat 1: 1.0, 0.9 (mean 0.95 passes, std 0.071 > 0.05): high std.
    Repeat 2: 0.98, 0.99: passes."""
    from breast_cancer_ml.domain.selection import gate_failures

    gate = GateThresholds(min_recall=0.95, max_recall_std=0.05)
    outcomes = [
        *(outcome(0, r) for r in (0.90, 0.92)),
        *(outcome(1, r) for r in (1.0, 0.9)),
        *(outcome(2, r) for r in (0.98, 0.99)),
    ]
    f = gate_failures(outcomes, gate)
    assert (f.repeats, f.passed, f.low_recall, f.high_std) == (3, 1, 1, 1)
    one_fold = gate_failures([outcome(0, 1.0)], gate)  # no std from one fold: not passed
    assert (one_fold.passed, one_fold.low_recall, one_fold.high_std) == (0, 0, 1)
