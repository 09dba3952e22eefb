"""Request bodies in, a validated ``(n, 30)`` float array out, or an :class:`InputError`.

The fast path's parser (see :mod:`.app`). The contract itself is declared once, as the pydantic
models of :func:`.schemas.request_models`, which FastAPI validates and documents; this parser
is written by hand because FastAPI's routing and dependency machinery costs more than scoring,
and ``tests/unit/service/test_contract_equivalence.py`` proves it accepts and refuses exactly
what those models do, with the same values. Every check names the field
(``features[3]``, ``instances[2].area_mean``, ``row 4, column 'radius_se'``) so a client can
fix the request. Each value must be a JSON number (not a string or a boolean) that the one input
contract (:mod:`breast_cancer_ml.domain.contract`) accepts: finite, >= 0 and at most the
feature's hard bound. The check is one chained comparison per value against that feature's bound.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Mapping, Sequence
from typing import Any, Final

import numpy as np
import orjson
from numpy.typing import NDArray

from breast_cancer_ml.domain.contract import HARD_BOUNDS, HARD_MAX, TOO_LARGE, value_message
from breast_cancer_ml.domain.schema import FEATURES, N_FEATURES

FEATURE_SET: Final = frozenset(FEATURES)
#: The contract's hard bounds as Python floats, in FEATURES order (cheapest to compare with).
HARD_MAX_LIST: Final[list[float]] = HARD_MAX.tolist()
_BOUNDS: Final = tuple(zip(FEATURES, HARD_MAX_LIST, strict=True))
_SHOW: Final = 5  # how many unknown/missing names an error message lists
EMPTY_BODY: Final = "the request body is empty; send a JSON object"


class InputError(Exception):
    """A request the service refuses: HTTP ``status``, a message naming ``field``, and an
    optional short ``code`` (default: one per status, see :mod:`.errors`)."""

    def __init__(
        self, message: str, field: str | None = None, status: int = 422, code: str | None = None
    ) -> None:
        super().__init__(message)
        self.message = message
        self.field = field
        self.status = status
        self.code = code


def parse_json(body: bytes) -> Any:
    """Decode a JSON body; a key given twice in one object is refused (400, naming the key).

    orjson first (fast); it refuses ``NaN``/``Infinity`` tokens and integers beyond 64 bits,
    which the standard library accepts, so those bodies are decoded again by ``json`` and the
    value checks then name the offending field. orjson keeps the last of duplicate keys
    silently, so its result is checked by counting: every key in the body is followed by one
    ``:``, so when the body holds no more ``:`` than the decoded objects hold keys, no key was
    given twice. Otherwise (a duplicate, or a ``:`` inside a string) the body is decoded again
    by ``json`` with a hook that sees every key.
    """
    if not body:
        raise InputError(EMPTY_BODY, status=400)
    try:
        doc = orjson.loads(body)
    except orjson.JSONDecodeError:
        return _parse_strict(body)
    colons = body.count(b":")
    # {"features": [...]}: one colon, one key; only a body with more colons needs the count
    if colons > (len(doc) if type(doc) is dict else 0) and colons > _count_keys(doc):
        return _parse_strict(body)
    return doc


def _parse_strict(body: bytes) -> Any:
    try:
        return json.loads(body, object_pairs_hook=_unique_keys)
    except InputError:
        raise
    except (ValueError, RecursionError) as exc:  # JSONDecodeError, UnicodeDecodeError, 4300 digits
        raise InputError(f"the body is not valid JSON: {exc}", status=400) from None


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    doc = dict(pairs)
    if len(doc) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise InputError(
                    f"{key}: this key appears more than once in one JSON object; send each key "
                    "once",
                    key[:80],
                    400,
                    "duplicate_key",
                )
            seen.add(key)
    return doc


_LEAVES: Final = frozenset({float, int, str, bool, type(None)})


def _count_keys(doc: Any) -> int:
    """The number of keys of every object in a decoded JSON document.

    Containers are scanned with ``set(map(type, ...))`` (a C loop), so a row of 30 numbers
    costs well under a microsecond; only nested containers are visited one by one. Iterative:
    orjson accepts nesting deeper than Python's recursion limit.
    """
    n = 0
    stack = [doc]
    while stack:
        item = stack.pop()
        if type(item) is dict:
            n += len(item)
            values: Any = item.values()
        elif type(item) is list:
            values = item
        else:
            continue
        if not set(map(type, values)) <= _LEAVES:
            stack.extend(v for v in values if type(v) is dict or type(v) is list)
    return n


def _describe(value: Any) -> str:
    if isinstance(value, bool):
        return f"a boolean ({json.dumps(value)})"
    if value is None:
        return "null"
    if isinstance(value, str):
        return f"a string ({value[:40]!r})"
    if isinstance(value, (list, dict)):
        return "an array" if isinstance(value, list) else "an object"
    return type(value).__name__


def value_error(value: Any, field: str, feature: str) -> InputError:
    """The error for a value the contract refuses (or that is not a number at all); ``field``
    is where it is in the request, ``feature`` the feature it is a value of."""
    if type(value) is not float and type(value) is not int:
        return InputError(f"{field}: expected a number, got {_describe(value)}", field)
    try:
        number = float(value)
    except OverflowError:  # an integer beyond the float range
        return InputError(
            f"{field}: an integer of {len(str(value))} digits is {TOO_LARGE} "
            f"{HARD_BOUNDS[feature]:g}, which no real measurement exceeds",
            field,
        )
    # the contract's wording, which starts with the feature's name; the field names it already
    rule = value_message(number, feature).removeprefix(f"{feature}: ")
    return InputError(f"{field}: {rule}", field)


def check_row(values: Sequence[Any], field: str) -> Sequence[Any]:
    """A list of 30 numbers in FEATURES order, checked; returned unchanged."""
    if len(values) != N_FEATURES:
        raise InputError(
            f"{field}: expected {N_FEATURES} numbers in the dataset's feature order "
            f"({FEATURES[0]}, ..., {FEATURES[-1]}), got {len(values)}",
            field,
        )
    for v, bound in zip(values, HARD_MAX_LIST, strict=True):
        t = type(v)
        # one chained comparison rejects NaN, infinities, negatives and absurd values at once
        if (t is not float and t is not int) or not (0.0 <= v <= bound):
            raise _first_error(values, field)
    return values


def _first_error(values: Sequence[Any], field: str) -> InputError:
    """The error for the first value of a positional row the contract refuses."""
    for i, (v, bound) in enumerate(zip(values, HARD_MAX_LIST, strict=True)):
        t = type(v)
        if (t is not float and t is not int) or not (0.0 <= v <= bound):
            return value_error(v, f"{field}[{i}] ({FEATURES[i]})", FEATURES[i])
    raise AssertionError("no invalid value in the row")  # pragma: no cover


def row_from_names(values: Mapping[str, Any], field: str) -> list[Any]:
    """``{"radius_mean": ..., ...}`` (all 30 names, no others) -> the values in FEATURES order."""
    if len(values) != N_FEATURES or not FEATURE_SET.issuperset(values):
        unknown = sorted(set(values) - FEATURE_SET)
        missing = [name for name in FEATURES if name not in values]
        parts = []
        if unknown:
            parts.append(f"unknown name(s) {_names(unknown)}")
        if missing:
            parts.append(f"missing name(s) {_names(missing)}")
        raise InputError(
            f"{field}: {' and '.join(parts)}; expected exactly the {N_FEATURES} feature names "
            "listed in GET /model/info",
            field,
        )
    row = [values[name] for name in FEATURES]
    for v, (name, bound) in zip(row, _BOUNDS, strict=True):
        t = type(v)
        if (t is not float and t is not int) or not (0.0 <= v <= bound):
            raise value_error(v, f"{field}.{name}", name)
    return row


def _names(names: Sequence[str]) -> str:
    shown = ", ".join(repr(n) for n in names[:_SHOW])
    return f"[{shown}{', ...' if len(names) > _SHOW else ''}] ({len(names)})"


def _row(item: Any, field: str) -> Sequence[Any]:
    if type(item) is list:
        return check_row(item, field)
    if type(item) is dict:
        return row_from_names(item, field)
    raise InputError(
        f"{field}: expected an array of {N_FEATURES} numbers or an object of feature names, "
        f"got {_describe(item)}",
        field,
    )


def to_array(rows: Sequence[Sequence[Any]]) -> NDArray[np.float64]:
    return np.array(rows, dtype=np.float64).reshape(len(rows), N_FEATURES)


#: The optional body field asking for each answered case's explanation (JSON true/false).
EXPLAIN_FIELD: Final = "explain"


def wants_explanation(doc: dict[str, Any]) -> bool:
    """``"explain"`` of a body that :func:`single_row` or :func:`batch_features` accepted:
    absent or false is False."""
    return len(doc) == 2 and doc[EXPLAIN_FIELD] is True


def _check_fields(doc: dict[str, Any], field: str, example: str) -> None:
    """``doc`` holds ``field`` and at most ``"explain"`` (a JSON boolean) besides."""
    if field not in doc:
        raise InputError(f"{field}: field required ({{{example}}})", field)
    extra = sorted(set(doc) - {field, EXPLAIN_FIELD})
    if extra:
        raise InputError(
            f"body: unknown field(s) {extra}; only {field!r} and {EXPLAIN_FIELD!r} are accepted",
            "body",
        )
    value = doc.get(EXPLAIN_FIELD, False)
    if type(value) is not bool:
        raise InputError(
            f"{EXPLAIN_FIELD}: expected true or false, got {_describe(value)}", EXPLAIN_FIELD
        )


def single_row(doc: Any) -> Sequence[Any]:
    """The 30 checked values of a ``/predict`` body, in FEATURES order (JSON numbers)."""
    if type(doc) is not dict:
        raise InputError(f'body: expected a JSON object {{"features": ...}}, got {_describe(doc)}')
    if len(doc) != 1 or "features" not in doc:
        _check_fields(doc, "features", '"features": [30 numbers]')
    return _row(doc["features"], "features")


def batch_features(doc: Any, max_rows: int) -> NDArray[np.float64]:
    """``{"instances": [row, ...]}``, each row a list of 30 numbers or an object by name."""
    if type(doc) is not dict:
        raise InputError(
            f'body: expected a JSON object {{"instances": [...]}}, got {_describe(doc)}'
        )
    if len(doc) != 1 or "instances" not in doc:
        _check_fields(doc, "instances", '"instances": [[30 numbers], ...]')
    items = doc["instances"]
    if type(items) is not list:
        raise InputError(
            f"instances: expected an array of rows, got {_describe(items)}", "instances"
        )
    _check_count(len(items), "instances", max_rows)
    return to_array([_row(item, f"instances[{i}]") for i, item in enumerate(items)])


def _check_count(n: int, field: str, max_rows: int, empty_status: int = 422) -> None:
    if n == 0:
        raise InputError(f"{field}: no rows; send at least one", field, empty_status)
    if n > max_rows:
        raise InputError(
            f"{field}: {n} rows, more than the limit of {max_rows} per request "
            "(max_batch_rows); split the batch",
            field,
            status=413,
        )


# --- the MLflow scoring protocol (/invocations) ----------------------------------------------

MLFLOW_FORMATS: Final = ("dataframe_split", "dataframe_records", "instances", "inputs")


def _mlflow_number(value: Any, field: str, feature: str) -> float:
    """A cell as MLflow's schema enforcement sees it: numbers, or strings that parse as one
    (as in CSV). Booleans and nulls are refused (MLflow would turn them into 1.0 / an error)."""
    t = type(value)
    if t is str:
        try:
            value = float(value)
        except ValueError:
            raise InputError(
                f"{field}: cannot convert {value[:40]!r} to a double", field, status=400
            ) from None
    elif t is not float and t is not int:
        raise InputError(f"{field}: expected a double, got {_describe(value)}", field, status=400)
    if not (0.0 <= value <= HARD_BOUNDS[feature]):
        err = value_error(value, field, feature)
        err.status = 400
        raise err
    return float(value)


def _mlflow_row(values: list[Any], where: str) -> list[Any]:
    """One row's 30 cells in FEATURES order: as they are when all are plain JSON numbers in
    range (the common case), else each converted by :func:`_mlflow_number`."""
    if _plain(values):
        return values
    return [_mlflow_number(v, f"{where}.{n}", n) for v, n in zip(values, FEATURES, strict=True)]


def _plain(values: list[Any]) -> bool:
    """All JSON numbers within range: the common case, checked without a call per value."""
    for v, bound in zip(values, HARD_MAX_LIST, strict=True):
        t = type(v)
        if (t is not float and t is not int) or not (0.0 <= v <= bound):
            return False
    return True


def _records(records: Any, field: str, max_rows: int) -> NDArray[np.float64]:
    if type(records) is not list:
        raise InputError(
            f"{field}: expected a list of records (objects of feature name -> value), got "
            f"{_describe(records)}",
            field,
            status=400,
        )
    _check_count(len(records), field, max_rows, 400)
    out = np.empty((len(records), N_FEATURES), dtype=np.float64)
    for i, record in enumerate(records):
        if type(record) is not dict:
            raise InputError(
                f"{field}[{i}]: expected an object of feature name -> value, got "
                f"{_describe(record)} (rows without column names do not match the model "
                "signature; use /predict/batch for positional rows)",
                f"{field}[{i}]",
                status=400,
            )
        try:
            values = [record[n] for n in FEATURES]
        except KeyError:
            _missing(record, f"{field}[{i}]")
            raise
        out[i] = _mlflow_row(values, f"{field}[{i}]")
    return out


def _missing(names: Any, field: str) -> None:
    # MLflow ignores columns the signature does not name; it requires every one it does
    missing = [n for n in FEATURES if n not in names]
    if missing:
        raise InputError(
            f"{field}: missing required column(s) {_names(missing)} of the model signature",
            field,
            status=400,
        )


def _split(split: Any, max_rows: int) -> NDArray[np.float64]:
    field = "dataframe_split"
    if type(split) is not dict:
        raise InputError(
            f"{field}: expected an object with 'columns' and 'data', got {_describe(split)}",
            field,
            status=400,
        )
    columns, data = split.get("columns"), split.get("data")
    if type(columns) is not list or not all(type(c) is str for c in columns):
        raise InputError(
            f"{field}.columns: expected the list of column names of the model signature",
            f"{field}.columns",
            status=400,
        )
    _missing(columns, f"{field}.columns")
    if type(data) is not list:
        raise InputError(
            f"{field}.data: expected a list of rows, got {_describe(data)}",
            f"{field}.data",
            status=400,
        )
    _check_count(len(data), f"{field}.data", max_rows, 400)
    index = {name: j for j, name in enumerate(columns)}
    positions = [index[n] for n in FEATURES]
    out = np.empty((len(data), N_FEATURES), dtype=np.float64)
    for i, row in enumerate(data):
        if type(row) is not list or len(row) != len(columns):
            raise InputError(
                f"{field}.data[{i}]: expected a list of {len(columns)} values (one per "
                f"column), got {_describe(row) if type(row) is not list else len(row)}",
                f"{field}.data[{i}]",
                status=400,
            )
        out[i] = _mlflow_row([row[j] for j in positions], f"{field}.data[{i}]")
    return out


def _columnar(columns: dict[str, Any], field: str, max_rows: int) -> Any:
    """``{"radius_mean": [v1, v2], ...}`` (or scalars: one row) -> an array."""
    _missing(columns, field)
    values = [columns[n] for n in FEATURES]
    if all(type(v) is not list for v in values):
        values = [[v] for v in values]
    elif not all(type(v) is list for v in values):
        raise InputError(
            f"{field}: mix of lists and scalars; give every column as a list of equal length",
            field,
            status=400,
        )
    lengths = {len(v) for v in values}
    if len(lengths) != 1:
        raise InputError(f"{field}: columns have different lengths {sorted(lengths)}", field, 400)
    n = lengths.pop()
    _check_count(n, field, max_rows, 400)
    out = np.empty((n, N_FEATURES), dtype=np.float64)
    for j, (name, col) in enumerate(zip(FEATURES, values, strict=True)):
        out[:, j] = [_mlflow_number(v, f"{field}.{name}[{i}]", name) for i, v in enumerate(col)]
    return out


def mlflow_json(doc: Any, max_rows: int) -> NDArray[np.float64]:
    """The JSON scoring protocol of ``mlflow models serve`` for a model with this signature."""
    if type(doc) is not dict:
        raise InputError(
            "body: the input must be a JSON object with exactly one of the input fields "
            f"{list(MLFLOW_FORMATS)}, got {_describe(doc)}",
            "body",
            status=400,
        )
    present = [k for k in MLFLOW_FORMATS if k in doc]
    if len(present) != 1:
        raise InputError(
            "body: the input must be a JSON object with exactly one of the input fields "
            f"{list(MLFLOW_FORMATS)}; got fields {sorted(doc)}",
            "body",
            status=400,
        )
    key = present[0]
    value = doc[key]
    if key == "dataframe_split":
        return _split(value, max_rows)
    if key == "dataframe_records" or type(value) is list:
        return _records(value, key, max_rows)
    if type(value) is dict:
        return _columnar(value, key, max_rows)  # type: ignore[no-any-return]
    raise InputError(
        f"{key}: expected a list of records or an object of columns, got {_describe(value)}",
        key,
        status=400,
    )


def mlflow_csv(body: bytes, max_rows: int) -> NDArray[np.float64]:
    """``text/csv`` with a header row naming the columns (``pandas.DataFrame.to_csv`` output,
    with or without its index column). A UTF-8 byte order mark (Excel's "CSV UTF-8") is
    dropped, as ``bcml predict`` does."""
    try:
        text = body.decode("utf-8").removeprefix("\ufeff")
    except UnicodeDecodeError as exc:
        raise InputError(f"body: the CSV is not valid UTF-8: {exc}", "body", 400) from None
    reader = csv.reader(io.StringIO(text))
    try:
        header = next(reader)
    except StopIteration:
        raise InputError("body: the CSV is empty; expected a header row", "body", 400) from None
    except csv.Error as exc:
        raise InputError(f"body: invalid CSV: {exc}", "body", 400) from None
    _missing(header, "csv header")
    index = {name: j for j, name in enumerate(header)}
    positions = [index[n] for n in FEATURES]
    rows: list[list[float]] = []
    try:
        for line_no, row in enumerate(reader, start=2):
            if not row:
                continue
            if len(rows) >= max_rows:
                _check_count(max_rows + 1, "csv", max_rows, 400)
            if len(row) != len(header):
                raise InputError(
                    f"csv line {line_no}: {len(row)} values for {len(header)} columns",
                    f"csv line {line_no}",
                    400,
                )
            rows.append(
                [
                    _csv_number(row[j], f"csv line {line_no}, column {n!r}", n)
                    for j, n in zip(positions, FEATURES, strict=True)
                ]
            )
    except csv.Error as exc:
        raise InputError(f"body: invalid CSV: {exc}", "body", 400) from None
    _check_count(len(rows), "csv", max_rows, 400)
    return np.array(rows, dtype=np.float64)


def _csv_number(cell: str, field: str, feature: str) -> float:
    if not cell.strip():
        raise InputError(f"{field}: empty value", field, 400)
    return _mlflow_number(cell, field, feature)
