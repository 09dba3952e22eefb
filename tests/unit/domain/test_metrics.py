from __future__ import annotations

import math

import numpy as np
import pytest

from breast_cancer_ml.domain.metrics import classification_metrics, summarize_folds


def test_metrics_treat_malignant_1_as_positive() -> None:
    # 4 malignant, 6 benign; the model finds 3 of the 4 malignant and raises 1 false alarm.
    y_true = np.array([1, 1, 1, 1, 0, 0, 0, 0, 0, 0])
    y_pred = np.array([1, 1, 1, 0, 1, 0, 0, 0, 0, 0])
    m = classification_metrics(y_true, y_pred)
    assert m["recall"] == pytest.approx(3 / 4)  # benign recall would be 5/6
    assert m["precision"] == pytest.approx(3 / 4)
    assert m["accuracy"] == pytest.approx(8 / 10)
    assert m["f1"] == pytest.approx(0.75)
    assert "roc_auc" not in m


def test_roc_auc_is_computed_from_malignancy_scores() -> None:
    y_true = np.array([0, 0, 1, 1])
    assert classification_metrics(y_true, y_true, np.array([0.1, 0.2, 0.8, 0.9]))[
        "roc_auc"
    ] == pytest.approx(1.0)
    # Scores that rank benign above malignant give AUC 0: the positive class is not inverted.
    assert classification_metrics(y_true, y_true, np.array([0.9, 0.8, 0.2, 0.1]))[
        "roc_auc"
    ] == pytest.approx(0.0)


def test_a_model_that_never_says_malignant_scores_zero_not_an_error() -> None:
    m = classification_metrics(np.array([1, 0, 0]), np.array([0, 0, 0]))
    assert m["recall"] == 0.0
    assert m["precision"] == 0.0


def test_fold_summary_uses_the_sample_std() -> None:
    folds = [{"recall": 0.9}, {"recall": 1.0}, {"recall": 0.95}]
    s = summarize_folds(folds)
    assert s["recall_mean"] == pytest.approx(0.95)
    assert s["recall_std"] == pytest.approx(np.std([0.9, 1.0, 0.95], ddof=1))
    assert s["recall_std"] != pytest.approx(np.std([0.9, 1.0, 0.95], ddof=0))


def test_fold_summary_of_one_fold_has_undefined_std() -> None:
    assert math.isnan(summarize_folds([{"recall": 1.0}])["recall_std"])
    with pytest.raises(ValueError, match="at least one fold"):
        summarize_folds([])
