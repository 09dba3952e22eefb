"""Slices by tertile and by borderline score, their metrics by hand, and the recall-gate flag."""

from __future__ import annotations

import math

import numpy as np
import pytest

from breast_cancer_ml.domain.bootstrap import bootstrap_intervals
from breast_cancer_ml.domain.subgroups import (
    BORDERLINE_BAND,
    SUBGROUP_METRICS,
    TERTILE_FEATURES,
    Slice,
    borderline_slice,
    subgroup_table,
    tertile_slices,
)


def test_tertiles_cut_at_the_one_and_two_thirds_quantiles() -> None:
    # 1..9: numpy's linear quantiles at 1/3 and 2/3 are 11/3 and 19/3
    values = np.arange(1.0, 10.0)
    low, middle, high = tertile_slices(values, "area_mean")
    assert low.mask.tolist() == [True] * 3 + [False] * 6
    assert middle.mask.tolist() == [False] * 3 + [True] * 3 + [False] * 3
    assert high.mask.tolist() == [False] * 6 + [True] * 3
    assert low.name == "area_mean low (<= 3.667)"
    assert middle.name == "area_mean middle (3.667, 6.333]"
    assert high.name == "area_mean high (> 6.333)"


def test_a_value_equal_to_a_cut_point_goes_to_the_lower_slice() -> None:
    # 1, 2, 3, 4: the cuts are 2 and 3 exactly; 2 goes low and 3 goes to the middle
    low, middle, high = tertile_slices([1.0, 2.0, 3.0, 4.0], "texture_mean")
    assert low.mask.tolist() == [True, True, False, False]
    assert middle.mask.tolist() == [False, False, True, False]
    assert high.mask.tolist() == [False, False, False, True]
    assert TERTILE_FEATURES == ("area_mean", "texture_mean")


def test_tertiles_refuse_empty_or_non_finite_values() -> None:
    with pytest.raises(ValueError, match="area_mean"):
        tertile_slices([], "area_mean")
    with pytest.raises(ValueError, match="finite"):
        tertile_slices([1.0, math.nan], "area_mean")


def test_borderline_band_is_strictly_between_0_2_and_0_8() -> None:
    assert BORDERLINE_BAND == (0.2, 0.8)
    s = borderline_slice([0.2, float(np.nextafter(0.2, 1)), 0.5, float(np.nextafter(0.8, 0)), 0.8])
    assert s.mask.tolist() == [False, True, True, True, False]
    assert s.name == "borderline score (0.2 < p < 0.8)"
    with pytest.raises(ValueError, match="band"):
        borderline_slice([0.5], (0.8, 0.2))


#: 12 cases: the first six (slice A) are perfectly classified; in slice B (the last six) two of
#: the four malignant cases are missed and one benign case is called malignant.
Y = np.array([1, 1, 1, 0, 0, 0, 1, 1, 1, 1, 0, 0])
PRED = np.array([1, 1, 1, 0, 0, 0, 1, 1, 0, 0, 1, 0])
A = Slice("A", np.arange(12) < 6)
B = Slice("B", np.arange(12) >= 6)


def test_each_slices_metrics_by_hand() -> None:
    a, b = subgroup_table(Y, PRED, [A, B], min_recall=0.9, n_resamples=200)
    assert (a.name, a.n, a.n_malignant) == ("A", 6, 3)
    assert a.metrics == {"accuracy": 1.0, "precision": 1.0, "recall": 1.0, "specificity": 1.0}
    assert (b.n, b.n_malignant) == (6, 4)
    # B: TP 2, FN 2, FP 1, TN 1
    assert b.metrics == pytest.approx(
        {"accuracy": 3 / 6, "precision": 2 / 3, "recall": 2 / 4, "specificity": 1 / 2}
    )


def test_intervals_are_the_bootstrap_of_the_slices_cases() -> None:
    (b,) = subgroup_table(Y, PRED, [B], min_recall=0.9, n_resamples=300, seed=7)
    want = bootstrap_intervals(Y[6:], PRED[6:], n_resamples=300, seed=7)
    assert b.intervals == {name: want[name] for name in SUBGROUP_METRICS}


def test_a_slice_whose_whole_recall_interval_is_below_the_gate_is_flagged() -> None:
    # slice C: 20 malignant cases, 10 missed: recall 0.5, its interval far below 0.9
    y = np.array([1] * 20 + [0] * 5)
    pred = np.array([1] * 10 + [0] * 10 + [0] * 5)
    c = Slice("C", np.ones(25, dtype=bool))
    (row,) = subgroup_table(y, pred, [c], min_recall=0.9)
    assert row.intervals["recall"][1] < 0.9
    assert row.recall_below_gate
    # with a gate at the interval's upper bound the interval is not wholly below it
    (same,) = subgroup_table(y, pred, [c], min_recall=row.intervals["recall"][1])
    assert not same.recall_below_gate


def test_a_perfect_slice_and_a_slice_without_malignant_cases_are_not_flagged() -> None:
    benign_only = Slice("benign only", Y == 0)
    a, none = subgroup_table(Y, PRED, [A, benign_only], min_recall=0.99)
    assert not a.recall_below_gate
    assert none.n_malignant == 0
    assert math.isnan(none.metrics["recall"])
    assert not none.recall_below_gate


def test_an_empty_slice_has_undefined_metrics_and_no_flag() -> None:
    (empty,) = subgroup_table(Y, PRED, [Slice("empty", np.zeros(12, dtype=bool))], min_recall=0.9)
    assert empty.n == 0
    assert all(math.isnan(v) for v in empty.metrics.values())
    assert all(math.isnan(v) for pair in empty.intervals.values() for v in pair)
    assert not empty.recall_below_gate


def test_the_record_is_one_flat_csv_row() -> None:
    (a,) = subgroup_table(Y, PRED, [A], min_recall=0.9, n_resamples=50)
    record = a.as_record()
    assert list(record) == [
        "slice",
        "n",
        "n_malignant",
        "accuracy",
        "accuracy_ci_low",
        "accuracy_ci_high",
        "precision",
        "precision_ci_low",
        "precision_ci_high",
        "recall",
        "recall_ci_low",
        "recall_ci_high",
        "specificity",
        "specificity_ci_low",
        "specificity_ci_high",
        "recall_below_gate",
    ]
    assert record["slice"] == "A"
    assert record["recall_ci_low"] == 1.0


def test_masks_of_another_length_are_refused() -> None:
    with pytest.raises(ValueError, match="'short'"):
        subgroup_table(Y, PRED, [Slice("short", np.ones(3, dtype=bool))], min_recall=0.9)
    with pytest.raises(ValueError, match="one length"):
        subgroup_table(Y, PRED[:5], [A], min_recall=0.9)
