"""The refer decision at the point of answer: every answer's ``prediction_set`` and ``decision``.

One rule for every entry point (``/predict``, ``/predict/batch``, ``/invocations?decision=true``,
``bcml predict``, its Spark engine, the Lambda handler):

* **With conformal parameters** (``PromotionMetadata.conformal``, fitted at training): the
  set and the decision of :mod:`~breast_cancer_ml.domain.conformal` (``decide_one`` /
  ``decide``), given the case's envelope check and the threshold's prediction. A case is
  referred when its set is empty or holds both classes, when it lies outside the model's
  plausibility envelope, or when the set's single class disagrees with ``prediction``.
* **Without them** (metadata written before the refer rule, or a bare MLflow model): the set
  is the thresholded class alone (``["Malignant"]`` or ``["Benign"]``), and the decision is
  that class, or ``refer`` when the case is outside the envelope. No coverage guarantee is
  claimed for such a model.

A model without an envelope (a bare MLflow model) refers nothing on envelope grounds: there is
no envelope to be outside of (its answers are never reported with high confidence instead).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import numpy as np
from numpy.typing import NDArray

from breast_cancer_ml.domain.conformal import (
    DECIDE_BENIGN,
    DECIDE_MALIGNANT,
    REFER,
    ConformalParams,
    Decision,
    decide,
    joined_set_names,
    prediction_sets,
)
from breast_cancer_ml.domain.schema import CLASS_NAMES, MALIGNANT

#: Every decision, in the order of :attr:`Referral.decision_codes`.
DECISIONS: Final[tuple[Decision, Decision, Decision]] = (DECIDE_MALIGNANT, DECIDE_BENIGN, REFER)
#: Every set as batch output writes it, in the order of :attr:`Referral.set_codes`
#: (``2 * benign_in_set + malignant_in_set``): "", "Malignant", "Benign", "Benign;Malignant".
SET_LABELS: Final[tuple[str, ...]] = tuple(
    joined_set_names(
        np.array([[False, False], [False, True], [True, False], [True, True]])
    ).tolist()
)

#: The decision of a case decided as each class (``prediction`` 0/1 -> decision).
_DECIDED: Final[tuple[Decision, Decision]] = (DECIDE_BENIGN, DECIDE_MALIGNANT)
_SINGLETONS: Final = ([CLASS_NAMES[0]], [CLASS_NAMES[1]])
#: ``_SETS[benign in set][malignant in set]``: the set's class names in SET_ORDER.
_SETS: Final = (
    ((), (CLASS_NAMES[1],)),
    ((CLASS_NAMES[0],), (CLASS_NAMES[0], CLASS_NAMES[1])),
)


def refer_one(
    params: ConformalParams | None,
    probability: float,
    prediction: int,
    in_envelope: bool | None,
) -> tuple[list[str], Decision]:
    """``(prediction_set, decision)`` of one case, in plain Python (the ``/predict`` path).

    ``in_envelope`` is None for a model without an envelope (never referred on that ground).
    """
    if params is None:
        return list(_SINGLETONS[prediction]), REFER if in_envelope is False else _DECIDED[
            prediction
        ]
    # decide_one's rule, with the set's names from a table: this runs on every /predict
    # (tests/unit/domain/test_refer.py proves it equal to decide_one for any input)
    if not 0 <= probability <= 1:  # NaN fails this too
        raise ValueError("probability must be a finite number within [0, 1]")
    benign = probability <= params.q_benign
    malignant = (1 - probability) <= params.q_malignant
    names = list(_SETS[benign][malignant])
    if benign == malignant or in_envelope is False or malignant != (prediction == MALIGNANT):
        return names, REFER
    return names, DECIDE_MALIGNANT if malignant else DECIDE_BENIGN


@dataclass(frozen=True)
class Referral:
    """Each row's decision and prediction set (``sets``: ``(n, 2)`` booleans, benign then
    malignant, as :func:`~breast_cancer_ml.domain.conformal.prediction_sets`)."""

    decision: NDArray[np.str_]
    sets: NDArray[np.bool_]

    @property
    def joined_sets(self) -> NDArray[np.str_]:
        """The batch ``prediction_set`` column: class names joined by ``;``."""
        return joined_set_names(self.sets)

    @property
    def decision_codes(self) -> NDArray[np.int64]:
        """Each row's decision as an index into :data:`DECISIONS` (vectorised labelling)."""
        codes = np.full(self.decision.shape, 2, dtype=np.int64)
        codes[self.decision == DECIDE_MALIGNANT] = 0
        codes[self.decision == DECIDE_BENIGN] = 1
        return codes

    @property
    def set_codes(self) -> NDArray[np.int64]:
        """Each row's set as an index into :data:`SET_LABELS`."""
        return np.asarray(2 * self.sets[:, 0] + self.sets[:, 1], dtype=np.int64)

    @property
    def n_referred(self) -> int:
        return int(np.count_nonzero(self.decision == REFER))

    def counts(self) -> dict[str, int]:
        """How many rows got each decision (every decision present, zeros included)."""
        return {
            d: int(np.count_nonzero(self.decision == d))
            for d in (DECIDE_MALIGNANT, DECIDE_BENIGN, REFER)
        }


def refer_rows(
    params: ConformalParams | None,
    probability: NDArray[np.float64],
    prediction: NDArray[np.int64],
    in_envelope: NDArray[np.bool_] | None,
) -> Referral:
    """:func:`refer_one` for many rows at once (vectorised). ``in_envelope`` None: the model
    has no envelope."""
    pred = np.asarray(prediction, dtype=np.int64)
    if params is not None:
        sets = prediction_sets(params, probability)
        decision = decide(params, probability, in_envelope=in_envelope, prediction=pred)
        return Referral(decision=decision, sets=sets)
    malignant = pred == MALIGNANT
    sets = np.column_stack([~malignant, malignant])
    decided = np.where(malignant, DECIDE_MALIGNANT, DECIDE_BENIGN)
    if in_envelope is not None:
        decided = np.where(np.asarray(in_envelope, dtype=bool), decided, REFER)
    return Referral(decision=np.asarray(decided, dtype=np.str_), sets=sets)


__all__ = ["DECISIONS", "SET_LABELS", "Referral", "refer_one", "refer_rows"]
