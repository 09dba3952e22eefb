"""The promotion gate as a pure function of cross-validation results."""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class GateThresholds:
    """A model is promotable when CV malignant recall is high enough and stable across folds,
    and (when ``max_ece`` / ``max_brier`` are set) its out-of-fold probabilities are calibrated:
    ECE and Brier score of the CV out-of-fold predictions at most these bounds."""

    min_recall: float
    max_recall_std: float
    max_ece: float | None = None
    max_brier: float | None = None


@dataclass(frozen=True)
class GateDecision:
    """Whether the gate passed, and one human-readable reason per rule."""

    passed: bool
    reasons: tuple[str, ...]


def _at_most(name: str, value: float | None, bound: float, bound_name: str) -> tuple[bool, str]:
    ok = value is not None and not math.isnan(value) and value <= bound
    shown = "unmeasured" if value is None else f"{value:.4f}"
    return ok, f"{name} {shown} {'<=' if ok else '>'} {bound_name} {bound:.4f}"


def evaluate_gate(
    recall_mean: float,
    recall_std: float,
    thresholds: GateThresholds,
    *,
    ece: float | None = None,
    brier: float | None = None,
) -> GateDecision:
    """Pass iff ``recall_mean >= min_recall`` and ``recall_std <= max_recall_std``, and, for
    each calibration bound that is set, ``ece <= max_ece`` (``cv_ece``) and
    ``brier <= max_brier`` (``cv_brier_mean``).

    A NaN (or, for a set calibration bound, a missing value) fails the rule it belongs to: an
    unmeasured model is not promotable.
    """
    reasons = []
    mean_ok = not math.isnan(recall_mean) and recall_mean >= thresholds.min_recall
    reasons.append(
        f"cv_recall_mean {recall_mean:.4f} {'>=' if mean_ok else '<'} "
        f"min_recall {thresholds.min_recall:.4f}"
    )
    std_ok, reason = _at_most(
        "cv_recall_std", recall_std, thresholds.max_recall_std, "max_recall_std"
    )
    reasons.append(reason)
    passed = mean_ok and std_ok
    if thresholds.max_ece is not None:
        ok, reason = _at_most("cv_ece", ece, thresholds.max_ece, "max_ece")
        reasons.append(reason)
        passed = passed and ok
    if thresholds.max_brier is not None:
        ok, reason = _at_most("cv_brier_mean", brier, thresholds.max_brier, "max_brier")
        reasons.append(reason)
        passed = passed and ok
    return GateDecision(passed=passed, reasons=tuple(reasons))
