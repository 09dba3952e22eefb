"""The comparison table (Markdown for the console and the report, CSV) and the per-fold CSV."""

from __future__ import annotations

import csv
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from breast_cancer_ml.domain.conformal import REFER
from breast_cancer_ml.domain.metrics import COMPARE_METRICS
from breast_cancer_ml.domain.nested_cv import FoldOutcome
from breast_cancer_ml.pipelines.compare.results import ModelResult

#: Column label, summary key, format. Means ± std (ddof=1) over all outer folds.
LABELS = {
    "recall": "Recall",
    "precision": "Precision",
    "specificity": "Specificity",
    "f1": "F1",
    "accuracy": "Accuracy",
    "roc_auc": "ROC AUC",
    "pr_auc": "PR AUC",
    "brier": "Brier",
}
TABLE_ORDER = (
    "recall",
    "precision",
    "specificity",
    "f1",
    "accuracy",
    "roc_auc",
    "pr_auc",
    "brier",
)


def write_folds_csv(results: Mapping[str, ModelResult], path: Path) -> None:
    with path.open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(
            [
                "model",
                "repeat",
                "fold",
                *COMPARE_METRICS,
                "threshold",
                "fit_s",
                "predict_s",
                "params",
                "alpha",
                "refer_rate",
            ]
        )
        for name, result in results.items():
            for o in result.outcomes:
                writer.writerow(
                    [
                        name,
                        o.repeat,
                        o.index,
                        *(f"{o.metrics[m]:.6f}" for m in COMPARE_METRICS),
                        f"{o.threshold:.6f}",
                        f"{o.fit_seconds:.6f}",
                        f"{o.predict_seconds:.6f}",
                        repr(o.params) if o.params else "",
                        *_fold_refer(o),
                    ]
                )


def _fold_refer(o: FoldOutcome) -> list[str]:
    """The fold's alpha and refer rate (blank without a refer rule)."""
    if o.refer is None:
        return ["", ""]
    return [f"{o.refer.params.alpha:.3f}", f"{np.mean(o.refer.decisions == REFER):.6f}"]


def pm(summary: Mapping[str, float], metric: str) -> str:
    return f"{summary[f'{metric}_mean']:.4f} ± {summary[f'{metric}_std']:.4f}"


def table_rows(results: Mapping[str, ModelResult]) -> tuple[list[str], list[list[str]]]:
    header = [
        "Model",
        *(LABELS[m] for m in TABLE_ORDER),
        "Gate pass share",
        "Threshold",
        "Fit (s)",
        "Predict (ms)",
    ]
    rows = []
    for name, r in results.items():
        s = r.summary
        threshold = (
            f"{s['threshold_mean']:.3f}"
            if s["threshold_min"] == s["threshold_max"]
            else f"{s['threshold_mean']:.3f} [{s['threshold_min']:.3f}, {s['threshold_max']:.3f}]"
        )
        rows.append(
            [
                name,
                *(pm(s, m) for m in TABLE_ORDER),
                f"{s['gate_pass_share']:.2f}",
                threshold,
                f"{s['fit_seconds_mean']:.3f}",
                f"{1000 * s['predict_seconds_mean']:.2f}",
            ]
        )
    return header, rows


def _markdown(header: list[str], rows: list[list[str]]) -> str:
    lines = [
        "| " + " | ".join(header) + " |",
        "|" + "|".join(["---"] + ["---:"] * (len(header) - 1)) + "|",
    ]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def markdown_table(results: Mapping[str, ModelResult]) -> str:
    return _markdown(*table_rows(results))


def has_refer(results: Mapping[str, ModelResult]) -> bool:
    """Whether the comparison measured the refer rule and calibration (every model did)."""
    return all("refer_rate" in r.summary for r in results.values())


def _num(value: float, spec: str) -> str:
    return "n/a" if np.isnan(value) else format(value, spec)


def refer_rows(results: Mapping[str, ModelResult]) -> tuple[list[str], list[list[str]]]:
    """The refer rule per model, pooled over the outer test rows (see ``refer_summary``)."""
    header = [
        "Model",
        "Refer rate",
        "Coverage benign",
        "Coverage malignant",
        "Decided accuracy",
        "Decided recall",
        "Decided precision",
        "Errors per pass",
        "Missed malignant per pass",
        "Alpha mean [min, max]",
    ]
    rows = []
    for name, r in results.items():
        s = r.summary
        rows.append(
            [
                name,
                _num(s["refer_rate"], ".4f"),
                _num(s["coverage_benign"], ".4f"),
                _num(s["coverage_malignant"], ".4f"),
                _num(s["decided_accuracy"], ".4f"),
                _num(s["decided_recall"], ".4f"),
                _num(s["decided_precision"], ".4f"),
                f"{s['decided_errors_per_repeat']:.1f}",
                f"{s['decided_missed_malignant_per_repeat']:.1f}",
                f"{s['alpha_mean']:.3f} [{s['alpha_min']:.3f}, {s['alpha_max']:.3f}]",
            ]
        )
    return header, rows


def calibration_rows(results: Mapping[str, ModelResult]) -> tuple[list[str], list[list[str]]]:
    """Brier (mean ± std over folds) and ECE, slope, intercept (mean over repeats) per model."""
    header = ["Model", "Brier", "ECE", "Calibration slope", "Calibration intercept"]
    rows = [
        [
            name,
            pm(r.summary, "brier"),
            _num(r.summary["ece"], ".4f"),
            _num(r.summary["calibration_slope"], ".3f"),
            _num(r.summary["calibration_intercept"], ".3f"),
        ]
        for name, r in results.items()
    ]
    return header, rows


def refer_table(results: Mapping[str, ModelResult]) -> str:
    return _markdown(*refer_rows(results))


def calibration_table(results: Mapping[str, ModelResult]) -> str:
    return _markdown(*calibration_rows(results))


def write_comparison_csv(results: Mapping[str, ModelResult], path: Path) -> None:
    """Every summary key of every model, full precision (``repr``), one row per model."""
    with path.open("w", newline="") as fh:
        writer = csv.writer(fh)
        keys = sorted({k for r in results.values() for k in r.summary})
        writer.writerow(["model", *keys])
        for name, r in results.items():
            writer.writerow([name, *(repr(r.summary[k]) for k in keys)])
