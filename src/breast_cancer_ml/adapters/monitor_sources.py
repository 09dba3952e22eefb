"""The recent cases ``bcml monitor`` compares with the training reference: the records of a
prediction log folder, or a CSV/Parquet file of cases.

A prediction log (``bcml serve --prediction-log DIR``) is one or more files
``predictions-YYYY-MM-DD-<worker>.jsonl``, one JSON object per answered case (keys: ``v``,
``time``, ``request_id``, ``route``, ``row``, ``model_run_id``, ``model_sha256``, ``threshold``,
``features_sha256``, ``probability``, ``prediction``, ``decision``, ``warnings``,
``in_distribution``, optional ``features``, ``prev_sha256``). Only the keys monitoring needs are
read here (:class:`LogCase`); the hash chain is ``bcml audit verify``'s business. Every file is
read (several workers write one each) and the cases are put in time order.

Messages name files and line numbers, never a value of a case (patient data).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
from numpy.typing import NDArray
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from breast_cancer_ml.domain.schema import FEATURES, N_FEATURES
from breast_cancer_ml.errors import ConfigError, DataValidationError

#: The prediction log's file names.
LOG_GLOB = "predictions-*.jsonl"


class LogCase(BaseModel):
    """The part of a prediction log record that monitoring reads."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    v: Literal[1]
    time: dt.datetime
    model_run_id: str
    probability: float = Field(ge=0, le=1, allow_inf_nan=False)
    prediction: Literal[0, 1]
    decision: Literal["malignant", "benign", "refer"]
    in_distribution: bool | None = None
    features: dict[str, float] | None = None


@dataclass(frozen=True)
class RecentCases:
    """Recent cases in time order: what they were answered and, when known, their features
    (``X``: ``(n, 30)``, FEATURES order; only the cases that carry them: ``with_features``)."""

    predictions: NDArray[np.int64]
    referred: NDArray[np.bool_] | None
    #: True outside the envelope; only the cases whose check is known (``None``: none is)
    out_of_range: NDArray[np.bool_] | None
    X: NDArray[np.float64] | None
    description: dict[str, object]
    #: how many of the cases each model (run id) answered (a prediction log only)
    run_ids: dict[str, int] = field(default_factory=dict)

    @property
    def n(self) -> int:
        return int(self.predictions.size)

    def last(self, n: int) -> RecentCases:
        """The newest ``n`` cases of answers read without features (``bcml predict``'s
        output, in input order)."""
        assert self.X is None
        return dataclasses.replace(
            self,
            predictions=self.predictions[-n:],
            referred=None if self.referred is None else self.referred[-n:],
            out_of_range=None if self.out_of_range is None else self.out_of_range[-n:],
        )


def parse_since(text: str) -> dt.datetime:
    """``--since`` as an aware UTC datetime (a date means its midnight, UTC)."""
    try:
        when = dt.datetime.fromisoformat(text.strip())
    except ValueError:
        raise DataValidationError(
            f"--since {text!r} is not an ISO 8601 date or time (e.g. 2026-11-01 or "
            "2026-11-01T08:00:00Z)."
        ) from None
    return when.replace(tzinfo=dt.UTC) if when.tzinfo is None else when.astimezone(dt.UTC)


def log_files(folder: Path) -> list[Path]:
    """The log files of ``folder``, or :class:`DataValidationError` saying why there are none."""
    if not folder.is_dir():
        raise DataValidationError(f"{folder}: no such prediction log folder.")
    files = sorted(folder.glob(LOG_GLOB))
    if not files:
        raise DataValidationError(
            f"{folder}: no {LOG_GLOB} files. Is this the folder given to "
            "`bcml serve --prediction-log`?"
        )
    return files


def read_log(folder: Path, since: dt.datetime | None, last: int | None) -> list[LogCase]:
    """Every record of the log files in ``folder`` from ``since`` on, in time order, the last
    ``last`` of them. A line that is not a record stops with the file and line number; an
    unfinished last line (no newline: a write in progress) is left out."""
    cases: list[LogCase] = []
    for path in log_files(folder):
        day = _file_day(path)
        if since is not None and day is not None and day < since.date():
            continue  # a daily file (UTC) wholly before the window: not even read
        try:
            with path.open(encoding="utf-8", newline="\n") as fh:
                for number, line in enumerate(fh, start=1):
                    if not line.endswith("\n"):
                        break  # the last line, being written: not a record yet
                    if not line.strip():
                        continue
                    case = _record(line, path, number)
                    if since is None or case.time >= since:
                        cases.append(case)
        except (OSError, UnicodeDecodeError) as exc:
            raise DataValidationError(f"{path}: cannot read ({exc}).") from None
    cases.sort(key=lambda c: c.time)
    return cases[-last:] if last is not None else cases


def _file_day(path: Path) -> dt.date | None:
    """The UTC day in a log file's name (``predictions-YYYY-MM-DD-<worker>.jsonl``), if any."""
    try:
        return dt.date.fromisoformat(path.name[len("predictions-") :][:10])
    except ValueError:
        return None


def _record(line: str, path: Path, number: int) -> LogCase:
    try:
        data = json.loads(line)
    except ValueError:
        raise DataValidationError(
            f"{path}, line {number}: not a JSON record. Check the log with `bcml audit verify`."
        ) from None
    try:
        case = LogCase.model_validate(data)
    except ValidationError as exc:
        fields = sorted({str(err["loc"][0]) for err in exc.errors() if err["loc"]})
        raise DataValidationError(
            f"{path}, line {number}: not a prediction log record (field(s) {fields}). Check "
            "the log with `bcml audit verify`."
        ) from None
    if case.time.tzinfo is None:
        raise DataValidationError(f"{path}, line {number}: time has no time zone (expected Z).")
    if case.features is not None and set(case.features) != set(FEATURES):
        raise DataValidationError(
            f"{path}, line {number}: 'features' must name exactly the {N_FEATURES} WDBC features."
        )
    return case


def log_cases(cases: list[LogCase], folder: Path) -> RecentCases:
    """The log's records as :class:`RecentCases`."""
    predictions = np.array([c.prediction for c in cases], dtype=np.int64)
    referred = np.array([c.decision == "refer" for c in cases], dtype=np.bool_)
    known = [c.in_distribution for c in cases if c.in_distribution is not None]
    out_of_range = np.array([not k for k in known], dtype=np.bool_) if known else None
    with_features = [c.features for c in cases if c.features is not None]
    X = (
        np.array([[f[name] for name in FEATURES] for f in with_features], dtype=np.float64)
        if with_features
        else None
    )
    models: dict[str, int] = {}
    for c in cases:
        models[c.model_run_id] = models.get(c.model_run_id, 0) + 1
    return RecentCases(
        predictions=predictions,
        referred=referred,
        out_of_range=out_of_range,
        X=X,
        description={
            "kind": "prediction log",
            "path": str(folder),
            "files": len(log_files(folder)),
            "first": cases[0].time.isoformat() if cases else None,
            "last": cases[-1].time.isoformat() if cases else None,
            "cases_with_features": len(with_features),
            "cases_by_model_run_id": models,
        },
        run_ids=models,
    )


def read_case_table(path: Path) -> NDArray[np.float64] | RecentCases:
    """The 30 feature columns of a CSV/Parquet file as an ``(n, 30)`` array (NaN where a value
    is missing); other columns (``id``, ``diagnosis``, ``bcml predict``'s) are ignored.

    A file with no feature columns but ``bcml predict``'s answer columns (its output, e.g.
    ``scores.csv``) is read as those answers instead (:func:`_scores`): the rates can be
    compared, per-feature drift cannot."""
    try:
        import pyarrow as pa
        import pyarrow.csv as pcsv
        import pyarrow.parquet as pq
    except ImportError:
        raise ConfigError(
            "bcml monitor --input reads CSV and Parquet with pyarrow: "
            "pip install 'breast-cancer-ml[batch]'."
        ) from None

    from breast_cancer_ml.adapters.table_layout import table_format

    if not path.is_file():
        raise DataValidationError(f"{path}: no such file.")
    where = str(path)
    try:
        parquet = table_format(where) == "parquet"
        if parquet:
            names = pq.read_schema(path).names
        else:
            with pcsv.open_csv(path) as reader:
                names = reader.schema.names
        if _is_scores(names):
            return _scores(path, parquet)
        columns = _feature_columns(names, where)
        table = _read_columns(path, parquet, dict.fromkeys(columns, pa.float64()))
        X = np.column_stack(
            [
                table.column(name).cast(pa.float64()).to_numpy(zero_copy_only=False)
                for name in columns
            ]
        ).astype(np.float64)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
        # pyarrow's message ends with the offending text: cut it (it may be a case's value)
        first = str(exc).splitlines()[0].split(": invalid value")[0][:300]
        raise DataValidationError(
            f"{where}: the feature columns must be numbers ({first})."
        ) from None
    except OSError as exc:
        raise DataValidationError(f"{where}: cannot read ({exc}).") from None
    if X.shape[0] == 0:
        raise DataValidationError(f"{where}: no rows.")
    return X.reshape(-1, N_FEATURES)


def _feature_columns(names: list[str], where: str) -> list[str]:
    from breast_cancer_ml.adapters.table_layout import resolve_layout

    return list(resolve_layout(names, where).features)


def _read_columns(path: Path, parquet: bool, types: dict[str, Any]) -> Any:
    """The columns named in ``types`` of a Parquet or CSV file, as a pyarrow table (a CSV's
    columns read as those types; an empty CSV string stays a string, not null)."""
    import pyarrow.csv as pcsv
    import pyarrow.parquet as pq

    if parquet:
        return pq.read_table(path, columns=list(types))
    return pcsv.read_csv(
        path,
        convert_options=pcsv.ConvertOptions(
            include_columns=list(types), column_types=types, strings_can_be_null=False
        ),
    )


#: The columns of ``bcml predict``'s output that monitoring reads.
SCORE_COLUMNS = ("prediction", "decision", "warnings", "model_version")


def _is_scores(names: list[str]) -> bool:
    """``bcml predict``'s output: its answer columns, and not one feature column."""
    stripped = {n.strip() for n in names}
    return set(SCORE_COLUMNS) <= stripped and not stripped & set(FEATURES)


def _scores(path: Path, parquet: bool) -> RecentCases:
    """``bcml predict``'s output as :class:`RecentCases` without features: each row's
    ``prediction``, ``decision`` (``refer`` counts as referred) and ``warnings`` (not empty:
    outside the envelope), and which model (``model_version``) answered it."""
    import pyarrow as pa

    types = {"prediction": pa.int64(), **dict.fromkeys(SCORE_COLUMNS[1:], pa.string())}
    table = _read_columns(path, parquet, types)
    if table.num_rows == 0:
        raise DataValidationError(f"{path}: no rows.")
    predictions = table.column("prediction").to_numpy(zero_copy_only=False)
    decisions = table.column("decision").to_pylist()
    warnings = table.column("warnings").to_pylist()
    if not set(np.unique(predictions).tolist()) <= {0, 1} or not set(decisions) <= {
        "malignant",
        "benign",
        "refer",
    }:
        raise DataValidationError(
            f"{path}: the prediction column must hold 0/1 and the decision column malignant, "
            "benign or refer, as `bcml predict` writes them."
        )
    models: dict[str, int] = {}
    for run_id in table.column("model_version").to_pylist():
        models[str(run_id)] = models.get(str(run_id), 0) + 1
    return RecentCases(
        predictions=np.asarray(predictions, dtype=np.int64),
        referred=np.array([d == "refer" for d in decisions], dtype=np.bool_),
        out_of_range=np.array([bool(w) for w in warnings], dtype=np.bool_),
        X=None,
        description={
            "kind": "bcml predict output",
            "path": str(path),
            "rows": table.num_rows,
            "cases_with_features": 0,
            "cases_by_model_run_id": models,
        },
        run_ids=models,
    )
