from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from breast_cancer_ml.adapters.reports import (
    classification_report_text,
    confusion_counts,
    start_pngs,
    write_calibration_png,
    write_confusion_matrix_png,
    write_csv,
    write_decision_curve_png,
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


def test_calibration_and_decision_curve_pictures_are_pngs(tmp_path: Path) -> None:
    from breast_cancer_ml.domain.calibration import reliability_curve
    from breast_cancer_ml.domain.decision_curve import decision_curve

    y = np.array([0, 0, 1, 1, 1, 0])
    p = np.array([0.1, 0.3, 0.7, 0.9, 0.6, 0.4])
    cal, dca = tmp_path / "calibration.png", tmp_path / "decision_curve.png"
    write_calibration_png({"cv": reliability_curve(y, p)}, cal, "t")
    write_decision_curve_png(decision_curve(y, p), 0.3, dca, "t")
    assert cal.read_bytes()[:4] == b"\x89PNG" and dca.read_bytes()[:4] == b"\x89PNG"


def test_start_pngs_leaves_every_picture_drawn_once_waited_for(tmp_path: Path) -> None:
    def draw(path: Path) -> None:
        path.write_bytes(path.name.encode())

    a, b = tmp_path / "a.png", tmp_path / "b.png"
    wait = start_pngs([(a, lambda: draw(a)), (b, lambda: draw(b))])
    wait()
    assert (a.read_bytes(), b.read_bytes()) == (b"a.png", b"b.png")


def test_csv_has_a_header_and_round_trips_floats(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    write_csv(
        [
            {"slice": "a, b", "x": 0.1 + 0.2, "flag": True},
            {"slice": "c", "x": float("nan"), "flag": False},
        ],
        path,
    )
    with path.open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert rows[0] == {"slice": "a, b", "x": repr(0.1 + 0.2), "flag": "True"}
    assert float(rows[0]["x"]) == 0.1 + 0.2 and rows[1]["x"] == "nan"


def test_csv_without_rows_is_refused_before_a_file_is_written(tmp_path: Path) -> None:
    import pytest

    path = tmp_path / "t.csv"
    with pytest.raises(ValueError, match="no rows"):
        write_csv([], path)
    assert not path.exists()
