"""Shared folds: repeat 0 is the foundation's StratifiedKFold; repeats add, never change."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.model_selection import StratifiedKFold

from breast_cancer_ml.domain.folds import stratified_folds

Y = np.array([0] * 30 + [1] * 20)


def test_repeat_zero_is_the_single_kfold() -> None:
    expected = StratifiedKFold(5, shuffle=True, random_state=7).split(np.zeros((50, 1)), Y)
    folds = stratified_folds(Y, 5, 1, 7)
    for fold, (train, test) in zip(folds, expected, strict=True):
        assert np.array_equal(fold.train, train)
        assert np.array_equal(fold.test, test)


def test_each_repeat_partitions_the_rows_and_repeats_differ() -> None:
    folds = stratified_folds(Y, 5, 3, 7)
    assert [(f.repeat, f.index) for f in folds][:6] == [(0, i) for i in range(5)] + [(1, 0)]
    for r in range(3):
        tests = np.concatenate([f.test for f in folds if f.repeat == r])
        assert sorted(tests.tolist()) == list(range(50))
    assert not np.array_equal(folds[0].test, folds[5].test)
    # adding repeats keeps the earlier ones
    assert all(
        np.array_equal(a.test, b.test)
        for a, b in zip(stratified_folds(Y, 5, 2, 7), folds, strict=False)
    )


def test_repeats_must_be_positive() -> None:
    with pytest.raises(ValueError, match="repeats"):
        stratified_folds(Y, 5, 0, 7)
