"""Data tests on the bundled CSV: schema, label set, no nulls, provenance."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from breast_cancer_ml.domain.schema import FEATURES

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def df(bundled_csv: Path) -> pd.DataFrame:
    return pd.read_csv(bundled_csv)


def test_kaggle_layout(df: pd.DataFrame) -> None:
    assert list(df.columns) == ["id", "diagnosis", *FEATURES]
    assert "concave points_mean" in df.columns  # Kaggle's name keeps the space


def test_labels_and_class_balance(df: pd.DataFrame) -> None:
    assert set(df["diagnosis"]) == {"M", "B"}
    assert df["diagnosis"].value_counts().to_dict() == {"B": 357, "M": 212}


def test_no_nulls_numeric_non_negative_unique_ids(df: pd.DataFrame) -> None:
    assert not df.isna().any().any()
    assert all(
        pd.api.types.is_float_dtype(df[c]) or pd.api.types.is_integer_dtype(df[c]) for c in FEATURES
    )
    assert (df[list(FEATURES)] >= 0).all().all()
    assert df["id"].is_unique


def test_matches_scikit_learns_copy_with_malignant_inverted(df: pd.DataFrame) -> None:
    from sklearn.datasets import load_breast_cancer

    bunch = load_breast_cancer()
    assert (df[list(FEATURES)].to_numpy() == bunch.data).all()
    # scikit-learn: 0 = malignant. Ours: 'M'.
    assert ((bunch.target == 0) == (df["diagnosis"] == "M").to_numpy()).all()


def test_generator_script_reproduces_the_committed_file(tmp_path: Path, bundled_csv: Path) -> None:
    out = tmp_path / "wdbc.csv"
    subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "make_dataset.py"), str(out)],
        check=True,
        capture_output=True,
    )
    assert out.read_bytes() == bundled_csv.read_bytes()


def test_each_hard_bound_is_1000x_the_bundled_maximum_rounded_up() -> None:
    """The contract's hard bounds follow their documented rule on the bundled WDBC data, and
    every real case is far inside them."""
    from breast_cancer_ml.adapters.dataset import load_dataset
    from breast_cancer_ml.domain.contract import HARD_BOUNDS, hard_bound_for, invalid_rows
    from breast_cancer_ml.settings import BUNDLED_DATA

    data = load_dataset(BUNDLED_DATA)
    for j, feature in enumerate(FEATURES):
        assert HARD_BOUNDS[feature] == hard_bound_for(float(data.X[:, j].max())), feature
    assert not invalid_rows(data.X * 100).any()
