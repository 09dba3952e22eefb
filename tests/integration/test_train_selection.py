"""bcml train: recall-target threshold, repeated CV, champion/challenger, --force-promote.

Real runs: MLflow SQLite store in a tmp folder, real model store, the bundled data.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import mlflow
import numpy as np
import pytest

from breast_cancer_ml.adapters.dataset import load_dataset
from breast_cancer_ml.adapters.model_store import load_latest, read_metadata, resolve_latest
from breast_cancer_ml.cli import main
from breast_cancer_ml.domain.cross_validation import cross_validate
from breast_cancer_ml.domain.threshold import recall_at
from breast_cancer_ml.pipelines.train import choose_threshold, run_training, split_dataset
from breast_cancer_ml.settings import BUNDLED_DATA, TrainSettings

pytestmark = pytest.mark.integration


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.chdir(tmp_path)  # MLflow's ./mlruns artifacts land here
    return tmp_path


def settings(workdir: Path, **kw: object) -> TrainSettings:
    base: dict[str, object] = {
        "k_folds": 5,
        "tracking_uri": f"sqlite:///{workdir / 'mlflow.db'}",
        "models_dir": workdir / "models",
    }
    return TrainSettings(**{**base, **kw})  # type: ignore[arg-type]


def test_target_recall_threshold_comes_from_training_oof_and_is_published(workdir: Path) -> None:
    s = settings(workdir, target_recall=0.99)
    result = run_training(s)
    threshold = result.summary.threshold
    assert 0 < threshold < 0.5

    # Independently: the same folds of the training split, nothing from the test split.
    split = split_dataset(load_dataset(BUNDLED_DATA), s.test_size, s.seed)
    cv = cross_validate("logreg", split.X_train, split.y_train, s.k_folds, s.seed)
    assert threshold == choose_threshold(cv, split.y_train, 0.99)
    assert recall_at(split.y_train, cv.oof_proba, threshold) >= 0.99
    assert result.summary.metrics["cv_recall_mean"] >= 0.98  # CV measured at it

    assert result.promoted
    published = load_latest(s.models_dir)
    assert published.threshold == threshold
    assert published.metadata["target_recall"] == 0.99
    run = mlflow.MlflowClient(s.tracking_uri).get_run(result.run_id)
    assert float(run.data.params["threshold"]) == pytest.approx(threshold)
    # the held-out predictions use it too
    test_pred = (published.proba(split.X_test) >= threshold).astype(int)
    assert result.summary.metrics["test_recall"] == pytest.approx(
        float(np.sum((test_pred == 1) & (split.y_test == 1)) / np.sum(split.y_test == 1))
    )


def test_champion_challenger_keeps_forces_and_recomputes(workdir: Path) -> None:
    first = run_training(settings(workdir))
    assert first.promoted
    assert first.summary.champion_challenger is not None
    assert first.summary.champion_challenger.reason == "no current champion"
    champion_folder = resolve_latest(workdir / "models")

    # A decision tree passes a loosened gate (its 0/1-ish probabilities fail the calibration
    # rules, loosened too) but is clearly worse on the same folds: kept out.
    summary_file = workdir / "dt.json"
    argv = [
        "train", "--model", "decision_tree", "--k-folds", "5", "--min-recall", "0",
        "--max-recall-std", "1", "--max-ece", "1", "--max-brier", "1",
        "--tracking-uri", f"sqlite:///{workdir / 'mlflow.db'}",
        "--models-dir", str(workdir / "models"), "--summary-file", str(summary_file),
        "--require-promotion",
    ]  # fmt: skip
    assert main(argv) == 3
    kept = json.loads(summary_file.read_text())
    verdict = kept["champion_challenger"]
    assert kept["promoted"] is False
    assert verdict["replace"] is False
    assert verdict["forced"] is False
    assert verdict["champion"]["source"] == "stored (same fold_spec)"
    assert verdict["champion"]["run_id"] == first.run_id
    assert len(verdict["champion"]["fold_recall"]) == len(verdict["challenger"]["fold_recall"]) == 5
    assert verdict["champion"]["fold_recall"] == [f["recall"] for f in first.summary.cv_folds]
    assert "champion kept" in verdict["reason"]
    assert resolve_latest(workdir / "models") == champion_folder

    # --force-promote overrides the rule (not the gate), and the metadata says so.
    forced = run_training(
        settings(workdir, model="decision_tree", min_recall=0.0, max_recall_std=1.0,
                 max_ece=1.0, max_brier=1.0, force_promote=True)
    )  # fmt: skip
    assert forced.promoted
    metadata = read_metadata(resolve_latest(workdir / "models"))
    assert metadata["forced_promotion"] is True
    assert "--force-promote" in metadata["champion_challenger"]["reason"]

    # Other folds (repeats=2): the champion's configuration is re-run on the same folds.
    again = run_training(settings(workdir, repeats=2))
    verdict = again.summary.champion_challenger
    assert verdict is not None and verdict.champion is not None
    assert str(verdict.champion.source).startswith("recomputed")
    assert verdict.champion.model == "decision_tree"
    assert verdict.champion.fold_recall is not None and len(verdict.champion.fold_recall) == 10
    assert verdict.replace is True
    assert verdict.forced is False
    assert again.promoted
    assert again.summary.params["cv_repeats"] == 2
    assert len(again.summary.cv_folds) == 10


def test_unknown_model_is_a_clear_error(workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["train", "--model", "xgboost", "--models-dir", str(workdir / "m")]) == 2
    err = capsys.readouterr().err
    assert "xgboost" in err
    assert "svm_rbf" in err
    assert "Traceback" not in err
