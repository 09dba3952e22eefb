"""svm_log is svm_rbf with a log1p step in front (what the selection notes claim)."""

from __future__ import annotations

import numpy as np

from breast_cancer_ml.domain.models import CANDIDATES, build_pipeline, estimator_params


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
