"""Specificity, PR AUC and Brier (malignant = 1 positive) and the compare metric set."""

from __future__ import annotations

import math

import numpy as np
import pytest

from breast_cancer_ml.domain.metrics import (
    COMPARE_METRICS,
    brier,
    evaluation_metrics,
    pr_auc,
    specificity,
)


def test_specificity_is_benign_recall() -> None:
    y = np.array([0, 0, 0, 0, 1, 1])
    pred = np.array([0, 0, 0, 1, 1, 0])
    assert specificity(y, pred) == pytest.approx(0.75)
    assert math.isnan(specificity(np.array([1, 1]), np.array([1, 0])))


def test_pr_auc_and_brier_treat_malignant_as_positive() -> None:
    y = np.array([1, 1, 0, 0])
    perfect = np.array([0.9, 0.8, 0.2, 0.1])
    inverted = 1 - perfect
    assert pr_auc(y, perfect) == pytest.approx(1.0)
    assert pr_auc(y, inverted) < 0.6
    assert brier(y, perfect) == pytest.approx(np.mean([0.01, 0.04, 0.04, 0.01]))
    assert brier(y, inverted) > brier(y, perfect)


def test_evaluation_metrics_has_every_compare_metric_in_order() -> None:
    y = np.array([1, 0, 1, 0, 1])
    score = np.array([0.8, 0.3, 0.6, 0.7, 0.2])
    out = evaluation_metrics(y, (score >= 0.5).astype(int), score)
    assert tuple(out) == COMPARE_METRICS
    assert out["recall"] == pytest.approx(2 / 3)
    assert out["specificity"] == pytest.approx(0.5)
    assert out["precision"] == pytest.approx(2 / 3)
