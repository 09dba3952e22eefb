"""Shared fixtures: every test gets a clean environment; MLflow stores live in tmp_path."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from breast_cancer_ml.settings import BUNDLED_DATA


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """No BCML_* or MLFLOW_TRACKING_URI from the developer's shell leaks into a test."""
    for key in list(os.environ):
        if key.startswith("BCML_") or key == "MLFLOW_TRACKING_URI":
            monkeypatch.delenv(key)


@pytest.fixture(scope="session")
def bundled_csv() -> Path:
    return BUNDLED_DATA


@pytest.fixture
def tracking_uri(tmp_path: Path) -> str:
    """A fresh SQLite MLflow store for one test (artifacts beside it)."""
    return f"sqlite:///{tmp_path / 'mlflow.db'}"


@pytest.fixture(scope="session")
def shared_tracking_uri(tmp_path_factory: pytest.TempPathFactory) -> str:
    """One SQLite MLflow store shared by a session's read-mostly tests (creating one costs ~1 s)."""
    return f"sqlite:///{tmp_path_factory.mktemp('mlflow') / 'mlflow.db'}"
