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


CALIBRATED = GateThresholds(min_recall=0.95, max_recall_std=0.05, max_ece=0.05, max_brier=0.05)


@pytest.mark.parametrize(
    ("ece", "brier", "passed", "failing_rule"),
    [
        (0.02, 0.02, True, None),
        (0.05, 0.05, True, None),  # both bounds are inclusive
        (0.0501, 0.02, False, "cv_ece 0.0501 > max_ece 0.0500"),
        (0.02, 0.0501, False, "cv_brier_mean 0.0501 > max_brier 0.0500"),
        (math.nan, 0.02, False, "cv_ece nan > max_ece"),
        (None, 0.02, False, "cv_ece unmeasured > max_ece"),
        (0.02, None, False, "cv_brier_mean unmeasured > max_brier"),
    ],
)
def test_calibration_rules_judge_the_out_of_fold_ece_and_brier(
    ece: float | None, brier: float | None, passed: bool, failing_rule: str | None
) -> None:
    decision = evaluate_gate(0.97, 0.02, CALIBRATED, ece=ece, brier=brier)
    assert decision.passed is passed
    assert len(decision.reasons) == 4
    if failing_rule is not None:
        assert any(r.startswith(failing_rule) for r in decision.reasons), decision.reasons


def test_calibration_rules_do_not_rescue_a_failed_recall_rule() -> None:
    d = evaluate_gate(0.90, 0.02, CALIBRATED, ece=0.01, brier=0.01)
    assert not d.passed
    assert d.reasons[2:] == (
        "cv_ece 0.0100 <= max_ece 0.0500",
        "cv_brier_mean 0.0100 <= max_brier 0.0500",
    )


def test_without_calibration_bounds_the_gate_has_only_the_recall_rules() -> None:
    assert len(evaluate_gate(0.97, 0.02, DEFAULT, ece=0.9, brier=0.9).reasons) == 2
