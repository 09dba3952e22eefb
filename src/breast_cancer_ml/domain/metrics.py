"""Classification metrics with **malignant (1) as the positive class**, and fold summaries."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping

import numpy as np
from numpy.typing import ArrayLike
from sklearn.metrics import (
    accuracy_score,
    average_precision_score,
    brier_score_loss,
    f1_score,
    precision_score,
    recall_score,
    roc_auc_score,
)

from breast_cancer_ml.domain.schema import POSITIVE_CLASS

#: What ``bcml compare`` reports per fold. Brier is a loss (lower is better); the rest gains.
COMPARE_METRICS = (
    "accuracy",
    "precision",
    "recall",
    "specificity",
    "f1",
    "roc_auc",
    "pr_auc",
    "brier",
)


def classification_metrics(
    y_true: ArrayLike, y_pred: ArrayLike, y_score: ArrayLike | None = None
) -> dict[str, float]:
    """Accuracy, precision, recall and F1 of the malignant class; ROC AUC when scores are given.

    Precision of a fold with no predicted malignant case is 0 (not an error): a model that
    never says "malignant" must not look good.
    """
    kw = {"pos_label": POSITIVE_CLASS, "zero_division": 0}
    out = {
        "accuracy": float(accuracy_score(y_true, y_pred)),
        "precision": float(precision_score(y_true, y_pred, **kw)),
        "recall": float(recall_score(y_true, y_pred, **kw)),
        "f1": float(f1_score(y_true, y_pred, **kw)),
    }
    if y_score is not None:
        out["roc_auc"] = float(roc_auc_score(y_true, y_score))
    return out


def specificity(y_true: ArrayLike, y_pred: ArrayLike) -> float:
    """Recall of the benign class: TN / (TN + FP). NaN when there is no benign case."""
    t = np.asarray(y_true)
    p = np.asarray(y_pred)
    negatives = t != POSITIVE_CLASS
    n = int(negatives.sum())
    return float(np.sum(negatives & (p != POSITIVE_CLASS)) / n) if n else math.nan


def pr_auc(y_true: ArrayLike, y_score: ArrayLike) -> float:
    """Area under the precision-recall curve of the malignant class (average precision)."""
    # pragma below: sklearn's default pos_label is 1 (POSITIVE_CLASS); kept to say which class.
    ap = average_precision_score(y_true, y_score, pos_label=POSITIVE_CLASS)  # pragma: no mutate
    return float(ap)


def brier(y_true: ArrayLike, y_score: ArrayLike) -> float:
    """Mean squared error of the malignancy probability (0 is perfect, lower is better)."""
    # pragma below: for 0/1 labels sklearn's default positive label is 1 (POSITIVE_CLASS).
    return float(brier_score_loss(y_true, y_score, pos_label=POSITIVE_CLASS))  # pragma: no mutate


def evaluation_metrics(
    y_true: ArrayLike, y_pred: ArrayLike, y_score: ArrayLike
) -> dict[str, float]:
    """Every metric of :data:`COMPARE_METRICS` for one fold, in that order."""
    out = classification_metrics(y_true, y_pred, y_score)
    out["specificity"] = specificity(y_true, y_pred)
    out["pr_auc"] = pr_auc(y_true, y_score)
    out["brier"] = brier(y_true, y_score)
    return {name: out[name] for name in COMPARE_METRICS}


def summarize_folds(per_fold: Iterable[Mapping[str, float]]) -> dict[str, float]:
    """``{name}_mean`` and ``{name}_std`` over folds. The std is the sample std (ddof=1)."""
    folds = list(per_fold)
    if not folds:
        raise ValueError("summarize_folds needs at least one fold")
    out: dict[str, float] = {}
    for name in folds[0]:
        # pragma below: the values are floats already; dtype=float only documents it.
        values = np.array([fold[name] for fold in folds], dtype=float)  # pragma: no mutate
        out[f"{name}_mean"] = float(values.mean())
        out[f"{name}_std"] = float(values.std(ddof=1)) if len(values) > 1 else math.nan
    return out
