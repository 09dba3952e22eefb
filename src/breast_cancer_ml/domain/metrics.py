"""Classification metrics with **malignant (1) as the positive class**, and fold summaries."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping

import numpy as np
from numpy.typing import ArrayLike
from sklearn.metrics import (
    accuracy_score,
    f1_score,
    precision_score,
    recall_score,
    roc_auc_score,
)

from breast_cancer_ml.domain.schema import POSITIVE_CLASS

CV_METRICS = ("accuracy", "precision", "recall", "f1")
TEST_METRICS = (*CV_METRICS, "roc_auc")


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


def summarize_folds(per_fold: Iterable[Mapping[str, float]]) -> dict[str, float]:
    """``{name}_mean`` and ``{name}_std`` over folds. The std is the sample std (ddof=1)."""
    folds = list(per_fold)
    if not folds:
        raise ValueError("summarize_folds needs at least one fold")
    out: dict[str, float] = {}
    for name in folds[0]:
        values = np.array([fold[name] for fold in folds], dtype=float)
        out[f"{name}_mean"] = float(values.mean())
        out[f"{name}_std"] = float(values.std(ddof=1)) if len(values) > 1 else math.nan
    return out
