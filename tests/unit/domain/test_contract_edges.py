"""The input contract at its edges: small maxima, problems per column (not per row), rows of the
wrong length, envelopes of the wrong length, a chosen margin kept, and exact error messages."""

from __future__ import annotations

import numpy as np
import pytest

from breast_cancer_ml.domain.contract import (
    ENVELOPE_MARGIN,
    Envelope,
    ValueProblem,
    hard_bound_for,
    row_messages,
    value_problems,
)
from breast_cancer_ml.domain.schema import FEATURES


@pytest.mark.parametrize(("observed", "bound"), [(0.0005, 0.5), (0.001, 1.0), (0.00031, 0.4)])
def test_a_maximum_below_one_thousandth_still_has_a_bound(observed: float, bound: float) -> None:
    assert hard_bound_for(observed) == pytest.approx(bound)


def test_value_problems_are_per_column_with_the_first_bad_row() -> None:
    X = np.ones((2, 30))
    X[1, 5] = -1.0  # row 1, column 5: the row and column indexes differ
    assert value_problems(X) == [ValueProblem(1, FEATURES[5], "negative", 1)]


def test_a_row_of_the_wrong_length_is_refused_not_truncated() -> None:
    with pytest.raises(ValueError, match="zip"):
        row_messages(np.full(29, -1.0))


def test_an_envelope_with_too_few_lows_or_highs_is_refused() -> None:
    with pytest.raises(ValueError, match=r"^an envelope needs 30 lows and highs$"):
        Envelope(low=(0.0,) * 29, high=(1.0,) * 30)
    with pytest.raises(ValueError, match=r"^an envelope needs 30 lows and highs$"):
        Envelope(low=(0.0,) * 30, high=(1.0,) * 31)


def test_from_training_uses_each_features_own_range_and_keeps_the_margin() -> None:
    X = np.vstack([np.arange(30, dtype=float), np.arange(30, dtype=float) * 2 + 10])
    env = Envelope.from_training(X, margin=0.5)
    assert env.margin == 0.5
    low, high = np.arange(30.0), np.arange(30.0) * 2 + 10
    pad = 0.5 * (high - low)
    assert env.high == tuple((high + pad).tolist())
    assert env.low == tuple(np.maximum(low - pad, 0.0).tolist())


def test_the_margin_round_trips_and_defaults_when_absent() -> None:
    env = Envelope.from_training(np.vstack([np.zeros(30), np.ones(30)]), margin=0.25)
    data = env.as_dict()
    assert data["margin"] == 0.25
    assert Envelope.from_dict(data) == env
    del data["margin"]
    assert Envelope.from_dict(data).margin == ENVELOPE_MARGIN


def _bounds() -> dict[str, object]:
    return Envelope.from_training(np.vstack([np.zeros(30), np.ones(30)])).as_dict()


def test_envelope_errors_say_exactly_what_is_wrong() -> None:
    with pytest.raises(ValueError, match=r"^an envelope needs at least one training row$"):
        Envelope.from_training(np.empty((0, 30)))
    data = _bounds()
    data["bounds"]["radius_mean"] = [0.0]  # type: ignore[index]
    with pytest.raises(ValueError, match=r"^each envelope bound must be \[low, high\]$"):
        Envelope.from_dict(data)
    data = _bounds()
    data["bounds"]["radius_mean"] = [0.0, "1"]  # type: ignore[index]
    with pytest.raises(ValueError, match=r"^envelope bounds must be numbers$"):
        Envelope.from_dict(data)
    data = _bounds()
    data["margin"] = "0.1"
    with pytest.raises(ValueError, match=r"^envelope margin must be a number$"):
        Envelope.from_dict(data)
