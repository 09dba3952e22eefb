"""The decision rule at its boundary: a probability equal to the threshold is malignant.

Ties are not rare: :func:`threshold_for_recall` returns an actual training probability, so the
case that sets the threshold sits exactly on it. Were it called benign, the recall target the
threshold was chosen for would be missed.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest

from breast_cancer_ml.domain.decision import DEFAULT_THRESHOLD, classify, classify_one
from breast_cancer_ml.domain.scoring import score, score_one
from breast_cancer_ml.domain.threshold import recall_at, threshold_for_recall
from breast_cancer_ml.errors import NonFiniteProbabilityError

BELOW_HALF = float(np.nextafter(0.5, 0.0))
ABOVE_HALF = float(np.nextafter(0.5, 1.0))


# (probability, threshold, prediction)
BOUNDARY = [
    (BELOW_HALF, 0.5, 0),
    (0.5, 0.5, 1),
    (ABOVE_HALF, 0.5, 1),
    (0.0, 0.5, 0),
    (1.0, 0.5, 1),
    (0.1999, 0.2, 0),
    (0.2, 0.2, 1),
    (0.97, 0.97, 1),
    (1.0, 1.0, 1),
    (0.0, 0.0, 1),
]


@pytest.mark.parametrize(("p", "threshold", "prediction"), BOUNDARY)
def test_probability_at_or_above_the_threshold_is_malignant(
    p: float, threshold: float, prediction: int
) -> None:
    assert classify(np.array([p]), threshold).tolist() == [prediction]


@pytest.mark.parametrize(("p", "threshold", "prediction"), BOUNDARY)
def test_the_one_case_rule_is_the_same_rule(p: float, threshold: float, prediction: int) -> None:
    """/predict decides one case with classify_one: it must agree with classify everywhere."""
    assert classify_one(p, threshold) == prediction
    assert type(classify_one(p, threshold)) is int
    assert classify_one(BELOW_HALF) == 0
    assert classify_one(0.5) == 1


@pytest.mark.parametrize(("p", "threshold", "prediction"), BOUNDARY)
def test_score_one_gives_what_score_gives_for_one_row(
    p: float, threshold: float, prediction: int
) -> None:
    def proba(X: np.ndarray) -> np.ndarray:
        return np.full(X.shape[0], p)

    x = np.ones((1, 30))
    many = score(proba, x, threshold)
    assert score_one(proba, x, threshold) == (p, prediction)
    assert score_one(proba, x, threshold) == (
        float(many.probability[0]),
        int(many.prediction[0]),
    )
    assert score_one(lambda X: np.full(1, 0.5), x) == (0.5, 1)  # default threshold 0.5


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_score_one_never_lets_a_non_finite_probability_out(bad: float) -> None:
    with pytest.raises(NonFiniteProbabilityError, match="non-finite probability"):
        score_one(lambda X: np.full(1, bad), np.ones((1, 30)))


def test_the_default_threshold_is_one_half_and_inclusive() -> None:
    assert DEFAULT_THRESHOLD == 0.5
    assert classify(np.array([BELOW_HALF, 0.5, ABOVE_HALF])).tolist() == [0, 1, 1]


def test_predictions_are_integer_labels() -> None:
    out = classify(np.array([0.1, 0.9]))
    assert out.dtype == np.int64
    assert out.tolist() == [0, 1]


def test_the_case_that_sets_the_threshold_is_called_malignant() -> None:
    # 4 malignant cases; recall 0.75 needs 3 of them: the threshold is the 3rd highest, 0.3.
    y = np.array([1, 1, 1, 1, 0, 0])
    p = np.array([0.9, 0.45, 0.3, 0.2, 0.25, 0.1])
    t = threshold_for_recall(y, p, 0.75)
    assert t == 0.3
    predicted = classify(p, t)
    assert predicted.tolist() == [1, 1, 1, 0, 0, 0]
    assert predicted[y == 1].mean() == 0.75  # the target is met by the decision itself


def test_recall_at_counts_ties_as_found() -> None:
    y = np.array([1, 1, 0])
    p = np.array([0.3, 0.2, 0.9])
    assert recall_at(y, p, 0.3) == 0.5
    assert recall_at(y, p, 0.2) == 1.0
    assert recall_at(y, p, float(np.nextafter(0.2, 1.0))) == 0.5


def test_recall_without_a_malignant_case_is_unmeasured_quietly() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # NaN by the rule, not by a 0/0 RuntimeWarning
        assert math.isnan(recall_at(np.array([0, 0]), np.array([0.1, 0.9]), 0.5))


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        (0.25, 0.4),  # 0.25 x 4 = 1 case: the highest malignant probability
        (0.2, 0.4),  # 0.8 of a case still needs one case
        (1e-12, 0.4),  # a vanishing target still needs one case, never zero
        (0.26, 0.3),  # just over one case needs two
    ],
)
def test_a_target_of_at_most_one_case_takes_the_highest_malignant_probability(
    target: float, expected: float
) -> None:
    y = np.array([1, 1, 1, 1, 0])
    p = np.array([0.1, 0.4, 0.3, 0.2, 0.45])
    assert threshold_for_recall(y, p, target) == expected


def test_the_threshold_is_capped_at_max_threshold() -> None:
    y = np.array([1, 1, 0])
    p = np.array([0.9, 0.8, 0.1])
    assert threshold_for_recall(y, p, 1.0) == 0.5
    assert threshold_for_recall(y, p, 1.0, max_threshold=0.85) == 0.8
    assert threshold_for_recall(y, p, 0.5, max_threshold=0.95) == 0.9


@pytest.mark.parametrize(("target", "ok"), [(1.0, True), (float(np.nextafter(1.0, 2.0)), False)])
def test_a_target_of_exactly_one_is_allowed(target: float, ok: bool) -> None:
    y, p = np.array([1, 0]), np.array([0.3, 0.1])
    if ok:
        assert threshold_for_recall(y, p, target) == 0.3
    else:
        with pytest.raises(ValueError, match=r"target_recall must be in \(0, 1\]"):
            threshold_for_recall(y, p, target)


@pytest.mark.parametrize(
    ("y", "p", "message"),
    [
        ([[1, 0]], [[0.2, 0.1]], r"^y_true and proba must be 1-D of one length; got \(1, 2\)"),
        ([1, 0], [np.inf, 0.1], "^proba holds NaN or infinite values$"),
        ([0, 0], [0.2, 0.1], "^no malignant case: a recall target cannot be met or measured$"),
    ],
)
def test_malformed_predictions_are_refused(y: list[int], p: list[float], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        threshold_for_recall(np.array(y), np.array(p), 0.9)
