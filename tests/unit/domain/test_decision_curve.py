"""Net benefit checked against a hand-computed example, at and around each threshold."""

from __future__ import annotations

import math

import numpy as np
import pytest

from breast_cancer_ml.domain.decision_curve import (
    DEFAULT_THRESHOLDS,
    decision_curve,
    net_benefit,
    treat_all_net_benefit,
)

#: Ten cases, four malignant.
Y = np.array([1, 1, 1, 1, 0, 0, 0, 0, 0, 0])
P = np.array([0.9, 0.6, 0.3, 0.05, 0.4, 0.2, 0.1, 0.1, 0.02, 0.01])


def test_net_benefit_by_hand() -> None:
    # pt = 0.25: treated = p >= 0.25 -> 0.9, 0.6, 0.3 (malignant) and 0.4 (benign): TP 3, FP 1
    #   NB = 3/10 - 1/10 * 0.25/0.75 = 0.3 - 0.0333.. = 0.26666..
    # pt = 0.1: treated -> 0.9 0.6 0.3 | 0.4 0.2 0.1 0.1 (>= is inclusive): TP 3, FP 4
    #   NB = 0.3 - 0.4 * 0.1/0.9 = 0.25555..
    # pt = 0.5: treated -> 0.9 0.6: TP 2, FP 0: NB = 0.2
    nb = net_benefit(Y, P, [0.25, 0.1, 0.5])
    assert nb == pytest.approx([0.3 - 0.1 / 3, 0.3 - 0.4 / 9, 0.2])


def test_a_case_at_the_threshold_is_treated() -> None:
    # one benign case at exactly 0.2 is treated at pt = 0.2: FP 1 -> NB = 0 - 0.1 * 0.25
    assert net_benefit([0] * 9 + [1], [0.2] + [0.0] * 9, [0.2]) == pytest.approx([-0.025])
    # just above it, it is not: NB = 0
    above = float(np.nextafter(0.2, 1.0))
    assert net_benefit([0] * 9 + [1], [0.2] + [0.0] * 9, [above]) == pytest.approx([0.0])


def test_treat_all_by_hand() -> None:
    # prevalence 0.4; pt = 0.2: 0.4 - 0.6 * 0.25 = 0.25; pt = 0.5: 0.4 - 0.6 = -0.2
    assert treat_all_net_benefit(0.4, [0.2, 0.5]) == pytest.approx([0.25, -0.2])
    with pytest.raises(ValueError, match="prevalence"):
        treat_all_net_benefit(1.5, [0.2])


def test_a_perfect_model_gains_the_prevalence_at_every_threshold() -> None:
    perfect = Y.astype(float)
    assert net_benefit(Y, perfect) == pytest.approx([0.4] * len(DEFAULT_THRESHOLDS))


def test_the_default_thresholds_are_0_01_to_0_50_by_0_01() -> None:
    assert len(DEFAULT_THRESHOLDS) == 50
    assert DEFAULT_THRESHOLDS[0] == 0.01
    assert DEFAULT_THRESHOLDS[-1] == 0.5
    assert np.allclose(np.diff(DEFAULT_THRESHOLDS), 0.01)


def test_the_curve_holds_model_treat_all_and_treat_none_per_threshold() -> None:
    curve = decision_curve(Y, P, [0.1, 0.25])
    assert curve.thresholds == (0.1, 0.25)
    assert curve.model == pytest.approx((0.3 - 0.4 / 9, 0.3 - 0.1 / 3))
    assert curve.treat_all == pytest.approx((0.4 - 0.6 / 9, 0.4 - 0.6 / 3))
    assert curve.treat_none == (0.0, 0.0)
    rows = curve.rows()
    assert rows[1] == pytest.approx(
        {
            "threshold": 0.25,
            "net_benefit_model": 0.3 - 0.1 / 3,
            "net_benefit_all": 0.2,
            "net_benefit_none": 0.0,
        }
    )


def test_the_default_curve_has_fifty_points() -> None:
    curve = decision_curve(Y, P)
    assert len(curve.model) == len(curve.treat_all) == len(curve.treat_none) == 50
    assert all(math.isfinite(v) for v in curve.model)


@pytest.mark.parametrize("thresholds", [[0.0], [1.0], [], [[0.1]], [0.1, -0.2]])
def test_thresholds_outside_0_1_are_refused(thresholds: list[float]) -> None:
    with pytest.raises(ValueError, match="thresholds"):
        net_benefit(Y, P, thresholds)


def test_mismatched_or_non_finite_inputs_are_refused() -> None:
    with pytest.raises(ValueError, match="one length"):
        net_benefit([1, 0], [0.5])
    with pytest.raises(ValueError, match="NaN"):
        net_benefit([1, 0], [0.5, math.nan])
