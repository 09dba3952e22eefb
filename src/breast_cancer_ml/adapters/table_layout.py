"""The tables of batch scoring: which file format a name means, where the needed columns are
in an input, and the columns of the scored output and of the reject file.

The input layout is the training data's: the 30 WDBC feature columns in any order, ``id`` kept,
``diagnosis`` ignored, other columns allowed only when empty (Kaggle's trailing unnamed column).
``-`` means stdin/stdout, CSV only.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import pyarrow as pa

from breast_cancer_ml.domain.schema import FEATURES, ID_COLUMN, LABEL_COLUMN
from breast_cancer_ml.errors import ConfigError, DataValidationError

STDIO = "-"
Format = Literal["csv", "parquet"]
_SUFFIXES: dict[str, Format] = {
    ".csv": "csv",
    ".csv.gz": "csv",
    ".parquet": "parquet",
    ".pq": "parquet",
}


def table_format(name: str) -> Format:
    """``"csv"`` or ``"parquet"`` from a file name's extension; ``-`` (stdin/stdout) is CSV."""
    if name == STDIO:
        return "csv"
    lower = name.lower().rstrip("/")
    for suffix, fmt in sorted(_SUFFIXES.items(), key=lambda kv: -len(kv[0])):
        if lower.endswith(suffix):
            return fmt
    raise ConfigError(
        f"{name}: unknown file type. Use a .csv, .csv.gz or .parquet file name, "
        f"or - for CSV on stdin/stdout."
    )


def is_gzip(name: str) -> bool:
    """Whether ``name`` is a gzip-compressed file (``.csv.gz``)."""
    return name.lower().endswith(".gz")


@dataclass(frozen=True)
class Layout:
    """Where the columns the scorer needs are in the input (actual names, as in the file)."""

    features: tuple[str, ...]
    id: str | None
    ignored: tuple[str, ...]  # must be empty in every row


def resolve_layout(names: list[str], where: str, columns: tuple[str, ...] = FEATURES) -> Layout:
    """Match the input's column names (surrounding spaces ignored) to the expected ones."""
    stripped: dict[str, str] = {}
    for name in names:
        key = name.strip().lstrip("\ufeff")
        if key in stripped and key:
            raise DataValidationError(f"{where}: column {key!r} appears more than once.")
        stripped[key] = name
    missing = [c for c in columns if c not in stripped]
    if missing:
        raise DataValidationError(
            f"{where}: missing column(s) {missing}. Expected the 30 WDBC feature columns "
            f"(Kaggle names, e.g. 'radius_mean', 'concave points_mean'); 'id' is optional and "
            f"'diagnosis' is ignored."
        )
    known = {*columns, ID_COLUMN, LABEL_COLUMN}
    return Layout(
        features=tuple(stripped[c] for c in columns),
        id=stripped.get(ID_COLUMN),
        ignored=tuple(name for key, name in stripped.items() if key not in known),
    )


#: Columns of the scored output, in order. ``row`` is the 1-based input row (joins back to the
#: input with or without an ``id`` column); ``warnings`` names the features outside the model's
#: plausibility envelope, separated by ``;`` (empty when every feature is in range).
#: ``decision`` is malignant, benign or refer; ``prediction_set`` the set's class names joined
#: by ``;`` (``Benign``, ``Malignant``, ``Benign;Malignant`` or empty): domain/refer.py.
OUTPUT_COLUMNS = (
    "row",
    "id",
    "prediction",
    "prediction_label",
    "probability",
    "confidence",
    "decision",
    "prediction_set",
    "warnings",
    "model_version",
)


def explain_columns(k: int) -> list[str]:
    """The columns ``bcml predict --explain K`` adds after :data:`OUTPUT_COLUMNS`: the base
    log-odds, then the ``k`` largest contributions (``explain_1_*`` the largest |value|)."""
    names = ["explain_base"]
    for i in range(1, k + 1):
        names += [f"explain_{i}_feature", f"explain_{i}_contribution"]
    return names


def output_schema(id_type: pa.DataType, explain: int = 0) -> pa.Schema:
    types = {
        "row": pa.int64(),
        "id": id_type,
        "prediction": pa.int64(),
        "prediction_label": pa.string(),
        "probability": pa.float64(),
        "confidence": pa.string(),
        "decision": pa.string(),
        "prediction_set": pa.string(),
        "warnings": pa.string(),
        "model_version": pa.string(),
    }
    fields = [pa.field(name, types[name]) for name in OUTPUT_COLUMNS]
    for name in explain_columns(explain) if explain else []:
        kind = pa.string() if name.endswith("_feature") else pa.float64()
        fields.append(pa.field(name, kind))
    return pa.schema(fields)


#: Columns of the reject file: 1-based data row (the header is not a row), id, reason.
REJECT_SCHEMA = pa.schema(
    [pa.field("row", pa.int64()), pa.field("id", pa.string()), pa.field("reason", pa.string())]
)
