"""The "refer" decision: class-conditional (Mondrian) split-conformal prediction sets.

**Method.** The nonconformity score of a case for class ``c`` is ``1 - P(c)``: ``1 - p`` for
malignant and ``p`` for benign (``p`` is the model's probability of malignancy). For each class
separately, the calibration cases *of that class* give the quantile ``q_c``: with their ``n_c``
scores sorted, ``q_c`` is the ``k``-th smallest, ``k = ceil((n_c + 1) * (1 - alpha))`` (the
finite-sample corrected ``(1 - alpha)`` quantile; when ``k > n_c`` the class is always in the
set, ``q_c = 1``). A new case's **prediction set** holds every class ``c`` whose score is
``<= q_c``: malignant when ``1 - p <= q_malignant``, benign when ``p <= q_benign``. It can be
``{Benign}``, ``{Malignant}``, both, or empty.

**Guarantee** (Vovk, Gammerman & Shafer 2005, "Algorithmic Learning in a Random World", ch. 4;
Angelopoulos & Bates 2021, "A Gentle Introduction to Conformal Prediction", sec. 1 and 4.1):
when the calibration cases and the new case are exchangeable, for each class ``c``
``P(c in set | true class c) >= 1 - alpha`` (class-conditional coverage: a malignant case is
missed from its set at most ``alpha`` of the time, whatever the class balance). The guarantee is
marginal over calibration sets, not per case. Calibrating on **out-of-fold** scores of the
training split (each from a model that did not see that case) and applying the quantiles to the
model refit on the whole split is the cross-conformal variant; its coverage is close to, but not
provably at least, ``1 - alpha`` (Vovk 2015; Barber et al. 2021 bound the jackknife+ analogue at
``1 - 2 alpha``). ``tests/model/test_conformal_coverage.py`` measures it over 50 random
splits of the bundled data.

**Marginal variant** (``method=MARGINAL``, for comparison): one quantile of the true-class
scores of *all* calibration cases, shared by both classes (Sadinle, Lei & Wasserman 2019, "Least
ambiguous set-valued classifiers"). Its guarantee is only marginal, ``P(true class in set) >=
1 - alpha`` over all cases, so the malignant minority can be covered less than ``1 - alpha``
while the benign majority is covered more. Its two-class sets are a band around p = 0.5.
Mondrian is the default because a missed malignancy must not hide behind the benign majority;
``scripts/refer_policy.py`` measures both against "refer the k% least certain".

**Decision.** ``malignant`` or ``benign`` when the set is that single class; ``refer`` (to a
pathologist) when the set is empty or holds both classes, when the case is outside the model's
plausibility envelope, or (when the operating prediction is given) when the set's class
disagrees with the thresholded ``prediction``: the answer never says "benign" where the model's
own operating rule says malignant.

**Choosing alpha.** :func:`choose_alpha` takes the smallest ``alpha`` of a grid (the strongest
coverage) whose refer rate on the out-of-fold predictions stays within ``max_refer_rate``.
Small ``alpha`` puts both classes in the sets of uncertain cases, large ``alpha`` leaves them
empty; both refer, so the rate is not monotone in ``alpha`` and the whole grid is scanned.

The quantile rule is a few numpy lines rather than ``mapie`` or ``crepes``: both wrap a fitted
estimator and calibration *features*, while we calibrate on stored out-of-fold *scores* and must
apply two numbers per request in the service; ``crepes`` also imports pandas, which the domain
does not.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final, Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray

from breast_cancer_ml.domain.schema import BENIGN, CLASS_NAMES, MALIGNANT, POSITIVE_CLASS

Decision = Literal["malignant", "benign", "refer"]
DECIDE_MALIGNANT: Final[Decision] = "malignant"
DECIDE_BENIGN: Final[Decision] = "benign"
REFER: Final[Decision] = "refer"

#: The refer budget when none is given: at most 5% of cases sent to a pathologist.
DEFAULT_MAX_REFER_RATE: Final = 0.05
#: The alphas :func:`choose_alpha` scans: 0.001, 0.002, ..., 0.200.
DEFAULT_ALPHAS: Final[tuple[float, ...]] = tuple(round(k / 1000, 3) for k in range(1, 201))
Method = Literal["mondrian-split-conformal", "split-conformal"]
#: Class-conditional quantiles: one per class, from that class's calibration cases.
MONDRIAN: Final[Method] = "mondrian-split-conformal"
#: One quantile from all calibration cases, shared by both classes (marginal coverage).
MARGINAL: Final[Method] = "split-conformal"
METHODS: Final[tuple[Method, ...]] = (MONDRIAN, MARGINAL)
#: The set's classes in this order, joined by ';' in batch output (``Benign;Malignant``).
SET_ORDER: Final[tuple[int, int]] = (BENIGN, MALIGNANT)


def _checked(y_true: ArrayLike, proba: ArrayLike) -> tuple[NDArray[np.bool_], NDArray[np.float64]]:
    t = np.asarray(y_true)
    p = np.asarray(proba, dtype=np.float64)
    if t.ndim != 1 or t.shape != p.shape or t.size == 0:
        raise ValueError(
            f"y_true and proba must be 1-D, non-empty and of one length; got {t.shape}, {p.shape}"
        )
    _check_proba(p)
    return t == POSITIVE_CLASS, p


def _check_proba(p: NDArray[np.float64]) -> None:
    if not np.isfinite(p).all() or (p.size and (p.min() < 0 or p.max() > 1)):
        raise ValueError("proba must hold finite probabilities within [0, 1]")


def _check_alpha(alpha: float) -> None:
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be in (0, 1); got {alpha}")


def _rank(n: int, alpha: float | NDArray[np.float64]) -> NDArray[np.int64]:
    """``ceil((n + 1) * (1 - alpha))``; 1e-9 keeps 10 * (1 - 0.7) = 3.0000000000000004 at 3."""
    return np.ceil((n + 1) * (1 - np.asarray(alpha)) - 1e-9).astype(np.int64)


def _quantiles(scores: NDArray[np.float64], alphas: NDArray[np.float64]) -> NDArray[np.float64]:
    """The corrected quantile of ``scores`` for each alpha (1.0 where the rank exceeds n)."""
    ordered = np.sort(scores)
    k = _rank(ordered.size, alphas)
    # rank k is the k-th smallest (index k - 1); past the last score every case is covered.
    # (k >= 1 for any alpha < 1 - 1e-9 / (n + 1); the clip only keeps the index valid.)
    return np.where(k > ordered.size, 1.0, ordered[np.clip(k, 1, ordered.size) - 1])


@dataclass(frozen=True, slots=True)
class ConformalParams:
    """What the service needs to build a prediction set: alpha and one quantile per class."""

    alpha: float
    #: Quantile of the benign calibration cases' scores ``p``: benign is in the set when p <= it.
    q_benign: float
    #: Quantile of the malignant calibration cases' scores ``1 - p``: malignant is in the set
    #: when ``1 - p <=`` it.
    q_malignant: float
    n_benign: int
    n_malignant: int
    method: Method = MONDRIAN

    def to_metadata(self) -> dict[str, Any]:
        """A JSON-ready dict for the promotion metadata; :meth:`from_metadata` reads it back."""
        return {
            "method": self.method,
            "alpha": self.alpha,
            "quantiles": {"benign": self.q_benign, "malignant": self.q_malignant},
            "n_calibration": {"benign": self.n_benign, "malignant": self.n_malignant},
        }

    @classmethod
    def from_metadata(cls, data: Mapping[str, Any]) -> ConformalParams:
        """Parse :meth:`to_metadata`'s dict; ``ValueError`` saying what is wrong otherwise."""
        try:
            method = data["method"]
            if method not in METHODS:
                raise ValueError(f"unknown conformal method {method!r}; expected one of {METHODS}")
            params = cls(
                method=method,
                alpha=float(data["alpha"]),
                q_benign=float(data["quantiles"]["benign"]),
                q_malignant=float(data["quantiles"]["malignant"]),
                n_benign=int(data["n_calibration"]["benign"]),
                n_malignant=int(data["n_calibration"]["malignant"]),
            )
        except (KeyError, TypeError) as exc:
            raise ValueError(f"conformal parameters are incomplete: missing {exc}") from None
        _check_alpha(params.alpha)
        for name in ("q_benign", "q_malignant"):
            value = getattr(params, name)
            if not 0 <= value <= 1:
                raise ValueError(f"conformal {name} must be in [0, 1]; got {value}")
        if params.n_benign < 1 or params.n_malignant < 1:
            raise ValueError("conformal parameters need at least one calibration case per class")
        return params


def _class_quantiles(
    malignant: NDArray[np.bool_],
    p: NDArray[np.float64],
    alphas: NDArray[np.float64],
    method: Method,
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """``(q_benign, q_malignant)`` per alpha: each class's own scores (Mondrian), or the scores
    of the true class of every case, one quantile for both (marginal)."""
    if malignant.all() or not malignant.any():
        raise ValueError("conformal calibration needs cases of both classes")
    if method == MONDRIAN:
        return _quantiles(p[~malignant], alphas), _quantiles(1 - p[malignant], alphas)
    if method == MARGINAL:
        shared = _quantiles(np.where(malignant, 1 - p, p), alphas)
        return shared, shared
    raise ValueError(f"unknown conformal method {method!r}; expected one of {METHODS}")


def fit(
    y_true: ArrayLike, proba: ArrayLike, alpha: float, *, method: Method = MONDRIAN
) -> ConformalParams:
    """The quantiles at ``alpha`` from calibration (out-of-fold) predictions."""
    _check_alpha(alpha)
    malignant, p = _checked(y_true, proba)
    q_benign, q_malignant = _class_quantiles(malignant, p, np.array([alpha]), method)
    return ConformalParams(
        alpha=float(alpha),
        q_benign=float(q_benign[0]),
        q_malignant=float(q_malignant[0]),
        n_benign=int((~malignant).sum()),
        n_malignant=int(malignant.sum()),
        method=method,
    )


def prediction_sets(params: ConformalParams, proba: ArrayLike) -> NDArray[np.bool_]:
    """``(n, 2)`` booleans: column 0 "benign is in the set", column 1 "malignant is in the set"
    (the order of :data:`SET_ORDER`)."""
    p = np.asarray(proba, dtype=np.float64)
    _check_proba(p)
    return np.column_stack([p <= params.q_benign, (1 - p) <= params.q_malignant])


def _decide(
    in_set: NDArray[np.bool_],
    in_envelope: NDArray[np.bool_] | None,
    prediction: NDArray[np.int64] | None,
) -> NDArray[np.str_]:
    benign, malignant = in_set[:, 0], in_set[:, 1]
    decided = benign ^ malignant
    if in_envelope is not None:
        decided &= in_envelope
    if prediction is not None:
        decided &= malignant == (prediction == MALIGNANT)
    return np.where(decided, np.where(malignant, DECIDE_MALIGNANT, DECIDE_BENIGN), REFER)


def decide(
    params: ConformalParams,
    proba: ArrayLike,
    *,
    in_envelope: ArrayLike | None = None,
    prediction: ArrayLike | None = None,
) -> NDArray[np.str_]:
    """``"malignant"``, ``"benign"`` or ``"refer"`` per case (see the module docstring).

    ``in_envelope`` (booleans) refers every case outside the plausibility envelope;
    ``prediction`` (0/1 of the operating threshold) refers a case whose single-class set
    disagrees with it.
    """
    in_set = prediction_sets(params, proba)
    n = in_set.shape[0]
    env = None if in_envelope is None else np.asarray(in_envelope, dtype=bool)
    pred = None if prediction is None else np.asarray(prediction, dtype=np.int64)
    for name, arr in (("in_envelope", env), ("prediction", pred)):
        if arr is not None and arr.shape != (n,):
            raise ValueError(f"{name} must have one value per case ({n}); got shape {arr.shape}")
    return _decide(in_set, env, pred)


def set_names(in_set: ArrayLike) -> list[str]:
    """One case's set as class names in :data:`SET_ORDER`: ``["Benign", "Malignant"]``, ..."""
    row = np.asarray(in_set, dtype=bool)
    return [CLASS_NAMES[c] for c, inside in zip(SET_ORDER, row, strict=True) if inside]


#: What separates the class names of a set in batch output.
SET_SEPARATOR: Final = ";"


def joined_set_names(in_set: ArrayLike) -> NDArray[np.str_]:
    """Each row of :func:`prediction_sets` as its class names joined by ``;`` (the batch
    ``prediction_set`` column): ``"Benign"``, ``"Malignant"``, ``"Benign;Malignant"`` or ``""``."""
    sets = np.asarray(in_set, dtype=bool)
    if sets.ndim != 2 or sets.shape[1] != len(SET_ORDER):
        raise ValueError(f"expected an (n, 2) array of set membership; got shape {sets.shape}")
    labels = np.array(
        [
            SET_SEPARATOR.join(
                CLASS_NAMES[c] for c, inside in zip(SET_ORDER, row, strict=True) if inside
            )
            for row in ((False, False), (False, True), (True, False), (True, True))
        ]
    )
    # row (benign, malignant) -> index 2 * benign + malignant of the four labels above
    return np.asarray(labels[2 * sets[:, 0] + sets[:, 1]])


def decide_one(
    params: ConformalParams, probability: float, *, in_envelope: bool = True, prediction: int | None
) -> tuple[list[str], Decision]:
    """:func:`decide` and :func:`set_names` for one case, in plain Python (the /predict path)."""
    if not 0 <= probability <= 1:  # NaN fails this too
        raise ValueError("probability must be a finite number within [0, 1]")
    benign = probability <= params.q_benign
    malignant = (1 - probability) <= params.q_malignant
    names = [CLASS_NAMES[c] for c, inside in ((BENIGN, benign), (MALIGNANT, malignant)) if inside]
    decided = benign != malignant and in_envelope
    if prediction is not None:
        decided = decided and malignant == (prediction == MALIGNANT)
    if not decided:
        return names, REFER
    return names, DECIDE_MALIGNANT if malignant else DECIDE_BENIGN


@dataclass(frozen=True, slots=True)
class AlphaChoice:
    """The chosen parameters and the refer rate they give on the predictions they came from."""

    params: ConformalParams
    refer_rate: float
    #: False when no alpha of the grid met the budget: then ``params`` has the lowest refer rate.
    within_budget: bool


def choose_alpha(
    y_true: ArrayLike,
    proba: ArrayLike,
    *,
    max_refer_rate: float = DEFAULT_MAX_REFER_RATE,
    prediction: ArrayLike | None = None,
    alphas: ArrayLike = DEFAULT_ALPHAS,
    method: Method = MONDRIAN,
) -> AlphaChoice:
    """The smallest ``alpha`` of ``alphas`` whose refer rate on these (out-of-fold) predictions
    is ``<= max_refer_rate``, with its quantiles fitted on the same predictions.

    ``prediction`` (the operating threshold's 0/1 on the same cases) counts disagreements as
    referrals, as :func:`decide` does. When no alpha meets the budget, the alpha with the lowest
    refer rate (the smallest such alpha on a tie) is returned with ``within_budget=False``: the
    caller decides whether that stops a promotion. All alphas are evaluated at once (an
    ``(alphas, cases)`` array), not in a Python loop.
    """
    if not 0 <= max_refer_rate <= 1:
        raise ValueError(f"max_refer_rate must be in [0, 1]; got {max_refer_rate}")
    grid = np.asarray(alphas, dtype=np.float64)
    if grid.ndim != 1 or grid.size == 0:
        raise ValueError("alphas must be a non-empty 1-D sequence")
    for a in grid:
        _check_alpha(float(a))
    grid = np.sort(grid)
    malignant, p = _checked(y_true, proba)
    q_benign, q_malignant = _class_quantiles(malignant, p, grid, method)  # (alphas,) each
    benign_in = p[None, :] <= q_benign[:, None]  # (alphas, cases)
    malignant_in = (1 - p)[None, :] <= q_malignant[:, None]
    decided = benign_in ^ malignant_in
    if prediction is not None:
        pred = np.asarray(prediction, dtype=np.int64)
        if pred.shape != p.shape:
            raise ValueError("prediction must have one value per case")
        decided &= malignant_in == (pred == MALIGNANT)[None, :]
    refer_rate = 1 - decided.mean(axis=1)
    fits = np.flatnonzero(refer_rate <= max_refer_rate + 1e-12)
    best = int(fits[0]) if fits.size else int(np.argmin(refer_rate))
    params = ConformalParams(
        alpha=float(grid[best]),
        q_benign=float(q_benign[best]),
        q_malignant=float(q_malignant[best]),
        n_benign=int((~malignant).sum()),
        n_malignant=int(malignant.sum()),
        method=method,
    )
    return AlphaChoice(params, float(refer_rate[best]), within_budget=bool(fits.size))


@dataclass(frozen=True, slots=True)
class ReferReport:
    """How the refer rule did on labelled cases (held out from its calibration)."""

    n: int
    refer_rate: float
    #: Share of benign / malignant cases whose set holds their true class.
    coverage_benign: float
    coverage_malignant: float
    n_decided: int
    #: Accuracy, malignant recall and precision on the decided (not referred) cases; NaN when
    #: undefined (no decided case; no decided malignant case; nothing decided malignant).
    decided_accuracy: float
    decided_recall: float
    decided_precision: float


def _ratio(num: int, den: int) -> float:
    return num / den if den else math.nan


def evaluate(
    params: ConformalParams,
    y_true: ArrayLike,
    proba: ArrayLike,
    *,
    in_envelope: ArrayLike | None = None,
    prediction: ArrayLike | None = None,
) -> ReferReport:
    """Refer rate, per-class coverage and the decided cases' accuracy, recall and precision."""
    malignant, p = _checked(y_true, proba)
    in_set = prediction_sets(params, p)
    decisions = decide(params, p, in_envelope=in_envelope, prediction=prediction)
    decided = decisions != REFER
    said_malignant = decisions == DECIDE_MALIGNANT
    tp = int(np.sum(said_malignant & malignant))
    correct = int(np.sum(decided & (said_malignant == malignant)))
    return ReferReport(
        n=int(p.size),
        refer_rate=float(1 - decided.mean()),
        coverage_benign=_ratio(int(np.sum(in_set[~malignant, 0])), int((~malignant).sum())),
        coverage_malignant=_ratio(int(np.sum(in_set[malignant, 1])), int(malignant.sum())),
        n_decided=int(decided.sum()),
        decided_accuracy=_ratio(correct, int(decided.sum())),
        decided_recall=_ratio(tp, int(np.sum(decided & malignant))),
        decided_precision=_ratio(tp, int(said_malignant.sum())),
    )
