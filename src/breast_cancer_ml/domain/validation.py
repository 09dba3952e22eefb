"""Checks of feature values shared by training, batch scoring and the API.

Features are physical measurements (lengths, areas, ratios): each must be a finite number >= 0.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from breast_cancer_ml.domain.schema import CLASS_NAMES, FEATURES
from breast_cancer_ml.errors import DataValidationError


@dataclass(frozen=True)
class ValueProblem:
    """The first bad value of a column: its 0-based row, the column and the reason."""

    row: int
    column: str
    reason: str
    count: int


def value_problems(
    values: NDArray[np.float64], columns: tuple[str, ...] = FEATURES
) -> list[ValueProblem]:
    """One :class:`ValueProblem` per column that holds a NaN, an infinity or a negative value.

    ``values`` is an ``(n_rows, n_columns)`` float array (missing or unparsable cells as NaN).
    """
    problems = []
    nan = np.isnan(values)
    inf = np.isinf(values)
    with np.errstate(invalid="ignore"):
        neg = values < 0
    for j, column in enumerate(columns):
        for mask, reason in (
            (nan[:, j], "missing or not a number"),
            (inf[:, j], "infinite"),
            (neg[:, j], "negative"),
        ):
            bad = np.flatnonzero(mask)
            if bad.size:
                problems.append(ValueProblem(int(bad[0]), column, reason, int(bad.size)))
                break
    return problems


def invalid_rows(values: NDArray[np.float64]) -> NDArray[np.bool_]:
    """A boolean mask of rows with any NaN, infinite or negative value."""
    with np.errstate(invalid="ignore"):
        bad = ~np.isfinite(values).all(axis=1) | (values < 0).any(axis=1)
    return np.asarray(bad, dtype=np.bool_)


def check_class_counts(y: NDArray[np.int64], k_folds: int, where: str) -> None:
    """Each class needs at least ``k_folds`` rows for stratified K-fold CV."""
    for label, name in CLASS_NAMES.items():
        count = int((y == label).sum())
        if count < k_folds:
            raise DataValidationError(
                f"{where}: {count} {name.lower()} row(s), fewer than the {k_folds} folds of "
                f"cross-validation. Add data or lower --k-folds."
            )
