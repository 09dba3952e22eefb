"""Human-readable artifacts of a run: confusion matrix picture and classification report."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

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


def start_confusion_matrix_png(
    counts: NDArray[np.int64], path: Path, title: str
) -> Callable[[], None]:
    """Render the PNG in a forked process (matplotlib's import and drawing are slow, and there
    they overlap with MLflow's start-up on the other core); return a function that waits for it.

    Where fork is unavailable, or the child fails, the picture is drawn in this process.
    """
    if not hasattr(os, "fork") or "matplotlib" in sys.modules:
        write_confusion_matrix_png(counts, path, title)
        return lambda: None
    pid = os.fork()
    if pid == 0:  # child: draw, then leave without running the parent's exit handlers
        code = 1
        try:
            write_confusion_matrix_png(counts, path, title)
            code = 0
        finally:
            os._exit(code)

    def wait() -> None:
        _, status = os.waitpid(pid, 0)
        if os.waitstatus_to_exitcode(status) != 0 or not path.is_file():
            write_confusion_matrix_png(counts, path, title)

    return wait


def classification_report_text(y_true: NDArray[np.int64], y_pred: NDArray[np.int64]) -> str:
    """scikit-learn's report with named classes (Benign, Malignant)."""
    from sklearn.metrics import classification_report

    report: str = classification_report(
        y_true, y_pred, labels=list(_ORDER), target_names=_NAMES, digits=4, zero_division=0
    )
    return report
