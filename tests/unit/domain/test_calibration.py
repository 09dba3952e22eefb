"""Calibration numbers checked by hand: ECE bins and weights, the recalibration slope and
calibration-in-the-large, and the reliability curve."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

from breast_cancer_ml.domain.calibration import (
    LOGIT_EPS,
    N_BINS,
    calibration_intercept,
    calibration_slope,
    calibration_summary,
    expected_calibration_error,
    reliability_curve,
)

#: Two groups of four: at p = 0.5 one is malignant, at p = 0.8 three are.
#: The recalibration ``logit P = a + b * logit(p)`` fits both groups exactly (two points, two
#: parameters): at logit 0, a = logit(1/4) = -ln 3; at logit(0.8) = ln 4, a + b ln 4 = ln 3, so
#: b = 2 ln 3 / ln 4 = ln 3 / ln 2. With b fixed at 1 the intercept a solves
#: 4 sigmoid(a) + 4 sigmoid(a + ln 4) = 4 malignant, i.e. a + ln 4 = -a, a = -ln 2.
TWO_GROUPS_P = np.array([0.5] * 4 + [0.8] * 4)
TWO_GROUPS_Y = np.array([1, 0, 0, 0, 1, 1, 1, 0])


def test_slope_of_the_two_group_example_is_ln3_over_ln2() -> None:
    assert calibration_slope(TWO_GROUPS_Y, TWO_GROUPS_P) == pytest.approx(
        math.log(3) / math.log(2), abs=1e-9
    )


def test_calibration_in_the_large_of_the_two_group_example_is_minus_ln2() -> None:
    assert calibration_intercept(TWO_GROUPS_Y, TWO_GROUPS_P) == pytest.approx(
        -math.log(2), abs=1e-9
    )


def test_probabilities_that_come_true_have_slope_1_and_intercept_0() -> None:
    # 1 in 4 malignant at p = 0.25, 3 in 4 at p = 0.75
    p = np.array([0.25] * 4 + [0.75] * 4)
    y = np.array([1, 0, 0, 0, 1, 1, 1, 0])
    assert calibration_slope(y, p) == pytest.approx(1.0, abs=1e-9)
    assert calibration_intercept(y, p) == pytest.approx(0.0, abs=1e-9)


def test_too_extreme_gives_slope_below_1_and_over_prediction_a_negative_intercept() -> None:
    # truly 1 in 4 and 3 in 4, but the model says 0.1 and 0.9: too extreme
    y = np.array([1, 0, 0, 0, 1, 1, 1, 0])
    p = np.array([0.1] * 4 + [0.9] * 4)
    assert 0 < calibration_slope(y, p) < 1
    # truly 1 in 4 everywhere but the model says 1 in 2: it over-predicts malignancy
    assert calibration_intercept([1, 0, 0, 0], [0.5] * 4) == pytest.approx(math.log(1 / 3))


def test_slope_equals_an_unpenalised_logistic_regression_on_the_logit() -> None:
    """An independent fit (scikit-learn, no penalty) of y on logit(p) gives the same slope."""
    rng = np.random.default_rng(0)
    p = rng.uniform(0.02, 0.98, 300)
    y = (rng.random(300) < p**1.3).astype(int)  # miscalibrated on purpose
    z = np.log(p / (1 - p))
    reference = LogisticRegression(C=np.inf, tol=1e-12, max_iter=10_000).fit(z[:, None], y)
    assert calibration_slope(y, p) == pytest.approx(reference.coef_[0, 0], abs=1e-5)


def test_slope_and_intercept_are_undefined_for_one_class_or_separated_logits() -> None:
    assert math.isnan(calibration_slope([1, 1, 1], [0.2, 0.5, 0.9]))
    assert math.isnan(calibration_intercept([0, 0], [0.2, 0.5]))
    # every malignant probability above every benign one: the slope grows without bound
    assert math.isnan(calibration_slope([0, 0, 1, 1], [0.1, 0.4, 0.6, 0.9]))
    # ... but calibration-in-the-large is still finite (log(1) = 0 here by symmetry)
    assert calibration_intercept([0, 0, 1, 1], [0.1, 0.4, 0.6, 0.9]) == pytest.approx(0.0)


def test_a_tie_at_the_border_is_still_separated_but_one_overlap_gives_a_finite_slope() -> None:
    # the highest benign equals the lowest malignant: quasi-complete separation, no finite fit
    assert math.isnan(calibration_slope([0, 0, 1, 1], [0.1, 0.6, 0.6, 0.9]))
    # one benign case above one malignant case: the fit is finite and the slope positive
    slope = calibration_slope([0, 0, 1, 1, 0, 1], [0.1, 0.7, 0.6, 0.9, 0.2, 0.8])
    assert math.isfinite(slope)
    assert slope > 0


def test_probabilities_of_exactly_0_and_1_are_clipped_not_infinite() -> None:
    y = [0, 1, 0, 1, 1, 0]
    p = [0.0, 1.0, 0.3, 0.3, 0.7, 0.7]
    assert math.isfinite(calibration_slope(y, p))
    assert math.isfinite(calibration_intercept(y, p))
    assert LOGIT_EPS == 1e-12


def test_ece_weights_each_bins_gap_by_its_share_of_cases() -> None:
    # bin 0: one case, mean 0.05, observed 0 -> gap 0.05
    # bin 1: two cases, mean 0.15, observed 1/2 -> gap 0.35
    # bin 9: one case, mean 0.95, observed 1 -> gap 0.05
    # ECE = (1 * 0.05 + 2 * 0.35 + 1 * 0.05) / 4 = 0.2
    y = [0, 1, 0, 1]
    p = [0.05, 0.15, 0.15, 0.95]
    assert expected_calibration_error(y, p) == pytest.approx(0.2)


def test_ece_uses_ten_equal_width_bins_with_the_lower_edge_inclusive() -> None:
    assert N_BINS == 10
    # 0.1 belongs to bin [0.1, 0.2), not [0, 0.1): alone in its bin its gap is |1 - 0.1| = 0.9
    # with 0.09 (observed 0) beside it in bin 0 the gap would be |0.5 - 0.095| = 0.405
    y = [0, 1]
    assert expected_calibration_error(y, [0.09, 0.1]) == pytest.approx((0.09 + 0.9) / 2)
    curve = reliability_curve(y, [0.09, 0.1])
    assert curve.bin_lower == (0.0, 0.1)
    # just below an edge stays in the lower bin
    below = float(np.nextafter(0.1, 0.0))
    assert reliability_curve([0, 1], [0.05, below]).count == (2,)


def test_a_probability_of_1_falls_in_the_last_bin() -> None:
    curve = reliability_curve([1, 1], [0.95, 1.0])
    assert curve.bin_lower == (0.9,)
    assert curve.count == (2,)
    assert curve.mean_predicted == pytest.approx((0.975,))
    assert curve.observed == (1.0,)


def test_ece_of_probabilities_that_match_each_bins_frequency_is_0() -> None:
    y = [1, 0, 0, 0, 1, 1, 1, 0]
    p = [0.25] * 4 + [0.75] * 4
    assert expected_calibration_error(y, p) == pytest.approx(0.0)


def test_other_bin_counts_change_the_grouping() -> None:
    # with 2 bins, 0.05 and 0.45 share bin 0: mean 0.25, observed 0.5 -> gap 0.25
    assert expected_calibration_error([0, 1], [0.05, 0.45], n_bins=2) == pytest.approx(0.25)
    # with 10 bins they are apart: (0.05 + 0.55) / 2
    assert expected_calibration_error([0, 1], [0.05, 0.45]) == pytest.approx(0.3)
    with pytest.raises(ValueError, match="n_bins"):
        reliability_curve([0], [0.1], n_bins=0)


def test_reliability_curve_lists_only_non_empty_bins_in_order() -> None:
    curve = reliability_curve([1, 0, 1, 0, 0], [0.81, 0.32, 0.88, 0.38, 0.02])
    assert curve.bin_lower == (0.0, 0.3, 0.8)
    assert curve.count == (1, 2, 2)
    assert curve.mean_predicted == pytest.approx((0.02, 0.35, 0.845))
    assert curve.observed == (0.0, 0.0, 1.0)


def test_summary_holds_every_number_and_the_brier_score_by_hand() -> None:
    s = calibration_summary([0, 1, 0, 1], [0.2, 0.9, 0.2, 0.6])
    # ((0.2)^2 + (0.1)^2 + (0.2)^2 + (0.4)^2) / 4 = (0.04 + 0.01 + 0.04 + 0.16) / 4
    assert s.brier == pytest.approx(0.0625)
    assert s.ece == pytest.approx(expected_calibration_error([0, 1, 0, 1], [0.2, 0.9, 0.2, 0.6]))
    assert s.curve.count == (2, 1, 1)
    assert math.isnan(s.slope)  # separated
    assert math.isfinite(s.intercept)


@pytest.mark.parametrize(
    ("y", "p", "message"),
    [
        ([0, 1], [0.2], "one length"),
        ([], [], "non-empty"),
        ([0, 1], [0.2, math.nan], "finite"),
        ([0, 1], [0.2, 1.2], "within"),
        ([0, 1], [-0.1, 0.5], "within"),
        ([[0, 1]], [[0.2, 0.5]], "1-D"),
    ],
)
def test_bad_inputs_are_refused_with_the_reason(y: list[int], p: list[float], message: str) -> None:
    for fn in (
        expected_calibration_error,
        calibration_slope,
        calibration_intercept,
        calibration_summary,
    ):
        with pytest.raises(ValueError, match=message):
            fn(y, p)


def test_an_intercept_with_every_probability_at_0_or_1_is_nan_without_a_division_warning() -> None:
    # a decision tree's pure leaves: the Newton step meets zero curvature; NaN, not inf, and
    # no RuntimeWarning (run with warnings as errors)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert math.isnan(calibration_intercept([1, 0, 1], [0.0, 0.0, 1.0]))
        assert math.isnan(calibration_intercept([1, 0, 0], [1.0, 0.0, 1.0]))
