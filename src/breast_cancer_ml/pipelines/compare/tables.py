"""The comparison table (Markdown for the console and the report, CSV) and the per-fold CSV."""

from __future__ import annotations

import csv
from collections.abc import Mapping
from pathlib import Path

from breast_cancer_ml.domain.metrics import COMPARE_METRICS
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
                    ]
                )


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


def markdown_table(results: Mapping[str, ModelResult]) -> str:
    header, rows = table_rows(results)
    lines = [
        "| " + " | ".join(header) + " |",
        "|" + "|".join(["---"] + ["---:"] * (len(header) - 1)) + "|",
    ]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def write_comparison_csv(results: Mapping[str, ModelResult], path: Path) -> None:
    """Every summary key of every model, full precision (``repr``), one row per model."""
    with path.open("w", newline="") as fh:
        writer = csv.writer(fh)
        keys = sorted({k for r in results.values() for k in r.summary})
        writer.writerow(["model", *keys])
        for name, r in results.items():
            writer.writerow([name, *(repr(r.summary[k]) for k in keys)])
