"""Checks of a training data set as a whole (the rules for one case are in :mod:`.contract`)."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from breast_cancer_ml.domain.schema import CLASS_NAMES
from breast_cancer_ml.errors import DataValidationError


def check_class_counts(y: NDArray[np.int64], k_folds: int, where: str) -> None:
    """Each class needs at least ``k_folds`` rows for stratified K-fold CV."""
    for label, name in CLASS_NAMES.items():
        count = int((y == label).sum())
        if count < k_folds:
            raise DataValidationError(
                f"{where}: {count} {name.lower()} row(s), fewer than the {k_folds} folds of "
                f"cross-validation. Add data or lower --k-folds."
            )
