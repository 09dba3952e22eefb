"""API key, the serving process's imports, and schema-driven fuzzing over real HTTP."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.generation import GenerationMode

from breast_cancer_ml.service.schemas import EXAMPLE_ROW

from .conftest import promote

pytestmark = pytest.mark.integration


def test_api_key_guards_prediction_routes_only(
    tmp_path: Path, start_server: Any, trained: Any
) -> None:
    models = tmp_path / "models"
    promote(models, trained["a"])
    server = start_server(models, env={"BCML_API_KEY": "s3cret-key-0123456789"})
    c = server.client
    server.wait_for(lambda: c.get("/ready").status_code == 200)
    body = {"features": EXAMPLE_ROW}
    for path, payload in (
        ("/predict", body),
        ("/predict/batch", {"instances": [EXAMPLE_ROW]}),
        (
            "/invocations",
            {
                "instances": [
                    dict(
                        zip(c.get("/model/info").json()["feature_names"], EXAMPLE_ROW, strict=True)
                    )
                ]
            },
        ),
    ):
        r = c.post(path, json=payload)
        assert r.status_code == 401, path
        assert r.headers["www-authenticate"] == "Bearer"
        assert (
            c.post(path, json=payload, headers={"Authorization": "Bearer wrong"}).status_code == 401
        )
        ok = c.post(path, json=payload, headers={"Authorization": "Bearer s3cret-key-0123456789"})
        assert ok.status_code == 200, (path, ok.text)
    for path in ("/health", "/ready", "/metrics", "/", "/model/info", "/openapi.json"):
        assert c.get(path).status_code == 200, path
    assert "s3cret-key-0123456789" not in server.logs()


def test_serving_process_never_imports_mlflow_pandas_matplotlib(
    tmp_path: Path, trained: Any
) -> None:
    """The entry point `bcml serve` uses, in a fresh interpreter: build the app, load the model,
    answer a prediction, then list what got imported."""
    models = tmp_path / "models"
    promote(models, trained["a"])
    script = textwrap.dedent(
        f"""
        import json, sys
        from breast_cancer_ml.service.startup import isolate_process
        isolate_process()  # what serve() and app_factory() do first
        from fastapi.testclient import TestClient
        from breast_cancer_ml.service.app import create_app
        from breast_cancer_ml.settings import ServeSettings
        app = create_app(ServeSettings(models_dir={str(models)!r}))  # what serve() runs
        with TestClient(app) as client:
            r = client.post("/predict", json={{"features": {EXAMPLE_ROW!r}}})
            assert client.get("/model/info").status_code == 200
        forbidden = ("mlflow", "pandas", "matplotlib")
        loaded = sorted(m for m in sys.modules if m.split(".")[0] in forbidden)
        sk = "sklearn" in sys.modules
        print(json.dumps({{"status": r.status_code, "sklearn": sk, "loaded": loaded}}))
        """
    )
    out = subprocess.run(
        [sys.executable, "-W", "ignore", "-c", script], capture_output=True, text=True, check=True
    )
    doc = json.loads(out.stdout.strip().splitlines()[-1])
    assert doc == {"status": 200, "sklearn": True, "loaded": []}


def test_real_server_process_has_no_forbidden_modules(served: Any) -> None:
    """The running `bcml serve` process itself: read its loaded shared objects and modules
    from /proc (pandas and matplotlib bring compiled extensions; mlflow would bring protobuf)."""
    server, _, _ = served
    maps = Path(f"/proc/{server.proc.pid}/maps").read_text()
    assert "sklearn" in maps  # the check can see site-packages
    for name in ("/pandas/", "/matplotlib/", "/mlflow/", "/google/protobuf/"):
        assert name not in maps, name


def _operations() -> list[tuple[str, str, GenerationMode]]:
    from breast_cancer_ml.service.app import create_app
    from breast_cancer_ml.settings import ServeSettings

    spec = create_app(ServeSettings()).openapi()  # the schema does not depend on a model
    return [
        (method.upper(), path, mode)
        for path, item in spec["paths"].items()
        for method in item
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)
        if mode is GenerationMode.POSITIVE or method == "post"  # GETs take no input to break
    ]


@pytest.fixture(scope="module")
def api_schema(served: Any) -> Any:
    server, _, _ = served
    return schemathesis.openapi.from_url(f"{server.url}/openapi.json")


@pytest.mark.parametrize(("method", "path", "mode"), _operations())
def test_fuzz_from_openapi_never_5xx(
    served: Any, api_schema: Any, method: str, path: str, mode: GenerationMode
) -> None:
    """Requests generated from the service's own OpenAPI schema, valid and invalid ones, over
    real HTTP: never a 5xx, always a request id; valid prediction requests always succeed."""
    server, _, _ = served
    operation = api_schema[path][method]

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(
        max_examples=30 if path.startswith(("/predict", "/invocations")) else 5,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    def check(case: Any) -> None:
        response = case.call(base_url=server.url, timeout=10)
        assert response.status_code < 500, (case.body, response.text)
        assert response.headers.get("x-request-id")
        if mode is GenerationMode.POSITIVE and path in ("/predict", "/predict/batch"):
            assert response.status_code == 200, (case.body, response.text)

    check()
