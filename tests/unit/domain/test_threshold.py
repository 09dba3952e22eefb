"""The recall-target threshold: highest threshold (capped at 0.5) that reaches the target."""

from __future__ import annotations

import numpy as np
import pytest

from breast_cancer_ml.domain.threshold import recall_at, threshold_for_recall


def test_default_kept_when_it_already_reaches_the_target() -> None:
    y = np.array([1, 1, 1, 1, 0, 0])
    p = np.array([0.9, 0.8, 0.7, 0.6, 0.4, 0.1])
    assert threshold_for_recall(y, p, 0.95) == 0.5  # recall at 0.5 is 1.0: no change


def test_lowered_to_the_needed_malignant_probability() -> None:
    # 10 malignant cases; recall 0.9 needs 9 of them at or above t.
    pos = np.array([0.95, 0.9, 0.85, 0.8, 0.7, 0.6, 0.45, 0.3, 0.2, 0.05])
    y = np.r_[np.ones(10, dtype=int), np.zeros(3, dtype=int)]
    p = np.r_[pos, [0.25, 0.1, 0.02]]
    t = threshold_for_recall(y, p, 0.9)
    assert t == pytest.approx(0.2)
    assert recall_at(y, p, t) >= 0.9
    # It is the highest such threshold: any higher one misses the target.
    assert recall_at(y, p, np.nextafter(t, 1.0)) < 0.9


def test_exact_fraction_does_not_ask_for_one_case_more() -> None:
    # 0.95 * 20 is 19.000000000000004 in floating point: 19 cases suffice.
    y = np.ones(20, dtype=int)
    p = np.linspace(0.01, 0.2, 20)
    t = threshold_for_recall(y, p, 0.95)
    assert t == pytest.approx(p[1])
    assert recall_at(y, p, t) == pytest.approx(0.95)


def test_target_one_takes_the_lowest_malignant_probability() -> None:
    y = np.array([1, 1, 0])
    p = np.array([0.3, 0.01, 0.001])
    assert threshold_for_recall(y, p, 1.0) == pytest.approx(0.01)


@pytest.mark.parametrize("seed", range(5))
def test_reaches_the_target_on_random_data(seed: int) -> None:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, 200)
    p = np.clip(0.3 * y + rng.uniform(0, 0.7, 200), 0, 1)
    for target in (0.8, 0.9, 0.975, 1.0):
        t = threshold_for_recall(y, p, target)
        assert t <= 0.5
        assert recall_at(y, p, t) >= target


@pytest.mark.parametrize(
    ("y", "p", "target", "message"),
    [
        ([0, 0], [0.1, 0.2], 0.9, "no malignant case"),
        ([1, 0], [0.1, 0.2], 0.0, "target_recall"),
        ([1, 0], [0.1, 0.2], 1.5, "target_recall"),
        ([1, 0], [0.1], 0.9, "one length"),
        ([1, 0], [np.nan, 0.2], 0.9, "NaN"),
    ],
)
def test_bad_input_is_refused(y: list[int], p: list[float], target: float, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        threshold_for_recall(np.array(y), np.array(p), target)
