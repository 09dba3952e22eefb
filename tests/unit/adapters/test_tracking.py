"""The tracking adapter's store boundary: lock placement and store-error translation."""

from __future__ import annotations

from pathlib import Path

import pytest
from mlflow.exceptions import MlflowException

from breast_cancer_ml.adapters import tracking
from breast_cancer_ml.errors import TrackingStoreError


def test_the_store_lock_lives_beside_a_sqlite_database_only() -> None:
    assert tracking.store_lock_path("sqlite:////data/mlflow.db") == Path("/data/mlflow.db.lock")
    assert tracking.store_lock_path("sqlite:///mlflow.db") == Path("mlflow.db.lock")
    assert tracking.store_lock_path("sqlite:///mlflow.db?timeout=5") == Path("mlflow.db.lock")
    assert tracking.store_lock_path("sqlite:///:memory:") is None
    assert tracking.store_lock_path("http://127.0.0.1:5000") is None


def test_a_store_error_becomes_exit_4_with_the_store_named() -> None:
    with (
        pytest.raises(TrackingStoreError, match=r"sqlite:///x\.db: logging metrics failed") as info,
        tracking.store_errors("sqlite:///x.db", "logging metrics"),
    ):
        raise MlflowException("database is locked")
    assert info.value.exit_code == 4
    assert "database is locked" in str(info.value)


def test_the_callers_own_errors_pass_through_the_store_boundary() -> None:
    with pytest.raises(KeyError), tracking.store_errors("sqlite:///x.db", "anything"):
        raise KeyError("not a store error")
