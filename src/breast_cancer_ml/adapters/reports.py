"""Human-readable artifacts of a run: confusion matrix, reliability diagram and decision curve
pictures, the classification report, and the decision-curve and subgroup tables (CSV)."""

from __future__ import annotations

import csv
import os
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from breast_cancer_ml.domain.calibration import ReliabilityCurve
from breast_cancer_ml.domain.decision_curve import DecisionCurve
from breast_cancer_ml.domain.schema import BENIGN, CLASS_NAMES, MALIGNANT

_ORDER = (BENIGN, MALIGNANT)
_NAMES = [CLASS_NAMES[label] for label in _ORDER]


def confusion_counts(y_true: NDArray[np.int64], y_pred: NDArray[np.int64]) -> NDArray[np.int64]:
    """2x2 counts, rows = true class, columns = predicted class, order Benign, Malignant."""
    out = np.zeros((2, 2), dtype=np.int64)
    for i, t in enumerate(_ORDER):
        for j, p in enumerate(_ORDER):
            out[i, j] = int(np.sum((y_true == t) & (y_pred == p)))
    return out


def write_confusion_matrix_png(counts: NDArray[np.int64], path: Path, title: str) -> None:
    """A labelled 2x2 confusion matrix (Benign/Malignant) as a PNG."""
    import matplotlib

    matplotlib.use("Agg")  # no display; must precede pyplot's import
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(4.6, 4.0), dpi=100)
    ax.imshow(counts, cmap="Blues")
    ax.set_xticks([0, 1], labels=_NAMES)
    ax.set_yticks([0, 1], labels=_NAMES)
    ax.set_xlabel("Predicted")
    ax.set_ylabel("Actual")
    ax.set_title(title)
    threshold = counts.max() / 2
    for i in range(2):
        for j in range(2):
            colour = "white" if counts[i, j] > threshold else "black"
            ax.text(j, i, str(counts[i, j]), ha="center", va="center", color=colour, fontsize=14)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def start_pngs(drawings: Sequence[tuple[Path, Callable[[], None]]]) -> Callable[[], None]:
    """Draw every ``(path, draw)`` in one forked process (matplotlib's import and drawing are
    slow, and there they overlap with MLflow's start-up on the other core); return a function
    that waits for it.

    Where fork is unavailable, or the child fails to write a picture, the missing pictures
    are drawn in this process.
    """

    def draw_missing() -> None:
        for path, draw in drawings:
            if not path.is_file():
                draw()

    if not hasattr(os, "fork") or "matplotlib" in sys.modules:
        draw_missing()
        return lambda: None
    pid = os.fork()
    if pid == 0:  # child: draw, then leave without running the parent's exit handlers
        code = 1
        try:
            for _, draw in drawings:
                draw()
            code = 0
        finally:
            os._exit(code)

    def wait() -> None:
        os.waitpid(pid, 0)
        draw_missing()

    return wait


def classification_report_text(y_true: NDArray[np.int64], y_pred: NDArray[np.int64]) -> str:
    """scikit-learn's report with named classes (Benign, Malignant)."""
    from sklearn.metrics import classification_report

    report: str = classification_report(
        y_true, y_pred, labels=list(_ORDER), target_names=_NAMES, digits=4, zero_division=0
    )
    return report


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")  # no display; must precede pyplot's import
    import matplotlib.pyplot as plt

    return plt


def write_calibration_png(curves: Mapping[str, ReliabilityCurve], path: Path, title: str) -> None:
    """A reliability diagram: per label (e.g. CV out-of-fold, test split) the observed
    malignant fraction against the mean predicted probability of each non-empty bin, marker
    area by the bin's count; the diagonal is perfect calibration."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(5.2, 5.0), dpi=100)
    ax.plot([0, 1], [0, 1], color="grey", linestyle=":", label="perfectly calibrated")
    for (label, curve), marker in zip(curves.items(), ("o", "s", "^", "D"), strict=False):
        sizes = [12 + 2 * c for c in curve.count]
        ax.plot(curve.mean_predicted, curve.observed, marker=marker, markersize=0, label=label)
        ax.scatter(curve.mean_predicted, curve.observed, s=sizes, marker=marker, alpha=0.6)
    ax.set(xlim=(0, 1), ylim=(0, 1), xlabel="Mean predicted P(malignant), per bin")
    ax.set_ylabel("Observed malignant fraction")
    ax.set_title(title)
    ax.legend(loc="upper left", fontsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def write_decision_curve_png(
    curve: DecisionCurve, threshold: float, path: Path, title: str
) -> None:
    """Net benefit of the model, treat-all and treat-none over the threshold probabilities,
    with the model's operating threshold marked (when it lies on the plotted range)."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6.0, 4.4), dpi=100)
    ax.plot(curve.thresholds, curve.model, label="model", linewidth=2)
    ax.plot(curve.thresholds, curve.treat_all, label="treat all", linestyle="--")
    ax.plot(curve.thresholds, curve.treat_none, label="treat none", color="black", linewidth=1)
    if curve.thresholds[0] <= threshold <= curve.thresholds[-1]:
        ax.axvline(
            threshold, color="red", linestyle=":", label=f"operating threshold {threshold:.3g}"
        )
    top = max(max(curve.model), max(curve.treat_all))
    ax.set(ylim=(-0.05, top + 0.05), xlabel="Threshold probability", ylabel="Net benefit")
    ax.set_title(title)
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def write_csv(rows: Sequence[Mapping[str, Any]], path: Path) -> None:
    """``rows`` (dicts with the same keys, in column order) as a CSV file with a header;
    floats written by ``repr`` (round-trips exactly), NaN as ``nan``."""
    if not rows:
        raise ValueError(f"{path.name}: no rows to write")
    with path.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
