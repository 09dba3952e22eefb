"""The coverage guarantee, measured the way the product calibrates: on 50 random stratified
80/20 splits of the bundled WDBC data, the quantiles are fitted on the 5-fold out-of-fold
probabilities of the training split, and the model refit on the whole training split scores
the held-out 20%. Pooled over the splits, each class's empirical coverage is at least
``1 - alpha`` within a binomial tolerance (3 standard errors), and not trivially more: at most
``1 - alpha + 1 / (n_c + 1)`` (the conformal upper bound for continuous scores) plus the same
tolerance, so sets that always hold both classes would fail too."""

from __future__ import annotations

import math

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold, cross_val_predict, train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from breast_cancer_ml.adapters.dataset import load_dataset
from breast_cancer_ml.domain.conformal import evaluate, fit
from breast_cancer_ml.settings import BUNDLED_DATA

N_SPLITS = 50
ALPHAS = (0.05, 0.1, 0.2)


@pytest.fixture(scope="module")
def pooled() -> dict[float, dict[str, list[float]]]:
    """Per alpha: the benign and malignant test counts and covered counts of every split."""
    data = load_dataset(BUNDLED_DATA)
    out: dict[float, dict[str, list[float]]] = {
        a: {"n_b": [], "cov_b": [], "n_m": [], "cov_m": [], "n_cal_m": []} for a in ALPHAS
    }
    for split in range(N_SPLITS):
        X_tr, X_te, y_tr, y_te = train_test_split(
            data.X, data.y, test_size=0.2, stratify=data.y, random_state=split
        )
        model = make_pipeline(StandardScaler(), LogisticRegression(solver="liblinear"))
        folds = StratifiedKFold(5, shuffle=True, random_state=split)
        oof = cross_val_predict(model, X_tr, y_tr, cv=folds, method="predict_proba")[:, 1]
        p_te = model.fit(X_tr, y_tr).predict_proba(X_te)[:, 1]
        for alpha in ALPHAS:
            report = evaluate(fit(y_tr, oof, alpha), y_te, p_te)
            n_b, n_m = int(np.sum(y_te == 0)), int(np.sum(y_te == 1))
            out[alpha]["n_b"].append(n_b)
            out[alpha]["cov_b"].append(report.coverage_benign * n_b)
            out[alpha]["n_m"].append(n_m)
            out[alpha]["cov_m"].append(report.coverage_malignant * n_m)
            out[alpha]["n_cal_m"].append(int(np.sum(y_tr == 1)))
    return out


@pytest.mark.parametrize("alpha", ALPHAS)
@pytest.mark.parametrize("cls", ["b", "m"])
def test_each_class_is_covered_at_1_minus_alpha_within_binomial_tolerance(
    pooled: dict[float, dict[str, list[float]]], alpha: float, cls: str
) -> None:
    counts = pooled[alpha]
    n = sum(counts[f"n_{cls}"])
    coverage = sum(counts[f"cov_{cls}"]) / n
    tolerance = 3 * math.sqrt(alpha * (1 - alpha) / n)
    assert coverage >= 1 - alpha - tolerance, (alpha, cls, coverage)
    # the calibration class sizes: about 170 malignant and 285 benign out-of-fold cases
    n_cal = min(counts["n_cal_m"]) if cls == "m" else 285
    assert coverage <= 1 - alpha + 1 / (n_cal + 1) + tolerance, (alpha, cls, coverage)
