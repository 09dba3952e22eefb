"""Drift of recent cases from the training reference: the profile kept at promotion and the
comparison ``bcml monitor`` makes with it (pure numpy/scipy).

**Reference profile** (:class:`DriftProfile`, built by :func:`build_profile` from the training
split only, at promotion; published in the promotion metadata and the run summary, so the
metadata's SHA256 covers it). Per feature:

* a *quantile sketch*: the training split's quantiles at :data:`QUANTILE_LEVELS` (0, 0.01, ...,
  1; numpy's linear interpolation between order statistics). No training row is stored: each
  feature is kept only as its marginal quantiles, which link no value to any other;
* the *PSI bins*: the inner edges of :data:`PSI_BINS` (10) quantile bins of the training split
  (edges that coincide, as at a point mass such as ``concavity = 0``, are merged, and an edge
  at the minimum is dropped, so a feature may have fewer bins) and the training share in each.

And the reference rates, on the training split's cases: the predicted-malignant rate (the
out-of-fold CV probabilities at the model's threshold, never the test split), the refer rate
(the refer rule's rate on the same predictions, when the model has one) and the out-of-range
rate (the share outside the plausibility envelope: 0 by construction of the envelope, measured
anyway).

**Comparison** (:func:`compare`):

* **PSI** (population stability index) per feature, over the reference bins:
  ``sum_i (a_i - e_i) * ln(a_i / e_i)`` with ``e_i`` the reference and ``a_i`` the recent share of
  bin ``i``. A share of 0 would make the log infinite, so both shares are floored at
  :data:`PSI_FLOOR` (1e-4) before the sum. Usual reading: < 0.1 stable, 0.1-0.2 moderate,
  > 0.2 significant shift (the default threshold).
* **Kolmogorov-Smirnov** per feature: the statistic ``D = sup |F_recent - F_ref|`` of the recent
  values against the reference CDF, which is the quantile sketch interpolated linearly
  (:func:`ks_statistic`: ``scipy.stats.ks_1samp``'s statistic, made exact at the jump of a
  point mass and at tied values, which ``ks_1samp`` assumes away). The sketch is only an
  approximation of the training distribution: within a percentile the reference is a
  straight line, so ``D`` can be off by up to about one percentile (0.01) from a test against
  the training values themselves. The
  p-value treats the reference as the sample of ``n`` training cases it is (the two-sample
  distribution, with ``n_eff = n_ref * n / (n_ref + n)``, as ``scipy.stats.ks_2samp`` in
  asymptotic mode), not as a known distribution. With 30 features tested, the p-value is
  Bonferroni-adjusted (``min(1, 30 p)``) before it is compared with ``ks_alpha``, so a stable
  population flags no feature at the nominal rate; the test is only applied with at least
  ``min_cases`` recent cases.
* **Rates**: the predicted-malignant rate and the refer rate of the recent cases against the
  reference rates, as a difference and Fisher's exact test on the 2x2 table of counts (recent
  vs reference cases); a rate has drifted when both the absolute difference exceeds
  ``max_rate_shift`` and the p-value is below ``rate_alpha``. The out-of-range rate (reference:
  0) has drifted when it exceeds ``max_out_of_range_rate``.

Why this and not Evidently: see ``docs/monitoring.md`` (footprint, and what we need is ~100
lines of numpy/scipy that are tested here against known values).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

import numpy as np
from numpy.typing import ArrayLike, NDArray

from breast_cancer_ml.domain.schema import FEATURES, N_FEATURES

#: Number of points of the quantile sketch: levels 0, 0.01, ..., 1.
N_QUANTILES: Final = 101
#: The quantile levels of the sketch.
QUANTILE_LEVELS: Final[NDArray[np.float64]] = np.linspace(0.0, 1.0, N_QUANTILES)
#: PSI bins per feature (deciles of the training split; fewer where edges coincide).
PSI_BINS: Final = 10
#: Floor of a bin's share in the PSI sum (an empty bin would make the log infinite).
PSI_FLOOR: Final = 1e-4
#: Name of the method, recorded in the profile.
METHOD: Final = "quantile-sketch-v1"


@dataclass(frozen=True)
class FeatureProfile:
    """One feature's reference: its quantile sketch, PSI bin edges and reference shares."""

    quantiles: tuple[float, ...]
    psi_edges: tuple[float, ...]
    psi_reference: tuple[float, ...]

    def __post_init__(self) -> None:
        q = np.asarray(self.quantiles, dtype=np.float64)
        if q.size != N_QUANTILES or not np.isfinite(q).all() or np.any(np.diff(q) < 0):
            raise ValueError(f"a quantile sketch is {N_QUANTILES} finite non-decreasing values")
        edges = np.asarray(self.psi_edges, dtype=np.float64)
        if not np.isfinite(edges).all() or np.any(np.diff(edges) <= 0):
            raise ValueError("PSI edges must be finite and strictly increasing")
        shares = np.asarray(self.psi_reference, dtype=np.float64)
        if shares.size != edges.size + 1 or np.any(shares < 0) or abs(shares.sum() - 1) > 1e-6:
            raise ValueError("PSI reference shares must be one more than the edges, sum to 1")


@dataclass(frozen=True)
class DriftProfile:
    """The training reference of a promoted model (see the module docstring)."""

    n: int
    features: tuple[FeatureProfile, ...]
    predicted_malignant_rate: float
    out_of_range_rate: float
    refer_rate: float | None = None
    method: str = METHOD

    def __post_init__(self) -> None:
        if self.n < 1:
            raise ValueError("a drift profile needs at least one training case")
        if len(self.features) != N_FEATURES:
            raise ValueError(f"a drift profile has one entry per feature ({N_FEATURES})")
        for name in ("predicted_malignant_rate", "out_of_range_rate", "refer_rate"):
            value = getattr(self, name)
            if value is not None and not (math.isfinite(value) and 0 <= value <= 1):
                raise ValueError(f"{name} must be in [0, 1]; got {value!r}")
        if self.method != METHOD:
            raise ValueError(f"unknown drift profile method {self.method!r}; expected {METHOD}")

    def to_metadata(self) -> dict[str, Any]:
        """A JSON-ready dict for the records; :meth:`from_metadata` reads it back."""
        return {
            "method": self.method,
            "n": self.n,
            "quantile_levels": N_QUANTILES,
            "rates": {
                "predicted_malignant": self.predicted_malignant_rate,
                "refer": self.refer_rate,
                "out_of_range": self.out_of_range_rate,
            },
            "features": {
                name: {
                    "quantiles": list(f.quantiles),
                    "psi_edges": list(f.psi_edges),
                    "psi_reference": list(f.psi_reference),
                }
                for name, f in zip(FEATURES, self.features, strict=True)
            },
        }

    @classmethod
    def from_metadata(cls, data: Mapping[str, Any]) -> DriftProfile:
        """Parse :meth:`to_metadata`'s dict; ``ValueError`` saying what is wrong otherwise."""
        try:
            features = data["features"]
            if not isinstance(features, Mapping) or set(features) != set(FEATURES):
                raise ValueError(f"drift profile features must name exactly the {N_FEATURES}")
            if data["quantile_levels"] != N_QUANTILES:
                raise ValueError(f"drift profile quantile_levels must be {N_QUANTILES}")
            rates = data["rates"]
            refer = rates["refer"]
            return cls(
                method=str(data["method"]),
                n=int(data["n"]),
                predicted_malignant_rate=float(rates["predicted_malignant"]),
                out_of_range_rate=float(rates["out_of_range"]),
                refer_rate=None if refer is None else float(refer),
                features=tuple(
                    FeatureProfile(
                        quantiles=tuple(float(v) for v in features[f]["quantiles"]),
                        psi_edges=tuple(float(v) for v in features[f]["psi_edges"]),
                        psi_reference=tuple(float(v) for v in features[f]["psi_reference"]),
                    )
                    for f in FEATURES
                ),
            )
        except (KeyError, TypeError) as exc:
            raise ValueError(f"drift profile is incomplete: missing or wrong {exc}") from None


# --- building the reference ------------------------------------------------------------------


def psi_edges(values: NDArray[np.float64], bins: int = PSI_BINS) -> NDArray[np.float64]:
    """Inner edges of ``bins`` quantile bins of ``values``: coinciding edges merged, and an edge
    at the minimum dropped (no reference value would fall below it)."""
    inner = np.quantile(values, np.linspace(0, 1, bins + 1)[1:-1])
    edges = np.unique(inner)
    return np.asarray(edges[edges > values.min()], dtype=np.float64)


def bin_counts(values: NDArray[np.float64], edges: ArrayLike) -> NDArray[np.int64]:
    """Counts of ``values`` in the bins ``(-inf, e1), [e1, e2), ..., [ek, inf)``."""
    inner = np.asarray(edges, dtype=np.float64)
    index = np.searchsorted(inner, values, side="right")
    return np.bincount(index, minlength=inner.size + 1).astype(np.int64)


def feature_profile(values: NDArray[np.float64]) -> FeatureProfile:
    """The reference of one feature's training values (at least one)."""
    values = np.asarray(values, dtype=np.float64)
    edges = psi_edges(values)
    counts = bin_counts(values, edges)
    return FeatureProfile(
        quantiles=tuple(np.quantile(values, QUANTILE_LEVELS).tolist()),
        psi_edges=tuple(edges.tolist()),
        psi_reference=tuple((counts / values.size).tolist()),
    )


def build_profile(
    X_train: NDArray[np.float64],
    predicted_malignant_rate: float,
    out_of_range_rate: float,
    refer_rate: float | None,
) -> DriftProfile:
    """The profile of the training split ``X_train`` (``(n, 30)``, FEATURES order) and the rates
    measured on it (see the module docstring for which predictions they come from)."""
    if X_train.ndim != 2 or X_train.shape[1] != N_FEATURES or X_train.shape[0] == 0:
        raise ValueError(f"expected a non-empty (n, {N_FEATURES}) array; got {X_train.shape}")
    return DriftProfile(
        n=int(X_train.shape[0]),
        features=tuple(feature_profile(X_train[:, j]) for j in range(N_FEATURES)),
        predicted_malignant_rate=float(predicted_malignant_rate),
        out_of_range_rate=float(out_of_range_rate),
        refer_rate=None if refer_rate is None else float(refer_rate),
    )


# --- the statistics ----------------------------------------------------------------------------


def psi(reference: ArrayLike, recent: ArrayLike, floor: float = PSI_FLOOR) -> float:
    """Population stability index of the shares ``recent`` against ``reference`` (same bins),
    each share floored at ``floor``."""
    e = np.maximum(np.asarray(reference, dtype=np.float64), floor)
    a = np.maximum(np.asarray(recent, dtype=np.float64), floor)
    if e.shape != a.shape:
        raise ValueError(f"reference and recent shares differ in length: {e.shape} vs {a.shape}")
    return float(np.sum((a - e) * np.log(a / e)))


def reference_cdf(
    quantiles: Sequence[float],
) -> Callable[[NDArray[np.float64]], NDArray[np.float64]]:
    """The reference CDF interpolated linearly from a quantile sketch: 0 below its first
    value, 1 from its last. Where quantiles coincide, the CDF reaches the highest level with
    that value there; at the first value this is a jump (a point mass at the minimum, e.g.
    ``concavity = 0``), elsewhere the CDF is continuous."""
    q = np.asarray(quantiles, dtype=np.float64)
    levels = np.linspace(0.0, 1.0, q.size)
    values, last = np.unique(q[::-1], return_index=True)  # last occurrence of each value
    at = levels[q.size - 1 - last]

    def cdf(x: NDArray[np.float64]) -> NDArray[np.float64]:
        x = np.asarray(x, dtype=np.float64)
        if values.size == 1:  # a constant feature: a step at its one value
            return np.where(x >= values[0], 1.0, 0.0)
        # below the first value: 0 (not the level of the first value, a point mass there)
        return np.where(x < values[0], 0.0, np.interp(x, values, at))

    return cdf


def ks_statistic(
    recent: NDArray[np.float64], cdf: Callable[[NDArray[np.float64]], NDArray[np.float64]]
) -> float:
    """``sup_x |F_recent(x) - F(x)|`` for a reference ``cdf`` of :func:`reference_cdf`'s shape
    (continuous but for a jump at its first value, 0 below it).

    Equal to ``scipy.stats.ks_1samp`` for a continuous ``cdf``; unlike it, exact at the jump
    and at tied recent values: between two distinct recent values the empirical CDF is flat
    and ``F`` monotone, so the supremum is at a recent value, from the right (``F_n(x)``
    vs ``F(x)``) or from the left (``F_n(x-)`` vs ``F(x-)``, which is 0 at the jump).
    """
    values, counts = np.unique(np.asarray(recent, dtype=np.float64), return_counts=True)
    after = np.cumsum(counts) / counts.sum()
    before = after - counts / counts.sum()
    right = cdf(values)
    # F(x-): F at the next float below x: F itself where F is continuous (to rounding), and
    # the value below the jump at the sketch's first value
    left = cdf(np.nextafter(values, -np.inf))
    return float(max(np.max(np.abs(after - right)), np.max(np.abs(before - left))))


@dataclass(frozen=True)
class KsResult:
    statistic: float
    p_value: float


def ks_test(recent: NDArray[np.float64], quantiles: Sequence[float], n_reference: int) -> KsResult:
    """KS statistic of ``recent`` against the sketch's CDF (:func:`ks_statistic`); p-value
    from the two-sample distribution with the reference's ``n_reference`` cases (see the
    module docstring)."""
    from scipy import stats

    recent = np.asarray(recent, dtype=np.float64)
    if recent.size == 0:
        raise ValueError("the KS test needs at least one recent value")
    statistic = ks_statistic(recent, reference_cdf(quantiles))
    n_eff = round(n_reference * recent.size / (n_reference + recent.size))
    p_value = float(stats.kstwo.sf(statistic, max(n_eff, 1)))
    return KsResult(statistic, min(max(p_value, 0.0), 1.0))


@dataclass(frozen=True)
class RateShift:
    """A rate of the recent cases against its reference: counts, difference and p-value
    (Fisher's exact test, two-sided; ``None`` without a reference count to compare with)."""

    name: str
    recent_count: int
    recent_n: int
    reference_rate: float | None
    reference_n: int
    difference: float | None
    p_value: float | None
    drift: bool = False

    @property
    def recent_rate(self) -> float | None:
        return self.recent_count / self.recent_n if self.recent_n else None


def rate_shift(
    name: str, recent_count: int, recent_n: int, reference_rate: float | None, reference_n: int
) -> RateShift:
    """Compare ``recent_count / recent_n`` with ``reference_rate`` measured on ``reference_n``
    cases (its count is ``round(rate * n)``). No drift flag is set here: :func:`compare`
    applies the thresholds."""
    if recent_n == 0 or reference_rate is None:
        return RateShift(name, recent_count, recent_n, reference_rate, reference_n, None, None)
    from scipy import stats

    ref_count = round(reference_rate * reference_n)
    table = [[recent_count, recent_n - recent_count], [ref_count, reference_n - ref_count]]
    p_value = float(stats.fisher_exact(table).pvalue)
    difference = recent_count / recent_n - reference_rate
    return RateShift(
        name, recent_count, recent_n, reference_rate, reference_n, difference, min(p_value, 1.0)
    )


# --- the comparison ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Thresholds:
    """When ``compare`` calls something drift. The defaults are ``MonitorSettings``' (what
    ``--help`` shows); ``tests/unit/domain/test_drift.py`` keeps the two equal."""

    psi: float = 0.2
    ks_alpha: float = 0.01
    min_cases: int = 30
    max_rate_shift: float = 0.10
    rate_alpha: float = 0.01
    max_out_of_range_rate: float = 0.05


@dataclass(frozen=True)
class FeatureDrift:
    feature: str
    n: int
    psi: float
    ks_statistic: float
    ks_p_value: float
    #: Bonferroni-adjusted over the features tested
    ks_p_adjusted: float
    reference_shares: tuple[float, ...]
    recent_shares: tuple[float, ...]
    reasons: tuple[str, ...] = ()

    @property
    def drift(self) -> bool:
        return bool(self.reasons)


@dataclass(frozen=True)
class DriftResult:
    """What :func:`compare` found. ``features`` is empty when the recent cases carry no
    feature values (a prediction log written without ``--log-features``)."""

    n: int
    features: tuple[FeatureDrift, ...]
    predicted_malignant: RateShift
    refer: RateShift
    out_of_range: RateShift
    thresholds: Thresholds
    enough_cases: bool
    notes: tuple[str, ...] = field(default=())

    @property
    def drifted_features(self) -> list[str]:
        return [f.feature for f in self.features if f.drift]

    @property
    def drift(self) -> bool:
        rates = (self.predicted_malignant, self.refer, self.out_of_range)
        return bool(self.drifted_features) or any(r.drift for r in rates)


def feature_drift(
    X: NDArray[np.float64], profile: DriftProfile, thresholds: Thresholds
) -> tuple[FeatureDrift, ...]:
    """PSI and KS of every feature of ``X`` (``(n, 30)``, n >= 1) against ``profile``."""
    out = []
    for j, (name, ref) in enumerate(zip(FEATURES, profile.features, strict=True)):
        values = X[:, j]
        shares = bin_counts(values, ref.psi_edges) / values.size
        value_psi = psi(ref.psi_reference, shares)
        ks = ks_test(values, ref.quantiles, profile.n)
        adjusted = min(1.0, ks.p_value * N_FEATURES)
        reasons = []
        if value_psi > thresholds.psi:
            reasons.append(f"PSI {value_psi:.3g} > {thresholds.psi:g}")
        if values.size >= thresholds.min_cases and adjusted < thresholds.ks_alpha:
            reasons.append(f"KS p {adjusted:.3g} (Bonferroni) < {thresholds.ks_alpha:g}")
        out.append(
            FeatureDrift(
                feature=name,
                n=int(values.size),
                psi=value_psi,
                ks_statistic=ks.statistic,
                ks_p_value=ks.p_value,
                ks_p_adjusted=adjusted,
                reference_shares=ref.psi_reference,
                recent_shares=tuple(shares.tolist()),
                reasons=tuple(reasons),
            )
        )
    return tuple(out)


def compare(
    profile: DriftProfile,
    *,
    predictions: NDArray[np.int64],
    referred: NDArray[np.bool_] | None,
    out_of_range: NDArray[np.bool_] | None,
    X: NDArray[np.float64] | None,
    thresholds: Thresholds | None = None,
) -> DriftResult:
    """Compare recent cases with ``profile``.

    ``predictions`` (0/1, one per case) gives the predicted-malignant rate; ``referred``
    (decision ``refer``) the refer rate, ``None`` when unknown; ``out_of_range`` the cases
    outside the plausibility envelope, ``None`` when unknown (rows whose envelope check is
    unknown are left out by the caller); ``X`` the features (``(n, 30)``), ``None`` when the
    cases carry none. With fewer than ``min_cases`` cases nothing is flagged.
    """
    limits = thresholds or Thresholds()
    n = int(predictions.size)
    if n == 0:
        raise ValueError("no recent cases to compare")
    enough = n >= limits.min_cases
    notes = []
    if not enough:
        notes.append(
            f"only {n} case(s), fewer than min_cases {limits.min_cases}: nothing is flagged"
        )

    def shifted(shift: RateShift) -> RateShift:
        drift = (
            enough
            and shift.difference is not None
            and shift.p_value is not None
            and abs(shift.difference) > limits.max_rate_shift
            and shift.p_value < limits.rate_alpha
        )
        return dataclasses.replace(shift, drift=drift)

    malignant = shifted(
        rate_shift(
            "predicted_malignant",
            int(np.count_nonzero(predictions == 1)),
            n,
            profile.predicted_malignant_rate,
            profile.n,
        )
    )
    if referred is None:
        refer = RateShift("refer", 0, 0, profile.refer_rate, profile.n, None, None)
        notes.append("refer rate: the cases carry no decision")
    else:
        refer = shifted(
            rate_shift("refer", int(np.count_nonzero(referred)), n, profile.refer_rate, profile.n)
        )
        if profile.refer_rate is None:
            notes.append("refer rate: the model has no refer rule, no reference to compare")
    if out_of_range is None or out_of_range.size == 0:
        oor = RateShift("out_of_range", 0, 0, profile.out_of_range_rate, profile.n, None, None)
        notes.append("out-of-range rate: unknown (no envelope check in the cases)")
    else:
        count, m = int(np.count_nonzero(out_of_range)), int(out_of_range.size)
        base = rate_shift("out_of_range", count, m, profile.out_of_range_rate, profile.n)
        oor = dataclasses.replace(base, drift=enough and count / m > limits.max_out_of_range_rate)
    features: tuple[FeatureDrift, ...] = ()  # the caller says why there are no features
    if X is not None:
        if X.shape != (n, N_FEATURES):
            raise ValueError(f"expected X of shape ({n}, {N_FEATURES}); got {X.shape}")
        features = feature_drift(X, profile, limits if enough else _never(limits))
    return DriftResult(
        n=n,
        features=features,
        predicted_malignant=malignant,
        refer=refer,
        out_of_range=oor,
        thresholds=limits,
        enough_cases=enough,
        notes=tuple(notes),
    )


def _never(limits: Thresholds) -> Thresholds:
    """Thresholds that flag nothing (too few cases to judge)."""
    return Thresholds(
        psi=math.inf,
        ks_alpha=0.0,
        min_cases=limits.min_cases,
        max_rate_shift=limits.max_rate_shift,
        rate_alpha=limits.rate_alpha,
        max_out_of_range_rate=limits.max_out_of_range_rate,
    )


__all__ = [
    "DriftProfile",
    "DriftResult",
    "FeatureDrift",
    "FeatureProfile",
    "RateShift",
    "Thresholds",
    "build_profile",
    "compare",
    "ks_test",
    "psi",
    "rate_shift",
    "reference_cdf",
]
