"""Cross-validated evaluation of one candidate, optionally nested (``bcml compare``).

For every outer fold, everything that *chooses* something (the hyperparameters of the declared
grid with ``tune``, the decision threshold with ``target_recall``) uses only the outer fold's
training rows, split again by the inner splitter. The outer test rows are touched once: by the
final ``predict_proba`` of a model refitted on the outer training rows. So the outer metrics
carry no selection bias.

**The refer rule** (issue #12), when a ``choose_refer`` is given: the conformal ``alpha`` and the
per-class quantiles are fitted on the inner out-of-fold predictions of the outer training rows
(the chosen grid point's, at the fold's threshold), and the plausibility envelope on the outer
training rows' features, exactly as ``bcml train`` fits them on the training split. The outer
test rows are then only *judged*: their prediction sets and decisions (``malignant``, ``benign``
or ``refer``) are kept on the :class:`FoldOutcome` with their labels, for the pooled refer rate,
coverage and decided-case metrics of :mod:`breast_cancer_ml.domain.selection`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from numpy.typing import NDArray

from breast_cancer_ml.domain import conformal
from breast_cancer_ml.domain.contract import Envelope
from breast_cancer_ml.domain.decision import DEFAULT_THRESHOLD, classify
from breast_cancer_ml.domain.folds import Fold
from breast_cancer_ml.domain.metrics import brier, evaluation_metrics, pr_auc

#: ``precision_at_recall``: precision at the threshold that reaches the recall target on the
#: pooled inner out-of-fold predictions (the operating point that will be used).
TuneMetric = Literal["roc_auc", "pr_auc", "brier", "precision_at_recall"]
#: ``(X_sub, y_sub) -> [(train_idx, test_idx), ...]``, indices into the subset.
InnerSplit = Callable[
    [NDArray[np.float64], NDArray[np.int64]],
    Iterable[tuple[NDArray[np.int64], NDArray[np.int64]]],
]
#: ``params -> unfitted estimator`` with ``params`` (a grid point) applied.
Builder = Callable[[Mapping[str, Any]], Any]
#: ``(y, proba, target_recall) -> threshold``.
ThresholdChooser = Callable[[NDArray[np.int64], NDArray[np.float64], float], float]
#: ``(y, proba, prediction) -> alpha choice``, on the inner out-of-fold predictions of the outer
#: training rows (``prediction`` is their 0/1 at the fold's threshold), e.g.
#: :func:`breast_cancer_ml.domain.conformal.choose_alpha` with a refer budget.
ReferChooser = Callable[
    [NDArray[np.int64], NDArray[np.float64], NDArray[np.int64]], conformal.AlphaChoice
]


@dataclass(frozen=True)
class FoldRefer:
    """The refer rule of one outer fold: fitted on its training rows, applied to its test rows."""

    params: conformal.ConformalParams
    #: Whether ``alpha`` met the refer budget on the inner out-of-fold predictions.
    within_budget: bool
    #: ``(n_test, 2)``: benign / malignant in each outer test row's prediction set.
    sets: NDArray[np.bool_]
    #: ``malignant``, ``benign`` or ``refer`` per outer test row.
    decisions: NDArray[np.str_]


@dataclass(frozen=True)
class FoldOutcome:
    """One outer fold: its metrics, what was chosen on its training rows, and the cost."""

    repeat: int
    index: int
    metrics: dict[str, float]
    threshold: float
    params: dict[str, Any]
    fit_seconds: float  # the final refit on the outer training rows
    predict_seconds: float  # predict_proba on the outer test rows
    total_seconds: float  # including tuning and threshold choice
    test_idx: NDArray[np.int64]
    proba: NDArray[np.float64]
    #: The outer test rows' labels (for pooled calibration and refer metrics).
    y_true: NDArray[np.int64] | None = None
    refer: FoldRefer | None = None


def grid_points(grid: Mapping[str, Sequence[Any]]) -> list[dict[str, Any]]:
    """Every combination of the grid, in a fixed order (``[{}]`` for an empty grid)."""
    from sklearn.model_selection import ParameterGrid

    return [dict(p) for p in ParameterGrid(dict(grid))]  # an empty grid has one point, {}


def _score(metric: TuneMetric, y: NDArray[np.int64], proba: NDArray[np.float64]) -> float:
    """Per-fold score, higher is better (Brier is negated)."""
    if metric == "roc_auc":
        from sklearn.metrics import roc_auc_score

        return float(roc_auc_score(y, proba))
    if metric == "pr_auc":
        return pr_auc(y, proba)
    return -brier(y, proba)


def _precision_at_recall(y: NDArray[np.int64], proba: NDArray[np.float64], target: float) -> float:
    from breast_cancer_ml.domain.threshold import threshold_for_recall

    predicted = proba >= threshold_for_recall(y, proba, target)
    return float(np.sum(predicted & (y == 1)) / max(1, int(np.sum(predicted))))


def inner_selection(
    build: Builder,
    points: Sequence[Mapping[str, Any]],
    X: NDArray[np.float64],
    y: NDArray[np.int64],
    inner: Sequence[tuple[NDArray[np.int64], NDArray[np.int64]]],
    metric: TuneMetric,
    target_recall: float | None = None,
) -> tuple[dict[str, Any], NDArray[np.int64], NDArray[np.float64]]:
    """The grid point with the best mean inner-fold ``metric`` (first one on ties), and its
    pooled inner out-of-fold labels and probabilities (for the threshold).

    ``precision_at_recall`` is computed once on the pooled inner predictions (a per-fold
    threshold would rest on a handful of malignant cases) and needs ``target_recall``.
    """
    pooled = metric == "precision_at_recall"  # one score on the pooled inner predictions
    if pooled and target_recall is None:
        raise ValueError("tune_metric precision_at_recall needs a target recall")
    best: tuple[float, dict[str, Any], NDArray[np.int64], NDArray[np.float64]] | None = None
    for point in points:
        scores, ys, ps = [], [], []
        for train, test in inner:
            model = build(point).fit(X[train], y[train])
            proba = np.asarray(model.predict_proba(X[test])[:, 1], dtype=np.float64)
            if not pooled:
                scores.append(_score(metric, y[test], proba))
            ys.append(y[test])
            ps.append(proba)
        if pooled:
            assert target_recall is not None
            mean = _precision_at_recall(np.concatenate(ys), np.concatenate(ps), target_recall)
        else:
            mean = float(np.mean(scores))
        if best is None or mean > best[0]:
            best = (mean, dict(point), np.concatenate(ys), np.concatenate(ps))
    assert best is not None  # points is never empty
    return best[1], best[2], best[3]


def evaluate_candidate(
    build: Builder,
    grid: Mapping[str, Sequence[Any]],
    X: NDArray[np.float64],
    y: NDArray[np.int64],
    outer: Sequence[Fold],
    inner_split: InnerSplit,
    choose_threshold: ThresholdChooser,
    *,
    tune: bool,
    tune_metric: TuneMetric = "roc_auc",
    target_recall: float | None = None,
    choose_refer: ReferChooser | None = None,
    on_fold: Callable[[FoldOutcome], None] | None = None,
) -> list[FoldOutcome]:
    """Evaluate one candidate on the ``outer`` folds of ``(X, y)``; see the module docstring.

    Without ``tune`` the estimator keeps its registry defaults; without ``target_recall`` the
    threshold is 0.5; without either and without ``choose_refer`` no inner split happens at
    all (plain repeated K-fold CV). ``X`` holds the 30 features in schema order when
    ``choose_refer`` is given (the envelope is per feature).
    """
    points = grid_points(grid) if tune else [{}]
    outcomes = []
    for fold in outer:
        start = time.perf_counter()
        X_tr, y_tr = X[fold.train], y[fold.train]
        params: dict[str, Any] = dict(points[0])
        threshold = DEFAULT_THRESHOLD
        choice: conformal.AlphaChoice | None = None
        if len(points) > 1 or target_recall is not None or choose_refer is not None:
            inner = list(inner_split(X_tr, y_tr))
            params, y_in, p_in = inner_selection(
                build, points, X_tr, y_tr, inner, tune_metric, target_recall
            )
            if target_recall is not None:
                threshold = choose_threshold(y_in, p_in, target_recall)
            if choose_refer is not None:
                choice = choose_refer(y_in, p_in, classify(p_in, threshold))
        t0 = time.perf_counter()
        model = build(params).fit(X_tr, y_tr)
        t1 = time.perf_counter()
        proba = np.asarray(model.predict_proba(X[fold.test])[:, 1], dtype=np.float64)
        t2 = time.perf_counter()
        y_te = y[fold.test]
        refer = None
        if choice is not None:
            refer = _apply_refer(
                choice, proba, threshold, Envelope.from_training(X_tr), X[fold.test]
            )
        outcome = FoldOutcome(
            repeat=fold.repeat,
            index=fold.index,
            metrics=evaluation_metrics(y_te, classify(proba, threshold), proba),
            threshold=threshold,
            params=params,
            fit_seconds=t1 - t0,
            predict_seconds=t2 - t1,
            total_seconds=t2 - start,
            test_idx=fold.test,
            proba=proba,
            y_true=y_te,
            refer=refer,
        )
        outcomes.append(outcome)
        if on_fold is not None:
            on_fold(outcome)
    return outcomes


def _apply_refer(
    choice: conformal.AlphaChoice,
    proba: NDArray[np.float64],
    threshold: float,
    envelope: Envelope,
    X_test: NDArray[np.float64],
) -> FoldRefer:
    """The outer test rows' sets and decisions under the rule fitted on the training rows."""
    params = choice.params
    decisions = conformal.decide(
        params,
        proba,
        in_envelope=envelope.in_distribution(X_test),
        prediction=classify(proba, threshold),
    )
    return FoldRefer(
        params=params,
        within_budget=choice.within_budget,
        sets=conformal.prediction_sets(params, proba),
        decisions=decisions,
    )
