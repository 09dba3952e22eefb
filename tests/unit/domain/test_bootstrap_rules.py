"""The rules of the test split's bootstrap intervals (``bootstrap_intervals``), each checked
against an independent computation or by hand.

The resamples are the rows drawn by ``numpy.random.default_rng(seed).integers(0, n, (R, n))``
(the documented seeding); each resample's metric is scikit-learn's metric of the malignant class
on those rows (NaN where it is undefined, and then left out); the interval is the
``(1 - level) / 2`` and ``(1 + level) / 2`` percentiles (numpy's default, linear) of the rest.
"""

from __future__ import annotations

import math
import re
import warnings

import numpy as np
import pytest
from sklearn.metrics import accuracy_score, f1_score, precision_score, recall_score

from breast_cancer_ml.domain.bootstrap import bootstrap_intervals

#: The confusion-count metrics, checked against scikit-learn's (AUC, Brier: test_bootstrap.py).
BOOTSTRAP_METRICS = ("accuracy", "precision", "recall", "f1")


def bootstrap_ci(y: object, pred: object, **kwargs: float) -> dict[str, tuple[float, float]]:
    ci = bootstrap_intervals(y, pred, **kwargs)
    return {name: ci[name] for name in BOOTSTRAP_METRICS}


#: Twelve cases with every outcome: 4 true positives, 2 false positives, 2 missed, 4 benign.
Y = np.array([1, 1, 1, 1, 0, 0, 1, 1, 0, 0, 0, 0])
PRED = np.array([1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0])


def _draws(n: int, n_resamples: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, n, size=(n_resamples, n))


def _sklearn_metric(name: str, y: np.ndarray, pred: np.ndarray) -> float:
    if name == "accuracy":
        return float(accuracy_score(y, pred))
    score = {"precision": precision_score, "recall": recall_score, "f1": f1_score}[name]
    return float(score(y, pred, pos_label=1, zero_division=np.nan))


def _expected(
    y: np.ndarray, pred: np.ndarray, n_resamples: int, seed: int, level: float
) -> dict[str, tuple[float, float]]:
    per_resample = {
        name: np.array(
            [_sklearn_metric(name, y[i], pred[i]) for i in _draws(len(y), n_resamples, seed)]
        )
        for name in BOOTSTRAP_METRICS
    }
    tail = (1 - level) / 2 * 100
    out = {}
    for name, values in per_resample.items():
        low, high = np.percentile(values[~np.isnan(values)], [tail, 100 - tail])
        out[name] = (float(low), float(high))
    return out


@pytest.mark.parametrize(("seed", "level"), [(5, 0.95), (11, 0.8)])
def test_the_interval_is_the_percentile_of_sklearns_metric_over_the_seeded_resamples(
    seed: int, level: float
) -> None:
    got = bootstrap_ci(Y, PRED, n_resamples=60, seed=seed, level=level)
    want = _expected(Y, PRED, n_resamples=60, seed=seed, level=level)
    assert list(got) == list(BOOTSTRAP_METRICS)
    for name in BOOTSTRAP_METRICS:
        assert got[name] == pytest.approx(want[name], abs=1e-12), name


def test_the_defaults_are_2000_resamples_seed_0_and_the_95_percent_level() -> None:
    """60 cases, 15% of them misclassified: enough distinct values that the resample count and
    the seed show in the bounds."""
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 60)
    pred = np.where(rng.random(60) < 0.15, 1 - y, y)
    correct = (y == pred).astype(float)
    accuracy = correct[_draws(len(y), 2000, 0)].mean(axis=1)
    low, high = np.percentile(accuracy, [2.5, 97.5])
    default = bootstrap_ci(y, pred)
    assert default["accuracy"] == pytest.approx((low, high), abs=1e-12)
    assert default == bootstrap_ci(y, pred, n_resamples=2000, seed=0, level=0.95)
    # one resample more moves the percentiles of this split: the default count is 2000
    assert default["recall"] != bootstrap_ci(y, pred, n_resamples=2001)["recall"]


def test_another_seed_draws_other_resamples() -> None:
    assert bootstrap_ci(Y, PRED, n_resamples=50, seed=0) != bootstrap_ci(
        Y, PRED, n_resamples=50, seed=1
    )


def test_one_resample_gives_a_zero_width_interval_at_that_resamples_value() -> None:
    (rows,) = _draws(len(Y), 1, 4)
    ci = bootstrap_ci(Y, PRED, n_resamples=1, seed=4)
    for name in BOOTSTRAP_METRICS:
        value = _sklearn_metric(name, Y[rows], PRED[rows])
        assert ci[name] == pytest.approx((value, value), abs=1e-12), name


def test_every_resample_of_all_wrong_answers_has_accuracy_0() -> None:
    """Each resample of one missed cancer and one false alarm holds only wrong answers, whatever
    the draws: accuracy 0 throughout, and precision and recall 0 wherever they are defined."""
    ci = bootstrap_ci([1, 0], [0, 1], n_resamples=200, seed=0)
    assert ci["accuracy"] == (0.0, 0.0)
    assert ci["precision"] == (0.0, 0.0)
    assert ci["recall"] == (0.0, 0.0)
    assert ci["f1"] == (0.0, 0.0)


def test_f1_is_0_not_undefined_when_every_cancer_is_missed() -> None:
    """No case called malignant: precision is undefined (NaN) but recall and F1 are 0."""
    ci = bootstrap_ci([1, 1, 1], [0, 0, 0], n_resamples=100, seed=0)
    assert math.isnan(ci["precision"][0]) and math.isnan(ci["precision"][1])
    assert ci["recall"] == (0.0, 0.0)
    assert ci["f1"] == (0.0, 0.0)
    assert ci["accuracy"] == (0.0, 0.0)


def test_a_single_case_is_enough() -> None:
    ci = bootstrap_ci([1], [1], n_resamples=10)
    assert all(ci[name] == (1.0, 1.0) for name in BOOTSTRAP_METRICS)


def test_undefined_resamples_raise_no_numpy_warning() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ci = bootstrap_ci([1, 0, 0, 0], [0, 0, 0, 0], n_resamples=50, seed=0)
    assert math.isnan(ci["precision"][0])


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"n_resamples": 0}, "n_resamples must be >= 1"),
        ({"n_resamples": -3}, "n_resamples must be >= 1"),
        ({"level": 0.0}, "level must be in (0, 1)"),
        ({"level": 1.0}, "level must be in (0, 1)"),
    ],
)
def test_bad_arguments_are_refused_with_the_rule(kwargs: dict[str, float], message: str) -> None:
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        bootstrap_ci([1, 0], [1, 0], **kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize(("y", "pred"), [([], []), ([1, 0], [1]), ([1], [1, 0])])
def test_empty_or_mismatched_inputs_are_refused_with_the_rule(
    y: list[int], pred: list[int]
) -> None:
    message = "y_true and y_pred must be non-empty and of the same length"
    with pytest.raises(ValueError, match=f"^{message}$"):
        bootstrap_ci(y, pred)
