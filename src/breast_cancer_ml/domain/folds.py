"""The cross-validation folds every command shares, so "the same folds" is one definition.

Repeat ``r`` of ``k``-fold CV is ``StratifiedKFold(k, shuffle=True, random_state=seed + r)``:
repeat 0 is exactly the foundation's single K-fold, and adding repeats never changes earlier
ones. ``bcml train`` (gate, threshold, champion/challenger) and ``bcml compare`` use these.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

#: Recorded with fold metrics; fold numbers are only comparable under the same scheme.
FOLD_SCHEME = "stratified-kfold, shuffle, random_state=seed+repeat"


@dataclass(frozen=True)
class Fold:
    """Row indices of one fold (into the array that was split)."""

    repeat: int
    index: int
    train: NDArray[np.int64]
    test: NDArray[np.int64]


def stratified_folds(y: NDArray[np.int64], k_folds: int, repeats: int, seed: int) -> list[Fold]:
    """``repeats`` x ``k_folds`` stratified folds of ``y``, repeat by repeat."""
    from sklearn.model_selection import StratifiedKFold

    if repeats < 1:
        raise ValueError(f"repeats must be >= 1; got {repeats}")
    out = []
    placeholder = np.zeros((len(y), 1))  # pragma: no mutate (the splitter ignores X)
    for r in range(repeats):
        splitter = StratifiedKFold(n_splits=k_folds, shuffle=True, random_state=seed + r)
        for i, (train, test) in enumerate(splitter.split(placeholder, y)):
            out.append(Fold(r, i, train.astype(np.int64), test.astype(np.int64)))
    return out
