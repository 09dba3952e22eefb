"""Confidence labels at every boundary, the out-of-distribution cap, and score()'s NaN guard.

The rule: ``high`` when p >= 0.8 or p <= 0.2, ``medium`` when p >= 0.6 or p <= 0.4, else
``low``; a case outside the model's envelope is always ``low``.
"""

from __future__ import annotations

import numpy as np
import pytest
from numpy.typing import NDArray

from breast_cancer_ml.domain.scoring import ProbaFn, Scored, confidence, score
from breast_cancer_ml.errors import NonFiniteProbabilityError


def below(x: float) -> float:
    return float(np.nextafter(x, -1.0))


def above(x: float) -> float:
    return float(np.nextafter(x, 2.0))


# every boundary from both sides, and the ends
LABELS = [
    (0.0, "high"),
    (0.2, "high"),
    (above(0.2), "medium"),
    (0.3, "medium"),
    (0.4, "medium"),
    (above(0.4), "low"),
    (0.5, "low"),
    (below(0.6), "low"),
    (0.6, "medium"),
    (0.7, "medium"),
    (below(0.8), "medium"),
    (0.8, "high"),
    (0.9, "high"),
    (1.0, "high"),
]


@pytest.mark.parametrize(("p", "label"), LABELS)
def test_confidence_label_at_each_boundary(p: float, label: str) -> None:
    assert confidence(p) == label
    assert confidence(p, in_distribution=True) == label


@pytest.mark.parametrize(("p", "_label"), LABELS)
def test_out_of_distribution_is_always_low(p: float, _label: str) -> None:
    assert confidence(p, in_distribution=False) == "low"


def _constant(values: list[float]) -> ProbaFn:
    """A model that answers ``values`` (one per row), whatever the features."""

    def proba(X: NDArray[np.float64]) -> NDArray[np.float64]:
        return np.array(values[: X.shape[0]], dtype=np.float64)

    return proba


def test_scored_records_carry_the_confidence_of_each_probability() -> None:
    scored = score(_constant([0.95, 0.65, 0.5, 0.3]), np.zeros((4, 30)), threshold=0.6)
    assert [r["confidence"] for r in scored.records()] == ["high", "medium", "low", "medium"]
    assert [r["prediction"] for r in scored.records()] == [1, 1, 0, 0]
    assert [r["prediction_label"] for r in scored.records()] == [
        "Malignant",
        "Malignant",
        "Benign",
        "Benign",
    ]
    assert scored.threshold == 0.6
    assert scored.records()[0] == {
        "prediction": 1,
        "prediction_label": "Malignant",
        "probability": 0.95,
        "confidence": "high",
    }


def test_records_refuse_mismatched_probabilities_and_predictions() -> None:
    with pytest.raises(ValueError, match="zip"):
        Scored(np.array([0.1, 0.9]), np.array([0]), 0.5).records()


def test_score_decides_at_the_given_threshold_inclusive() -> None:
    scored = score(_constant([0.3, 0.29]), np.zeros((2, 30)), threshold=0.3)
    assert scored.prediction.tolist() == [1, 0]
    assert score(_constant([0.5, 0.49]), np.zeros((2, 30))).prediction.tolist() == [1, 0]


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_a_non_finite_probability_never_leaves_as_an_answer(bad: float) -> None:
    with pytest.raises(NonFiniteProbabilityError, match=rf"\({bad}\) for row 2; no answer"):
        score(_constant([0.1, 0.2, bad, np.nan]), np.zeros((4, 30)))
