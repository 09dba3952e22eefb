"""The clinical evidence of one ``bcml train`` run (issue 12): calibration, confidence
intervals, decision curve, subgroups and the refer rule, computed from the run's predictions.

Which predictions each number comes from (the model card says the same):

- **CV out-of-fold** (``cv_*``): every fold's validation rows, pooled over folds and repeats,
  each predicted by a model that never saw it. The gate's calibration rules (``cv_ece``,
  ``cv_brier_mean``), the refer rule's alpha and quantiles, the decision curve and the subgroup
  table use them: they are the training split's honest predictions, four times as many cases as
  the test split, and nothing is chosen on the test split.
- **Test split** (``test_*``): the final model on the held-out split, with a 95% percentile
  bootstrap interval per metric (seeded with ``--seed``, 2,000 resamples). Reported, never used
  for a decision.

Everything here is numbers; :mod:`~breast_cancer_ml.adapters.reports` draws and writes them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

import numpy as np
from numpy.typing import NDArray

from breast_cancer_ml.domain.bootstrap import (
    DEFAULT_LEVEL,
    INTERVAL_METRICS,
    Interval,
    bootstrap_intervals,
    fold_mean_intervals,
)
from breast_cancer_ml.domain.calibration import CalibrationSummary, calibration_summary
from breast_cancer_ml.domain.conformal import AlphaChoice, choose_alpha, evaluate, fit
from breast_cancer_ml.domain.cross_validation import CVResult
from breast_cancer_ml.domain.decision import classify
from breast_cancer_ml.domain.decision_curve import DecisionCurve, decision_curve
from breast_cancer_ml.domain.metrics import specificity
from breast_cancer_ml.domain.records import CalibrationRecord, ReferRecord, SubgroupRecord
from breast_cancer_ml.domain.schema import FEATURES, POSITIVE_CLASS
from breast_cancer_ml.domain.subgroups import (
    TERTILE_FEATURES,
    SubgroupRow,
    borderline_slice,
    subgroup_table,
    tertile_slices,
)

#: Resamples of every bootstrap interval of a training run (seeded with ``--seed``).
BOOTSTRAP_RESAMPLES: Final = 2000
#: The test-split metrics that get ``test_<metric>_ci_low`` / ``_ci_high``: every metric the
#: bootstrap gives an interval for.
TEST_CI_METRICS: Final = INTERVAL_METRICS
#: The per-fold CV metrics whose mean gets ``cv_<metric>_mean_ci_low`` / ``_ci_high``.
CV_CI_METRICS: Final = ("accuracy", "precision", "recall", "specificity", "f1", "roc_auc", "brier")


@dataclass(frozen=True)
class Pooled:
    """The CV out-of-fold predictions of every fold (and repeat), concatenated."""

    idx: NDArray[np.int64]  # rows of the training split
    y: NDArray[np.int64]
    proba: NDArray[np.float64]
    pred: NDArray[np.int64]  # at the operating threshold


def pooled_oof(cv: CVResult, y: NDArray[np.int64], threshold: float) -> Pooled:
    idx = np.concatenate(cv.fold_test_idx)
    proba = np.concatenate(cv.fold_proba)
    return Pooled(idx, y[idx], proba, classify(proba, threshold))


@dataclass(frozen=True)
class ReferRule:
    """The refer rule fitted at training, and how it did on the predictions it came from."""

    choice: AlphaChoice
    #: "chosen under --max-refer-rate <r>" or "fixed by --conformal-alpha"
    how: str
    max_refer_rate: float
    coverage_benign: float
    coverage_malignant: float
    decided_accuracy: float
    decided_recall: float
    decided_precision: float


@dataclass(frozen=True)
class Evidence:
    cv_calibration: CalibrationSummary
    test_calibration: CalibrationSummary
    cv_fold_brier: list[float]
    cv_fold_specificity: list[float]
    test_ci: dict[str, Interval]
    cv_mean_ci: dict[str, Interval]
    decision_curve: DecisionCurve
    subgroups: list[SubgroupRow]
    refer: ReferRule
    n_resamples: int
    seed: int

    def metrics(self) -> dict[str, float]:
        """The MLflow metrics of the evidence (names of issue 12's "Names" section, plus the
        CIs of the CV means and the refer rule's measured coverage)."""
        out = {
            "cv_brier_mean": float(np.mean(self.cv_fold_brier)),
            "cv_brier_std": _std(self.cv_fold_brier),
            "cv_specificity_mean": float(np.mean(self.cv_fold_specificity)),
            "cv_specificity_std": _std(self.cv_fold_specificity),
            "cv_ece": self.cv_calibration.ece,
            "cv_calibration_slope": self.cv_calibration.slope,
            "cv_calibration_intercept": self.cv_calibration.intercept,
            "test_ece": self.test_calibration.ece,
            "test_calibration_slope": self.test_calibration.slope,
            "test_calibration_intercept": self.test_calibration.intercept,
            "cv_refer_rate": self.refer.choice.refer_rate,
            "conformal_alpha": self.refer.choice.params.alpha,
            "cv_coverage_benign": self.refer.coverage_benign,
            "cv_coverage_malignant": self.refer.coverage_malignant,
        }
        for name, (low, high) in self.test_ci.items():
            out[f"test_{name}_ci_low"], out[f"test_{name}_ci_high"] = low, high
        for name, (low, high) in self.cv_mean_ci.items():
            out[f"cv_{name}_mean_ci_low"], out[f"cv_{name}_mean_ci_high"] = low, high
        return out

    def ci_record(self) -> dict[str, Any]:
        """``run_summary.json``'s ``test_ci``: per metric ``{"low", "high"}`` and the method."""
        return {n: {"low": lo, "high": hi} for n, (lo, hi) in self.test_ci.items()} | {
            "method": "percentile bootstrap of the test split",
            "level": DEFAULT_LEVEL,
            "n_resamples": self.n_resamples,
            "seed": self.seed,
        }

    def cv_ci_record(self) -> dict[str, Any]:
        """``run_summary.json``'s ``cv_mean_ci``: per metric the interval of the CV mean."""
        return {n: {"low": lo, "high": hi} for n, (lo, hi) in self.cv_mean_ci.items()} | {
            "method": "percentile bootstrap of the per-fold values (folds resampled)",
            "level": DEFAULT_LEVEL,
            "n_resamples": self.n_resamples,
            "seed": self.seed,
        }


#: What the shipped refer rule guarantees, and what it does not (the card and the summary say it).
GUARANTEE: Final = (
    "Mondrian (class-conditional) split-conformal sets: for exchangeable cases, a malignant "
    "case's set holds Malignant with probability >= 1 - alpha, and likewise for benign. The "
    "quantiles come from out-of-fold predictions and are applied to the model refit on the "
    "whole training split (cross-conformal), so the bound is approximate: the measured "
    "out-of-fold coverage is reported beside it."
)


def calibration_record(summary: CalibrationSummary, predictions: str, n: int) -> CalibrationRecord:
    return CalibrationRecord(
        predictions=predictions,
        n=n,
        brier=summary.brier,
        ece=summary.ece,
        slope=summary.slope,
        intercept=summary.intercept,
    )


def refer_record(rule: ReferRule) -> ReferRecord:
    return ReferRecord(
        method=rule.choice.params.method,
        alpha=rule.choice.params.alpha,
        how=rule.how,
        max_refer_rate=rule.max_refer_rate,
        refer_rate=rule.choice.refer_rate,
        within_budget=rule.choice.within_budget,
        coverage_benign=rule.coverage_benign,
        coverage_malignant=rule.coverage_malignant,
        decided_accuracy=rule.decided_accuracy,
        decided_recall=rule.decided_recall,
        decided_precision=rule.decided_precision,
        guarantee=GUARANTEE,
    )


def subgroup_records(rows: list[SubgroupRow]) -> list[SubgroupRecord]:
    return [
        SubgroupRecord(
            slice=r.name,
            n=r.n,
            n_malignant=r.n_malignant,
            metrics=dict(r.metrics),
            ci_low={k: lo for k, (lo, _) in r.intervals.items()},
            ci_high={k: hi for k, (_, hi) in r.intervals.items()},
            recall_below_gate=r.recall_below_gate,
        )
        for r in rows
    ]


def _std(values: list[float]) -> float:
    return float(np.std(values, ddof=1)) if len(values) > 1 else float("nan")


def fold_values(cv: CVResult, y: NDArray[np.int64], threshold: float) -> list[dict[str, float]]:
    """Each fold's CV metrics plus its specificity and Brier score (for the CV-mean CIs)."""
    out = []
    for numbers, idx, proba in zip(cv.folds, cv.fold_test_idx, cv.fold_proba, strict=True):
        extra = {
            "specificity": specificity(y[idx], classify(proba, threshold)),
            # metrics.brier's definition in numpy: scikit-learn's input checks cost ~10 ms a
            # call, more than the number (a unit test holds the two equal)
            "brier": float(np.mean((proba - (y[idx] == POSITIVE_CLASS)) ** 2)),
        }
        merged = {**numbers, **extra}
        out.append({name: merged[name] for name in CV_CI_METRICS})
    return out


def refer_rule(oof: Pooled, max_refer_rate: float, conformal_alpha: float | None) -> ReferRule:
    """Mondrian split-conformal rule on the out-of-fold predictions: the smallest alpha within
    the refer budget, or the fixed ``conformal_alpha``; disagreement with the operating
    threshold counts as a referral (as the service decides)."""
    if conformal_alpha is None:
        choice = choose_alpha(oof.y, oof.proba, max_refer_rate=max_refer_rate, prediction=oof.pred)
        how = f"chosen under --max-refer-rate {max_refer_rate:g}"
    else:
        params = fit(oof.y, oof.proba, conformal_alpha)
        rate = evaluate(params, oof.y, oof.proba, prediction=oof.pred).refer_rate
        choice = AlphaChoice(params, rate, within_budget=rate <= max_refer_rate + 1e-12)
        how = "fixed by --conformal-alpha"
    report = evaluate(choice.params, oof.y, oof.proba, prediction=oof.pred)
    return ReferRule(
        choice=choice,
        how=how,
        max_refer_rate=max_refer_rate,
        coverage_benign=report.coverage_benign,
        coverage_malignant=report.coverage_malignant,
        decided_accuracy=report.decided_accuracy,
        decided_recall=report.decided_recall,
        decided_precision=report.decided_precision,
    )


def gather(
    *,
    cv: CVResult,
    X_train: NDArray[np.float64],
    y_train: NDArray[np.int64],
    y_test: NDArray[np.int64],
    test_proba: NDArray[np.float64],
    test_pred: NDArray[np.int64],
    threshold: float,
    min_recall: float,
    max_refer_rate: float,
    conformal_alpha: float | None,
    seed: int,
    n_resamples: int = BOOTSTRAP_RESAMPLES,
) -> Evidence:
    """Every number of the evidence (see the module docstring for which predictions)."""
    oof = pooled_oof(cv, y_train, threshold)
    per_fold = fold_values(cv, y_train, threshold)
    test_ci = bootstrap_intervals(y_test, test_pred, test_proba, n_resamples=n_resamples, seed=seed)
    slices = [
        s
        for feature in TERTILE_FEATURES
        for s in tertile_slices(X_train[oof.idx, FEATURES.index(feature)], feature)
    ] + [borderline_slice(oof.proba)]
    return Evidence(
        cv_calibration=calibration_summary(oof.y, oof.proba),
        test_calibration=calibration_summary(y_test, test_proba),
        cv_fold_brier=[f["brier"] for f in per_fold],
        cv_fold_specificity=[f["specificity"] for f in per_fold],
        test_ci={name: test_ci[name] for name in TEST_CI_METRICS},
        cv_mean_ci=fold_mean_intervals(per_fold, n_resamples=n_resamples, seed=seed),
        decision_curve=decision_curve(oof.y, oof.proba),
        subgroups=subgroup_table(
            oof.y, oof.pred, slices, min_recall=min_recall, n_resamples=n_resamples, seed=seed
        ),
        refer=refer_rule(oof, max_refer_rate, conformal_alpha),
        n_resamples=n_resamples,
        seed=seed,
    )
