from __future__ import annotations

import numpy as np
import pytest

from breast_cancer_ml.domain.validation import check_class_counts
from breast_cancer_ml.errors import DataValidationError


def test_class_counts_must_cover_the_folds() -> None:
    check_class_counts(np.array([0] * 5 + [1] * 5), 5, "f.csv")
    with pytest.raises(DataValidationError, match=r"f.csv: 4 malignant row\(s\), fewer than the 5"):
        check_class_counts(np.array([0] * 5 + [1] * 4), 5, "f.csv")
    with pytest.raises(DataValidationError, match=r"f.csv: 4 benign row\(s\)"):
        check_class_counts(np.array([0] * 4 + [1] * 5), 5, "f.csv")
