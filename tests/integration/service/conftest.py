"""Real servers for the service's integration tests.

``trained`` fits real pipelines on the bundled WDBC data and saves them as real MLflow model
directories (skops, with the named signature, as training logs them); ``promote`` publishes one
into a models dir with the real model store; ``ServerProcess`` runs ``python -m
breast_cancer_ml serve`` (what ``bcml serve`` runs) on 127.0.0.1 and a free port.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

from breast_cancer_ml.adapters import model_store
from breast_cancer_ml.adapters.dataset import load_dataset
from breast_cancer_ml.domain.contract import Envelope
from breast_cancer_ml.domain.models import build_pipeline
from breast_cancer_ml.domain.schema import FEATURES
from breast_cancer_ml.settings import BUNDLED_DATA


@dataclass(frozen=True)
class TrainedModel:
    model_dir: Path  # an MLflow model directory
    pipeline: Any
    C: float


@pytest.fixture(scope="session")
def wdbc() -> Any:
    return load_dataset(BUNDLED_DATA)


@pytest.fixture(scope="session")
def trained(tmp_path_factory: pytest.TempPathFactory, wdbc: Any) -> dict[str, TrainedModel]:
    """Two different real models, ``a`` (C=1) and ``b`` (C=0.05), as MLflow model dirs."""
    import mlflow.sklearn
    import pandas as pd
    from mlflow.models import infer_signature

    root = tmp_path_factory.mktemp("mlflow-models")
    out = {}
    for name, C in (("a", 1.0), ("b", 0.05)):
        pipeline = build_pipeline("logreg", 42).set_params(estimator__C=C).fit(wdbc.X, wdbc.y)
        frame = pd.DataFrame(wdbc.X[:5], columns=list(FEATURES))
        signature = infer_signature(frame, pipeline.predict(wdbc.X[:5]))
        path = root / name
        mlflow.sklearn.save_model(
            pipeline,
            str(path),
            serialization_format=mlflow.sklearn.SERIALIZATION_FORMAT_SKOPS,
            signature=signature,
            pip_requirements=["scikit-learn", "skops", "numpy"],
        )
        out[name] = TrainedModel(path, pipeline, C)
    return out


def promote(
    models_dir: Path,
    model: TrainedModel,
    *,
    tamper: bool = False,
    threshold: float = 0.5,
    metadata: dict[str, Any] | None = None,
    bad_metadata: dict[str, Any] | None = None,
    files: dict[str, str] | None = None,
) -> str:
    """Publish ``model`` as models_dir/latest with a fresh run id; return the run id.

    ``tamper`` changes model.skops after its SHA256 was recorded and before ``latest`` moves,
    as an attacker or a bad disk would. ``metadata`` adds to the promotion metadata;
    ``bad_metadata`` overwrites keys of it (a key whose value is ``...`` is removed) as a
    broken writer would: the publisher records it, sidecar hash included, so the model is
    refused for what its metadata says (a hand edit after publishing is a hash mismatch).
    ``files`` ({name: text}) are written beside the model before ``latest`` moves, as training
    publishes ``MODEL_CARD.md`` and ``MODEL_CARD.html``.
    """
    run_id = uuid.uuid4().hex

    def corrupt(folder: Path) -> None:
        for name, text in (files or {}).items():
            (folder / name).write_text(text, encoding="utf-8")
        if tamper:
            skops = folder / "model" / "model.skops"
            data = bytearray(skops.read_bytes())
            data[len(data) // 2] ^= 0xFF
            skops.write_bytes(bytes(data))

    record = {
        "run_id": run_id,
        "threshold": threshold,
        "feature_names": list(FEATURES),
        "envelope": Envelope.from_training(load_dataset(BUNDLED_DATA).X).as_dict(),
        "promoted_at": time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime()),
        "data_version": "test",
        "model_type": "LogisticRegression",
        "metrics": {"test_recall": 0.95},
        **(metadata or {}),
        **(bad_metadata or {}),
    }
    record = {k: v for k, v in record.items() if v is not ...}  # NaN is written as NaN
    model_store.publish(models_dir, run_id, model.model_dir, [], record, before_swap=corrupt)
    return run_id


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class ServerProcess:
    """``python -m breast_cancer_ml serve`` on 127.0.0.1:<free port>, logs in a file."""

    def __init__(
        self,
        models_dir: Path,
        log_path: Path,
        env: dict[str, str] | None = None,
        args: tuple[str, ...] = (),
    ):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = log_path
        cmd = [
            sys.executable,
            "-m",
            "breast_cancer_ml",
            "serve",
            "--port",
            str(self.port),
            "--models-dir",
            str(models_dir),
            "--reload-interval",
            "0.2",
            *args,
        ]
        # the caller's BCML_* variables (an API key, a port) must not leak into the test
        full_env = {k: v for k, v in os.environ.items() if not k.startswith("BCML_")}
        full_env.update({"PYTHONWARNINGS": "ignore", **(env or {})})
        self._log = log_path.open("wb")
        self.proc = subprocess.Popen(
            cmd, env=full_env, stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True
        )
        self.client = httpx.Client(base_url=self.url, timeout=10)

    def wait_healthy(self, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"server exited {self.proc.returncode}:\n{self.logs()}")
            try:
                if self.client.get("/health").status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.05)
        raise AssertionError(f"server not healthy in {timeout} s:\n{self.logs()}")

    def wait_for(self, predicate: Any, timeout: float = 15) -> Any:
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            last = predicate()
            if last:
                return last
            time.sleep(0.05)
        raise AssertionError(f"condition not met in {timeout} s (last: {last}):\n{self.logs()}")

    def logs(self) -> str:
        return self.log_path.read_text(errors="replace")

    def log_records(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.logs().splitlines() if line.startswith("{")]

    def stop(self) -> None:
        self.client.close()
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self._log.close()


@pytest.fixture
def start_server(tmp_path: Path) -> Iterator[Any]:
    servers: list[ServerProcess] = []

    def start(
        models_dir: Path, env: dict[str, str] | None = None, args: tuple[str, ...] = ()
    ) -> ServerProcess:
        server = ServerProcess(models_dir, tmp_path / f"server-{len(servers)}.log", env, args)
        servers.append(server)
        server.wait_healthy()
        return server

    yield start
    for server in servers:
        server.stop()


@pytest.fixture(scope="module")
def served(
    tmp_path_factory: pytest.TempPathFactory, trained: dict[str, TrainedModel]
) -> Iterator[tuple[ServerProcess, str, TrainedModel]]:
    """One server with model ``a`` promoted, shared by the read-only tests of a module."""
    root = tmp_path_factory.mktemp("served")
    models = root / "models"
    run_id = promote(models, trained["a"])
    server = ServerProcess(models, root / "server.log", env={"BCML_ACCESS_LOG": "true"})
    try:
        server.wait_healthy()
        server.wait_for(lambda: server.client.get("/ready").status_code == 200)
        yield server, run_id, trained["a"]
    finally:
        server.stop()
        shutil.rmtree(root, ignore_errors=True)


def expected_proba(pipeline: Any, X: Any) -> Any:
    return np.asarray(pipeline.predict_proba(np.asarray(X, dtype=float))[:, 1])
