"""MODEL_SELECTION.md is rendered from its template exactly as the hand-built report was.

The files in ``golden/`` were written by the report builder that preceded the template (Python
string fragments), for the fabricated comparisons below; the template must reproduce them byte
for byte. The cases cover tuned and untuned runs, with and without a target recall, a model
that meets the bar and none that does, a runner-up and none, a weak model called out, figure
links and hand-written notes.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from breast_cancer_ml.domain.metrics import COMPARE_METRICS
from breast_cancer_ml.domain.nested_cv import FoldOutcome
from breast_cancer_ml.domain.promotion import GateThresholds
from breast_cancer_ml.domain.selection import (
    Bar,
    most_chosen_params,
    recommend,
    summarize_outcomes,
)
from breast_cancer_ml.pipelines.compare.report import selection_report
from breast_cancer_ml.pipelines.compare.results import ComparisonResult, ModelResult
from breast_cancer_ml.settings import CompareSettings

GOLDEN = Path(__file__).parent / "golden"

RUN_AT = dt.datetime(2026, 11, 30, 12, 0, 7, tzinfo=dt.UTC)
MACHINE, PYTHON = "x86_64", "3.11.9"

#: Per model: mean recall, precision and ROC AUC, and the grid points it picks in turn.
_MODELS: dict[str, tuple[float, float, float, list[dict[str, Any]]]] = {
    "logreg": (0.99, 0.955, 0.996, [{"model__C": 1.0}, {"model__C": 1.0}, {"model__C": 0.1}]),
    "svm_rbf": (0.968, 0.962, 0.995, [{"model__C": 10.0, "model__gamma": "scale"}]),
    "knn": (0.985, 0.860, 0.981, [{"model__n_neighbors": 7}]),
}


def _outcomes(name: str, k: int, repeats: int, tune: bool, spread: int) -> list[FoldOutcome]:
    recall, precision, roc_auc, points = _MODELS[name]
    out = []
    for repeat in range(repeats):
        for index in range(k):
            i = repeat * k + index
            wobble = ((i * 7 + spread) % 5 - 2) / 100
            metrics = dict.fromkeys(COMPARE_METRICS, 0.95 + wobble / 2)
            metrics |= {
                "recall": min(1.0, recall + wobble),
                "precision": min(1.0, precision - wobble / 2),
                "roc_auc": min(1.0, roc_auc + wobble / 10),
                "brier": 0.03 + abs(wobble) / 10,
            }
            out.append(
                FoldOutcome(
                    repeat=repeat,
                    index=index,
                    metrics=metrics,
                    threshold=0.5 if not tune else 0.3 + (i % 3) / 20,
                    params=points[i % len(points)] if tune else {},
                    fit_seconds=0.01 * (1 + i % 4),
                    predict_seconds=0.0004 * (1 + i % 3),
                    total_seconds=0.2,
                    test_idx=np.arange(i, i + 3, dtype=np.int64),
                    proba=np.linspace(0.1, 0.9, 3),
                )
            )
    return out


def comparison(case: str, tmp: Path) -> ComparisonResult:
    """One of the pinned cases, as the ComparisonResult ``bcml compare`` would build."""
    # relative to the working directory (``tmp``): the notes file's path is in the report
    notes = Path("notes.md")
    (tmp / notes).write_text("Checked by hand:\n\nthe folds are the same for every model.\n\n")
    settings = {
        "tuned_meets_bar": CompareSettings(
            models="logreg,svm_rbf,knn",
            tune=True,
            target_recall=0.97,
            repeats=2,
            k_folds=3,
            notes_file=notes,
            report_file=tmp / "MODEL_SELECTION.md",
            output_dir=tmp / "docs" / "compare",
            progress="never",
        ),
        "defaults_one_model_misses": CompareSettings(
            models="knn", k_folds=4, repeats=1, bar_precision=0.95, progress="never"
        ),
        "tuned_none_meets_bar": CompareSettings(
            models="knn,logreg",
            tune=True,
            k_folds=3,
            repeats=1,
            bar_recall=0.99,
            bar_precision=0.97,
            min_recall=0.99,
            progress="never",
        ),
    }[case]
    gate = GateThresholds(settings.min_recall, settings.max_recall_std)
    models: dict[str, ModelResult] = {}
    for spread, name in enumerate(settings.model_names):
        outcomes = _outcomes(name, settings.k_folds, settings.repeats, settings.tune, spread)
        params, count = most_chosen_params(outcomes)
        models[name] = ModelResult(
            name, outcomes, summarize_outcomes(outcomes, gate), params, count
        )
    rec = recommend(
        {n: r.summary for n, r in models.items()},
        Bar(settings.bar_recall, settings.bar_precision, settings.bar_roc_auc),
    )
    n_train = 455
    return ComparisonResult(
        run_id="0123456789abcdef0123456789abcdef",
        settings=settings,
        command="bcml compare --tune",
        data_version="9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
        n_train=n_train,
        n_malignant=170,
        models=models,
        recommendation=rec,
        seconds=42.4,
        artifacts=[],
    )


CASES = ("tuned_meets_bar", "defaults_one_model_misses", "tuned_none_meets_bar")


@pytest.mark.parametrize("case", CASES)
def test_the_report_is_byte_identical_to_the_pinned_one(
    case: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    report = selection_report(
        comparison(case, tmp_path), now=RUN_AT, machine=MACHINE, python=PYTHON
    )
    assert report == (GOLDEN / f"{case}.md").read_text()


def test_the_report_says_when_and_where_it_ran_by_default(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import platform

    monkeypatch.chdir(tmp_path)
    before = dt.datetime.now(dt.UTC).replace(microsecond=0)
    report = selection_report(comparison("defaults_one_model_misses", tmp_path))
    run_line = next(line for line in report.splitlines() if line.startswith("- Run: "))
    stamp = dt.datetime.fromisoformat(run_line.removeprefix("- Run: ").split(",")[0])
    assert before <= stamp <= dt.datetime.now(dt.UTC)
    assert f"on {platform.machine()} / Python {platform.python_version()} " in run_line
