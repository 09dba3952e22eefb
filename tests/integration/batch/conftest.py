"""One real training run (SQLite MLflow store, model registry, models/latest) for the batch
scoring tests, made once per session in a temporary folder."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest

from breast_cancer_ml.adapters import model_store
from breast_cancer_ml.adapters.model_store import PublishedModel, load_latest
from breast_cancer_ml.domain.conformal import ConformalParams

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


#: A refer rule set by hand for the tests (training fits its own): benign is in a case's set
#: when p <= 0.8, malignant when 1 - p <= 0.8, so a case scored between 0.2 and 0.8 gets both
#: classes and is referred.
RULE = ConformalParams(alpha=0.05, q_benign=0.8, q_malignant=0.8, n_benign=285, n_malignant=170)


def republish(trained: Trained, root: Path, conformal: ConformalParams | None) -> Trained:
    """The trained model published again, under a new run id in ``root/models``, with
    ``conformal`` as its refer rule (None: metadata as written before the rule existed)."""
    assert trained.model.record is not None
    run_id = uuid.uuid4().hex
    record = trained.model.record.model_copy(update={"run_id": run_id, "conformal": conformal})
    models_dir = root / "models"
    model_store.publish(models_dir, run_id, trained.model.folder / "model", [], record)
    return Trained(root, models_dir, trained.tracking_uri, load_latest(models_dir))


@pytest.fixture(scope="session")
def with_rule(trained, tmp_path_factory) -> Trained:
    """The trained model with :data:`RULE` in its promotion metadata."""
    return republish(trained, tmp_path_factory.mktemp("with-rule"), RULE)


@pytest.fixture(scope="session")
def without_rule(trained, tmp_path_factory) -> Trained:
    """The trained model with no refer rule in its promotion metadata."""
    return republish(trained, tmp_path_factory.mktemp("without-rule"), None)
