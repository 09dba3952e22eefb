"""Batch rows at their edges: 0 and the hard bound itself are valid values, only the bad cells
of a rejected row are named, and the outcome's arrays have the declared types. (How a text cell
becomes a number is the readers' job: tests/unit/adapters/test_table_io.py.)"""

from __future__ import annotations

import numpy as np
import pytest
from numpy.typing import NDArray

from breast_cancer_ml.domain.batch import LABELS, row_reasons, score_rows
from breast_cancer_ml.domain.contract import HARD_BOUNDS
from breast_cancer_ml.domain.schema import FEATURES
from breast_cancer_ml.domain.scoring import CONFIDENCE_LEVELS, ProbaFn, proba_function

RADIUS, TEXTURE, PERIMETER = 0, 1, 2


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
    assert strict.labels.tolist() == ["Benign", "Benign"]
    assert strict.scored.probability.tolist() == [0.5, 0.5]
    assert [CONFIDENCE_LEVELS[i] for i in strict.confidence] == ["low", "low"]
    # no envelope given: not known to be in distribution, and no warnings
    assert strict.in_distribution.tolist() == [False, False]
    assert strict.warning_texts()[1] == []
    assert strict.valid.tolist() == [True, False, True]
    assert strict.reasons == ["radius_mean: missing or not a number"]


def test_when_every_row_is_rejected_the_threshold_is_still_reported() -> None:
    X = -np.ones((2, len(FEATURES)))
    result = score_rows(HALF, X, threshold=0.3)
    assert result.scored.threshold == 0.3
    assert result.scored.probability.dtype == np.float64
    assert result.scored.prediction.dtype == np.int64
    assert result.valid.tolist() == [False, False]


def test_array_types_are_the_declared_ones() -> None:
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
    assert result.rejected.tolist() == [0, 1]
    assert len(result.reasons) == 2
