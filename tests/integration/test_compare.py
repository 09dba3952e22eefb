"""bcml compare end to end: real MLflow SQLite store, nested CV, artifacts, report."""

from __future__ import annotations

import csv
from pathlib import Path

import mlflow
import pytest

from breast_cancer_ml.cli import main

pytestmark = pytest.mark.integration


def test_compare_nested_logs_parent_and_children(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    report = tmp_path / "MODEL_SELECTION.md"
    notes = tmp_path / "notes.md"
    notes.write_text("Checked by hand: nothing to add.")
    argv = [
        "compare", "--models", "logreg,knn", "--k-folds", "3", "--repeats", "2", "--tune",
        "--inner-k-folds", "3", "--target-recall", "0.97", "--tracking-uri", uri,
        "--report-file", str(report), "--output-dir", str(tmp_path / "out"),
        "--notes-file", str(notes), "--min-recall", "0.999",
    ]  # fmt: skip
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "| logreg |" in out
    assert "| knn |" in out
    assert "recommended:" in out
    # where the files went, as train says it
    assert f"folder:        {tmp_path / 'out'}" in out
    files = next(ln for ln in out.splitlines() if ln.startswith("files:"))
    assert "comparison.csv" in files and "folds.csv" in files and "curves.png" in files
    assert next(ln for ln in out.splitlines() if ln.startswith("artifacts:"))
    # a gate pass share under 1 is explained: which rule failed, in how many repeats
    gate_lines = [ln for ln in out.splitlines() if ln.startswith("gate:")]
    assert any(
        ln.startswith("gate:          logreg passes in 0 of 2 repeats (share 0.00): ")
        and "mean recall below min_recall 0.9990 in 2" in ln
        for ln in gate_lines
    ), gate_lines

    client = mlflow.MlflowClient(uri)
    experiment = client.get_experiment_by_name("breast-cancer-ml-compare")
    assert experiment is not None
    runs = client.search_runs([experiment.experiment_id])
    parents = [r for r in runs if "mlflow.parentRunId" not in r.data.tags]
    assert len(parents) == 1
    parent = parents[0]
    children = [r for r in runs if r.data.tags.get("mlflow.parentRunId") == parent.info.run_id]
    assert sorted(r.info.run_name for r in children) == ["knn", "logreg"]
    for child in children:
        metrics = child.data.metrics
        for name in ("recall", "precision", "specificity", "f1", "roc_auc", "pr_auc", "brier"):
            # the same vocabulary as `bcml train` (cv_recall_mean, ...)
            assert f"cv_{name}_mean" in metrics
            assert f"cv_{name}_std" in metrics
            assert f"{name}_mean" not in metrics
        assert 0 <= metrics["gate_pass_share"] <= 1
        assert metrics["fit_seconds_mean"] > 0
        assert child.data.params["tune"] == "True"
    assert parent.data.params["tune"] == "True"
    assert {"logreg_cv_recall_mean", "knn_cv_roc_auc_mean", "knn_gate_pass_share"} <= set(
        parent.data.metrics
    )
    artifacts = {a.path for a in client.list_artifacts(parent.info.run_id)}
    assert {
        "comparison.md", "comparison.csv", "folds.csv", "curves.png", "recall_by_fold.png",
        "MODEL_SELECTION.md",
    } <= artifacts  # fmt: skip

    # the same folds for every model: 3 folds x 2 repeats each, same test rows
    with (tmp_path / "out" / "folds.csv").open() as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 12
    assert [(r["repeat"], r["fold"]) for r in rows if r["model"] == "logreg"] == [
        (r["repeat"], r["fold"]) for r in rows if r["model"] == "knn"
    ]
    # tuning chose a grid point in every outer fold; thresholds were chosen (<= 0.5)
    assert all(r["params"] for r in rows)
    assert all(float(r["threshold"]) <= 0.5 for r in rows)
    assert (tmp_path / "out" / "curves.png").stat().st_size > 10_000

    text = report.read_text()
    assert text.startswith("# Model selection")
    assert "bcml compare --models logreg,knn --k-folds 3 --repeats 2 --tune" in text
    assert parent.info.run_id in text
    assert "## Recommendation" in text
    assert "| Model |" in text


def test_compare_rejects_unknown_models(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["compare", "--models", "logreg,nope"]) == 2
    err = capsys.readouterr().err
    assert "nope" in err
    assert "Traceback" not in err


def _table_row(text: str, first_header: str, model: str) -> dict[str, str]:
    """One model's row of the Markdown table whose header row starts with ``first_header``."""
    lines = text.splitlines()
    start = next(i for i, ln in enumerate(lines) if ln.startswith(f"| {first_header} |"))
    header = [c.strip() for c in lines[start].strip("|").split("|")]
    for ln in lines[start + 2 :]:
        if not ln.startswith("|"):
            break
        cells = [c.strip() for c in ln.strip("|").split("|")]
        if cells[0] == model:
            return dict(zip(header, cells, strict=True))
    raise AssertionError(f"no row for {model}")


def test_compare_measures_the_refer_rule_and_calibration_in_the_outer_folds(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    report = tmp_path / "MODEL_SELECTION.md"
    argv = [
        "compare", "--models", "logreg", "--k-folds", "3", "--repeats", "2",
        "--inner-k-folds", "3", "--target-recall", "0.97", "--max-refer-rate", "0.1",
        "--tracking-uri", uri, "--report-file", str(report), "--output-dir",
        str(tmp_path / "out"), "--progress", "never",
    ]  # fmt: skip
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "| Model | Refer rate | Coverage benign | Coverage malignant |" in out

    client = mlflow.MlflowClient(uri)
    experiment = client.get_experiment_by_name("breast-cancer-ml-compare")
    assert experiment is not None
    runs = client.search_runs([experiment.experiment_id])
    (parent,) = [r for r in runs if "mlflow.parentRunId" not in r.data.tags]
    (child,) = [r for r in runs if r.data.tags.get("mlflow.parentRunId") == parent.info.run_id]
    assert parent.data.params["max_refer_rate"] == "0.1"
    m = child.data.metrics
    for name in (
        "cv_refer_rate", "cv_coverage_benign", "cv_coverage_malignant", "cv_decided_accuracy",
        "cv_decided_recall", "cv_decided_precision", "cv_ece", "cv_calibration_intercept",
        "cv_brier_mean", "cv_alpha_mean",
    ):  # fmt: skip
        assert 0 <= m[name] <= 1 or name == "cv_calibration_intercept", name
    # logistic regression on WDBC: most cases are decided, and decided ones are mostly right
    assert m["cv_refer_rate"] < 0.5
    assert m["cv_decided_accuracy"] > 0.9
    assert m["cv_coverage_benign"] > 0.8 and m["cv_coverage_malignant"] > 0.8

    # per fold: the alpha chosen on that fold's training rows and its refer rate; their mean
    # over the (nearly equal-sized) folds is close to the pooled rate
    with (tmp_path / "out" / "folds.csv").open() as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 6
    assert all(0 < float(r["alpha"]) < 1 for r in rows)
    per_fold = [float(r["refer_rate"]) for r in rows]
    assert abs(sum(per_fold) / len(per_fold) - m["cv_refer_rate"]) < 0.005

    # the report's numbers are the run's metrics
    text = report.read_text()
    assert '## Calibration and the "refer" decision' in text
    assert "Goal: refer at most 10% of cases" in text
    row = _table_row(text, "Model | Refer rate", "logreg")
    assert float(row["Refer rate"]) == pytest.approx(m["cv_refer_rate"], abs=5e-5)
    assert float(row["Decided recall"]) == pytest.approx(m["cv_decided_recall"], abs=5e-5)
    assert float(row["Coverage malignant"]) == pytest.approx(m["cv_coverage_malignant"], abs=5e-5)
    calibration = _table_row(text, "Model | Brier", "logreg")
    assert float(calibration["ECE"]) == pytest.approx(m["cv_ece"], abs=5e-5)


def test_compare_rejects_a_refer_budget_outside_0_1(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["compare", "--models", "logreg", "--max-refer-rate", "1.5"]) == 2
    err = capsys.readouterr().err
    assert "max_refer_rate" in err or "max-refer-rate" in err
    assert "Traceback" not in err
