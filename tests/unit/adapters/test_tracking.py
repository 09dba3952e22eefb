"""The MLflow functions the tracker skips while logging a model exist, and are restored.

If an MLflow upgrade renames them, the skip silently stops applying (logging only gets slower);
these tests make that visible.
"""

from __future__ import annotations

import mlflow.models.utils as model_utils
import mlflow.utils.environment as env

from breast_cancer_ml.adapters import tracking


def test_the_serving_input_check_is_skipped_while_logging_and_restored() -> None:
    original = model_utils._validate_serving_input
    with tracking._skip_serving_input_validation():
        assert model_utils._validate_serving_input is not original
        assert model_utils._validate_serving_input("models:/x/1", "{}") is None
    assert model_utils._validate_serving_input is original


def test_the_requirement_check_is_skipped_while_logging_and_restored() -> None:
    original = env.warn_dependency_requirement_mismatches
    with tracking._skip_requirement_mismatch_check():
        assert env.warn_dependency_requirement_mismatches is not original
    assert env.warn_dependency_requirement_mismatches is original
