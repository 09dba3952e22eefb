"""numpy arrays as Arrow arrays without ``pa.array``, for the columns of the scored output.

``pa.array`` imports pandas on first use to check for pandas types: a heavy import, time and
memory that ``bcml predict`` does not otherwise need; these build the Arrow arrays from buffers
instead.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa
from numpy.typing import NDArray

_NUMPY_TYPES: dict[pa.DataType, Any] = {pa.int64(): np.int64, pa.float64(): np.float64}


def arrow_array(values: NDArray[Any], kind: pa.DataType) -> pa.Array:
    """A numpy array of int64, float64 or bool values as an Arrow array of ``kind``, no nulls,
    built from the array's own memory (bools are bit-packed)."""
    n = len(values)
    if pa.types.is_boolean(kind):
        bits = np.packbits(np.asarray(values, dtype=np.bool_), bitorder="little")
        return pa.Array.from_buffers(kind, n, [None, pa.py_buffer(bits)])
    data = np.ascontiguousarray(values, dtype=_NUMPY_TYPES[kind])
    return pa.Array.from_buffers(kind, n, [None, pa.py_buffer(data)])


def arrow_strings(texts: list[str]) -> pa.Array:
    """A small Arrow string array (no nulls), built from buffers like :func:`arrow_array`."""
    encoded = [t.encode() for t in texts]
    offsets = np.zeros(len(encoded) + 1, dtype=np.int32)
    offsets[1:] = np.cumsum([len(b) for b in encoded])
    return pa.Array.from_buffers(
        pa.string(), len(encoded), [None, pa.py_buffer(offsets), pa.py_buffer(b"".join(encoded))]
    )
