"""Model-behaviour tests of the default pipeline trained as `bcml train` trains it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from breast_cancer_ml.adapters.dataset import Dataset, load_dataset
from breast_cancer_ml.domain.models import DEFAULT_THRESHOLD, build_pipeline, classify
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


def test_small_measurement_noise_does_not_flip_confident_cases(model: Any, data: Dataset) -> None:
    rng = np.random.default_rng(0)
    p = model.predict_proba(data.X)[:, 1]
    confident = data.X[(p > 0.95) | (p < 0.05)]
    noisy = confident * (1 + rng.normal(0, 0.01, confident.shape))  # 1% noise
    assert (model.predict(noisy) == model.predict(confident)).mean() > 0.99


def test_larger_tumours_are_not_less_suspicious_on_average(model: Any, data: Dataset) -> None:
    X = data.X.copy()
    for name in ("radius_mean", "radius_worst", "area_worst", "concave points_mean"):
        X[:, FEATURES.index(name)] *= 1.2
    before = model.predict_proba(data.X)[:, 1].mean()
    after = model.predict_proba(X)[:, 1].mean()
    assert after > before


def test_fast_scoring_path_equals_scikit_learn(model: Any, data: Dataset) -> None:
    fast = proba_function(model)
    np.testing.assert_allclose(fast(data.X), model.predict_proba(data.X)[:, 1], atol=1e-12, rtol=0)
    assert (classify(fast(data.X), DEFAULT_THRESHOLD) == model.predict(data.X)).all()
