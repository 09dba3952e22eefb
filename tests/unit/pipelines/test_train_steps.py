"""Each step of `bcml train` alone."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from breast_cancer_ml.adapters.dataset import Dataset, load_dataset
from breast_cancer_ml.domain.cross_validation import cross_validate
from breast_cancer_ml.pipelines.train import smoke_sample, split_dataset


@pytest.fixture(scope="module")
def data(bundled_csv: Path) -> Dataset:
    return load_dataset(bundled_csv)


def test_split_is_stratified_seeded_and_20_percent(data: Dataset) -> None:
    a = split_dataset(data, 0.2, 42)
    b = split_dataset(data, 0.2, 42)
    c = split_dataset(data, 0.2, 7)
    assert len(a.y_test) == 114
    np.testing.assert_array_equal(a.X_test, b.X_test)
    assert not np.array_equal(a.X_test, c.X_test)
    assert a.y_test.mean() == pytest.approx(data.y.mean(), abs=0.01)


def test_smoke_sample_keeps_class_balance(data: Dataset) -> None:
    small = smoke_sample(data, 0.2, 42)
    assert small.n_rows == 113
    assert small.y.mean() == pytest.approx(data.y.mean(), abs=0.01)
    assert small.data_version == data.data_version
    assert small.ids is not None and len(set(small.ids)) == 113


def test_cross_validation_is_deterministic_with_out_of_fold_scores(data: Dataset) -> None:
    split = split_dataset(data, 0.2, 42)
    r1 = cross_validate("logreg", split.X_train, split.y_train, 5, 42)
    r2 = cross_validate("logreg", split.X_train, split.y_train, 5, 42)
    assert len(r1.folds) == 5
    assert r1.summary == r2.summary
    assert set(r1.summary) == {
        f"{m}_{s}"
        for m in ("accuracy", "precision", "recall", "f1", "roc_auc")
        for s in ("mean", "std")
    }
    assert r1.oof_proba.shape == split.y_train.shape
    assert ((r1.oof_proba >= 0) & (r1.oof_proba <= 1)).all()
    # Out-of-fold scores separate the classes well (each row scored by a model that never saw it).
    from sklearn.metrics import roc_auc_score

    assert roc_auc_score(split.y_train, r1.oof_proba) > 0.98


@pytest.mark.parametrize(
    ("verdict", "expected"),
    [
        ({"evaluated": True, "forced": False, "champion": {"present": False}}, None),
        ({"evaluated": True, "forced": False, "champion": {"present": True, "run_id": "r1"}}, "r1"),
        ({"evaluated": True, "forced": True, "champion": {"present": True, "run_id": "r1"}}, "any"),
        ({"evaluated": False}, "any"),
        ({"evaluated": True, "champion": {"present": True, "source": "unavailable"}}, "any"),
    ],
)
def test_the_beaten_champion_must_still_be_champion(
    verdict: dict[str, object], expected: str | None
) -> None:
    from breast_cancer_ml.adapters.model_store import UNCHECKED
    from breast_cancer_ml.domain.records import ChallengerVerdict
    from breast_cancer_ml.pipelines.train import _beaten_champion

    result = _beaten_champion(ChallengerVerdict.model_validate({"reason": None, **verdict}))
    assert (result is UNCHECKED) if expected == "any" else (result == expected)
