"""score_rows: the one "rows in, predictions out" function of the CLI, Spark and the API."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from breast_cancer_ml.adapters.dataset import load_dataset
from breast_cancer_ml.domain.batch import row_reasons, score_rows
from breast_cancer_ml.domain.contract import HARD_MAX, Envelope, invalid_rows
from breast_cancer_ml.domain.models import ESTIMATOR_STEP, build_pipeline
from breast_cancer_ml.domain.schema import FEATURES
from breast_cancer_ml.domain.scoring import (
    CONFIDENCE_LEVELS,
    confidence,
    confidence_index,
    proba_function,
)
from breast_cancer_ml.settings import BUNDLED_DATA


@pytest.fixture(scope="module")
def fitted():
    data = load_dataset(BUNDLED_DATA)
    return build_pipeline("logreg", 0).fit(data.X, data.y), data.X


@pytest.fixture(scope="module")
def forest():
    data = load_dataset(BUNDLED_DATA)
    small = {f"{ESTIMATOR_STEP}__n_estimators": 10}
    return build_pipeline("random_forest", 0).set_params(**small).fit(data.X, data.y)


def test_valid_rows_match_predict_proba_and_threshold(fitted):
    pipeline, X = fitted
    result = score_rows(proba_function(pipeline), X, threshold=0.5)
    expected = pipeline.predict_proba(X)[:, 1]
    np.testing.assert_allclose(result.scored.probability, expected, rtol=0, atol=1e-12)
    assert result.valid.all()
    assert result.rejected.size == 0
    assert result.reasons == []
    np.testing.assert_array_equal(result.scored.prediction, (expected >= 0.5).astype(int))
    low = score_rows(proba_function(pipeline), X, threshold=0.05)
    assert low.scored.prediction.sum() > result.scored.prediction.sum()
    assert list(result.labels[:3]) == [
        "Malignant" if p else "Benign" for p in result.scored.prediction[:3]
    ]


def test_invalid_rows_are_rejected_with_every_reason(fitted):
    pipeline, X = fitted
    X = X[:6].copy()
    not_numeric = np.zeros(X.shape, dtype=bool)
    X[1, 0] = np.nan
    not_numeric[1, 0] = True  # text that is not a number
    X[2, 3] = np.nan  # an empty cell
    X[2, 5] = -1.5
    X[4, 29] = np.inf
    result = score_rows(proba_function(pipeline), X, 0.5, not_numeric)
    assert result.rejected.tolist() == [1, 2, 4]
    assert result.reasons == [
        "radius_mean: not a number",
        "area_mean: missing | compactness_mean: -1.5 is negative; measurements are >= 0",
        "fractal_dimension_worst: inf is not a finite number",
    ]
    assert result.valid.tolist() == [True, False, False, True, False, True]
    expected = pipeline.predict_proba(X[[0, 3, 5]])[:, 1]
    np.testing.assert_allclose(result.scored.probability, expected, atol=1e-12)
    assert result.n_scored == 3


def test_without_a_not_numeric_mask_nan_is_missing_or_not_a_number(fitted):
    pipeline, X = fitted
    X = X[:2].copy()
    X[0, 1] = np.nan
    assert row_reasons(X, np.array([0])) == ["texture_mean: missing or not a number"]
    result = score_rows(proba_function(pipeline), X)
    assert result.reasons == ["texture_mean: missing or not a number"]


def test_all_rows_invalid_scores_nothing(fitted):
    pipeline, X = fitted
    bad = -np.ones((3, X.shape[1]))
    result = score_rows(proba_function(pipeline), bad)
    assert result.n_scored == 0
    assert result.rejected.tolist() == [0, 1, 2]
    assert all(
        r.startswith("radius_mean: -1 is negative; measurements are >= 0 | texture_mean")
        for r in result.reasons
    )


def test_scored_rows_keep_input_order_around_a_rejected_row(fitted):
    pipeline, X = fitted
    X = X[:3].copy()
    X[1, 2] = np.nan
    result = score_rows(proba_function(pipeline), X)
    assert result.valid.tolist() == [True, False, True]
    assert result.rejected.tolist() == [1]
    assert result.reasons == ["perimeter_mean: missing or not a number"]
    expected = pipeline.predict_proba(X[[0, 2]])[:, 1]
    np.testing.assert_allclose(result.scored.probability, expected, rtol=0, atol=1e-15)


def test_wrong_shape_is_refused(fitted):
    pipeline, _ = fitted
    with pytest.raises(ValueError, match=r"expected an \(n, 30\) array"):
        score_rows(proba_function(pipeline), np.zeros((2, 29)))


def test_reasons_say_not_a_number_or_missing_as_the_caller_marked_them(fitted):
    pipeline, X = fitted
    values = np.vstack([X[0]] * 5)
    not_numeric = np.zeros(values.shape, dtype=np.bool_)
    for row, feature, text in [
        (1, "radius_mean", True),  # e.g. a CSV cell "abc"
        (2, "texture_mean", False),  # an empty cell
        (3, "area_mean", False),
        (4, "symmetry_mean", True),
    ]:
        values[row, FEATURES.index(feature)] = np.nan
        not_numeric[row, FEATURES.index(feature)] = text
    result = score_rows(proba_function(pipeline), values, 0.5, not_numeric)
    assert result.reasons == [
        "radius_mean: not a number",
        "texture_mean: missing",
        "area_mean: missing",
        "symmetry_mean: not a number",
    ]
    assert result.rejected.tolist() == [1, 2, 3, 4]


def test_a_row_of_1e308_is_rejected_naming_every_feature_never_scored(fitted, forest):
    pipeline, X = fitted
    rows = np.vstack([X[:1], np.full((1, 30), 1e308)])
    for model in (pipeline, forest):
        result = score_rows(proba_function(model), rows)
        assert result.rejected.tolist() == [1]
        assert result.n_scored == 1
        parts = result.reasons[0].split(" | ")
        assert [p.split(":")[0] for p in parts] == list(FEATURES)
        assert parts[0] == (
            "radius_mean: 1e+308 is above the hard bound 30000, which no real measurement "
            "exceeds; check the unit and the column"
        )


def test_a_value_just_above_its_hard_bound_is_rejected_and_at_the_bound_is_scored(fitted):
    pipeline, X = fitted
    rows = np.vstack([X[:1], X[:1]])
    j = FEATURES.index("smoothness_mean")
    rows[0, j] = HARD_MAX[j]
    rows[1, j] = np.nextafter(HARD_MAX[j], np.inf)
    result = score_rows(proba_function(pipeline), rows)
    assert result.rejected.tolist() == [1]
    assert "smoothness_mean" in result.reasons[0] and "above the hard bound" in result.reasons[0]


def test_rows_outside_the_envelope_are_scored_flagged_and_never_high(fitted):
    pipeline, X = fitted
    envelope = Envelope.from_training(X)
    rows = X[:3].copy()
    j = FEATURES.index("smoothness_mean")
    rows[1, j] = 50.0  # far above the data (~0.05-0.16), below the hard bound 200
    rows[2, 0] = 0.0
    result = score_rows(proba_function(pipeline), rows, 0.5, envelope=envelope)
    assert result.n_scored == 3
    assert result.in_distribution.tolist() == [True, False, False]
    assert result.n_out_of_envelope == 2
    positions, texts = result.warning_texts()
    assert (positions.tolist(), texts) == ([1, 2], ["smoothness_mean", "radius_mean"])
    levels = [CONFIDENCE_LEVELS[i] for i in result.confidence]
    assert levels[0] == confidence(float(result.scored.probability[0]))
    assert levels[1:] == ["low", "low"]


def test_without_an_envelope_no_row_is_in_distribution_and_none_is_high(fitted):
    pipeline, X = fitted
    result = score_rows(proba_function(pipeline), X)
    assert result.outside is None
    assert not result.in_distribution.any()
    assert result.n_out_of_envelope == 0
    positions, texts = result.warning_texts()
    assert (positions.tolist(), texts) == ([], [])
    assert "high" not in {CONFIDENCE_LEVELS[i] for i in result.confidence}
    with_envelope = score_rows(proba_function(pipeline), X, envelope=Envelope.from_training(X))
    assert "high" in {CONFIDENCE_LEVELS[i] for i in with_envelope.confidence}


# any float64, with the special values and the bounds' neighbourhood drawn often
_values = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([0.0, -0.0, 1e308, -1e308, 5e-324, *HARD_MAX.tolist()]),
    st.floats(0, 30),
)


@settings(max_examples=60, deadline=None)
@given(X=arrays(np.float64, st.tuples(st.integers(1, 8), st.just(30)), elements=_values))
def test_no_input_gives_a_non_finite_probability(fitted, forest, X):
    pipeline, _ = fitted
    for model in (pipeline, forest):
        result = score_rows(proba_function(model), X, 0.5)
        p = result.scored.probability
        assert np.isfinite(p).all()
        assert ((p >= 0) & (p <= 1)).all()
        np.testing.assert_array_equal(~result.valid, invalid_rows(X))
        assert result.n_scored + len(result.reasons) == X.shape[0]
        assert all(result.reasons)


@given(
    p=arrays(np.float64, st.integers(0, 20), elements=st.floats(0, 1)),
    known=st.booleans(),
)
def test_confidence_index_is_confidence_row_by_row(p, known):
    flags = np.full(p.shape, known)
    levels = [CONFIDENCE_LEVELS[i] for i in confidence_index(p, flags)]
    assert levels == [confidence(float(v), known) for v in p]


def test_confidence_index_at_the_level_boundaries():
    p = np.array([0.2, 0.4, 0.5, 0.6, 0.8, np.nextafter(0.2, 1), np.nextafter(0.8, 0)])
    levels = [CONFIDENCE_LEVELS[i] for i in confidence_index(p, np.ones(7, dtype=bool))]
    assert levels == ["high", "medium", "low", "medium", "high", "medium", "medium"]


def test_warning_texts_name_each_rows_features_in_feature_order(fitted):
    pipeline, X = fitted
    envelope = Envelope.from_training(X)
    rows = np.repeat(X[:1], 5, axis=0)
    rows[1, [FEATURES.index("smoothness_mean"), 0]] = [50.0, 0.0]
    rows[3, [FEATURES.index("smoothness_mean"), 0]] = [50.0, 0.0]  # the same combination
    rows[4, FEATURES.index("fractal_dimension_worst")] = 9.0
    result = score_rows(proba_function(pipeline), rows, envelope=envelope)
    positions, texts = result.warning_texts()
    assert positions.tolist() == [1, 3, 4]
    assert texts == [
        "radius_mean;smoothness_mean",
        "radius_mean;smoothness_mean",
        "fractal_dimension_worst",
    ]
