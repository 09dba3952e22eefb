"""``bcml train``: train, evaluate, log to MLflow and promote if the gate passes; prints the
run's summary (cross-validated recall, the gate, the held-out test report, promotion)."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

from breast_cancer_ml.cli.flags import (
    add_verbose,
    load_settings_from,
    mlflow_verbosity,
    settings_command,
)
from breast_cancer_ml.errors import PromotionRefusedError

if TYPE_CHECKING:
    from breast_cancer_ml.domain.records import RunSummary


def add_parser(sub: Any) -> None:
    from breast_cancer_ml.settings import TrainSettings

    train = settings_command(
        sub,
        "train",
        TrainSettings,
        handle,
        help="train, evaluate, log to MLflow and promote if the gate passes",
        description="Train on the bundled data (or --data), cross-validate, evaluate on the "
        "held-out split, log to MLflow and promote the model if the gate passes.",
        skip=("smoke_fraction", "smoke_k_folds"),
    )
    add_verbose(train)


def handle(args: argparse.Namespace) -> int:
    from breast_cancer_ml.pipelines.train import run_training
    from breast_cancer_ml.settings import TrainSettings

    settings = load_settings_from(args, TrainSettings)
    mlflow_verbosity(args)
    result = run_training(settings)
    summary = result.summary
    metrics = summary.metrics
    print(f"run id:        {result.run_id}  (experiment {summary.experiment!r})")
    print(f"data version:  {summary.data_version}")
    print(
        f"cv recall:     {metrics['cv_recall_mean']:.4f} ± {metrics['cv_recall_std']:.4f} "
        f"(ddof=1, {summary.params['k_folds']} folds"
        + (f" x {summary.cv_repeats} repeats)" if summary.cv_repeats > 1 else ")")
    )
    print(
        f"gate:          {'PASSED' if result.gate.passed else 'FAILED'}: "
        + "; ".join(result.gate.reasons)
    )
    for line in _test_lines(summary, settings.min_recall):
        print(line)
    for line in _evidence_lines(summary):
        print(line)
    _print_selection(summary)
    reg = summary.registered_model
    if result.promoted and reg is not None:
        print(f"promoted:      {summary.published_path} -> {result.published_path}")
        print(f"registry:      {reg.name} version {reg.version} @{reg.alias}")
        print(f"model card:    {summary.published_path}/MODEL_CARD.md (and .html)")
    else:
        print(f"promoted:      no ({summary.not_promoted_reason}); models/latest unchanged")
    print(f"model:         {summary.model_uri}")
    print(f"artifacts:     {summary.artifact_uri}")
    uri = str(summary.tracking_uri)
    ui = f"mlflow ui --backend-store-uri {uri}" if uri.startswith("sqlite") else uri
    print(f"MLflow UI:     bcml ui   (or: {ui})")
    if settings.require_promotion and not (
        result.promoted or (settings.smoke and result.gate.passed)
    ):
        raise PromotionRefusedError(
            f"model not promoted ({summary.not_promoted_reason}) and --require-promotion set"
        )
    return 0


def _test_lines(summary: RunSummary, min_recall: float) -> list[str]:
    """The held-out test split, labelled as a report (not a check), each metric with its 95%
    bootstrap CI; a plain line when its recall is under ``min_recall``."""
    metrics, ci = summary.metrics, summary.test_ci or {}
    parts = []
    for name in ("recall", "precision", "specificity", "accuracy", "f1", "roc_auc", "brier"):
        if f"test_{name}" not in metrics:
            continue
        part = f"{name} {metrics[f'test_{name}']:.4f}"
        if isinstance(ci.get(name), dict):
            part += f" (95% CI {ci[name]['low']:.2f}-{ci[name]['high']:.2f})"
        parts.append(part)
    n_malignant = summary.n_test_malignant
    cases = f"; {n_malignant} malignant cases" if n_malignant is not None else ""
    lines = [f"test (reported only, not used by the gate{cases}): " + ", ".join(parts)]
    recall = metrics.get("test_recall")
    if recall is not None and recall < min_recall:
        lines.append(
            f"note:          test recall {recall:.4f} is below min_recall {min_recall:.4f}. The "
            "gate uses K-fold CV on the training split instead: the test split is small, and "
            "it stays an unbiased report only if nothing is decided on it."
        )
    return lines


def _evidence_lines(summary: RunSummary) -> list[str]:
    """Calibration and the refer rule, one line each (issue 12); none for an older summary."""
    lines = []
    cv, test = summary.cv_calibration, summary.test_calibration
    if cv is not None and test is not None:
        lines.append(
            f"calibration:   CV out-of-fold Brier {summary.metrics['cv_brier_mean']:.4f}, "
            f"ECE {cv.ece:.4f}, slope "
            f"{cv.slope:.2f}, intercept {cv.intercept:.2f}; test Brier {test.brier:.4f}, "
            f"ECE {test.ece:.4f}"
        )
    refer = summary.refer
    if refer is not None:
        budget = "" if refer.within_budget else " (over budget: the lowest rate reachable)"
        lines.append(
            f"refer rule:    alpha {refer.alpha:g} ({refer.how}): refers {refer.refer_rate:.1%} "
            f"of out-of-fold cases{budget}; coverage benign {refer.coverage_benign:.3f}, "
            f"malignant {refer.coverage_malignant:.3f}"
        )
    flagged = [g.slice for g in summary.subgroups or [] if g.recall_below_gate]
    if flagged:
        lines.append(
            "subgroups:     recall interval wholly below min_recall in: "
            + "; ".join(flagged)
            + " (subgroups.csv)"
        )
    return lines


def _print_selection(summary: RunSummary) -> None:
    """Threshold and champion/challenger lines of ``bcml train`` (issue 4)."""
    target = summary.target_recall
    how = f"chosen for target recall {target} on out-of-fold predictions" if target else "default"
    print(f"threshold:     {summary.threshold:.4f} ({how})")
    verdict = summary.champion_challenger
    if verdict is not None and verdict.evaluated:
        print(f"challenger:    {verdict.reason}")
