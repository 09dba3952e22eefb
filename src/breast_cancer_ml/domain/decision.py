"""The decision rule: a probability of malignancy at or above the threshold means malignant.

Kept apart from the estimator registry (:mod:`~breast_cancer_ml.domain.models`, which imports
scikit-learn) so that scoring code can import it without scikit-learn.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

#: The decision threshold when none was chosen for a recall target.
DEFAULT_THRESHOLD = 0.5


def classify(proba: NDArray[np.float64], threshold: float = DEFAULT_THRESHOLD) -> NDArray[np.int64]:
    """1 (malignant) where the probability of malignancy is >= ``threshold``, else 0."""
    return (proba >= threshold).astype(np.int64)


def classify_one(probability: float, threshold: float = DEFAULT_THRESHOLD) -> int:
    """:func:`classify` for one case, without numpy's per-call cost (the service's /predict)."""
    return 1 if probability >= threshold else 0
