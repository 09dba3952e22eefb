"""Rows in, predictions out, many at once: validate, score the valid rows, explain the rest.

The batch CLI (``bcml predict``), its Spark engine and the API's batch route all call
:func:`score_rows`, so a row is accepted, scored and rejected the same way everywhere. It is pure
numpy: the caller turns its input (CSV, Parquet, JSON, a pandas frame in a Spark UDF) into an
``(n, 30)`` float array in :data:`~breast_cancer_ml.domain.schema.FEATURES` order, with NaN where
a value is missing or not a number.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import numpy as np
from numpy.typing import NDArray

from breast_cancer_ml.domain.conformal import ConformalParams
from breast_cancer_ml.domain.contract import (
    MISSING,
    Envelope,
    invalid_mask,
    invalid_rows,
    value_message,
    value_reason,
)
from breast_cancer_ml.domain.decision import DEFAULT_THRESHOLD
from breast_cancer_ml.domain.refer import Referral, refer_rows
from breast_cancer_ml.domain.schema import CLASS_NAMES, FEATURES
from breast_cancer_ml.domain.scoring import (
    ProbaFn,
    Scored,
    confidence_index,
    score,
)

#: ``LABELS[prediction]`` is the class name, for vectorised labelling.
LABELS: Final[NDArray[np.str_]] = np.array([CLASS_NAMES[0], CLASS_NAMES[1]])

# The contract's "missing or not a number", split when the caller knows which it was (a CSV
# cell with text that is not a number, or an empty cell). Every other reason is the contract's.
NOT_A_NUMBER: Final = "not a number"
EMPTY: Final = "missing"
#: Separates the reasons of one rejected row (one per invalid value).
REASON_SEPARATOR: Final = " | "
#: Separates the out-of-envelope feature names of one row in the batch ``warnings`` column.
WARNING_SEPARATOR: Final = ";"


@dataclass(frozen=True)
class RowsScored:
    """The outcome of :func:`score_rows` on ``n`` input rows.

    ``valid`` marks the rows that were scored; ``scored`` holds their probabilities and
    predictions, in input order. ``rejected`` holds the 0-based positions of the other rows and
    ``reasons`` one human-readable reason per rejected row, in the contract's words, e.g.
    ``"radius_mean: missing | area_mean: -3 is negative; measurements are >= 0"``.

    ``outside`` (``(n_scored, 30)``) marks the scored values outside the model's plausibility
    envelope; ``None`` when the model has no envelope. ``in_distribution`` (``(n_scored,)``) is
    True for the scored rows known to lie inside it: all False without an envelope, since
    nothing is known then.
    """

    valid: NDArray[np.bool_]
    scored: Scored
    rejected: NDArray[np.int64]
    reasons: list[str]
    in_distribution: NDArray[np.bool_]
    outside: NDArray[np.bool_] | None = None

    @property
    def n_scored(self) -> int:
        return int(self.scored.probability.size)

    @property
    def n_out_of_envelope(self) -> int:
        """Scored rows with a feature outside the envelope (0 without an envelope)."""
        if self.outside is None:
            return 0
        return int(np.count_nonzero(~self.in_distribution))

    @property
    def labels(self) -> NDArray[np.str_]:
        """``"Benign"``/``"Malignant"`` for each scored row."""
        return LABELS[self.scored.prediction]

    @property
    def confidence(self) -> NDArray[np.int8]:
        """Each scored row's confidence as an index into ``CONFIDENCE_LEVELS``: never "high"
        for a row not known to be in distribution."""
        return confidence_index(self.scored.probability, self.in_distribution)

    def refer(self, params: ConformalParams | None) -> Referral:
        """Each scored row's decision and prediction set (:func:`~.refer.refer_rows`): a row
        outside the envelope is referred; without an envelope none is, on that ground."""
        in_envelope = None if self.outside is None else self.in_distribution
        return refer_rows(params, self.scored.probability, self.scored.prediction, in_envelope)

    def warning_texts(self) -> tuple[NDArray[np.int64], list[str]]:
        """The positions (among the scored rows) of the rows with a feature outside the
        envelope, and for each the names of those features joined by ``;``.

        One join per distinct set of features, not one per row: batch output stays
        vectorised however many rows are flagged.
        """
        if self.outside is None or self.in_distribution.all():
            return np.empty(0, dtype=np.int64), []
        positions = np.flatnonzero(~self.in_distribution).astype(np.int64)
        bits = np.left_shift(np.int64(1), np.arange(self.outside.shape[1]))  # int64
        keys = self.outside[positions].astype(np.int64) @ bits
        distinct, inverse = np.unique(keys, return_inverse=True)
        texts = [WARNING_SEPARATOR.join(_names(key)) for key in distinct.tolist()]
        return positions, [texts[i] for i in inverse.tolist()]  # keys is 1-D, so inverse is


def _names(key: int) -> list[str]:
    """The features whose bits are set in ``key`` (bit j: FEATURES[j]), in FEATURES order."""
    names = []
    while key:
        low = key & -key
        names.append(FEATURES[low.bit_length() - 1])
        key ^= low
    return names


def score_rows(
    proba: ProbaFn,
    X: NDArray[np.float64],
    threshold: float = DEFAULT_THRESHOLD,
    not_numeric: NDArray[np.bool_] | None = None,
    envelope: Envelope | None = None,
) -> RowsScored:
    """Hold each row of ``X`` to the input contract, score the valid rows with ``proba`` at
    ``threshold``, and flag those outside ``envelope``.

    ``X`` is ``(n, 30)`` float64 (FEATURES order) with NaN for missing or unparsable cells.
    ``not_numeric`` (same shape, optional) marks the cells whose text was present but not a
    number, so the reason says "not a number" rather than "missing"; without it a NaN is
    reported as "missing or not a number". A row that breaks the contract (see
    :mod:`~breast_cancer_ml.domain.contract`) is never scored, so no NaN or infinite
    probability can come out (and :func:`~breast_cancer_ml.domain.scoring.score` refuses one a
    broken model would give). Without an ``envelope`` no row is known to be in distribution.
    """
    if X.ndim != 2 or X.shape[1] != len(FEATURES):
        raise ValueError(f"expected an (n, {len(FEATURES)}) array; got shape {X.shape}")
    bad = invalid_rows(X)
    if not bad.any():
        good = X
        rejected = np.empty(0, dtype=np.int64)
        reasons: list[str] = []
    else:
        rejected = np.flatnonzero(bad).astype(np.int64)
        good = X[~bad]
        reasons = row_reasons(X, rejected, not_numeric)
    scored = (
        score(proba, good, threshold)
        if good.shape[0]
        else Scored(
            probability=np.empty(0, dtype=np.float64),  # pragma: no mutate (float64 is the default)
            prediction=np.empty(0, dtype=np.int64),
            threshold=threshold,
        )
    )
    if envelope is None:
        outside = None
        in_distribution = np.zeros(good.shape[0], dtype=np.bool_)
    else:
        outside = envelope.outside(good)
        in_distribution = np.asarray(~outside.any(axis=1), dtype=np.bool_)
    return RowsScored(
        valid=~bad,
        scored=scored,
        rejected=rejected,
        reasons=reasons,
        in_distribution=in_distribution,
        outside=outside,
    )


def row_reasons(
    X: NDArray[np.float64],
    rows: NDArray[np.int64],
    not_numeric: NDArray[np.bool_] | None = None,
) -> list[str]:
    """Why each of ``rows`` of ``X`` is invalid: every bad value, in the contract's words
    (:func:`~breast_cancer_ml.domain.contract.value_message`), joined by :data:`REASON_SEPARATOR`
    (the contract's messages contain ``;``)."""
    sub = X[rows]
    bad = invalid_mask(sub)
    nn = not_numeric[rows] if not_numeric is not None else None
    reasons = []
    for i in range(sub.shape[0]):
        parts = []
        for j in np.flatnonzero(bad[i]).tolist():
            value, column = float(sub[i, j]), FEATURES[j]
            if nn is not None and value_reason(value, column) == MISSING:
                parts.append(f"{column}: {NOT_A_NUMBER if nn[i, j] else EMPTY}")
            else:
                parts.append(value_message(value, column))
        reasons.append(REASON_SEPARATOR.join(parts))
    return reasons


__all__ = [
    "LABELS",
    "REASON_SEPARATOR",
    "WARNING_SEPARATOR",
    "RowsScored",
    "row_reasons",
    "score_rows",
]
