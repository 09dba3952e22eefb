"""Seeded percentile-bootstrap confidence intervals, vectorised over the resamples.

**Test split** (:func:`bootstrap_intervals`): ``n_resamples`` (default 2,000) resamples of the
``n`` rows, drawn with replacement as one index matrix
``numpy.random.default_rng(seed).integers(0, n, (n_resamples, n))``. Each resample is turned into
a count per original row (how often it was drawn), and every metric of every resample is a
weighted sum over the original rows: one matrix product or cumulative sum for all resamples, no
Python loop per resample. The interval is the **percentile method**: the ``(1 - level) / 2`` and
``(1 + level) / 2`` percentiles (numpy's default linear interpolation) of the resampled values.
A resample where a metric is undefined (recall without a malignant case, precision with nothing
called malignant, ROC AUC without both classes) is left out of that metric's interval rather
than counted as 0; the bounds are NaN only when no resample defines it.

ROC AUC per resample is the Mann-Whitney statistic: the share of (malignant, benign) pairs where
the malignant case scores higher, ties counting one half, with each pair weighted by how often
both rows were drawn. It equals scikit-learn's ``roc_auc_score`` on the resampled rows.

**CV means** (:func:`fold_mean_intervals`): the per-fold values are resampled (folds, with
replacement; one index matrix shared by all metrics) and the interval is the percentile interval
of the resampled means. Folds share training rows, so this interval is a description of the
spread over folds, somewhat narrower than a true sampling interval (Bengio & Grandvalet 2004:
no unbiased variance estimator of k-fold CV exists).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Final

import numpy as np
from numpy.typing import ArrayLike, NDArray

from breast_cancer_ml.domain.schema import POSITIVE_CLASS

#: The test-split metrics given an interval, in this order; the last two need scores.
INTERVAL_METRICS: Final = (
    "accuracy",
    "precision",
    "recall",
    "specificity",
    "f1",
    "roc_auc",
    "brier",
)
DEFAULT_RESAMPLES: Final = 2000
DEFAULT_LEVEL: Final = 0.95

Interval = tuple[float, float]


def _check_settings(n_resamples: int, level: float) -> None:
    if n_resamples < 1:
        raise ValueError("n_resamples must be >= 1")
    if not 0 < level < 1:
        raise ValueError("level must be in (0, 1)")


def resample_counts(n: int, n_resamples: int, seed: int) -> NDArray[np.int64]:
    """``(n_resamples, n)``: how often each of ``n`` rows is drawn in each seeded resample
    (the rows of ``default_rng(seed).integers(0, n, (n_resamples, n))``)."""
    # row indices drawn uniformly from [0, n): integers(n) is integers(0, n)
    idx = np.random.default_rng(seed).integers(n, size=(n_resamples, n))
    offsets = (np.arange(n_resamples) * n)[:, None]
    counts = np.bincount((idx + offsets).ravel(), minlength=n_resamples * n)
    return counts.reshape(n_resamples, n).astype(np.int64)


def percentile_interval(values: NDArray[np.float64], level: float = DEFAULT_LEVEL) -> Interval:
    """The percentile interval of the finite ``values`` (NaN bounds if there is none)."""
    finite = values[~np.isnan(values)]
    if finite.size == 0:
        return (math.nan, math.nan)
    tail = (1 - level) / 2 * 100
    low, high = np.percentile(finite, [tail, 100 - tail])
    return (float(low), float(high))


def _weighted_auc(
    counts: NDArray[np.int64], malignant: NDArray[np.bool_], score: NDArray[np.float64]
) -> NDArray[np.float64]:
    """Mann-Whitney AUC of every resample, from the draw counts (ties count one half)."""
    order = np.argsort(score, kind="stable")
    s = score[order]
    starts = np.flatnonzero(np.r_[True, s[1:] != s[:-1]])  # first row of each distinct score
    w = counts[:, order]
    pos = np.add.reduceat(w * malignant[order], starts, axis=1)  # (resamples, distinct scores)
    neg = np.add.reduceat(w * ~malignant[order], starts, axis=1)
    neg_below = np.cumsum(neg, axis=1) - neg
    wins = np.sum(pos * (neg_below + 0.5 * neg), axis=1)
    pairs = pos.sum(axis=1) * neg.sum(axis=1)
    with np.errstate(invalid="ignore"):
        return np.asarray(wins / pairs)


def bootstrap_intervals(
    y_true: ArrayLike,
    y_pred: ArrayLike,
    y_score: ArrayLike | None = None,
    *,
    n_resamples: int = DEFAULT_RESAMPLES,
    seed: int = 0,
    level: float = DEFAULT_LEVEL,
) -> dict[str, Interval]:
    """Percentile-bootstrap intervals of :data:`INTERVAL_METRICS` on one (test) split, malignant
    being the positive class; ``roc_auc`` and ``brier`` only when ``y_score`` (the probability
    of malignancy) is given. See the module docstring for the method."""
    _check_settings(n_resamples, level)
    t = np.asarray(y_true) == POSITIVE_CLASS
    p = np.asarray(y_pred) == POSITIVE_CLASS
    n = len(t)
    if n == 0 or len(p) != n or t.ndim != 1:
        raise ValueError("y_true and y_pred must be non-empty and of the same length")
    score = None
    if y_score is not None:
        score = np.asarray(y_score, dtype=np.float64)
        if score.shape != t.shape or not np.isfinite(score).all():
            raise ValueError("y_score must hold one finite score per case")
    w = resample_counts(n, n_resamples, seed)
    tp = w @ (t & p).astype(np.int64)
    fp = w @ (~t & p).astype(np.int64)
    fn = w @ (t & ~p).astype(np.int64)
    tn = n - tp - fp - fn
    # An undefined metric is 0 / 0, which is NaN (a numerator is never positive over a zero
    # denominator, so nothing divides by zero otherwise).
    with np.errstate(invalid="ignore"):
        values = {
            "accuracy": (tp + tn) / n,
            "precision": tp / (tp + fp),
            "recall": tp / (tp + fn),
            "specificity": tn / (tn + fp),
            "f1": 2 * tp / (2 * tp + fp + fn),
        }
    if score is not None:
        values["roc_auc"] = _weighted_auc(w, t, score)
        values["brier"] = (w @ (score - t) ** 2) / n
    return {
        name: percentile_interval(values[name], level)
        for name in INTERVAL_METRICS
        if name in values
    }


def fold_mean_interval(
    values: ArrayLike,
    *,
    n_resamples: int = DEFAULT_RESAMPLES,
    seed: int = 0,
    level: float = DEFAULT_LEVEL,
) -> Interval:
    """Percentile-bootstrap interval of the mean of per-fold values (NaN folds left out)."""
    return fold_mean_intervals(
        [{"value": float(v)} for v in np.asarray(values, dtype=np.float64).ravel()],
        n_resamples=n_resamples,
        seed=seed,
        level=level,
    )["value"]


def fold_mean_intervals(
    per_fold: Sequence[Mapping[str, float]],
    *,
    n_resamples: int = DEFAULT_RESAMPLES,
    seed: int = 0,
    level: float = DEFAULT_LEVEL,
) -> dict[str, Interval]:
    """``{metric: (low, high)}`` of the CV mean of each metric of ``per_fold`` (one mapping per
    fold, as :func:`~breast_cancer_ml.domain.metrics.summarize_folds` takes). The same fold
    resamples serve every metric. A fold where a metric is NaN (undefined) is left out of that
    metric's mean in each resample."""
    _check_settings(n_resamples, level)
    if not per_fold:
        raise ValueError("fold_mean_intervals needs at least one fold")
    k = len(per_fold)
    idx = np.random.default_rng(seed).integers(k, size=(n_resamples, k))
    out: dict[str, Interval] = {}
    for name in per_fold[0]:
        folds = np.array([fold[name] for fold in per_fold], dtype=np.float64)
        drawn = folds[idx]
        defined = ~np.isnan(drawn)
        n_defined = defined.sum(axis=1)
        with np.errstate(invalid="ignore"):
            means = np.where(defined, drawn, 0.0).sum(axis=1) / n_defined
        out[name] = percentile_interval(np.asarray(means, dtype=np.float64), level)
    return out
