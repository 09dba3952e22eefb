"""Performance by clinically meaningful slices, each with bootstrap confidence intervals.

WDBC has no demographic column (age, ethnicity, site), so fairness across patient groups cannot
be measured on it; the model card states this as a limitation. Instead the cases are sliced by
what the images show and by the model's own certainty:

- :func:`tertile_slices` of a feature (tumour size: ``area_mean``; texture: ``texture_mean``):
  cut at the feature's 1/3 and 2/3 quantiles *of the cases being evaluated* (numpy's default
  linear interpolation). Low: ``<= c1``; middle: ``(c1, c2]``; high: ``> c2``.
- :func:`borderline_slice`: the cases whose probability of malignancy is strictly between 0.2
  and 0.8, the band where the service never reports "high" confidence.

:func:`subgroup_table` gives, per slice, the case counts, accuracy, precision, recall and
specificity of the malignant class with their percentile-bootstrap intervals (the same
resampling as :mod:`~breast_cancer_ml.domain.bootstrap`), and **flags a slice whose whole recall
interval lies below the recall gate**: on those cases the model demonstrably misses more
cancers than the gate allows. A slice without a malignant case has no recall and is not flagged.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Final

import numpy as np
from numpy.typing import ArrayLike, NDArray

from breast_cancer_ml.domain.bootstrap import (
    DEFAULT_LEVEL,
    DEFAULT_RESAMPLES,
    Interval,
    bootstrap_intervals,
)
from breast_cancer_ml.domain.schema import POSITIVE_CLASS

#: The metrics of each slice, in the order of the table's columns.
SUBGROUP_METRICS: Final = ("accuracy", "precision", "recall", "specificity")
#: The borderline band of the model's score: strictly between these probabilities.
BORDERLINE_BAND: Final = (0.2, 0.8)
#: The features sliced into tertiles by default: tumour size and texture.
TERTILE_FEATURES: Final = ("area_mean", "texture_mean")


@dataclass(frozen=True, slots=True)
class Slice:
    """A named subset of the evaluated cases."""

    name: str
    mask: NDArray[np.bool_] = field(repr=False)


def tertile_slices(values: ArrayLike, feature: str) -> list[Slice]:
    """Three slices of ``values`` (one feature over the evaluated cases) at its tertiles."""
    v = np.asarray(values, dtype=np.float64)
    if v.ndim != 1 or v.size == 0 or not np.isfinite(v).all():
        raise ValueError(f"{feature}: tertiles need a non-empty 1-D array of finite values")
    c1, c2 = (float(c) for c in np.quantile(v, [1 / 3, 2 / 3]))
    return [
        Slice(f"{feature} low (<= {c1:.4g})", v <= c1),
        Slice(f"{feature} middle ({c1:.4g}, {c2:.4g}]", (v > c1) & (v <= c2)),
        Slice(f"{feature} high (> {c2:.4g})", v > c2),
    ]


def borderline_slice(proba: ArrayLike, band: tuple[float, float] = BORDERLINE_BAND) -> Slice:
    """The cases whose probability of malignancy lies strictly inside ``band``."""
    low, high = band
    if not 0 <= low < high <= 1:
        raise ValueError(f"band must satisfy 0 <= low < high <= 1; got {band}")
    p = np.asarray(proba, dtype=np.float64)
    return Slice(f"borderline score ({low:g} < p < {high:g})", (p > low) & (p < high))


@dataclass(frozen=True, slots=True)
class SubgroupRow:
    """One slice's counts, metrics (NaN where undefined) and intervals."""

    name: str
    n: int
    n_malignant: int
    metrics: dict[str, float]
    intervals: dict[str, Interval]
    #: True when the whole recall interval lies below the recall gate.
    recall_below_gate: bool

    def as_record(self) -> dict[str, str | int | float | bool]:
        """A flat record (one row of ``subgroups.csv``): ``slice, n, n_malignant`` then
        ``<metric>, <metric>_ci_low, <metric>_ci_high`` per metric, then ``recall_below_gate``."""
        record: dict[str, str | int | float | bool] = {
            "slice": self.name,
            "n": self.n,
            "n_malignant": self.n_malignant,
        }
        for name in SUBGROUP_METRICS:
            low, high = self.intervals[name]
            record[name] = self.metrics[name]
            record[f"{name}_ci_low"] = low
            record[f"{name}_ci_high"] = high
        record["recall_below_gate"] = self.recall_below_gate
        return record


def _ratio(num: int, den: int) -> float:
    return num / den if den else math.nan


def _point_metrics(t: NDArray[np.bool_], p: NDArray[np.bool_]) -> dict[str, float]:
    tp = int(np.sum(t & p))
    fp = int(np.sum(~t & p))
    fn = int(np.sum(t & ~p))
    tn = int(t.size) - tp - fp - fn
    return {
        "accuracy": _ratio(tp + tn, int(t.size)),
        "precision": _ratio(tp, tp + fp),
        "recall": _ratio(tp, tp + fn),
        "specificity": _ratio(tn, tn + fp),
    }


def subgroup_table(
    y_true: ArrayLike,
    y_pred: ArrayLike,
    slices: Sequence[Slice],
    *,
    min_recall: float,
    n_resamples: int = DEFAULT_RESAMPLES,
    seed: int = 0,
    level: float = DEFAULT_LEVEL,
) -> list[SubgroupRow]:
    """One :class:`SubgroupRow` per slice, in the order given. ``min_recall`` is the recall gate
    of the promotion rule; the intervals use ``seed`` for every slice."""
    t = np.asarray(y_true) == POSITIVE_CLASS
    p = np.asarray(y_pred) == POSITIVE_CLASS
    if t.ndim != 1 or t.shape != p.shape:
        raise ValueError("y_true and y_pred must be 1-D and of one length")
    rows = []
    for s in slices:
        mask = np.asarray(s.mask, dtype=bool)
        if mask.shape != t.shape:
            raise ValueError(f"slice {s.name!r}: its mask must have one value per case")
        st, sp = t[mask], p[mask]
        metrics = _point_metrics(st, sp)
        if st.size:
            ci = bootstrap_intervals(st, sp, n_resamples=n_resamples, seed=seed, level=level)
            intervals = {name: ci[name] for name in SUBGROUP_METRICS}
        else:
            intervals = dict.fromkeys(SUBGROUP_METRICS, (math.nan, math.nan))
        # NaN (no malignant case in the slice) compares False: not flagged
        below = bool(intervals["recall"][1] < min_recall)
        rows.append(
            SubgroupRow(
                name=s.name,
                n=int(st.size),
                n_malignant=int(st.sum()),
                metrics=metrics,
                intervals=intervals,
                recall_below_gate=below,
            )
        )
    return rows
