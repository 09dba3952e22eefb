"""Batch rows at their edges: what counts as a number in a JSON cell, a blank or missing cell
never stops the rest of the row being read, and 0 and the hard bound itself are valid values."""

from __future__ import annotations

import numpy as np
import pytest
from numpy.typing import NDArray

from breast_cancer_ml.domain.batch import (
    LABELS,
    RowsScored,
    features_from_records,
    row_reasons,
    score_rows,
)
from breast_cancer_ml.domain.contract import HARD_BOUNDS
from breast_cancer_ml.domain.schema import FEATURES
from breast_cancer_ml.domain.scoring import ProbaFn, Scored, proba_function

RADIUS, TEXTURE, PERIMETER = 0, 1, 2


def one_row(**cells: object) -> dict[str, object]:
    """A record with every feature 1.0, then ``cells``."""
    row: dict[str, object] = dict.fromkeys(FEATURES, 1.0)
    row.update(cells)
    return row


@pytest.mark.parametrize(
    ("cell", "value", "not_numeric"),
    [
        ("1_0", np.nan, True),  # float() would read it as 10
        ("1e3", 1000.0, False),
        (" 2.5\t", 2.5, False),
        ("abc", np.nan, True),
        ("", np.nan, False),  # blank: missing, not "not a number"
        ("   ", np.nan, False),
        (None, np.nan, False),
        (True, np.nan, True),  # a JSON boolean is not a measurement
        ([1.0], np.nan, True),
        (7, 7.0, False),
        (0.25, 0.25, False),
    ],
)
def test_how_a_json_cell_is_read(cell: object, value: float, not_numeric: bool) -> None:
    X, nn = features_from_records([one_row(radius_mean=cell)])
    np.testing.assert_array_equal(X[0, RADIUS], value)
    assert bool(nn[0, RADIUS]) is not_numeric
    # the rest of the row is read whatever the first cell was
    assert X[0, 1:].tolist() == [1.0] * (len(FEATURES) - 1)
    assert not nn[0, 1:].any()


@pytest.mark.parametrize("gap", ["", "  ", None, "abc", "1_0", True])
def test_a_bad_or_blank_cell_does_not_stop_the_row(gap: object) -> None:
    X, _ = features_from_records([one_row(radius_mean=gap, texture_mean="3", perimeter_mean=4)])
    assert (X[0, TEXTURE], X[0, PERIMETER]) == (3.0, 4.0)


def test_a_missing_key_is_missing_and_extra_keys_are_ignored() -> None:
    row = one_row(extra="x")
    del row["texture_mean"]
    X, nn = features_from_records([row, one_row()])
    assert np.isnan(X[0, TEXTURE]) and not nn[0, TEXTURE]
    assert X.shape == (2, len(FEATURES))
    assert not np.isnan(np.delete(X, [TEXTURE], axis=1)).any()


def test_records_in_other_columns() -> None:
    X, nn = features_from_records([{"a": "2", "b": None}], columns=("a", "b"))
    assert X.shape == (1, 2)
    assert X[0, 0] == 2.0 and np.isnan(X[0, 1])
    assert not nn.any()


def _half(X: NDArray[np.float64]) -> NDArray[np.float64]:
    """A model that is unsure of every case."""
    return np.full(X.shape[0], 0.5)


HALF: ProbaFn = _half


@pytest.mark.parametrize(
    ("value", "valid"),
    [
        (0.0, True),
        (-0.0, True),
        (-1e-300, False),
        (HARD_BOUNDS["radius_mean"], True),
        (float(np.nextafter(HARD_BOUNDS["radius_mean"], np.inf)), False),
    ],
)
def test_zero_and_the_hard_bound_itself_are_valid(value: float, valid: bool) -> None:
    X = np.ones((1, len(FEATURES)))
    X[0, RADIUS] = value
    result = score_rows(HALF, X)
    assert result.valid.tolist() == [valid]
    assert result.n_scored == int(valid)


def test_only_the_bad_cells_of_a_rejected_row_are_named() -> None:
    X = np.ones((2, len(FEATURES)))
    X[1, RADIUS] = 0.0  # valid: a length can be 0
    X[1, TEXTURE] = -2.0
    X[1, PERIMETER] = HARD_BOUNDS["perimeter_mean"]  # valid: at the bound
    X[1, 3] = 5e6
    assert row_reasons(X, np.array([1])) == [
        "texture_mean: -2 is negative; measurements are >= 0 | area_mean: 5e+06 is above the "
        "hard bound 3e+06, which no real measurement exceeds; check the unit and the column"
    ]


def test_reasons_tell_a_missing_cell_from_text_that_is_not_a_number() -> None:
    X = np.ones((1, len(FEATURES)))
    X[0, 0] = np.nan
    assert row_reasons(X, np.array([0])) == ["radius_mean: missing or not a number"]
    nn = np.zeros(X.shape, dtype=bool)
    nn[0, 0] = True
    assert row_reasons(X, np.array([0]), nn) == ["radius_mean: not a number"]


def test_the_threshold_reaches_the_scored_rows_and_their_labels() -> None:
    X = np.ones((3, len(FEATURES)))
    X[1, RADIUS] = np.nan
    result = score_rows(HALF, X, threshold=0.5)
    assert result.scored.prediction.tolist() == [1, 1]
    assert result.labels.tolist() == ["Malignant", "Malignant"]
    assert result.scored.threshold == 0.5
    strict = score_rows(HALF, X, threshold=0.75)
    assert strict.scored.prediction.tolist() == [0, 0]
    assert strict.scored.threshold == 0.75
    assert LABELS.tolist() == ["Benign", "Malignant"]
    records = strict.records()
    assert records[0] == {
        "prediction": 0,
        "prediction_label": "Benign",
        "probability": 0.5,
        "confidence": "low",
        "warnings": [],
        "in_distribution": False,  # no envelope given: not known to be in distribution
    }
    assert records[1] == {"error": "radius_mean: missing or not a number"}


def test_when_every_row_is_rejected_the_threshold_is_still_reported() -> None:
    X = -np.ones((2, len(FEATURES)))
    result = score_rows(HALF, X, threshold=0.3)
    assert result.scored.threshold == 0.3
    assert result.scored.probability.dtype == np.float64
    assert result.scored.prediction.dtype == np.int64
    assert result.valid.tolist() == [False, False]


def test_array_types_are_the_declared_ones() -> None:
    X, nn = features_from_records([one_row(radius_mean="abc")])
    assert (X.dtype, nn.dtype) == (np.float64, np.bool_)
    result = score_rows(HALF, np.ones((2, len(FEATURES))))
    assert result.rejected.dtype == np.int64
    assert result.scored.prediction.dtype == np.int64


def test_a_one_dimensional_array_is_refused() -> None:
    with pytest.raises(ValueError, match=r"^expected an \(n, 30\) array; got shape \(30,\)$"):
        score_rows(HALF, np.ones(len(FEATURES)))


@pytest.fixture(scope="module")
def tree() -> ProbaFn:
    """A real fitted tree: scikit-learn refuses to predict on zero rows."""
    from sklearn.tree import DecisionTreeClassifier

    from breast_cancer_ml.adapters.dataset import load_dataset
    from breast_cancer_ml.settings import BUNDLED_DATA

    data = load_dataset(BUNDLED_DATA)
    return proba_function(DecisionTreeClassifier(max_depth=2).fit(data.X[:60], data.y[:60]))


def test_when_every_row_is_rejected_the_model_is_not_asked(tree: ProbaFn) -> None:
    result = score_rows(tree, -np.ones((2, len(FEATURES))), threshold=0.4)
    assert result.n_scored == 0
    assert result.labels.tolist() == []
    assert result.records() == [
        {"error": result.reasons[0]},
        {"error": result.reasons[1]},
    ]


def test_records_refuse_results_of_mismatched_lengths() -> None:
    X = np.ones((2, len(FEATURES)))
    X[1, 0] = np.nan
    good = score_rows(HALF, X)
    extra_reason = RowsScored(
        good.valid, good.scored, good.rejected, [*good.reasons, "x"], good.in_distribution
    )
    with pytest.raises(ValueError, match="zip"):
        extra_reason.records()
    short = Scored(np.array([0.5, 0.5]), np.array([1]), 0.5)
    with pytest.raises(ValueError, match="zip"):
        RowsScored(
            np.array([True, True]), short, np.empty(0, np.int64), [], np.zeros(2, np.bool_)
        ).records()
