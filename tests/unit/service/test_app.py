"""The app in-process: unexpected errors, CORS, settings, OpenAPI (no model files needed)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient

from breast_cancer_ml.domain.contract import HARD_BOUNDS, HARD_MAX, Envelope
from breast_cancer_ml.domain.schema import FEATURES
from breast_cancer_ml.errors import ConfigError
from breast_cancer_ml.service.app import create_app
from breast_cancer_ml.service.schemas import EXAMPLE_ROW
from breast_cancer_ml.settings import ServeSettings, load_settings


class _Model:
    """Stands in for a loaded PublishedModel (the holder's contract: run_id, proba, threshold,
    envelope, registry_version, conformal, drift_profile); its envelope holds every valid case."""

    run_id = "run-under-test"
    threshold = 0.5
    envelope = Envelope(low=(0.0,) * 30, high=tuple(HARD_MAX.tolist()))
    registry_version = None
    conformal = None  # published without a refer rule
    drift_profile = None  # published without a drift reference

    def __init__(self, proba: Any) -> None:
        self.proba = proba


def _client(tmp_path: Path, model: Any, **settings: Any) -> TestClient:
    app = create_app(ServeSettings(models_dir=tmp_path / "models", **settings))
    app.state.service.holder.current = model
    return TestClient(app, raise_server_exceptions=False)


def test_unexpected_error_is_500_with_request_id_and_no_trace(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(X: Any) -> Any:
        raise RuntimeError("internal detail that must not leak")

    with _client(tmp_path, _Model(broken)) as client:
        r = client.post("/predict", json={"features": EXAMPLE_ROW})
    assert r.status_code == 500
    doc = r.json()
    assert doc["request_id"] == r.headers["x-request-id"]
    assert "internal detail" not in r.text
    assert "Traceback" not in r.text
    logged = [rec for rec in caplog.records if getattr(rec, "event", "") == "unhandled_error"]
    assert logged
    assert logged[0].request_id == doc["request_id"]  # type: ignore[attr-defined]
    assert logged[0].exc_info is not None  # the trace goes to the log, not the client


def _linear(X: Any) -> Any:
    return np.full(len(X), 0.7)


def test_cors_off_by_default(tmp_path: Path) -> None:
    with _client(tmp_path, _Model(_linear)) as client:
        r = client.post(
            "/predict", json={"features": EXAMPLE_ROW}, headers={"Origin": "https://evil.example"}
        )
        assert r.status_code == 200
        assert r.json()["probability"] == 0.7
        assert r.json()["confidence"] == "medium"
        assert "access-control-allow-origin" not in r.headers
        pre = client.options(
            "/predict",
            headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"},
        )
        assert "access-control-allow-origin" not in pre.headers


def test_cors_when_configured(tmp_path: Path) -> None:
    origin = "https://ehr.hospital.example"
    with _client(tmp_path, _Model(_linear), cors_origins=[origin]) as client:
        r = client.post("/predict", json={"features": EXAMPLE_ROW}, headers={"Origin": origin})
        assert r.status_code == 200
        assert r.headers["access-control-allow-origin"] == origin
        assert r.headers["x-request-id"]
        other = client.post(
            "/predict", json={"features": EXAMPLE_ROW}, headers={"Origin": "https://other.example"}
        )
        assert "access-control-allow-origin" not in other.headers


def test_serve_settings_from_env_and_flags(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BCML_CORS_ORIGINS", "https://a.example, https://b.example")
    monkeypatch.setenv("BCML_API_KEY", "s3cr3t-v4lue-0123456")
    monkeypatch.setenv("BCML_PORT", "9000")
    s = load_settings(ServeSettings, None, port=8123, max_batch_rows=None)
    assert s.cors_origins == ["https://a.example", "https://b.example"]
    assert s.api_key is not None
    assert s.api_key.get_secret_value() == "s3cr3t-v4lue-0123456"
    assert "s3cr3t-v4lue-0123456" not in repr(s)
    assert s.port == 8123  # a flag beats the environment
    assert s.max_batch_rows == 10_000
    with pytest.raises(ConfigError, match="workers"):
        load_settings(ServeSettings, None, workers=0)
    assert s.body_timeout == 10.0
    assert s.limit_concurrency == 32


@pytest.mark.parametrize(
    ("key", "said"),
    [("", "empty (0 characters)"), ("fifteen-chars-x", "too short (15 characters)")],
)
def test_an_empty_or_short_api_key_is_refused_without_showing_it(
    monkeypatch: pytest.MonkeyPatch, key: str, said: str
) -> None:
    monkeypatch.setenv("BCML_API_KEY", key)
    with pytest.raises(ConfigError) as err:
        load_settings(ServeSettings, None)
    assert f"api_key (BCML_API_KEY) is set but {said}" in str(err.value)
    if key:
        assert key not in str(err.value)
    monkeypatch.setenv("BCML_API_KEY", "sixteen-chars-ok")
    assert load_settings(ServeSettings, None).api_key is not None
    monkeypatch.setenv("BCML_API_KEY", "sixteen chars no")
    with pytest.raises(ConfigError, match="without spaces"):
        load_settings(ServeSettings, None)


def test_openapi_documents_the_declared_prediction_bodies(tmp_path: Path) -> None:
    spec = create_app(ServeSettings(models_dir=tmp_path)).openapi()
    schemas = spec["components"]["schemas"]
    predict = schemas["PredictRequest"]
    features = predict["properties"]["features"]["anyOf"]
    arr = next(f for f in features if f.get("type") == "array")
    assert arr["minItems"] == arr["maxItems"] == 30
    # each position and each name carries its own feature's bound, from the contract
    for item, name in zip(arr["prefixItems"], FEATURES, strict=True):
        assert item["minimum"] == 0
        assert item["maximum"] == HARD_BOUNDS[name]
    by_name = schemas["FeatureMap"]["properties"]
    assert {n: by_name[n]["maximum"] for n in FEATURES} == HARD_BOUNDS
    assert schemas["FeatureMap"]["additionalProperties"] is False
    assert len(schemas["FeatureMap"]["required"]) == 30
    inv = spec["paths"]["/invocations"]["post"]["requestBody"]["content"]
    assert set(inv) == {"application/json", "text/csv"}
    assert set(spec["paths"]["/predict"]["post"]["responses"]) >= {"200", "413", "415", "422"}


def test_openapi_shows_the_batch_limit_of_the_running_settings_and_it_is_enforced(
    tmp_path: Path,
) -> None:
    app = create_app(ServeSettings(models_dir=tmp_path / "models", max_batch_rows=7))
    with TestClient(app) as client:
        spec = client.get("/openapi.json").json()
        body = spec["paths"]["/predict/batch"]["post"]["requestBody"]["content"]
        ref = body["application/json"]["schema"]["$ref"].rsplit("/", 1)[-1]
        assert spec["components"]["schemas"][ref]["properties"]["instances"]["maxItems"] == 7
        app.state.service.holder.current = _Model(_linear)
        for fast in (True, False):
            if not fast:
                app.fast_routes = {}  # the declared route answers
            seven = client.post("/predict/batch", json={"instances": [EXAMPLE_ROW] * 7})
            eight = client.post("/predict/batch", json={"instances": [EXAMPLE_ROW] * 8})
            assert (seven.status_code, eight.status_code) == (200, 413)
            assert eight.json()["detail"] == (
                "instances: 8 rows, more than the limit of 7 per request (max_batch_rows); "
                "split the batch"
            )


def test_one_app_serves_predictions_and_the_rest_through_one_state(tmp_path: Path) -> None:
    app = create_app(ServeSettings(models_dir=tmp_path / "models"))
    with TestClient(app) as client:
        r = client.post("/predict", json={"features": EXAMPLE_ROW})
        assert r.status_code == 503  # no model yet: the fast path answers
        assert client.get("/ready").status_code == 503
        app.state.service.holder.current = _Model(_linear)
        assert client.post("/predict", json={"features": EXAMPLE_ROW}).status_code == 200
        assert client.get("/ready").status_code == 200  # ... sees the same model holder
        metrics = client.get("/metrics").text
        assert 'route="/predict",method="POST",status="200"} 1' in metrics
        assert client.get("/openapi.json").json()["paths"]["/predict"]


def test_with_cors_predictions_go_through_the_declared_route_and_get_cors_headers(
    tmp_path: Path,
) -> None:
    origin = "https://ehr.hospital.example"
    app = create_app(ServeSettings(models_dir=tmp_path / "models", cors_origins=[origin]))
    with TestClient(app) as client:
        app.state.service.holder.current = _Model(_linear)
        r = client.post("/predict", json={"features": EXAMPLE_ROW}, headers={"Origin": origin})
        assert r.status_code == 200
        assert r.headers["access-control-allow-origin"] == origin
        assert r.headers["x-request-id"]
