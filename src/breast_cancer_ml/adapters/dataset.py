"""Read, validate and hash a WDBC CSV in the Kaggle layout.

Accepted: columns in any order, ``id`` optional, extra columns that are entirely empty (Kaggle's
trailing ``Unnamed: 32``) ignored. Everything else that is wrong raises
:class:`~breast_cancer_ml.errors.DataValidationError` naming the file, column and line.
"""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from breast_cancer_ml.domain.contract import HARD_BOUNDS, value_problems
from breast_cancer_ml.domain.schema import (
    FEATURES,
    ID_COLUMN,
    LABEL_COLUMN,
    LABEL_ENCODING,
)
from breast_cancer_ml.errors import DataValidationError

#: Data rows start on line 2 of the file (line 1 is the header).
_FIRST_DATA_LINE = 2


@dataclass(frozen=True)
class Dataset:
    """A validated dataset: features in :data:`FEATURES` order, labels (1 = malignant)."""

    path: Path
    data_version: str  # SHA256 of the file's bytes
    X: NDArray[np.float64]
    y: NDArray[np.int64]
    ids: NDArray[np.str_] | None

    @property
    def n_rows(self) -> int:
        return int(self.X.shape[0])


def sha256_bytes(data: bytes) -> str:
    """Hex SHA256 of ``data``: the data version."""
    return hashlib.sha256(data).hexdigest()


def load_dataset(path: Path) -> Dataset:
    """Read ``path`` once, hash its bytes, parse and validate it."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise DataValidationError(f"{path}: cannot read the file ({exc.strerror}).") from None
    if not raw.strip():
        raise DataValidationError(f"{path}: the file is empty.")
    frame = _parse(path, raw)
    return _validate(path, sha256_bytes(raw), frame)


def _parse(path: Path, raw: bytes) -> pd.DataFrame:
    try:
        return pd.read_csv(io.BytesIO(raw), dtype=str, keep_default_na=False, skipinitialspace=True)
    except UnicodeDecodeError:
        raise DataValidationError(f"{path}: not a UTF-8 text file; expected a CSV.") from None
    except (pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise DataValidationError(
            f"{path}: not a readable CSV ({exc}).".replace("\n", " ")
        ) from None


def _line(row: int) -> int:
    return row + _FIRST_DATA_LINE


def _validate(path: Path, data_version: str, frame: pd.DataFrame) -> Dataset:
    frame.columns = [str(c).strip() for c in frame.columns]
    missing = [c for c in (LABEL_COLUMN, *FEATURES) if c not in frame.columns]
    if missing:
        raise DataValidationError(
            f"{path}: missing column(s) {missing}. Expected 'diagnosis' and the 30 WDBC feature "
            f"columns (Kaggle names, e.g. 'radius_mean', 'concave points_mean')."
        )
    known = {ID_COLUMN, LABEL_COLUMN, *FEATURES}
    for column in frame.columns:
        if column in known:
            continue
        filled = np.flatnonzero(frame[column].str.strip().to_numpy() != "")
        if filled.size:
            raise DataValidationError(
                f"{path}: unknown column {column!r} has values (first at line "
                f"{_line(int(filled[0]))}). Remove it or rename it to a WDBC column."
            )
    if frame.empty:
        raise DataValidationError(f"{path}: the file has a header but no data rows.")

    labels = frame[LABEL_COLUMN].str.strip()
    bad_labels = np.flatnonzero(~labels.isin(list(LABEL_ENCODING)).to_numpy())
    if bad_labels.size:
        first = int(bad_labels[0])
        raise DataValidationError(
            f"{path}: column 'diagnosis', line {_line(first)}: {labels.iloc[first]!r} is not a "
            f"label; expected 'M' (malignant) or 'B' (benign). {bad_labels.size} bad row(s)."
        )
    y = np.asarray(labels.map(LABEL_ENCODING).to_numpy(), dtype=np.int64)

    text = frame[list(FEATURES)]
    X = text.apply(pd.to_numeric, errors="coerce").to_numpy(dtype=np.float64)
    problems = value_problems(X)
    if problems:
        p = problems[0]
        raw_value = text[p.column].iloc[p.row]
        more = f" ({len(problems) - 1} more column(s) with bad values)" if len(problems) > 1 else ""
        raise DataValidationError(
            f"{path}: column {p.column!r}, line {_line(p.row)}: {raw_value!r} is {p.reason}; "
            f"every feature must be a finite number >= 0 and at most its hard bound "
            f"({HARD_BOUNDS[p.column]:g} for this one). {p.count} bad value(s) in this "
            f"column{more}."
        )

    ids = None
    if ID_COLUMN in frame.columns:
        ids = frame[ID_COLUMN].str.strip().to_numpy(dtype=str)
        dupes = pd.Series(ids).duplicated(keep="first").to_numpy()
        if dupes.any():
            first = int(np.flatnonzero(dupes)[0])
            raise DataValidationError(
                f"{path}: column 'id', line {_line(first)}: id {str(ids[first])!r} appears "
                f"more than once ({int(dupes.sum())} duplicate row(s)). Each case must appear once."
            )
    return Dataset(path=path, data_version=data_version, X=X, y=y, ids=ids)
