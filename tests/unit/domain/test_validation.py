from __future__ import annotations

import numpy as np
import pytest

from breast_cancer_ml.domain.validation import check_class_counts, invalid_rows, value_problems
from breast_cancer_ml.errors import DataValidationError


def test_value_problems_names_the_first_bad_row_per_column() -> None:
    X = np.ones((4, 3))
    X[2, 0] = np.nan
    X[3, 0] = np.nan
    X[1, 1] = np.inf
    X[3, 2] = -0.5
    problems = value_problems(X, ("a", "b", "c"))
    assert [(p.column, p.row, p.reason, p.count) for p in problems] == [
        ("a", 2, "missing or not a number", 2),
        ("b", 1, "infinite", 1),
        ("c", 3, "negative", 1),
    ]


def test_clean_values_have_no_problems_and_zero_is_allowed() -> None:
    assert value_problems(np.zeros((2, 2)), ("a", "b")) == []


def test_invalid_rows_mask() -> None:
    X = np.array([[1.0, 2.0], [np.nan, 1.0], [1.0, -1.0], [np.inf, 0.0], [0.0, 0.0]])
    assert invalid_rows(X).tolist() == [False, True, True, True, False]


def test_class_counts_must_cover_the_folds() -> None:
    check_class_counts(np.array([0] * 5 + [1] * 5), 5, "f.csv")
    with pytest.raises(DataValidationError, match=r"f.csv: 4 malignant row\(s\), fewer than the 5"):
        check_class_counts(np.array([0] * 5 + [1] * 4), 5, "f.csv")
