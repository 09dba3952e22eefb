"""svm_log is svm_rbf with a log1p step in front (what the selection notes claim)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from breast_cancer_ml.domain.models import (
    CANDIDATES,
    build_pipeline,
    effective_penalty,
    estimator_params,
)


def test_svm_log_is_svm_rbf_after_log1p() -> None:
    log_pipe, rbf_pipe = build_pipeline("svm_log", 7), build_pipeline("svm_rbf", 7)
    assert [n for n, _ in log_pipe.steps] == ["log1p", *(n for n, _ in rbf_pipe.steps)]
    assert log_pipe.named_steps["log1p"].func is np.log1p
    assert CANDIDATES["svm_log"].grid == CANDIDATES["svm_rbf"].grid
    same = {k.removeprefix("svml_"): v for k, v in estimator_params(log_pipe, "svm_log").items()}
    assert same == {
        k.removeprefix("svm_"): v for k, v in estimator_params(rbf_pipe, "svm_rbf").items()
    }


def test_registry_prefixes_are_distinct() -> None:
    prefixes = [c.param_prefix for c in CANDIDATES.values()]
    assert len(set(prefixes)) == len(prefixes)


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"penalty": "deprecated", "C": 1.0, "l1_ratio": 0.0}, "l2"),
        ({"penalty": "deprecated", "C": 1.0, "l1_ratio": 1.0}, "l1"),
        ({"penalty": "deprecated", "C": 1.0, "l1_ratio": 0.3}, "elasticnet"),
        ({"penalty": "deprecated", "C": float("inf"), "l1_ratio": 0.0}, "none"),
        ({"penalty": "deprecated", "C": 1.0, "l1_ratio": None}, "l2"),
        ({"penalty": "l1", "C": 1.0, "l1_ratio": 0.0}, "l1"),
        ({"penalty": None, "C": 1.0}, "none"),
    ],
)
def test_effective_penalty_follows_c_and_l1_ratio(params: dict[str, Any], expected: str) -> None:
    assert effective_penalty(params) == expected


def test_logged_logreg_params_name_the_penalty_applied() -> None:
    """scikit-learn 1.8+ reads ``penalty='deprecated'``; the logged value is the real one."""
    params = estimator_params(build_pipeline("logreg", 0), "logreg")
    assert params["lr_penalty"] == "l2"


def test_the_help_list_of_model_names_is_the_registry() -> None:
    """settings.ALL_MODELS spells the registry's names for --help without importing it."""
    from breast_cancer_ml.settings import ALL_MODELS

    assert sorted(ALL_MODELS.split(",")) == sorted(CANDIDATES)
