"""bcml train --tune: one inner grid search on the training split."""

from __future__ import annotations

from breast_cancer_ml.adapters.dataset import load_dataset
from breast_cancer_ml.domain.models import CANDIDATES
from breast_cancer_ml.domain.nested_cv import grid_points
from breast_cancer_ml.pipelines.train import split_dataset, tune_params
from breast_cancer_ml.settings import BUNDLED_DATA, TrainSettings


def test_tune_picks_a_grid_point_and_is_deterministic() -> None:
    split = split_dataset(load_dataset(BUNDLED_DATA), 0.2, 42)
    s = TrainSettings(model="knn", tune=True, inner_k_folds=3)
    chosen = tune_params(s, split.X_train, split.y_train)
    assert chosen in grid_points(CANDIDATES["knn"].grid)
    assert tune_params(s, split.X_train, split.y_train) == chosen
    assert tune_params(TrainSettings(model="knn"), split.X_train, split.y_train) == {}
