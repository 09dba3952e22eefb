"""Rules of score_rows' outcome that the CLI, Spark and the API rely on, on hand-made rows.

The model is a stand-in that says 0.9 for every row (score_rows only needs a probability
function); the envelope is [0, 10] for every feature, so a value of 20 is outside it.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from breast_cancer_ml.domain.batch import row_reasons, score_rows
from breast_cancer_ml.domain.contract import HARD_MAX, Envelope, value_message
from breast_cancer_ml.domain.schema import FEATURES
from breast_cancer_ml.domain.scoring import CONFIDENCE_LEVELS, confidence_index

ENVELOPE = Envelope(low=(0.0,) * len(FEATURES), high=(10.0,) * len(FEATURES))


def _ninety_percent(X: NDArray[np.float64]) -> NDArray[np.float64]:
    return np.full(X.shape[0], 0.9)


def _rows(n: int) -> NDArray[np.float64]:
    return np.full((n, len(FEATURES)), 5.0)


def test_a_row_outside_on_two_features_warns_with_both_names_in_feature_order() -> None:
    X = _rows(2)
    X[1, 1] = 20.0  # texture_mean
    X[1, 0] = 20.0  # radius_mean
    result = score_rows(_ninety_percent, X, envelope=ENVELOPE)
    positions, texts = result.warning_texts()
    assert (positions.tolist(), texts) == ([1], ["radius_mean;texture_mean"])


def test_each_scored_row_keeps_its_own_envelope_flags_around_a_rejected_row() -> None:
    """Rows: in, rejected, in, out (radius_mean), out (texture_mean). The warnings of the
    fourth and fifth input rows belong to them (scored rows 2 and 3), not to an earlier one."""
    X = _rows(5)
    X[1, 0] = np.nan
    X[3, 0] = 20.0
    X[4, 1] = 20.0
    result = score_rows(_ninety_percent, X, envelope=ENVELOPE)
    assert result.valid.tolist() == [True, False, True, True, True]
    assert result.reasons == ["radius_mean: missing or not a number"]
    assert result.in_distribution.tolist() == [True, True, False, False]
    positions, texts = result.warning_texts()
    assert (positions.tolist(), texts) == ([2, 3], ["radius_mean", "texture_mean"])
    assert [CONFIDENCE_LEVELS[i] for i in result.confidence] == ["high", "high", "low", "low"]


def test_no_flagged_row_gives_integer_positions_that_index_an_output_column() -> None:
    """Spark writes ``column[positions] = texts``: that must work when no row is flagged."""
    result = score_rows(_ninety_percent, _rows(3), envelope=ENVELOPE)
    positions, texts = result.warning_texts()
    assert positions.dtype == np.int64
    column = np.full(result.n_scored, "", dtype=object)
    column[positions] = texts
    assert column.tolist() == ["", "", ""]


def test_without_an_envelope_in_distribution_is_an_all_false_boolean_mask() -> None:
    result = score_rows(_ninety_percent, _rows(3))
    assert result.in_distribution.dtype == np.bool_
    assert (~result.in_distribution).all()
    assert result.n_out_of_envelope == 0


def test_no_rows_scored_gives_empty_float_probabilities() -> None:
    X = _rows(2)
    X[:, 0] = np.nan
    result = score_rows(_ninety_percent, X)
    assert result.scored.probability.dtype == np.float64
    assert result.n_scored == 0


def test_with_a_not_numeric_mask_a_value_above_its_bound_keeps_the_contracts_message() -> None:
    """The mask only splits NaN into "not a number" and "missing"; other reasons are unchanged."""
    X = _rows(1)
    too_big = float(HARD_MAX[2]) * 2
    X[0, 2] = too_big
    X[0, 0] = np.nan
    not_numeric = np.zeros(X.shape, dtype=bool)
    not_numeric[0, 0] = True
    reasons = row_reasons(X, np.array([0]), not_numeric)
    assert reasons == [f"radius_mean: not a number | {value_message(too_big, FEATURES[2])}"]


def test_confidence_index_is_one_byte_per_row() -> None:
    """A batch of a million rows keeps its confidence column as int8 indices."""
    levels = confidence_index(np.array([0.1, 0.5, 0.7]), np.array([True, True, True]))
    assert levels.dtype == np.int8
    assert levels.tolist() == [2, 0, 1]
