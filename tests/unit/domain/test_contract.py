"""The input contract: each hard rule, each bound, each message, and the envelope."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from breast_cancer_ml.domain.contract import (
    ENVELOPE_MARGIN,
    HARD_BOUNDS,
    HARD_MAX,
    Envelope,
    hard_bound_for,
    invalid_rows,
    row_messages,
    value_message,
    value_problems,
    value_reason,
)
from breast_cancer_ml.domain.schema import FEATURES


def _case(value: float = 1.0) -> np.ndarray:
    return np.full((1, 30), value)


def test_hard_bounds_cover_every_feature_in_order() -> None:
    assert tuple(HARD_BOUNDS) == FEATURES
    assert HARD_MAX.tolist() == [HARD_BOUNDS[f] for f in FEATURES]


@pytest.mark.parametrize(
    ("observed", "bound"),
    [(0.1634, 200.0), (28.11, 30_000.0), (4254.0, 5_000_000.0), (0.2, 200.0), (0.2001, 300.0)],
)
def test_hard_bound_is_1000x_the_maximum_rounded_up_to_one_digit(observed, bound) -> None:
    assert hard_bound_for(observed) == bound


def test_hard_bound_needs_a_positive_maximum() -> None:
    with pytest.raises(ValueError, match="max_observed should be > 0"):
        hard_bound_for(0.0)


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (math.nan, "missing or not a number"),
        (math.inf, "infinite"),
        (-math.inf, "infinite"),
        (-1e-9, "negative"),
        (200.0 + 1e-9, "above the hard bound"),
        (1e308, "above the hard bound"),
    ],
)
def test_each_hard_rule_has_its_reason(value, reason) -> None:
    assert value_reason(value, "smoothness_mean") == reason


@pytest.mark.parametrize("value", [0.0, 0.1, 50.0, 200.0])
def test_zero_and_the_bound_itself_are_valid(value) -> None:
    assert value_reason(value, "smoothness_mean") is None


def test_messages_name_the_feature_and_the_rule() -> None:
    assert value_message(math.nan, "radius_se") == "radius_se: missing or not a number"
    assert value_message(math.inf, "radius_se") == "radius_se: inf is not a finite number"
    assert value_message(-2.0, "radius_se") == "radius_se: -2 is negative; measurements are >= 0"
    assert value_message(1e308, "area_worst") == (
        "area_worst: 1e+308 is above the hard bound 5e+06, which no real measurement exceeds; "
        "check the unit and the column"
    )
    with pytest.raises(ValueError, match="is a valid value"):
        value_message(1.0, "radius_se")


def test_invalid_rows_flags_each_kind_of_bad_value() -> None:
    X = np.ones((6, 30))
    X[1, 0] = np.nan
    X[2, 5] = np.inf
    X[3, 29] = -0.5
    X[4, 4] = HARD_BOUNDS["smoothness_mean"] * 1.01
    X[5, 4] = HARD_BOUNDS["smoothness_mean"]  # at the bound: valid
    assert invalid_rows(X).tolist() == [False, True, True, True, True, False]


def test_invalid_rows_refuses_the_wrong_shape() -> None:
    with pytest.raises(ValueError, match=r"expected an \(n, 30\) array"):
        invalid_rows(np.ones((2, 29)))


def test_value_problems_names_the_first_bad_row_and_count_per_column() -> None:
    X = np.ones((4, 30))
    X[2, 0] = X[3, 0] = np.nan
    X[1, 1] = np.inf
    X[3, 2] = -0.5
    X[0, 3] = 1e9
    problems = value_problems(X)
    assert [(p.column, p.row, p.reason, p.count) for p in problems] == [
        ("radius_mean", 2, "missing or not a number", 2),
        ("texture_mean", 1, "infinite", 1),
        ("perimeter_mean", 3, "negative", 1),
        ("area_mean", 0, "above the hard bound", 1),
    ]
    assert value_problems(np.zeros((2, 30))) == []


def test_row_messages_lists_every_bad_value_in_feature_order() -> None:
    row = np.ones(30)
    row[4] = 1e6
    row[0] = -1
    assert row_messages(row) == [
        "radius_mean: -1 is negative; measurements are >= 0",
        "smoothness_mean: 1e+06 is above the hard bound 200, which no real measurement "
        "exceeds; check the unit and the column",
    ]
    assert row_messages(np.ones(30)) == []


# --- the envelope ---------------------------------------------------------------------------


def test_envelope_is_min_and_max_widened_by_the_margin_and_never_below_zero() -> None:
    X = np.vstack([np.full(30, 1.0), np.full(30, 3.0)])
    X[0, 7] = 0.0
    env = Envelope.from_training(X)
    assert env.margin == ENVELOPE_MARGIN == 0.10
    assert env.low[0] == pytest.approx(0.8)  # 1 - 0.1 * (3 - 1)
    assert env.high[0] == pytest.approx(3.2)
    assert env.low[7] == 0.0  # 0 - 0.3 clipped at 0
    assert env.high[7] == pytest.approx(3.3)


def test_envelope_flags_only_the_features_outside_and_the_bounds_are_inclusive() -> None:
    env = Envelope.from_training(np.vstack([np.full(30, 1.0), np.full(30, 3.0)]), margin=0.0)
    inside = np.full((1, 30), 2.0)
    edge = np.full((1, 30), 3.0)
    out = inside.copy()
    out[0, 4] = 50.0
    out[0, 10] = 0.5
    assert env.in_distribution(np.vstack([inside, edge, out])).tolist() == [True, True, False]
    warnings = env.warnings(out[0])
    assert [w.as_dict() for w in warnings] == [
        {"feature": "smoothness_mean", "value": 50.0, "low": 1.0, "high": 3.0},
        {"feature": "radius_se", "value": 0.5, "low": 1.0, "high": 3.0},
    ]
    assert env.warnings(inside[0]) == []


def test_envelope_round_trips_through_its_json_form() -> None:
    rng = np.random.default_rng(0)
    env = Envelope.from_training(rng.uniform(0, 5, size=(20, 30)))
    assert Envelope.from_dict(env.as_dict()) == env
    assert list(env.as_dict()["bounds"]) == list(FEATURES)


@pytest.mark.parametrize(
    "mutate",
    [
        lambda d: d["bounds"].pop("radius_mean"),
        lambda d: d["bounds"].__setitem__("radius_mean", [1.0]),
        lambda d: d["bounds"].__setitem__("radius_mean", [2.0, 1.0]),
        lambda d: d["bounds"].__setitem__("radius_mean", [-1.0, 1.0]),
        lambda d: d["bounds"].__setitem__("radius_mean", [0.0, math.nan]),
        lambda d: d["bounds"].__setitem__("radius_mean", ["0", 1.0]),
        lambda d: d.__setitem__("margin", "0.1"),
        lambda d: d.__setitem__("margin", -0.1),
        lambda d: d.__setitem__("bounds", None),
    ],
)
def test_a_malformed_envelope_is_refused(mutate) -> None:
    data = Envelope.from_training(np.vstack([np.zeros(30), np.ones(30)])).as_dict()
    mutate(data)
    with pytest.raises(ValueError, match=r"envelope|margin"):
        Envelope.from_dict(data)


def test_an_envelope_needs_rows() -> None:
    with pytest.raises(ValueError, match="at least one training row"):
        Envelope.from_training(np.empty((0, 30)))


# --- properties -----------------------------------------------------------------------------

_any_float = st.floats(allow_nan=True, allow_infinity=True, width=64)


@settings(max_examples=300, deadline=None)
@given(arrays(np.float64, (5, 30), elements=_any_float))
def test_property_a_row_is_valid_iff_each_value_is_finite_nonnegative_and_within_bound(X):
    expected = [
        all(
            math.isfinite(v) and 0 <= v <= HARD_BOUNDS[f]
            for v, f in zip(row, FEATURES, strict=True)
        )
        for row in X.tolist()
    ]
    assert (~invalid_rows(X)).tolist() == expected
    for row, ok in zip(X, expected, strict=True):
        assert (row_messages(row) == []) == ok


@settings(max_examples=200, deadline=None)
@given(
    arrays(np.float64, (4, 30), elements=st.floats(0, 1e4)),
    arrays(np.float64, (3, 30), elements=st.floats(0, 1e5)),
)
def test_property_training_rows_are_always_inside_their_own_envelope(train, cases):
    env = Envelope.from_training(train)
    assert env.in_distribution(train).all()
    for row, inside in zip(cases, env.in_distribution(cases), strict=True):
        assert (env.warnings(row) == []) == bool(inside)
