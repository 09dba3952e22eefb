"""`bcml predict --explain K` through the real CLI: the top-K contributions to each row's
log-odds as columns (CSV and Parquet, chunked), from the explainer ``bcml train`` published
with the model; K outside 1..30 and a model that cannot be explained stop with exit 2 and
write nothing."""

from __future__ import annotations

import csv
import math
import uuid
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.csv as pcsv
import pyarrow.parquet as pq
import pytest

from breast_cancer_ml.adapters import model_store
from breast_cancer_ml.adapters.dataset import load_dataset
from breast_cancer_ml.cli import main
from breast_cancer_ml.domain.contract import Envelope
from breast_cancer_ml.domain.explain import build_params
from breast_cancer_ml.domain.models import build_pipeline
from breast_cancer_ml.domain.schema import FEATURES
from breast_cancer_ml.settings import BUNDLED_DATA

from .conftest import Trained

pytestmark = pytest.mark.integration

N = 25


def _cases(folder: Path, n: int = N) -> tuple[Path, np.ndarray]:
    X = load_dataset(BUNDLED_DATA).X[:n]
    path = folder / "cases.csv"
    with path.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(FEATURES)
        writer.writerows(X.tolist())
    return path, X


def _predict(models_dir: Path, source: Path, output: Path, *extra: str) -> int:
    return main(
        [
            "predict", "--input", str(source), "--output", str(output),
            "--models-dir", str(models_dir), *extra,
        ]
    )  # fmt: skip


def test_explain_3_adds_the_three_largest_contributions_of_the_promoted_model(
    trained: Trained, tmp_path: Path
) -> None:
    record = trained.model.record
    assert record is not None and record.explainer is not None  # published by bcml train
    assert record.explainer.method == "linear_exact"
    source, X = _cases(tmp_path)
    out = tmp_path / "scores.csv"
    assert _predict(trained.models_dir, source, out, "--explain", "3") == 0
    table = pcsv.read_csv(out).to_pylist()
    assert len(table) == N
    pipe = trained.model.pipeline
    scaler, model = pipe.steps[0][1], pipe.steps[1][1]
    for row, x in zip(table, X, strict=True):
        # by hand: coefficient x standardised value, the three largest by size
        by_hand = model.coef_[0] * (x - scaler.mean_) / scaler.scale_
        top = np.argsort(-np.abs(by_hand), kind="stable")[:3]
        assert [row[f"explain_{i}_feature"] for i in (1, 2, 3)] == [FEATURES[j] for j in top]
        for i, j in enumerate(top, start=1):
            assert row[f"explain_{i}_contribution"] == pytest.approx(by_hand[j], abs=1e-9)
        assert row["explain_base"] == pytest.approx(model.intercept_[0], abs=1e-12)
        assert "explain_4_feature" not in row
        # and the whole explanation adds up to the row's log-odds
        z = math.log(row["probability"] / (1 - row["probability"]))
        assert abs(row["explain_base"] + by_hand.sum() - z) < 1e-6


def test_explain_columns_are_the_same_in_parquet_and_across_chunks(
    trained: Trained, tmp_path: Path
) -> None:
    source, _ = _cases(tmp_path)
    csv_out, parquet_out = tmp_path / "one.csv", tmp_path / "chunked.parquet"
    assert _predict(trained.models_dir, source, csv_out, "--explain", "30") == 0
    args = ("--explain", "30", "--chunk-size", "7")
    assert _predict(trained.models_dir, source, parquet_out, *args) == 0
    from_csv = pcsv.read_csv(csv_out).to_pylist()
    from_parquet = pq.read_table(parquet_out).to_pylist()
    assert len(from_parquet) == N
    for a, b in zip(from_csv, from_parquet, strict=True):
        assert a["explain_30_feature"] == b["explain_30_feature"]
        assert a["explain_1_contribution"] == pytest.approx(b["explain_1_contribution"])
        assert sorted(b[f"explain_{i}_feature"] for i in range(1, 31)) == sorted(FEATURES)


@pytest.mark.parametrize("k", ["0", "31", "three"])
def test_explain_outside_1_to_30_exits_2_and_writes_nothing(
    trained: Trained, tmp_path: Path, k: str, capsys: pytest.CaptureFixture[str]
) -> None:
    source, _ = _cases(tmp_path, 3)
    out = tmp_path / "scores.csv"
    try:
        code = _predict(trained.models_dir, source, out, "--explain", k)
    except SystemExit as exc:  # argparse refuses a non-integer itself, with exit code 2
        code = int(str(exc.code))
    assert code == 2
    assert not out.exists()
    assert "explain" in capsys.readouterr().err


def test_explain_with_the_spark_engine_exits_2_before_starting_spark(
    trained: Trained, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source, _ = _cases(tmp_path, 3)
    out = tmp_path / "scores"
    code = _predict(trained.models_dir, source, out, "--explain", "2", "--engine", "spark")
    assert code == 2
    assert not out.exists()
    assert "local engine only" in capsys.readouterr().err


def _knn_models_dir(root: Path, explainer: Any) -> Path:
    """A knn model (non-linear) published with or without an explainer in its metadata."""
    import mlflow.sklearn

    data = load_dataset(BUNDLED_DATA)
    pipeline = build_pipeline("knn", 0).fit(data.X, data.y)
    model_dir = root / "mlflow-model"
    mlflow.sklearn.save_model(
        pipeline, str(model_dir), serialization_format=mlflow.sklearn.SERIALIZATION_FORMAT_SKOPS
    )
    run_id = uuid.uuid4().hex
    record = {
        "run_id": run_id,
        "threshold": 0.5,
        "feature_names": list(FEATURES),
        "envelope": Envelope.from_training(data.X).as_dict(),
        "model": "knn",
        "explainer": None if explainer is None else explainer(pipeline, data.X).model_dump(),
    }
    model_store.publish(root / "models", run_id, model_dir, [], record)
    return root / "models"


def test_a_nonlinear_model_is_explained_by_kernel_shap(tmp_path: Path) -> None:
    models = _knn_models_dir(tmp_path, lambda pipe, X: build_params(pipe, X, seed=0, nsamples=100))
    source, _ = _cases(tmp_path, 3)
    out = tmp_path / "scores.csv"
    assert _predict(models, source, out, "--explain", "30") == 0
    for row in pcsv.read_csv(out).to_pylist():
        total = row["explain_base"] + sum(row[f"explain_{i}_contribution"] for i in range(1, 31))
        p = min(max(row["probability"], 1e-6), 1 - 1e-6)
        assert abs(total - math.log(p / (1 - p))) < 1e-6


def test_a_nonlinear_model_without_an_explainer_exits_2_saying_re_promote(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    models = _knn_models_dir(tmp_path, None)
    source, _ = _cases(tmp_path, 3)
    out = tmp_path / "scores.csv"
    assert _predict(models, source, out, "--explain", "2") == 2
    assert not out.exists()
    err = capsys.readouterr().err
    assert "re-promote" in err and "knn" in err
    assert "Traceback" not in err
