"""Issue 15's service rough edges over real HTTP and the real CLI: registry version in answers,
CSV with a byte order mark, a clear exit when the port is taken, one error shape everywhere
(with what to do), and a missing Content-Type said plainly."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest

from breast_cancer_ml.domain.schema import FEATURES
from breast_cancer_ml.service.schemas import EXAMPLE_ROW

from .conftest import free_port, promote

pytestmark = pytest.mark.integration


def _error(r: httpx.Response, status: int, code: str) -> dict[str, Any]:
    """The one error shape, asserted: error.{status, code, message, field} and a request id."""
    assert r.status_code == status, r.text
    doc: dict[str, Any] = r.json()
    assert set(doc["error"]) == {"status", "code", "message", "field"}
    assert doc["error"]["status"] == status
    assert doc["error"]["code"] == code
    assert doc["request_id"] == r.headers["x-request-id"]
    return doc


def test_answers_and_model_info_carry_the_registry_version_beside_the_run_id(
    tmp_path: Path, start_server: Any, trained: Any
) -> None:
    models = tmp_path / "models"
    registered = {"name": "breast-cancer-classifier", "version": "7"}
    run_id = promote(models, trained["a"], metadata={"registered_model": registered})
    server = start_server(models)
    c = server.client
    server.wait_for(lambda: c.get("/ready").status_code == 200)
    one = c.post("/predict", json={"features": EXAMPLE_ROW}).json()
    assert (one["model_version"], one["registry_version"]) == (run_id, "7")
    batch = c.post("/predict/batch", json={"instances": [EXAMPLE_ROW]}).json()
    assert (batch["model_version"], batch["registry_version"]) == (run_id, "7")
    assert batch["predictions"][0]["registry_version"] == "7"
    info = c.get("/model/info").json()
    assert (info["run_id"], info["registry_version"]) == (run_id, "7")
    assert c.get("/ready").json()["registry_version"] == "7"


def test_unregistered_model_answers_with_a_null_registry_version(served: Any) -> None:
    server, run_id, _ = served
    assert server.client.get("/model/info").json()["registry_version"] is None
    doc = server.client.post("/predict", json={"features": EXAMPLE_ROW}).json()
    assert doc["model_version"] == run_id
    assert doc["registry_version"] is None


def test_invocations_read_a_csv_with_a_utf8_byte_order_mark(served: Any) -> None:
    """What Excel writes as "CSV UTF-8"."""
    server, _, _ = served
    csv = ",".join(f'"{c}"' if " " in c else c for c in FEATURES) + "\n"
    csv += ",".join(map(str, EXAMPLE_ROW)) + "\n"
    r = server.client.post(
        "/invocations",
        content=b"\xef\xbb\xbf" + csv.encode(),
        headers={"Content-Type": "text/csv"},
    )
    assert r.status_code == 200, r.text
    assert r.json() == {"predictions": [1]}


def test_serve_on_a_port_in_use_says_so_and_exits_5(tmp_path: Path) -> None:
    port = free_port()
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", port))
        taken.listen()
        env = {k: v for k, v in os.environ.items() if not k.startswith("BCML_")}
        out = subprocess.run(
            [sys.executable, "-m", "breast_cancer_ml", "serve", "--port", str(port)],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert out.returncode == 6, out.stderr
    assert out.stderr.strip() == (
        f"error: port {port} on 127.0.0.1 is already in use; stop the other server or pass --port"
    )


def test_wrong_method_and_unknown_paths_answer_in_the_error_shape_with_what_to_do(
    served: Any,
) -> None:
    server, _, _ = served
    c = server.client
    doc = _error(c.get("/predict"), 405, "method_not_allowed")
    assert doc["error"]["message"] == "GET is not allowed here; use POST /predict with a JSON body"
    assert doc["detail"] == doc["error"]["message"]  # the field existing clients read
    assert c.get("/predict").headers["allow"] == "POST"
    doc = _error(c.post("/health"), 405, "method_not_allowed")
    assert doc["error"]["message"] == "POST is not allowed here; use GET /health"
    doc = _error(c.get("/nope"), 404, "not_found")
    assert doc["error"]["message"] == "no route '/nope'; GET / lists the endpoints"


def test_a_trailing_slash_is_a_404_naming_the_route_not_an_empty_redirect(served: Any) -> None:
    server, _, _ = served
    for path in ("/predict/", "/predict/batch/", "/health/"):
        r = server.client.request(
            "POST" if path.startswith("/predict") else "GET",
            path,
            json={"features": EXAMPLE_ROW},
            follow_redirects=False,
        )
        doc = _error(r, 404, "not_found")
        assert doc["error"]["message"] == (
            f"no route {path!r}; use {path.rstrip('/')} (no trailing slash)"
        )


def test_every_prediction_error_has_the_one_shape(served: Any) -> None:
    server, _, _ = served
    c = server.client
    body = json.dumps({"features": EXAMPLE_ROW})
    json_type = {"Content-Type": "application/json"}
    _error(c.post("/predict", content="{", headers=json_type), 400, "bad_request")
    doc = _error(c.post("/predict", json={"features": [1, 2]}), 422, "invalid_input")
    assert doc["error"]["field"] == doc["field"] == "features"
    doc = _error(
        c.post("/predict", content=body, headers={"Content-Type": "text/plain"}),
        415,
        "unsupported_media_type",
    )
    assert doc["error"]["message"] == "Content-Type must be application/json, got 'text/plain'"
    big = b'{"instances": [' + b"1," * (9 * 1024 * 1024) + b"1]}"
    _error(c.post("/predict/batch", content=big, headers=json_type), 413, "too_large")
    # /invocations: the same shape, plus the two fields MLflow's clients read
    doc = _error(c.post("/invocations", content=b"{}", headers=json_type), 400, "bad_request")
    assert doc["error_code"] == "INVALID_PARAMETER_VALUE"  # as MLflow answers it
    assert doc["message"] == doc["error"]["message"]


def test_a_missing_content_type_is_said_plainly(served: Any) -> None:
    server, _, _ = served
    body = json.dumps({"features": EXAMPLE_ROW}).encode()
    for path, said in (
        ("/predict", "no Content-Type header; send application/json"),
        ("/predict/batch", "no Content-Type header; send application/json"),
        ("/invocations", "no Content-Type header; send application/json or text/csv"),
    ):
        r = server.client.post(path, content=body)  # httpx sends no Content-Type for raw bytes
        assert "content-type" not in r.request.headers
        doc = _error(r, 415, "unsupported_media_type")
        assert doc["error"]["message"] == said
        assert doc["error"]["field"] == "content-type"


def test_no_model_and_unauthorized_answers_have_the_one_shape(
    tmp_path: Path, start_server: Any
) -> None:
    server = start_server(tmp_path / "models", env={"BCML_API_KEY": "k" * 16})
    c = server.client
    doc = _error(c.post("/predict", json={"features": EXAMPLE_ROW}), 401, "unauthorized")
    assert doc["error"]["message"].startswith("missing or wrong API key")
    r = c.post(
        "/predict", json={"features": EXAMPLE_ROW}, headers={"Authorization": "Bearer " + "k" * 16}
    )
    doc = _error(r, 503, "unavailable")
    assert "see /ready" in doc["error"]["message"]
    assert r.headers["retry-after"]
    _error(c.get("/model/info"), 503, "unavailable")
    doc = _error(c.get("/ready"), 503, "no_model")  # readiness fields, and the same shape
    assert (doc["ready"], doc["status"]) == (False, "no_model")
    assert doc["error"]["message"] == doc["detail"] == "no model promoted yet; run `bcml train`"
