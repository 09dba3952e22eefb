"""Champion/challenger for ``bcml train``: get the champion's per-fold numbers on the same
folds as the challenger and apply :func:`~breast_cancer_ml.domain.champion.decide_challenger`.

Where the champion's numbers come from (cheapest first):

1. **stored**: a model promoted by this version keeps its per-fold recall and ROC AUC in
   ``promotion_metadata.json`` with a ``fold_spec`` (data version, test split, seed, folds,
   repeats, fold scheme, scikit-learn version). When it equals the challenger's, the folds are
   the same rows, so the stored numbers are reused (a JSON read: the default path stays fast).
2. **recomputed**: otherwise (new data, other folds or repeats, a model promoted before this
   rule existed) the champion's configuration (a clone of its fitted pipeline: same estimator
   and hyperparameters, unfitted) is cross-validated on the challenger's folds of the current
   training split, at the champion's own decision threshold.

If the champion cannot be read at all, it cannot be defended: the challenger replaces it and
the summary says why.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import NDArray

from breast_cancer_ml.domain.champion import (
    ChallengerDecision,
    ChallengerRule,
    FoldScores,
    PairedDifference,
    decide_challenger,
)
from breast_cancer_ml.domain.cross_validation import cross_validate
from breast_cancer_ml.domain.folds import FOLD_SCHEME
from breast_cancer_ml.domain.records import (
    ChallengerRuleRecord,
    ChallengerVerdict,
    ChampionInfo,
    DifferenceRecord,
    FoldNumbers,
    FoldSpec,
    PairedDifferenceRecord,
    parse_metadata,
)
from breast_cancer_ml.errors import ModelStoreError
from breast_cancer_ml.settings import TrainSettings


def fold_spec(data_version: str, settings: TrainSettings, k_folds: int) -> FoldSpec:
    """What makes two runs' CV folds the same rows."""
    import sklearn

    return FoldSpec(
        scheme=FOLD_SCHEME,
        data_version=data_version,
        smoke_fraction=settings.smoke_fraction if settings.smoke else 1.0,
        test_size=settings.test_size,
        seed=settings.seed,
        k_folds=k_folds,
        repeats=settings.repeats,
        scikit_learn=sklearn.__version__,
    )


def scores_of(folds: list[dict[str, float]]) -> FoldScores:
    return FoldScores(
        recall=tuple(float(f["recall"]) for f in folds),
        roc_auc=tuple(float(f["roc_auc"]) for f in folds),
    )


def champion_scores(
    settings: TrainSettings,
    spec: FoldSpec,
    X_train: NDArray[np.float64],
    y_train: NDArray[np.int64],
) -> tuple[FoldScores | None, ChampionInfo]:
    """The champion's per-fold scores on ``spec``'s folds, and where they came from."""
    from breast_cancer_ml.adapters import model_store

    latest = settings.models_dir / model_store.LATEST
    if not latest.exists():
        return None, ChampionInfo(present=False)
    try:
        folder = model_store.resolve_latest(settings.models_dir)
        metadata = parse_metadata(
            model_store.read_metadata(folder), str(folder / model_store.METADATA_FILE)
        )
    except ModelStoreError as exc:
        return None, ChampionInfo(present=True, source="unavailable", error=str(exc))
    info = ChampionInfo(
        present=True,
        run_id=metadata.run_id,
        model=metadata.model,
        threshold=metadata.threshold,
        folder=str(folder),
    )
    recall, auc = metadata.cv_fold_recall, metadata.cv_fold_roc_auc
    n_folds = spec.k_folds * spec.repeats
    if (
        metadata.fold_spec == spec
        and recall is not None
        and auc is not None
        and len(recall) == len(auc) == n_folds
    ):
        scores = FoldScores(tuple(recall), tuple(auc))
        return scores, _with(info, scores, "stored (same fold_spec)")
    try:
        published = model_store.load_published(folder)
    except ModelStoreError as exc:
        return None, info.model_copy(update={"source": "unavailable", "error": str(exc)})
    from sklearn.base import clone

    cv = cross_validate(
        metadata.model or "champion",
        X_train,
        y_train,
        spec.k_folds,
        settings.seed,
        threshold=published.threshold,
        repeats=spec.repeats,
        make_pipeline=lambda: clone(published.pipeline),
    )
    scores = scores_of(cv.folds)
    return scores, _with(
        info, scores, "recomputed: champion configuration cross-validated on the same folds"
    )


def _with(info: ChampionInfo, scores: FoldScores, source: str) -> ChampionInfo:
    return info.model_copy(update={"source": source, **_numbers(scores).model_dump()})


def challenge(
    settings: TrainSettings,
    spec: FoldSpec,
    cv_folds: list[dict[str, float]],
    X_train: NDArray[np.float64],
    y_train: NDArray[np.int64],
) -> ChallengerVerdict:
    """Decide champion/challenger; the verdict recorded in run_summary.json and the metadata."""
    rule = ChallengerRule(settings.challenger_recall_margin, settings.challenger_auc_margin)
    mine = scores_of(cv_folds)
    theirs, info = champion_scores(settings, spec, X_train, y_train)
    decision = decide_challenger(mine, theirs, rule, force=settings.force_promote)
    reason = decision.reason
    if theirs is None and info.present:
        reason = f"current champion could not be evaluated ({info.error}); replaced"
    return ChallengerVerdict(
        evaluated=True,
        replace=decision.replace,
        forced=decision.forced,
        force_promote=settings.force_promote,
        reason=reason,
        rule=ChallengerRuleRecord(
            name="paired per-fold recall and ROC AUC, not worse beyond the margins",
            recall_margin=rule.recall_margin,
            auc_margin=rule.auc_margin,
        ),
        challenger=_numbers(mine),
        champion=info,
        difference=_differences(decision),
    )


def _numbers(scores: FoldScores) -> FoldNumbers:
    return FoldNumbers(
        recall_mean=_mean(scores.recall),
        roc_auc_mean=_mean(scores.roc_auc),
        fold_recall=list(scores.recall),
        fold_roc_auc=list(scores.roc_auc),
    )


def _differences(decision: ChallengerDecision) -> DifferenceRecord | None:
    def one(d: PairedDifference | None) -> PairedDifferenceRecord | None:
        if d is None:
            return None
        return PairedDifferenceRecord(
            mean=d.mean,
            std_error=None if math.isnan(d.std_error) else d.std_error,
            better_folds=d.wins,
            worse_folds=d.losses,
            equal_folds=d.ties,
        )

    if decision.recall is None:
        return None
    return DifferenceRecord(recall=one(decision.recall), roc_auc=one(decision.roc_auc))


def _mean(values: tuple[float, ...]) -> float:
    return float(np.mean(values)) if values else math.nan
