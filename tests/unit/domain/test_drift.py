"""Drift statistics against values worked out by hand or by scipy: PSI, the sketch's CDF and
its KS test, the rate shifts, and the profile's round trip through its JSON form."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from breast_cancer_ml.domain.drift import (
    N_QUANTILES,
    PSI_FLOOR,
    DriftProfile,
    Thresholds,
    bin_counts,
    build_profile,
    compare,
    feature_profile,
    ks_statistic,
    ks_test,
    psi,
    psi_edges,
    rate_shift,
    reference_cdf,
)
from breast_cancer_ml.domain.schema import FEATURES, N_FEATURES

UNIFORM_SKETCH = tuple(np.linspace(0.0, 1.0, N_QUANTILES).tolist())


def test_psi_of_a_small_example_equals_the_sum_computed_by_hand() -> None:
    reference = [0.25, 0.25, 0.5]
    recent = [0.5, 0.25, 0.25]
    by_hand = (0.5 - 0.25) * math.log(0.5 / 0.25) + 0 + (0.25 - 0.5) * math.log(0.25 / 0.5)
    assert psi(reference, recent) == pytest.approx(by_hand, abs=1e-12)
    assert by_hand == pytest.approx(0.5 * math.log(2))


def test_psi_floors_an_empty_bin_instead_of_going_infinite() -> None:
    value = psi([0.5, 0.5], [1.0, 0.0])
    by_hand = (1.0 - 0.5) * math.log(1.0 / 0.5) + (PSI_FLOOR - 0.5) * math.log(PSI_FLOOR / 0.5)
    assert math.isfinite(value)
    assert value == pytest.approx(by_hand, rel=1e-12)


def test_psi_of_identical_shares_is_zero() -> None:
    assert psi([0.1] * 10, [0.1] * 10) == 0.0


def test_psi_edges_are_deciles_and_bins_count_left_closed() -> None:
    values = np.arange(1.0, 101.0)  # 1 ... 100
    edges = psi_edges(values)
    assert edges.size == 9
    counts = bin_counts(values, edges)
    assert counts.tolist() == [10] * 10


def test_psi_edges_merge_a_point_mass_so_no_reference_bin_is_empty() -> None:
    values = np.array([0.0] * 30 + list(np.arange(1.0, 71.0)))  # 30% zeros
    profile = feature_profile(values)
    assert profile.psi_edges[0] > 0  # no edge at the minimum: nothing lies below it
    assert all(share > 0 for share in profile.psi_reference)
    assert sum(profile.psi_reference) == pytest.approx(1.0)


def test_sketch_cdf_of_exact_uniform_quantiles_is_the_uniform_cdf() -> None:
    cdf = reference_cdf(UNIFORM_SKETCH)
    x = np.array([-1.0, 0.0, 0.123, 0.5, 0.999, 1.0, 2.0])
    np.testing.assert_allclose(cdf(x), stats.uniform.cdf(x), atol=1e-12)


def test_sketch_cdf_jumps_at_a_point_mass_to_its_highest_level() -> None:
    q = np.concatenate([np.zeros(11), np.linspace(0.0, 1.0, 91)[1:]])  # 11 levels at 0
    assert q.size == N_QUANTILES
    cdf = reference_cdf(q)
    assert cdf(np.array([-1e-9]))[0] == 0.0
    assert cdf(np.array([0.0]))[0] == pytest.approx(0.10)


def test_ks_statistic_equals_scipy_when_the_reference_quantiles_are_exact() -> None:
    rng = np.random.default_rng(0)
    recent = rng.uniform(0.1, 1.1, size=400)  # shifted by 0.1
    result = ks_test(recent, UNIFORM_SKETCH, n_reference=10_000)
    assert result.statistic == pytest.approx(
        stats.ks_1samp(recent, stats.uniform.cdf).statistic, abs=1e-12
    )
    # and, against a large sample of the reference itself, what ks_2samp measures
    reference = rng.uniform(0.0, 1.0, size=200_000)
    two = stats.ks_2samp(recent, reference)
    assert result.statistic == pytest.approx(two.statistic, abs=0.01)
    assert result.p_value < 1e-3


def test_ks_p_value_is_the_two_sample_one_for_the_reference_size() -> None:
    rng = np.random.default_rng(1)
    recent = rng.uniform(0.0, 1.0, size=300)
    result = ks_test(recent, UNIFORM_SKETCH, n_reference=300)
    # two samples of 300: the effective size is 150
    assert result.p_value == pytest.approx(stats.kstwo.sf(result.statistic, 150))
    assert result.p_value > 0.05


def test_identical_data_gives_no_drift_at_all() -> None:
    rng = np.random.default_rng(2)
    X = rng.gamma(2.0, 1.0, size=(500, N_FEATURES))
    profile = build_profile(X, 0.4, 0.0, 0.05)
    result = compare(
        profile,
        predictions=np.array([1] * 200 + [0] * 300),
        referred=np.array([True] * 25 + [False] * 475),
        out_of_range=np.zeros(500, dtype=bool),
        X=X,
    )
    assert not result.drift
    assert max(f.psi for f in result.features) < 1e-9
    assert max(f.ks_statistic for f in result.features) <= 0.011  # one percentile of sketch
    assert result.predicted_malignant.difference == pytest.approx(0.0)


def test_a_scaled_feature_is_flagged_by_psi_and_ks_and_the_others_are_not() -> None:
    rng = np.random.default_rng(3)
    X = rng.gamma(4.0, 1.0, size=(600, N_FEATURES))
    profile = build_profile(X[:300], 0.4, 0.0, None)
    recent = X[300:].copy()
    recent[:, 0] *= 1.3
    result = compare(
        profile,
        predictions=np.zeros(300, dtype=np.int64),
        referred=None,
        out_of_range=None,
        X=recent,
    )
    assert result.drifted_features == [FEATURES[0]]
    flagged = result.features[0]
    assert flagged.psi > 0.2
    assert flagged.ks_p_adjusted < 0.01


def test_too_few_cases_flag_nothing() -> None:
    rng = np.random.default_rng(4)
    X = rng.gamma(4.0, 1.0, size=(300, N_FEATURES))
    profile = build_profile(X, 0.4, 0.0, None)
    result = compare(
        profile,
        predictions=np.ones(5, dtype=np.int64),
        referred=None,
        out_of_range=np.ones(5, dtype=bool),
        X=X[:5] * 3,
        thresholds=Thresholds(min_cases=30),
    )
    assert not result.enough_cases
    assert not result.drift
    assert any("fewer than min_cases" in note for note in result.notes)


def test_rate_shift_uses_fishers_exact_test_on_the_counts() -> None:
    shift = rate_shift("predicted_malignant", 60, 100, 0.3, 400)
    assert shift.difference == pytest.approx(0.3)
    expected = stats.fisher_exact([[60, 40], [120, 280]]).pvalue
    assert shift.p_value == pytest.approx(expected)


def test_a_malignant_rate_shift_beyond_both_limits_is_drift() -> None:
    rng = np.random.default_rng(5)
    X = rng.gamma(4.0, 1.0, size=(300, N_FEATURES))
    profile = build_profile(X, 0.35, 0.0, 0.05)
    shifted = compare(
        profile,
        predictions=np.array([1] * 70 + [0] * 30),
        referred=np.zeros(100, dtype=bool),
        out_of_range=np.array([True] * 10 + [False] * 90),
        X=None,
    )
    assert shifted.predicted_malignant.drift
    assert shifted.out_of_range.drift  # 10% > 5%
    assert not shifted.refer.drift  # 0% vs 5%: within max_rate_shift
    assert shifted.features == ()


def test_profile_round_trips_through_its_json_form() -> None:
    rng = np.random.default_rng(6)
    profile = build_profile(rng.gamma(2.0, 1.0, size=(50, N_FEATURES)), 0.3, 0.0, None)
    assert DriftProfile.from_metadata(profile.to_metadata()) == profile


def test_profile_with_a_missing_feature_is_refused() -> None:
    rng = np.random.default_rng(7)
    data = build_profile(rng.gamma(2.0, 1.0, size=(50, N_FEATURES)), 0.3, 0.0, None).to_metadata()
    del data["features"][FEATURES[3]]
    with pytest.raises(ValueError, match="name exactly"):
        DriftProfile.from_metadata(data)


def test_profile_with_decreasing_quantiles_is_refused() -> None:
    rng = np.random.default_rng(8)
    data = build_profile(rng.gamma(2.0, 1.0, size=(50, N_FEATURES)), 0.3, 0.0, None).to_metadata()
    data["features"][FEATURES[0]]["quantiles"][5] = -1.0
    with pytest.raises(ValueError, match="non-decreasing"):
        DriftProfile.from_metadata(data)


def test_the_domain_defaults_are_the_settings_defaults() -> None:
    """MonitorSettings holds the defaults users see (--help); the domain's must not drift."""
    from breast_cancer_ml.pipelines.monitor import thresholds_of
    from breast_cancer_ml.settings import MonitorSettings

    assert thresholds_of(MonitorSettings(input="cases.csv")) == Thresholds()


def test_a_constant_feature_has_a_step_cdf_and_one_bin() -> None:
    profile = feature_profile(np.full(20, 3.0))
    assert profile.psi_edges == () and profile.psi_reference == (1.0,)
    cdf = reference_cdf(profile.quantiles)
    assert cdf(np.array([2.9, 3.0, 3.1])).tolist() == [0.0, 1.0, 1.0]
    assert ks_test(np.full(10, 3.0), profile.quantiles, 20).statistic == 0.0
    assert ks_test(np.full(10, 4.0), profile.quantiles, 20).statistic == 1.0


def test_a_rate_without_a_reference_is_reported_but_never_tested() -> None:
    shift = rate_shift("refer", 9, 10, None, 400)
    assert shift.recent_rate == 0.9
    assert shift.difference is None and shift.p_value is None and not shift.drift


def test_compare_refuses_features_that_do_not_match_the_cases() -> None:
    rng = np.random.default_rng(9)
    profile = build_profile(rng.gamma(2.0, 1.0, size=(50, N_FEATURES)), 0.3, 0.0, None)
    with pytest.raises(ValueError, match="shape"):
        compare(
            profile,
            predictions=np.zeros(5, dtype=np.int64),
            referred=None,
            out_of_range=None,
            X=np.ones((4, N_FEATURES)),
        )
    with pytest.raises(ValueError, match="no recent cases"):
        compare(
            profile,
            predictions=np.zeros(0, dtype=np.int64),
            referred=None,
            out_of_range=None,
            X=None,
        )


def test_out_of_range_at_the_limit_is_not_drift_and_just_above_it_is() -> None:
    rng = np.random.default_rng(10)
    profile = build_profile(rng.gamma(2.0, 1.0, size=(50, N_FEATURES)), 0.3, 0.0, None)

    def flagged(outside: int) -> bool:
        return compare(
            profile,
            predictions=np.array([1] * 30 + [0] * 70),
            referred=None,
            out_of_range=np.array([True] * outside + [False] * (100 - outside)),
            X=None,
        ).out_of_range.drift

    assert not flagged(5)  # 5% is the limit itself
    assert flagged(6)


def test_ks_statistic_is_exact_at_a_point_mass_and_at_tied_values() -> None:
    """Against the supremum taken by brute force on both sides of every recent value: scipy's
    ks_1samp assumes a continuous CDF and would count the jump at 0 as a distance of 0.10."""
    q = np.concatenate([np.zeros(11), np.linspace(0.0, 1.0, 91)[1:]])  # 10% at 0, then U(0, 1)
    cdf = reference_cdf(q)
    rng = np.random.default_rng(11)
    recent = np.concatenate([np.zeros(20), np.round(rng.uniform(0, 1, 180), 2)])  # ties
    ours = ks_statistic(recent, cdf)
    points = np.unique(recent)
    grid = np.concatenate([points, points - 1e-9, points + 1e-9, [-1.0, 2.0]])
    empirical = np.searchsorted(np.sort(recent), grid, side="right") / recent.size
    assert ours == pytest.approx(np.max(np.abs(empirical - cdf(grid))), abs=1e-6)
    assert ours < 0.1  # the zeros match the point mass: no distance from the jump itself
