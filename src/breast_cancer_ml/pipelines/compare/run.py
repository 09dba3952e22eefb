"""Runs ``bcml compare``: every model through nested CV on the same outer folds, logged to one
MLflow parent run with a child run per model, with the tables, figures and the report as
artifacts."""

from __future__ import annotations

import sys
import tempfile
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from breast_cancer_ml.adapters.dataset import Dataset, load_dataset
from breast_cancer_ml.domain.folds import FOLD_SCHEME, Fold, stratified_folds
from breast_cancer_ml.domain.metrics import COMPARE_METRICS
from breast_cancer_ml.domain.models import build_pipeline, estimator_params, get_candidate
from breast_cancer_ml.domain.nested_cv import FoldOutcome, evaluate_candidate, grid_points
from breast_cancer_ml.domain.promotion import GateThresholds
from breast_cancer_ml.domain.selection import (
    Bar,
    Recommendation,
    most_chosen_params,
    recommend,
    summarize_outcomes,
)
from breast_cancer_ml.domain.threshold import threshold_for_recall
from breast_cancer_ml.domain.validation import check_class_counts
from breast_cancer_ml.errors import ConfigError
from breast_cancer_ml.pipelines.compare.plots import plot_curves, plot_recall
from breast_cancer_ml.pipelines.compare.report import selection_report
from breast_cancer_ml.pipelines.compare.results import ComparisonResult, ModelResult
from breast_cancer_ml.pipelines.compare.tables import (
    markdown_table,
    write_comparison_csv,
    write_folds_csv,
)
from breast_cancer_ml.settings import CompareSettings

#: Settings that do not change the numbers (where they are stored, how progress shows).
_NOT_IN_COMMAND = frozenset({"tracking_uri", "progress", "experiment"})


def command_line(settings: CompareSettings) -> str:
    """``bcml compare`` with every setting that differs from its default, as flags."""
    parts = ["bcml", "compare"]
    for name, info in CompareSettings.model_fields.items():
        value = getattr(settings, name)
        if value == info.default or name in _NOT_IN_COMMAND:
            continue
        flag = "--" + name.replace("_", "-")
        if isinstance(value, bool):
            parts.append(flag)
        else:
            parts += [flag, str(value)]
    return " ".join(parts)


def training_split(dataset: Dataset, test_size: float, seed: int) -> tuple[Any, Any]:
    from breast_cancer_ml.pipelines.train import split_dataset

    split = split_dataset(dataset, test_size, seed)
    return split.X_train, split.y_train


def evaluate_model(
    name: str,
    X: NDArray[np.float64],
    y: NDArray[np.int64],
    outer: list[Fold],
    settings: CompareSettings,
    on_fold: Callable[[FoldOutcome], None] | None = None,
) -> list[FoldOutcome]:
    """Registry model ``name`` through :func:`evaluate_candidate` with this run's settings."""
    candidate = get_candidate(name)

    def build(params: Mapping[str, Any]) -> Any:
        return build_pipeline(name, settings.seed).set_params(**params)

    def inner_split(
        X_sub: NDArray[np.float64], y_sub: NDArray[np.int64]
    ) -> list[tuple[NDArray[np.int64], NDArray[np.int64]]]:
        return [
            (f.train, f.test)
            for f in stratified_folds(y_sub, settings.inner_k_folds, 1, settings.seed)
        ]

    return evaluate_candidate(
        build,
        candidate.grid,
        X,
        y,
        outer,
        inner_split,
        threshold_for_recall,
        tune=settings.tune,
        tune_metric=settings.tune_metric,
        target_recall=settings.target_recall,
        on_fold=on_fold,
    )


def run_comparison(settings: CompareSettings) -> ComparisonResult:
    """The whole ``bcml compare`` job."""
    started = time.perf_counter()
    if settings.notes_file is not None and not settings.notes_file.is_file():
        raise ConfigError(f"notes_file {settings.notes_file} does not exist or is not a file.")
    dataset = load_dataset(settings.data)
    check_class_counts(dataset.y, settings.k_folds, str(settings.data))
    X, y = training_split(dataset, settings.test_size, settings.seed)
    check_class_counts(y, settings.k_folds, f"{settings.data} (training split)")
    outer = stratified_folds(y, settings.k_folds, settings.repeats, settings.seed)
    gate = GateThresholds(settings.min_recall, settings.max_recall_std)

    results: dict[str, ModelResult] = {}
    with _progress(settings, len(settings.model_names) * len(outer)) as bar:
        for name in settings.model_names:
            bar.set_description(f"{name:>13}")
            outcomes = evaluate_model(name, X, y, outer, settings, lambda _o: bar.update(1))
            params, count = most_chosen_params(outcomes)
            results[name] = ModelResult(
                name, outcomes, summarize_outcomes(outcomes, gate), params, count
            )
    recommendation = recommend(
        {n: r.summary for n, r in results.items()},
        Bar(settings.bar_recall, settings.bar_precision, settings.bar_roc_auc),
    )
    return _track(settings, dataset, X, y, results, recommendation, started)


class _NoBar:
    def set_description(self, _text: str) -> None: ...

    def update(self, _n: int) -> None: ...

    def __enter__(self) -> _NoBar:
        return self

    def __exit__(self, *_exc: object) -> None: ...


def _progress(settings: CompareSettings, total: int) -> Any:
    show = settings.progress == "always" or (settings.progress == "auto" and sys.stderr.isatty())
    if not show:
        return _NoBar()
    from tqdm import tqdm

    return tqdm(total=total, unit="fold", file=sys.stderr, dynamic_ncols=True)


def _track(
    settings: CompareSettings,
    dataset: Dataset,
    X: NDArray[np.float64],
    y: NDArray[np.int64],
    results: dict[str, ModelResult],
    recommendation: Recommendation,
    started: float,
) -> ComparisonResult:
    from breast_cancer_ml.adapters.tracking import Tracker
    from breast_cancer_ml.pipelines.train import environment_tags

    tracker = Tracker(settings.tracking_uri)
    command = command_line(settings)
    tags = {**environment_tags(), "bcml.command": "compare", "data_path": str(settings.data)}
    with (
        tempfile.TemporaryDirectory(prefix="bcml-compare-") as tmp_name,
        tracker.run(settings.experiment, tags, run_name="compare") as run_id,
    ):
        tmp = Path(tmp_name)
        tracker.log_params(
            {
                "models": settings.models,
                "k_folds": settings.k_folds,
                "repeats": settings.repeats,
                "tune": settings.tune,
                "inner_k_folds": settings.inner_k_folds,
                "tune_metric": settings.tune_metric,
                "target_recall": settings.target_recall,
                "random_state": settings.seed,
                "test_size": settings.test_size,
                "data_version": dataset.data_version,
                "n_samples_train": len(y),
                "fold_scheme": FOLD_SCHEME,
                "command": command,
            }
        )
        for name, result in results.items():
            with tracker.child_run(name, {**tags, "bcml.model": name}):
                _log_child(tracker, name, result, settings, tmp)
        tracker.log_metrics(
            {
                f"{n}_{mlflow_metric_name(k)}": r.summary[k]
                for n, r in results.items()
                for k in _PARENT_METRICS
            }
        )
        paths = write_artifacts(results, y, tmp)
        tracker.log_artifacts(paths)
        seconds = time.perf_counter() - started
        outcome = ComparisonResult(
            run_id=run_id,
            settings=settings,
            command=command,
            data_version=dataset.data_version,
            n_train=len(y),
            n_malignant=int(y.sum()),
            models=results,
            recommendation=recommendation,
            seconds=seconds,
            artifacts=[p.name for p in paths],
            artifact_uri=tracker.artifact_uri(),
        )
        report = tmp / "MODEL_SELECTION.md"
        report.write_text(selection_report(outcome))
        tracker.log_artifacts([report])
        outcome.artifacts.append(report.name)
        if settings.report_file is not None:
            settings.report_file.parent.mkdir(parents=True, exist_ok=True)
            settings.report_file.write_text(report.read_text())
            outcome.written.append(str(settings.report_file))
        if settings.output_dir is not None:
            import shutil

            settings.output_dir.mkdir(parents=True, exist_ok=True)
            for p in [*paths] if settings.report_file is not None else [*paths, report]:
                shutil.copy2(p, settings.output_dir / p.name)
                outcome.written.append(p.name)
    return outcome


_PARENT_METRICS = ("recall_mean", "precision_mean", "roc_auc_mean", "gate_pass_share")

_CV_SUMMARY_KEYS = frozenset(f"{m}_{s}" for m in COMPARE_METRICS for s in ("mean", "std"))


def mlflow_metric_name(key: str) -> str:
    """The MLflow name of a summary key: cross-validated metrics carry ``cv_`` as in ``bcml
    train`` (``cv_recall_mean``); times, thresholds and the gate pass share keep theirs.
    The report files (comparison.csv, MODEL_SELECTION.md) keep the summary's own keys."""
    return f"cv_{key}" if key in _CV_SUMMARY_KEYS else key


def _log_child(
    tracker: Any, name: str, result: ModelResult, settings: CompareSettings, tmp: Path
) -> None:
    candidate = get_candidate(name)
    defaults = estimator_params(build_pipeline(name, settings.seed), name)
    params: dict[str, Any] = {
        "model": name,
        "model_type": candidate.model_type,
        "tune": settings.tune,
        "target_recall": settings.target_recall,
        **defaults,
    }
    if settings.tune:
        params["grid"] = {k: list(v) for k, v in candidate.grid.items()}
        params["grid_size"] = len(grid_points(candidate.grid))
        params["most_chosen_params"] = result.chosen_params
        params["most_chosen_count"] = f"{result.chosen_count}/{len(result.outcomes)}"
    tracker.log_params(params)
    tracker.log_metrics(
        {mlflow_metric_name(k): v for k, v in result.summary.items() if np.isfinite(v)}
    )
    folds_csv = tmp / f"folds_{name}.csv"
    write_folds_csv({name: result}, folds_csv)
    tracker.log_artifacts([folds_csv])


def write_artifacts(
    results: Mapping[str, ModelResult], y: NDArray[np.int64], folder: Path
) -> list[Path]:
    """comparison.md, comparison.csv, folds.csv, curves.png, recall_by_fold.png."""
    md = folder / "comparison.md"
    md.write_text(markdown_table(results))
    table_csv = folder / "comparison.csv"
    write_comparison_csv(results, table_csv)
    folds_csv = folder / "folds.csv"
    write_folds_csv(results, folds_csv)
    curves = folder / "curves.png"
    plot_curves(results, y, curves)
    recall_png = folder / "recall_by_fold.png"
    plot_recall(results, recall_png)
    return [md, table_csv, folds_csv, curves, recall_png]
