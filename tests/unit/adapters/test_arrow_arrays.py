"""numpy -> Arrow without ``pa.array``: the same arrays pyarrow's own conversion gives."""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa
import pytest

from breast_cancer_ml.adapters import arrow_arrays


@pytest.mark.parametrize(
    ("values", "kind"),
    [
        (np.array([3, -1, 0, 2**40], dtype=np.int64), pa.int64()),
        (np.array([0.1, -2.5, np.inf, 1e-300]), pa.float64()),
        (np.array([True, False, True, True, False, False, True, True, False, True]), pa.bool_()),
        (np.arange(20, dtype=np.int64)[::3], pa.int64()),  # not contiguous
        (np.array([], dtype=np.float64), pa.float64()),
    ],
)
def test_arrow_array_equals_pyarrows_own_conversion(values: Any, kind: pa.DataType) -> None:
    assert arrow_arrays.arrow_array(values, kind).equals(pa.array(values, type=kind))


def test_arrow_strings_equals_pyarrows_own_conversion() -> None:
    texts = ["Benign", "Malignant", "", "é-ü", "29a3d41aa2ac4d7fa93593ca1ccee06e"]
    assert arrow_arrays.arrow_strings(texts).equals(pa.array(texts, type=pa.string()))
