"""The seeded percentile bootstrap of the test split's confusion-count metrics, checked by
hand (``bootstrap_intervals``; the rank AUC and Brier are in test_bootstrap.py)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from breast_cancer_ml.domain.bootstrap import bootstrap_intervals as bootstrap_ci


def test_perfect_predictions_have_a_zero_width_interval() -> None:
    y = [1, 0, 1, 0, 1]
    ci = bootstrap_ci(y, y, seed=1)
    assert ci["recall"] == (1.0, 1.0)
    assert ci["accuracy"] == (1.0, 1.0)
    assert ci["precision"] == (1.0, 1.0)


def test_one_missed_case_in_four_by_hand() -> None:
    """Four malignant cases, one missed: a resample's recall is (#draws of the 3 found) / 4,
    a Binomial(4, 3/4) / 4. P(recall <= 0) = 0.4%, P(recall <= 0.25) = 5.1%, so the 2.5th
    percentile is 0.25; P(recall = 1) = 31.6%, so the 97.5th is 1.0."""
    ci = bootstrap_ci([1, 1, 1, 1], [1, 1, 1, 0], n_resamples=2000, seed=0)
    assert ci["recall"] == (0.25, 1.0)
    assert ci["precision"] == (1.0, 1.0)  # nothing benign was called malignant


def test_resamples_without_a_malignant_case_are_left_out_of_recall() -> None:
    """One malignant case in five: about a third of resamples hold none (0.8^5). Those have
    no recall; counting them as 0 would drag the interval down to 0."""
    ci = bootstrap_ci([1, 0, 0, 0, 0], [1, 0, 0, 0, 0], seed=3)
    assert ci["recall"] == (1.0, 1.0)


def test_same_seed_same_interval_other_seed_may_differ() -> None:
    rng = np.random.default_rng(7)
    y = rng.integers(0, 2, 114)
    pred = np.where(rng.random(114) < 0.1, 1 - y, y)
    assert bootstrap_ci(y, pred, seed=42) == bootstrap_ci(y, pred, seed=42)
    low, high = bootstrap_ci(y, pred, seed=42)["recall"]
    point = float(np.sum((y == 1) & (pred == 1)) / np.sum(y == 1))
    assert low < point < high
    assert high - low < 0.25


def test_a_higher_level_gives_a_wider_interval() -> None:
    y = [1] * 20 + [0] * 20
    pred = [1] * 17 + [0] * 3 + [0] * 20
    narrow = bootstrap_ci(y, pred, level=0.5, seed=0)["recall"]
    wide = bootstrap_ci(y, pred, level=0.95, seed=0)["recall"]
    assert wide[0] <= narrow[0] and narrow[1] <= wide[1]


def test_a_metric_no_resample_defines_is_nan() -> None:
    ci = bootstrap_ci([0, 0, 0], [0, 0, 0], seed=0)
    assert all(math.isnan(v) for v in ci["recall"])
    assert ci["accuracy"] == (1.0, 1.0)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [({"n_resamples": 0}, "n_resamples"), ({"level": 1.0}, "level")],
)
def test_bad_arguments_are_refused(kwargs: dict[str, float], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        bootstrap_ci([1, 0], [1, 0], **kwargs)  # type: ignore[arg-type]


def test_empty_or_mismatched_inputs_are_refused() -> None:
    with pytest.raises(ValueError, match="same length"):
        bootstrap_ci([1, 0], [1])
