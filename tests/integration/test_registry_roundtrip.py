"""Every registry model: bcml train -> publish -> load_published (skops allowlist) -> predict."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from breast_cancer_ml.adapters.dataset import load_dataset
from breast_cancer_ml.adapters.model_store import load_published
from breast_cancer_ml.domain.models import CANDIDATES, build_pipeline
from breast_cancer_ml.pipelines.train import run_training, split_dataset
from breast_cancer_ml.settings import BUNDLED_DATA, TrainSettings

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """One MLflow SQLite store for the module; MLflow's ./mlruns lands in the tmp folder."""
    path = tmp_path_factory.mktemp("registry")
    old = Path.cwd()
    os.chdir(path)
    try:
        yield path
    finally:
        os.chdir(old)


@pytest.mark.parametrize("name", sorted(CANDIDATES))
def test_train_publish_load_predict(name: str, workdir: Path) -> None:
    settings = TrainSettings(
        model=name,
        k_folds=3,
        min_recall=0.0,  # the round trip is under test here, not the model's quality
        max_recall_std=1.0,
        max_ece=1.0,
        max_brier=1.0,
        tracking_uri=f"sqlite:///{workdir / 'mlflow.db'}",
        models_dir=workdir / f"models-{name}",
    )
    result = run_training(settings)
    assert result.promoted, result.summary.not_promoted_reason
    assert result.published_path is not None

    published = load_published(result.published_path)
    assert published.metadata["model"] == name
    assert published.threshold == 0.5

    dataset = load_dataset(BUNDLED_DATA)
    split = split_dataset(dataset, settings.test_size, settings.seed)
    reference = build_pipeline(name, settings.seed).fit(split.X_train, split.y_train)
    expected = reference.predict_proba(dataset.X)[:, 1]
    np.testing.assert_allclose(published.proba(dataset.X), expected, rtol=0, atol=1e-12)
    # and the loaded model is a usable classifier on the held-out rows
    test_pred = (published.proba(split.X_test) >= published.threshold).astype(int)
    assert np.mean(test_pred == split.y_test) > 0.85
    # parameters are logged with the registry prefix
    prefix = CANDIDATES[name].param_prefix
    assert any(k.startswith(prefix) for k in result.summary.params)
