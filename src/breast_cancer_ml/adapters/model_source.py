"""Find and load the model to score with, from a ``--model`` value.

- nothing: ``models_dir/latest`` (resolved once, verified against its SHA256 sums);
- a promoted model folder (``promotion_metadata.json`` inside, e.g. ``models/history/<run>``):
  verified the same way;
- a models directory (has ``latest``): its latest model;
- a bare MLflow model directory (``MLmodel`` + ``model.skops``): loaded through the skops
  trusted-types allowlist (no checksums exist for it; the allowlist still refuses any type that
  could run code); threshold 0.5 unless given;
- ``models:/<name>@<alias>`` or ``models:/<name>/<version>``: downloaded from the MLflow Model
  Registry (mlflow is imported only here), loaded like a bare MLflow model, with the threshold
  and the plausibility envelope recorded by its training run (``run_summary.json``) when there
  are some.

A bare MLflow model directory carries no envelope (``PublishedModel.envelope`` is None): callers
then treat no case as known to be in distribution.

Every case returns a :class:`~breast_cancer_ml.adapters.model_store.PublishedModel`, so callers
score with ``model.proba`` at ``model.threshold`` and report ``model.run_id``.
"""

from __future__ import annotations

import dataclasses
import json
import re
import tempfile
from pathlib import Path
from typing import Any

from breast_cancer_ml.adapters.model_store import (
    LATEST,
    METADATA_FILE,
    SKOPS_FILE,
    PublishedModel,
    load_latest,
    load_published,
    load_skops,
)
from breast_cancer_ml.domain.contract import Envelope
from breast_cancer_ml.domain.decision import DEFAULT_THRESHOLD
from breast_cancer_ml.domain.records import RunSummary, parse_record
from breast_cancer_ml.domain.schema import FEATURES
from breast_cancer_ml.domain.scoring import proba_function
from breast_cancer_ml.errors import ModelIntegrityError, ModelStoreError

REGISTRY_SCHEME = "models:/"
MLMODEL_FILE = "MLmodel"


def load_scoring_model(
    spec: str | None, models_dir: Path, tracking_uri: str | None = None
) -> PublishedModel:
    """The model named by ``spec`` (see the module docstring), loaded and ready to score."""
    if spec is None or not spec.strip():
        return load_latest(models_dir)
    if spec.startswith(REGISTRY_SCHEME):
        return load_registry_model(spec, tracking_uri)
    folder = Path(spec)
    if not folder.is_dir():
        raise ModelStoreError(
            f"{spec}: no such model folder. Give a promoted model folder (models/latest, "
            f"models/history/<run_id>), an MLflow model folder, or models:/<name>@<alias>."
        )
    if (folder / METADATA_FILE).is_file():
        return load_published(folder.resolve())
    if (folder / LATEST).exists():
        return load_latest(folder)
    if (folder / MLMODEL_FILE).is_file():
        return load_mlflow_model_dir(folder)
    raise ModelStoreError(
        f"{folder}: not a model folder. Expected {METADATA_FILE} (a promoted model), a "
        f"'{LATEST}' link (a models directory) or {MLMODEL_FILE} + {SKOPS_FILE} (an MLflow model)."
    )


def _mlmodel_field(text: str, key: str) -> str | None:
    # MLmodel is YAML; the two top-level/flavor scalars read here are plain "key: value" lines,
    # which keeps PyYAML (an mlflow dependency) out of the scoring path.
    match = re.search(rf"^\s*{re.escape(key)}:\s*([^\s#]+)\s*$", text, flags=re.MULTILINE)
    return match.group(1).strip("'\"") if match else None


def load_mlflow_model_dir(
    folder: Path,
    threshold: float | None = None,
    run_id: str | None = None,
    envelope: Envelope | None = None,
) -> PublishedModel:
    """An MLflow sklearn model saved with skops, through the trusted-types loader."""
    mlmodel = folder / MLMODEL_FILE
    try:
        text = mlmodel.read_text()
    except OSError as exc:
        raise ModelStoreError(f"{mlmodel}: cannot read ({exc.strerror}).") from None
    serialization = _mlmodel_field(text, "serialization_format")
    if serialization is not None and serialization != "skops":
        raise ModelIntegrityError(
            f"{folder}: the model is serialized with {serialization!r}; only skops models are "
            f"loaded (pickle can run arbitrary code)."
        )
    skops_name = _mlmodel_field(text, "pickled_model") or SKOPS_FILE
    pipeline = load_skops(folder / skops_name)
    try:
        proba = proba_function(pipeline)
    except ValueError as exc:
        raise ModelIntegrityError(f"{folder}: {exc}") from None
    n_features = getattr(pipeline, "n_features_in_", len(FEATURES))
    if n_features != len(FEATURES):
        raise ModelIntegrityError(
            f"{folder}: the model takes {n_features} features, not the {len(FEATURES)} WDBC ones."
        )
    metadata: dict[str, Any] = {
        "run_id": run_id or _mlmodel_field(text, "run_id") or "unknown",
        "threshold": DEFAULT_THRESHOLD if threshold is None else threshold,
        "feature_names": list(FEATURES),
        "source": str(folder),
        "verified": False,
    }
    return PublishedModel(
        folder=folder.resolve(),
        metadata=metadata,
        pipeline=pipeline,
        proba=proba,
        envelope=envelope,
    )


_REGISTRY_URI = re.compile(r"^models:/(?P<name>[^/@]+)(?:@(?P<alias>[^/@]+)|/(?P<version>\d+))$")


def load_registry_model(uri: str, tracking_uri: str | None = None) -> PublishedModel:
    """``models:/name@alias`` (or ``models:/name/version``) from the MLflow Model Registry."""
    match = _REGISTRY_URI.match(uri)
    if match is None:
        raise ModelStoreError(
            f"{uri}: expected models:/<name>@<alias> or models:/<name>/<version>, "
            f"e.g. models:/breast-cancer-classifier@champion."
        )
    import mlflow
    from mlflow.exceptions import MlflowException

    from breast_cancer_ml.adapters.tracking import resolve_tracking_uri

    store = resolve_tracking_uri(tracking_uri)
    client = mlflow.MlflowClient(tracking_uri=store, registry_uri=store)
    try:
        if match["alias"]:
            version = client.get_model_version_by_alias(match["name"], match["alias"])
        else:
            version = client.get_model_version(match["name"], match["version"])
        with tempfile.TemporaryDirectory(prefix="bcml-registry-") as tmp:
            # the version's files are fetched from where the registry says they are, through
            # the client bound to this store: a models:/ download would look the name up in
            # MLflow's process-wide registry URI, which this function must neither need nor set
            where = client.get_model_version_download_uri(version.name, version.version)
            local = mlflow.artifacts.download_artifacts(
                artifact_uri=where, dst_path=tmp, tracking_uri=store
            )
            summary = _run_summary(version.run_id, Path(tmp) / "run", store)
            model = load_mlflow_model_dir(
                Path(local),
                None if summary is None else summary.threshold,
                version.run_id,
                None if summary is None else summary.envelope,
            )
    except MlflowException as exc:
        raise ModelStoreError(f"{uri} (tracking store {store}): {exc.message}") from None
    if summary is not None:  # the same refer rule as the published copy of this run
        model = dataclasses.replace(
            model,
            refer_rule=summary.conformal,
            explain_rule=summary.explainer,
            drift_reference=summary.drift_reference,
        )
    model.metadata["source"] = uri
    model.metadata["registered_model"] = {"name": match["name"], "version": version.version}
    return model


def _run_summary(run_id: str | None, tmp: Path, store: str) -> RunSummary | None:
    """The training run's ``run_summary.json`` (``None`` when there is none or it is not
    JSON: the model is then scored at the default threshold and never reported with high
    confidence). One that breaks :class:`RunSummary` (e.g. a threshold outside (0, 1])
    refuses the model rather than fall back to another threshold."""
    if not run_id:
        return None
    import mlflow
    from mlflow.exceptions import MlflowException

    try:
        path = mlflow.artifacts.download_artifacts(
            run_id=run_id, artifact_path="run_summary.json", dst_path=str(tmp), tracking_uri=store
        )
        data = json.loads(Path(path).read_text())
    except (MlflowException, OSError, ValueError):
        return None
    return parse_record(RunSummary, data, f"the training run's run_summary.json (run {run_id})")
