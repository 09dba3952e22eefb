"""Explanations over a real uvicorn server on 127.0.0.1: ``?explain=true`` and
``"explain": true`` on /predict and /predict/batch add each case's explanation, whose base
and contributions add up to the case's log-odds; a linear champion is explained exactly (and
never loads shap), a non-linear one by Kernel SHAP from the parameters published with it, and
one promoted without them answers 501 saying to re-promote."""

from __future__ import annotations

import math
import shutil
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest

from breast_cancer_ml.domain.explain import build_params
from breast_cancer_ml.domain.models import build_pipeline
from breast_cancer_ml.domain.schema import FEATURES
from breast_cancer_ml.service.schemas import EXAMPLE_ROW, EXAMPLE_ROW_BENIGN

from .conftest import ServerProcess, TrainedModel, promote

pytestmark = pytest.mark.integration


def _logit(p: float, eps: float = 0.0) -> float:
    p = min(max(p, eps), 1 - eps)
    return math.log(p / (1 - p))


def _check(answer: dict[str, Any], method: str, eps: float = 0.0) -> None:
    explanation = answer["explanation"]
    assert explanation["method"] == method and explanation["output"] == "log_odds"
    items = explanation["contributions"]
    assert sorted(i["feature"] for i in items) == sorted(FEATURES)
    sizes = [abs(i["contribution"]) for i in items]
    assert sizes == sorted(sizes, reverse=True)
    total = explanation["base"] + sum(i["contribution"] for i in items)
    assert abs(total - _logit(answer["probability"], eps)) < 1e-6


def test_linear_champion_explains_predict_by_query_and_body(served: Any) -> None:
    server, _, _ = served
    by_query = server.client.post("/predict?explain=true", json={"features": EXAMPLE_ROW})
    by_body = server.client.post("/predict", json={"features": EXAMPLE_ROW, "explain": True})
    assert by_query.status_code == by_body.status_code == 200
    assert by_query.json() == by_body.json()
    _check(by_query.json(), "linear_exact")
    values = {i["feature"]: i["value"] for i in by_query.json()["explanation"]["contributions"]}
    assert [values[f] for f in FEATURES] == EXAMPLE_ROW  # the raw values sent
    plain = server.client.post("/predict", json={"features": EXAMPLE_ROW}).json()
    assert "explanation" not in plain
    assert plain["probability"] == by_query.json()["probability"]


def test_linear_champion_explains_every_batch_row(served: Any) -> None:
    server, _, _ = served
    body = {"instances": [EXAMPLE_ROW, EXAMPLE_ROW_BENIGN]}
    by_query = server.client.post("/predict/batch?explain=true", json=body)
    by_body = server.client.post("/predict/batch", json={**body, "explain": True})
    assert by_query.status_code == by_body.status_code == 200
    assert by_query.json() == by_body.json()
    rows = by_query.json()["predictions"]
    assert [r["prediction"] for r in rows] == [1, 0]
    for row in rows:
        _check(row, "linear_exact")
    # the malignant case's largest contributions push up, the benign one's down
    assert rows[0]["explanation"]["contributions"][0]["contribution"] > 0
    assert rows[1]["explanation"]["base"] == rows[0]["explanation"]["base"]
    assert server.client.get("/model/info").json()["explainer"]["method"] == "linear_exact"
    # a linear model is explained without shap: the import guard was never lifted
    assert not [r for r in server.log_records() if r.get("event") == "explainer_imports"]


def test_a_bad_explain_value_is_refused_naming_it(served: Any) -> None:
    server, _, _ = served
    query = server.client.post("/predict?explain=perhaps", json={"features": EXAMPLE_ROW})
    assert query.status_code == 400
    assert query.json()["error"]["field"] == "explain"
    body = server.client.post("/predict", json={"features": EXAMPLE_ROW, "explain": "yes"})
    assert body.status_code == 422
    assert "explain: expected true or false" in body.json()["error"]["message"]


@pytest.fixture(scope="module")
def knn_model(tmp_path_factory: pytest.TempPathFactory, wdbc: Any) -> TrainedModel:
    """A k-nearest-neighbours model (non-linear) as an MLflow model dir, as training logs it."""
    import mlflow.sklearn
    import pandas as pd
    from mlflow.models import infer_signature

    pipeline = build_pipeline("knn", 0).fit(wdbc.X, wdbc.y)
    frame = pd.DataFrame(wdbc.X[:5], columns=list(FEATURES))
    path = tmp_path_factory.mktemp("knn") / "model"
    mlflow.sklearn.save_model(
        pipeline,
        str(path),
        serialization_format=mlflow.sklearn.SERIALIZATION_FORMAT_SKOPS,
        signature=infer_signature(frame, pipeline.predict(wdbc.X[:5])),
        pip_requirements=["scikit-learn", "skops", "numpy"],
    )
    return TrainedModel(path, pipeline, 0.0)


@pytest.fixture(scope="module")
def knn_served(
    tmp_path_factory: pytest.TempPathFactory, knn_model: TrainedModel, wdbc: Any
) -> Iterator[tuple[ServerProcess, Any]]:
    root: Path = tmp_path_factory.mktemp("knn-served")
    params = build_params(knn_model.pipeline, wdbc.X, seed=0, nsamples=200)
    promote(
        root / "models",
        knn_model,
        metadata={
            "model": "knn",
            "model_type": "KNeighborsClassifier",
            "explainer": params.model_dump(),
        },
    )
    server = ServerProcess(root / "models", root / "server.log")
    try:
        server.wait_healthy()
        server.wait_for(lambda: server.client.get("/ready").status_code == 200)
        yield server, params
    finally:
        server.stop()
        shutil.rmtree(root, ignore_errors=True)


def test_a_nonlinear_model_is_explained_by_kernel_shap_from_its_published_background(
    knn_served: Any,
) -> None:
    server, params = knn_served
    answer = server.client.post(
        "/predict?explain=true", json={"features": EXAMPLE_ROW_BENIGN}, timeout=60
    )
    assert answer.status_code == 200, answer.text
    _check(answer.json(), "kernel_shap", params.eps)
    batch = server.client.post(
        "/predict/batch", json={"instances": [EXAMPLE_ROW, EXAMPLE_ROW_BENIGN], "explain": True}
    )
    assert batch.status_code == 200
    rows = batch.json()["predictions"]
    for row in rows:
        _check(row, "kernel_shap", params.eps)
    # the same case, the same explanation (the coalitions are drawn with the published seed)
    assert rows[1]["explanation"] == answer.json()["explanation"]
    info = server.client.get("/model/info").json()["explainer"]
    assert info["method"] == "kernel_shap" and info["nsamples"] == params.nsamples
    assert "background" not in info
    events = [r for r in server.log_records() if r.get("event") == "explainer_imports"]
    assert len(events) == 1  # shap's imports were allowed once, when first needed


def test_a_nonlinear_model_promoted_before_explanations_answers_501_saying_re_promote(
    tmp_path: Path, start_server: Any, knn_model: TrainedModel
) -> None:
    promote(tmp_path / "models", knn_model, metadata={"model": "knn"})  # no explainer
    server = start_server(tmp_path / "models")
    server.wait_for(lambda: server.client.get("/ready").status_code == 200)
    refused = server.client.post("/predict?explain=true", json={"features": EXAMPLE_ROW})
    assert refused.status_code == 501
    error = refused.json()["error"]
    assert error["code"] == "explanation_unavailable"
    assert "re-promote" in error["message"] and "knn" in error["message"]
    assert server.client.get("/model/info").json()["explainer"] is None
    assert "Traceback" not in refused.text
    # the prediction itself is still answered without explain
    assert server.client.post("/predict", json={"features": EXAMPLE_ROW}).status_code == 200


def test_health_is_answered_while_kernel_shap_explains_a_batch(knn_served: Any) -> None:
    """Kernel SHAP runs off the event loop: the worker answers /health (and predictions)
    while a long explained batch is being computed."""
    server, _ = knn_served
    rows = [EXAMPLE_ROW_BENIGN] * 100
    with ThreadPoolExecutor(1) as pool:
        explained = pool.submit(
            httpx.post,
            f"{server.url}/predict/batch?explain=true",
            json={"instances": rows},
            timeout=300,
        )
        time.sleep(0.5)
        health = server.client.get("/health")
        plain = server.client.post("/predict", json={"features": EXAMPLE_ROW})
        still_running = not explained.done()
        answer = explained.result()
    assert health.status_code == plain.status_code == 200
    assert still_running  # both were answered while the batch was being explained
    assert answer.status_code == 200
    first = answer.json()["predictions"][0]["explanation"]
    assert all(r["explanation"] == first for r in answer.json()["predictions"])
