"""`bcml train` against a shared `mlflow server` (PostgreSQL + S3, basic auth): unchanged CLI,
the registry and its alias behave as with SQLite, four trainings at once stay consistent."""

from __future__ import annotations

import concurrent.futures
import json
import subprocess
import sys
import urllib.error
import urllib.request
import uuid
from pathlib import Path

import pytest

from breast_cancer_ml.adapters import model_store
from breast_cancer_ml.adapters.registry_client import (
    ModelRef,
    RegistryCache,
    RegistryClient,
)

from .conftest import ADMIN, TeamStack

pytestmark = [pytest.mark.integration, pytest.mark.team]


def bcml_train(
    stack: TeamStack, cwd: Path, name: str, experiment: str, *extra: str
) -> subprocess.CompletedProcess[str]:
    """`bcml train` as a user runs it: only MLFLOW_TRACKING_URI/USERNAME/PASSWORD set."""
    return subprocess.run(
        [str(Path(sys.executable).with_name("bcml")), "train", "--models-dir", "models",
         "--experiment", experiment, "--registered-model-name", name, *extra],
        cwd=cwd, env=stack.client_env(), capture_output=True, text=True, timeout=600,
    )  # fmt: skip


def basic(user: str, password: str) -> dict[str, str]:
    import base64

    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


def status_of(url: str, headers: dict[str, str]) -> int:
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=10) as r:
            return int(r.status)
    except urllib.error.HTTPError as exc:
        return exc.code


def test_the_server_refuses_a_request_without_credentials_and_answers_one_with_them(
    team_stack: TeamStack,
) -> None:
    url = f"{team_stack.tracking_uri}/api/2.0/mlflow/experiments/search?max_results=1"
    assert status_of(url, {}) == 401
    assert status_of(url, basic(ADMIN, "not-the-password")) == 401
    assert status_of(url, basic(ADMIN, team_stack.password)) == 200


def test_train_without_credentials_fails_with_exit_4_and_records_nothing(
    team_env: TeamStack, tmp_path: Path
) -> None:
    env = team_env.client_env()
    del env["MLFLOW_TRACKING_PASSWORD"], env["MLFLOW_TRACKING_USERNAME"]
    experiment = f"no-auth-{uuid.uuid4().hex[:6]}"
    done = subprocess.run(
        [str(Path(sys.executable).with_name("bcml")), "train", "--experiment", experiment],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 4, done.stderr
    assert "Traceback" not in done.stderr
    assert team_env.tracking_uri in done.stderr
    assert team_env.client().get_experiment_by_name(experiment) is None
    assert not (tmp_path / "models" / "latest").exists()


def test_train_against_the_server_promotes_registers_and_attaches_promotion_metadata(
    team_env: TeamStack, tmp_path: Path
) -> None:
    name = f"team-train-{uuid.uuid4().hex[:6]}"
    done = bcml_train(team_env, tmp_path, name, name)
    assert done.returncode == 0, done.stderr
    assert f"{name} version 1 @champion" in done.stdout

    client = team_env.client()
    version = client.get_model_version_by_alias(name, "champion")
    latest = model_store.resolve_latest(tmp_path / "models")
    assert version.run_id == latest.name  # the alias and models/latest name the same run
    digest = version.tags[model_store.METADATA_SHA256_TAG]
    assert digest == model_store.recorded_metadata_sha256(latest)
    run = client.get_run(version.run_id)
    assert run.info.status == "FINISHED"
    assert run.data.metrics["promoted"] == 1.0
    # the metadata travelled through the artifact proxy into S3 and hashes to the tag
    files = {a.path for a in client.list_artifacts(version.run_id, "promotion")}
    cards = [n for n in model_store.CARD_FILES if (latest / n).is_file()]
    assert cards  # training writes the model card beside the model
    assert files == {
        f"promotion/{n}" for n in (model_store.METADATA_FILE, model_store.METADATA_SIDECAR, *cards)
    }
    got = Path(client.download_artifacts(version.run_id, "promotion", str(tmp_path / "dl")))
    assert model_store.sha256_file(got / model_store.METADATA_FILE) == digest
    metadata = json.loads((got / model_store.METADATA_FILE).read_text())
    assert metadata["registered_model"] == {"name": name, "version": "1", "alias": "champion"}


def test_four_trainings_at_once_record_every_run_and_leave_one_consistent_champion(
    team_env: TeamStack, tmp_path: Path
) -> None:
    """Four `bcml train` processes share the server and one models dir (a CI runner): the
    publish lock serialises them, a loser that compared itself with an outdated champion is
    refused (exit 4), and the registry alias moves under the same lock as models/latest."""
    name = f"team-four-{uuid.uuid4().hex[:6]}"
    seeds = ["1", "2", "3", "4"]
    with concurrent.futures.ThreadPoolExecutor(len(seeds)) as pool:
        results = list(
            pool.map(lambda s: bcml_train(team_env, tmp_path, name, name, "--seed", s), seeds)
        )
    for done in results:
        assert done.returncode in (0, 4), done.stderr
        assert "Traceback" not in done.stderr
        if done.returncode == 4:
            assert "changed while this model trained" in done.stderr
    assert any(done.returncode == 0 for done in results)

    client = team_env.client()
    experiment = client.get_experiment_by_name(name)
    assert experiment is not None
    run_list = client.search_runs([experiment.experiment_id])
    assert len(run_list) == len(seeds)  # every run recorded, none left RUNNING
    assert {r.info.status for r in run_list} <= {"FINISHED", "FAILED"}

    champion = client.get_model_version_by_alias(name, "champion")
    versions = client.search_model_versions(f"name='{name}'")
    holders = [v.version for v in versions if client.get_model_version(name, v.version).aliases]
    assert holders == [champion.version]
    latest = model_store.resolve_latest(tmp_path / "models")
    assert champion.run_id == latest.name
    # every version that got promotion metadata is a published folder with the same digest
    for v in versions:
        digest = v.tags.get(model_store.METADATA_SHA256_TAG)
        if digest is not None:
            folder = tmp_path / "models" / model_store.HISTORY / v.run_id
            assert model_store.recorded_metadata_sha256(folder) == digest
    # and the champion verifies end to end from the registry alone
    registry = RegistryClient.from_env(None)
    served = RegistryCache(registry, tmp_path / "cache").fetch(
        registry.resolve(ModelRef(name, alias="champion"))
    )
    assert served.run_id == champion.run_id
    assert served.metadata == model_store.read_metadata(latest)
