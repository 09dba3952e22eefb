"""Champion/challenger at the margins: both margins inclusive, ``force``, the verdict's fields.

The numbers are binary-exact (0.25, 0.5, 0.75), so "exactly at the margin" is exact.
"""

from __future__ import annotations

import math
import warnings

import pytest

from breast_cancer_ml.domain.champion import (
    ChallengerRule,
    FoldScores,
    PairedDifference,
    decide_challenger,
    paired_difference,
)

RULE = ChallengerRule(recall_margin=0.25, auc_margin=0.25)
CHAMPION = FoldScores(recall=(1.0, 1.0), roc_auc=(1.0, 1.0))


def challenger(recall: tuple[float, float], auc: tuple[float, float]) -> FoldScores:
    return FoldScores(recall=recall, roc_auc=auc)


# (case, challenger's recall, challenger's AUC, replace)
MARGINS = [
    ("recall exactly at the margin", (0.75, 0.75), (1.0, 1.0), True),
    ("recall beyond the margin", (0.5, 0.75), (1.0, 1.0), False),
    ("AUC exactly at the margin", (1.0, 1.0), (0.75, 0.75), True),
    ("AUC beyond the margin", (1.0, 1.0), (0.5, 0.75), False),
    ("both exactly at their margins", (0.75, 0.75), (0.75, 0.75), True),
]


@pytest.mark.parametrize(
    ("recall", "auc", "replace"), [m[1:] for m in MARGINS], ids=[m[0] for m in MARGINS]
)
def test_each_margin_is_inclusive(
    recall: tuple[float, float], auc: tuple[float, float], replace: bool
) -> None:
    decision = decide_challenger(challenger(recall, auc), CHAMPION, RULE)
    assert decision.replace is replace
    assert decision.forced is False


def test_the_auc_margin_is_its_own_not_the_recall_margin() -> None:
    rule = ChallengerRule(recall_margin=0.5, auc_margin=0.0)
    worse_auc = challenger((1.0, 1.0), (0.75, 0.75))
    decision = decide_challenger(worse_auc, CHAMPION, rule)
    assert not decision.replace
    assert "ROC AUC is worse by more than the margin 0.0" in decision.reason
    assert "recall is worse" not in decision.reason


def test_a_refused_verdict_carries_both_paired_differences() -> None:
    decision = decide_challenger(challenger((0.5, 0.75), (0.75, 1.0)), CHAMPION, RULE)
    assert decision.replace is False
    assert decision.reason.startswith("champion kept: challenger recall is worse")
    assert decision.recall == PairedDifference(
        mean=-0.375, std_error=0.125, wins=0, losses=2, ties=0
    )
    assert decision.roc_auc == PairedDifference(
        mean=-0.125, std_error=0.125, wins=0, losses=1, ties=1
    )


def test_an_accepted_verdict_carries_both_paired_differences() -> None:
    decision = decide_challenger(challenger((1.0, 0.75), (1.0, 1.0)), CHAMPION, RULE)
    assert decision.replace is True
    assert decision.reason.startswith(
        "challenger not worse beyond the margins (recall 0.25, ROC AUC 0.25): on the same 2 folds"
    )
    assert decision.recall == PairedDifference(-0.125, 0.125, 0, 1, 1)
    assert decision.roc_auc == PairedDifference(0.0, 0.0, 0, 0, 2)


def test_force_promotes_a_worse_challenger_and_says_so() -> None:
    worse = challenger((0.5, 0.5), (1.0, 1.0))
    kept = decide_challenger(worse, CHAMPION, RULE)
    forced = decide_challenger(worse, CHAMPION, RULE, force=True)
    assert (kept.replace, kept.forced) == (False, False)
    assert (forced.replace, forced.forced) == (True, True)
    assert forced.reason.endswith("; promoted anyway because --force-promote is set")
    assert forced.recall == kept.recall
    assert forced.roc_auc == kept.roc_auc


def test_force_promotes_a_challenger_with_unmeasured_folds() -> None:
    unmeasured = challenger((math.nan, 1.0), (1.0, 1.0))
    kept = decide_challenger(unmeasured, CHAMPION, RULE)
    forced = decide_challenger(unmeasured, CHAMPION, RULE, force=True)
    assert (kept.replace, kept.forced, kept.recall, kept.roc_auc) == (False, False, None, None)
    assert kept.reason == "champion kept: challenger has unmeasured (NaN) fold scores"
    assert (forced.replace, forced.forced) == (True, True)
    assert forced.reason.startswith("challenger has unmeasured (NaN) fold scores; promoted anyway")


def test_nan_in_any_score_counts_as_unmeasured() -> None:
    auc_nan = challenger((1.0, 1.0), (1.0, math.nan))
    assert decide_challenger(auc_nan, CHAMPION, RULE).replace is False
    champion_auc_nan = challenger((1.0, 1.0), (math.nan, 1.0))
    decision = decide_challenger(CHAMPION, champion_auc_nan, RULE)
    assert (decision.replace, decision.forced) == (True, False)
    assert decision.reason == "champion has unmeasured (NaN) fold scores"
    assert (decision.recall, decision.roc_auc) == (None, None)


def test_the_first_champion_is_not_forced() -> None:
    decision = decide_challenger(CHAMPION, None, RULE, force=True)
    assert (decision.replace, decision.forced, decision.reason) == (
        True,
        False,
        "no current champion",
    )
    assert (decision.recall, decision.roc_auc) == (None, None)


def test_the_standard_error_of_two_folds_is_a_number() -> None:
    d = paired_difference([1.0, 0.5], [0.75, 0.75])
    assert d.std_error == pytest.approx(0.25)  # sample std 0.3536 / sqrt(2)


def test_the_standard_error_of_one_fold_is_undefined_quietly() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # NaN by the rule, not numpy's ddof warning
        d = paired_difference([1.0], [0.5])
    assert math.isnan(d.std_error)
    assert (d.mean, d.wins, d.losses, d.ties) == (0.5, 1, 0, 0)


def test_the_reason_states_the_mean_of_each_model() -> None:
    decision = decide_challenger(challenger((0.5, 1.0), (0.75, 0.75)), CHAMPION, RULE)
    assert "mean recall 0.7500 vs champion 1.0000" in decision.reason
    assert "mean ROC AUC 0.7500 vs 1.0000 (difference -0.2500)" in decision.reason
    assert "0 better/1 worse/1 equal folds" in decision.reason


@pytest.mark.parametrize(
    ("a", "b"),
    [([1.0, 0.5], [1.0]), ([[1.0], [0.5]], [[1.0], [0.5]]), ([], [])],
)
def test_paired_numbers_must_come_from_the_same_folds(a: list[float], b: list[float]) -> None:
    with pytest.raises(ValueError, match="same folds"):
        paired_difference(a, b)
