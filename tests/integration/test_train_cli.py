"""`bcml train` end to end into a real SQLite MLflow store and a temporary models dir."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest
from mlflow import MlflowClient
from mlflow.entities import Run

from breast_cancer_ml.adapters import model_store
from breast_cancer_ml.cli import main
from breast_cancer_ml.domain.schema import FEATURES

pytestmark = pytest.mark.integration

CV_METRICS = {
    f"cv_{m}_{s}" for m in ("accuracy", "precision", "recall", "f1") for s in ("mean", "std")
}
INTERVAL_METRICS = ("accuracy", "precision", "recall", "specificity", "f1", "roc_auc", "brier")
TEST_METRICS = {f"test_{m}" for m in INTERVAL_METRICS}
TEST_CI_METRICS = {f"test_{m}_ci_{end}" for m in INTERVAL_METRICS for end in ("low", "high")}
#: Issue 12's "Names" section, plus the CIs of the CV means and the refer rule's coverage
EVIDENCE_METRICS = {
    "cv_brier_mean",
    "cv_brier_std",
    "cv_specificity_mean",
    "cv_specificity_std",
    "cv_ece",
    "cv_calibration_slope",
    "cv_calibration_intercept",
    "test_ece",
    "test_calibration_slope",
    "test_calibration_intercept",
    "cv_refer_rate",
    "conformal_alpha",
    "cv_coverage_benign",
    "cv_coverage_malignant",
} | {f"cv_{m}_mean_ci_{end}" for m in INTERVAL_METRICS for end in ("low", "high")}
EVIDENCE_ARTIFACTS = {
    "calibration.png",
    "decision_curve.png",
    "decision_curve.csv",
    "subgroups.csv",
    "MODEL_CARD.md",
    "MODEL_CARD.html",
}
EXPERIMENT = "it-train"


@dataclass
class Trained:
    uri: str
    models: Path
    run: Run
    client: MlflowClient
    stdout: str


def train(uri: str, models: Path, *extra: str) -> int:
    return main(
        [
            "train",
            "--tracking-uri",
            uri,
            "--models-dir",
            str(models),
            "--experiment",
            EXPERIMENT,
            *extra,
        ]
    )


def runs(client: MlflowClient) -> list[Run]:
    exp = client.get_experiment_by_name(EXPERIMENT)
    if exp is None:
        return []
    return list(client.search_runs([exp.experiment_id], order_by=["attributes.start_time ASC"]))


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Trained:
    root = tmp_path_factory.mktemp("train")
    uri = f"sqlite:///{root / 'mlflow.db'}"
    models = root / "models"
    capture = root / "stdout.txt"
    import contextlib

    with capture.open("w") as fh, contextlib.redirect_stdout(fh):
        assert train(uri, models) == 0
    client = MlflowClient(tracking_uri=uri)
    (run,) = runs(client)
    return Trained(uri, models, run, client, capture.read_text())


def artifact_names(t: Trained, path: str = "") -> set[str]:
    return {Path(a.path).name for a in t.client.list_artifacts(t.run.info.run_id, path)}


def test_params_have_exactly_the_documented_names(trained: Trained) -> None:
    params = trained.run.data.params
    lr = {k for k in params if k.startswith("lr_")}
    assert {"lr_C", "lr_max_iter", "lr_solver", "lr_tol", "lr_random_state"} <= lr
    assert set(params) - lr == {
        # the selection issue's additions: repeats of the CV, decision threshold, tuning
        "cv_repeats",
        "threshold",
        "target_recall",
        "tune",
        "model_type",
        "k_folds",
        "random_state",
        "data_version",
        "n_samples_train",
        "n_samples_test",
        "n_features",
    }
    assert params["model_type"] == "LogisticRegression"
    assert params["lr_penalty"] == "l2"  # the penalty applied, not "deprecated"
    assert params["k_folds"] == "10"
    assert params["random_state"] == "42"
    assert (params["n_samples_train"], params["n_samples_test"], params["n_features"]) == (
        "455",
        "114",
        "30",
    )
    assert len(params["data_version"]) == 64


def test_metrics_and_promotion_flag(trained: Trained) -> None:
    metrics = trained.run.data.metrics
    # cv_roc_auc_* feeds the champion/challenger rule (selection issue)
    assert set(metrics) == CV_METRICS | TEST_METRICS | TEST_CI_METRICS | EVIDENCE_METRICS | {
        "promoted",
        "cv_roc_auc_mean",
        "cv_roc_auc_std",
    }
    assert metrics["promoted"] == 1.0
    assert metrics["cv_recall_mean"] >= 0.95
    assert metrics["test_roc_auc"] > 0.98
    assert trained.run.info.status == "FINISHED"
    assert trained.run.data.tags["bcml.smoke"] == "false"
    assert trained.run.data.tags["scikit-learn_version"]


def test_artifacts_and_skops_model(trained: Trained, tmp_path: Path) -> None:
    assert {
        "confusion_matrix.png",
        "classification_report.txt",
        "run_summary.json",
    } | EVIDENCE_ARTIFACTS <= artifact_names(trained)
    png = Path(
        trained.client.download_artifacts(
            trained.run.info.run_id, "confusion_matrix.png", str(tmp_path)
        )
    )
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    report = Path(
        trained.client.download_artifacts(
            trained.run.info.run_id, "classification_report.txt", str(tmp_path)
        )
    ).read_text()
    assert "Malignant" in report and "Benign" in report

    import mlflow

    summary = json.loads((trained.models / "latest" / "run_summary.json").read_text())
    model_dir = Path(
        mlflow.artifacts.download_artifacts(
            summary["model_uri"], dst_path=str(tmp_path / "m"), tracking_uri=trained.uri
        )
    )
    assert (model_dir / "model.skops").is_file()
    assert not list(model_dir.glob("*.pkl"))
    mlmodel = (model_dir / "MLmodel").read_text()
    assert "serialization_format: skops" in mlmodel
    info = mlflow.models.get_model_info(str(model_dir))
    assert info.signature.inputs.input_names() == list(FEATURES)
    assert (model_dir / "input_example.json").is_file()
    # MLflow's own input-example check is off while logging (validate_serving_input=False):
    # the logged model still serves through MLflow's pyfunc, on the example it carries
    example = json.loads((model_dir / "input_example.json").read_text())
    pyfunc = mlflow.pyfunc.load_model(str(model_dir))
    frame = pd.DataFrame(example["data"], columns=example["columns"])
    assert set(pyfunc.predict(frame).tolist()) <= {0, 1}


def test_run_summary_has_what_ci_needs(trained: Trained, tmp_path: Path) -> None:
    path = Path(
        trained.client.download_artifacts(
            trained.run.info.run_id, "run_summary.json", str(tmp_path)
        )
    )
    s = json.loads(path.read_text())
    assert s["run_id"] == trained.run.info.run_id
    assert s["promoted"] is True and s["gate"]["passed"] is True
    assert len(s["gate"]["reasons"]) == 4  # recall mean and std, ECE and Brier
    assert s["metrics"]["cv_recall_mean"] == trained.run.data.metrics["cv_recall_mean"]
    assert s["params"]["k_folds"] == 10
    assert s["data_version"] == trained.run.data.params["data_version"]
    assert s["model_uri"].startswith("models:/")
    assert len(s["cv_folds"]) == 10


def test_published_model_and_metadata(trained: Trained) -> None:
    latest = trained.models / "latest"
    assert latest.resolve() == (trained.models / "history" / trained.run.info.run_id).resolve()
    assert {p.name for p in latest.iterdir()} == {
        "model",
        "confusion_matrix.png",
        "classification_report.txt",
        "run_summary.json",
        "promotion_metadata.json",
        "promotion_metadata.sha256",
    } | EVIDENCE_ARTIFACTS
    meta = model_store.verify(latest)  # SHA256 of every model file matches
    assert set(meta["model_sha256"]) >= {"MLmodel", "model.skops", "requirements.txt"}
    assert meta["run_id"] == trained.run.info.run_id
    assert meta["data_version"] == trained.run.data.params["data_version"]
    assert meta["gate"]["min_recall"] == 0.95 and meta["gate"]["max_recall_std"] == 0.05
    assert meta["gate"]["max_ece"] == 0.05 and meta["gate"]["max_brier"] == 0.05
    assert meta["metrics"]["test_recall"] == trained.run.data.metrics["test_recall"]
    assert meta["promoted_at"].endswith("+00:00")
    assert meta["feature_names"] == list(FEATURES)


def test_registry_alias_points_at_the_promoted_run(trained: Trained) -> None:
    mv = trained.client.get_model_version_by_alias("breast-cancer-classifier", "champion")
    assert mv.run_id == trained.run.info.run_id


def test_registry_version_tag_holds_the_sha256_of_the_published_metadata(
    trained: Trained,
) -> None:
    mv = trained.client.get_model_version_by_alias("breast-cancer-classifier", "champion")
    latest = trained.models / "latest"
    sidecar = (latest / "promotion_metadata.sha256").read_text().split()[0]
    assert mv.tags["promotion_metadata_sha256"] == sidecar
    assert sidecar == model_store.sha256_file(latest / "promotion_metadata.json")


def test_an_edited_threshold_in_the_published_metadata_is_refused(
    trained: Trained, tmp_path: Path
) -> None:
    """A copy of the published folder whose threshold was lowered by hand: still valid JSON
    and a valid threshold, but not what was promoted."""
    import shutil

    from breast_cancer_ml.errors import ModelIntegrityError

    copy = tmp_path / "edited"
    shutil.copytree((trained.models / "latest").resolve(), copy)
    path = copy / "promotion_metadata.json"
    meta = json.loads(path.read_text())
    meta["threshold"] = 0.01
    path.write_text(json.dumps(meta, indent=2, sort_keys=True))
    with pytest.raises(ModelIntegrityError, match="modified after promotion") as info:
        model_store.load_published(copy)
    assert info.value.reason == "hash_mismatch"


def test_training_runs_are_named_model_seed_and_utc_minute(trained: Trained) -> None:
    import re

    assert re.fullmatch(r"logreg-seed42-\d{8}-\d{4}", trained.run.info.run_name)


def test_test_line_is_reported_only_with_its_confidence_interval(trained: Trained) -> None:
    m = trained.run.data.metrics
    line = next(ln for ln in trained.stdout.splitlines() if ln.startswith("test "))
    assert line.startswith("test (reported only, not used by the gate; 42 malignant cases): ")
    assert (
        f"recall {m['test_recall']:.4f} (95% CI "
        f"{m['test_recall_ci_low']:.2f}-{m['test_recall_ci_high']:.2f})" in line
    )
    assert m["test_recall_ci_low"] <= m["test_recall"] <= m["test_recall_ci_high"]
    summary = json.loads((trained.models / "latest" / "run_summary.json").read_text())
    assert summary["test_ci"]["recall"] == {
        "low": m["test_recall_ci_low"],
        "high": m["test_recall_ci_high"],
    }
    assert summary["test_ci"]["n_resamples"] >= 2000
    assert summary["n_test_malignant"] == 42


def test_test_recall_below_min_recall_is_said_plainly(
    trained: Trained, capsys: pytest.CaptureFixture[str]
) -> None:
    """With min_recall above the test recall (and max std loose), the summary says so and why
    the gate does not look at it."""
    test_recall = trained.run.data.metrics["test_recall"]
    assert train(trained.uri, trained.models, "--min-recall", "0.999") == 0
    out = capsys.readouterr().out
    (note,) = [ln for ln in out.splitlines() if ln.startswith("note:")]
    assert f"test recall {test_recall:.4f} is below min_recall 0.9990" in note
    assert "K-fold CV on the training split" in note


def test_output_says_where_things_are(trained: Trained) -> None:
    assert trained.run.info.run_id in trained.stdout
    assert "PASSED" in trained.stdout
    assert "mlflow ui --backend-store-uri sqlite:///" in trained.stdout


def test_failing_gate_is_logged_but_changes_nothing(trained: Trained) -> None:
    before = (trained.models / "latest").resolve()
    assert train(trained.uri, trained.models, "--min-recall", "0.999") == 0
    last = runs(trained.client)[-1]
    assert last.data.metrics["promoted"] == 0.0
    assert last.info.status == "FINISHED"
    assert (trained.models / "latest").resolve() == before
    mv = trained.client.get_model_version_by_alias("breast-cancer-classifier", "champion")
    assert mv.run_id == trained.run.info.run_id
    # Same data, seed and settings: identical metrics.
    for name in CV_METRICS | TEST_METRICS:
        assert last.data.metrics[name] == trained.run.data.metrics[name]


def test_require_promotion_exits_3_when_the_gate_fails(
    trained: Trained, capsys: pytest.CaptureFixture[str]
) -> None:
    assert train(trained.uri, trained.models, "--min-recall", "0.999", "--require-promotion") == 3
    assert "not promoted (gate failed)" in capsys.readouterr().err


def test_smoke_run_never_promotes(trained: Trained, tmp_path: Path) -> None:
    before = (trained.models / "latest").resolve()
    summary_file = tmp_path / "smoke.json"
    rc = train(
        trained.uri,
        trained.models,
        "--smoke",
        "--min-recall",
        "0",
        "--max-recall-std",
        "1",
        "--max-ece",
        "1",
        "--max-brier",
        "1",
        "--summary-file",
        str(summary_file),
        "--require-promotion",
    )
    assert rc == 0  # gate passes; smoke reports it without promoting
    last = runs(trained.client)[-1]
    assert last.data.tags["bcml.smoke"] == "true"
    assert last.data.params["k_folds"] == "3"
    assert (
        int(last.data.params["n_samples_train"]) + int(last.data.params["n_samples_test"]) == 113
    )  # 20% of 569
    assert last.data.metrics["promoted"] == 0.0
    assert (trained.models / "latest").resolve() == before
    s = json.loads(summary_file.read_text())
    assert s["smoke"] is True and s["gate"]["passed"] is True and s["promoted"] is False
    assert s["not_promoted_reason"] == "smoke run: never promoted"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("id,diagnosis\n1,M\n", "missing column"),
        ("", "the file is empty"),
    ],
)
def test_bad_csv_exits_2_and_logs_no_run(
    trained: Trained, tmp_path: Path, capsys: pytest.CaptureFixture[str], content: str, message: str
) -> None:
    before = len(runs(trained.client))
    bad = tmp_path / "bad.csv"
    bad.write_text(content)
    assert train(trained.uri, trained.models, "--data", str(bad)) == 2
    err = capsys.readouterr().err
    assert message in err and str(bad) in err
    assert "Traceback" not in err
    assert len(runs(trained.client)) == before


def test_too_few_rows_per_class_for_the_folds(
    trained: Trained, tmp_path: Path, bundled_csv: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    df = pd.read_csv(bundled_csv)
    small = pd.concat([df[df.diagnosis == "M"].head(6), df[df.diagnosis == "B"].head(30)])
    path = tmp_path / "small.csv"
    small.to_csv(path, index=False)
    assert train(trained.uri, trained.models, "--data", str(path)) == 2
    assert "fewer than the 10 folds" in capsys.readouterr().err


def test_invalid_flag_value_exits_2(trained: Trained, capsys: pytest.CaptureFixture[str]) -> None:
    assert train(trained.uri, trained.models, "--k-folds", "1") == 2
    assert "k_folds" in capsys.readouterr().err


def test_console_script_defaults_to_sqlite_beside_the_cwd(tmp_path: Path) -> None:
    """What `make run` does, in a fresh folder: mlflow.db and mlruns/ appear there."""
    exe = Path(sys.executable).with_name("bcml")
    proc = subprocess.run(
        [str(exe), "train", "--smoke"], cwd=tmp_path, capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "mlflow.db").is_file()
    assert list((tmp_path / "mlruns").rglob("run_summary.json"))
    assert not (tmp_path / "models" / "latest").exists()  # smoke never promotes


def test_cli_import_is_light() -> None:
    """`bcml --help` must not pay for mlflow, scikit-learn or pandas."""
    code = (
        "import sys; from breast_cancer_ml.cli import build_parser; build_parser(); "
        "heavy = [m for m in ('mlflow', 'sklearn', 'pandas', 'matplotlib') if m in sys.modules]; "
        "print(heavy)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
    proc = subprocess.run(
        [sys.executable, "-m", "breast_cancer_ml", "train", "--help"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert "--k-folds" in proc.stdout and "BCML_K_FOLDS" in proc.stdout


# --- clinical evidence (issue 12) ------------------------------------------------------------


def _download(t: Trained, name: str, dst: Path) -> Path:
    return Path(t.client.download_artifacts(t.run.info.run_id, name, str(dst)))


def test_every_named_evidence_metric_and_artifact_reads_back_through_mlflow(
    trained: Trained, tmp_path: Path
) -> None:
    metrics = trained.run.data.metrics
    for name in ("cv_brier_mean", "cv_ece", "test_brier", "test_ece", "cv_refer_rate"):
        assert 0 <= metrics[name] <= 0.05, name  # the default model is well calibrated
    for m in INTERVAL_METRICS:
        assert metrics[f"test_{m}_ci_low"] <= metrics[f"test_{m}"] <= metrics[f"test_{m}_ci_high"]
        low, high = metrics[f"cv_{m}_mean_ci_low"], metrics[f"cv_{m}_mean_ci_high"]
        assert low <= metrics[f"cv_{m}_mean"] <= high
    assert 0.5 < metrics["cv_calibration_slope"] < 2
    assert abs(metrics["cv_calibration_intercept"]) < 1
    for name in ("calibration.png", "decision_curve.png"):
        assert _download(trained, name, tmp_path).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    curve = pd.read_csv(_download(trained, "decision_curve.csv", tmp_path))
    assert list(curve.columns) == [
        "threshold",
        "net_benefit_model",
        "net_benefit_all",
        "net_benefit_none",
    ]
    assert curve["threshold"].round(2).tolist() == [k / 100 for k in range(1, 51)]
    assert (curve["net_benefit_none"] == 0).all()
    # a useful model beats treating everyone at every threshold above the prevalence's odds
    assert (curve["net_benefit_model"] >= curve["net_benefit_all"]).all()
    groups = pd.read_csv(_download(trained, "subgroups.csv", tmp_path))
    assert len(groups) == 7  # tertiles of area_mean and texture_mean, and the borderline band
    assert groups["slice"].str.startswith("area_mean").sum() == 3
    assert groups["slice"].str.startswith("texture_mean").sum() == 3
    assert groups["slice"].iloc[-1].startswith("borderline score")
    assert groups["n"].iloc[:3].sum() == 455  # every training case once per tertile family
    assert {"recall_ci_low", "recall_ci_high", "recall_below_gate"} <= set(groups.columns)


def test_the_refer_rule_is_published_in_the_sealed_metadata(trained: Trained) -> None:
    latest = trained.models / "latest"
    meta = model_store.load_latest(trained.models).record
    assert meta is not None and meta.conformal is not None
    assert meta.schema_version == 2
    assert meta.conformal.alpha == trained.run.data.metrics["conformal_alpha"]
    assert meta.conformal.method == "mondrian-split-conformal"
    assert (meta.conformal.n_benign, meta.conformal.n_malignant) == (285, 170)
    summary = json.loads((latest / "run_summary.json").read_text())
    assert summary["refer"]["refer_rate"] == trained.run.data.metrics["cv_refer_rate"] <= 0.05
    assert summary["refer"]["within_budget"] is True
    assert "1 - alpha" in summary["refer"]["guarantee"]
    raw = json.loads((latest / "promotion_metadata.json").read_text())
    assert raw["conformal"]["quantiles"] == {
        "benign": meta.conformal.q_benign,
        "malignant": meta.conformal.q_malignant,
    }


def test_the_explainer_is_published_sealed_and_read_from_the_registry(
    trained: Trained, tmp_path: Path
) -> None:
    import shutil

    from breast_cancer_ml.adapters.model_source import load_scoring_model
    from breast_cancer_ml.errors import ModelIntegrityError

    latest = trained.models / "latest"
    meta = model_store.load_latest(trained.models).record
    assert meta is not None and meta.explainer is not None
    assert meta.explainer.method == "linear_exact"  # the default logreg: exact, no background
    summary = json.loads((latest / "run_summary.json").read_text())
    assert summary["explainer"] == meta.explainer.model_dump()
    # the registry copy, scored from its run, explains by the same parameters
    registry = load_scoring_model(
        "models:/breast-cancer-classifier@champion", trained.models, trained.uri
    )
    assert registry.explainer_params == meta.explainer
    # the explainer is covered by the metadata's sealed SHA256: an edit refuses the model
    copy = tmp_path / "copy"
    shutil.copytree(latest.resolve(), copy)
    raw = json.loads((copy / model_store.METADATA_FILE).read_text())
    raw["explainer"] = {"method": "kernel_shap"}
    (copy / model_store.METADATA_FILE).write_text(json.dumps(raw))
    with pytest.raises(ModelIntegrityError):
        model_store.load_published(copy)


def _card_rows(card: str) -> dict[str, list[float]]:
    """The card's table rows whose first cell is a metric name in backticks: name -> numbers."""
    import re

    rows = {}
    for line in card.splitlines():
        match = re.fullmatch(r"\| `(\w+)` \|(.*)\|", line)
        if match:
            cells = [c.strip() for c in match.group(2).split("|")]
            rows[match.group(1)] = [float(c) for c in cells if c != "-"]
    return rows


def test_the_card_numbers_are_the_run_metrics(trained: Trained, tmp_path: Path) -> None:
    import re

    m = trained.run.data.metrics
    card = _download(trained, "MODEL_CARD.md", tmp_path).read_text()
    assert card == (trained.models / "latest" / "MODEL_CARD.md").read_text()
    rows = _card_rows(card)
    for name in INTERVAL_METRICS:
        test = f"test_{name}"
        assert rows[test] == [round(m[k], 4) for k in (test, f"{test}_ci_low", f"{test}_ci_high")]
        cv = f"cv_{name}_mean"
        std = [round(m[f"cv_{name}_std"], 4)]
        ends = [round(m[f"{cv}_ci_{end}"], 4) for end in ("low", "high")]
        assert rows[cv] == [round(m[cv], 4), *std, *ends]
    # calibration and the refer rate: each printed value sits beside its metric name
    named = {metric: float(value) for value, metric in re.findall(r"([-\d.]+) \(`(\w+)`", card)}
    for name in ("cv_brier_mean", "cv_ece", "cv_calibration_slope", "cv_calibration_intercept"):
        assert named[name] == round(m[name], 4)
    for name in ("test_brier", "test_ece", "test_calibration_slope", "cv_refer_rate"):
        assert named[name] == round(m[name], 4)
    alpha = re.search(r"alpha = ([\d.]+) \(`conformal_alpha`\)", card)
    assert alpha is not None and float(alpha.group(1)) == m["conformal_alpha"]


def test_the_card_has_the_sections_and_hashes_of_the_issue(trained: Trained) -> None:
    latest = trained.models / "latest"
    card = (latest / "MODEL_CARD.md").read_text()
    for heading in (
        "## Intended use",
        "## Data",
        "## Model",
        "## Performance",
        "## Calibration",
        "## Decision curve",
        "## Subgroups",
        "## Refer policy",
        "## Limitations and ethical considerations",
        "## Versions and hashes",
    ):
        assert f"\n{heading}\n" in card
    assert "Must not be used" in card and "University of Wisconsin" in card
    assert "569 cases" in card and "fine-needle aspirate" in card
    assert "no age, ethnicity or site column" in card
    meta = json.loads((latest / "promotion_metadata.json").read_text())
    assert f"`{meta['model_sha256']['model.skops']}`" in card
    assert f"`{trained.run.data.params['data_version']}`" in card
    assert f"`{trained.run.info.run_id}`" in card
    html = (latest / "MODEL_CARD.html").read_text()
    assert html.startswith("<!DOCTYPE html>")
    assert "<h2>Refer policy</h2>" in html and "<table>" in html
    assert meta["card_sha256"] == {
        name: model_store.sha256_file(latest / name)
        for name in ("MODEL_CARD.md", "MODEL_CARD.html")
    }


def test_an_edited_card_is_refused_like_an_edited_model(trained: Trained, tmp_path: Path) -> None:
    import shutil

    from breast_cancer_ml.errors import ModelIntegrityError

    copy = tmp_path / "edited"
    shutil.copytree((trained.models / "latest").resolve(), copy)
    card = copy / "MODEL_CARD.md"
    card.write_text(card.read_text().replace("## Limitations", "## Nothing to see"))
    with pytest.raises(ModelIntegrityError, match="model card was modified"):
        model_store.load_published(copy)


def test_release_files_copy_the_published_card(trained: Trained, tmp_path: Path) -> None:
    from breast_cancer_ml.deploy import release

    out = tmp_path / "release"
    paths = release.write_release_files(trained.models / "latest", out)
    assert [p.name for p in paths] == ["run_summary.json", "metrics.json", "MODEL_CARD.md"]
    assert (out / "MODEL_CARD.md").read_bytes() == (
        trained.models / "latest" / "MODEL_CARD.md"
    ).read_bytes()


def test_the_summary_prints_calibration_and_the_refer_rule(trained: Trained) -> None:
    m = trained.run.data.metrics
    (cal,) = [ln for ln in trained.stdout.splitlines() if ln.startswith("calibration:")]
    assert f"CV out-of-fold Brier {m['cv_brier_mean']:.4f}, ECE {m['cv_ece']:.4f}" in cal
    assert f"test Brier {m['test_brier']:.4f}, ECE {m['test_ece']:.4f}" in cal
    (refer,) = [ln for ln in trained.stdout.splitlines() if ln.startswith("refer rule:")]
    assert f"alpha {m['conformal_alpha']:g}" in refer
    assert f"refers {m['cv_refer_rate']:.1%}" in refer


def test_the_gate_refuses_a_model_over_max_ece_and_a_fixed_alpha_is_used(
    trained: Trained, tmp_path: Path
) -> None:
    before = (trained.models / "latest").resolve()
    summary_file = tmp_path / "summary.json"
    extra = ("--max-ece", "0.001", "--conformal-alpha", "0.1", "--summary-file", str(summary_file))
    assert train(trained.uri, trained.models, *extra) == 0
    s = json.loads(summary_file.read_text())
    assert s["promoted"] is False and s["not_promoted_reason"] == "gate failed"
    assert s["gate"]["passed"] is False and s["gate"]["max_ece"] == 0.001
    (reason,) = [r for r in s["gate"]["reasons"] if r.startswith("cv_ece")]
    assert reason == f"cv_ece {s['metrics']['cv_ece']:.4f} > max_ece 0.0010"
    assert (trained.models / "latest").resolve() == before
    # --conformal-alpha replaces the alpha the refer budget would pick
    assert s["refer"]["alpha"] == s["metrics"]["conformal_alpha"] == 0.1
    assert s["refer"]["how"] == "fixed by --conformal-alpha"
    assert s["refer"]["alpha"] != trained.run.data.metrics["conformal_alpha"]


#: gate settings any fitted model passes: these tests are about where it goes, not its quality
LOOSE_GATE = ("--min-recall", "0", "--max-recall-std", "1", "--max-ece", "1", "--max-brier", "1")


def test_training_registers_in_its_own_store_after_this_process_loaded_from_another(
    trained: Trained, tmp_path: Path
) -> None:
    # a models:/ load must leave MLflow's process-wide registry URI alone (it once pointed it
    # at the store it read from, and a later training in the process registered there)
    import mlflow

    from breast_cancer_ml.adapters.model_source import load_scoring_model

    before = mlflow.get_registry_uri()
    load_scoring_model("models:/breast-cancer-classifier@champion", trained.models, trained.uri)
    assert mlflow.get_registry_uri() == before
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    assert train(uri, tmp_path / "models", "--k-folds", "3", "--model", "knn", *LOOSE_GATE) == 0
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    assert client.search_model_versions("name='breast-cancer-classifier'")
    # and the other way round: with MLflow's process-wide URIs now on the new store, a models:/
    # load from the first store still finds its model there
    assert mlflow.get_registry_uri() != trained.uri
    again = load_scoring_model(
        "models:/breast-cancer-classifier@champion", trained.models, trained.uri
    )
    assert again.run_id == trained.run.info.run_id
    assert type(again.pipeline.steps[-1][1]).__name__ == "LogisticRegression"  # not the knn
