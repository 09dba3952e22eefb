"""Every validation rule of the CSV reader, each with the message a user acts on."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from breast_cancer_ml.adapters.dataset import load_dataset
from breast_cancer_ml.domain.schema import FEATURES
from breast_cancer_ml.errors import DataValidationError


@pytest.fixture(scope="module")
def frame(bundled_csv: Path) -> pd.DataFrame:
    return pd.read_csv(bundled_csv, dtype=str, keep_default_na=False)


def write(tmp_path: Path, df: pd.DataFrame, name: str = "data.csv") -> Path:
    path = tmp_path / name
    df.to_csv(path, index=False)
    return path


def test_bundled_file_loads_with_malignant_as_one(bundled_csv: Path) -> None:
    ds = load_dataset(bundled_csv)
    assert ds.X.shape == (569, 30)
    assert ds.X.dtype == np.float64
    assert int(ds.y.sum()) == 212  # malignant cases
    assert ds.y[0] == 1  # the first WDBC case is malignant
    assert ds.ids is not None and ds.ids[0] == "1"
    assert ds.data_version == hashlib.sha256(bundled_csv.read_bytes()).hexdigest()


def test_columns_in_any_order_without_id_and_with_kaggle_trailing_column(
    tmp_path: Path, frame: pd.DataFrame, bundled_csv: Path
) -> None:
    shuffled = frame[list(reversed(frame.columns))].drop(columns=["id"])
    shuffled["Unnamed: 32"] = ""
    ds = load_dataset(write(tmp_path, shuffled))
    reference = load_dataset(bundled_csv)
    np.testing.assert_array_equal(ds.X, reference.X)  # back in FEATURES order
    np.testing.assert_array_equal(ds.y, reference.y)
    assert ds.ids is None


def test_data_version_changes_with_the_bytes(tmp_path: Path, frame: pd.DataFrame) -> None:
    a = load_dataset(write(tmp_path, frame, "a.csv")).data_version
    b = load_dataset(write(tmp_path, frame.iloc[:-1], "b.csv")).data_version
    assert a != b


def _set(column: str, row: int, value: str) -> Callable[[pd.DataFrame], pd.DataFrame]:
    def edit(df: pd.DataFrame) -> pd.DataFrame:
        df = df.copy()
        df.loc[row, column] = value
        return df

    return edit


def _drop(column: str) -> Callable[[pd.DataFrame], pd.DataFrame]:
    return lambda df: df.drop(columns=[column])


def _extra(column: str, value: str) -> Callable[[pd.DataFrame], pd.DataFrame]:
    def edit(df: pd.DataFrame) -> pd.DataFrame:
        df = df.copy()
        df[column] = ""
        df.loc[7, column] = value
        return df

    return edit


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (_drop("radius_mean"), r"missing column\(s\) \['radius_mean'\]"),
        (_drop("concave points_worst"), r"missing column\(s\) \['concave points_worst'\]"),
        (_drop("diagnosis"), r"missing column\(s\) \['diagnosis'\]"),
        (_extra("notes", "hello"), r"unknown column 'notes' has values \(first at line 9\)"),
        (_extra("Unnamed: 32", "7"), r"unknown column 'Unnamed: 32' has values"),
        (_set("area_mean", 3, "abc"), r"column 'area_mean', line 5: 'abc' is missing or not a"),
        (_set("area_mean", 3, ""), r"column 'area_mean', line 5: '' is missing"),
        (_set("texture_se", 10, "nan"), r"column 'texture_se', line 12: 'nan' is missing"),
        (_set("texture_se", 0, "inf"), r"column 'texture_se', line 2: 'inf' is infinite"),
        (_set("texture_se", 0, "-Infinity"), r"'-Infinity' is infinite"),
        (_set("radius_worst", 568, "-1.5"), r"column 'radius_worst', line 570: '-1.5' is negative"),
        (
            _set("smoothness_mean", 2, "250"),
            r"column 'smoothness_mean', line 4: '250' is above the hard bound; .* at most its "
            r"hard bound \(200 for this one\)",
        ),
        (_set("area_worst", 2, "1e308"), r"'1e308' is above the hard bound"),
        (_set("diagnosis", 4, "X"), r"column 'diagnosis', line 6: 'X' is not a label"),
        (_set("diagnosis", 4, ""), r"column 'diagnosis', line 6: '' is not a label"),
        (_set("id", 9, "1"), r"column 'id', line 11: id '1' appears more than once"),
    ],
)
def test_invalid_files_name_file_column_and_line(
    tmp_path: Path,
    frame: pd.DataFrame,
    edit: Callable[[pd.DataFrame], pd.DataFrame],
    message: str,
) -> None:
    path = write(tmp_path, edit(frame))
    with pytest.raises(DataValidationError, match=message) as info:
        load_dataset(path)
    assert str(path) in str(info.value)
    assert info.value.exit_code == 2


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(DataValidationError, match="cannot read the file"):
        load_dataset(tmp_path / "nope.csv")


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "the file is empty"),
        (b"  \n\n", "the file is empty"),
        (("id,diagnosis," + ",".join(FEATURES) + "\n").encode(), "no data rows"),
        (b"\xff\xfe\x00garbage\x00\xff", "not a UTF-8 text file|not a readable CSV|missing"),
        (b"a,b\n1,2,3,4\n", "not a readable CSV|missing column"),
    ],
)
def test_unreadable_or_empty_files(tmp_path: Path, content: bytes, message: str) -> None:
    path = tmp_path / "bad.csv"
    path.write_bytes(content)
    with pytest.raises(DataValidationError, match=message):
        load_dataset(path)


def test_directory_is_not_a_file(tmp_path: Path) -> None:
    with pytest.raises(DataValidationError, match="cannot read"):
        load_dataset(tmp_path)
