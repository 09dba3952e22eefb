"""Known cases for the default pipeline trained as `bcml train` trains it. Invariance and
directional tests of every registry model: test_registry_behaviour.py."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from breast_cancer_ml.adapters.dataset import Dataset, load_dataset
from breast_cancer_ml.domain.decision import DEFAULT_THRESHOLD, classify
from breast_cancer_ml.domain.models import build_pipeline
from breast_cancer_ml.domain.schema import FEATURES
from breast_cancer_ml.domain.scoring import proba_function
from breast_cancer_ml.pipelines.train import split_dataset


@pytest.fixture(scope="module")
def data(bundled_csv: Path) -> Dataset:
    return load_dataset(bundled_csv)


@pytest.fixture(scope="module")
def model(data: Dataset) -> Any:
    split = split_dataset(data, 0.2, 42)
    return build_pipeline("logreg", 42).fit(split.X_train, split.y_train)


def test_first_wdbc_case_is_malignant(model: Any, data: Dataset) -> None:
    # Row 1 of WDBC (id 842302 in the original), a textbook malignant case.
    assert data.y[0] == 1
    assert model.predict_proba(data.X[:1])[0, 1] > 0.99


def test_a_clearly_benign_case_is_benign(model: Any, data: Dataset) -> None:
    benign = data.X[data.y == 0]
    smallest = benign[np.argmin(benign[:, FEATURES.index("radius_worst")])]
    assert model.predict_proba(smallest[None, :])[0, 1] < 0.01


def test_fast_scoring_path_equals_scikit_learn(model: Any, data: Dataset) -> None:
    fast = proba_function(model)
    np.testing.assert_allclose(fast(data.X), model.predict_proba(data.X)[:, 1], atol=1e-12, rtol=0)
    assert (classify(fast(data.X), DEFAULT_THRESHOLD) == model.predict(data.X)).all()
