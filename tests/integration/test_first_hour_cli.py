"""What a new user sees from `bcml train` and `bcml rollback`, through the real console script
and a real SQLite MLflow store: three promoted models A, B, C, then rollbacks."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from mlflow import MlflowClient

pytestmark = pytest.mark.integration

BCML = str(Path(sys.executable).with_name("bcml"))
REGISTERED = "breast-cancer-classifier"
#: What MLflow prints on its own at its default level; none of it belongs in our output.
MLFLOW_CHATTER = (
    "Downloading artifacts",
    "already exists. Creating a new version",
    "Creating initial MLflow database tables",
    "INFO mlflow",
    "Successfully registered model",
)


def bcml(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BCML_", "MLFLOW_"))}
    return subprocess.run(
        [BCML, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300
    )


@dataclass
class Store:
    root: Path
    uri: str
    models: Path
    runs: list[str]  # A, B, C in promotion order
    outputs: list[str]  # stdout + stderr of each training

    def rollback(self, *args: str) -> subprocess.CompletedProcess[str]:
        return bcml("rollback", "--models-dir", str(self.models), *args, cwd=self.root)

    def version_of(self, run_id: str) -> str:
        meta = json.loads(
            (self.models / "history" / run_id / "promotion_metadata.json").read_text()
        )
        return str(meta["registered_model"]["version"])


@pytest.fixture(scope="module")
def abc(tmp_path_factory: pytest.TempPathFactory) -> Store:
    """Three small promoted models (3 folds, seeds 1-3; the gate is opened and promotion
    forced because the models' quality is not under test)."""
    root = tmp_path_factory.mktemp("abc")
    uri = f"sqlite:///{root / 'mlflow.db'}"
    models = root / "models"
    runs, outputs = [], []
    for seed in (1, 2, 3):
        proc = bcml(
            "train", "--k-folds", "3", "--seed", str(seed), "--min-recall", "0",
            "--max-recall-std", "1", "--max-ece", "1", "--max-brier", "1", "--force-promote",
            "--tracking-uri", uri,
            "--models-dir", str(models), "--summary-file", str(root / f"s{seed}.json"),
            cwd=root,
        )  # fmt: skip
        assert proc.returncode == 0, proc.stderr
        summary = json.loads((root / f"s{seed}.json").read_text())
        assert summary["promoted"] is True
        runs.append(summary["run_id"])
        outputs.append(proc.stdout + proc.stderr)
    return Store(root, uri, models, runs, outputs)


def test_default_output_is_only_our_summary(abc: Store) -> None:
    """The first run created the store, the next two registered new versions of an existing
    model: MLflow had something to say each time, and said none of it."""
    for output in abc.outputs:
        for chatter in MLFLOW_CHATTER:
            assert chatter not in output
        assert output.startswith("run id:")
        assert "promoted:" in output and "registry:" in output


def test_verbose_shows_mlflow_own_lines(tmp_path: Path) -> None:
    proc = bcml("train", "--smoke", "-v", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "Creating initial MLflow database tables" in proc.stderr
    assert "Downloading artifacts" in proc.stderr  # the progress bar the default hides
    assert "run id:" in proc.stdout


def test_rollback_twice_goes_back_twice_and_says_from_what_to_what(abc: Store) -> None:
    a, b, c = abc.runs
    first = abc.rollback()
    assert first.returncode == 0, first.stderr
    assert f"rolled back from {c} (promoted 20" in first.stdout
    assert f" to {b} (promoted 20" in first.stdout
    second = abc.rollback()
    assert second.returncode == 0, second.stderr
    assert f"rolled back from {b} (promoted " in second.stdout and f" to {a} (promoted " in (
        second.stdout
    )
    assert (abc.models / "latest").resolve().name == a
    # the registry alias still points at C: the user is told, and how to fix it
    assert f"{REGISTERED}@champion points to version {abc.version_of(c)}" in second.stderr
    assert f"is version {abc.version_of(a)}" in second.stderr
    assert "--move-alias" in second.stderr
    # A is the oldest: nothing before it, said plainly, latest unchanged
    third = abc.rollback()
    assert third.returncode == 4
    assert "no model was promoted before the current one" in third.stderr
    assert "Traceback" not in third.stderr
    assert (abc.models / "latest").resolve().name == a


def test_rollback_list_shows_every_model_newest_first_and_marks_the_current_one(
    abc: Store,
) -> None:
    a, b, c = abc.runs
    assert abc.rollback(a).returncode == 0  # a known current model, whatever ran before
    proc = abc.rollback("--list")
    assert proc.returncode == 0, proc.stderr
    lines = [ln for ln in proc.stdout.splitlines() if any(r in ln for r in abc.runs)]
    assert [next(r for r in abc.runs if r in ln) for ln in lines] == [c, b, a]
    assert [ln.startswith("*") for ln in lines] == [False, False, True]
    assert f"v{abc.version_of(a)}" in lines[2]


def test_move_alias_points_champion_at_the_model_rolled_back_to(abc: Store) -> None:
    b = abc.runs[1]
    proc = abc.rollback(b, "--move-alias")
    assert proc.returncode == 0, proc.stderr
    assert f"{REGISTERED}@champion -> version {abc.version_of(b)}" in proc.stdout
    assert "warning" not in proc.stderr
    client = MlflowClient(tracking_uri=abc.uri, registry_uri=abc.uri)
    assert client.get_model_version_by_alias(REGISTERED, "champion").run_id == b
    assert (abc.models / "latest").resolve().name == b


def test_an_unreachable_registry_is_a_note_not_a_failure(abc: Store, tmp_path: Path) -> None:
    a, _, _ = abc.runs
    missing = f"sqlite:///{tmp_path / 'nowhere' / 'mlflow.db'}"
    proc = abc.rollback(a, "--tracking-uri", missing)
    assert proc.returncode == 0, proc.stderr
    assert "was not checked" in proc.stderr
    assert not (tmp_path / "nowhere").exists()  # asking created no store
    assert (abc.models / "latest").resolve().name == a


def test_a_registry_record_that_differs_from_the_sidecar_is_warned_about(abc: Store) -> None:
    a = abc.runs[0]
    client = MlflowClient(tracking_uri=abc.uri, registry_uri=abc.uri)
    version = abc.version_of(a)
    tag = "promotion_metadata_sha256"
    good = client.get_model_version(REGISTERED, version).tags[tag]
    assert good == (abc.models / "history" / a / "promotion_metadata.sha256").read_text().split()[0]
    client.set_model_version_tag(REGISTERED, version, tag, "0" * 64)
    try:
        proc = abc.rollback(a)
    finally:
        client.set_model_version_tag(REGISTERED, version, tag, good)
    assert proc.returncode == 0, proc.stderr
    assert f"{REGISTERED} version {version} records another SHA256" in proc.stderr
    assert "records another SHA256" not in abc.rollback(a).stderr
