"""Decision curve analysis (Vickers & Elkin 2006): is acting on the model better than acting on
everyone or on no one?

At a threshold probability ``pt`` a clinician treats (here: works up as malignant) every case
whose probability of malignancy is ``>= pt``; ``pt`` expresses how many false alarms one
malignancy found is worth: ``pt / (1 - pt)`` (at ``pt = 0.2``, one cancer found is worth four
unnecessary work-ups). The **net benefit** of a rule over ``n`` cases is::

    NB(pt) = TP / n - FP / n * pt / (1 - pt)

- the model: TP and FP of ``proba >= pt``;
- treat all: every case is treated, so ``NB = prevalence - (1 - prevalence) * pt / (1 - pt)``;
- treat none: 0 at every threshold.

Written as a few vectorised numpy lines rather than with ``dcurves``: that package works on
pandas data frames, which the domain layer does not import, and the formula is one line.
:func:`net_benefit` is checked against a hand-computed example in the tests.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import numpy as np
from numpy.typing import ArrayLike, NDArray

from breast_cancer_ml.domain.schema import POSITIVE_CLASS

#: The threshold probabilities of the decision curve: 0.01, 0.02, ..., 0.50.
DEFAULT_THRESHOLDS: Final[tuple[float, ...]] = tuple(round(k / 100, 2) for k in range(1, 51))


@dataclass(frozen=True, slots=True)
class DecisionCurve:
    """Net benefit at each threshold probability, of the model and of the two default rules."""

    thresholds: tuple[float, ...]
    model: tuple[float, ...]
    treat_all: tuple[float, ...]
    treat_none: tuple[float, ...]

    def rows(self) -> list[dict[str, float]]:
        """One dict per threshold (``threshold, net_benefit_model, net_benefit_all,
        net_benefit_none``): the rows of ``decision_curve.csv``."""
        return [
            {
                "threshold": t,
                "net_benefit_model": m,
                "net_benefit_all": a,
                "net_benefit_none": z,
            }
            for t, m, a, z in zip(
                self.thresholds, self.model, self.treat_all, self.treat_none, strict=True
            )
        ]


def _checked_thresholds(thresholds: ArrayLike) -> NDArray[np.float64]:
    pt = np.asarray(thresholds, dtype=np.float64)
    if pt.ndim != 1 or pt.size == 0 or not np.all((pt > 0) & (pt < 1)):
        raise ValueError("thresholds must be a non-empty 1-D sequence of values in (0, 1)")
    return pt


def net_benefit(
    y_true: ArrayLike, proba: ArrayLike, thresholds: ArrayLike = DEFAULT_THRESHOLDS
) -> NDArray[np.float64]:
    """Net benefit of treating the cases with ``proba >= pt``, for each ``pt`` of ``thresholds``."""
    t = np.asarray(y_true) == POSITIVE_CLASS
    p = np.asarray(proba, dtype=np.float64)
    if t.ndim != 1 or t.shape != p.shape or t.size == 0:
        raise ValueError(
            f"y_true and proba must be 1-D, non-empty and of one length; got {t.shape}, {p.shape}"
        )
    if not np.isfinite(p).all():
        raise ValueError("proba holds NaN or infinite values")
    pt = _checked_thresholds(thresholds)
    treated = p[None, :] >= pt[:, None]  # (thresholds, cases)
    n = t.size
    tp = np.sum(treated & t, axis=1)
    fp = np.sum(treated & ~t, axis=1)
    return np.asarray(tp / n - fp / n * pt / (1 - pt))


def treat_all_net_benefit(
    prevalence: float, thresholds: ArrayLike = DEFAULT_THRESHOLDS
) -> NDArray[np.float64]:
    """Net benefit of treating every case: ``prevalence - (1 - prevalence) * pt / (1 - pt)``."""
    if not 0 <= prevalence <= 1:
        raise ValueError(f"prevalence must be in [0, 1]; got {prevalence}")
    pt = _checked_thresholds(thresholds)
    return np.asarray(prevalence - (1 - prevalence) * pt / (1 - pt))


def decision_curve(
    y_true: ArrayLike, proba: ArrayLike, thresholds: ArrayLike = DEFAULT_THRESHOLDS
) -> DecisionCurve:
    """The model's net benefit against treat-all and treat-none at each threshold probability."""
    model = net_benefit(y_true, proba, thresholds)
    pt = _checked_thresholds(thresholds)
    prevalence = float(np.mean(np.asarray(y_true) == POSITIVE_CLASS))
    return DecisionCurve(
        thresholds=tuple(float(v) for v in pt),
        model=tuple(float(v) for v in model),
        treat_all=tuple(float(v) for v in treat_all_net_benefit(prevalence, pt)),
        treat_none=(0.0,) * pt.size,
    )
