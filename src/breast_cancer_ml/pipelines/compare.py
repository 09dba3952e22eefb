"""``bcml compare``: every candidate on the same repeated stratified folds of the training split.

One parent MLflow run, one child run per model. The parent holds the comparison table
(Markdown and CSV), all models' ROC and precision-recall curves on one figure, and the
per-fold recall distribution; ``--report-file`` also writes the selection report
(``MODEL_SELECTION.md``). The held-out test split is never used here.
"""

from __future__ import annotations

import csv
import datetime as dt
import platform
import sys
import tempfile
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from breast_cancer_ml.adapters.dataset import Dataset, load_dataset
from breast_cancer_ml.domain.champion import paired_difference
from breast_cancer_ml.domain.folds import FOLD_SCHEME, Fold, stratified_folds
from breast_cancer_ml.domain.metrics import COMPARE_METRICS
from breast_cancer_ml.domain.models import build_pipeline, estimator_params, get_candidate
from breast_cancer_ml.domain.nested_cv import FoldOutcome, evaluate_candidate, grid_points
from breast_cancer_ml.domain.promotion import GateThresholds
from breast_cancer_ml.domain.selection import (
    Bar,
    Recommendation,
    bar_misses,
    most_chosen_params,
    recommend,
    summarize_outcomes,
)
from breast_cancer_ml.domain.threshold import threshold_for_recall
from breast_cancer_ml.domain.validation import check_class_counts
from breast_cancer_ml.errors import ConfigError
from breast_cancer_ml.settings import CompareSettings

#: Column label, summary key, format. Means ± std (ddof=1) over all outer folds.
_LABELS = {
    "recall": "Recall",
    "precision": "Precision",
    "specificity": "Specificity",
    "f1": "F1",
    "accuracy": "Accuracy",
    "roc_auc": "ROC AUC",
    "pr_auc": "PR AUC",
    "brier": "Brier",
}
_TABLE_ORDER = (
    "recall",
    "precision",
    "specificity",
    "f1",
    "accuracy",
    "roc_auc",
    "pr_auc",
    "brier",
)


@dataclass
class ModelResult:
    name: str
    outcomes: list[FoldOutcome]
    summary: dict[str, float]
    chosen_params: dict[str, Any]
    chosen_count: int
    child_run_id: str | None = None


@dataclass
class ComparisonResult:
    run_id: str
    settings: CompareSettings
    command: str
    data_version: str
    n_train: int
    n_malignant: int
    models: dict[str, ModelResult]
    recommendation: Recommendation
    seconds: float
    artifacts: list[str]
    artifact_uri: str = ""
    written: list[str] = field(default_factory=list)  # files written outside MLflow


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
            with tracker.child_run(name, {**tags, "bcml.model": name}) as child:
                result.child_run_id = child
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


#: How far below the precision bar a gate-passing model must be to be called out.
_WELL_BELOW = 0.05

_PARENT_METRICS = ("recall_mean", "precision_mean", "roc_auc_mean", "gate_pass_share")

_CV_SUMMARY_KEYS = frozenset(f"{m}_{s}" for m in COMPARE_METRICS for s in ("mean", "std"))


def mlflow_metric_name(key: str) -> str:
    """The MLflow name of a summary key: cross-validated metrics carry ``cv_`` as in ``bcml
    train`` (``cv_recall_mean``); times, thresholds and the gate pass share keep theirs.
    The report files (comparison.csv, MODEL_SELECTION.md) keep the summary's own keys."""
    return f"cv_{key}" if key in _CV_SUMMARY_KEYS else key


def gate_share_notes(
    results: Mapping[str, ModelResult], min_recall: float, max_recall_std: float
) -> list[str]:
    """One line per model that failed the gate in some repeat, saying which rule failed."""
    from breast_cancer_ml.domain.promotion import GateThresholds
    from breast_cancer_ml.domain.selection import gate_failures

    thresholds = GateThresholds(min_recall, max_recall_std)
    lines = []
    for name, result in results.items():
        f = gate_failures(result.outcomes, thresholds)
        if f.passed == f.repeats:
            continue
        rules = []
        if f.low_recall:
            rules.append(f"mean recall below min_recall {min_recall:.4f} in {f.low_recall}")
        if f.high_std:
            rules.append(f"recall std above max_recall_std {max_recall_std:.4f} in {f.high_std}")
        lines.append(
            f"gate:          {name} passes in {f.passed} of {f.repeats} repeats "
            f"(share {f.passed / f.repeats:.2f}): " + "; ".join(rules)
        )
    return lines


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
    _write_folds_csv({name: result}, folds_csv)
    tracker.log_artifacts([folds_csv])


def _write_folds_csv(results: Mapping[str, ModelResult], path: Path) -> None:
    with path.open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(
            [
                "model",
                "repeat",
                "fold",
                *COMPARE_METRICS,
                "threshold",
                "fit_s",
                "predict_s",
                "params",
            ]
        )
        for name, result in results.items():
            for o in result.outcomes:
                writer.writerow(
                    [
                        name,
                        o.repeat,
                        o.index,
                        *(f"{o.metrics[m]:.6f}" for m in COMPARE_METRICS),
                        f"{o.threshold:.6f}",
                        f"{o.fit_seconds:.6f}",
                        f"{o.predict_seconds:.6f}",
                        repr(o.params) if o.params else "",
                    ]
                )


def _pm(summary: Mapping[str, float], metric: str) -> str:
    return f"{summary[f'{metric}_mean']:.4f} ± {summary[f'{metric}_std']:.4f}"


def table_rows(results: Mapping[str, ModelResult]) -> tuple[list[str], list[list[str]]]:
    header = [
        "Model",
        *(_LABELS[m] for m in _TABLE_ORDER),
        "Gate pass share",
        "Threshold",
        "Fit (s)",
        "Predict (ms)",
    ]
    rows = []
    for name, r in results.items():
        s = r.summary
        threshold = (
            f"{s['threshold_mean']:.3f}"
            if s["threshold_min"] == s["threshold_max"]
            else f"{s['threshold_mean']:.3f} [{s['threshold_min']:.3f}, {s['threshold_max']:.3f}]"
        )
        rows.append(
            [
                name,
                *(_pm(s, m) for m in _TABLE_ORDER),
                f"{s['gate_pass_share']:.2f}",
                threshold,
                f"{s['fit_seconds_mean']:.3f}",
                f"{1000 * s['predict_seconds_mean']:.2f}",
            ]
        )
    return header, rows


def markdown_table(results: Mapping[str, ModelResult]) -> str:
    header, rows = table_rows(results)
    lines = [
        "| " + " | ".join(header) + " |",
        "|" + "|".join(["---"] + ["---:"] * (len(header) - 1)) + "|",
    ]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def write_artifacts(
    results: Mapping[str, ModelResult], y: NDArray[np.int64], folder: Path
) -> list[Path]:
    """comparison.md, comparison.csv, folds.csv, curves.png, recall_by_fold.png."""
    md = folder / "comparison.md"
    md.write_text(markdown_table(results))
    table_csv = folder / "comparison.csv"
    with table_csv.open("w", newline="") as fh:
        writer = csv.writer(fh)
        keys = sorted({k for r in results.values() for k in r.summary})
        writer.writerow(["model", *keys])
        for name, r in results.items():
            writer.writerow([name, *(repr(r.summary[k]) for k in keys)])
    folds_csv = folder / "folds.csv"
    _write_folds_csv(results, folds_csv)
    curves = folder / "curves.png"
    _plot_curves(results, y, curves)
    recall_png = folder / "recall_by_fold.png"
    _plot_recall(results, recall_png)
    return [md, table_csv, folds_csv, curves, recall_png]


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _plot_curves(results: Mapping[str, ModelResult], y: NDArray[np.int64], path: Path) -> None:
    """ROC and precision-recall curves of the first repeat's out-of-fold predictions (every
    training row once, each predicted by a model that never saw it)."""
    from sklearn.metrics import auc, precision_recall_curve, roc_curve

    plt = _pyplot()
    fig, (ax_roc, ax_pr) = plt.subplots(1, 2, figsize=(12, 5.2), dpi=100)
    for name, r in results.items():
        first = [o for o in r.outcomes if o.repeat == 0]
        idx = np.concatenate([o.test_idx for o in first])
        proba = np.concatenate([o.proba for o in first])
        fpr, tpr, _ = roc_curve(y[idx], proba)
        ax_roc.plot(fpr, tpr, label=f"{name} (AUC {auc(fpr, tpr):.4f})")
        precision, recall, _ = precision_recall_curve(y[idx], proba)
        ax_pr.plot(recall, precision, label=f"{name} (AP {r.summary['pr_auc_mean']:.4f})")
    # All good models hug the corner: zoom into the region where they differ.
    ax_roc.set(xlabel="False positive rate (1 - specificity)", ylabel="Recall (malignant)")
    ax_roc.set(xlim=(-0.005, 0.3), ylim=(0.7, 1.005))
    ax_roc.set_title("ROC, out-of-fold predictions (repeat 1; zoomed)")
    ax_pr.set(xlabel="Recall (malignant)", ylabel="Precision (malignant)")
    ax_pr.set(xlim=(0.7, 1.005), ylim=(0.5, 1.005))
    ax_pr.set_title("Precision-recall, out-of-fold predictions (repeat 1; zoomed)")
    for ax in (ax_roc, ax_pr):
        ax.legend(loc="lower right" if ax is ax_roc else "lower left", fontsize=8)
        ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def _plot_recall(results: Mapping[str, ModelResult], path: Path) -> None:
    """Per-fold malignant recall of every model: box plot with every fold as a dot."""
    plt = _pyplot()
    names = list(results)
    data = [[o.metrics["recall"] for o in results[n].outcomes] for n in names]
    fig, ax = plt.subplots(figsize=(max(6.0, 1.3 * len(names)), 4.8), dpi=100)
    ax.boxplot(data, showmeans=True, showfliers=False)  # every fold is drawn as a dot
    ax.set_xticks(range(1, len(names) + 1), labels=names)
    rng = np.random.default_rng(0)
    for i, values in enumerate(data, start=1):
        ax.scatter(i + rng.uniform(-0.12, 0.12, len(values)), values, s=10, alpha=0.5)
    ax.set_ylabel("Recall (malignant), per outer fold")
    ax.set_title(f"Per-fold recall ({len(data[0])} outer folds per model)")
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def selection_report(result: ComparisonResult) -> str:
    """The Markdown selection report (MODEL_SELECTION.md)."""
    s = result.settings
    rec = result.recommendation
    best = result.models[rec.model]
    bs = best.summary
    procedure = (
        f"nested cross-validation: in each outer fold, {s.inner_k_folds} inner stratified folds "
        f"of the outer training rows choose the grid point (by mean inner {s.tune_metric})"
        if s.tune
        else "cross-validation with each model's registry defaults"
    )
    if s.target_recall is not None:
        procedure += (
            f"; the decision threshold is chosen on the inner out-of-fold predictions of the "
            f"outer training rows to reach malignant recall {s.target_recall}"
        )
    else:
        procedure += "; decision threshold 0.5"
    n_outer = s.k_folds * s.repeats
    bar = f"recall >= {s.bar_recall}, precision >= {s.bar_precision}, ROC AUC >= {s.bar_roc_auc}"
    lines = [
        "# Model selection",
        "",
        "Generated by `bcml compare`; do not edit by hand. Reproduce with:",
        "",
        "```sh",
        result.command,
        "```",
        "",
        f"- Data: `{s.data.name}`, data version `{result.data_version[:12]}`; only the "
        f"training split is used ({result.n_train} rows, {result.n_malignant} malignant; "
        f"test_size {s.test_size}, seed {s.seed}). The held-out test rows are never touched.",
        f"- Outer folds: {s.k_folds}-fold stratified CV x {s.repeats} repeats = {n_outer} "
        f"folds, the same rows for every model ({FOLD_SCHEME}).",
        f"- Procedure: {procedure}. Outer folds only measure.",
        f"- MLflow: experiment `{s.experiment}`, parent run `{result.run_id}` (one child run "
        "per model; artifacts: comparison.md/.csv, folds.csv, curves.png, recall_by_fold.png).",
        f"- Run: {dt.datetime.now(dt.UTC).isoformat(timespec='seconds')}, "
        f"{result.seconds:.0f} s on {platform.machine()} / Python {platform.python_version()} "
        "(a shared machine: the times are indicative only).",
        "",
        f"## Results (mean ± std over the {n_outer} outer folds; malignant is positive)",
        "",
        markdown_table(result.models),
        *_figure_links(s),
        "Gate pass share: the share of repeats whose "
        f"{s.k_folds} folds pass the promotion gate (recall mean >= {s.min_recall}, std <= "
        f"{s.max_recall_std}). Fit: mean seconds to refit on an outer training split "
        "(without tuning); predict: mean milliseconds to score one outer test fold.",
        "",
    ]
    if s.tune:
        lines += ["Most often chosen grid point per model:", ""]
        for name, r in result.models.items():
            params = ", ".join(f"{k.split('__')[-1]}={v}" for k, v in r.chosen_params.items())
            lines.append(f"- {name}: {params or 'defaults'} ({r.chosen_count}/{n_outer} folds)")
        lines.append("")
    lines += [
        "## Recommendation",
        "",
        f"Rule: the smallest total shortfall from the bar ({bar}; the sum of the gaps of "
        "the means, 0 when met), then the highest mean recall, then precision, then ROC AUC. "
        "Ranking: " + " > ".join(f"`{n}`" for n in rec.ranking) + ".",
        "",
        f"**Recommended: `{rec.model}`** — recall {_pm(bs, 'recall')}, precision "
        f"{_pm(bs, 'precision')}, ROC AUC {_pm(bs, 'roc_auc')}, specificity "
        f"{_pm(bs, 'specificity')}; the gate passes in {bs['gate_pass_share']:.0%} of the "
        f"repeats.",
        "",
    ]
    if rec.meets_bar:
        lines.append(f"It meets the bar ({bar}).")
    else:
        lines.append(
            f"**It does not meet the bar** ({bar}): {'; '.join(rec.missed)}. No compared "
            "configuration meets it on these folds."
            if all(bar_misses(r.summary, _bar(s)) for r in result.models.values())
            else f"It misses: {'; '.join(rec.missed)}."
        )
    runner_up = rec.ranking[1] if len(rec.ranking) > 1 else None
    if runner_up is not None:
        rs = result.models[runner_up].summary
        other = result.models[runner_up].outcomes

        def paired(metric: str) -> str:
            d = paired_difference(
                [o.metrics[metric] for o in best.outcomes], [o.metrics[metric] for o in other]
            )
            return (
                f"{_LABELS[metric].lower()} {d.mean:+.4f} (higher in {d.wins}, lower in "
                f"{d.losses}, equal in {d.ties} of {n_outer} folds)"
            )

        lines += [
            "",
            f"Runner-up `{runner_up}`: recall {_pm(rs, 'recall')}, precision "
            f"{_pm(rs, 'precision')}, ROC AUC {_pm(rs, 'roc_auc')}. Paired on the same folds, "
            f"`{rec.model}` minus `{runner_up}`: {paired('recall')}; {paired('precision')}; "
            f"{paired('roc_auc')}. With about {result.n_malignant / s.k_folds:.0f} malignant "
            f"cases per outer fold, one missed case moves a fold's recall by about "
            f"{s.k_folds / result.n_malignant:.2f}; the per-fold spread (std) above is the "
            "scale on which differences are noise.",
        ]
    weak = [
        n
        for n, r in result.models.items()
        if r.summary["gate_pass_share"] >= 0.5
        and r.summary["precision_mean"] < s.bar_precision - _WELL_BELOW
    ]
    if weak:
        lines += [
            "",
            "The promotion gate looks at recall only: "
            + ", ".join(
                f"`{n}` (precision {result.models[n].summary['precision_mean']:.2f})" for n in weak
            )
            + f" pass it in at least half of the repeats with a precision more than "
            f"{_WELL_BELOW} below the bar. "
            "The bar's precision floor here, and the ROC AUC rule of champion/challenger in "
            "`bcml train`, are what keep such models out.",
        ]
    lines += [
        "",
        f"To train it: `bcml train --model {rec.model}"
        + (f" --target-recall {s.target_recall}" if s.target_recall is not None else "")
        + (
            f" --tune --inner-k-folds {s.inner_k_folds} --tune-metric {s.tune_metric}"
            if s.tune
            else ""
        )
        + "` (the same procedure on the whole training split: the grid point and threshold "
        "are chosen there, the held-out test split then measures it once).",
        "",
    ]
    if s.notes_file is not None:
        lines += [
            f"## Notes (hand-written, from `{s.notes_file.as_posix()}`; not generated)",
            "",
            s.notes_file.read_text().strip(),
            "",
        ]
    return "\n".join(lines)


def _figure_links(s: CompareSettings) -> list[str]:
    """Links to the figures kept in ``--output-dir``, relative to the report file."""
    if s.output_dir is None or s.report_file is None:
        return []
    import os

    base = s.report_file.resolve().parent
    rel = Path(os.path.relpath(s.output_dir.resolve(), base)).as_posix()
    return [
        f"![ROC and precision-recall curves]({rel}/curves.png)",
        "",
        f"![Per-fold recall]({rel}/recall_by_fold.png)",
        "",
        f"Per-fold numbers of every model: [{rel}/folds.csv]({rel}/folds.csv).",
        "",
    ]


def _bar(s: CompareSettings) -> Bar:
    return Bar(s.bar_recall, s.bar_precision, s.bar_roc_auc)
