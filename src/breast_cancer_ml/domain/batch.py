"""Rows in, predictions out, many at once: validate, score the valid rows, explain the rest.

The batch CLI (``bcml predict``), its Spark engine and the API's batch route all call
:func:`score_rows`, so a row is accepted, scored and rejected the same way everywhere. It is pure
numpy: the caller turns its input (CSV, Parquet, JSON, a pandas frame in a Spark UDF) into an
``(n, 30)`` float array in :data:`~breast_cancer_ml.domain.schema.FEATURES` order, with NaN where
a value is missing or not a number.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

import numpy as np
from numpy.typing import NDArray

from breast_cancer_ml.domain.contract import HARD_BOUNDS, invalid_rows
from breast_cancer_ml.domain.decision import DEFAULT_THRESHOLD
from breast_cancer_ml.domain.schema import CLASS_NAMES, FEATURES
from breast_cancer_ml.domain.scoring import ProbaFn, Scored, confidence, score

#: ``LABELS[prediction]`` is the class name, for vectorised labelling.
LABELS: Final[NDArray[np.str_]] = np.array([CLASS_NAMES[0], CLASS_NAMES[1]])

#: Why a value is refused, checked in this order (a NaN is neither infinite nor negative).
NOT_A_NUMBER = "not a number"
MISSING = "missing or NaN"
MISSING_OR_NOT_A_NUMBER = "missing or not a number"
INFINITE = "infinite"
NEGATIVE = "negative"
TOO_LARGE = "above the hard bound"


@dataclass(frozen=True)
class RowsScored:
    """The outcome of :func:`score_rows` on ``n`` input rows.

    ``valid`` marks the rows that were scored; ``scored`` holds their probabilities and
    predictions, in input order. ``rejected`` holds the 0-based positions of the other rows and
    ``reasons`` one human-readable reason per rejected row, e.g.
    ``"radius_mean: missing; area_mean: negative (-3.0)"``.
    """

    valid: NDArray[np.bool_]
    scored: Scored
    rejected: NDArray[np.int64]
    reasons: list[str]

    @property
    def n_rows(self) -> int:
        return int(self.valid.size)

    @property
    def n_scored(self) -> int:
        return int(self.scored.probability.size)

    @property
    def labels(self) -> NDArray[np.str_]:
        """``"Benign"``/``"Malignant"`` for each scored row."""
        return LABELS[self.scored.prediction]

    def records(self, ids: list[Any] | None = None) -> list[dict[str, Any]]:
        """One dict per input row, in input order: a prediction or an ``error``.

        Scored rows get ``prediction``, ``prediction_label``, ``probability`` and
        ``confidence``; rejected rows get ``error`` (the reason). ``ids``, when given, adds the
        caller's identifier of each row as ``id``.
        """
        if ids is not None and len(ids) != self.n_rows:
            raise ValueError(f"{len(ids)} ids for {self.n_rows} rows")
        out: list[dict[str, Any]] = []
        ok = iter(
            zip(
                self.scored.probability.tolist(),
                self.scored.prediction.tolist(),
                strict=True,
            )
        )
        reasons = dict(zip(self.rejected.tolist(), self.reasons, strict=True))
        for i in range(self.n_rows):
            record: dict[str, Any] = {} if ids is None else {"id": ids[i]}
            if i in reasons:
                record["error"] = reasons[i]
            else:
                p, pred = next(ok)
                record |= {
                    "prediction": int(pred),
                    "prediction_label": CLASS_NAMES[int(pred)],
                    "probability": float(p),
                    "confidence": confidence(float(p)),
                }
            out.append(record)
        return out


def score_rows(
    proba: ProbaFn,
    X: NDArray[np.float64],
    threshold: float = DEFAULT_THRESHOLD,
    not_numeric: NDArray[np.bool_] | None = None,
    columns: tuple[str, ...] = FEATURES,
) -> RowsScored:
    """Validate ``X`` row by row, score the valid rows with ``proba`` at ``threshold``.

    ``X`` is ``(n, len(columns))`` float64 with NaN for missing or unparsable cells.
    ``not_numeric`` (same shape, optional) marks the cells whose text was present but not a
    number, so the reason says "not a number" rather than "missing"; without it a NaN is
    reported as "missing or not a number".
    """
    if X.ndim != 2 or X.shape[1] != len(columns):
        raise ValueError(f"expected an (n, {len(columns)}) array; got shape {X.shape}")
    bad = invalid_rows(X)
    if not bad.any():
        return RowsScored(
            valid=~bad,
            scored=score(proba, X, threshold),
            rejected=np.empty(0, dtype=np.int64),
            reasons=[],
        )
    rejected = np.flatnonzero(bad).astype(np.int64)
    good = X[~bad]
    scored = (
        score(proba, good, threshold)
        if good.shape[0]
        else Scored(
            probability=np.empty(0, dtype=np.float64),
            prediction=np.empty(0, dtype=np.int64),
            threshold=threshold,
        )
    )
    return RowsScored(
        valid=~bad,
        scored=scored,
        rejected=rejected,
        reasons=row_reasons(X, rejected, not_numeric, columns),
    )


def row_reasons(
    X: NDArray[np.float64],
    rows: NDArray[np.int64],
    not_numeric: NDArray[np.bool_] | None = None,
    columns: tuple[str, ...] = FEATURES,
) -> list[str]:
    """Why each of ``rows`` of ``X`` is invalid: every bad column with its reason."""
    sub = X[rows]
    nn = not_numeric[rows] if not_numeric is not None else None
    reasons = []
    for i in range(sub.shape[0]):
        parts = []
        for j, column in enumerate(columns):
            value = float(sub[i, j])
            if np.isnan(value):
                if nn is None:
                    why = MISSING_OR_NOT_A_NUMBER
                else:
                    why = NOT_A_NUMBER if nn[i, j] else MISSING
            elif np.isinf(value):
                why = INFINITE
            elif value < 0:
                why = f"{NEGATIVE} ({value!r})"
            elif value > HARD_BOUNDS[column]:
                why = f"{TOO_LARGE} {HARD_BOUNDS[column]:g} ({value:.4g})"
            else:
                continue
            parts.append(f"{column}: {why}")
        reasons.append("; ".join(parts))
    return reasons


def features_from_records(
    rows: Sequence[Mapping[str, Any]], columns: tuple[str, ...] = FEATURES
) -> tuple[NDArray[np.float64], NDArray[np.bool_]]:
    """``(X, not_numeric)`` for :func:`score_rows` from JSON-like rows (``{"radius_mean": 17.99,
    ...}``), e.g. an API batch request. A missing key or ``None`` is NaN (missing); a number is
    taken as is; text is parsed (``" 1.5"`` -> 1.5); anything else (``"abc"``, ``True``, a list)
    is NaN and marked not numeric. Extra keys are ignored."""
    X = np.full((len(rows), len(columns)), np.nan)
    not_numeric = np.zeros(X.shape, dtype=np.bool_)
    for i, row in enumerate(rows):
        for j, column in enumerate(columns):
            value = row.get(column)
            if value is None:
                continue
            if isinstance(value, bool) or not isinstance(value, int | float | str):
                not_numeric[i, j] = True
                continue
            if isinstance(value, str):
                text = value.strip()
                if not text:
                    continue
                try:
                    if "_" in text:  # float() reads "1_0" as 10
                        raise ValueError(text)  # pragma: no mutate (caught just below)
                    X[i, j] = float(text)
                except ValueError:
                    not_numeric[i, j] = True
                continue
            X[i, j] = float(value)
    return X, not_numeric


__all__ = ["LABELS", "RowsScored", "features_from_records", "row_reasons", "score_rows"]
