"""Issue 10 over real HTTP: one input contract, the plausibility envelope, and the hardening of
the service (API key, body deadline, concurrency bound, duplicate keys, health without leaks,
bad metadata refused while the old model keeps serving)."""

from __future__ import annotations

import json
import math
import re
import select
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from breast_cancer_ml.domain.contract import HARD_BOUNDS
from breast_cancer_ml.domain.schema import FEATURES
from breast_cancer_ml.service.schemas import EXAMPLE_NAMED, EXAMPLE_ROW

from .conftest import promote

pytestmark = [
    pytest.mark.integration,
    pytest.mark.filterwarnings("ignore:X has feature names"),
]

SMOOTHNESS = FEATURES.index("smoothness_mean")
CSV_HEADER = ",".join(FEATURES)


def _metric(server: Any, name: str) -> float:
    text = server.client.get("/metrics").text
    match = re.search(rf"^{re.escape(name)} (\S+)$", text, re.MULTILINE)
    assert match, text
    return float(match.group(1))


def _row_with(index: int, value: float) -> list[float]:
    row = list(EXAMPLE_ROW)
    row[index] = value
    return row


def _assert_error_shape(r: httpx.Response, status: int, code: str | None = None) -> dict[str, Any]:
    """The one error shape: error.{status, code, message, field} and the request id."""
    assert r.status_code == status, r.text
    doc: dict[str, Any] = r.json()
    error = doc["error"]
    assert error["status"] == status
    assert set(error) == {"status", "code", "message", "field"}
    if code is not None:
        assert error["code"] == code
    assert error["message"]
    assert doc["request_id"] == r.headers["x-request-id"]
    return doc


# --- one input contract ----------------------------------------------------------------------


def test_a_value_beyond_its_features_hard_bound_is_refused_on_every_route_and_never_scored(
    served: Any,
) -> None:
    server, _, _ = served
    c = server.client
    scored_before = _metric(server, 'bcml_predictions_total{label="malignant"}')
    over = HARD_BOUNDS["smoothness_mean"] * 1.5  # 300 (the data's range is about 0.05-0.16)
    row = _row_with(SMOOTHNESS, over)
    named = dict(zip(FEATURES, row, strict=True))
    cases = [
        ("/predict", {"json": {"features": row}}, 422, "features[4] (smoothness_mean)"),
        ("/predict", {"json": {"features": named}}, 422, "features.smoothness_mean"),
        ("/predict/batch", {"json": {"instances": [EXAMPLE_ROW, row]}}, 422, None),
        ("/invocations", {"json": {"dataframe_records": [named]}}, 400, None),
        (
            "/invocations",
            {
                "content": f"{CSV_HEADER}\n{','.join(map(str, row))}\n",
                "headers": {"Content-Type": "text/csv"},
            },
            400,
            "csv line 2, column 'smoothness_mean'",
        ),
    ]
    for path, kwargs, status, field in cases:
        r = c.post(path, **kwargs)
        doc = _assert_error_shape(r, status)
        message = doc["error"]["message"]
        assert "smoothness_mean" in message, (path, message)
        assert "300 is above the hard bound 200" in message, (path, message)
        if field is not None:
            assert doc["error"]["field"] == field
    assert _metric(server, 'bcml_predictions_total{label="malignant"}') == scored_before


# --- the plausibility envelope ---------------------------------------------------------------


def test_out_of_envelope_case_is_scored_flagged_never_high_and_counted(served: Any) -> None:
    server, run_id, _ = served
    c = server.client
    before = _metric(server, "bcml_out_of_range_total")
    r = c.post("/predict", json={"features": _row_with(SMOOTHNESS, 50.0)})
    assert r.status_code == 200
    doc = r.json()
    assert doc["prediction_label"] in ("Malignant", "Benign")
    assert math.isfinite(doc["probability"])
    assert doc["confidence"] == "low"
    assert doc["in_distribution"] is False
    (warning,) = doc["warnings"]
    assert set(warning) == {"feature", "value", "low", "high"}
    assert warning["feature"] == "smoothness_mean"
    assert warning["value"] == 50.0
    assert 0 <= warning["low"] < 0.06 and 0.16 < warning["high"] < 0.3
    assert doc["model_version"] == run_id

    out = _row_with(FEATURES.index("area_worst"), 100_000.0)
    batch = c.post("/predict/batch", json={"instances": [EXAMPLE_ROW, out, EXAMPLE_ROW]}).json()
    assert [row["in_distribution"] for row in batch["predictions"]] == [True, False, True]
    assert [len(row["warnings"]) for row in batch["predictions"]] == [0, 1, 0]
    assert batch["predictions"][1]["warnings"][0]["feature"] == "area_worst"
    assert batch["predictions"][1]["confidence"] == "low"
    assert batch["out_of_distribution"] == 1
    assert _metric(server, "bcml_out_of_range_total") == before + 2


def test_invocations_keep_mlflows_body_and_flag_rows_out_of_range_in_headers(
    served: Any,
) -> None:
    server, _, _ = served
    before = _metric(server, "bcml_out_of_range_total")
    out = dict(EXAMPLE_NAMED, smoothness_mean=50.0)
    r = server.client.post(
        "/invocations", json={"dataframe_records": [EXAMPLE_NAMED, out, EXAMPLE_NAMED, out]}
    )
    assert r.status_code == 200
    assert list(r.json()) == ["predictions"]  # exactly what `mlflow models serve` answers
    assert len(r.json()["predictions"]) == 4
    assert r.headers["x-bcml-out-of-distribution"] == "2"
    assert r.headers["x-bcml-out-of-distribution-rows"] == "1,3"
    assert _metric(server, "bcml_out_of_range_total") == before + 2
    fine = server.client.post("/invocations", json={"dataframe_records": [EXAMPLE_NAMED]})
    assert fine.headers["x-bcml-out-of-distribution"] == "0"
    assert "x-bcml-out-of-distribution-rows" not in fine.headers


# --- API key ---------------------------------------------------------------------------------


def _serve_cli(tmp_path: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    import os

    full_env = {k: v for k, v in os.environ.items() if not k.startswith("BCML_")}
    full_env.update(env)
    return subprocess.run(
        [sys.executable, "-m", "breast_cancer_ml", "serve", "--models-dir", str(tmp_path), *args],
        env=full_env,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize(("key", "said"), [("", "empty"), ("abc123xyz", "too short")])
def test_serve_refuses_to_start_with_an_empty_or_short_api_key(
    tmp_path: Path, key: str, said: str
) -> None:
    out = _serve_cli(tmp_path, {"BCML_API_KEY": key})
    assert out.returncode == 2, out.stderr
    assert f"api_key (BCML_API_KEY) is set but {said}" in out.stderr
    assert "at least 16 characters" in out.stderr
    assert "Traceback" not in out.stderr
    if key:
        assert key not in out.stderr  # the key itself is never printed


def test_an_empty_bearer_token_never_passes(
    tmp_path: Path, start_server: Any, trained: Any
) -> None:
    models = tmp_path / "models"
    promote(models, trained["a"])
    server = start_server(models, env={"BCML_API_KEY": "a-key-of-sixteen+chars"})
    c = server.client
    server.wait_for(lambda: c.get("/ready").status_code == 200)
    body = json.dumps({"features": EXAMPLE_ROW}).encode()
    for header in (b"Bearer ", b"Bearer", b"", b"bearer a-key-of-sixteen+chars"):
        # a raw socket: HTTP clients refuse to send a header value with a trailing space
        with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
            sock.sendall(
                b"POST /predict HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                b"Content-Type: application/json\r\nAuthorization: " + header + b"\r\n"
                b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body
            )
            status, headers, payload = _read_response(sock)
        assert status == 401, header
        assert headers["www-authenticate"] == "Bearer"
        assert json.loads(payload)["error"]["code"] == "unauthorized"
    ok = c.post(
        "/predict",
        json={"features": EXAMPLE_ROW},
        headers={"Authorization": "Bearer a-key-of-sixteen+chars"},
    )
    assert ok.status_code == 200


# --- body deadline and concurrency bound -----------------------------------------------------


def _open_request(port: int, body: bytes, path: str = "/predict") -> socket.socket:
    """A connection that has sent a request's headers and nothing of its body yet."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    sock.sendall(
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n".encode()
    )
    return sock


def _read_response(sock: socket.socket) -> tuple[int, dict[str, str], bytes]:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        assert chunk, f"connection closed before a response: {data!r}"
        data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    while len(rest) < int(headers["content-length"]):
        rest += sock.recv(65536)
    return int(lines[0].split()[1]), headers, rest


def test_a_body_sent_one_byte_at_a_time_gets_408_and_the_connection_is_closed(
    tmp_path: Path, start_server: Any, trained: Any
) -> None:
    models = tmp_path / "models"
    promote(models, trained["a"])
    server = start_server(models, args=("--body-timeout", "1"))
    server.wait_for(lambda: server.client.get("/ready").status_code == 200)
    body = json.dumps({"features": EXAMPLE_ROW}).encode()
    started = time.monotonic()
    with _open_request(server.port, body) as sock:
        sent = 0
        while not select.select([sock], [], [], 0.25)[0]:  # until the server answers
            sock.sendall(body[sent : sent + 1])
            sent += 1
            assert time.monotonic() - started < 10, "no answer to a trickled body"
        status, headers, payload = _read_response(sock)
        elapsed = time.monotonic() - started
        assert sock.recv(1) == b"", "the server closes the connection"
    assert status == 408
    assert headers["connection"] == "close"
    doc = json.loads(payload)
    assert doc["error"]["code"] == "body_timeout"
    assert "within 1 s (body_timeout)" in doc["error"]["message"]
    assert 1.0 <= elapsed < 4.0
    assert sent < len(body)  # the body was indeed not complete
    with _open_request(server.port, body) as silent:  # headers, then no body at all
        status, headers, payload = _read_response(silent)
        assert silent.recv(1) == b""
    assert status == 408
    assert json.loads(payload)["error"]["code"] == "body_timeout"
    assert server.client.post("/predict", json={"features": EXAMPLE_ROW}).status_code == 200


def test_past_limit_concurrency_the_service_answers_503_with_retry_after(
    tmp_path: Path, start_server: Any, trained: Any
) -> None:
    models = tmp_path / "models"
    promote(models, trained["a"])
    server = start_server(models, args=("--limit-concurrency", "2", "--body-timeout", "20"))
    c = server.client
    server.wait_for(lambda: c.get("/ready").status_code == 200)
    body = json.dumps({"features": EXAMPLE_ROW}).encode()
    held = [_open_request(server.port, body), _open_request(server.port, body)]
    try:
        # both held requests are in flight (their bodies pending): a third one is refused
        r = server.wait_for(
            lambda: (
                (resp := c.post("/predict", json={"features": EXAMPLE_ROW})).status_code == 503
                and resp
            )
        )
        doc = _assert_error_shape(r, 503, "overloaded")
        assert r.headers["retry-after"] == "1"
        assert "limit_concurrency" in doc["error"]["message"]
        _assert_error_shape(c.get("/model/info"), 503, "overloaded")  # through FastAPI too
        assert c.get("/health").status_code == 200  # probes are never refused
        assert c.get("/ready").status_code == 200
        for sock in held:  # the held requests complete and are answered normally
            sock.sendall(body)
            status, _, payload = _read_response(sock)
            assert status == 200
            assert json.loads(payload)["prediction_label"] == "Malignant"
    finally:
        for sock in held:
            sock.close()
    assert c.post("/predict", json={"features": EXAMPLE_ROW}).status_code == 200


# --- duplicate keys --------------------------------------------------------------------------


def test_duplicate_json_keys_get_400_naming_the_key(served: Any) -> None:
    server, _, _ = served
    row = json.dumps(EXAMPLE_ROW)
    named = json.dumps(EXAMPLE_NAMED)[:-1] + ', "radius_mean": 99}'
    for path, body, key in (
        ("/predict", f'{{"features": {row}, "features": {row}}}', "features"),
        ("/predict", f'{{"features": {named}}}', "radius_mean"),
        ("/predict/batch", f'{{"instances": [{named}]}}', "radius_mean"),
        ("/invocations", f'{{"dataframe_records": [{named}]}}', "radius_mean"),
    ):
        r = server.client.post(path, content=body, headers={"Content-Type": "application/json"})
        doc = _assert_error_shape(r, 400, "duplicate_key")
        assert doc["error"]["field"] == key
        assert f"{key}: this key appears more than once" in doc["error"]["message"]


# --- health without leaks; bad metadata refused, the old model serving -----------------------


def test_a_refused_model_is_reported_by_code_without_paths_or_exception_text(
    tmp_path: Path, start_server: Any, trained: Any
) -> None:
    models = tmp_path / "models"
    promote(models, trained["a"], tamper=True)
    server = start_server(models)
    health = server.client.get("/health")
    ready = server.client.get("/ready")
    assert health.json()["model"]["error"] == "hash_mismatch"
    assert health.json()["model"]["error_message"] == (
        "the model's files do not match the hashes recorded at promotion"
    )
    assert ready.status_code == 503
    assert ready.json()["reason"] == "hash_mismatch"
    for text in (health.text, ready.text):
        assert str(tmp_path) not in text
        assert "/" not in json.dumps(json.loads(text).get("model", {}).get("error_message"))
        assert "Error" not in text
    refusal = next(r for r in server.log_records() if r.get("event") == "model_refused")
    assert refusal["reason"] == "hash_mismatch"
    assert str(tmp_path) in refusal["msg"]  # the log keeps the detail


BAD_METADATA = [
    {"threshold": float("nan")},
    {"threshold": 1.5},
    {"threshold": None},
    {"envelope": {"margin": 0.1, "bounds": {"radius_mean": [0, 1]}}},
    {"envelope": ...},
]


def test_a_model_with_bad_metadata_is_refused_on_hot_reload_and_the_old_one_keeps_serving(
    tmp_path: Path, start_server: Any, trained: Any
) -> None:
    models = tmp_path / "models"
    good = promote(models, trained["a"])
    server = start_server(models)
    c = server.client
    server.wait_for(lambda: c.get("/ready").status_code == 200)
    for n, bad in enumerate(BAD_METADATA, start=1):
        promote(models, trained["b"], bad_metadata=bad)
        server.wait_for(
            lambda n=n: _metric(server, 'bcml_model_reloads_total{result="refused"}') == n
        )
        health = c.get("/health").json()
        assert health["model"]["status"] == "ready", bad
        assert health["model"]["run_id"] == good
        assert health["model"]["error"] == "bad_metadata", bad
        ready = c.get("/ready")
        assert ready.status_code == 200
        assert ready.json()["model_version"] == good
        r = c.post("/predict", json={"features": EXAMPLE_ROW})
        assert r.status_code == 200
        assert r.json()["model_version"] == good
        assert r.json()["threshold"] == 0.5
    assert server.proc.poll() is None


# --- property: no input gives a NaN or a 500 -------------------------------------------------

numbers = st.floats(allow_nan=True, allow_infinity=True) | st.integers(-(10**30), 10**30)
rows = st.lists(numbers, min_size=30, max_size=30) | st.lists(numbers, max_size=32)
named_rows = st.fixed_dictionaries(dict.fromkeys(FEATURES, numbers))
bodies = st.one_of(
    st.fixed_dictionaries({"features": rows | named_rows}).map(lambda d: ("/predict", d)),
    st.fixed_dictionaries({"instances": st.lists(rows | named_rows, max_size=3)}).map(
        lambda d: ("/predict/batch", d)
    ),
    st.fixed_dictionaries({"dataframe_records": st.lists(named_rows, max_size=3)}).map(
        lambda d: ("/invocations", d)
    ),
)


@given(case=bodies)
@settings(max_examples=150, deadline=None, database=None, suppress_health_check=list(HealthCheck))
def test_no_request_gets_a_non_finite_probability_or_a_5xx(served: Any, case: Any) -> None:
    server, _, _ = served
    path, doc = case
    body = json.dumps(doc).encode()  # NaN and Infinity as the bare tokens
    r = server.client.post(path, content=body, headers={"Content-Type": "application/json"})
    assert r.status_code < 500, r.text
    answer = r.json()
    if r.status_code == 200:
        probabilities = (
            [answer["probability"]]
            if path == "/predict"
            else [p["probability"] for p in answer.get("predictions", [])]
            if path == "/predict/batch"
            else []
        )
        assert all(math.isfinite(p) and 0 <= p <= 1 for p in probabilities)
    else:
        assert r.status_code in (400, 422)
        assert answer["error"]["message"]
        assert answer["error"]["field"] or answer["error"]["code"] == "bad_request"
