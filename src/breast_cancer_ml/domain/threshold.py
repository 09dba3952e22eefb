"""Choosing the decision threshold that reaches a malignant-recall target.

The threshold is chosen on **out-of-fold** predictions of the training split (never on the test
split), so the held-out numbers that follow stay honest.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import ArrayLike

from breast_cancer_ml.domain.decision import DEFAULT_THRESHOLD
from breast_cancer_ml.domain.schema import POSITIVE_CLASS


def recall_at(y_true: ArrayLike, proba: ArrayLike, threshold: float) -> float:
    """Malignant recall when predicting malignant for ``proba >= threshold``."""
    t = np.asarray(y_true)
    p = np.asarray(proba, dtype=np.float64)  # pragma: no mutate (probabilities are floats)
    positives = t == POSITIVE_CLASS
    n = int(positives.sum())
    return float(np.sum(positives & (p >= threshold)) / n) if n else math.nan


def threshold_for_recall(
    y_true: ArrayLike,
    proba: ArrayLike,
    target_recall: float,
    max_threshold: float = DEFAULT_THRESHOLD,
) -> float:
    """The highest threshold ``t <= max_threshold`` with ``recall_at(y_true, proba, t) >= target``.

    Among thresholds that reach the target on these predictions, the highest one keeps the most
    precision. It is capped at ``max_threshold`` (the default 0.5): a recall target only ever
    *lowers* the threshold; it never trades recall already obtained for precision. With ``n``
    malignant cases the target needs ``ceil(target * n)`` of them at or above ``t``, so ``t`` is
    the ``ceil(target * n)``-th highest malignant probability (or ``max_threshold`` if lower).
    """
    if not 0 < target_recall <= 1:
        raise ValueError(f"target_recall must be in (0, 1]; got {target_recall}")
    t = np.asarray(y_true)
    p = np.asarray(proba, dtype=np.float64)  # pragma: no mutate (probabilities are floats)
    if t.shape != p.shape or t.ndim != 1:
        raise ValueError(f"y_true and proba must be 1-D of one length; got {t.shape}, {p.shape}")
    if not np.isfinite(p).all():
        raise ValueError("proba holds NaN or infinite values")
    positive = np.sort(p[t == POSITIVE_CLASS])[::-1]
    if positive.size == 0:
        raise ValueError("no malignant case: a recall target cannot be met or measured")
    # 1e-9 guards against 0.95 * 20 = 19.000000000000004 asking for a 20th case.
    needed = max(1, math.ceil(target_recall * positive.size - 1e-9))
    return float(min(max_threshold, positive[needed - 1]))
