"""Rows in, predictions out: the one scoring implementation behind the API, batch and Spark.

``proba_function`` turns a fitted pipeline into a function from an ``(n, 30)`` float array in
:data:`~breast_cancer_ml.domain.schema.FEATURES` order to malignancy probabilities. For
StandardScaler + a linear model it is the same arithmetic scikit-learn does, written as three
numpy operations, which skips scikit-learn's per-call input validation (most of the cost of
scoring one row). Other pipelines fall back to ``predict_proba``. Callers validate inputs
(finite, non-negative, 30 columns) before scoring.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

import numpy as np
from numpy.typing import NDArray

from breast_cancer_ml.domain.decision import DEFAULT_THRESHOLD, classify, classify_one
from breast_cancer_ml.domain.schema import CLASS_NAMES, MALIGNANT
from breast_cancer_ml.errors import NonFiniteProbabilityError

ProbaFn = Callable[[NDArray[np.float64]], NDArray[np.float64]]


def proba_function(pipeline: Any) -> ProbaFn:
    """A function ``X -> P(malignant)`` equivalent to ``pipeline.predict_proba(X)[:, 1]``."""
    classes = np.asarray(getattr(pipeline, "classes_", [])).tolist()  # [0, 1], not np.int64s
    if classes != [0, 1]:
        raise ValueError(f"expected a binary classifier with classes [0, 1]; got {classes}")
    fast = _linear_fast_path(pipeline)
    if fast is not None:
        return fast

    def generic(X: NDArray[np.float64]) -> NDArray[np.float64]:
        return np.asarray(pipeline.predict_proba(X)[:, 1], dtype=np.float64)

    return generic


@dataclass(frozen=True)
class LinearTerms:
    """A StandardScaler + LogisticRegression pipeline as numbers: the log-odds of a case ``x``
    is ``intercept + sum(coef * (x - mean) / scale)``."""

    coef: NDArray[np.float64]
    intercept: float
    mean: NDArray[np.float64]
    scale: NDArray[np.float64]


def linear_terms(pipeline: Any) -> LinearTerms | None:
    """The terms of ``pipeline`` when it is exactly [StandardScaler, LogisticRegression] (the
    registry's ``logreg``), else ``None``."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    if not isinstance(pipeline, Pipeline) or len(pipeline.steps) != 2:
        return None
    scaler, model = pipeline.steps[0][1], pipeline.steps[1][1]
    if not (isinstance(scaler, StandardScaler) and type(model) is LogisticRegression):
        return None
    n = len(model.coef_[0])
    mean = np.asarray(scaler.mean_ if scaler.with_mean else np.zeros(n), dtype=np.float64)
    scale = np.asarray(scaler.scale_ if scaler.with_std else np.ones(n), dtype=np.float64)
    return LinearTerms(
        coef=np.asarray(model.coef_[0], dtype=np.float64),
        intercept=float(model.intercept_[0]),
        mean=mean,
        scale=scale,
    )


def _linear_fast_path(pipeline: Any) -> ProbaFn | None:
    terms = linear_terms(pipeline)
    if terms is None:
        return None
    # Fold the scaler into the linear model: w . (x - m) / s + b = (w / s) . x + (b - w . m / s)
    coef = terms.coef / terms.scale
    intercept = float(terms.intercept - np.sum(coef * terms.mean))

    from scipy.special import expit  # loaded with scikit-learn already

    def linear(X: NDArray[np.float64]) -> NDArray[np.float64]:
        # the logistic sigmoid scikit-learn applies (expit: stable for large |z|); one ufunc,
        # which matters when scoring a single row
        return np.asarray(expit(X @ coef + intercept))  # float64, as X and coef are

    return linear


#: ``(low, high)``: a probability at or beyond either is "high" (``_HIGH``) or at least "medium".
_HIGH = (0.2, 0.8)
_MEDIUM = (0.4, 0.6)
#: The confidence levels, indexed by :func:`confidence_index`.
CONFIDENCE_LEVELS: Final = ("low", "medium", "high")


def confidence(probability: float, in_distribution: bool = True) -> str:
    """``"high"`` if p >= 0.8 or p <= 0.2, ``"medium"`` if p >= 0.6 or p <= 0.4, else ``"low"``.

    A case outside the model's plausibility envelope (``in_distribution=False``, see
    :class:`~breast_cancer_ml.domain.contract.Envelope`) is always ``"low"``: the model has seen
    no case like it, so however extreme its probability, it cannot know.
    """
    if not in_distribution:
        return "low"
    if probability <= _HIGH[0] or probability >= _HIGH[1]:
        return "high"
    if probability <= _MEDIUM[0] or probability >= _MEDIUM[1]:
        return "medium"
    return "low"


def confidence_index(
    probability: NDArray[np.float64], in_distribution: NDArray[np.bool_]
) -> NDArray[np.int8]:
    """:func:`confidence` for many rows at once, as indices into :data:`CONFIDENCE_LEVELS`."""
    p = np.asarray(probability, dtype=np.float64)
    high = (p <= _HIGH[0]) | (p >= _HIGH[1])
    medium = (p <= _MEDIUM[0]) | (p >= _MEDIUM[1])
    level = np.where(high, 2, np.where(medium, 1, 0))
    return np.asarray(np.where(in_distribution, level, 0), dtype=np.int8)


@dataclass(frozen=True)
class Scored:
    """Probabilities of malignancy and the 0/1 predictions at ``threshold``."""

    probability: NDArray[np.float64]
    prediction: NDArray[np.int64]
    threshold: float

    def records(self) -> list[dict[str, Any]]:
        """One dict per row: prediction, prediction_label, probability, confidence."""
        return [
            {
                "prediction": int(pred),
                "prediction_label": CLASS_NAMES[int(pred)],
                "probability": float(p),
                "confidence": confidence(float(p)),
            }
            for p, pred in zip(self.probability.tolist(), self.prediction.tolist(), strict=True)
        ]


def score_one(
    proba: ProbaFn, x: NDArray[np.float64], threshold: float = DEFAULT_THRESHOLD
) -> tuple[float, int]:
    """``(probability, prediction)`` of one validated case ``x`` (a ``(1, 30)`` array): the
    same rule and the same guard as :func:`score`, at a fraction of its cost for one row."""
    p = float(proba(x)[0])
    if not math.isfinite(p):
        raise NonFiniteProbabilityError(
            f"the model gave a non-finite probability ({p}) for the case; no answer given"
        )
    return p, classify_one(p, threshold)


def score(proba: ProbaFn, X: NDArray[np.float64], threshold: float = DEFAULT_THRESHOLD) -> Scored:
    """Score validated rows ``X`` (features in FEATURES order)."""
    p = proba(X)
    if not np.isfinite(p).all():
        # the contract's hard bounds keep this from happening with every registry model; a
        # model that still gives a NaN is broken, and no NaN ever leaves as an answer
        bad = int(np.flatnonzero(~np.isfinite(p))[0])
        raise NonFiniteProbabilityError(
            f"the model gave a non-finite probability ({p[bad]}) for row {bad}; no answer given"
        )
    return Scored(probability=p, prediction=classify(p, threshold), threshold=threshold)


__all__ = [
    "CONFIDENCE_LEVELS",
    "MALIGNANT",
    "LinearTerms",
    "ProbaFn",
    "Scored",
    "confidence",
    "confidence_index",
    "linear_terms",
    "proba_function",
    "score",
    "score_one",
]
