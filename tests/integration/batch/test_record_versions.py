"""``bcml predict`` reads a promoted model's metadata through its versioned class: metadata
written before ``schema_version`` existed still scores; metadata from a newer bcml is refused
with exit 4 and nothing is written."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from breast_cancer_ml.adapters.model_store import seal_metadata
from breast_cancer_ml.cli import main
from breast_cancer_ml.domain.records import SCHEMA_VERSION
from breast_cancer_ml.settings import BUNDLED_DATA

from .conftest import Trained

pytestmark = pytest.mark.integration


def _with_metadata(trained: Trained, tmp_path: Path, change: dict[str, object]) -> Path:
    """A copy of the trained model whose promotion metadata is changed and sealed again (as if
    it had been promoted so: the seal is not what is under test)."""
    folder = tmp_path / trained.model.folder.name
    shutil.copytree(trained.model.folder, folder)
    path = folder / "promotion_metadata.json"
    metadata = json.loads(path.read_text())
    assert metadata["schema_version"] == SCHEMA_VERSION  # what this version writes
    metadata.pop("schema_version")
    path.write_text(json.dumps(metadata | change))
    seal_metadata(folder)
    return folder


def test_metadata_without_schema_version_still_scores(trained: Trained, tmp_path: Path) -> None:
    folder = _with_metadata(trained, tmp_path, {})
    out = tmp_path / "scores.csv"
    argv = ["predict", "--model", str(folder), "--input", str(BUNDLED_DATA), "--output", str(out)]
    assert main(argv) == 0
    assert out.read_text().count("\n") == 570  # a header and the 569 bundled cases


def test_metadata_from_a_newer_bcml_is_refused_with_exit_4_and_no_output(
    trained: Trained, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    newer = SCHEMA_VERSION + 1
    folder = _with_metadata(trained, tmp_path, {"schema_version": newer})
    out = tmp_path / "scores.csv"
    argv = ["predict", "--model", str(folder), "--input", str(BUNDLED_DATA), "--output", str(out)]
    assert main(argv) == 4
    assert f"schema_version {newer} was written by a newer bcml" in capsys.readouterr().err
    assert not out.exists()
