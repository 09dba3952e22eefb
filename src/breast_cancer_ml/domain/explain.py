"""Why the model said what it said: per-case additive explanations in log-odds.

An explanation of a case ``x`` is a ``base`` and one ``contribution`` per feature with
``base + sum(contributions) == log-odds of P(malignant | x)``. Two methods:

* ``linear_exact`` (StandardScaler + LogisticRegression, the default ``logreg``): the log-odds
  is ``b + sum_j w_j (x_j - m_j) / s_j`` with the scaler's training mean ``m`` and scale ``s``,
  so ``contribution_j = w_j (x_j - m_j) / s_j`` and ``base = b``, the log-odds of the
  training-mean case. Exact by construction; a few numpy operations for any number of rows.
* ``kernel_shap`` (every other registry candidate): Kernel SHAP (Lundberg & Lee, 2017) from the
  maintained ``shap`` package, ``shap.KernelExplainer(..., link="logit")``, on the model's
  P(malignant) clipped to ``[eps, 1 - eps]`` (a tree leaf of 0 or 1 has no finite log-odds; the
  clip gives it ``logit(eps)``). The background is the k-means centres of the training split
  weighted by their cluster sizes (:func:`build_params`, run at promotion), so ``base`` is the
  logit of the model's background-weighted mean probability. Kernel SHAP estimates the Shapley
  values by a weighted linear regression over ``nsamples`` feature coalitions; its efficiency
  constraint makes ``base + sum == logit(clipped p)`` exact (to rounding) whatever
  ``nsamples`` is. Cost: ``nsamples * k`` model evaluations per case. The coalitions are drawn
  with a fixed seed, so the same case always gets the same explanation.

The parameters (:class:`ExplainerParams`) are built at promotion from the training split only
and published inside the promotion metadata, so its sealed hash covers them. ``shap`` is
imported only when a non-linear model is explained: a linear champion never loads it.
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass
from typing import Any, Final, Literal

import numpy as np
from numpy.typing import NDArray
from pydantic import BaseModel, ConfigDict, Field, model_validator

from breast_cancer_ml.domain.schema import FEATURES, N_FEATURES
from breast_cancer_ml.domain.scoring import LinearTerms, linear_terms
from breast_cancer_ml.errors import ExplanationUnavailableError

LINEAR_EXACT: Final = "linear_exact"
KERNEL_SHAP: Final = "kernel_shap"
#: The unit of ``base`` and every contribution.
OUTPUT: Final = "log_odds"
#: shap's own default ("auto") for 30 features: 2 * 30 + 2048 coalitions per case.
KERNEL_NSAMPLES: Final = 2 * N_FEATURES + 2048
#: k-means centres in the background.
KERNEL_K: Final = 10
#: P(malignant) is clipped to [eps, 1 - eps] before the logit.
KERNEL_EPS: Final = 1e-6
#: How to install what ``kernel_shap`` needs.
EXPLAIN_EXTRA: Final = "pip install 'breast-cancer-ml[explain]'"


class ExplainerParams(BaseModel):
    """How a promoted model is explained. For ``linear_exact`` only the method: the
    coefficients live in the model. For ``kernel_shap`` the background (k-means centres of the
    training split, in FEATURES order, and their cluster sizes) and Kernel SHAP's settings."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    method: Literal["linear_exact", "kernel_shap"]
    output: Literal["log_odds"] = OUTPUT
    background: list[list[float]] | None = None
    weights: list[float] | None = None
    nsamples: int | None = Field(default=None, ge=2 * N_FEATURES + 2)
    k: int | None = Field(default=None, ge=1)
    eps: float | None = Field(default=None, gt=0, lt=0.5)
    seed: int | None = None
    built_from: str = "training split"

    @model_validator(mode="after")
    def _kernel_complete(self) -> ExplainerParams:
        if self.method != KERNEL_SHAP:
            return self
        if self.background is None or self.weights is None or self.nsamples is None:
            raise ValueError("kernel_shap needs background, weights and nsamples")
        if self.eps is None or self.seed is None:
            raise ValueError("kernel_shap needs eps and seed")
        if not self.background or any(len(row) != N_FEATURES for row in self.background):
            raise ValueError(f"background: expected rows of {N_FEATURES} values")
        if len(self.weights) != len(self.background):
            raise ValueError("weights: expected one per background row")
        values = [v for row in self.background for v in row] + list(self.weights)
        if not all(math.isfinite(v) for v in values) or min(self.weights) <= 0:
            raise ValueError("background and weights must be finite, weights > 0")
        return self


def build_params(
    pipeline: Any,
    X_train: NDArray[np.float64],
    seed: int,
    k: int = KERNEL_K,
    nsamples: int = KERNEL_NSAMPLES,
    eps: float = KERNEL_EPS,
) -> ExplainerParams:
    """The explainer of a fitted ``pipeline``, built from its training split ``X_train`` only:
    the method for a linear model, k-means centres (``k`` at most the number of rows) with
    their cluster sizes for any other."""
    if linear_terms(pipeline) is not None:
        return ExplainerParams(method=LINEAR_EXACT)
    from sklearn.cluster import KMeans

    X = np.asarray(X_train, dtype=np.float64)
    k = min(k, len(X))
    kmeans = KMeans(n_clusters=k, n_init=10, random_state=seed).fit(X)
    sizes = np.bincount(kmeans.labels_, minlength=k).astype(np.float64)
    keep = sizes > 0  # an empty cluster (duplicate rows) carries no weight
    return ExplainerParams(
        method=KERNEL_SHAP,
        background=kmeans.cluster_centers_[keep].tolist(),
        weights=sizes[keep].tolist(),
        nsamples=nsamples,
        k=int(keep.sum()),
        eps=eps,
        seed=seed,
    )


@dataclass(frozen=True)
class Explanations:
    """Explanations of ``n`` cases: ``base`` (n,), ``contributions`` (n, 30) in FEATURES
    order, both in log-odds; ``base[i] + contributions[i].sum()`` is case i's log-odds."""

    method: str
    base: NDArray[np.float64]
    contributions: NDArray[np.float64]

    def order(self) -> NDArray[np.intp]:
        """Per row, the feature positions by |contribution|, largest first (ties: FEATURES
        order, as a stable sort keeps it)."""
        return np.argsort(-np.abs(self.contributions), axis=1, kind="stable")

    def doc(self, i: int, values: Any, order: list[int] | None = None) -> dict[str, Any]:
        """Row ``i`` as the API's ``explanation`` object; ``values`` are its raw features
        (``order``: its row of :meth:`order`, when already computed)."""
        contributions = self.contributions[i].tolist()
        raw = np.asarray(values, dtype=np.float64).tolist()
        if order is None:
            order = self.order()[i].tolist()
        return {
            "method": self.method,
            "base": float(self.base[i]),
            "contributions": [
                {"feature": FEATURES[j], "value": raw[j], "contribution": contributions[j]}
                for j in order
            ],
            "output": OUTPUT,
        }

    def docs(self, X: NDArray[np.float64]) -> list[dict[str, Any]]:
        """Every row of ``X`` (the rows explained) as :meth:`doc` gives it."""
        orders = self.order().tolist()
        return [self.doc(i, X[i], orders[i]) for i in range(len(X))]


class Explainer:
    """Explains cases of one fitted pipeline. Built once per loaded model; a Kernel SHAP
    explainer is set up on first use (it evaluates the model on the background)."""

    def __init__(self, pipeline: Any, params: ExplainerParams | None, model_name: str) -> None:
        self.pipeline = pipeline
        self.params = params
        self.model_name = model_name
        self._terms: LinearTerms | None = linear_terms(pipeline)
        self._kernel: Any = None
        # shap's KernelExplainer keeps each call's working state on itself, and the seed is
        # numpy's global one: one Kernel SHAP explanation at a time per model
        self._lock = threading.Lock()

    @property
    def method(self) -> str:
        return LINEAR_EXACT if self._terms is not None else KERNEL_SHAP

    @property
    def slow(self) -> bool:
        """Whether explaining costs far more than scoring (Kernel SHAP): a server runs it off
        its event loop."""
        return self._terms is None

    def check(self) -> None:
        """:class:`ExplanationUnavailableError` now if this model cannot be explained."""
        if self._terms is not None:
            return
        params = self.params
        if params is None or params.method != KERNEL_SHAP:
            raise ExplanationUnavailableError(
                f"this {self.model_name} model was promoted before explanations existed, so "
                "it carries no explainer background; re-promote it with `bcml train` to "
                "explain its predictions"
            )
        try:
            import shap  # noqa: F401
        except ImportError:
            raise ExplanationUnavailableError(
                f"explanations of {self.model_name} need the `explain` extra: {EXPLAIN_EXTRA}"
            ) from None

    def explain(self, X: NDArray[np.float64]) -> Explanations:
        """Explanations of the validated rows ``X`` (n, 30); never a NaN or an infinity."""
        if self._terms is not None:
            t = self._terms
            contributions = t.coef * (X - t.mean) / t.scale
            explained = Explanations(LINEAR_EXACT, np.full(len(X), t.intercept), contributions)
        else:
            self.check()
            with self._lock:
                explained = self._kernel_shap(X)
        finite = np.isfinite(explained.contributions).all(axis=1) & np.isfinite(explained.base)
        if not finite.all():
            bad = int(np.flatnonzero(~finite)[0])
            raise ExplanationUnavailableError(
                f"the {self.model_name} model's explanation of row {bad} is not finite; no "
                "explanation given (the prediction itself is unaffected)"
            )
        return explained

    def _kernel_shap(self, X: NDArray[np.float64]) -> Explanations:
        params = self.params
        assert params is not None and params.background is not None  # check() passed
        assert params.eps is not None and params.seed is not None
        eps, seed = params.eps, params.seed
        if self._kernel is None:
            import shap

            # KernelExplainer takes a weighted background as what the public shap.kmeans
            # returns. The centres and sizes were kept at promotion (no training rows at serve
            # time), so shap.kmeans is given each centre repeated by its cluster size: k
            # distinct points in k clusters come back exactly (k-means++ never starts two
            # clusters on one point; rounding snaps each value to itself), with those sizes as
            # weights. This costs one small k-means per model and process, on first use.
            centres = np.asarray(params.background, dtype=np.float64)
            sizes = np.asarray(params.weights, dtype=np.float64).round().astype(np.intp)
            background = shap.kmeans(np.repeat(centres, sizes, axis=0), len(centres))

            def proba(Z: NDArray[np.float64]) -> NDArray[np.float64]:
                p = self.pipeline.predict_proba(np.asarray(Z, dtype=np.float64))[:, 1]
                return np.asarray(np.clip(p, eps, 1 - eps), dtype=np.float64)

            self._kernel = shap.KernelExplainer(proba, background, link="logit")
        kernel = self._kernel
        # shap draws coalitions from numpy's global generator: seeded for each case, so a case
        # gets the same explanation alone or anywhere in a batch; the caller's state is restored
        contributions = np.empty((len(X), N_FEATURES), dtype=np.float64)
        state = np.random.get_state()
        try:
            for i in range(len(X)):
                np.random.seed(seed)
                values = kernel.shap_values(
                    X[i : i + 1], nsamples=params.nsamples, l1_reg=False, silent=True
                )
                contributions[i] = np.asarray(values, dtype=np.float64).reshape(N_FEATURES)
        finally:
            np.random.set_state(state)
        base = np.full(len(X), float(np.ravel(kernel.expected_value)[0]))
        return Explanations(KERNEL_SHAP, base, contributions)


def log_odds(p: NDArray[np.float64], eps: float) -> NDArray[np.float64]:
    """``logit(clip(p, eps, 1 - eps))``: what a ``kernel_shap`` explanation adds up to."""
    q = np.clip(np.asarray(p, dtype=np.float64), eps, 1 - eps)
    return np.asarray(np.log(q / (1 - q)))


__all__ = [
    "KERNEL_SHAP",
    "LINEAR_EXACT",
    "Explainer",
    "ExplainerParams",
    "Explanations",
    "build_params",
    "log_odds",
]
