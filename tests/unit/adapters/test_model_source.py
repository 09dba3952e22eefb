"""Which model `bcml predict --model X` scores with, and that each kind is checked."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import skops.io as sio

from breast_cancer_ml.adapters import model_store
from breast_cancer_ml.adapters.dataset import load_dataset
from breast_cancer_ml.adapters.model_source import load_scoring_model
from breast_cancer_ml.domain.contract import Envelope
from breast_cancer_ml.domain.models import build_pipeline
from breast_cancer_ml.domain.schema import FEATURES
from breast_cancer_ml.errors import ModelIntegrityError, ModelStoreError
from breast_cancer_ml.settings import BUNDLED_DATA

RUN_ID = "0123456789abcdef0123456789abcdef"


class NotAModel:
    """A type no allowlist trusts: loading it would run this module's code."""

    def __init__(self) -> None:
        self.payload = 1


@pytest.fixture(scope="module")
def mlflow_dir(tmp_path_factory) -> Path:
    data = load_dataset(BUNDLED_DATA)
    pipeline = build_pipeline("logreg", 0).fit(data.X, data.y)
    folder = tmp_path_factory.mktemp("mlflow-model")
    sio.dump(pipeline, folder / "model.skops")
    (folder / "MLmodel").write_text(
        "flavors:\n  sklearn:\n    pickled_model: model.skops\n    serialization_format: skops\n"
        f"run_id: {RUN_ID}\n"
    )
    return folder


@pytest.fixture
def models_dir(tmp_path, mlflow_dir) -> Path:
    metadata = {
        "run_id": RUN_ID,
        "threshold": 0.3,
        "feature_names": list(FEATURES),
        "envelope": Envelope.from_training(load_dataset(BUNDLED_DATA).X).as_dict(),
    }
    model_store.publish(tmp_path / "models", RUN_ID, mlflow_dir, [], metadata)
    return tmp_path / "models"


def test_default_is_the_verified_latest_model(models_dir):
    model = load_scoring_model(None, models_dir)
    assert model.run_id == RUN_ID
    assert model.threshold == 0.3
    assert model.folder == (models_dir / "history" / RUN_ID).resolve()
    assert model.envelope == Envelope.from_training(load_dataset(BUNDLED_DATA).X)


def test_a_promoted_folder_or_a_models_dir_is_verified(models_dir):
    folder = models_dir / "history" / RUN_ID
    assert load_scoring_model(str(folder), Path("unused")).threshold == 0.3
    assert load_scoring_model(str(models_dir), Path("unused")).run_id == RUN_ID
    (folder / "model" / "MLmodel").write_text("tampered\n")
    with pytest.raises(ModelIntegrityError, match="modified"):
        load_scoring_model(str(folder), Path("unused"))


def test_a_bare_mlflow_model_dir_loads_through_the_trusted_loader(mlflow_dir):
    model = load_scoring_model(str(mlflow_dir), Path("unused"))
    assert model.run_id == RUN_ID
    assert model.threshold == 0.5
    assert model.metadata["verified"] is False
    assert model.envelope is None  # nothing recorded: no case is known to be in distribution
    X = load_dataset(BUNDLED_DATA).X[:5]
    np.testing.assert_allclose(model.proba(X), model.pipeline.predict_proba(X)[:, 1], atol=1e-12)


def test_pickled_or_untrusted_models_are_refused(tmp_path, mlflow_dir):
    pickled = tmp_path / "pickled"
    pickled.mkdir()
    (pickled / "MLmodel").write_text("    serialization_format: cloudpickle\n")
    with pytest.raises(ModelIntegrityError, match="only skops models"):
        load_scoring_model(str(pickled), Path("unused"))
    untrusted = tmp_path / "untrusted"
    untrusted.mkdir()
    (untrusted / "MLmodel").write_text("run_id: x\n")
    sio.dump(NotAModel(), untrusted / "model.skops")
    with pytest.raises(ModelIntegrityError, match="not trusted"):
        load_scoring_model(str(untrusted), Path("unused"))


def test_missing_or_unrecognised_folders_say_what_is_expected(tmp_path):
    with pytest.raises(ModelStoreError, match="no such model folder"):
        load_scoring_model(str(tmp_path / "nope"), Path("unused"))
    with pytest.raises(ModelStoreError, match="not a model folder"):
        load_scoring_model(str(tmp_path), Path("unused"))
    with pytest.raises(ModelStoreError, match="does not exist: no model has been promoted"):
        load_scoring_model(None, tmp_path / "models")


def test_malformed_registry_uri_is_refused_before_mlflow():
    with pytest.raises(ModelStoreError, match="expected models:/<name>@<alias>"):
        load_scoring_model("models:/a/b/c", Path("unused"))


def test_a_registry_models_run_summary_gives_its_threshold_and_envelope_or_refuses_it():
    # what load_registry_model reads from the training run's run_summary.json: a summary
    # written before schema_version existed, as committed in tests/fixtures
    from breast_cancer_ml.domain.records import RunSummary, parse_record
    from breast_cancer_ml.errors import BadMetadataError

    old = Path(__file__).parents[2] / "fixtures" / "records_v1_without_schema_version"
    recorded = json.loads((old / "run_summary.json").read_text())
    envelope = Envelope.from_training(load_dataset(BUNDLED_DATA).X)
    summary = parse_record(
        RunSummary, recorded | {"threshold": 0.35, "envelope": envelope.as_dict()}, "s"
    )
    assert summary.threshold == 0.35
    assert summary.envelope == envelope
    without = {k: v for k, v in recorded.items() if k != "envelope"}
    assert parse_record(RunSummary, without, "s").envelope is None  # trained before envelopes
    broken = recorded | {"envelope": {"bounds": {"radius_mean": [0, 1]}}}
    with pytest.raises(BadMetadataError, match="envelope"):
        parse_record(RunSummary, broken, "s")
    for bad in (1.5, 0, float("nan"), "0.5", True, None):
        with pytest.raises(BadMetadataError, match="threshold"):
            parse_record(RunSummary, recorded | {"threshold": bad}, "s")
