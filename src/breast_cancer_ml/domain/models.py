"""The registry of candidate estimators: each an unfitted scikit-learn pipeline.

Every candidate is built by name, so training, comparison and batch scoring share one
definition. Hyperparameters are logged with the entry's prefix (``lr_C``, ...). Each entry
declares a small hyperparameter grid (pipeline parameter names) that ``bcml compare --tune``
searches in its inner cross-validation loop. Estimator classes other than the default's are
imported when a candidate is built, so ``bcml train`` with the default model stays fast.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
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
    #: ``bcml compare --tune`` grid: pipeline parameter name -> values to try.
    grid: Mapping[str, Sequence[Any]] = field(default_factory=dict)


def _logreg(seed: int) -> Pipeline:
    return Pipeline(
        [
            ("scaler", StandardScaler()),
            (ESTIMATOR_STEP, LogisticRegression(max_iter=1000, random_state=seed)),
        ]
    )


def _decision_tree(seed: int) -> Pipeline:
    from sklearn.tree import DecisionTreeClassifier

    # Trees are invariant to feature scaling: no scaler.
    return Pipeline([(ESTIMATOR_STEP, DecisionTreeClassifier(random_state=seed))])


def _random_forest(seed: int) -> Pipeline:
    from sklearn.ensemble import RandomForestClassifier

    forest = RandomForestClassifier(n_estimators=200, n_jobs=1, random_state=seed)
    return Pipeline([(ESTIMATOR_STEP, forest)])


def _calibrated_svc(seed: int) -> Any:
    from sklearn.calibration import CalibratedClassifierCV
    from sklearn.svm import SVC

    # SVC(probability=True) is deprecated since scikit-learn 1.9; this is its replacement:
    # Platt scaling of the decision function fitted on internal 5-fold CV predictions, then
    # one SVC refitted on all rows (ensemble=False).
    return CalibratedClassifierCV(
        SVC(
            # SVC's defaults, named because the model is described as an RBF SVM with C=1
            kernel="rbf",  # pragma: no mutate (the default)
            C=1.0,  # pragma: no mutate (the default)
            gamma="scale",  # pragma: no mutate (the default)
            random_state=seed,
        ),
        method="sigmoid",  # pragma: no mutate (the default; named: the docs say Platt)
        cv=5,
        ensemble=False,
    )


def _svm_rbf(seed: int) -> Pipeline:
    return Pipeline([("scaler", StandardScaler()), (ESTIMATOR_STEP, _calibrated_svc(seed))])


def _svm_log(seed: int) -> Pipeline:
    from sklearn.preprocessing import FunctionTransformer

    # The WDBC features are positive and right-skewed (areas up to ~4,300, concavities with a
    # long tail): log1p before scaling makes an RBF kernel's distances less dominated by the
    # few largest tumours. log1p needs values > -1; the data is validated to be >= 0.
    return Pipeline(
        [
            ("log1p", FunctionTransformer(np.log1p)),
            ("scaler", StandardScaler()),
            (ESTIMATOR_STEP, _calibrated_svc(seed)),
        ]
    )


def _hist_gb(seed: int) -> Pipeline:
    from sklearn.ensemble import HistGradientBoostingClassifier

    boosting = HistGradientBoostingClassifier(early_stopping=False, random_state=seed)
    return Pipeline([(ESTIMATOR_STEP, boosting)])


def _knn(seed: int) -> Pipeline:
    from sklearn.neighbors import KNeighborsClassifier

    # Distances need comparable feature scales. (kNN is deterministic: no seed.)
    return Pipeline([("scaler", StandardScaler()), (ESTIMATOR_STEP, KNeighborsClassifier())])


_E = f"{ESTIMATOR_STEP}__"

CANDIDATES: dict[str, Candidate] = {
    c.name: c
    for c in (
        Candidate("logreg", "LogisticRegression", "lr_", _logreg, {f"{_E}C": [0.1, 1.0, 10.0]}),
        Candidate(
            "decision_tree",
            "DecisionTreeClassifier",
            "dt_",
            _decision_tree,
            {f"{_E}max_depth": [3, 5, None], f"{_E}min_samples_leaf": [1, 5]},
        ),
        Candidate(
            "random_forest",
            "RandomForestClassifier",
            "rf_",
            _random_forest,
            {f"{_E}max_features": ["sqrt", 0.5], f"{_E}min_samples_leaf": [1, 3]},
        ),
        Candidate(
            "svm_rbf",
            "SVC",
            "svm_",
            _svm_rbf,
            {f"{_E}estimator__C": [1.0, 10.0], f"{_E}estimator__gamma": ["scale", 0.01]},
        ),
        Candidate(
            "svm_log",
            "SVC",
            "svml_",
            _svm_log,
            {f"{_E}estimator__C": [1.0, 10.0], f"{_E}estimator__gamma": ["scale", 0.01]},
        ),
        Candidate(
            "hist_gb",
            "HistGradientBoostingClassifier",
            "hgb_",
            _hist_gb,
            {f"{_E}learning_rate": [0.05, 0.1], f"{_E}max_leaf_nodes": [7, 31]},
        ),
        Candidate(
            "knn",
            "KNeighborsClassifier",
            "knn_",
            _knn,
            {f"{_E}n_neighbors": [5, 9, 15], f"{_E}weights": ["uniform", "distance"]},
        ),
    )
}


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


def effective_penalty(params: Mapping[str, Any]) -> str:
    """The penalty a LogisticRegression applies, from ``C`` and ``l1_ratio``.

    scikit-learn 1.8 deprecated ``penalty`` (``get_params`` then reads ``"deprecated"``): the
    penalty follows from ``C=inf`` (none) and ``l1_ratio`` (0: l2, 1: l1, between:
    elasticnet); an explicitly set ``penalty`` is what it says.
    """
    explicit = params.get("penalty", "deprecated")
    if explicit is None:
        return "none"
    if explicit != "deprecated":
        return str(explicit)
    if math.isinf(float(params.get("C", 1.0))):
        return "none"
    ratio = params.get("l1_ratio")
    ratio = 0.0 if ratio is None else float(ratio)
    if ratio == 0:
        return "l2"
    return "l1" if ratio == 1 else "elasticnet"


def estimator_params(pipeline: Pipeline, name: str) -> dict[str, Any]:
    """Every hyperparameter of the pipeline's estimator, prefixed (``lr_C``, ``lr_penalty``...).

    A wrapped estimator's own parameters are included with their scikit-learn path
    (``svm_estimator__C``); the wrapped estimator object itself is not a parameter.
    """
    from sklearn.base import BaseEstimator

    prefix = get_candidate(name).param_prefix
    params = pipeline.named_steps[ESTIMATOR_STEP].get_params(deep=True)
    if params.get("penalty") == "deprecated":
        params["penalty"] = effective_penalty(params)
    return {
        f"{prefix}{key}": value
        for key, value in sorted(params.items())
        if not isinstance(value, BaseEstimator)
    }


#: Decision threshold on the malignancy probability unless a model was trained with another.
