"""The promotion gate as a pure function of cross-validation results."""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class GateThresholds:
    """A model is promotable when CV malignant recall is high enough and stable across folds."""

    min_recall: float
    max_recall_std: float


@dataclass(frozen=True)
class GateDecision:
    """Whether the gate passed, and one human-readable reason per rule."""

    passed: bool
    reasons: tuple[str, ...]


def evaluate_gate(
    recall_mean: float, recall_std: float, thresholds: GateThresholds
) -> GateDecision:
    """Pass iff ``recall_mean >= min_recall`` and ``recall_std <= max_recall_std``.

    A NaN on either side fails the rule it belongs to (an unmeasured model is not promotable).
    """
    reasons = []
    mean_ok = not math.isnan(recall_mean) and recall_mean >= thresholds.min_recall
    reasons.append(
        f"cv_recall_mean {recall_mean:.4f} {'>=' if mean_ok else '<'} "
        f"min_recall {thresholds.min_recall:.4f}"
    )
    std_ok = not math.isnan(recall_std) and recall_std <= thresholds.max_recall_std
    reasons.append(
        f"cv_recall_std {recall_std:.4f} {'<=' if std_ok else '>'} "
        f"max_recall_std {thresholds.max_recall_std:.4f}"
    )
    return GateDecision(passed=mean_ok and std_ok, reasons=tuple(reasons))
