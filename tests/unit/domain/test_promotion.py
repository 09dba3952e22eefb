from __future__ import annotations

import math

import pytest

from breast_cancer_ml.domain.promotion import GateThresholds, evaluate_gate

DEFAULT = GateThresholds(min_recall=0.95, max_recall_std=0.05)


@pytest.mark.parametrize(
    ("mean", "std", "passed", "failing_rule"),
    [
        (0.96, 0.03, True, None),
        (0.95, 0.05, True, None),  # both bounds are inclusive
        (0.9499, 0.01, False, "cv_recall_mean"),
        (0.99, 0.0501, False, "cv_recall_std"),
        (0.90, 0.10, False, "cv_recall_mean"),
        (math.nan, 0.01, False, "cv_recall_mean"),
        (0.99, math.nan, False, "cv_recall_std"),
        (1.0, 0.0, True, None),
    ],
)
def test_gate_table(mean: float, std: float, passed: bool, failing_rule: str | None) -> None:
    decision = evaluate_gate(mean, std, DEFAULT)
    assert decision.passed is passed
    assert len(decision.reasons) == 2
    if failing_rule is not None:
        failing = [r for r in decision.reasons if r.startswith(failing_rule)]
        assert failing
        assert " < min_recall" in failing[0] or " > max_recall_std" in failing[0]


def test_gate_thresholds_are_configurable() -> None:
    strict = GateThresholds(min_recall=0.99, max_recall_std=0.01)
    assert not evaluate_gate(0.97, 0.02, strict).passed
    lax = GateThresholds(min_recall=0.5, max_recall_std=0.5)
    assert evaluate_gate(0.6, 0.3, lax).passed


def test_reasons_say_which_side_of_each_bound() -> None:
    d = evaluate_gate(0.9588, 0.0484, DEFAULT)
    assert d.reasons == (
        "cv_recall_mean 0.9588 >= min_recall 0.9500",
        "cv_recall_std 0.0484 <= max_recall_std 0.0500",
    )
