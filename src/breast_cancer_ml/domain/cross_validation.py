"""Repeated stratified K-fold cross-validation of a pipeline, and its metrics at a threshold.

Shared by ``bcml train`` (the challenger's numbers) and the champion/challenger check (the
champion's configuration on the same folds): both sit above this layer, so neither imports
the other.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from breast_cancer_ml.domain.decision import DEFAULT_THRESHOLD, classify
from breast_cancer_ml.domain.folds import stratified_folds
from breast_cancer_ml.domain.metrics import classification_metrics, summarize_folds
from breast_cancer_ml.domain.models import build_pipeline


@dataclass(frozen=True)
class CVResult:
    """Per-fold metrics, their mean/std (ddof=1) and out-of-fold malignancy probabilities.

    With repeats, ``oof_proba`` is the mean over repeats; ``fold_test_idx``/``fold_proba``
    hold every fold's validation rows and their probabilities, in fold order.
    """

    folds: list[dict[str, float]]
    summary: dict[str, float]
    oof_proba: NDArray[np.float64]
    fold_test_idx: tuple[NDArray[np.int64], ...] = ()
    fold_proba: tuple[NDArray[np.float64], ...] = ()


def cross_validate(
    model: str,
    X: NDArray[np.float64],
    y: NDArray[np.int64],
    k_folds: int,
    seed: int,
    threshold: float = DEFAULT_THRESHOLD,
    repeats: int = 1,
    make_pipeline: Callable[[], Any] | None = None,
) -> CVResult:
    """Repeated stratified K-fold CV (:mod:`~breast_cancer_ml.domain.folds`) of a fresh
    pipeline per fold; metrics of the malignant class, ROC AUC included.

    ``make_pipeline`` builds the unfitted pipeline (default: the registry's ``model``); the
    champion/challenger check passes a clone of the champion's configuration.
    """
    build = make_pipeline or (lambda: build_pipeline(model, seed))
    oof = np.zeros(len(y), dtype=np.float64)
    test_idx: list[NDArray[np.int64]] = []
    probas: list[NDArray[np.float64]] = []
    for fold in stratified_folds(y, k_folds, repeats, seed):
        pipeline = build().fit(X[fold.train], y[fold.train])
        proba = np.asarray(pipeline.predict_proba(X[fold.test])[:, 1], dtype=np.float64)
        oof[fold.test] += proba / repeats
        test_idx.append(fold.test)
        probas.append(proba)
    return cv_at_threshold(CVResult([], {}, oof, tuple(test_idx), tuple(probas)), y, threshold)


def cv_at_threshold(cv: CVResult, y: NDArray[np.int64], threshold: float) -> CVResult:
    """The same CV predictions, with fold metrics recomputed at ``threshold``."""
    folds = [
        classification_metrics(y[idx], classify(proba, threshold), proba)
        for idx, proba in zip(cv.fold_test_idx, cv.fold_proba, strict=True)
    ]
    return CVResult(folds, summarize_folds(folds), cv.oof_proba, cv.fold_test_idx, cv.fold_proba)
