"""One real training run (SQLite MLflow store, model registry, models/latest) for the batch
scoring tests, made once per session in a temporary folder."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from breast_cancer_ml.adapters.model_store import PublishedModel, load_latest

BCML = [sys.executable, "-m", "breast_cancer_ml"]


@dataclass(frozen=True)
class Trained:
    root: Path
    models_dir: Path
    tracking_uri: str
    model: PublishedModel


@pytest.fixture(scope="session")
def trained(tmp_path_factory) -> Trained:
    root = tmp_path_factory.mktemp("batch-trained")
    tracking_uri = f"sqlite:///{root / 'mlflow.db'}"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BCML_", "MLFLOW_"))}
    done = subprocess.run(
        [
            *BCML,
            "train",
            "--k-folds",
            "3",
            "--tracking-uri",
            tracking_uri,
            "--models-dir",
            "models",
        ],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    models_dir = root / "models"
    return Trained(root, models_dir, tracking_uri, load_latest(models_dir))
