"""Nested CV chooses in the right direction: for every tuning metric the better grid point wins
(Brier is a loss: lower is better), the first point wins a tie, and the outer metrics are taken
at the threshold that was chosen, not at 0.5.

The grid points are scorers with known outputs on a feature that is the label plus noise, so
which point is better under each metric is clear by construction.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

import numpy as np
import pytest
from numpy.typing import NDArray
from scipy.special import expit
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold

from breast_cancer_ml.domain.decision import classify
from breast_cancer_ml.domain.folds import stratified_folds
from breast_cancer_ml.domain.metrics import evaluation_metrics
from breast_cancer_ml.domain.nested_cv import (
    FoldOutcome,
    ThresholdChooser,
    TuneMetric,
    _precision_at_recall,
    evaluate_candidate,
    grid_points,
    inner_selection,
)
from breast_cancer_ml.domain.threshold import threshold_for_recall

N = 80


class Scorer:
    """P(malignant) = expit(direction * sharpness * (x - 0.5)) of feature 0; fitting learns
    nothing. ``direction=-1`` ranks benign above malignant."""

    def __init__(self, sharpness: float = 8.0, direction: int = 1) -> None:
        self.sharpness = sharpness
        self.direction = direction

    def fit(self, X: NDArray[np.float64], y: NDArray[np.int64]) -> Scorer:
        self.classes_ = np.array([0, 1])
        return self

    def predict_proba(self, X: NDArray[np.float64]) -> NDArray[np.float64]:
        p = expit(self.direction * self.sharpness * (X[:, 0] - 0.5))
        return np.column_stack([1 - p, p])


def build(params: Mapping[str, Any]) -> Scorer:
    return Scorer(**params)


def data() -> tuple[NDArray[np.float64], NDArray[np.int64]]:
    y = np.array([0, 1] * (N // 2), dtype=np.int64)
    x = y + np.random.default_rng(1).normal(0, 0.35, N)
    return x.reshape(-1, 1), y


def inner_folds(
    X: NDArray[np.float64], y: NDArray[np.int64]
) -> list[tuple[NDArray[np.int64], NDArray[np.int64]]]:
    return list(StratifiedKFold(4, shuffle=True, random_state=0).split(X, y))


GOOD = {"sharpness": 8.0, "direction": 1}
INVERTED = {"sharpness": 8.0, "direction": -1}  # worst ROC AUC, PR AUC, Brier and precision
BLURRED = {"sharpness": 0.5, "direction": 1}  # the same ranking as GOOD, a far worse Brier


@pytest.mark.parametrize("metric", ["roc_auc", "pr_auc", "brier", "precision_at_recall"])
@pytest.mark.parametrize("order", ["good first", "good last"])
def test_every_tuning_metric_picks_the_better_point(metric: TuneMetric, order: str) -> None:
    X, y = data()
    points = [GOOD, INVERTED] if order == "good first" else [INVERTED, GOOD]
    chosen, _, _ = inner_selection(build, points, X, y, inner_folds(X, y), metric, 0.9)
    assert chosen == GOOD


@pytest.mark.parametrize("order", ["blurred first", "blurred last"])
def test_brier_is_a_loss_lower_is_better(order: str) -> None:
    X, y = data()
    points = [BLURRED, GOOD] if order == "blurred first" else [GOOD, BLURRED]
    chosen, _, _ = inner_selection(build, points, X, y, inner_folds(X, y), "brier")
    assert chosen == GOOD


@pytest.mark.parametrize("metric", ["roc_auc", "pr_auc", "precision_at_recall"])
def test_the_first_point_wins_a_tie(metric: TuneMetric) -> None:
    # a sharper or blurrier sigmoid ranks the cases the same way: ranking metrics tie
    X, y = data()
    folds = inner_folds(X, y)
    target = 0.9 if metric == "precision_at_recall" else None
    first, _, _ = inner_selection(build, [BLURRED, GOOD], X, y, folds, metric, target)
    assert first == BLURRED
    first, _, _ = inner_selection(build, [GOOD, BLURRED], X, y, folds, metric, target)
    assert first == GOOD


def test_inner_selection_returns_the_chosen_points_pooled_predictions() -> None:
    X, y = data()
    folds = inner_folds(X, y)
    _, ys, ps = inner_selection(build, [INVERTED, GOOD], X, y, folds, "roc_auc")
    order = np.concatenate([test for _, test in folds])
    np.testing.assert_array_equal(ys, y[order])
    np.testing.assert_allclose(ps, Scorer(**GOOD).predict_proba(X[order])[:, 1])


def test_precision_at_recall_is_taken_at_the_recall_threshold() -> None:
    # 4 malignant; recall 0.75 needs 3: threshold 0.3, which also lets one benign case through
    y = np.array([1, 1, 1, 1, 0, 0, 0])
    p = np.array([0.9, 0.45, 0.3, 0.2, 0.35, 0.25, 0.1])
    assert _precision_at_recall(y, p, 0.75) == pytest.approx(3 / 4)
    # one malignant case predicted, nothing else: precision 1, not 1/2
    assert _precision_at_recall(np.array([1, 0, 0]), np.array([0.9, 0.1, 0.2]), 1.0) == 1.0


def test_grid_points_cover_the_grid_in_a_fixed_order() -> None:
    assert grid_points({}) == [{}]
    assert grid_points({"b": [1, 2], "a": ["x"]}) == [{"a": "x", "b": 1}, {"a": "x", "b": 2}]


def _fixed_threshold(t: float) -> ThresholdChooser:
    """A threshold chooser that always answers ``t``."""

    def choose(y: NDArray[np.int64], proba: NDArray[np.float64], target: float) -> float:
        return t

    return choose


def test_outer_metrics_are_taken_at_the_chosen_threshold() -> None:
    X, y = data()
    outer = stratified_folds(y, 4, 1, seed=2)
    outcomes = evaluate_candidate(
        build,
        {},
        X,
        y,
        outer,
        inner_folds,
        _fixed_threshold(0.9),
        tune=False,
        target_recall=0.5,
    )
    at_half = 0.0
    for fold, o in zip(outer, outcomes, strict=True):
        assert o.threshold == 0.9
        y_te = y[fold.test]
        assert o.metrics == evaluation_metrics(y_te, classify(o.proba, 0.9), o.proba)
        at_half += evaluation_metrics(y_te, classify(o.proba, 0.5), o.proba)["recall"]
    recall_at_chosen = sum(o.metrics["recall"] for o in outcomes)
    assert recall_at_chosen < at_half  # 0.9 really is stricter on this data


def test_outer_outcomes_describe_their_fold() -> None:
    X, y = data()
    outer = stratified_folds(y, 4, 2, seed=2)
    outcomes = evaluate_candidate(
        build,
        {"sharpness": [0.5, 8.0]},
        X,
        y,
        outer,
        inner_folds,
        lambda yy, pp, t: threshold_for_recall(yy, pp, t),
        tune=True,
        tune_metric="brier",
        target_recall=0.95,
    )
    assert [(o.repeat, o.index) for o in outcomes] == [(f.repeat, f.index) for f in outer]
    for fold, o in zip(outer, outcomes, strict=True):
        assert isinstance(o, FoldOutcome)
        np.testing.assert_array_equal(o.test_idx, fold.test)
        np.testing.assert_allclose(o.proba, Scorer(8.0).predict_proba(X[fold.test])[:, 1])
        assert o.params == {"sharpness": 8.0}
        assert 0 < o.threshold <= 0.5
        assert 0 <= o.fit_seconds <= o.total_seconds
        assert 0 <= o.predict_seconds <= o.total_seconds
        assert o.fit_seconds + o.predict_seconds <= o.total_seconds


def test_without_tuning_the_registry_defaults_are_used_at_threshold_one_half() -> None:
    X, y = data()
    outer = stratified_folds(y, 4, 1, seed=2)
    outcomes = evaluate_candidate(
        build, {"sharpness": [0.5]}, X, y, outer, inner_folds, _fixed_threshold(0.9), tune=False
    )
    assert all(o.params == {} and o.threshold == 0.5 for o in outcomes)
    np.testing.assert_allclose(outcomes[0].proba, Scorer().predict_proba(X[outer[0].test])[:, 1])


def test_a_single_tuned_point_with_a_target_still_chooses_the_threshold() -> None:
    X, y = data()
    outer = stratified_folds(y, 4, 1, seed=2)
    outcomes = evaluate_candidate(
        build,
        {"sharpness": [0.5]},
        X,
        y,
        outer,
        inner_folds,
        _fixed_threshold(0.25),
        tune=True,
        target_recall=0.9,
    )
    assert all(o.params == {"sharpness": 0.5} and o.threshold == 0.25 for o in outcomes)


def test_the_default_tuning_metric_is_roc_auc() -> None:
    # sharpness 0.5 and 8.0 rank cases alike: ROC AUC ties (the first point stays), while
    # Brier would prefer 8.0
    X, y = data()
    outer = stratified_folds(y, 4, 1, seed=2)
    grid = {"sharpness": [0.5, 8.0]}
    default = evaluate_candidate(
        build, grid, X, y, outer, inner_folds, _fixed_threshold(0.5), tune=True
    )
    assert all(o.params == {"sharpness": 0.5} for o in default)
    by_brier = evaluate_candidate(
        build, grid, X, y, outer, inner_folds, _fixed_threshold(0.5), tune=True, tune_metric="brier"
    )
    assert all(o.params == {"sharpness": 8.0} for o in by_brier)


def test_tuning_by_precision_at_recall_uses_the_target() -> None:
    X, y = data()
    outer = stratified_folds(y, 4, 1, seed=2)
    outcomes = evaluate_candidate(
        build,
        {"direction": [-1, 1]},
        X,
        y,
        outer,
        inner_folds,
        lambda yy, pp, t: threshold_for_recall(yy, pp, t),
        tune=True,
        tune_metric="precision_at_recall",
        target_recall=0.9,
    )
    assert all(o.params == {"direction": 1} for o in outcomes)


def test_a_precision_at_recall_target_is_required_with_that_metric() -> None:
    X, y = data()
    with pytest.raises(
        ValueError, match=r"^tune_metric precision_at_recall needs a target recall$"
    ):
        inner_selection(build, [GOOD], X, y, inner_folds(X, y), "precision_at_recall")


def test_models_are_fitted_on_the_labels_of_their_rows() -> None:
    # a real estimator: its probabilities depend on the labels it was fitted on
    X, y = data()
    outer = stratified_folds(y, 4, 1, seed=2)

    def logreg(params: Mapping[str, Any]) -> LogisticRegression:
        return LogisticRegression(**params)

    outcomes = evaluate_candidate(
        logreg,
        {"C": [0.01, 1.0]},
        X,
        y,
        outer,
        inner_folds,
        lambda yy, pp, t: threshold_for_recall(yy, pp, t),
        tune=True,
        target_recall=0.9,
    )
    for fold, o in zip(outer, outcomes, strict=True):
        again = LogisticRegression(**o.params).fit(X[fold.train], y[fold.train])
        np.testing.assert_allclose(o.proba, again.predict_proba(X[fold.test])[:, 1])
    folds = inner_folds(X, y)
    _, _, pooled = inner_selection(logreg, [{"C": 1.0}], X, y, folds, "roc_auc")
    expected = np.concatenate(
        [LogisticRegression().fit(X[tr], y[tr]).predict_proba(X[te])[:, 1] for tr, te in folds]
    )
    np.testing.assert_allclose(pooled, expected)


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_probabilities_are_float64_even_from_a_float32_model() -> None:
    from sklearn.neural_network import MLPClassifier

    X, y = data()
    X32 = np.hstack([X, X]).astype(np.float32)

    def mlp(params: Mapping[str, Any]) -> MLPClassifier:
        return MLPClassifier(hidden_layer_sizes=(2,), max_iter=5, random_state=0, **params)

    outer = stratified_folds(y, 4, 1, seed=2)
    outcomes = evaluate_candidate(
        mlp, {}, X32, y, outer, inner_folds, lambda yy, pp, t: 0.5, tune=False, target_recall=0.9
    )
    assert all(o.proba.dtype == np.float64 for o in outcomes)
    _, _, pooled = inner_selection(mlp, [{}], X32, y, inner_folds(X32, y), "roc_auc")
    assert pooled.dtype == np.float64


def test_total_time_is_a_duration_within_the_call() -> None:
    X, y = data()
    outer = stratified_folds(y, 4, 1, seed=2)
    start = time.perf_counter()
    outcomes = evaluate_candidate(
        build, {}, X, y, outer, inner_folds, _fixed_threshold(0.5), tune=False
    )
    elapsed = time.perf_counter() - start
    assert all(0 <= o.total_seconds <= elapsed for o in outcomes)
