"""Explanations add up: base + contributions == the case's log-odds, for every registry model.

The linear model's contributions are checked against a hand computation; every other
candidate is explained by Kernel SHAP (shap, the ``explain`` extra) with a small ``nsamples``:
Kernel SHAP's efficiency constraint makes the sum exact whatever ``nsamples`` is.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from breast_cancer_ml.adapters.dataset import load_dataset
from breast_cancer_ml.domain.explain import (
    KERNEL_SHAP,
    LINEAR_EXACT,
    Explainer,
    ExplainerParams,
    build_params,
    log_odds,
)
from breast_cancer_ml.domain.models import CANDIDATES, build_pipeline
from breast_cancer_ml.domain.schema import FEATURES, N_FEATURES
from breast_cancer_ml.errors import ExplanationUnavailableError
from breast_cancer_ml.settings import BUNDLED_DATA

TRAIN = 400  # rows fitted on; the rest are explained
ROWS = slice(TRAIN, TRAIN + 4)
SMALL_NSAMPLES = 2 * N_FEATURES + 40  # the least shap's regression needs, and some


@pytest.fixture(scope="module")
def data() -> Any:
    return load_dataset(BUNDLED_DATA)


@pytest.fixture(scope="module")
def fitted(data: Any) -> dict[str, Any]:
    return {
        name: build_pipeline(name, 0).fit(data.X[:TRAIN], data.y[:TRAIN]) for name in CANDIDATES
    }


def test_linear_contributions_are_coefficient_times_standardised_value(
    fitted: dict[str, Any], data: Any
) -> None:
    pipe = fitted["logreg"]
    scaler, model = pipe.steps[0][1], pipe.steps[1][1]
    x = data.X[TRAIN]
    params = build_params(pipe, data.X[:TRAIN], seed=0)
    assert params.method == LINEAR_EXACT and params.background is None
    got = Explainer(pipe, params, "logreg").explain(x[None, :])
    for j in range(N_FEATURES):  # by hand, one feature at a time
        expected = model.coef_[0][j] * (x[j] - scaler.mean_[j]) / scaler.scale_[j]
        assert got.contributions[0, j] == pytest.approx(expected, rel=1e-12, abs=1e-12)
    assert got.base[0] == model.intercept_[0]
    z = pipe.decision_function(x[None, :])[0]
    assert abs(got.base[0] + got.contributions[0].sum() - z) < 1e-9


def test_the_training_mean_case_has_no_linear_contribution(fitted: dict[str, Any]) -> None:
    pipe = fitted["logreg"]
    mean = pipe.steps[0][1].mean_
    got = Explainer(pipe, None, "logreg").explain(mean[None, :])  # older metadata: no params
    assert np.allclose(got.contributions, 0.0, atol=1e-12)


@pytest.mark.parametrize("name", sorted(CANDIDATES))
def test_base_plus_contributions_is_the_log_odds_for_every_registry_model(
    name: str, fitted: dict[str, Any], data: Any
) -> None:
    pipe = fitted[name]
    params = build_params(pipe, data.X[:TRAIN], seed=0, nsamples=SMALL_NSAMPLES)
    X = data.X[ROWS]
    got = Explainer(pipe, params, name).explain(X)
    assert got.contributions.shape == (len(X), N_FEATURES)
    assert np.isfinite(got.contributions).all() and np.isfinite(got.base).all()
    p = pipe.predict_proba(X)[:, 1]
    if params.method == LINEAR_EXACT:
        target = pipe.decision_function(X)
    else:
        assert params.method == KERNEL_SHAP and params.eps is not None
        target = log_odds(p, params.eps)
    total = got.base + got.contributions.sum(axis=1)
    assert np.abs(total - target).max() < 1e-6
    assert len(set(got.base.tolist())) == 1  # one reference case for every row


def test_kernel_background_is_weighted_kmeans_of_the_training_split(
    fitted: dict[str, Any], data: Any
) -> None:
    params = build_params(fitted["knn"], data.X[:TRAIN], seed=3, k=10)
    assert params.method == KERNEL_SHAP and params.background is not None
    assert params.weights is not None
    assert len(params.background) == params.k == 10
    assert sum(params.weights) == TRAIN  # every training row in exactly one cluster
    lo, hi = data.X[:TRAIN].min(axis=0), data.X[:TRAIN].max(axis=0)
    centres = np.asarray(params.background)
    assert ((centres >= lo - 1e-9) & (centres <= hi + 1e-9)).all()
    again = ExplainerParams.model_validate(params.model_dump())  # the record round-trips
    assert again == params


def test_kernel_base_is_the_log_odds_of_the_cluster_size_weighted_background(
    fitted: dict[str, Any], data: Any
) -> None:
    # the background is rebuilt at serve time from the stored centres and sizes: the base
    # must weigh each centre by its cluster size, as KernelExplainer's reference is defined
    pipe = fitted["knn"]
    params = build_params(pipe, data.X[:TRAIN], seed=0, nsamples=SMALL_NSAMPLES)
    assert params.background is not None and params.weights is not None
    assert params.eps is not None
    weights = np.asarray(params.weights)
    assert len(set(weights.tolist())) > 1  # unequal sizes, so equal weights would differ
    p = np.clip(pipe.predict_proba(np.asarray(params.background))[:, 1], params.eps, 1 - params.eps)
    weighted = float(np.average(p, weights=weights))
    got = Explainer(pipe, params, "knn").explain(data.X[TRAIN : TRAIN + 1])
    assert got.base[0] == pytest.approx(np.log(weighted / (1 - weighted)), abs=1e-9)
    unweighted = float(p.mean())
    assert abs(np.log(unweighted / (1 - unweighted)) - got.base[0]) > 1e-3


def test_kernel_explanations_are_reproducible(fitted: dict[str, Any], data: Any) -> None:
    params = build_params(fitted["hist_gb"], data.X[:TRAIN], seed=0, nsamples=SMALL_NSAMPLES)
    first = Explainer(fitted["hist_gb"], params, "hist_gb").explain(data.X[ROWS])
    second = Explainer(fitted["hist_gb"], params, "hist_gb").explain(data.X[ROWS])
    assert np.array_equal(first.contributions, second.contributions)


def test_doc_lists_all_30_features_sorted_by_absolute_contribution(
    fitted: dict[str, Any], data: Any
) -> None:
    x = data.X[TRAIN : TRAIN + 1]
    doc = Explainer(fitted["logreg"], None, "logreg").explain(x).doc(0, x[0])
    assert doc["method"] == LINEAR_EXACT and doc["output"] == "log_odds"
    items = doc["contributions"]
    assert sorted(i["feature"] for i in items) == sorted(FEATURES)
    sizes = [abs(i["contribution"]) for i in items]
    assert sizes == sorted(sizes, reverse=True)
    by_name = {i["feature"]: i["value"] for i in items}
    assert [by_name[f] for f in FEATURES] == x[0].tolist()  # raw values, not standardised


def test_a_nonlinear_model_promoted_before_explanations_says_re_promote(
    fitted: dict[str, Any], data: Any
) -> None:
    explainer = Explainer(fitted["random_forest"], None, "random_forest")
    with pytest.raises(ExplanationUnavailableError, match="re-promote") as err:
        explainer.explain(data.X[ROWS])
    assert "random_forest" in str(err.value)
    assert err.value.exit_code == 2


def test_kernel_params_without_a_background_are_refused() -> None:
    with pytest.raises(ValueError, match="background"):
        ExplainerParams(method="kernel_shap", nsamples=100, eps=1e-6, seed=0)


def test_a_non_finite_explanation_is_never_given(fitted: dict[str, Any], data: Any) -> None:
    import copy

    broken = copy.deepcopy(fitted["logreg"])  # a model whose coefficient overflows
    broken.steps[1][1].coef_[0][0] = np.inf
    with pytest.raises(ExplanationUnavailableError, match="row 0 is not finite"):
        Explainer(broken, None, "logreg").explain(data.X[ROWS])
