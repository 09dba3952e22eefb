"""Champion/challenger decisions as a table of cases (pure rule)."""

from __future__ import annotations

import math

import pytest

from breast_cancer_ml.domain.champion import (
    ChallengerRule,
    FoldScores,
    decide_challenger,
    paired_difference,
)

RULE = ChallengerRule(recall_margin=0.01, auc_margin=0.005)
BASE = FoldScores(recall=(0.95, 0.90, 1.0, 0.95), roc_auc=(0.995, 0.99, 1.0, 0.995))


def shifted(recall: float = 0.0, auc: float = 0.0, scores: FoldScores = BASE) -> FoldScores:
    return FoldScores(
        tuple(r + recall for r in scores.recall), tuple(a + auc for a in scores.roc_auc)
    )


# (case, challenger, champion, force, replace, forced, reason contains)
CASES = [
    ("no champion yet", BASE, None, False, True, False, "no current champion"),
    ("identical retrain", BASE, BASE, False, True, False, "not worse"),
    ("clearly better", shifted(0.03, 0.003), BASE, False, True, False, "not worse"),
    (
        "slightly worse recall, within margin",
        shifted(-0.009),
        BASE,
        False,
        True,
        False,
        "not worse",
    ),
    ("recall worse beyond margin", shifted(-0.02), BASE, False, False, False, "recall is worse"),
    ("auc worse beyond margin", shifted(0, -0.01), BASE, False, False, False, "ROC AUC is worse"),
    (
        "better recall does not excuse a collapsed AUC (call-everything-malignant)",
        FoldScores((1.0, 1.0, 1.0, 1.0), (0.5, 0.5, 0.5, 0.5)),
        BASE,
        False,
        False,
        False,
        "ROC AUC is worse",
    ),
    (
        "both worse",
        shifted(-0.05, -0.02),
        BASE,
        False,
        False,
        False,
        "margin 0.01 and ROC AUC is worse",
    ),
    ("worse but forced", shifted(-0.05), BASE, True, True, True, "--force-promote"),
    (
        "force on a better model is not 'forced'",
        shifted(0.02),
        BASE,
        True,
        True,
        False,
        "not worse",
    ),
    (
        "NaN in challenger is refused",
        FoldScores((math.nan, 1.0, 1.0, 1.0), BASE.roc_auc),
        BASE,
        False,
        False,
        False,
        "unmeasured",
    ),
    (
        "NaN in champion is replaced",
        BASE,
        FoldScores((math.nan, 1.0, 1.0, 1.0), BASE.roc_auc),
        False,
        True,
        False,
        "champion has unmeasured",
    ),
]


@pytest.mark.parametrize(
    ("challenger", "champion", "force", "replace", "forced", "reason"),
    [c[1:] for c in CASES],
    ids=[c[0] for c in CASES],
)
def test_decision_table(
    challenger: FoldScores,
    champion: FoldScores | None,
    force: bool,
    replace: bool,
    forced: bool,
    reason: str,
) -> None:
    decision = decide_challenger(challenger, champion, RULE, force=force)
    assert (decision.replace, decision.forced) == (replace, forced)
    assert reason in decision.reason


def test_margin_boundary_is_inclusive() -> None:
    rule = ChallengerRule(recall_margin=0.25, auc_margin=0.25)
    champion = FoldScores((1.0, 1.0), (1.0, 1.0))
    at = FoldScores((0.75, 0.75), (1.0, 1.0))  # exactly -0.25: binary-exact, not worse beyond
    below = FoldScores((0.5, 0.75), (1.0, 1.0))  # -0.375
    assert decide_challenger(at, champion, rule).replace
    assert not decide_challenger(below, champion, rule).replace


def test_reason_carries_both_models_numbers() -> None:
    decision = decide_challenger(shifted(-0.05), BASE, RULE)
    assert "0.9000 vs champion 0.9500" in decision.reason
    assert "difference -0.0500" in decision.reason
    assert "0 better/4 worse/0 equal" in decision.reason


def test_paired_difference_counts_folds() -> None:
    d = paired_difference([1.0, 0.9, 0.8], [0.9, 0.9, 0.9])
    assert d.mean == pytest.approx(0.0)
    assert (d.wins, d.losses, d.ties) == (1, 1, 1)
    assert d.std_error == pytest.approx(0.1 / math.sqrt(3))


def test_folds_must_match() -> None:
    with pytest.raises(ValueError, match="same folds"):
        decide_challenger(BASE, FoldScores((1.0,), (1.0,)), RULE)
