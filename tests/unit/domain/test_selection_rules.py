"""The comparison's rules at their edges: the gate per repeat with two folds, a mean exactly at
the bar, the ranking's tie-breaks in order, and the summary of all outer folds."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest

from breast_cancer_ml.domain.nested_cv import FoldOutcome
from breast_cancer_ml.domain.promotion import GateThresholds
from breast_cancer_ml.domain.selection import (
    Bar,
    bar_misses,
    gate_pass_share,
    recommend,
    shortfall,
    summarize_outcomes,
)

BAR = Bar(recall=0.975, precision=0.93, roc_auc=0.995)
GATE = GateThresholds(min_recall=0.75, max_recall_std=0.2)


def outcome(
    repeat: int,
    recall: float,
    *,
    precision: float = 1.0,
    threshold: float = 0.5,
    seconds: tuple[float, float, float] = (0.0, 0.0, 0.0),
) -> FoldOutcome:
    empty = np.array([], dtype=np.int64)
    fit, predict, total = seconds
    return FoldOutcome(
        repeat=repeat,
        index=0,
        metrics={"recall": recall, "precision": precision},
        threshold=threshold,
        params={},
        fit_seconds=fit,
        predict_seconds=predict,
        total_seconds=total,
        test_idx=empty,
        proba=empty.astype(float),
    )


def test_a_repeat_of_two_folds_is_judged_on_their_sample_std() -> None:
    # recalls 0.75 and 1.0: mean 0.875, sample std 0.177 (<= 0.2 passes); the population std
    # would be 0.125, a std with ddof=2 undefined
    assert gate_pass_share([outcome(0, 0.75), outcome(0, 1.0)], GATE) == 1.0
    strict = GateThresholds(min_recall=0.75, max_recall_std=0.15)
    assert gate_pass_share([outcome(0, 0.75), outcome(0, 1.0)], strict) == 0.0


def test_a_repeat_of_three_folds_uses_ddof_one() -> None:
    # recalls 0.8, 0.9, 1.0: sample std 0.1 exactly (ddof=2 would give 0.141)
    gate = GateThresholds(min_recall=0.75, max_recall_std=0.11)
    assert gate_pass_share([outcome(0, r) for r in (0.8, 0.9, 1.0)], gate) == 1.0


def test_a_repeat_of_one_fold_is_unmeasured_and_fails() -> None:
    assert gate_pass_share([outcome(0, 1.0)], GATE) == 0.0
    assert gate_pass_share([outcome(0, 1.0), outcome(1, 1.0), outcome(1, 1.0)], GATE) == 0.5


def test_no_outcomes_give_an_undefined_share() -> None:
    assert math.isnan(gate_pass_share([], GATE))


def s(recall: float, precision: float, auc: float) -> dict[str, float]:
    return {"recall_mean": recall, "precision_mean": precision, "roc_auc_mean": auc}


def test_a_mean_exactly_at_the_bar_meets_it() -> None:
    at = s(0.975, 0.93, 0.995)
    assert bar_misses(at, BAR) == ()
    assert shortfall(at, BAR) == 0.0
    rec = recommend({"a": at}, BAR)
    assert (rec.meets_bar, rec.missed) == (True, ())


def test_a_miss_is_named_with_its_value_and_floor() -> None:
    assert bar_misses(s(0.975, 0.9299, 0.995), BAR) == ("precision 0.9299 < 0.93",)


@pytest.mark.parametrize(
    ("summaries", "ranking"),
    [
        # the same recall and precision: higher ROC AUC first
        ({"a": s(0.98, 0.95, 0.996), "b": s(0.98, 0.95, 0.999)}, ("b", "a")),
        ({"a": s(0.98, 0.95, 0.999), "b": s(0.98, 0.95, 0.996)}, ("a", "b")),
        # higher recall beats higher precision and AUC
        ({"a": s(0.98, 0.99, 0.999), "b": s(0.99, 0.95, 0.996)}, ("b", "a")),
        # all equal: by name
        ({"b": s(0.98, 0.95, 0.996), "a": s(0.98, 0.95, 0.996)}, ("a", "b")),
        # shortfall first: a smaller total shortfall beats a higher recall
        ({"a": s(0.99, 0.90, 0.996), "b": s(0.97, 0.93, 0.996)}, ("b", "a")),
        # an unmeasured AUC ranks last among otherwise equal models
        ({"a": s(0.98, 0.95, math.nan), "b": s(0.98, 0.95, 0.5)}, ("b", "a")),
    ],
)
def test_ranking_tie_breaks(summaries: dict[str, dict[str, float]], ranking: tuple[str]) -> None:
    assert recommend(summaries, BAR).ranking == ranking


def test_shortfall_sums_each_gap_below_the_bar() -> None:
    assert shortfall(s(0.965, 0.93, 0.985), BAR) == pytest.approx(0.01 + 0.01)
    assert shortfall(s(1.0, 0.90, 1.0), BAR) == pytest.approx(0.03)  # a surplus offsets nothing
    assert shortfall(s(math.nan, 0.93, 0.995), BAR) == math.inf


def test_nothing_to_recommend_is_an_error() -> None:
    with pytest.raises(ValueError, match="no model was compared"):
        recommend({}, BAR)


def test_summarize_outcomes_reports_metrics_gate_times_and_thresholds() -> None:
    folds = [
        outcome(0, 0.75, precision=0.5, threshold=0.3, seconds=(1.0, 0.5, 2.0)),
        outcome(0, 1.0, precision=1.0, threshold=0.5, seconds=(3.0, 1.5, 4.0)),
        outcome(1, 1.0, precision=0.75, threshold=0.4, seconds=(2.0, 1.0, 6.0)),
    ]
    out = summarize_outcomes(folds, GATE)
    assert out == {
        "recall_mean": pytest.approx(2.75 / 3),
        "recall_std": pytest.approx(float(np.std([0.75, 1.0, 1.0], ddof=1))),
        "precision_mean": 0.75,
        "precision_std": 0.25,
        "gate_pass_share": 0.5,  # repeat 0 passes; repeat 1 has one fold, no std
        "fit_seconds_mean": 2.0,
        "predict_seconds_mean": 1.0,
        "total_seconds": 12.0,
        "threshold_mean": pytest.approx(0.4),
        "threshold_min": 0.3,
        "threshold_max": 0.5,
    }


def test_a_one_fold_repeat_fails_quietly() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # NaN std by the rule, not numpy's ddof warning
        assert gate_pass_share([outcome(0, 1.0)], GATE) == 0.0


def test_nothing_to_recommend_says_so() -> None:
    with pytest.raises(ValueError, match=r"^nothing to recommend: no model was compared$"):
        recommend({}, BAR)
