"""The checks CI and CD run on a training run's summary, on a real smoke run."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from breast_cancer_ml.cli import main
from breast_cancer_ml.deploy import release
from breast_cancer_ml.domain.records import SCHEMA_VERSION
from breast_cancer_ml.errors import (
    BadMetadataError,
    DataValidationError,
    ModelStoreError,
    PromotionRefusedError,
)

pytestmark = pytest.mark.integration

OLD_RECORDS = Path(__file__).parents[1] / "fixtures" / "records_v1_without_schema_version"


@pytest.fixture(scope="module")
def smoke_summary(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("smoke")
    summary = root / "run_summary.json"
    code = main(
        [
            "train",
            "--smoke",
            "--tracking-uri",
            f"sqlite:///{root / 'mlflow.db'}",
            "--models-dir",
            str(root / "models"),
            "--summary-file",
            str(summary),
        ]
    )
    assert code == 0
    return summary


def test_smoke_summary_is_valid_with_its_artifacts(smoke_summary: Path) -> None:
    summary = release.check_run_summary(smoke_summary, expect_smoke=True, check_artifacts=True)
    assert summary.promoted is False
    assert summary.schema_version == SCHEMA_VERSION
    assert main(["deploy", "check-run", str(smoke_summary), "--smoke", "--artifacts"]) == 0


def test_cd_refuses_an_unpromoted_run_with_exit_3(smoke_summary: Path) -> None:
    with pytest.raises(PromotionRefusedError, match="not promoted"):
        release.check_run_summary(smoke_summary, require_promoted=True)
    assert main(["deploy", "check-run", str(smoke_summary), "--promoted"]) == 3


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda s: s.pop("metrics"), "metrics: Field required"),
        (lambda s: s.update(threshold="0.5"), "threshold: Input should be a valid number"),
        (lambda s: s["metrics"].update(cv_recall_mean=float("nan")), "cv_recall_mean"),
        (lambda s: s.update(run_id="not-a-run"), "not an MLflow run id"),
        (lambda s: s.update(promoted=True), "inconsistent"),
        (lambda s: s.update(artifact_uri="/nonexistent"), "missing under"),
    ],
)
def test_broken_summaries_are_named(
    smoke_summary: Path, tmp_path: Path, change: Any, message: str
) -> None:
    summary = json.loads(smoke_summary.read_text())
    change(summary)
    broken = tmp_path / "run_summary.json"
    broken.write_text(json.dumps(summary))
    with pytest.raises(DataValidationError, match=message):
        release.check_run_summary(broken, check_artifacts=True)
    assert main(["deploy", "check-run", str(broken), "--artifacts"]) == 2


def test_not_json_is_a_clear_error(tmp_path: Path) -> None:
    bad = tmp_path / "run_summary.json"
    bad.write_text("{oops")
    with pytest.raises(DataValidationError, match="not valid JSON"):
        release.check_run_summary(bad)


def test_release_files_refuse_a_model_published_without_a_card(
    smoke_summary: Path, tmp_path: Path
) -> None:
    """A promoted model folder as an older bcml laid it out: no MODEL_CARD.md beside the
    model. The release has no card to copy, says so, and writes nothing (the card of a
    promoted model is covered by ``test_train_cli.test_release_files_copy_the_published_card``)."""
    summary = json.loads(smoke_summary.read_text())
    summary.update(smoke=False, promoted=True, gate={**summary["gate"], "passed": True})
    folder = tmp_path / "models" / "history" / summary["run_id"]
    folder.mkdir(parents=True)
    (folder / "run_summary.json").write_text(json.dumps(summary))
    metadata = json.loads((OLD_RECORDS / "promotion_metadata.json").read_text())
    metadata.update(run_id=summary["run_id"], promoted_at="2026-01-01T00:00:00+00:00")
    (folder / "promotion_metadata.json").write_text(json.dumps(metadata))
    (tmp_path / "models" / "latest").symlink_to(folder.relative_to(tmp_path / "models"))

    out = tmp_path / "release"
    with pytest.raises(ModelStoreError, match=r"no model card .*Re-promote it"):
        release.write_release_files(tmp_path / "models" / "latest", out)
    assert not out.exists()


def test_a_summary_written_before_schema_version_passes_the_release_check() -> None:
    assert main(["deploy", "check-run", str(OLD_RECORDS / "run_summary.json"), "--promoted"]) == 0


def test_a_summary_from_a_newer_bcml_is_refused_with_exit_4(tmp_path: Path) -> None:
    newer = json.loads((OLD_RECORDS / "run_summary.json").read_text()) | {
        "schema_version": SCHEMA_VERSION + 1
    }
    path = tmp_path / "run_summary.json"
    path.write_text(json.dumps(newer))
    with pytest.raises(BadMetadataError, match="written by a newer bcml"):
        release.check_run_summary(path)
    assert main(["deploy", "check-run", str(path)]) == 4


def test_release_files_from_records_written_before_the_card_exit_4_and_write_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "models" / "history" / "45de49e0ee0a46ddb3d67b76ecec0542"
    folder.mkdir(parents=True)
    for name in ("run_summary.json", "promotion_metadata.json"):
        (folder / name).write_bytes((OLD_RECORDS / name).read_bytes())
    out = tmp_path / "release"
    assert main(["deploy", "release-files", "--model-dir", str(folder), "--out", str(out)]) == 4
    err = capsys.readouterr().err
    assert "no model card" in err and "Traceback" not in err
    assert not out.exists()
