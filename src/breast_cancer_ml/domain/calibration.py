"""Calibration of the malignancy probability: does "30% malignant" come true 30% of the time?

Four numbers and one curve, each computed on ``y_true`` (1 = malignant) and ``proba`` (the
model's probability of malignancy), for the out-of-fold CV predictions or for the test split:

- Brier score (:func:`breast_cancer_ml.domain.metrics.brier`): mean squared error of the
  probability (0 is perfect).
- :func:`expected_calibration_error`: **10 equal-width bins on the probability of malignant**
  (bin ``k`` holds ``floor(10 * p) == k``, with ``p == 1.0`` in the last bin), the absolute gap
  between the bin's observed malignant fraction and its mean probability, **weighted by the
  bin's share of the cases**. Empty bins weigh nothing.
- :func:`calibration_slope` and :func:`calibration_intercept`: a logistic recalibration of the
  outcome on the model's logit ``logit(p)`` (Cox 1958; Van Calster et al. 2016, "A calibration
  hierarchy for risk models"). The **slope** is ``b`` in ``logit P(y=1) = a + b * logit(p)``
  (1 is ideal; below 1 the probabilities are too extreme). The **intercept** is
  *calibration-in-the-large*: ``a`` in ``logit P(y=1) = a + 1 * logit(p)``, the slope fixed at 1
  as an offset (0 is ideal; below 0 the model over-predicts malignancy on average). Both are
  maximum-likelihood fits by Newton's method, in numpy.
- :func:`reliability_curve`: per non-empty bin, the mean probability, the observed fraction and
  the count: the data of a reliability diagram.

Probabilities of exactly 0 or 1 have an infinite logit; they are clipped to
``[LOGIT_EPS, 1 - LOGIT_EPS]`` before the recalibration fits (and only there).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Final

import numpy as np
from numpy.typing import ArrayLike, NDArray

from breast_cancer_ml.domain.metrics import brier
from breast_cancer_ml.domain.schema import POSITIVE_CLASS

#: Number of equal-width probability bins of the ECE and the reliability curve.
N_BINS: Final = 10
#: Probabilities are clipped to [LOGIT_EPS, 1 - LOGIT_EPS] before taking the logit.
LOGIT_EPS: Final = 1e-12
#: Newton's method stops when no parameter moves by more than this, or after _MAX_ITER steps.
_TOLERANCE: Final = 1e-10  # pragma: no mutate (any tiny tolerance converges to the same fit)
_MAX_ITER: Final = 100  # pragma: no mutate (a safety cap; Newton converges in a few steps)


def _inputs(y_true: ArrayLike, proba: ArrayLike) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Outcome as 0./1. (1 = malignant) and the probability, checked: 1-D, one length, non-empty,
    probabilities finite and within [0, 1]."""
    t = np.asarray(y_true)
    p = np.asarray(proba, dtype=np.float64)
    if t.ndim != 1 or t.shape != p.shape or t.size == 0:
        raise ValueError(
            f"y_true and proba must be 1-D, non-empty and of one length; got {t.shape}, {p.shape}"
        )
    if not np.isfinite(p).all() or p.min() < 0 or p.max() > 1:
        raise ValueError("proba must hold finite probabilities within [0, 1]")
    return (t == POSITIVE_CLASS).astype(np.float64), p


def _bins(p: NDArray[np.float64], n_bins: int) -> NDArray[np.int64]:
    # floor(n_bins * p), with p == 1.0 kept in the last bin instead of a bin of its own
    return np.minimum((p * n_bins).astype(np.int64), n_bins - 1)


@dataclass(frozen=True, slots=True)
class ReliabilityCurve:
    """One point per non-empty bin, in increasing probability order (a reliability diagram)."""

    #: Lower edge of each bin (``k / n_bins``).
    bin_lower: tuple[float, ...]
    #: Mean predicted probability of malignancy of the bin's cases.
    mean_predicted: tuple[float, ...]
    #: Fraction of the bin's cases that are malignant.
    observed: tuple[float, ...]
    #: Number of cases in the bin.
    count: tuple[int, ...]


def reliability_curve(
    y_true: ArrayLike, proba: ArrayLike, n_bins: int = N_BINS
) -> ReliabilityCurve:
    """Mean probability, observed malignant fraction and count of each non-empty bin of
    ``n_bins`` equal-width bins on the probability of malignancy."""
    if n_bins < 1:
        raise ValueError(f"n_bins must be >= 1; got {n_bins}")
    y, p = _inputs(y_true, proba)
    b = _bins(p, n_bins)
    count = np.bincount(b, minlength=n_bins)
    sum_p = np.bincount(b, weights=p, minlength=n_bins)
    sum_y = np.bincount(b, weights=y, minlength=n_bins)
    used = np.flatnonzero(count)
    return ReliabilityCurve(
        bin_lower=tuple(float(k / n_bins) for k in used),
        mean_predicted=tuple(float(v) for v in sum_p[used] / count[used]),
        observed=tuple(float(v) for v in sum_y[used] / count[used]),
        count=tuple(int(c) for c in count[used]),
    )


def expected_calibration_error(y_true: ArrayLike, proba: ArrayLike, n_bins: int = N_BINS) -> float:
    """ECE: ``sum_k (n_k / n) * |observed_k - mean_predicted_k|`` over the equal-width bins of
    the probability of malignancy (see the module docstring for the binning)."""
    curve = reliability_curve(y_true, proba, n_bins)
    count = np.asarray(curve.count, dtype=np.float64)
    gap = np.abs(np.asarray(curve.observed) - np.asarray(curve.mean_predicted))
    return float(np.sum(count * gap) / count.sum())


def _logit(p: NDArray[np.float64]) -> NDArray[np.float64]:
    q = np.clip(p, LOGIT_EPS, 1 - LOGIT_EPS)
    return np.asarray(np.log(q / (1 - q)))


def _sigmoid(z: NDArray[np.float64]) -> NDArray[np.float64]:
    return np.asarray(0.5 * (1 + np.tanh(0.5 * z)))  # overflow-free logistic function


def _both_outcomes(y: NDArray[np.float64]) -> bool:
    return bool(0 < y.sum() < y.size)


def calibration_intercept(y_true: ArrayLike, proba: ArrayLike) -> float:
    """Calibration-in-the-large: ``a`` of ``logit P(y=1) = a + logit(p)`` (slope fixed at 1).

    The maximum-likelihood ``a`` solves ``sum(y) = sum(sigmoid(a + logit(p)))``: after shifting
    every logit by ``a``, the expected number of malignant cases equals the observed one. 0 is
    ideal; negative means the model over-predicts malignancy. NaN when the cases are all of one
    class (the fit has no finite solution).
    """
    y, p = _inputs(y_true, proba)
    if not _both_outcomes(y):
        return math.nan
    z = _logit(p)
    a = 0.0
    for _ in range(_MAX_ITER):
        mu = _sigmoid(a + z)
        curvature = float(np.sum(mu * (1 - mu)))
        if curvature == 0:  # every p saturated at 0 or 1 (a tree's pure leaves): no finite fit
            return math.nan
        step = float(np.sum(y - mu)) / curvature
        a += step
        if abs(step) < _TOLERANCE:
            break
    return a


def calibration_slope(y_true: ArrayLike, proba: ArrayLike) -> float:
    """``b`` of the logistic recalibration ``logit P(y=1) = a + b * logit(p)``, fitted with its own
    intercept ``a`` by maximum likelihood (Newton's method with step halving).

    1 is ideal; below 1 the probabilities are too extreme (typical of overfitting), above 1 too
    timid. NaN when the fit has no finite solution: the cases are all of one class, or the logits
    separate the classes (every malignant logit at or above every benign one: the likelihood
    keeps rising as ``b`` grows), or Newton's method meets a singular curvature.
    """
    y, p = _inputs(y_true, proba)
    if not _both_outcomes(y):
        return math.nan
    z = _logit(p)
    if z[y == 0].max() <= z[y == 1].min():
        return math.nan
    try:
        return float(_fit_logistic(z, y)[1])
    except np.linalg.LinAlgError:
        return math.nan


def _log_likelihood(
    beta: NDArray[np.float64], X: NDArray[np.float64], y: NDArray[np.float64]
) -> float:
    eta = X @ beta
    # log(1 + e^eta) computed without overflow
    return float(np.sum(y * eta - np.logaddexp(0.0, eta)))


def _fit_logistic(z: NDArray[np.float64], y: NDArray[np.float64]) -> NDArray[np.float64]:
    """Maximum-likelihood ``(a, b)`` of ``P(y=1) = sigmoid(a + b z)``, from ``(0, 1)`` (the
    perfectly calibrated model) by Newton steps, each halved until the likelihood does not drop."""
    X = np.column_stack([np.ones_like(z), z])
    beta = np.array([0.0, 1.0])
    current = _log_likelihood(beta, X, y)
    for _ in range(_MAX_ITER):
        mu = _sigmoid(X @ beta)
        gradient = X.T @ (y - mu)
        hessian = (X * (mu * (1 - mu))[:, None]).T @ X
        step = np.linalg.solve(hessian, gradient)
        while True:
            candidate = beta + step
            value = _log_likelihood(candidate, X, y)
            if value >= current or np.max(np.abs(step)) < _TOLERANCE:
                break
            step = step / 2
        beta, current = candidate, value
        if np.max(np.abs(step)) < _TOLERANCE:
            break
    return beta


@dataclass(frozen=True, slots=True)
class CalibrationSummary:
    """The calibration numbers of one set of predictions (see the module docstring)."""

    brier: float
    ece: float
    slope: float
    intercept: float
    curve: ReliabilityCurve


def calibration_summary(y_true: ArrayLike, proba: ArrayLike) -> CalibrationSummary:
    """Brier, ECE (10 equal-width bins), calibration slope and intercept, and the curve."""
    _inputs(y_true, proba)  # the same checks as the other numbers, before scikit-learn's
    return CalibrationSummary(
        brier=brier(y_true, proba),
        ece=expected_calibration_error(y_true, proba),
        slope=calibration_slope(y_true, proba),
        intercept=calibration_intercept(y_true, proba),
        curve=reliability_curve(y_true, proba),
    )
