"""Summaries of a comparison and the recommendation rule (pure; ``bcml compare``)."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from breast_cancer_ml.domain.metrics import COMPARE_METRICS, summarize_folds
from breast_cancer_ml.domain.nested_cv import FoldOutcome
from breast_cancer_ml.domain.promotion import GateThresholds, evaluate_gate


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
    return out


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
    "COMPARE_METRICS",
    "Bar",
    "Recommendation",
    "bar_misses",
    "gate_pass_share",
    "most_chosen_params",
    "recommend",
    "shortfall",
    "summarize_outcomes",
]
