"""score_rows: the one "rows in, predictions out" function of the CLI, Spark and the API."""

from __future__ import annotations

import numpy as np
import pytest

from breast_cancer_ml.adapters.dataset import load_dataset
from breast_cancer_ml.domain.batch import row_reasons, score_rows
from breast_cancer_ml.domain.models import build_pipeline
from breast_cancer_ml.domain.scoring import proba_function
from breast_cancer_ml.settings import BUNDLED_DATA


@pytest.fixture(scope="module")
def fitted():
    data = load_dataset(BUNDLED_DATA)
    return build_pipeline("logreg", 0).fit(data.X, data.y), data.X


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
        "area_mean: missing or NaN; compactness_mean: negative (-1.5)",
        "fractal_dimension_worst: infinite",
    ]
    assert result.valid.tolist() == [True, False, False, True, False, True]
    expected = pipeline.predict_proba(X[[0, 3, 5]])[:, 1]
    np.testing.assert_allclose(result.scored.probability, expected, atol=1e-12)
    assert result.n_rows == 6
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
    assert all(r.startswith("radius_mean: negative (-1.0); texture_mean") for r in result.reasons)


def test_records_keep_input_order_and_ids(fitted):
    pipeline, X = fitted
    X = X[:3].copy()
    X[1, 2] = np.nan
    result = score_rows(proba_function(pipeline), X)
    records = result.records(ids=["a", "b", "c"])
    assert [r["id"] for r in records] == ["a", "b", "c"]
    assert records[1] == {"id": "b", "error": "perimeter_mean: missing or not a number"}
    assert set(records[0]) == {"id", "prediction", "prediction_label", "probability", "confidence"}
    assert records[2]["probability"] == pytest.approx(pipeline.predict_proba(X[2:3])[0, 1])
    assert "id" not in result.records()[0]
    with pytest.raises(ValueError, match="2 ids for 3 rows"):
        result.records(ids=["a", "b"])


def test_wrong_shape_is_refused(fitted):
    pipeline, _ = fitted
    with pytest.raises(ValueError, match=r"expected an \(n, 30\) array"):
        score_rows(proba_function(pipeline), np.zeros((2, 29)))


def test_features_from_json_like_records(fitted):
    from breast_cancer_ml.domain.batch import features_from_records
    from breast_cancer_ml.domain.schema import FEATURES

    pipeline, X = fitted
    good = dict(zip(FEATURES, X[0].tolist(), strict=True))
    rows = [
        good,
        {**good, "radius_mean": "abc", "extra": "ignored"},
        {**good, "texture_mean": None},
        {k: v for k, v in good.items() if k != "area_mean"},
        {**good, "smoothness_mean": " 0.5 ", "symmetry_mean": True},
    ]
    values, not_numeric = features_from_records(rows)
    np.testing.assert_array_equal(values[0], X[0])
    assert np.argwhere(not_numeric).tolist() == [[1, 0], [4, FEATURES.index("symmetry_mean")]]
    assert values[4, FEATURES.index("smoothness_mean")] == 0.5
    result = score_rows(proba_function(pipeline), values, 0.5, not_numeric)
    assert result.reasons == [
        "radius_mean: not a number",
        "texture_mean: missing or NaN",
        "area_mean: missing or NaN",
        "symmetry_mean: not a number",
    ]
    assert result.rejected.tolist() == [1, 2, 3, 4]
