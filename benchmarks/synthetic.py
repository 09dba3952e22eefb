"""Large synthetic WDBC-like files for benchmarks and tests of batch scoring (not part of the
package: the product never makes up data). ``python benchmarks/synthetic.py FILE ROWS SEED``
writes one; the tests import it (pytest puts the repository root on ``sys.path``).

Rows are resampled from the bundled dataset with multiplicative Gaussian noise (5% by default),
rounded to four significant digits like the original measurements, and written in the Kaggle
layout (``id``, ``diagnosis``, 30 features) in blocks, so any size can be written with flat
memory. Not for training: the labels are the resampled rows' labels, the noise ignores them.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pcsv
import pyarrow.parquet as pq
from numpy.typing import NDArray

from breast_cancer_ml.domain.schema import FEATURES, ID_COLUMN, LABEL_COLUMN
from breast_cancer_ml.settings import BUNDLED_DATA

_BLOCK_ROWS = 250_000


def _round_significant(x: NDArray[np.float64], digits: int = 4) -> NDArray[np.float64]:
    # x * 10^k rounded then divided by the exact power of ten: the result prints short.
    scale = 10.0 ** (digits - 1 - np.floor(np.log10(np.maximum(x, 1e-12)))).clip(1, 1e15)
    return np.asarray(np.round(x * scale) / scale, dtype=np.float64)


def synthetic_table(n_rows: int, seed: int = 0, noise: float = 0.05, first_id: int = 1) -> pa.Table:
    """``n_rows`` resampled, noised rows in the Kaggle layout (in memory: keep it small)."""
    source = pcsv.read_csv(BUNDLED_DATA)
    base = np.column_stack([source.column(c).to_numpy() for c in FEATURES]).astype(np.float64)
    labels = source.column(LABEL_COLUMN).to_numpy(zero_copy_only=False)
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, base.shape[0], n_rows)
    X = np.abs(base[idx] * rng.normal(1.0, noise, (n_rows, base.shape[1])))
    columns: dict[str, pa.Array] = {
        ID_COLUMN: pa.array(np.arange(first_id, first_id + n_rows, dtype=np.int64)),
        LABEL_COLUMN: pa.array(labels[idx], type=pa.string()),
    }
    for j, name in enumerate(FEATURES):
        columns[name] = pa.array(_round_significant(X[:, j]))
    return pa.table(columns)


def write_synthetic(path: Path, n_rows: int, seed: int = 0, noise: float = 0.05) -> Path:
    """Write ``n_rows`` synthetic rows to ``path`` (.csv or .parquet), block by block."""
    path.parent.mkdir(parents=True, exist_ok=True)
    writer: pcsv.CSVWriter | pq.ParquetWriter | None = None
    try:
        for block, start in enumerate(range(0, n_rows, _BLOCK_ROWS)):
            rows = min(_BLOCK_ROWS, n_rows - start)
            table = synthetic_table(rows, seed=seed + block, noise=noise, first_id=start + 1)
            if writer is None:
                if path.suffix == ".parquet":
                    writer = pq.ParquetWriter(path, table.schema)
                else:
                    options = pcsv.WriteOptions(quoting_style="needed")
                    writer = pcsv.CSVWriter(path, table.schema, write_options=options)
            writer.write_table(table)
    finally:
        if writer is not None:
            writer.close()
    return path


if __name__ == "__main__":
    write_synthetic(Path(sys.argv[1]), int(sys.argv[2]), seed=int(sys.argv[3]))
