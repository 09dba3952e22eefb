"""The serving side's registry client against the real server: resolve the champion, download
through the artifact proxy, verify, cache; refuse what cannot be verified."""

from __future__ import annotations

import shutil
import uuid
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from breast_cancer_ml.adapters import model_store
from breast_cancer_ml.adapters.registry_client import (
    ModelRef,
    RegistryCache,
    RegistryClient,
    parse_model_uri,
)
from breast_cancer_ml.domain.schema import FEATURES
from breast_cancer_ml.errors import (
    BadMetadataError,
    ModelIntegrityError,
    ModelStoreError,
    RegistryAuthError,
    RegistryNotFoundError,
    RegistryUnreachableError,
)

from .conftest import ADMIN, TeamStack, free_port
from .test_team_training import bcml_train

pytestmark = [pytest.mark.integration, pytest.mark.team]


@dataclass(frozen=True)
class Champion:
    name: str
    models: Path  # the training's own models dir: what the registry copy must equal


@pytest.fixture(scope="module")
def champion(team_stack: TeamStack, tmp_path_factory: pytest.TempPathFactory) -> Champion:
    root = tmp_path_factory.mktemp("registry-client")
    name = f"team-client-{uuid.uuid4().hex[:6]}"
    done = bcml_train(team_stack, root, name, name)
    assert done.returncode == 0, done.stderr
    return Champion(name, root / "models")


def client_for(stack: TeamStack, password: str | None = None) -> RegistryClient:
    return RegistryClient(stack.tracking_uri, username=ADMIN, password=password or stack.password)


def test_the_champion_is_resolved_downloaded_verified_and_scores_like_the_published_model(
    team_stack: TeamStack, champion: Champion, tmp_path: Path
) -> None:
    client = client_for(team_stack)
    version = client.resolve(parse_model_uri(f"models:/{champion.name}@champion"))
    served = RegistryCache(client, tmp_path).fetch(version)

    local = model_store.load_latest(champion.models)
    assert served.folder == tmp_path / champion.name / "v1"
    assert served.run_id == local.run_id == version.run_id
    assert served.metadata == local.metadata
    rows = np.random.default_rng(0).uniform(1, 20, size=(5, len(FEATURES)))
    assert np.array_equal(served.proba(rows), local.proba(rows))
    assert not [p for p in served.folder.parent.iterdir() if p.name.startswith(".staging")]


def test_a_cached_copy_that_fails_its_hashes_is_deleted_and_downloaded_again(
    team_stack: TeamStack, champion: Champion, tmp_path: Path
) -> None:
    client = client_for(team_stack)
    version = client.resolve(ModelRef(champion.name, alias="champion"))
    cache = RegistryCache(client, tmp_path)
    first = cache.fetch(version)
    skops_file = first.folder / model_store.MODEL_SUBDIR / model_store.SKOPS_FILE
    original = skops_file.read_bytes()
    skops_file.write_bytes(original[:-8] + b"tampered")

    again = cache.fetch(version)
    assert skops_file.read_bytes() == original
    assert model_store.verify(again.folder)["run_id"] == version.run_id


def test_a_version_without_promotion_metadata_is_refused_and_nothing_is_cached(
    team_env: TeamStack, champion: Champion, tmp_path: Path
) -> None:
    mlflow_client = team_env.client()
    promoted = mlflow_client.get_model_version_by_alias(champion.name, "champion")
    # the same model files registered by hand: no promotion metadata tag
    bare = mlflow_client.create_model_version(
        champion.name,
        promoted.source,
        run_id=promoted.run_id,
        model_id=promoted.source.removeprefix("models:/"),
    )
    client = client_for(team_env)
    version = client.resolve(ModelRef(champion.name, version=str(bare.version)))

    with pytest.raises(BadMetadataError, match="no promotion metadata"):
        RegistryCache(client, tmp_path).fetch(version)
    assert not any(tmp_path.rglob("*.skops"))


def test_metadata_that_does_not_hash_to_the_registry_tag_is_refused(
    team_env: TeamStack, champion: Champion, tmp_path: Path
) -> None:
    mlflow_client = team_env.client()
    promoted = mlflow_client.get_model_version_by_alias(champion.name, "champion")
    other = mlflow_client.create_model_version(
        champion.name,
        promoted.source,
        run_id=promoted.run_id,
        model_id=promoted.source.removeprefix("models:/"),
    )
    mlflow_client.set_model_version_tag(
        champion.name, str(other.version), model_store.METADATA_SHA256_TAG, "0" * 64
    )
    client = client_for(team_env)
    version = client.resolve(ModelRef(champion.name, version=str(other.version)))

    with pytest.raises(ModelIntegrityError, match="not the one the registry recorded"):
        RegistryCache(client, tmp_path).fetch(version)
    assert not any(tmp_path.rglob("*.skops"))


def test_registry_faults_are_errors_a_user_can_act_on(
    team_stack: TeamStack, champion: Champion
) -> None:
    with pytest.raises(RegistryAuthError, match="MLFLOW_TRACKING_PASSWORD"):
        client_for(team_stack, password="wrong-password").resolve(
            ModelRef(champion.name, alias="champion")
        )
    with pytest.raises(RegistryAuthError):
        RegistryClient(team_stack.tracking_uri).resolve(ModelRef(champion.name, alias="champion"))
    with pytest.raises(RegistryNotFoundError):
        client_for(team_stack).resolve(ModelRef(champion.name, alias="no-such-alias"))
    with pytest.raises(RegistryUnreachableError, match="cannot be reached"):
        RegistryClient(f"http://127.0.0.1:{free_port()}", timeout=2).resolve(
            ModelRef(champion.name, alias="champion")
        )
    with pytest.raises(ModelStoreError, match="tracking server"):
        RegistryClient("sqlite:///mlflow.db")
    with pytest.raises(ModelStoreError, match="models:/<name>@<alias>"):
        parse_model_uri("models:/only-a-name")


def test_an_artifact_location_outside_the_proxy_is_refused_with_the_fix(
    team_stack: TeamStack, tmp_path: Path
) -> None:
    client = client_for(team_stack)
    with pytest.raises(ModelStoreError, match="--serve-artifacts"):
        client.download_tree("s3://bucket/somewhere", tmp_path / "x")
    shutil.rmtree(tmp_path / "x", ignore_errors=True)
