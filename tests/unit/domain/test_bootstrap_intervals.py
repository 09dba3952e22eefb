"""The vectorised bootstrap equals the plain loop over resamples with scikit-learn's metrics, and
is fast enough to run on every training."""

from __future__ import annotations

import math
import time

import numpy as np
import pytest
from sklearn.metrics import (
    accuracy_score,
    brier_score_loss,
    f1_score,
    precision_score,
    recall_score,
    roc_auc_score,
)

from breast_cancer_ml.domain.bootstrap import (
    DEFAULT_LEVEL,
    DEFAULT_RESAMPLES,
    INTERVAL_METRICS,
    bootstrap_intervals,
    fold_mean_interval,
    fold_mean_intervals,
    percentile_interval,
    resample_counts,
)

#: 16 cases with every outcome and tied scores across the classes.
Y = np.array([1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1])
SCORE = np.array([0.9, 0.8, 0.7, 0.7, 0.3, 0.2, 0.7, 0.6, 0.3, 0.3, 0.1, 0.1, 0.05, 0.5, 0.0, 1.0])
PRED = (SCORE >= 0.5).astype(int)


def _sklearn(name: str, y: np.ndarray, pred: np.ndarray, score: np.ndarray) -> float:
    """One resample's metric, NaN where undefined (the rows the interval leaves out)."""
    if name == "accuracy":
        return float(accuracy_score(y, pred))
    if name == "roc_auc":
        return float(roc_auc_score(y, score)) if len(set(y)) == 2 else math.nan
    if name == "brier":
        return float(brier_score_loss(y, score, pos_label=1))
    if name == "specificity":
        return float(recall_score(y, pred, pos_label=0, zero_division=np.nan))
    fn = {"precision": precision_score, "recall": recall_score, "f1": f1_score}[name]
    return float(fn(y, pred, pos_label=1, zero_division=np.nan))


def _loop(seed: int, n_resamples: int, level: float) -> dict[str, tuple[float, float]]:
    draws = np.random.default_rng(seed).integers(0, len(Y), size=(n_resamples, len(Y)))
    tail = (1 - level) / 2 * 100
    out = {}
    for name in INTERVAL_METRICS:
        values = np.array([_sklearn(name, Y[i], PRED[i], SCORE[i]) for i in draws])
        finite = values[~np.isnan(values)]
        low, high = np.percentile(finite, [tail, 100 - tail])
        out[name] = (float(low), float(high))
    return out


@pytest.mark.parametrize(("seed", "level"), [(0, 0.95), (3, 0.8)])
def test_every_interval_equals_the_loop_over_resamples_with_sklearn(
    seed: int, level: float
) -> None:
    got = bootstrap_intervals(Y, PRED, SCORE, n_resamples=80, seed=seed, level=level)
    want = _loop(seed, 80, level)
    assert list(got) == list(INTERVAL_METRICS)
    for name in INTERVAL_METRICS:
        assert got[name] == pytest.approx(want[name], abs=1e-12), name


def test_without_scores_there_is_no_auc_or_brier_interval() -> None:
    got = bootstrap_intervals(Y, PRED, n_resamples=50)
    assert list(got) == ["accuracy", "precision", "recall", "specificity", "f1"]


def test_auc_of_one_resample_counts_ties_as_one_half() -> None:
    # two malignant (0.5, 0.9), two benign (0.5, 0.1): pairs won 1 + 1 + 1 + tie 0.5 -> 3.5 / 4
    ci = bootstrap_intervals([1, 1, 0, 0], [1, 1, 0, 0], [0.5, 0.9, 0.5, 0.1], n_resamples=1)
    (rows,) = np.random.default_rng(0).integers(0, 4, size=(1, 4))
    y = np.array([1, 1, 0, 0])[rows]
    s = np.array([0.5, 0.9, 0.5, 0.1])[rows]
    expected = roc_auc_score(y, s) if len(set(y)) == 2 else math.nan
    assert ci["roc_auc"][0] == pytest.approx(expected, nan_ok=True)
    # the whole sample (every row once) gives the hand value 3.5 / 4
    full = np.ones((1, 4), dtype=np.int64)
    from breast_cancer_ml.domain.bootstrap import _weighted_auc

    assert _weighted_auc(
        full, np.array([True, True, False, False]), np.array([0.5, 0.9, 0.5, 0.1])
    )[0] == pytest.approx(3.5 / 4)


def test_resample_counts_are_the_seeded_draws_and_sum_to_n() -> None:
    counts = resample_counts(5, 3, seed=9)
    draws = np.random.default_rng(9).integers(0, 5, size=(3, 5))
    assert counts.shape == (3, 5)
    for row, drawn in zip(counts, draws, strict=True):
        assert row.tolist() == np.bincount(drawn, minlength=5).tolist()
    assert counts.sum(axis=1).tolist() == [5, 5, 5]


def test_the_defaults_are_2000_percentile_resamples_at_95_percent() -> None:
    assert DEFAULT_RESAMPLES == 2000
    assert DEFAULT_LEVEL == 0.95
    assert bootstrap_intervals(Y, PRED, SCORE) == bootstrap_intervals(
        Y, PRED, SCORE, n_resamples=2000, seed=0, level=0.95
    )


def test_114_cases_and_2000_resamples_take_well_under_a_second() -> None:
    """The size of our test split: the bootstrap must not slow ``bcml train`` down."""
    rng = np.random.default_rng(1)
    y = rng.integers(0, 2, 114)
    score = np.clip(y * 0.6 + rng.normal(0.2, 0.2, 114), 0, 1)
    best = math.inf
    for _ in range(3):  # best of three: the machine is shared
        start = time.perf_counter()
        bootstrap_intervals(y, (score >= 0.5).astype(int), score)
        best = min(best, time.perf_counter() - start)
    assert best < 0.3


def test_a_perfect_split_has_zero_width_intervals() -> None:
    y = np.array([0, 1, 0, 1, 1])
    ci = bootstrap_intervals(y, y, y.astype(float), n_resamples=200)
    assert ci["accuracy"] == (1.0, 1.0)
    assert ci["specificity"] == (1.0, 1.0)
    assert ci["roc_auc"] == (1.0, 1.0)
    assert ci["brier"] == (0.0, 0.0)


def test_specificity_is_the_benign_recall() -> None:
    # 4 benign, 1 called malignant: every resample's specificity is (#draws of the 3) / (#benign)
    y = [0, 0, 0, 0]
    ci = bootstrap_intervals(y, [0, 0, 0, 1], n_resamples=2000, seed=0)
    assert ci["specificity"] == (0.25, 1.0)  # as recall in test_bootstrap_ci's hand example
    assert all(math.isnan(v) for v in ci["roc_auc" if "roc_auc" in ci else "recall"])


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"n_resamples": 0}, "n_resamples"),
        ({"level": 0.0}, "level"),
        ({"y_score": [0.1, math.nan]}, "finite"),
        ({"y_score": [0.1]}, "one finite score per case"),
    ],
)
def test_bad_settings_and_scores_are_refused(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        bootstrap_intervals([1, 0], [1, 0], **kwargs)  # type: ignore[arg-type]


def test_fold_mean_interval_is_the_percentile_of_resampled_fold_means() -> None:
    folds = np.array([0.9, 0.95, 1.0, 0.85, 0.97])
    idx = np.random.default_rng(4).integers(0, 5, size=(300, 5))
    want = np.percentile(folds[idx].mean(axis=1), [2.5, 97.5])
    assert fold_mean_interval(folds, n_resamples=300, seed=4) == pytest.approx(tuple(want))


def test_identical_folds_give_a_zero_width_interval_and_one_fold_too() -> None:
    assert fold_mean_interval([0.9, 0.9, 0.9]) == pytest.approx((0.9, 0.9))
    assert fold_mean_interval([0.7]) == pytest.approx((0.7, 0.7))


def test_fold_intervals_share_the_resamples_and_skip_undefined_folds() -> None:
    per_fold = [
        {"recall": 1.0, "specificity": math.nan},
        {"recall": 0.8, "specificity": 0.9},
        {"recall": 0.9, "specificity": 0.9},
    ]
    ci = fold_mean_intervals(per_fold, n_resamples=500, seed=2)
    assert ci["specificity"] == pytest.approx((0.9, 0.9))  # the NaN fold is left out
    low, high = ci["recall"]
    assert 0.8 <= low < high <= 1.0
    assert math.isnan(fold_mean_interval([math.nan, math.nan])[0])
    with pytest.raises(ValueError, match="at least one fold"):
        fold_mean_intervals([])


def test_percentile_interval_of_nothing_finite_is_nan() -> None:
    assert all(math.isnan(v) for v in percentile_interval(np.array([math.nan])))
    assert percentile_interval(np.arange(101.0), level=0.9) == pytest.approx((5.0, 95.0))
