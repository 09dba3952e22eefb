"""Hand-written request parsing: accepted shapes, and errors that name the field."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from breast_cancer_ml.domain.contract import HARD_BOUNDS, HARD_MAX, invalid_mask
from breast_cancer_ml.domain.schema import FEATURES
from breast_cancer_ml.service.inputs import (
    InputError,
    batch_features,
    mlflow_csv,
    mlflow_json,
    parse_json,
    single_row,
    to_array,
)
from breast_cancer_ml.service.schemas import EXAMPLE_NAMED, EXAMPLE_ROW


def single_features(doc: object) -> np.ndarray:
    """A ``/predict`` body as the (1, 30) array the fast path scores."""
    return to_array([single_row(doc)])


def test_single_by_position_and_by_name_give_the_same_row() -> None:
    a = single_features({"features": EXAMPLE_ROW})
    b = single_features({"features": EXAMPLE_NAMED})
    assert a.shape == (1, 30)
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(a[0], EXAMPLE_ROW)


def test_integers_are_numbers() -> None:
    row = [int(v) + 1 for v in EXAMPLE_ROW]
    assert single_features({"features": row})[0].tolist() == [float(v) for v in row]


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (float("nan"), "missing or not a number"),
        (float("inf"), "not a finite number"),
        (-1e-9, "negative"),
        (7e5, "7e+05 is above the hard bound 600000"),
        (10**400, "an integer of 401 digits is above the hard bound 600000"),
        (True, "got a boolean"),
        ("1", "got a string"),
        ([1], "got an array"),
    ],
)
def test_bad_value_names_index_and_feature(value: object, message: str) -> None:
    row: list[object] = list(EXAMPLE_ROW)
    row[13] = value
    with pytest.raises(InputError) as err:
        single_features({"features": row})
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
    assert batch_features({"instances": [EXAMPLE_ROW] * 3}, 3).shape == (3, 30)
    with pytest.raises(InputError) as err:
        batch_features({"instances": [EXAMPLE_ROW] * 4}, 3)
    assert err.value.status == 413
    with pytest.raises(InputError, match="no rows"):
        batch_features({"instances": []}, 3)


def test_mlflow_split_reorders_columns_and_ignores_extra_ones() -> None:
    cols = [*reversed(FEATURES), "patient_ref"]
    data = [[*reversed(EXAMPLE_ROW), "x-1"]]
    X = mlflow_json({"dataframe_split": {"columns": cols, "data": data}}, 10)
    np.testing.assert_array_equal(X[0], EXAMPLE_ROW)


def test_mlflow_numeric_strings_are_converted_as_mlflow_does() -> None:
    record = {k: str(v) for k, v in EXAMPLE_NAMED.items()}
    np.testing.assert_array_equal(mlflow_json({"inputs": [record]}, 10)[0], EXAMPLE_ROW)


def test_mlflow_errors_are_400_and_name_the_column() -> None:
    record = dict(EXAMPLE_NAMED, texture_se="abc")
    with pytest.raises(InputError) as err:
        mlflow_json({"dataframe_records": [record]}, 10)
    assert err.value.status == 400
    assert err.value.field == "dataframe_records[0].texture_se"
    with pytest.raises(InputError, match="missing required column"):
        mlflow_json({"dataframe_records": [{"radius_mean": 1}]}, 10)


def test_csv_with_quoted_names_and_an_index_column() -> None:
    header = ",".join(["", *(json.dumps(c) for c in FEATURES)])
    text = header + "\n" + "0," + ",".join(map(str, EXAMPLE_ROW)) + "\n"
    np.testing.assert_array_equal(mlflow_csv(text.encode(), 10)[0], EXAMPLE_ROW)
    bad = header + "\n" + "0," + ",".join(map(str, EXAMPLE_ROW[:-1])) + ",\n"
    with pytest.raises(InputError, match="column 'fractal_dimension_worst': empty value"):
        mlflow_csv(bad.encode(), 10)


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
        lambda d: single_features(d),
        lambda d: batch_features(d, 100),
        lambda d: mlflow_json(d, 100),
        lambda d: mlflow_json({"dataframe_split": d}, 100),
        lambda d: mlflow_json({"inputs": d}, 100),
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
            assert not invalid_mask(X).any()  # every accepted value keeps the contract


@given(text=st.text(max_size=300))
@settings(max_examples=200, deadline=None)
def test_any_csv_text_is_accepted_or_refused_with_an_input_error(text: str) -> None:
    header = ",".join(json.dumps(c) for c in FEATURES) + "\n"
    for body in (text, header + text):
        refused = 400
        try:
            mlflow_csv(body.encode("utf-8", "surrogatepass"), 100)
        except InputError as err:
            refused = err.status
        assert refused == 400


@pytest.mark.parametrize("j", range(30))
def test_each_feature_is_held_to_its_own_hard_bound_on_every_format(j: int) -> None:
    name = FEATURES[j]
    at_bound = list(EXAMPLE_ROW)
    at_bound[j] = HARD_BOUNDS[name]
    above = list(EXAMPLE_ROW)
    above[j] = float(np.nextafter(HARD_MAX[j], np.inf))
    assert single_features({"features": at_bound})[0, j] == HARD_BOUNDS[name]
    named_above = dict(zip(FEATURES, above, strict=True))
    header = ",".join(json.dumps(c) for c in FEATURES)
    refusals = {
        f"features[{j}] ({name})": lambda: single_features({"features": above}),
        f"features.{name}": lambda: single_features({"features": named_above}),
        f"instances[0][{j}] ({name})": lambda: batch_features({"instances": [above]}, 10),
        f"inputs[0].{name}": lambda: mlflow_json({"inputs": [named_above]}, 10),
        f"csv line 2, column {name!r}": lambda: mlflow_csv(
            f"{header}\n{','.join(map(repr, above))}\n".encode(), 10
        ),
    }
    for field, parse in refusals.items():
        with pytest.raises(InputError) as err:
            parse()
        assert err.value.field == field
        assert f"above the hard bound {HARD_BOUNDS[name]:g}" in err.value.message
        assert err.value.status in (400, 422)


def test_a_value_far_beyond_the_old_global_cap_of_one_feature_is_refused_but_area_is_not() -> None:
    """smoothness_mean = 500 (bound 200) is refused; area_worst = 500,000 (bound 5e6) passes."""
    row = list(EXAMPLE_ROW)
    row[FEATURES.index("smoothness_mean")] = 500.0
    with pytest.raises(InputError, match=r"features\[4\] \(smoothness_mean\): 500 is above"):
        single_features({"features": row})
    row = list(EXAMPLE_ROW)
    row[FEATURES.index("area_worst")] = 500_000.0
    assert single_features({"features": row})[0, 23] == 500_000.0


def test_duplicate_keys_are_refused_naming_the_key() -> None:
    row = json.dumps(EXAMPLE_ROW)
    for body, key in (
        (f'{{"features": {row}, "features": {row}}}', "features"),
        ('{"features": {"radius_mean": 1, "radius_mean": 2}}', "radius_mean"),
        (f'{{"instances": [{row}], "instances": [{row}]}}', "instances"),
        (f'{{"features": [NaN], "features": {row}}}', "features"),  # the json fallback too
    ):
        with pytest.raises(InputError) as err:
            parse_json(body.encode())
        assert err.value.status == 400
        assert err.value.field == key
        assert err.value.code == "duplicate_key"
        assert f"{key}: this key appears more than once" in err.value.message


def test_colons_inside_strings_are_not_taken_for_duplicate_keys() -> None:
    doc = {"dataframe_split": {"columns": ["a:b", "c"], "data": [["x:y:z", 1]]}, "params": {}}
    assert parse_json(json.dumps(doc).encode()) == doc


def test_csv_with_a_utf8_byte_order_mark_is_read() -> None:
    header = ",".join(FEATURES)
    text = "\ufeff" + header + "\n" + ",".join(map(str, EXAMPLE_ROW)) + "\n"
    np.testing.assert_array_equal(mlflow_csv(text.encode("utf-8"), 10)[0], EXAMPLE_ROW)


@given(body=st.binary(max_size=200) | json_values.map(lambda d: json.dumps(d).encode()))
@settings(max_examples=300, deadline=None)
def test_any_body_is_decoded_or_refused_with_a_400(body: bytes) -> None:
    status = 400
    try:
        parse_json(body)
    except InputError as err:
        status = err.status
    assert status == 400
