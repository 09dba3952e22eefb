"""Nested CV never lets an outer test fold reach tuning or threshold choice.

A recording estimator, splitter and threshold chooser log every row each step sees (rows are
identified by their id in column 0; predicted probabilities encode the row id, so the
threshold chooser's input can be traced back to rows too).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pytest
from numpy.typing import NDArray
from sklearn.model_selection import StratifiedKFold

from breast_cancer_ml.domain import conformal
from breast_cancer_ml.domain.contract import Envelope
from breast_cancer_ml.domain.decision import classify
from breast_cancer_ml.domain.folds import stratified_folds
from breast_cancer_ml.domain.nested_cv import FoldOutcome, evaluate_candidate
from breast_cancer_ml.domain.threshold import threshold_for_recall

N = 60
Event = tuple[str, frozenset[int]]


def make_data() -> tuple[NDArray[np.float64], NDArray[np.int64]]:
    """30 non-negative features (the envelope of the refer rule needs the schema's 30): the row
    id in column 0, then noisy copies of the label."""
    y = np.array([0, 1] * (N // 2), dtype=np.int64)
    rng = np.random.default_rng(0)
    signal = np.abs(y[:, None] + rng.normal(0, 0.3, (N, 29)))
    X = np.column_stack([np.arange(N, dtype=float), signal])
    return X, y


def _ids(X: NDArray[np.float64]) -> frozenset[int]:
    return frozenset(int(v) for v in X[:, 0])


class RecordingEstimator:
    """Fits nothing useful; records rows; ``predict_proba`` encodes each row's id."""

    def __init__(self, log: list[Event], c: int = 1) -> None:
        self.log = log
        self.c = c

    def fit(self, X: NDArray[np.float64], y: NDArray[np.int64]) -> RecordingEstimator:
        self.log.append(("fit", _ids(X)))
        self.classes_ = np.array([0, 1])
        return self

    def predict_proba(self, X: NDArray[np.float64]) -> NDArray[np.float64]:
        self.log.append(("predict", _ids(X)))
        p = (X[:, 0] + 1) / (N + 2)
        return np.column_stack([1 - p, p])


def _rows_of(proba: NDArray[np.float64]) -> frozenset[int]:
    """The row ids behind RecordingEstimator's probabilities."""
    return frozenset(round(v) for v in proba * (N + 2) - 1)


def run(
    log: list[Event],
    *,
    tune: bool,
    target_recall: float | None,
    refer: bool = False,
    X: NDArray[np.float64] | None = None,
) -> list[FoldOutcome]:
    if X is None:
        X, y = make_data()
    else:
        y = make_data()[1]
    outer = stratified_folds(y, 4, 2, seed=3)

    def build(params: Mapping[str, Any]) -> RecordingEstimator:
        return RecordingEstimator(log, **params)

    def inner_split(
        X_sub: NDArray[np.float64], y_sub: NDArray[np.int64]
    ) -> list[tuple[NDArray[np.int64], NDArray[np.int64]]]:
        log.append(("split", _ids(X_sub)))
        return list(StratifiedKFold(3).split(X_sub, y_sub))

    def choose(yy: NDArray[np.int64], proba: NDArray[np.float64], target: float) -> float:
        log.append(("threshold", _rows_of(proba)))
        return threshold_for_recall(yy, proba, target)

    def choose_refer(
        yy: NDArray[np.int64], proba: NDArray[np.float64], prediction: NDArray[np.int64]
    ) -> conformal.AlphaChoice:
        log.append(("refer", _rows_of(proba)))
        log.append(("refer_prediction", _rows_of(proba[prediction == 1])))
        return conformal.choose_alpha(yy, proba, prediction=prediction)

    def on_fold(outcome: FoldOutcome) -> None:
        log.append(("outer_test", frozenset(int(i) for i in outcome.test_idx)))

    return evaluate_candidate(
        build,
        {"c": [1, 2, 3]},
        X,
        y,
        outer,
        inner_split,
        choose,
        tune=tune,
        target_recall=target_recall,
        choose_refer=choose_refer if refer else None,
        on_fold=on_fold,
    )


def leaks(log: list[Event]) -> list[str]:
    """Every way an outer fold's test rows reached something other than its final predict."""
    problems = []
    segment: list[Event] = []
    for kind, rows in log:
        if kind != "outer_test":
            segment.append((kind, rows))
            continue
        test, train = rows, frozenset(range(N)) - rows
        final_predict = max(i for i, (k, _) in enumerate(segment) if k == "predict")
        final_fit = max(i for i, (k, _) in enumerate(segment) if k == "fit")
        if segment[final_predict][1] != test:
            problems.append("the last predict is not the outer test fold")
        if segment[final_fit][1] != train or final_fit > final_predict:
            problems.append("the final model is not refitted on the outer training rows")
        for i, (k, seen) in enumerate(segment):
            if i != final_predict and seen & test:
                problems.append(f"{k} saw {len(seen & test)} outer test row(s)")
        segment = []
    return problems


@pytest.mark.parametrize(("tune", "target"), [(True, 0.9), (True, None), (False, 0.9)])
def test_outer_test_rows_reach_only_the_final_prediction(tune: bool, target: float | None) -> None:
    log: list[Event] = []
    outcomes = run(log, tune=tune, target_recall=target)
    assert len(outcomes) == 8
    assert leaks(log) == []
    kinds = [k for k, _ in log]
    # the inner machinery really ran: one inner split per outer fold, and per outer fold
    # (grid points x inner folds) + 1 fits
    assert kinds.count("split") == 8
    points = 3 if tune else 1
    assert kinds.count("fit") == 8 * (points * 3 + 1)
    assert kinds.count("threshold") == (8 if target else 0)
    if target:
        # the threshold saw exactly the outer training rows (their inner out-of-fold
        # predictions), each once
        segments = _segments(log)
        for test, events in segments:
            (seen,) = [rows for k, rows in events if k == "threshold"]
            assert seen == frozenset(range(N)) - test


def test_without_tuning_or_target_there_is_no_inner_loop() -> None:
    log: list[Event] = []
    outcomes = run(log, tune=False, target_recall=None)
    assert [k for k, _ in log].count("split") == 0
    assert all(o.threshold == 0.5 for o in outcomes)
    assert leaks(log) == []


def test_the_leak_check_detects_a_leak() -> None:
    # Guard against a check that cannot fail: tamper with one inner fit to include a test row.
    log: list[Event] = []
    run(log, tune=True, target_recall=0.9)
    first_test = next(rows for k, rows in log if k == "outer_test")
    i = next(i for i, (k, _) in enumerate(log) if k == "fit")
    log[i] = ("fit", log[i][1] | {min(first_test)})
    assert leaks(log) == ["fit saw 1 outer test row(s)"]
    j = next(i for i, (k, _) in enumerate(log) if k == "threshold")
    log[j] = ("threshold", log[j][1] | {min(first_test)})
    assert "threshold saw 1 outer test row(s)" in leaks(log)


def _segments(log: list[Event]) -> list[tuple[frozenset[int], list[Event]]]:
    out, current = [], []
    for kind, rows in log:
        if kind == "outer_test":
            out.append((rows, current))
            current = []
        else:
            current.append((kind, rows))
    return out


def _refer_segments(log: list[Event]) -> list[tuple[frozenset[int], list[Event]]]:
    # refer_prediction is a subset of the rows of "refer", not a step of its own
    return [
        (test, [e for e in events if e[0] != "refer_prediction"]) for test, events in _segments(log)
    ]


@pytest.mark.parametrize(("tune", "target"), [(True, 0.9), (False, None), (False, 0.9)])
def test_the_refer_rule_is_fitted_on_the_outer_training_rows_only(
    tune: bool, target: float | None
) -> None:
    log: list[Event] = []
    outcomes = run(log, tune=tune, target_recall=target, refer=True)
    segments = _refer_segments(log)
    assert len(segments) == len(outcomes) == 8
    for test, events in segments:
        # alpha and the quantiles saw the inner out-of-fold predictions of exactly the outer
        # training rows, each once, and none of the outer test rows
        (seen,) = [rows for k, rows in events if k == "refer"]
        assert seen == frozenset(range(N)) - test
    assert leaks([e for e in log if e[0] != "refer_prediction"]) == []
    # even without tuning or a target recall, the refer rule brings its own inner split
    assert [k for k, _ in log].count("split") == 8


def test_the_refer_rule_judges_every_outer_test_row_with_the_fitted_quantiles() -> None:
    log: list[Event] = []
    outcomes = run(log, tune=True, target_recall=0.9, refer=True)
    X, y = make_data()
    for o in outcomes:
        assert o.refer is not None and o.y_true is not None
        np.testing.assert_array_equal(o.y_true, y[o.test_idx])
        params = o.refer.params
        np.testing.assert_array_equal(o.refer.sets, conformal.prediction_sets(params, o.proba))
        # the service's rule: the fold's threshold, and the envelope of the outer training rows
        train = np.setdiff1d(np.arange(N), o.test_idx)
        inside = Envelope.from_training(X[train]).in_distribution(X[o.test_idx])
        expected = conformal.decide(
            params, o.proba, in_envelope=inside, prediction=classify(o.proba, o.threshold)
        )
        np.testing.assert_array_equal(o.refer.decisions, expected)
    # the prediction handed to choose_alpha is the inner predictions at the fold's threshold
    segments = _segments(log)
    for o, (_test, events) in zip(outcomes, segments, strict=True):
        (seen,) = [rows for k, rows in events if k == "refer"]
        (called_malignant,) = [rows for k, rows in events if k == "refer_prediction"]
        assert called_malignant == {r for r in seen if (r + 1) / (N + 2) >= o.threshold}


def test_a_test_row_outside_the_training_envelope_is_referred() -> None:
    X, _ = make_data()
    X[7, 5] = 1000.0  # far above every other row's value of that feature
    outcomes = run([], tune=False, target_recall=None, refer=True, X=X)
    (fold,) = [o for o in outcomes if 7 in o.test_idx and o.repeat == 0]
    assert fold.refer is not None
    position = int(np.flatnonzero(fold.test_idx == 7)[0])
    assert fold.refer.decisions[position] == conformal.REFER
    # rows inside the envelope are decided by their sets as usual
    others = np.delete(np.arange(fold.test_idx.size), position)
    expected = conformal.decide(
        fold.refer.params, fold.proba, prediction=classify(fold.proba, fold.threshold)
    )
    np.testing.assert_array_equal(fold.refer.decisions[others], expected[others])


def test_without_a_refer_chooser_the_outcomes_carry_no_refer_rule() -> None:
    outcomes = run([], tune=True, target_recall=0.9)
    assert all(o.refer is None for o in outcomes)


def test_precision_at_recall_needs_a_target() -> None:
    from breast_cancer_ml.domain.nested_cv import inner_selection

    X, y = make_data()
    with pytest.raises(ValueError, match="target recall"):
        inner_selection(lambda p: RecordingEstimator([]), [{}], X, y, [], "precision_at_recall")
