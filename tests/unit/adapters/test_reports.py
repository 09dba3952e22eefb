from __future__ import annotations

from pathlib import Path

import numpy as np

from breast_cancer_ml.adapters.reports import (
    classification_report_text,
    confusion_counts,
    write_confusion_matrix_png,
)


def test_confusion_counts_rows_are_truth_benign_first() -> None:
    y_true = np.array([1, 1, 1, 0, 0])
    y_pred = np.array([1, 0, 1, 0, 1])
    assert confusion_counts(y_true, y_pred).tolist() == [[1, 1], [1, 2]]


def test_png_and_report(tmp_path: Path) -> None:
    path = tmp_path / "cm.png"
    write_confusion_matrix_png(np.array([[70, 2], [3, 39]]), path, "t")
    assert path.read_bytes()[:4] == b"\x89PNG"
    text = classification_report_text(np.array([1, 0, 1]), np.array([1, 0, 0]))
    assert "Benign" in text and "Malignant" in text
