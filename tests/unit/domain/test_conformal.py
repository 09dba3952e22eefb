"""The Mondrian split-conformal rule by hand: the corrected quantile, the sets at their
boundaries, the decision, the choice of alpha and the stored parameters."""

from __future__ import annotations

import math

import numpy as np
import pytest

from breast_cancer_ml.domain.conformal import (
    DEFAULT_ALPHAS,
    DEFAULT_MAX_REFER_RATE,
    MARGINAL,
    MONDRIAN,
    ConformalParams,
    choose_alpha,
    decide,
    decide_one,
    evaluate,
    fit,
    joined_set_names,
    prediction_sets,
    set_names,
)

#: 19 benign cases at p = 0.01 ... 0.19 and 19 malignant at p = 0.81 ... 0.99: the benign
#: scores (p) and the malignant scores (1 - p) are both 0.01 ... 0.19.
STEPS = np.round(np.arange(1, 20) / 100, 2)
Y19 = np.array([0] * 19 + [1] * 19)
P19 = np.concatenate([STEPS, np.round(1 - STEPS, 2)])


def params(q_benign: float, q_malignant: float) -> ConformalParams:
    return ConformalParams(
        alpha=0.1, q_benign=q_benign, q_malignant=q_malignant, n_benign=10, n_malignant=10
    )


@pytest.mark.parametrize(
    ("alpha", "rank", "quantile"),
    [
        # k = ceil((19 + 1) * (1 - alpha)): 0.1 -> 18; 0.05 -> 19 (20 * 0.95 is 19, not 20);
        # 0.25 -> 15; 0.04 -> ceil(19.2) = 20 > 19: the class is always in the set (q = 1)
        (0.1, 18, 0.18),
        (0.05, 19, 0.19),
        (0.25, 15, 0.15),
        (0.04, 20, 1.0),
    ],
)
def test_the_quantile_is_the_kth_smallest_score_with_the_finite_sample_correction(
    alpha: float, rank: int, quantile: float
) -> None:
    got = fit(Y19, P19, alpha)
    assert got.q_benign == pytest.approx(quantile)
    assert got.q_malignant == pytest.approx(quantile)
    assert (got.n_benign, got.n_malignant, got.alpha) == (19, 19, alpha)


def test_the_rank_is_not_pushed_up_by_floating_point_error() -> None:
    # n = 9, alpha = 0.7: (9 + 1) * (1 - 0.7) is 3.0000000000000004 in floating point; the
    # rank is ceil(3) = 3 (score 0.3), not 4 (score 0.4)
    y = [0] * 9 + [1]
    p = [round(k / 10, 1) for k in range(1, 10)] + [0.9]
    assert fit(y, p, 0.7).q_benign == pytest.approx(0.3)


def test_each_class_gets_its_own_quantile() -> None:
    # benign scores 0.1, 0.2, 0.3; malignant scores 1 - p = 0.05, 0.4, 0.5, 0.6
    y = [0, 0, 0, 1, 1, 1, 1]
    p = [0.1, 0.2, 0.3, 0.95, 0.6, 0.5, 0.4]
    # alpha 0.5: benign k = ceil(4 * 0.5) = 2 -> 0.2; malignant k = ceil(5 * 0.5) = 3 -> 0.5
    got = fit(y, p, 0.5)
    assert got.q_benign == pytest.approx(0.2)
    assert got.q_malignant == pytest.approx(0.5)


def test_the_marginal_method_shares_one_quantile_of_every_cases_true_class_score() -> None:
    # true-class scores: benign p = 0.1, 0.2, 0.3; malignant 1 - p = 0.05, 0.4, 0.5, 0.6
    # sorted: 0.05 0.1 0.2 0.3 0.4 0.5 0.6; alpha 0.5: k = ceil(8 * 0.5) = 4 -> 0.3
    y = [0, 0, 0, 1, 1, 1, 1]
    p = [0.1, 0.2, 0.3, 0.95, 0.6, 0.5, 0.4]
    got = fit(y, p, 0.5, method=MARGINAL)
    assert got.q_benign == pytest.approx(0.3)
    assert got.q_malignant == pytest.approx(0.3)
    assert got.method == MARGINAL
    assert fit(y, p, 0.5).method == MONDRIAN  # the default
    with pytest.raises(ValueError, match="unknown conformal method"):
        fit(y, p, 0.5, method="other")  # type: ignore[arg-type]


def test_sets_include_a_class_whose_score_equals_its_quantile() -> None:
    rule = params(q_benign=0.25, q_malignant=0.25)
    # benign in the set when p <= 0.25; malignant when 1 - p <= 0.25, i.e. p >= 0.75
    sets = prediction_sets(rule, [0.25, float(np.nextafter(0.25, 1)), 0.75, 0.5, 0.0, 1.0])
    assert sets.tolist() == [
        [True, False],
        [False, False],
        [False, True],
        [False, False],
        [True, False],
        [False, True],
    ]


def test_overlapping_quantiles_give_both_classes() -> None:
    rule = params(q_benign=0.6, q_malignant=0.6)  # benign p <= 0.6, malignant p >= 0.4
    assert prediction_sets(rule, [0.5]).tolist() == [[True, True]]
    assert set_names([True, True]) == ["Benign", "Malignant"]
    assert set_names([False, True]) == ["Malignant"]
    assert set_names([True, False]) == ["Benign"]
    assert set_names([False, False]) == []


def test_batch_sets_are_class_names_joined_by_a_semicolon() -> None:
    sets = np.array([[True, False], [False, True], [True, True], [False, False]])
    assert joined_set_names(sets).tolist() == ["Benign", "Malignant", "Benign;Malignant", ""]
    rule = params(q_benign=0.6, q_malignant=0.6)
    p = [0.0, 0.5, 1.0]
    got = joined_set_names(prediction_sets(rule, p)).tolist()
    assert got == [";".join(set_names(row)) for row in prediction_sets(rule, p)]
    with pytest.raises(ValueError, match=r"\(n, 2\)"):
        joined_set_names([True, False])


def test_decision_is_the_single_class_and_refer_otherwise() -> None:
    rule = params(q_benign=0.25, q_malignant=0.25)
    assert decide(rule, [0.1, 0.5, 0.9]).tolist() == ["benign", "refer", "malignant"]
    both = params(q_benign=0.6, q_malignant=0.6)
    assert decide(both, [0.5, 0.1, 0.9]).tolist() == ["refer", "benign", "malignant"]


def test_a_case_outside_the_envelope_is_referred_whatever_its_set() -> None:
    rule = params(q_benign=0.25, q_malignant=0.25)
    got = decide(rule, [0.1, 0.9, 0.1], in_envelope=[False, False, True])
    assert got.tolist() == ["refer", "refer", "benign"]


def test_a_set_that_disagrees_with_the_operating_prediction_is_referred() -> None:
    # threshold 0.05: p = 0.1 is predicted malignant, but its set is {Benign}
    rule = params(q_benign=0.25, q_malignant=0.25)
    got = decide(rule, [0.1, 0.01, 0.9, 0.9], prediction=[1, 0, 1, 0])
    assert got.tolist() == ["refer", "benign", "malignant", "refer"]


def test_decide_one_matches_decide_at_every_kind_of_case() -> None:
    rules = [params(0.25, 0.25), params(0.6, 0.6), params(1.0, 0.0)]
    probabilities = [0.0, 0.1, 0.25, 0.3, 0.5, 0.75, 0.9, 1.0]
    for rule in rules:
        for p in probabilities:
            for env in (True, False):
                for pred in (None, 0, 1):
                    names, decision = decide_one(rule, p, in_envelope=env, prediction=pred)
                    array_pred = None if pred is None else [pred]
                    want = decide(rule, [p], in_envelope=[env], prediction=array_pred)[0]
                    assert decision == want, (rule, p, env, pred)
                    assert names == set_names(prediction_sets(rule, [p])[0])


@pytest.mark.parametrize("bad", [math.nan, -0.1, 1.1])
def test_decide_one_refuses_a_probability_outside_0_1(bad: float) -> None:
    with pytest.raises(ValueError, match="probability"):
        decide_one(params(0.2, 0.2), bad, prediction=None)


def test_decide_checks_the_shapes_of_envelope_and_prediction() -> None:
    with pytest.raises(ValueError, match="in_envelope"):
        decide(params(0.2, 0.2), [0.1, 0.2], in_envelope=[True])
    with pytest.raises(ValueError, match="prediction"):
        decide(params(0.2, 0.2), [0.1, 0.2], prediction=[1, 0, 1])
    with pytest.raises(ValueError, match="within"):
        prediction_sets(params(0.2, 0.2), [1.5])


def test_choose_alpha_takes_the_smallest_alpha_that_keeps_refer_within_budget() -> None:
    """Perfect scores, 20 cases per class: below alpha = 1/21 (0.0476) the corrected rank
    ceil(21 * (1 - alpha)) exceeds 20, both classes are in every set and every case is referred;
    from alpha = 0.048 on each set is the true class alone. So the choice is 0.048."""
    y = [0] * 20 + [1] * 20
    p = [0.0] * 20 + [1.0] * 20
    choice = choose_alpha(y, p, max_refer_rate=0.05)
    assert choice.params.alpha == 0.048
    assert choice.refer_rate == 0.0
    assert choice.within_budget
    assert choice.params.q_benign == 0.0
    assert choice.params.q_malignant == 0.0


def test_choose_alpha_equals_a_loop_of_fit_and_evaluate_over_the_grid() -> None:
    rng = np.random.default_rng(5)
    y = rng.integers(0, 2, 300)
    p = np.clip(0.15 + 0.7 * y + rng.normal(0, 0.18, 300), 0, 1)
    pred = (p >= 0.4).astype(int)
    for budget, prediction, method in [
        (0.02, None, MONDRIAN),
        (0.05, pred, MONDRIAN),
        (0.15, None, MONDRIAN),
        (0.05, None, MARGINAL),
        (0.02, pred, MARGINAL),
    ]:
        rates = [
            evaluate(fit(y, p, a, method=method), y, p, prediction=prediction).refer_rate
            for a in DEFAULT_ALPHAS
        ]
        fitting = [a for a, r in zip(DEFAULT_ALPHAS, rates, strict=True) if r <= budget]
        choice = choose_alpha(y, p, max_refer_rate=budget, prediction=prediction, method=method)
        if fitting:
            assert choice.params == fit(y, p, fitting[0], method=method)
            assert choice.within_budget
        else:
            assert choice.params.alpha == DEFAULT_ALPHAS[int(np.argmin(rates))]
            assert not choice.within_budget
        assert choice.refer_rate == pytest.approx(
            evaluate(choice.params, y, p, prediction=prediction).refer_rate
        )


def test_a_refer_rate_exactly_at_the_budget_is_within_it() -> None:
    """One case of 20 referred (its set disagrees with its prediction) is 1 - 19/20, which is
    0.050000000000000044 in floating point: still within a 5% budget."""
    y = [0] * 10 + [1] * 10
    p = [0.0] * 10 + [1.0] * 10
    prediction = [1] + [0] * 9 + [1] * 10
    choice = choose_alpha(y, p, max_refer_rate=0.05, prediction=prediction, alphas=[0.1])
    assert choice.refer_rate == pytest.approx(0.05)
    assert choice.within_budget
    assert not choose_alpha(
        y, p, max_refer_rate=0.049, prediction=prediction, alphas=[0.1]
    ).within_budget


def test_when_no_alpha_meets_the_budget_the_lowest_refer_rate_is_returned() -> None:
    # one benign case scores above a malignant one: some case is always referred or wrong
    y = [0, 0, 0, 1, 1, 1]
    p = [0.1, 0.2, 0.7, 0.6, 0.8, 0.9]
    choice = choose_alpha(y, p, max_refer_rate=0.0, alphas=[0.1, 0.2, 0.3, 0.5])
    assert not choice.within_budget
    assert choice.refer_rate > 0
    rates = {a: evaluate(fit(y, p, a), y, p).refer_rate for a in (0.1, 0.2, 0.3, 0.5)}
    assert choice.refer_rate == min(rates.values())
    assert choice.params.alpha == min(a for a, r in rates.items() if r == min(rates.values()))


def test_the_default_budget_is_5_percent_over_alphas_0_001_to_0_2() -> None:
    assert DEFAULT_MAX_REFER_RATE == 0.05
    assert DEFAULT_ALPHAS[0] == 0.001
    assert DEFAULT_ALPHAS[-1] == 0.2
    assert len(DEFAULT_ALPHAS) == 200


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"max_refer_rate": 1.5}, "max_refer_rate"),
        ({"max_refer_rate": -0.1}, "max_refer_rate"),
        ({"alphas": []}, "alphas"),
        ({"alphas": [0.0]}, "alpha"),
        ({"alphas": [1.0]}, "alpha"),
        ({"prediction": [1]}, "prediction"),
    ],
)
def test_choose_alpha_refuses_bad_settings(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        choose_alpha(Y19, P19, **kwargs)  # type: ignore[arg-type]


def test_calibration_needs_both_classes_and_a_valid_alpha() -> None:
    with pytest.raises(ValueError, match="both classes"):
        fit([1, 1], [0.9, 0.8], 0.1)
    with pytest.raises(ValueError, match="both classes"):
        choose_alpha([0, 0], [0.1, 0.2])
    with pytest.raises(ValueError, match="alpha"):
        fit(Y19, P19, 0.0)
    with pytest.raises(ValueError, match="one length"):
        fit([0, 1], [0.1], 0.1)
    with pytest.raises(ValueError, match="within"):
        fit([0, 1], [0.1, 1.2], 0.1)


def test_evaluate_by_hand() -> None:
    # benign in the set when p <= 0.25, malignant when p >= 0.75
    rule = params(q_benign=0.25, q_malignant=0.25)
    y = [0, 0, 0, 0, 1, 1, 1, 1]
    p = [0.1, 0.2, 0.5, 0.8, 0.9, 0.95, 0.5, 0.1]
    # sets: B B {} M | M M {} B -> decisions: benign benign refer malignant | mal mal refer benign
    report = evaluate(rule, y, p)
    assert report.n == 8
    assert report.refer_rate == pytest.approx(2 / 8)
    assert report.coverage_benign == pytest.approx(2 / 4)  # 0.1 and 0.2 hold Benign
    assert report.coverage_malignant == pytest.approx(2 / 4)  # 0.9 and 0.95 hold Malignant
    assert report.n_decided == 6
    # decided: 0.1 B ok, 0.2 B ok, 0.8 M wrong, 0.9 M ok, 0.95 M ok, 0.1 B wrong (a missed cancer)
    assert report.decided_accuracy == pytest.approx(4 / 6)
    assert report.decided_recall == pytest.approx(2 / 3)
    assert report.decided_precision == pytest.approx(2 / 3)


def test_evaluate_with_everything_referred_has_undefined_decided_metrics() -> None:
    report = evaluate(params(0.9, 0.9), [0, 1], [0.5, 0.5])
    assert report.refer_rate == 1.0
    assert report.n_decided == 0
    assert math.isnan(report.decided_accuracy)
    assert math.isnan(report.decided_recall)
    assert math.isnan(report.decided_precision)
    assert report.coverage_benign == 1.0


def test_parameters_round_trip_through_the_metadata() -> None:
    original = fit(Y19, P19, 0.1)
    data = original.to_metadata()
    assert data == {
        "method": "mondrian-split-conformal",
        "alpha": 0.1,
        "quantiles": {"benign": 0.18, "malignant": pytest.approx(0.18)},
        "n_calibration": {"benign": 19, "malignant": 19},
    }
    assert ConformalParams.from_metadata(data) == original
    marginal = fit(Y19, P19, 0.1, method=MARGINAL)
    assert marginal.to_metadata()["method"] == "split-conformal"
    assert ConformalParams.from_metadata(marginal.to_metadata()) == marginal


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"method": "other"}, "unknown conformal method"),
        ({"alpha": 0.0}, "alpha"),
        ({"quantiles": {"benign": 1.5, "malignant": 0.1}}, "q_benign"),
        ({"quantiles": {"benign": 0.1, "malignant": -0.1}}, "q_malignant"),
        ({"n_calibration": {"benign": 3, "malignant": 0}}, "at least one"),
        ({"quantiles": {"benign": 0.1}}, "missing"),
        ({"n_calibration": {"benign": 0, "malignant": 3}}, "at least one"),
        ({"quantiles": None}, "incomplete"),
    ],
)
def test_bad_metadata_is_refused_with_the_reason(change: dict[str, object], message: str) -> None:
    data = {**fit(Y19, P19, 0.1).to_metadata(), **change}
    with pytest.raises(ValueError, match=message):
        ConformalParams.from_metadata(data)
