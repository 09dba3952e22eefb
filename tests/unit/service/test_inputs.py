"""Hand-written request parsing: accepted shapes, and errors that name the field."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from breast_cancer_ml.domain.schema import FEATURES
from breast_cancer_ml.service.inputs import (
    InputError,
    batch_features,
    mlflow_csv,
    mlflow_json,
    parse_json,
    single_features,
)
from breast_cancer_ml.service.schemas import EXAMPLE_NAMED, EXAMPLE_ROW

MAX = 1e6


def test_single_by_position_and_by_name_give_the_same_row() -> None:
    a = single_features({"features": EXAMPLE_ROW}, MAX)
    b = single_features({"features": EXAMPLE_NAMED}, MAX)
    assert a.shape == (1, 30)
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(a[0], EXAMPLE_ROW)


def test_integers_are_numbers() -> None:
    row = [int(v) + 1 for v in EXAMPLE_ROW]
    assert single_features({"features": row}, MAX)[0].tolist() == [float(v) for v in row]


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (float("nan"), "NaN"),
        (float("inf"), "not a finite number"),
        (-1e-9, "negative"),
        (MAX * 2, "larger than the maximum"),
        (10**400, "an integer of 401 digits is larger than the maximum"),
        (True, "got a boolean"),
        ("1", "got a string"),
        ([1], "got an array"),
    ],
)
def test_bad_value_names_index_and_feature(value: object, message: str) -> None:
    row: list[object] = list(EXAMPLE_ROW)
    row[13] = value
    with pytest.raises(InputError) as err:
        single_features({"features": row}, MAX)
    assert err.value.field == "features[13] (area_se)"
    assert message in err.value.message
    assert err.value.status == 422


def test_parse_json_accepts_nan_tokens_for_the_value_check_and_refuses_garbage() -> None:
    doc = parse_json(b'{"features": [NaN, Infinity]}')
    assert np.isnan(doc["features"][0])
    with pytest.raises(InputError) as err:
        parse_json(b'{"features": [1,')
    assert err.value.status == 400
    with pytest.raises(InputError):
        parse_json(b"[" * 100_000)  # deep nesting: refused, never a RecursionError


def test_batch_limits() -> None:
    assert batch_features({"instances": [EXAMPLE_ROW] * 3}, MAX, 3).shape == (3, 30)
    with pytest.raises(InputError) as err:
        batch_features({"instances": [EXAMPLE_ROW] * 4}, MAX, 3)
    assert err.value.status == 413
    with pytest.raises(InputError, match="no rows"):
        batch_features({"instances": []}, MAX, 3)


def test_mlflow_split_reorders_columns_and_ignores_extra_ones() -> None:
    cols = [*reversed(FEATURES), "patient_ref"]
    data = [[*reversed(EXAMPLE_ROW), "x-1"]]
    X = mlflow_json({"dataframe_split": {"columns": cols, "data": data}}, MAX, 10)
    np.testing.assert_array_equal(X[0], EXAMPLE_ROW)


def test_mlflow_numeric_strings_are_converted_as_mlflow_does() -> None:
    record = {k: str(v) for k, v in EXAMPLE_NAMED.items()}
    np.testing.assert_array_equal(mlflow_json({"inputs": [record]}, MAX, 10)[0], EXAMPLE_ROW)


def test_mlflow_errors_are_400_and_name_the_column() -> None:
    record = dict(EXAMPLE_NAMED, texture_se="abc")
    with pytest.raises(InputError) as err:
        mlflow_json({"dataframe_records": [record]}, MAX, 10)
    assert err.value.status == 400
    assert err.value.field == "dataframe_records[0].texture_se"
    with pytest.raises(InputError, match="missing required column"):
        mlflow_json({"dataframe_records": [{"radius_mean": 1}]}, MAX, 10)


def test_csv_with_quoted_names_and_an_index_column() -> None:
    header = ",".join(["", *(json.dumps(c) for c in FEATURES)])
    text = header + "\n" + "0," + ",".join(map(str, EXAMPLE_ROW)) + "\n"
    np.testing.assert_array_equal(mlflow_csv(text.encode(), MAX, 10)[0], EXAMPLE_ROW)
    bad = header + "\n" + "0," + ",".join(map(str, EXAMPLE_ROW[:-1])) + ",\n"
    with pytest.raises(InputError, match="column 'fractal_dimension_worst': empty value"):
        mlflow_csv(bad.encode(), MAX, 10)


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats()
    | st.text(max_size=8)
    | st.sampled_from([*FEATURES, "features", "instances", "dataframe_split", "inputs"]),
    lambda children: (
        st.lists(children, max_size=35)
        | st.dictionaries(
            st.sampled_from([*FEATURES, "features", "instances", "columns", "data", "x"]),
            children,
            max_size=32,
        )
    ),
    max_leaves=80,
)


@given(doc=json_values)
@settings(max_examples=300, deadline=None)
def test_any_json_document_is_accepted_or_refused_with_an_input_error(doc: object) -> None:
    """No JSON value makes a parser raise anything but InputError (which becomes a 4xx)."""
    for parse in (
        lambda d: single_features(d, MAX),
        lambda d: batch_features(d, MAX, 100),
        lambda d: mlflow_json(d, MAX, 100),
        lambda d: mlflow_json({"dataframe_split": d}, MAX, 100),
        lambda d: mlflow_json({"inputs": d}, MAX, 100),
    ):
        refused = None
        try:
            X = parse(doc)
        except InputError as err:
            refused = err.status
        if refused is not None:
            assert 400 <= refused < 500
        else:
            assert X.ndim == 2
            assert X.shape[1] == 30
            assert np.isfinite(X).all()
            assert (X >= 0).all()


@given(text=st.text(max_size=300))
@settings(max_examples=200, deadline=None)
def test_any_csv_text_is_accepted_or_refused_with_an_input_error(text: str) -> None:
    header = ",".join(json.dumps(c) for c in FEATURES) + "\n"
    for body in (text, header + text):
        refused = 400
        try:
            mlflow_csv(body.encode("utf-8", "surrogatepass"), MAX, 100)
        except InputError as err:
            refused = err.status
        assert refused == 400
