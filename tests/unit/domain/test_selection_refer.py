"""The refer rule and calibration over the outer folds of ``bcml compare``, checked by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest

from breast_cancer_ml.domain import conformal
from breast_cancer_ml.domain.calibration import (
    calibration_intercept,
    calibration_slope,
    expected_calibration_error,
)
from breast_cancer_ml.domain.nested_cv import FoldOutcome, FoldRefer
from breast_cancer_ml.domain.selection import (
    ReferGoal,
    calibration_over_repeats,
    refer_goal_misses,
    refer_summary,
)

B, M = conformal.DECIDE_BENIGN, conformal.DECIDE_MALIGNANT
R = conformal.REFER


def params(alpha: float) -> conformal.ConformalParams:
    return conformal.ConformalParams(alpha, 0.5, 0.5, 10, 10)


def fold(
    repeat: int,
    y: list[int],
    sets: list[tuple[bool, bool]],
    decisions: list[str],
    alpha: float = 0.05,
    within_budget: bool = True,
    proba: list[float] | None = None,
) -> FoldOutcome:
    p = np.asarray(proba if proba is not None else [0.5] * len(y), dtype=np.float64)
    return FoldOutcome(
        repeat=repeat,
        index=0,
        metrics={},
        threshold=0.5,
        params={},
        fit_seconds=0,
        predict_seconds=0,
        total_seconds=0,
        test_idx=np.arange(len(y), dtype=np.int64),
        proba=p,
        y_true=np.asarray(y, dtype=np.int64),
        refer=FoldRefer(
            params=params(alpha),
            within_budget=within_budget,
            sets=np.asarray(sets, dtype=bool),
            decisions=np.asarray(decisions),
        ),
    )


BOTH, BEN, MAL, NONE = (True, True), (True, False), (False, True), (False, False)


def test_refer_counts_are_pooled_over_every_outer_test_row() -> None:
    folds = [
        # repeat 0: 4 rows. malignant decided right; benign decided right; malignant referred
        # (both in its set); benign decided malignant (wrong)
        fold(0, [1, 0, 1, 0], [MAL, BEN, BOTH, MAL], [M, B, R, M], alpha=0.02),
        # repeat 1: 4 rows. malignant decided benign (missed; its set lacks malignant);
        # benign decided right; malignant right; benign referred with an empty set
        fold(1, [1, 0, 1, 0], [BEN, BEN, MAL, NONE], [B, B, M, R], alpha=0.08, within_budget=False),
    ]
    out = refer_summary(folds)
    # 8 rows, 2 referred
    assert out["refer_rate"] == pytest.approx(2 / 8)
    # benign rows: sets BEN, MAL, BEN, NONE -> 2 of 4 hold benign
    assert out["coverage_benign"] == pytest.approx(2 / 4)
    # malignant rows: MAL, BOTH, BEN, MAL -> 3 of 4 hold malignant
    assert out["coverage_malignant"] == pytest.approx(3 / 4)
    # decided: 6 rows; right: M(1), B(0), B(0), M(1) = 4; wrong: M on a benign, B on a malignant
    assert out["decided_accuracy"] == pytest.approx(4 / 6)
    # decided malignant rows: 3 (repeat 0 first, repeat 1 first and third); found 2
    assert out["decided_recall"] == pytest.approx(2 / 3)
    # said malignant: 3; truly malignant 2
    assert out["decided_precision"] == pytest.approx(2 / 3)
    assert out["decided_errors_per_repeat"] == pytest.approx(2 / 2)
    assert out["decided_missed_malignant_per_repeat"] == pytest.approx(1 / 2)
    assert (out["alpha_mean"], out["alpha_min"], out["alpha_max"]) == pytest.approx(
        (0.05, 0.02, 0.08)
    )
    assert out["alpha_over_budget_folds"] == 1


def test_nothing_decided_leaves_the_decided_metrics_undefined() -> None:
    out = refer_summary([fold(0, [1, 0], [BOTH, BOTH], [R, R])])
    assert out["refer_rate"] == 1
    assert math.isnan(out["decided_accuracy"])
    assert math.isnan(out["decided_recall"])
    assert math.isnan(out["decided_precision"])
    assert out["decided_errors_per_repeat"] == 0


def test_outcomes_without_a_refer_rule_give_no_refer_keys() -> None:
    plain = FoldOutcome(0, 0, {}, 0.5, {}, 0, 0, 0, np.arange(2), np.array([0.2, 0.8]))
    assert refer_summary([plain]) == {}
    assert calibration_over_repeats([plain]) == {}


def test_calibration_is_computed_per_repeat_on_its_pooled_folds_then_averaged() -> None:
    y0, p0 = [0, 1, 0, 1, 1, 0], [0.1, 0.7, 0.35, 0.9, 0.3, 0.6]
    y1, p1 = [1, 0, 0, 1, 0, 1], [0.8, 0.2, 0.65, 0.55, 0.05, 0.4]
    folds = [
        fold(0, y0[:3], [BEN] * 3, [B] * 3, proba=p0[:3]),
        fold(0, y0[3:], [BEN] * 3, [B] * 3, proba=p0[3:]),
        fold(1, y1[:2], [BEN] * 2, [B] * 2, proba=p1[:2]),
        fold(1, y1[2:], [BEN] * 4, [B] * 4, proba=p1[2:]),
    ]
    out = calibration_over_repeats(folds)
    # ECE of repeat 0 by hand: bins 1 {0.1: y0}, 7 {0.7: y1}, 3 {0.35: y0, 0.3: y1},
    # 9 {0.9: y1}, 6 {0.6: y0} -> (|0-0.1| + |1-0.7| + 2|0.5-0.325| + |1-0.9| + |0-0.6|) / 6
    ece0 = (0.1 + 0.3 + 2 * 0.175 + 0.1 + 0.6) / 6
    assert expected_calibration_error(y0, p0) == pytest.approx(ece0)
    assert out["ece"] == pytest.approx((ece0 + expected_calibration_error(y1, p1)) / 2)
    assert out["calibration_slope"] == pytest.approx(
        (calibration_slope(y0, p0) + calibration_slope(y1, p1)) / 2
    )
    assert out["calibration_intercept"] == pytest.approx(
        (calibration_intercept(y0, p0) + calibration_intercept(y1, p1)) / 2
    )


def test_a_repeat_whose_slope_is_undefined_is_left_out_of_the_mean() -> None:
    separated = fold(0, [0, 1], [BEN, MAL], [B, M], proba=[0.2, 0.9])  # slope NaN
    y1, p1 = [1, 0, 0, 1], [0.8, 0.3, 0.6, 0.4]
    other = fold(1, y1, [BEN] * 4, [B] * 4, proba=p1)
    out = calibration_over_repeats([separated, other])
    assert out["calibration_slope"] == pytest.approx(calibration_slope(y1, p1))


GOAL = ReferGoal(max_refer_rate=0.05, decided_accuracy=0.99, decided_recall=0.98)


@pytest.mark.parametrize(
    ("refer", "accuracy", "recall", "misses"),
    [
        (0.05, 0.99, 0.98, ()),  # on every boundary: met
        (0.0501, 0.995, 0.99, ("refer rate 0.0501 > 0.05",)),
        (0.03, 0.9899, 0.98, ("decided accuracy 0.9899 < 0.99",)),
        (0.03, 0.99, 0.975, ("decided recall 0.9750 < 0.98",)),
        (0.03, math.nan, math.nan, ("decided accuracy nan < 0.99", "decided recall nan < 0.98")),
    ],
)
def test_the_goal_names_what_it_misses(
    refer: float, accuracy: float, recall: float, misses: tuple[str, ...]
) -> None:
    summary = {"refer_rate": refer, "decided_accuracy": accuracy, "decided_recall": recall}
    assert refer_goal_misses(summary, GOAL) == misses


def test_the_default_goal_is_the_issue_s() -> None:
    assert ReferGoal() == GOAL
