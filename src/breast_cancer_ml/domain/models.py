"""The registry of candidate estimators: each an unfitted scikit-learn pipeline.

Every candidate is built by name, so training, comparison and batch scoring share one
definition. Hyperparameters are logged with the entry's prefix (``lr_C``, ...).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

#: Name of the final step in every pipeline; its parameters are the ones logged.
ESTIMATOR_STEP = "estimator"


@dataclass(frozen=True)
class Candidate:
    """A named, unfitted model: ``build(seed)`` returns a fresh pipeline."""

    name: str
    model_type: str
    param_prefix: str
    build: Callable[[int], Pipeline]


def _logreg(seed: int) -> Pipeline:
    return Pipeline(
        [
            ("scaler", StandardScaler()),
            (ESTIMATOR_STEP, LogisticRegression(max_iter=1000, random_state=seed)),
        ]
    )


CANDIDATES: dict[str, Candidate] = {
    c.name: c for c in (Candidate("logreg", "LogisticRegression", "lr_", _logreg),)
}
DEFAULT_MODEL = "logreg"


def get_candidate(name: str) -> Candidate:
    """The registry entry ``name``; a ``ValueError`` names the known ones otherwise."""
    try:
        return CANDIDATES[name]
    except KeyError:
        raise ValueError(
            f"'model' should be one of {sorted(CANDIDATES)}. Got {name!r} instead."
        ) from None


def build_pipeline(name: str, seed: int) -> Pipeline:
    """A fresh, unfitted pipeline for candidate ``name``."""
    return get_candidate(name).build(seed)


def estimator_params(pipeline: Pipeline, name: str) -> dict[str, Any]:
    """Every hyperparameter of the pipeline's estimator, prefixed (``lr_C``, ``lr_penalty``...)."""
    prefix = get_candidate(name).param_prefix
    params = pipeline.named_steps[ESTIMATOR_STEP].get_params(deep=False)
    return {f"{prefix}{key}": value for key, value in sorted(params.items())}


#: Decision threshold on the malignancy probability unless a model was trained with another.
DEFAULT_THRESHOLD = 0.5


def classify(proba: NDArray[np.float64], threshold: float = DEFAULT_THRESHOLD) -> NDArray[np.int64]:
    """1 (malignant) where the probability of malignancy is >= ``threshold``, else 0."""
    return (proba >= threshold).astype(np.int64)
