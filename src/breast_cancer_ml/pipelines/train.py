"""``bcml train``: validate, split, cross-validate, fit, evaluate, log, gate, promote.

Each step is a small function; :func:`run_training` only orchestrates them. Validation happens
before any MLflow run starts, so invalid data never produces a run or a promotion.
"""

from __future__ import annotations

import datetime as dt
import platform
import subprocess
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from breast_cancer_ml import __version__
from breast_cancer_ml.adapters.dataset import Dataset, load_dataset
from breast_cancer_ml.domain.contract import Envelope
from breast_cancer_ml.domain.cross_validation import CVResult, cross_validate, cv_at_threshold
from breast_cancer_ml.domain.decision import DEFAULT_THRESHOLD, classify
from breast_cancer_ml.domain.drift import DriftProfile, build_profile
from breast_cancer_ml.domain.explain import build_params as build_explainer
from breast_cancer_ml.domain.metrics import brier, classification_metrics, specificity
from breast_cancer_ml.domain.models import build_pipeline, estimator_params, get_candidate
from breast_cancer_ml.domain.promotion import GateDecision, GateThresholds, evaluate_gate
from breast_cancer_ml.domain.records import (
    ChallengerVerdict,
    FoldSpec,
    GateRecord,
    PromotionMetadata,
    RegisteredModel,
    RunSummary,
)
from breast_cancer_ml.domain.schema import FEATURES, N_FEATURES
from breast_cancer_ml.domain.validation import check_class_counts
from breast_cancer_ml.errors import ConfigError
from breast_cancer_ml.pipelines.champion import challenge, fold_spec
from breast_cancer_ml.pipelines.train_evidence import (
    Evidence,
    calibration_record,
    gather,
    pooled_oof,
    refer_record,
    subgroup_records,
)
from breast_cancer_ml.settings import TrainSettings

if TYPE_CHECKING:
    from breast_cancer_ml.adapters.tracking import Tracker


@dataclass(frozen=True)
class Split:
    X_train: NDArray[np.float64]
    X_test: NDArray[np.float64]
    y_train: NDArray[np.int64]
    y_test: NDArray[np.int64]


@dataclass(frozen=True)
class Outcome:
    """Everything trained, measured and decided before anything is logged."""

    dataset: Dataset
    split: Split
    final: Any
    params: dict[str, Any]
    metrics: dict[str, float]
    cv: CVResult
    gate: GateDecision
    eligible: bool
    not_promoted_reason: str | None
    test_pred: NDArray[np.int64]
    threshold: float
    spec: FoldSpec
    evidence: Evidence
    verdict: ChallengerVerdict


@dataclass
class TrainingResult:
    """What a training run produced; ``summary`` is the content of ``run_summary.json``."""

    run_id: str
    promoted: bool
    gate: GateDecision
    summary: RunSummary
    published_path: Path | None = None
    artifacts: list[str] = field(default_factory=list)


def smoke_sample(dataset: Dataset, fraction: float, seed: int) -> Dataset:
    """A stratified ``fraction`` of the rows, for fast smoke runs."""
    if fraction >= 1:
        return dataset
    from sklearn.model_selection import train_test_split

    idx = np.arange(dataset.n_rows)
    keep, _ = train_test_split(idx, train_size=fraction, stratify=dataset.y, random_state=seed)
    keep = np.sort(keep)
    ids = dataset.ids[keep] if dataset.ids is not None else None
    return Dataset(dataset.path, dataset.data_version, dataset.X[keep], dataset.y[keep], ids)


def split_dataset(dataset: Dataset, test_size: float, seed: int) -> Split:
    """Stratified, seeded train/test split."""
    from sklearn.model_selection import train_test_split

    X_train, X_test, y_train, y_test = train_test_split(
        dataset.X, dataset.y, test_size=test_size, stratify=dataset.y, random_state=seed
    )
    return Split(X_train, X_test, y_train, y_test)


def choose_threshold(cv: CVResult, y: NDArray[np.int64], target_recall: float | None) -> float:
    """The threshold for ``target_recall`` from the pooled out-of-fold predictions (all
    repeats) of the training split, or the default 0.5 without a target."""
    if target_recall is None:
        return DEFAULT_THRESHOLD
    from breast_cancer_ml.domain.threshold import threshold_for_recall

    y_pooled = np.concatenate([y[idx] for idx in cv.fold_test_idx])
    return threshold_for_recall(y_pooled, np.concatenate(cv.fold_proba), target_recall)


def tune_params(
    settings: TrainSettings, X: NDArray[np.float64], y: NDArray[np.int64]
) -> dict[str, Any]:
    """With ``--tune``: the registry grid point with the best mean ``tune_metric`` over
    ``inner_k_folds`` stratified folds of the training split (as one inner loop of
    ``bcml compare --tune``); else ``{}`` (registry defaults)."""
    if not settings.tune:
        return {}
    from breast_cancer_ml.domain.folds import stratified_folds
    from breast_cancer_ml.domain.nested_cv import grid_points, inner_selection

    points = grid_points(get_candidate(settings.model).grid)
    if len(points) == 1:
        return dict(points[0])
    inner = [
        (f.train, f.test) for f in stratified_folds(y, settings.inner_k_folds, 1, settings.seed)
    ]
    params, _, _ = inner_selection(
        lambda p: build_pipeline(settings.model, settings.seed).set_params(**p),
        points,
        X,
        y,
        inner,
        settings.tune_metric,
        settings.target_recall,
    )
    return params


def environment_tags() -> dict[str, str]:
    """Versions of what produced the model, and the git commit when run from a checkout."""
    import importlib.metadata as md

    tags = {"bcml.version": __version__, "python_version": platform.python_version()}
    for dist in ("scikit-learn", "numpy", "pandas", "mlflow", "skops"):
        try:
            tags[f"{dist}_version"] = md.version(dist)
        except md.PackageNotFoundError:  # pragma: no cover - all are dependencies
            continue
    commit = _git("rev-parse", "HEAD")
    if commit:
        tags["git_commit"] = tags["mlflow.source.git.commit"] = commit
        tags["git_dirty"] = str(bool(_git("status", "--porcelain", "--untracked-files=no")))
    return tags


def _git(*args: str) -> str:
    try:
        out = subprocess.run(["git", *args], capture_output=True, text=True, timeout=5, check=True)
    except (OSError, subprocess.SubprocessError):
        return ""
    return out.stdout.strip()


def run_training(settings: TrainSettings) -> TrainingResult:
    """The whole ``bcml train`` job."""
    try:
        get_candidate(settings.model)  # fail fast on an unknown model name
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    k_folds = settings.k_folds
    if settings.smoke and "k_folds" not in settings.model_fields_set:
        k_folds = settings.smoke_k_folds

    dataset = load_dataset(settings.data)
    check_class_counts(dataset.y, k_folds, str(settings.data))
    if settings.smoke:
        dataset = smoke_sample(dataset, settings.smoke_fraction, settings.seed)
    split = split_dataset(dataset, settings.test_size, settings.seed)
    check_class_counts(split.y_train, k_folds, f"{settings.data} (training split)")

    tuned = tune_params(settings, split.X_train, split.y_train)

    def make_pipeline() -> Any:
        return build_pipeline(settings.model, settings.seed).set_params(**tuned)

    cv = cross_validate(
        settings.model, split.X_train, split.y_train, k_folds, settings.seed,
        repeats=settings.repeats, make_pipeline=make_pipeline,
    )  # fmt: skip
    # The threshold comes from out-of-fold predictions of the training split only.
    threshold = choose_threshold(cv, split.y_train, settings.target_recall)
    if threshold != DEFAULT_THRESHOLD:
        cv = cv_at_threshold(cv, split.y_train, threshold)
    final = make_pipeline().fit(split.X_train, split.y_train)
    test_proba = final.predict_proba(split.X_test)[:, 1]
    test_pred = classify(test_proba, threshold)
    test = classification_metrics(split.y_test, test_pred, test_proba)
    test["specificity"] = specificity(split.y_test, test_pred)
    test["brier"] = brier(split.y_test, test_proba)
    # Calibration, CIs, decision curve, subgroups and the refer rule (issue 12). The test
    # split is a report, never a decision: its uncertainty is shown beside it.
    evidence = gather(
        cv=cv, X_train=split.X_train, y_train=split.y_train, y_test=split.y_test,
        test_proba=test_proba, test_pred=test_pred, threshold=threshold,
        min_recall=settings.min_recall, max_refer_rate=settings.max_refer_rate,
        conformal_alpha=settings.conformal_alpha, seed=settings.seed,
    )  # fmt: skip
    evidence_metrics = evidence.metrics()

    thresholds = GateThresholds(
        settings.min_recall, settings.max_recall_std, settings.max_ece, settings.max_brier
    )
    gate = evaluate_gate(
        cv.summary["recall_mean"],
        cv.summary["recall_std"],
        thresholds,
        ece=evidence_metrics["cv_ece"],
        brier=evidence_metrics["cv_brier_mean"],
    )

    params: dict[str, Any] = {
        "model_type": get_candidate(settings.model).model_type,
        "k_folds": k_folds,
        "cv_repeats": settings.repeats,
        "threshold": threshold,
        "target_recall": settings.target_recall,
        "tune": settings.tune,
        **estimator_params(final, settings.model),
        "random_state": settings.seed,
        "data_version": dataset.data_version,
        "n_samples_train": len(split.y_train),
        "n_samples_test": len(split.y_test),
        "n_features": N_FEATURES,
    }
    metrics = {f"cv_{k}": v for k, v in cv.summary.items()}
    metrics |= {f"test_{k}": v for k, v in test.items()}
    metrics |= evidence_metrics

    if settings.smoke:
        eligible, not_promoted_reason = False, "smoke run: never promoted"
    elif not gate.passed:
        eligible, not_promoted_reason = False, "gate failed"
    else:
        eligible, not_promoted_reason = True, None

    spec = fold_spec(dataset.data_version, settings, k_folds)
    if eligible:
        verdict = challenge(settings, spec, cv.folds, split.X_train, split.y_train)
        if not verdict.replace:
            eligible, not_promoted_reason = False, "champion/challenger: champion kept"
    else:
        verdict = ChallengerVerdict(evaluated=False, reason=not_promoted_reason)

    outcome = Outcome(
        dataset=dataset, split=split, final=final, params=params, metrics=metrics, cv=cv,
        gate=gate, eligible=eligible, not_promoted_reason=not_promoted_reason,
        test_pred=test_pred, threshold=threshold, spec=spec, evidence=evidence, verdict=verdict,
    )  # fmt: skip
    return _track_and_promote(settings, outcome)


def _track_and_promote(settings: TrainSettings, o: Outcome) -> TrainingResult:
    from breast_cancer_ml.adapters import reports
    from breast_cancer_ml.adapters.tracking import Tracker

    with tempfile.TemporaryDirectory(prefix="bcml-train-") as tmp_name:
        tmp = Path(tmp_name)
        cm_png = tmp / "confusion_matrix.png"
        counts = reports.confusion_counts(o.split.y_test, o.test_pred)
        title = f"Test split (n={len(o.split.y_test)}), {settings.model}"
        cal_png, dca_png = tmp / "calibration.png", tmp / "decision_curve.png"
        ev = o.evidence
        curves = {
            f"CV out-of-fold (n={sum(ev.cv_calibration.curve.count)})": ev.cv_calibration.curve,
            f"test split (n={len(o.split.y_test)})": ev.test_calibration.curve,
        }
        # one forked process draws every picture while MLflow starts
        png_done = reports.start_pngs(
            [
                (cm_png, lambda: reports.write_confusion_matrix_png(counts, cm_png, title)),
                (
                    cal_png,
                    lambda: reports.write_calibration_png(
                        curves, cal_png, f"Reliability diagram, {settings.model}"
                    ),
                ),
                (
                    dca_png,
                    lambda: reports.write_decision_curve_png(
                        ev.decision_curve,
                        o.threshold,
                        dca_png,
                        f"Decision curve, CV out-of-fold, {settings.model}",
                    ),
                ),
            ]
        )
        tables = [tmp / "decision_curve.csv", tmp / "subgroups.csv"]
        reports.write_csv(ev.decision_curve.rows(), tables[0])
        reports.write_csv([r.as_record() for r in ev.subgroups], tables[1])
        report_txt = tmp / "classification_report.txt"
        report_txt.write_text(reports.classification_report_text(o.split.y_test, o.test_pred))
        tracker = Tracker(settings.tracking_uri)
        tags = {
            **environment_tags(),
            "bcml.smoke": str(settings.smoke).lower(),
            "bcml.model": settings.model,
            "data_path": str(settings.data),
        }
        with tracker.run(settings.experiment, tags, run_name=run_name(settings)) as run_id:
            pictures = [cm_png, cal_png, dca_png]
            return _log_and_promote(
                settings, o, tracker, run_id, tmp, pictures, [report_txt, *tables], png_done
            )


def drift_reference(o: Outcome) -> DriftProfile:
    """The drift reference of the training split: its quantile sketch, and the rates of its
    out-of-fold predictions at the model's threshold (never the test split)."""
    X_train = o.split.X_train
    oof = pooled_oof(o.cv, o.split.y_train, o.threshold)
    outside = ~Envelope.from_training(X_train).in_distribution(X_train)  # 0 by construction
    return build_profile(
        X_train,
        predicted_malignant_rate=float(np.mean(oof.pred)),
        out_of_range_rate=float(np.mean(outside)),
        refer_rate=o.evidence.refer.choice.refer_rate,
    )


def run_name(settings: TrainSettings, now: dt.datetime | None = None) -> str:
    """``<model>-seed<seed>-<yyyymmdd-hhmm>`` (UTC): a name a person can tell apart."""
    when = now or dt.datetime.now(dt.UTC)
    return f"{settings.model}-seed{settings.seed}-{when:%Y%m%d-%H%M}"


def _log_and_promote(
    settings: TrainSettings,
    o: Outcome,
    tracker: Tracker,
    run_id: str,
    tmp: Path,
    pictures: list[Path],
    texts: list[Path],
    png_done: Callable[[], None],
) -> TrainingResult:
    import importlib.metadata as md

    import pandas as pd

    from breast_cancer_ml.adapters import model_card, model_store

    dataset, split, final, params, metrics, cv, gate = (
        o.dataset, o.split, o.final, o.params, o.metrics, o.cv, o.gate
    )  # fmt: skip
    eligible, not_promoted_reason, threshold = o.eligible, o.not_promoted_reason, o.threshold
    tracker.log_params(params)
    tracker.log_metrics(metrics)

    example = pd.DataFrame(split.X_train[:2], columns=list(FEATURES))
    requirements = [f"{d}=={md.version(d)}" for d in ("scikit-learn", "skops", "numpy")]
    logged = tracker.log_sklearn_model(
        final,
        example,
        requirements,
        tmp / "download",
        skops_trusted_types=model_store.trusted_types_for(final),
    )
    model_store.check_logged_model(logged.local_dir, final, split.X_train[:2])

    gate_record = GateRecord(
        passed=gate.passed,
        reasons=list(gate.reasons),
        min_recall=settings.min_recall,
        max_recall_std=settings.max_recall_std,
        max_ece=settings.max_ece,
        max_brier=settings.max_brier,
    )
    registered: RegisteredModel | None = None
    if eligible:
        version = tracker.register(logged.model_uri, settings.registered_model_name, run_id)
        registered = RegisteredModel(
            name=settings.registered_model_name, version=version, alias=settings.champion_alias
        )
    summary = RunSummary(
        run_id=run_id,
        experiment=settings.experiment,
        tracking_uri=tracker.tracking_uri,
        artifact_uri=tracker.artifact_uri(),
        model_uri=logged.model_uri,
        model=settings.model,
        smoke=settings.smoke,
        data_path=str(settings.data),
        data_version=dataset.data_version,
        params={k: _jsonable(v) for k, v in params.items()},
        metrics=metrics,
        cv_folds=cv.folds,
        threshold=threshold,
        target_recall=settings.target_recall,
        # the plausibility envelope of the training split (domain/contract.py): cases outside
        # it are scored but flagged, and never reported with high confidence
        envelope=Envelope.from_training(split.X_train),
        gate=gate_record,
        promoted=eligible,
        not_promoted_reason=not_promoted_reason,
        registered_model=registered,
        published_path=str(settings.models_dir / model_store.LATEST) if eligible else None,
        champion_challenger=o.verdict,
        fold_spec=o.spec,
        cv_repeats=settings.repeats,
        n_test_malignant=int(np.sum(split.y_test == 1)),
        test_ci=o.evidence.ci_record(),
        cv_mean_ci=o.evidence.cv_ci_record(),
        cv_calibration=calibration_record(
            o.evidence.cv_calibration, "cv out-of-fold (training split)",
            sum(o.evidence.cv_calibration.curve.count),
        ),
        test_calibration=calibration_record(
            o.evidence.test_calibration, "test split", len(split.y_test)
        ),
        refer=refer_record(o.evidence.refer),
        conformal=o.evidence.refer.choice.params,
        subgroups=subgroup_records(o.evidence.subgroups),
        # how the model's predictions are explained, from the training split only
        explainer=build_explainer(o.final, split.X_train, settings.seed),
        drift_reference=drift_reference(o),
    )  # fmt: skip
    summary_json = tmp / "run_summary.json"
    summary_json.write_text(summary.to_json())
    promoted_at = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    conformal = o.evidence.refer.choice.params
    card_md = tmp / model_card.CARD_MD
    card_md.write_text(
        model_card.card_markdown(
            summary,
            model_sha256=model_store.sha256_file(logged.local_dir / model_store.SKOPS_FILE),
            conformal=conformal,
            decision_curve_rows=o.evidence.decision_curve.rows(),
            versions=_card_versions(),
            bcml_version=__version__,
            promoted_at=promoted_at if registered is not None else None,
        )
    )
    card_html = tmp / model_card.CARD_HTML
    card_html.write_text(
        model_card.card_html(card_md.read_text(), f"Model card: {settings.model} {run_id}")
    )
    png_done()  # the pictures are published and logged below
    files = [*pictures, *texts, summary_json, card_md, card_html]
    published: Path | None = None
    if registered is not None:
        metadata = PromotionMetadata(
            promoted_at=promoted_at,
            run_id=run_id,
            model_uri=logged.model_uri,
            registered_model=registered,
            model=settings.model,
            model_type=params["model_type"],
            data_version=dataset.data_version,
            metrics=metrics,
            gate=gate_record,
            threshold=threshold,
            target_recall=settings.target_recall,
            envelope=summary.envelope,
            feature_names=list(FEATURES),
            # per-fold numbers for the next champion/challenger comparison
            fold_spec=summary.fold_spec,
            cv_fold_recall=[f["recall"] for f in cv.folds],
            cv_fold_roc_auc=[f["roc_auc"] for f in cv.folds],
            champion_challenger=o.verdict,
            # the refer rule: covered by the metadata's SHA256 (sidecar and registry tag)
            conformal=conformal,
            # the explainer (and its k-means background): covered by the same SHA256
            explainer=summary.explainer,
            # what `bcml monitor` compares recent cases with, covered by the same SHA256
            drift_reference=summary.drift_reference,
            forced_promotion=o.verdict.forced,
            bcml_version=__version__,
        )

        def attach_and_move_alias(folder: Path) -> None:
            # Under the publish lock, before `latest` swaps: the version gets its promotion
            # metadata (run artifacts) and the registry's own copy of its SHA256 (a tag)
            # before the alias points at it, so a service following the alias never sees a
            # champion it cannot verify, and alias and `latest` move together.
            attached = [model_store.METADATA_FILE, model_store.METADATA_SIDECAR]
            attached += [n for n in model_store.CARD_FILES if (folder / n).is_file()]
            tracker.log_artifacts(
                [folder / name for name in attached],
                artifact_path=model_store.PROMOTION_ARTIFACT_DIR,
            )
            tracker.set_version_tag(
                settings.registered_model_name,
                registered.version,
                model_store.METADATA_SHA256_TAG,
                model_store.recorded_metadata_sha256(folder),
            )
            tracker.set_alias(
                settings.registered_model_name, settings.champion_alias, registered.version
            )

        published = model_store.publish(
            settings.models_dir,
            run_id,
            logged.local_dir,
            files,
            metadata,
            expected_latest=_beaten_champion(o.verdict),
            before_swap=attach_and_move_alias,
        )

    tracker.log_metrics({"promoted": 1.0 if eligible else 0.0})
    tracker.log_artifacts(files)
    if settings.summary_file is not None:
        settings.summary_file.parent.mkdir(parents=True, exist_ok=True)
        settings.summary_file.write_text(summary.to_json())
    return TrainingResult(
        run_id=run_id,
        promoted=eligible,
        gate=gate,
        summary=summary,
        published_path=published,
        artifacts=[p.name for p in files],
    )


def _card_versions() -> dict[str, str]:
    """The versions the model card lists: bcml, Python, the libraries and the git commit."""
    tags = environment_tags()
    names = {
        "bcml.version": "bcml",
        "python_version": "Python",
        "scikit-learn_version": "scikit-learn",
        "numpy_version": "numpy",
        "skops_version": "skops",
        "mlflow_version": "MLflow",
        "git_commit": "git commit",
    }
    return {label: tags[key] for key, label in names.items() if key in tags}


def _beaten_champion(verdict: ChallengerVerdict) -> Any:
    """The champion this model was compared with, which must still be the champion when the
    new model is swapped in (``None``: there was none). Unchecked when promotion was forced or
    the champion could not be identified (it is then replaced whatever it is)."""
    from breast_cancer_ml.adapters.model_store import UNCHECKED

    if verdict.forced or not verdict.evaluated or verdict.champion is None:
        return UNCHECKED
    if not verdict.champion.present:
        return None
    return verdict.champion.run_id or UNCHECKED


def _jsonable(value: Any) -> Any:
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return str(value)
