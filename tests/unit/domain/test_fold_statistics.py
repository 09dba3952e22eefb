"""Per-fold metrics and their summaries: each metric's value on a hand-checkable case, and the
sample std of two folds is a number (one fold is the only NaN)."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest

from breast_cancer_ml.domain.folds import stratified_folds
from breast_cancer_ml.domain.metrics import (
    COMPARE_METRICS,
    brier,
    classification_metrics,
    evaluation_metrics,
    pr_auc,
    specificity,
    summarize_folds,
)


def test_the_std_of_two_folds_is_the_sample_std() -> None:
    s = summarize_folds([{"recall": 0.75, "f1": 0.5}, {"recall": 1.0, "f1": 0.5}])
    assert s["recall_mean"] == 0.875
    assert s["recall_std"] == pytest.approx(0.25 / math.sqrt(2))
    assert s["f1_std"] == 0.0
    assert list(s) == ["recall_mean", "recall_std", "f1_mean", "f1_std"]


def test_pr_auc_is_the_average_precision_of_the_malignant_class() -> None:
    y = np.array([0, 0, 1, 1])
    # ranked 0.8 (M), 0.4 (B), 0.35 (M), 0.1 (B): precision 1 at recall 0.5, 2/3 at recall 1
    assert pr_auc(y, np.array([0.1, 0.4, 0.35, 0.8])) == pytest.approx((1 + 2 / 3) / 2)
    assert pr_auc(y, np.array([0.1, 0.2, 0.8, 0.9])) == 1.0


def test_brier_is_the_mean_squared_error_of_the_malignancy_probability() -> None:
    y = np.array([0, 1, 1, 0])
    p = np.array([0.1, 0.9, 0.8, 0.3])
    assert brier(y, p) == pytest.approx((0.01 + 0.01 + 0.04 + 0.09) / 4)
    # malignant is the positive class: the probability is of malignancy, not of benign
    assert brier(np.array([1]), np.array([1.0])) == 0.0
    assert brier(np.array([1]), np.array([0.0])) == 1.0


def test_specificity_is_the_recall_of_the_benign_class() -> None:
    assert specificity(np.array([1, 0, 0, 0]), np.array([1, 1, 0, 0])) == pytest.approx(2 / 3)
    assert specificity(np.array([0, 0]), np.array([0, 0])) == 1.0
    assert math.isnan(specificity(np.array([1, 1]), np.array([1, 0])))


def test_evaluation_metrics_gives_every_compare_metric_in_order() -> None:
    y = np.array([1, 1, 0, 0, 0])
    pred = np.array([1, 0, 1, 0, 0])
    score = np.array([0.9, 0.4, 0.6, 0.2, 0.1])
    m = evaluation_metrics(y, pred, score)
    assert tuple(m) == COMPARE_METRICS
    assert m == {
        "accuracy": pytest.approx(3 / 5),
        "precision": pytest.approx(1 / 2),
        "recall": pytest.approx(1 / 2),
        "specificity": pytest.approx(2 / 3),
        "f1": pytest.approx(1 / 2),
        "roc_auc": pytest.approx(5 / 6),
        "pr_auc": pytest.approx(pr_auc(y, score)),
        "brier": pytest.approx((0.01 + 0.36 + 0.36 + 0.04 + 0.01) / 5),
    }
    assert m["pr_auc"] == pytest.approx((1 + 2 / 3) / 2)


def test_undefined_numbers_are_nan_by_the_rules_without_numpy_or_sklearn_warnings() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert math.isnan(summarize_folds([{"recall": 1.0}])["recall_std"])
        assert math.isnan(specificity(np.array([1, 1]), np.array([1, 0])))
        # a model that never says malignant: precision and F1 are 0 by our rule, not warned
        m = classification_metrics(np.array([1, 0, 0]), np.array([0, 0, 0]))
    assert (m["precision"], m["recall"], m["f1"]) == (0.0, 0.0, 0.0)


def test_a_fold_without_a_malignant_case_scores_zero_quietly() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # recall and F1 are 0/0 here: 0 by our rule, not warned
        m = classification_metrics(np.array([0, 0, 0]), np.array([0, 0, 0]))
    assert (m["accuracy"], m["precision"], m["recall"], m["f1"]) == (1.0, 0.0, 0.0, 0.0)


def test_no_fold_is_an_error() -> None:
    with pytest.raises(ValueError, match=r"^summarize_folds needs at least one fold$"):
        summarize_folds([])


def test_repeat_r_is_stratified_kfold_with_seed_plus_r() -> None:
    from sklearn.model_selection import StratifiedKFold

    y = np.array([0, 1] * 15)
    folds = stratified_folds(y, 3, 3, seed=5)
    assert [(f.repeat, f.index) for f in folds] == [(r, i) for r in range(3) for i in range(3)]
    for r in range(3):
        splitter = StratifiedKFold(n_splits=3, shuffle=True, random_state=5 + r)
        expected = [test.tolist() for _, test in splitter.split(np.zeros((30, 1)), y)]
        assert [f.test.tolist() for f in folds if f.repeat == r] == expected
