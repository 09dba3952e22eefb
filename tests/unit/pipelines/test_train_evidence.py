"""The clinical evidence of `bcml train` (issue 12) computed from hand-made CV predictions."""

from __future__ import annotations

import math

import numpy as np
import pytest

from breast_cancer_ml.domain.conformal import evaluate, fit
from breast_cancer_ml.domain.cross_validation import CVResult
from breast_cancer_ml.domain.metrics import brier
from breast_cancer_ml.pipelines.train_evidence import (
    CV_CI_METRICS,
    TEST_CI_METRICS,
    fold_values,
    gather,
    pooled_oof,
    refer_rule,
)


def _cv(y: np.ndarray, proba: np.ndarray, k: int) -> CVResult:
    """A CV result whose fold ``f`` holds rows ``f, f + k, f + 2k, ...`` with ``proba``."""
    idx = tuple(np.arange(f, len(y), k) for f in range(k))
    folds = [{"accuracy": 1.0, "precision": 1.0, "recall": 1.0, "f1": 1.0, "roc_auc": 1.0}] * k
    return CVResult(folds, {}, proba, idx, tuple(proba[i] for i in idx))


def test_fold_values_add_each_folds_specificity_and_brier() -> None:
    y = np.array([1, 0, 0, 1, 0, 0])
    proba = np.array([0.9, 0.6, 0.2, 0.8, 0.1, 0.3])
    # fold 0: rows 0, 2, 4 (y 1, 0, 0); fold 1: rows 1, 3, 5 (y 0, 1, 0)
    values = fold_values(_cv(y, proba, 2), y, threshold=0.5)
    assert [set(v) for v in values] == [set(CV_CI_METRICS)] * 2
    assert values[0]["specificity"] == 1.0  # 0.2 and 0.1 are below 0.5
    assert values[1]["specificity"] == 0.5  # 0.6 is a false alarm, 0.3 is not
    assert values[0]["brier"] == pytest.approx((0.1**2 + 0.2**2 + 0.1**2) / 3)
    assert values[1]["brier"] == pytest.approx((0.6**2 + 0.2**2 + 0.3**2) / 3)
    assert values[1]["brier"] == pytest.approx(brier(y[[1, 3, 5]], proba[[1, 3, 5]]), abs=1e-15)


def test_pooled_predictions_follow_the_folds_rows() -> None:
    y = np.array([1, 0, 0, 1])
    proba = np.array([0.9, 0.6, 0.2, 0.4])
    oof = pooled_oof(_cv(y, proba, 2), y, threshold=0.5)
    assert oof.idx.tolist() == [0, 2, 1, 3]
    assert oof.y.tolist() == [1, 0, 0, 1]
    assert oof.pred.tolist() == [1, 0, 1, 0]


def _separable(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < 0.4).astype(np.int64)
    proba = np.clip(np.where(y == 1, 0.8, 0.2) + rng.normal(0, 0.15, n), 0, 1)
    return y, proba


def test_a_fixed_conformal_alpha_overrides_the_budget_and_reports_its_own_rate() -> None:
    y, proba = _separable(400, 1)
    oof = pooled_oof(_cv(y, proba, 4), y, threshold=0.5)
    rule = refer_rule(oof, max_refer_rate=0.0, conformal_alpha=0.1)
    assert rule.choice.params == fit(oof.y, oof.proba, 0.1)
    expected = evaluate(rule.choice.params, oof.y, oof.proba, prediction=oof.pred)
    assert rule.choice.refer_rate == expected.refer_rate > 0
    assert rule.choice.within_budget is False  # a budget of 0 is not met, and said so
    assert rule.how == "fixed by --conformal-alpha"


def test_without_a_fixed_alpha_the_rule_stays_within_the_refer_budget() -> None:
    y, proba = _separable(400, 2)
    oof = pooled_oof(_cv(y, proba, 4), y, threshold=0.5)
    rule = refer_rule(oof, max_refer_rate=0.05, conformal_alpha=None)
    assert rule.choice.within_budget and rule.choice.refer_rate <= 0.05
    assert rule.how == "chosen under --max-refer-rate 0.05"
    assert rule.coverage_malignant >= 1 - rule.choice.params.alpha - 0.05


def test_gather_names_every_metric_of_the_issue_and_intervals_hold_their_value() -> None:
    y, proba = _separable(300, 3)
    X = np.random.default_rng(0).normal(size=(300, 30)) + 10  # tertiles need any feature
    y_test, test_proba = _separable(100, 4)
    test_pred = (test_proba >= 0.5).astype(np.int64)
    ev = gather(
        cv=_cv(y, proba, 5), X_train=X, y_train=y, y_test=y_test, test_proba=test_proba,
        test_pred=test_pred, threshold=0.5, min_recall=0.95, max_refer_rate=0.05,
        conformal_alpha=None, seed=0, n_resamples=200,
    )  # fmt: skip
    m = ev.metrics()
    for name in ("cv_brier_mean", "cv_ece", "cv_calibration_slope", "cv_calibration_intercept"):
        assert math.isfinite(m[name])
    for name in ("test_ece", "cv_refer_rate"):
        assert math.isfinite(m[name])
    assert {f"test_{n}_ci_low" for n in TEST_CI_METRICS} <= set(m)
    assert {f"cv_{n}_mean_ci_high" for n in CV_CI_METRICS} <= set(m)
    assert m["cv_brier_mean"] == pytest.approx(np.mean(ev.cv_fold_brier))
    low, high = ev.test_ci["brier"]
    assert low <= float(np.mean((test_proba - y_test) ** 2)) <= high
    assert len(ev.subgroups) == 7 and len(ev.decision_curve.thresholds) == 50
    assert ev.ci_record()["n_resamples"] == 200 and ev.ci_record()["seed"] == 0
