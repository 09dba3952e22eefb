"""effective_penalty on parameter sets that leave out ``penalty`` or ``C`` (logged runs of a
LogisticRegression built without them: scikit-learn's defaults then apply)."""

from __future__ import annotations

from typing import Any

import pytest

from breast_cancer_ml.domain.models import effective_penalty


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"C": 1.0, "l1_ratio": 0.0}, "l2"),  # no penalty key: read C and l1_ratio
        ({"C": 1.0, "l1_ratio": 1.0}, "l1"),
        ({"C": float("inf")}, "none"),
        ({"penalty": "deprecated", "l1_ratio": 1.0}, "l1"),  # no C: the default C=1 is finite
        ({}, "l2"),  # scikit-learn's defaults: C=1, l1_ratio=0
    ],
)
def test_a_missing_penalty_or_c_takes_scikit_learns_default(
    params: dict[str, Any], expected: str
) -> None:
    assert effective_penalty(params) == expected
