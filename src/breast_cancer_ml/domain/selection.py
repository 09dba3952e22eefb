"""Summaries of a comparison and the recommendation rule (pure; ``bcml compare``)."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from breast_cancer_ml.domain import conformal
from breast_cancer_ml.domain.calibration import (
    calibration_intercept,
    calibration_slope,
    expected_calibration_error,
)
from breast_cancer_ml.domain.metrics import COMPARE_METRICS, summarize_folds
from breast_cancer_ml.domain.nested_cv import FoldOutcome
from breast_cancer_ml.domain.promotion import GateThresholds, evaluate_gate
from breast_cancer_ml.domain.schema import POSITIVE_CLASS


def gate_pass_share(outcomes: Sequence[FoldOutcome], thresholds: GateThresholds) -> float:
    """Share of repeats whose K folds (recall mean and std) pass the promotion gate."""
    by_repeat: dict[int, list[float]] = {}
    for o in outcomes:
        by_repeat.setdefault(o.repeat, []).append(o.metrics["recall"])
    if not by_repeat:
        return math.nan
    passed = 0
    for recalls in by_repeat.values():
        values = np.array(recalls)
        std = float(values.std(ddof=1)) if len(values) > 1 else math.nan
        passed += evaluate_gate(float(values.mean()), std, thresholds).passed
    return passed / len(by_repeat)


@dataclass(frozen=True)
class GateFailures:
    """Why repeats failed the gate: ``low_recall`` repeats had a mean recall under the
    minimum, ``high_std`` a recall std over the maximum (one repeat can count in both)."""

    repeats: int
    passed: int
    low_recall: int
    high_std: int


def gate_failures(outcomes: Sequence[FoldOutcome], thresholds: GateThresholds) -> GateFailures:
    """Per repeat, which rule of the gate failed (explains a low gate pass share)."""
    by_repeat: dict[int, list[float]] = {}
    for o in outcomes:
        by_repeat.setdefault(o.repeat, []).append(o.metrics["recall"])
    passed = low = high = 0
    for recalls in by_repeat.values():
        values = np.array(recalls)
        mean = float(values.mean())
        std = float(values.std(ddof=1)) if len(values) > 1 else math.nan
        passed += evaluate_gate(mean, std, thresholds).passed
        low += not mean >= thresholds.min_recall  # NaN counts as a failure
        high += not std <= thresholds.max_recall_std
    return GateFailures(len(by_repeat), passed, low, high)


def summarize_outcomes(
    outcomes: Sequence[FoldOutcome], thresholds: GateThresholds
) -> dict[str, float]:
    """``{metric}_mean/_std`` over all outer folds, gate pass share, times, threshold."""
    out = summarize_folds(o.metrics for o in outcomes)
    out["gate_pass_share"] = gate_pass_share(outcomes, thresholds)
    out["fit_seconds_mean"] = float(np.mean([o.fit_seconds for o in outcomes]))
    out["predict_seconds_mean"] = float(np.mean([o.predict_seconds for o in outcomes]))
    out["total_seconds"] = float(np.sum([o.total_seconds for o in outcomes]))
    thresholds_used = [o.threshold for o in outcomes]
    out["threshold_mean"] = float(np.mean(thresholds_used))
    out["threshold_min"] = float(np.min(thresholds_used))
    out["threshold_max"] = float(np.max(thresholds_used))
    out |= calibration_over_repeats(outcomes)
    out |= refer_summary(outcomes)
    return out


#: Keys of :func:`calibration_over_repeats`.
CALIBRATION_KEYS = ("ece", "calibration_slope", "calibration_intercept")


def calibration_over_repeats(outcomes: Sequence[FoldOutcome]) -> dict[str, float]:
    """ECE (10 equal-width bins), calibration slope and intercept of the outer-test
    predictions, each computed on one repeat's pooled outer folds (every row once) and averaged
    over the repeats. A single fold holds too few cases per bin for an ECE of its own.
    Empty when the outcomes carry no labels."""
    by_repeat: dict[int, list[FoldOutcome]] = {}
    for o in outcomes:
        if o.y_true is not None:
            by_repeat.setdefault(o.repeat, []).append(o)
    if not by_repeat:
        return {}
    values: dict[str, list[float]] = {k: [] for k in CALIBRATION_KEYS}
    for folds in by_repeat.values():
        y = np.concatenate([o.y_true for o in folds if o.y_true is not None])
        p = np.concatenate([o.proba for o in folds])
        values["ece"].append(expected_calibration_error(y, p))
        values["calibration_slope"].append(calibration_slope(y, p))
        values["calibration_intercept"].append(calibration_intercept(y, p))
    return {k: _nanmean(v) for k, v in values.items()}


def _nanmean(values: Sequence[float]) -> float:
    """Mean of the defined values (a slope is NaN when a repeat separates the classes)."""
    finite = [v for v in values if not math.isnan(v)]
    return float(np.mean(finite)) if finite else math.nan


#: Keys of :func:`refer_summary`.
REFER_KEYS = (
    "refer_rate",
    "coverage_benign",
    "coverage_malignant",
    "decided_accuracy",
    "decided_recall",
    "decided_precision",
    "decided_errors_per_repeat",
    "decided_missed_malignant_per_repeat",
    "alpha_mean",
    "alpha_min",
    "alpha_max",
    "alpha_over_budget_folds",
)


def _share(num: int, den: int) -> float:
    return num / den if den else math.nan


def refer_summary(outcomes: Sequence[FoldOutcome]) -> dict[str, float]:
    """The refer rule over the outer folds, counts **pooled** over every outer test row (a few
    referred cases per fold make per-fold ratios coarse): refer rate, coverage per class (share
    of benign / malignant rows whose set holds their class), accuracy, malignant recall and
    precision on the decided rows, decided errors and missed malignancies per repeat (one pass
    over the training split), the alphas chosen, and how many folds' alpha missed the refer
    budget on their inner predictions. Empty when no fold carries a refer rule."""
    folds = [o for o in outcomes if o.refer is not None and o.y_true is not None]
    if not folds:
        return {}
    malignant = np.concatenate([o.y_true for o in folds if o.y_true is not None]) == POSITIVE_CLASS
    sets = np.concatenate([o.refer.sets for o in folds if o.refer is not None])
    decisions = np.concatenate([o.refer.decisions for o in folds if o.refer is not None])
    alphas = np.array([o.refer.params.alpha for o in folds if o.refer is not None])
    decided = decisions != conformal.REFER
    said_malignant = decisions == conformal.DECIDE_MALIGNANT
    tp = int(np.sum(said_malignant & malignant))
    correct = int(np.sum(decided & (said_malignant == malignant)))
    n_decided = int(decided.sum())
    missed = int(np.sum(decided & malignant & ~said_malignant))
    repeats = len({o.repeat for o in folds})
    return {
        "refer_rate": 1 - n_decided / decided.size,
        "coverage_benign": _share(int(sets[~malignant, 0].sum()), int((~malignant).sum())),
        "coverage_malignant": _share(int(sets[malignant, 1].sum()), int(malignant.sum())),
        "decided_accuracy": _share(correct, n_decided),
        "decided_recall": _share(tp, int(np.sum(decided & malignant))),
        "decided_precision": _share(tp, int(said_malignant.sum())),
        "decided_errors_per_repeat": (n_decided - correct) / repeats,
        "decided_missed_malignant_per_repeat": missed / repeats,
        "alpha_mean": float(alphas.mean()),
        "alpha_min": float(alphas.min()),
        "alpha_max": float(alphas.max()),
        "alpha_over_budget_folds": float(
            sum(not o.refer.within_budget for o in folds if o.refer is not None)
        ),
    }


#: The goal of issue #12 for the refer decision, besides the refer budget itself.
GOAL_DECIDED_ACCURACY = 0.99
GOAL_DECIDED_RECALL = 0.98


@dataclass(frozen=True)
class ReferGoal:
    """What the refer rule should achieve: refer at most ``max_refer_rate`` of the cases, with
    at least ``decided_accuracy`` and malignant ``decided_recall`` on the cases it decides."""

    max_refer_rate: float = conformal.DEFAULT_MAX_REFER_RATE
    decided_accuracy: float = GOAL_DECIDED_ACCURACY
    decided_recall: float = GOAL_DECIDED_RECALL


def refer_goal_misses(summary: dict[str, float], goal: ReferGoal) -> tuple[str, ...]:
    """The parts of ``goal`` a :func:`refer_summary` misses, e.g. ``("decided recall 0.9712 <
    0.98",)``; NaN (nothing decided) misses."""
    misses = []
    refer = summary["refer_rate"]
    if not refer <= goal.max_refer_rate:
        misses.append(f"refer rate {refer:.4f} > {goal.max_refer_rate}")
    for key, label, floor in (
        ("decided_accuracy", "decided accuracy", goal.decided_accuracy),
        ("decided_recall", "decided recall", goal.decided_recall),
    ):
        if not summary[key] >= floor:
            misses.append(f"{label} {summary[key]:.4f} < {floor}")
    return tuple(misses)


def most_chosen_params(outcomes: Sequence[FoldOutcome]) -> tuple[dict[str, Any], int]:
    """The grid point chosen in most outer folds, and in how many."""
    counts = Counter(repr(sorted(o.params.items())) for o in outcomes)
    key, n = counts.most_common(1)[0]  # pragma: no mutate (any count: [0] is the top)
    for o in outcomes:
        if repr(sorted(o.params.items())) == key:
            return dict(o.params), n
    raise AssertionError("unreachable")  # pragma: no cover, no mutate


@dataclass(frozen=True)
class Bar:
    """What the recommended configuration must reach (means over outer folds)."""

    recall: float
    precision: float
    roc_auc: float


@dataclass(frozen=True)
class Recommendation:
    model: str
    meets_bar: bool
    missed: tuple[str, ...]  # the bars it misses, e.g. "precision 0.9210 < 0.93"
    ranking: tuple[str, ...]  # all models, best first


def _gaps(summary: dict[str, float], bar: Bar) -> list[tuple[str, float, float]]:
    return [
        ("recall", _num(summary["recall_mean"]), bar.recall),
        ("precision", _num(summary["precision_mean"]), bar.precision),
        ("roc_auc", _num(summary["roc_auc_mean"]), bar.roc_auc),
    ]


def bar_misses(summary: dict[str, float], bar: Bar) -> tuple[str, ...]:
    """The bars ``summary`` misses, e.g. ``("precision 0.9210 < 0.93",)``."""
    return tuple(f"{m} {v:.4f} < {floor}" for m, v, floor in _gaps(summary, bar) if v < floor)


def shortfall(summary: dict[str, float], bar: Bar) -> float:
    """How far below the bar in total: the sum of ``max(0, floor - mean)`` over the three
    metrics (0 when the bar is met)."""
    return float(sum(max(0.0, floor - v) for _, v, floor in _gaps(summary, bar)))


def recommend(summaries: dict[str, dict[str, float]], bar: Bar) -> Recommendation:
    """Rank models: smallest total shortfall from the bar first (so every model meeting it
    comes first), then higher mean recall, precision, ROC AUC, then name. The first one is
    recommended."""
    if not summaries:
        raise ValueError("nothing to recommend: no model was compared")

    def key(name: str) -> tuple[float, float, float, float, str]:
        s = summaries[name]
        return (
            # float noise is ~1e-16, real gaps >= 1e-4: any rounding in between ranks alike
            round(shortfall(s, bar), 12),  # pragma: no mutate
            -_num(s["recall_mean"]),
            -_num(s["precision_mean"]),
            -_num(s["roc_auc_mean"]),
            name,
        )

    ranking = tuple(sorted(summaries, key=key))
    best = ranking[0]
    missed = bar_misses(summaries[best], bar)
    return Recommendation(best, not missed, missed, ranking)


def _num(value: float) -> float:
    return -math.inf if math.isnan(value) else value


__all__ = [
    "CALIBRATION_KEYS",
    "COMPARE_METRICS",
    "REFER_KEYS",
    "Bar",
    "Recommendation",
    "ReferGoal",
    "bar_misses",
    "calibration_over_repeats",
    "gate_pass_share",
    "most_chosen_params",
    "recommend",
    "refer_goal_misses",
    "refer_summary",
    "shortfall",
    "summarize_outcomes",
]
