"""What a case is: the one input contract that every entry point holds a case to.

A case is the 30 WDBC features in :data:`~breast_cancer_ml.domain.schema.FEATURES` order. Two
kinds of rule apply, and nothing else in the package restates them:

**Hard validity** (a case that breaks one is refused, never scored). Each value must be a finite
number, ``>= 0`` (the features are lengths, areas and ratios of them) and ``<=`` the feature's
:data:`HARD_BOUNDS` value. The hard bound of a feature is 1,000 times the largest value of that
feature in the whole WDBC data set (569 cases), rounded up to one significant digit. No real
measurement comes near it: it exists to stop absurd or corrupt values (``1e308``, a value in the
wrong unit) before they reach a model, where they can turn into a NaN probability.

**Plausibility** (a case outside it is scored, but flagged). :class:`Envelope` holds per-feature
bounds learned from the training split when a model is promoted: the split's minimum and maximum,
each widened by :data:`ENVELOPE_MARGIN` (10%) of the split's range, and never below 0. A case with
any feature outside its model's envelope is *out of distribution*: the answer carries a warning
per such feature and is never reported with high confidence (see
:func:`breast_cancer_ml.domain.scoring.confidence`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

import numpy as np
from numpy.typing import NDArray

from breast_cancer_ml.domain.schema import FEATURES, N_FEATURES

#: How much the hard bound exceeds the largest value of a feature in the WDBC data.
HARD_BOUND_FACTOR: Final = 1000

#: Per-feature hard upper bound: 1,000 x the WDBC maximum, rounded up to one significant digit.
#: ``tests/data/test_bundled_data.py`` recomputes each from the bundled data.
HARD_BOUNDS: Final[dict[str, float]] = {
    "radius_mean": 30_000.0,
    "texture_mean": 40_000.0,
    "perimeter_mean": 200_000.0,
    "area_mean": 3_000_000.0,
    "smoothness_mean": 200.0,
    "compactness_mean": 400.0,
    "concavity_mean": 500.0,
    "concave points_mean": 300.0,
    "symmetry_mean": 400.0,
    "fractal_dimension_mean": 100.0,
    "radius_se": 3_000.0,
    "texture_se": 5_000.0,
    "perimeter_se": 30_000.0,
    "area_se": 600_000.0,
    "smoothness_se": 40.0,
    "compactness_se": 200.0,
    "concavity_se": 400.0,
    "concave points_se": 60.0,
    "symmetry_se": 80.0,
    "fractal_dimension_se": 30.0,
    "radius_worst": 40_000.0,
    "texture_worst": 50_000.0,
    "perimeter_worst": 300_000.0,
    "area_worst": 5_000_000.0,
    "smoothness_worst": 300.0,
    "compactness_worst": 2_000.0,
    "concavity_worst": 2_000.0,
    "concave points_worst": 300.0,
    "symmetry_worst": 700.0,
    "fractal_dimension_worst": 300.0,
}
#: :data:`HARD_BOUNDS` as an array in FEATURES order, for vectorised checks.
HARD_MAX: Final[NDArray[np.float64]] = np.array([HARD_BOUNDS[f] for f in FEATURES])

#: Share of the training range by which the envelope is widened on each side.
ENVELOPE_MARGIN: Final = 0.10

# Why a value breaks the contract. A NaN is neither infinite, negative nor too large.
MISSING: Final = "missing or not a number"
INFINITE: Final = "infinite"
NEGATIVE: Final = "negative"
TOO_LARGE: Final = "above the hard bound"


def hard_bound_for(max_observed: float) -> float:
    """The hard bound for a feature whose largest observed value is ``max_observed``:
    ``HARD_BOUND_FACTOR * max_observed`` rounded up to one significant digit."""
    raw = HARD_BOUND_FACTOR * max_observed
    if raw <= 0:
        raise ValueError(f"max_observed should be > 0. Got {max_observed!r} instead.")
    unit = 10.0 ** math.floor(math.log10(raw))
    return float(math.ceil(raw / unit - 1e-9) * unit)


def value_reason(value: float, feature: str) -> str | None:
    """Why ``value`` is not a valid ``feature`` measurement, or ``None`` when it is."""
    if math.isnan(value):
        return MISSING
    if math.isinf(value):
        return INFINITE
    if value < 0:
        return NEGATIVE
    if value > HARD_BOUNDS[feature]:
        return TOO_LARGE
    return None


def value_message(value: float, feature: str) -> str:
    """The message for an invalid ``value`` of ``feature``, naming the feature and the rule."""
    reason = value_reason(value, feature)
    if reason is None:
        raise ValueError(f"{feature}: {value!r} is a valid value")
    if reason == MISSING:
        return f"{feature}: missing or not a number"
    if reason == INFINITE:
        return f"{feature}: {value} is not a finite number"
    if reason == NEGATIVE:
        return f"{feature}: {value:g} is negative; measurements are >= 0"
    return (
        f"{feature}: {value:.4g} is above the hard bound {HARD_BOUNDS[feature]:g}, which no real "
        "measurement exceeds; check the unit and the column"
    )


def invalid_mask(X: NDArray[np.float64]) -> NDArray[np.bool_]:
    """``(n, 30)`` cells of ``X`` that break the contract (NaN, infinite, negative, too large)."""
    with np.errstate(invalid="ignore"):  # pragma: no mutate (NaN comparisons do not warn)
        ok = (X >= 0) & (X <= HARD_MAX)  # False for NaN; +inf fails the bound
    return np.asarray(~ok, dtype=np.bool_)  # pragma: no mutate (bool already; for typing)


def invalid_rows(X: NDArray[np.float64]) -> NDArray[np.bool_]:
    """A boolean mask of the rows of ``X`` with any value that breaks the contract."""
    _check_shape(X)
    return np.asarray(invalid_mask(X).any(axis=1), dtype=np.bool_)


@dataclass(frozen=True)
class ValueProblem:
    """The first bad value of a column: its 0-based row, the column, the reason, how many."""

    row: int
    column: str
    reason: str
    count: int


def value_problems(X: NDArray[np.float64]) -> list[ValueProblem]:
    """One :class:`ValueProblem` per feature column that holds any invalid value."""
    _check_shape(X)
    bad = invalid_mask(X)
    problems = []
    for j in np.flatnonzero(bad.any(axis=0)).tolist():
        rows = np.flatnonzero(bad[:, j])
        first = int(rows[0])
        reason = value_reason(float(X[first, j]), FEATURES[j])
        problems.append(ValueProblem(first, FEATURES[j], str(reason), int(rows.size)))
    return problems


def row_messages(row: NDArray[np.float64]) -> list[str]:
    """A message for every invalid value of one case (30 values), in feature order."""
    return [
        value_message(float(v), f)
        for v, f in zip(row.tolist(), FEATURES, strict=True)
        if value_reason(float(v), f) is not None
    ]


def _check_shape(X: NDArray[np.float64]) -> None:
    if X.ndim != 2 or X.shape[1] != N_FEATURES:
        raise ValueError(f"expected an (n, {N_FEATURES}) array; got shape {X.shape}")


@dataclass(frozen=True)
class OutOfRange:
    """One feature of a case outside the model's envelope: the value and the bounds."""

    feature: str
    value: float
    low: float
    high: float

    def as_dict(self) -> dict[str, Any]:
        return {"feature": self.feature, "value": self.value, "low": self.low, "high": self.high}


@dataclass(frozen=True)
class Envelope:
    """Per-feature plausibility bounds ``[low, high]``, in FEATURES order."""

    low: tuple[float, ...]
    high: tuple[float, ...]
    margin: float = ENVELOPE_MARGIN

    def __post_init__(self) -> None:
        if len(self.low) != N_FEATURES or len(self.high) != N_FEATURES:
            raise ValueError(f"an envelope needs {N_FEATURES} lows and highs")
        # lengths checked just above
        for f, lo, hi in zip(FEATURES, self.low, self.high, strict=True):  # pragma: no mutate
            if not (math.isfinite(lo) and math.isfinite(hi) and 0 <= lo <= hi):
                raise ValueError(f"{f}: envelope [{lo!r}, {hi!r}] is not 0 <= low <= high")
        if not (math.isfinite(self.margin) and self.margin >= 0):
            raise ValueError(f"margin should be a finite number >= 0. Got {self.margin!r}.")

    @classmethod
    def from_training(cls, X: NDArray[np.float64], margin: float = ENVELOPE_MARGIN) -> Envelope:
        """The envelope of a training split: min and max, widened by ``margin`` x range."""
        _check_shape(X)
        if X.shape[0] == 0:
            raise ValueError("an envelope needs at least one training row")
        lo, hi = X.min(axis=0), X.max(axis=0)
        pad = margin * (hi - lo)
        return cls(
            low=tuple(np.maximum(lo - pad, 0.0).tolist()),
            high=tuple((hi + pad).tolist()),
            margin=margin,
        )

    def outside(self, X: NDArray[np.float64]) -> NDArray[np.bool_]:
        """``(n, 30)``: True where a value lies outside its feature's bounds."""
        return (np.asarray(self.low) > X) | (np.asarray(self.high) < X)

    def in_distribution(self, X: NDArray[np.float64]) -> NDArray[np.bool_]:
        """``(n,)``: True for the rows with every feature inside the envelope."""
        return np.asarray(~self.outside(X).any(axis=1), dtype=np.bool_)

    def warnings(self, row: NDArray[np.float64]) -> list[OutOfRange]:
        """The features of one case (30 values) outside the envelope, in FEATURES order."""
        values = row.tolist()
        return [
            OutOfRange(FEATURES[j], float(values[j]), self.low[j], self.high[j])
            for j in np.flatnonzero(self.outside(np.atleast_2d(row))[0]).tolist()
        ]

    def as_dict(self) -> dict[str, Any]:
        """JSON form, as stored in the promotion metadata."""
        # lengths checked in __post_init__
        pairs = zip(FEATURES, self.low, self.high, strict=True)  # pragma: no mutate
        return {"margin": self.margin, "bounds": {f: [lo, hi] for f, lo, hi in pairs}}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Envelope:
        """Inverse of :meth:`as_dict`; ``ValueError`` unless every feature has two bounds."""
        bounds = data.get("bounds")
        if not isinstance(bounds, Mapping) or set(bounds) != set(FEATURES):
            raise ValueError(f"envelope bounds must name exactly the {N_FEATURES} features")
        pairs: list[Sequence[Any]] = [bounds[f] for f in FEATURES]
        if not all(isinstance(p, Sequence) and len(p) == 2 for p in pairs):
            raise ValueError("each envelope bound must be [low, high]")
        numbers = [v for p in pairs for v in p]
        if not all(type(v) in (int, float) for v in numbers):
            raise ValueError("envelope bounds must be numbers")
        margin = data.get("margin", ENVELOPE_MARGIN)
        if type(margin) not in (int, float):
            raise ValueError("envelope margin must be a number")
        return cls(
            low=tuple(float(p[0]) for p in pairs),
            high=tuple(float(p[1]) for p in pairs),
            margin=float(margin),
        )


__all__ = [
    "ENVELOPE_MARGIN",
    "HARD_BOUNDS",
    "HARD_MAX",
    "Envelope",
    "OutOfRange",
    "ValueProblem",
    "hard_bound_for",
    "invalid_mask",
    "invalid_rows",
    "row_messages",
    "value_message",
    "value_problems",
    "value_reason",
]
