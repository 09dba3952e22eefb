"""Formats, answers and errors of the prediction routes over real HTTP."""

from __future__ import annotations

import json
import math
import subprocess
from typing import Any

import numpy as np
import pytest

from breast_cancer_ml.domain.schema import FEATURES
from breast_cancer_ml.service.schemas import EXAMPLE_NAMED, EXAMPLE_ROW

from .conftest import expected_proba

pytestmark = [
    pytest.mark.integration,
    pytest.mark.filterwarnings("ignore:X has feature names"),  # mlflow pyfunc on DataFrames
]

SEED_CURL = """curl -s -X POST {url}/predict -H "Content-Type: application/json" -d '{{"features": [17.99, 10.38, 122.8, 1001.0, 0.1184, 0.2776, 0.3001, 0.1471, 0.2419, 0.07871, 1.095, 0.9053, 8.589, 153.4, 0.006399, 0.04904, 0.05373, 0.01587, 0.03003, 0.006193, 25.38, 17.33, 184.6, 2019.0, 0.1622, 0.6656, 0.7119, 0.2654, 0.4601, 0.1189]}}'"""  # noqa: E501


def test_seed_readme_curl_works_as_written(served: Any) -> None:
    server, run_id, model = served
    out = subprocess.run(
        SEED_CURL.format(url=server.url), shell=True, capture_output=True, text=True, check=True
    )
    doc = json.loads(out.stdout)
    assert list(doc) == [
        "prediction",
        "prediction_label",
        "probability",
        "confidence",
        "decision",
        "prediction_set",
        "warnings",
        "in_distribution",
        "threshold",
        "model_version",
        "registry_version",
        "api_version",
    ]
    assert doc["warnings"] == []
    assert doc["in_distribution"] is True
    assert doc["registry_version"] is None  # promoted without the registry
    p = float(expected_proba(model.pipeline, [EXAMPLE_ROW])[0])
    assert doc["prediction"] == 1
    assert doc["prediction_label"] == "Malignant"
    assert math.isclose(doc["probability"], p, rel_tol=1e-12)
    assert doc["confidence"] == "high"
    assert doc["threshold"] == 0.5
    assert doc["model_version"] == run_id
    assert doc["api_version"] == "1"


def test_named_features_answer_as_positional(served: Any) -> None:
    server, _, _ = served
    by_name = server.client.post("/predict", json={"features": EXAMPLE_NAMED}).json()
    by_position = server.client.post("/predict", json={"features": EXAMPLE_ROW}).json()
    assert by_name == by_position


def test_batch_matches_sklearn_row_by_row(served: Any, wdbc: Any) -> None:
    server, run_id, model = served
    X = wdbc.X[:50]
    rows: list[Any] = X.tolist()
    rows[3] = dict(zip(FEATURES, rows[3], strict=True))  # rows by name mix with rows by position
    r = server.client.post("/predict/batch", json={"instances": rows})
    assert r.status_code == 200
    doc = r.json()
    assert doc["count"] == 50
    assert doc["model_version"] == run_id
    p = expected_proba(model.pipeline, X)
    got = [row["probability"] for row in doc["predictions"]]
    np.testing.assert_allclose(got, p, rtol=1e-12)
    assert [row["prediction"] for row in doc["predictions"]] == model.pipeline.predict(X).tolist()
    for row in doc["predictions"]:
        assert row["prediction_label"] == ("Malignant" if row["prediction"] else "Benign")
        pr = row["probability"]
        want = "high" if pr >= 0.8 or pr <= 0.2 else "medium" if pr >= 0.6 or pr <= 0.4 else "low"
        assert row["confidence"] == want


def test_batch_limit_is_configurable_default_10000(served: Any) -> None:
    server, _, _ = served
    r = server.client.post("/predict/batch", json={"instances": [EXAMPLE_ROW] * 10_000})
    assert r.status_code == 200
    assert r.json()["count"] == 10_000
    r = server.client.post("/predict/batch", json={"instances": [EXAMPLE_ROW] * 10_001})
    assert r.status_code == 413
    assert "max_batch_rows" in r.json()["detail"]


# ---- /invocations against the real MLflow scoring server logic --------------------------------


def _payloads(X: Any) -> list[tuple[str, Any]]:
    cols = list(FEATURES)
    records = [dict(zip(cols, row, strict=True)) for row in X.tolist()]
    columnar = {c: X[:, j].tolist() for j, c in enumerate(cols)}
    split_reversed = {"columns": cols[::-1], "data": [row[::-1] for row in X.tolist()]}
    csv_text = ",".join(f'"{c}"' if " " in c else c for c in cols) + "\n"
    csv_text += "\n".join(",".join(repr(v) for v in row) for row in X.tolist()) + "\n"
    return [
        ("application/json", {"dataframe_split": {"columns": cols, "data": X.tolist()}}),
        ("application/json", {"dataframe_split": split_reversed}),
        ("application/json", {"dataframe_records": records}),
        ("application/json", {"instances": records}),
        ("application/json", {"inputs": records}),
        ("application/json", {"inputs": columnar}),
        ("application/json", {"instances": columnar}),
        ("application/json", {"dataframe_records": records, "params": {"ignored": 1}}),
        ("application/json; charset=utf-8", {"dataframe_records": records}),
        ("text/csv", csv_text),
    ]


@pytest.fixture(scope="module")
def mlflow_pyfunc(served: Any) -> Any:
    import mlflow.pyfunc

    _, _, model = served
    return mlflow.pyfunc.load_model(str(model.model_dir))


def test_invocations_answer_exactly_as_mlflow_scoring_server(
    served: Any, mlflow_pyfunc: Any, wdbc: Any
) -> None:
    from mlflow.pyfunc import scoring_server

    server, _, _ = served
    X = wdbc.X[::10]  # 57 rows, both classes
    schema = mlflow_pyfunc.metadata.get_input_schema()
    for content_type, payload in _payloads(X):
        body = payload if isinstance(payload, str) else json.dumps(payload)
        ref = scoring_server.invocations(body, content_type, mlflow_pyfunc, schema)
        assert ref.status == 200, (content_type, ref.response)
        ours = server.client.post(
            "/invocations", content=body.encode(), headers={"Content-Type": content_type}
        )
        assert ours.status_code == 200, (content_type, ours.text)
        assert ours.headers["content-type"] == "application/json"
        assert ours.json() == json.loads(ref.response), content_type
    assert set(json.loads(ref.response)["predictions"]) == {0, 1}


@pytest.mark.parametrize(
    ("content_type", "body"),
    [
        ("application/json", b"{bad"),
        ("application/json", b"[1, 2]"),
        ("application/json", b"{}"),
        ("application/json", b'{"instances": [], "inputs": []}'),
        ("application/json", b'{"dataframe_records": {"radius_mean": 1}}'),
        ("application/json", b'{"dataframe_records": []}'),
        ("application/json", b'{"dataframe_records": [{"radius_mean": 1}]}'),
        ("application/json", b'{"dataframe_split": {"data": [[1, 2]]}}'),
        ("application/json", b'{"instances": [[1, 2, 3]]}'),
        ("text/csv", b"a,b\n1,2\n"),
        ("text/plain", b"x"),
        ("application/json; charset=latin-1", b"{}"),
        ("application/json; format=pandas-split", b"{}"),
    ],
)
def test_invocations_refuse_what_mlflow_refuses_with_its_status(
    served: Any, mlflow_pyfunc: Any, content_type: str, body: bytes
) -> None:
    from mlflow.exceptions import MlflowException
    from mlflow.pyfunc import scoring_server

    server, _, _ = served
    try:
        ref = scoring_server.invocations(
            body, content_type, mlflow_pyfunc, mlflow_pyfunc.metadata.get_input_schema()
        )
        ref_status = ref.status
    except MlflowException as exc:
        ref_status = exc.get_http_status_code()
    ours = server.client.post("/invocations", content=body, headers={"Content-Type": content_type})
    assert ref_status >= 400
    assert ours.status_code == ref_status, ours.text
    doc = ours.json()
    assert doc["error_code"] in {"BAD_REQUEST", "INVALID_PARAMETER_VALUE"}
    assert doc["message"]
    assert doc["request_id"] == ours.headers["x-request-id"]


# ---- errors of /predict and /predict/batch ----------------------------------------------------

ROW = json.dumps(EXAMPLE_ROW)[1:-1]  # "17.99, 10.38, ..." to splice bad tokens in


def _with(i: int, token: str) -> bytes:
    values = [json.dumps(v) for v in EXAMPLE_ROW]
    values[i] = token
    return ('{"features": [' + ", ".join(values) + "]}").encode()


BAD_PREDICT = [
    # (body, status, text the message must contain)
    (b'{"features": [1, 2, 3]}', 422, "features: expected 30 numbers"),
    (("{" + f'"features": [{ROW}, 1.0]' + "}").encode(), 422, "got 31"),
    (_with(3, '"1001.0"'), 422, "features[3] (area_mean): expected a number, got a string"),
    (_with(0, "true"), 422, "features[0] (radius_mean): expected a number, got a boolean"),
    (_with(5, "null"), 422, "features[5] (compactness_mean): expected a number, got null"),
    (_with(2, "NaN"), 422, "features[2] (perimeter_mean): missing or not a number"),
    (_with(2, "Infinity"), 422, "features[2] (perimeter_mean): inf is not a finite number"),
    (_with(2, "-Infinity"), 422, "features[2] (perimeter_mean): -inf"),
    (_with(7, "-0.5"), 422, "features[7] (concave points_mean): -0.5 is negative"),
    (_with(23, "1e300"), 422, "features[23] (area_worst): 1e+300 is above the hard bound 5e+06"),
    (_with(23, "1" + "0" * 40), 422, "features[23] (area_worst):"),
    (_with(23, "1e999"), 422, "features[23] (area_worst): inf is not a finite number"),
    (b'{"features": {"radius_mean": 1}}', 422, "missing name(s)"),
    (
        json.dumps({"features": {**EXAMPLE_NAMED, "radius": 1}}).encode(),
        422,
        "unknown name(s) ['radius']",
    ),
    (
        json.dumps({"features": {**EXAMPLE_NAMED, "area_mean": "x"}}).encode(),
        422,
        "features.area_mean: expected a number",
    ),
    (b'{"features": "17.99,10.38"}', 422, "features: expected an array of 30 numbers"),
    (b'{"feature": []}', 422, "features: field required"),
    (json.dumps({"features": EXAMPLE_ROW, "x": 1}).encode(), 422, "unknown field(s) ['x']"),
    (b"[1, 2]", 422, 'body: expected a JSON object {"features": ...}'),
    (b'{"features": [1, 2,', 400, "not valid JSON"),
    (b"", 400, "body is empty"),
    (b"\xff\xfe", 400, "not valid JSON"),
]


@pytest.mark.parametrize(("body", "status", "text"), BAD_PREDICT)
def test_predict_rejects_bad_input_naming_the_field(
    served: Any, body: bytes, status: int, text: str
) -> None:
    server, _, _ = served
    r = server.client.post("/predict", content=body, headers={"Content-Type": "application/json"})
    assert r.status_code == status, r.text
    doc = r.json()
    assert text in doc["detail"]
    assert doc["request_id"] == r.headers["x-request-id"]
    assert "Traceback" not in r.text


@pytest.mark.parametrize(
    ("doc", "status", "text"),
    [
        ({"instances": []}, 422, "instances: no rows"),
        ({"instances": [EXAMPLE_ROW, [1, 2]]}, 422, "instances[1]: expected 30 numbers"),
        ({"instances": [EXAMPLE_ROW, {"radius_mean": -1}]}, 422, "instances[1]: missing"),
        ({"instances": "x"}, 422, "instances: expected an array of rows"),
        ({"rows": []}, 422, "instances: field required"),
        (
            {"instances": [EXAMPLE_ROW, [*EXAMPLE_ROW[:-1], -2]]},
            422,
            "instances[1][29] (fractal_dimension_worst): -2 is negative",
        ),
    ],
)
def test_batch_rejects_bad_input_naming_the_field(
    served: Any, doc: Any, status: int, text: str
) -> None:
    server, _, _ = served
    r = server.client.post("/predict/batch", json=doc)
    assert r.status_code == status, r.text
    assert text in r.json()["detail"]


def test_wrong_content_type_is_415(served: Any) -> None:
    server, _, _ = served
    r = server.client.post("/predict", content=json.dumps({"features": EXAMPLE_ROW}))
    assert r.status_code == 415  # httpx sends no content type for raw content
    r = server.client.post(
        "/predict",
        data={"features": "1"},
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert r.status_code == 415
    assert "application/json" in r.json()["detail"]


def test_body_over_the_limit_is_413_streamed_or_not(served: Any) -> None:
    server, _, _ = served
    big = b'{"instances": [' + b"1," * (9 * 1024 * 1024) + b"1]}"  # 18 MB > 16 MiB default
    r = server.client.post(
        "/predict/batch", content=big, headers={"Content-Type": "application/json"}
    )
    assert r.status_code == 413
    assert "max_body_bytes" in r.json()["detail"]

    def chunks() -> Any:  # chunked transfer: no Content-Length to check up front
        for _ in range(18):
            yield b" " * (1024 * 1024)

    r = server.client.post(
        "/predict/batch", content=chunks(), headers={"Content-Type": "application/json"}
    )
    assert r.status_code == 413


def test_request_id_on_every_response_and_echoed(served: Any) -> None:
    server, _, _ = served
    c = server.client
    responses = [
        c.get("/"),
        c.get("/health"),
        c.get("/ready"),
        c.get("/metrics"),
        c.get("/model/info"),
        c.get("/openapi.json"),
        c.get("/nope"),
        c.get("/predict"),  # 405
        c.post("/predict", json={"features": []}),
        c.post("/predict", json={"features": EXAMPLE_ROW}),
        c.post("/invocations", content=b"{}", headers={"Content-Type": "application/json"}),
    ]
    ids = [r.headers.get("x-request-id") for r in responses]
    assert all(ids), ids
    assert len(set(ids)) == len(ids)
    assert [r.status_code for r in responses[6:8]] == [404, 405]
    r = c.post("/predict", json={"features": EXAMPLE_ROW}, headers={"X-Request-ID": "lb-1234.abc"})
    assert r.headers["x-request-id"] == "lb-1234.abc"
    r = c.get("/health", headers={"X-Request-ID": "bad id with spaces"})
    assert r.headers["x-request-id"] != "bad id with spaces"


def test_info_routes(served: Any) -> None:
    server, run_id, _ = served
    c = server.client
    root = c.get("/").json()
    assert root["model_version"] == run_id
    assert root["links"]["docs"] == "/docs"
    info = c.get("/model/info").json()
    assert info["run_id"] == run_id
    assert info["feature_names"] == list(FEATURES)
    assert info["threshold"] == 0.5
    assert info["metrics"] == {"test_recall": 0.95}
    assert c.get("/docs").status_code == 200
    spec = c.get("/openapi.json").json()
    body = spec["paths"]["/predict"]["post"]["requestBody"]["content"]["application/json"]
    assert body["schema"] == {"$ref": "#/components/schemas/PredictRequest"}
    assert spec["components"]["schemas"]["PredictRequest"]["examples"][0]["features"][0] == 17.99


def test_metrics_are_valid_prometheus_text(served: Any) -> None:
    from prometheus_client.parser import text_string_to_metric_families

    server, run_id, _ = served
    c = server.client
    c.post("/predict", json={"features": EXAMPLE_ROW})
    c.post("/predict", json={"features": [1]})
    r = c.get("/metrics")
    assert r.headers["content-type"].startswith("text/plain; version=0.0.4")
    families = {f.name: f for f in text_string_to_metric_families(r.text)}
    requests = {
        (s.labels["route"], s.labels["status"]): s.value
        for s in families["bcml_http_requests"].samples
    }
    assert requests[("/predict", "200")] >= 1
    assert requests[("/predict", "422")] >= 1
    assert any(
        s.name.endswith("_bucket") for s in families["bcml_http_request_duration_seconds"].samples
    )
    assert {s.labels["label"] for s in families["bcml_predictions"].samples} == {
        "malignant",
        "benign",
    }
    info = families["bcml_model_info"].samples[0]
    assert info.labels["run_id"] == run_id


def test_logs_are_json_without_feature_values(served: Any) -> None:
    server, _, _ = served
    server.client.post("/predict", json={"features": EXAMPLE_ROW})
    server.client.post("/predict", json={"features": [*EXAMPLE_ROW[:-1], -7.25]})
    records = server.log_records()
    assert records
    assert all({"ts", "level", "logger", "msg"} <= set(r) for r in records)
    lines = [line for line in server.logs().splitlines() if line.strip()]
    assert all(line.startswith("{") for line in lines), lines
    access = [r for r in records if r.get("event") == "request" and r["route"] == "/predict"]
    assert {r["status"] for r in access} >= {200, 422}  # the access log is on in this fixture
    assert all(r["request_id"] for r in access)
    text = server.logs()
    for value in ("17.99", "2019.0", "-7.25"):
        assert value not in text
