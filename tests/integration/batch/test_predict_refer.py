"""`bcml predict` through the real CLI: the ``decision`` and ``prediction_set`` columns of the
refer rule published with the model (or of the thresholded class without one), and the summary
line counting the referrals."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pyarrow.csv as pcsv
import pyarrow.parquet as pq
import pytest

from breast_cancer_ml.cli import main
from breast_cancer_ml.domain.conformal import decide, joined_set_names, prediction_sets
from breast_cancer_ml.domain.schema import FEATURES
from breast_cancer_ml.settings import BUNDLED_DATA

from .conftest import RULE, Trained

pytestmark = pytest.mark.integration

TEXT = pcsv.ConvertOptions(column_types={"prediction_set": "string", "decision": "string"})
N = 120
OUTSIDE_ROW = 4  # its smoothness_mean is set far outside the training data's range


def _cases(trained: Trained, folder: Path) -> tuple[Path, np.ndarray]:
    """The first N bundled cases plus the one the model scores nearest 0.5, with row
    OUTSIDE_ROW out of the envelope (within the hard bound); the file and its values."""
    with BUNDLED_DATA.open() as f:
        reader = csv.DictReader(f)
        rows = [[float(r[c]) for c in FEATURES] for r in reader]
    X_all = np.asarray(rows)
    p_all = trained.model.pipeline.predict_proba(X_all)[:, 1]
    X = np.vstack([X_all[:N], X_all[np.argmin(np.abs(p_all - 0.5))]])
    X[OUTSIDE_ROW, FEATURES.index("smoothness_mean")] = 50.0
    path = folder / "cases.csv"
    with path.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(FEATURES)
        writer.writerows(X.tolist())
    return path, X


def _expected(trained: Trained, X: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Probabilities by scikit-learn itself, the envelope check by the recorded bounds."""
    p = trained.model.pipeline.predict_proba(X)[:, 1]
    prediction = (p >= trained.model.threshold).astype(int)
    assert trained.model.record is not None
    bounds = trained.model.record.envelope
    low, high = np.asarray(bounds.low), np.asarray(bounds.high)
    inside = ((low <= X) & (high >= X)).all(axis=1)
    return p, prediction, inside


def test_output_carries_the_published_refer_rules_decision_and_set_and_counts_referrals(
    with_rule: Trained, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source, X = _cases(with_rule, tmp_path)
    out = tmp_path / "scores.csv"
    argv = ["predict", "--models-dir", str(with_rule.models_dir), "--input", str(source)]
    assert main([*argv, "--output", str(out)]) == 0
    result = pcsv.read_csv(out, convert_options=TEXT)

    p, prediction, inside = _expected(with_rule, X)
    assert not inside[OUTSIDE_ROW]
    expected = decide(RULE, p, in_envelope=inside, prediction=prediction)
    sets = joined_set_names(prediction_sets(RULE, p))
    decisions = result.column("decision").to_pylist()
    assert decisions == expected.tolist()
    assert [s or "" for s in result.column("prediction_set").to_pylist()] == sets.tolist()
    assert result.column("prediction").to_pylist() == prediction.tolist()
    # the borderline case (last) holds both classes and is referred; so is the outside one
    assert (decisions[-1], sets[-1]) == ("refer", "Benign;Malignant")
    assert decisions[OUTSIDE_ROW] == "refer"
    assert {"malignant", "benign"} <= set(decisions)

    err = capsys.readouterr().err
    referred = decisions.count("refer")
    assert (
        f"decisions:  {referred} of {N + 1} scored row(s) referred to a pathologist "
        f"(decision column; refer rule mondrian-split-conformal, alpha 0.05)"
    ) in err

    parquet = tmp_path / "scores.parquet"
    assert main([*argv, "--output", str(parquet)]) == 0
    table = pq.read_table(parquet)
    assert table.column("decision").to_pylist() == decisions
    assert table.column("prediction_set").to_pylist() == sets.tolist()


def test_without_a_refer_rule_the_set_is_the_thresholded_class_and_outside_rows_are_referred(
    without_rule: Trained, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source, X = _cases(without_rule, tmp_path)
    out = tmp_path / "scores.csv"
    argv = ["predict", "--models-dir", str(without_rule.models_dir), "--input", str(source)]
    assert main([*argv, "--output", str(out)]) == 0
    result = pcsv.read_csv(out, convert_options=TEXT)

    _, prediction, inside = _expected(without_rule, X)
    labels = np.where(prediction == 1, "Malignant", "Benign")
    assert result.column("prediction_set").to_pylist() == labels.tolist()
    expected = np.where(inside, np.char.lower(labels), "refer")
    assert result.column("decision").to_pylist() == expected.tolist()
    assert result.column("decision").to_pylist()[OUTSIDE_ROW] == "refer"
    err = capsys.readouterr().err
    assert f"decisions:  {int((~inside).sum())} of {N + 1} scored row(s) referred" in err
    assert "no refer rule recorded for this model" in err
