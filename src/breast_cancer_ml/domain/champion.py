"""Champion/challenger: may a newly trained model replace the current champion?

A pure function of both models' per-fold numbers **on the same folds** (same training split,
same seeds). The fixed promotion gate is checked separately; this rule only asks whether the
challenger is worse than the champion beyond what fold-to-fold noise explains:

* recall: mean paired per-fold difference (challenger - champion) >= ``-recall_margin``;
* ROC AUC: mean paired per-fold difference >= ``-auc_margin``. AUC does not depend on the
  threshold, so a model that buys recall by calling everything malignant cannot slip through.

With about 17 malignant cases per validation fold, one missed case moves a fold's recall by
about 6 points and the 10-fold mean by about 0.6 points; the default recall margin (0.01) thus
tolerates under two missed cases per pass over the training split. ``--repeats`` averages over
more fold assignments and makes the decision more stable.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class ChallengerRule:
    """Tolerated drop in mean per-fold recall and ROC AUC before a challenger is refused."""

    recall_margin: float
    auc_margin: float


@dataclass(frozen=True)
class FoldScores:
    """One model's per-fold recall and ROC AUC, in fold order."""

    recall: tuple[float, ...]
    roc_auc: tuple[float, ...]


@dataclass(frozen=True)
class PairedDifference:
    """Challenger minus champion on the same folds."""

    mean: float
    std_error: float  # sample std of the differences / sqrt(n); NaN for one fold
    wins: int  # folds where the challenger is higher
    losses: int  # folds where it is lower
    ties: int


@dataclass(frozen=True)
class ChallengerDecision:
    """``replace`` is what happens; ``forced`` when only ``--force-promote`` made it so."""

    replace: bool
    forced: bool
    reason: str
    recall: PairedDifference | None
    roc_auc: PairedDifference | None


def paired_difference(challenger: Sequence[float], champion: Sequence[float]) -> PairedDifference:
    """Mean and standard error of per-fold differences; wins/losses/ties count folds."""
    a = np.asarray(challenger, dtype=float)  # pragma: no mutate (floats in: float64 anyway)
    b = np.asarray(champion, dtype=float)  # pragma: no mutate (floats in: float64 anyway)
    if a.shape != b.shape or a.ndim != 1 or a.size == 0:
        raise ValueError(
            f"per-fold numbers must come from the same folds; got {a.size} and {b.size} values"
        )
    d = a - b
    se = float(d.std(ddof=1) / math.sqrt(d.size)) if d.size > 1 else math.nan
    return PairedDifference(
        mean=float(d.mean()),
        std_error=se,
        wins=int(np.sum(d > 0)),
        losses=int(np.sum(d < 0)),
        ties=int(np.sum(d == 0)),
    )


def decide_challenger(
    challenger: FoldScores,
    champion: FoldScores | None,
    rule: ChallengerRule,
    *,
    force: bool = False,
) -> ChallengerDecision:
    """Replace the champion unless the challenger is worse beyond the rule's margins.

    ``champion`` is ``None`` when there is no champion (first promotion). NaN scores count as
    unmeasured: a challenger with one is refused, a champion with one is replaced.
    """
    if champion is None:
        return ChallengerDecision(True, False, "no current champion", None, None)
    if _has_nan(challenger):
        return _refuse_or_force(
            "challenger has unmeasured (NaN) fold scores", None, None, force=force
        )
    if _has_nan(champion):
        return ChallengerDecision(
            True, False, "champion has unmeasured (NaN) fold scores", None, None
        )
    recall = paired_difference(challenger.recall, champion.recall)
    auc = paired_difference(challenger.roc_auc, champion.roc_auc)
    n = len(challenger.recall)
    facts = (
        f"on the same {n} folds, mean recall {_mean(challenger.recall):.4f} vs champion "
        f"{_mean(champion.recall):.4f} (difference {recall.mean:+.4f}, "
        f"{recall.wins} better/{recall.losses} worse/{recall.ties} equal folds), "
        f"mean ROC AUC {_mean(challenger.roc_auc):.4f} vs {_mean(champion.roc_auc):.4f} "
        f"(difference {auc.mean:+.4f})"
    )
    problems = []
    if recall.mean < -rule.recall_margin:
        problems.append(f"recall is worse by more than the margin {rule.recall_margin}")
    if auc.mean < -rule.auc_margin:
        problems.append(f"ROC AUC is worse by more than the margin {rule.auc_margin}")
    if not problems:
        return ChallengerDecision(
            True,
            False,
            f"challenger not worse beyond the margins (recall {rule.recall_margin}, "
            f"ROC AUC {rule.auc_margin}): {facts}",
            recall,
            auc,
        )
    return _refuse_or_force(
        f"challenger {' and '.join(problems)}: {facts}", recall, auc, force=force
    )


def _refuse_or_force(
    why: str,
    recall: PairedDifference | None,
    auc: PairedDifference | None,
    *,
    force: bool,
) -> ChallengerDecision:
    if force:
        return ChallengerDecision(
            True, True, f"{why}; promoted anyway because --force-promote is set", recall, auc
        )
    return ChallengerDecision(False, False, f"champion kept: {why}", recall, auc)


def _has_nan(scores: FoldScores) -> bool:
    return any(math.isnan(v) for v in (*scores.recall, *scores.roc_auc))


def _mean(values: Sequence[float]) -> float:
    return float(np.mean(values))
