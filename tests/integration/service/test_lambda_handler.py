"""The Lambda handler, invoked in-process as the Lambda runtime would, with the events API
Gateway sends: REST APIs (payload format 1.0) and HTTP APIs / function URLs (2.0), base64 bodies
included. The model is a real published one; answers are checked against scikit-learn."""

from __future__ import annotations

import base64
import copy
import json
import logging
from pathlib import Path
from typing import Any

import pytest

from breast_cancer_ml.domain.schema import FEATURES
from breast_cancer_ml.service import lambda_handler
from breast_cancer_ml.settings import ServeSettings

from .conftest import TrainedModel, expected_proba, promote

EXAMPLE = [17.99, 10.38, 122.8, 1001.0, 0.1184, 0.2776, 0.3001, 0.1471, 0.2419, 0.07871,
           1.095, 0.9053, 8.589, 153.4, 0.006399, 0.04904, 0.05373, 0.01587, 0.03003, 0.006193,
           25.38, 17.33, 184.6, 2019.0, 0.1622, 0.6656, 0.7119, 0.2654, 0.4601, 0.1189]  # fmt: skip

# As API Gateway documents them (REST proxy integration; HTTP API payload 2.0), trimmed of
# nothing the adapter reads.
REST_EVENT: dict[str, Any] = {
    "resource": "/{proxy+}",
    "path": "/health",
    "httpMethod": "GET",
    "headers": {
        "Accept": "application/json",
        "Host": "abc123defg.execute-api.eu-west-1.amazonaws.com",
        "User-Agent": "curl/8.5.0",
        "X-Amzn-Trace-Id": "Root=1-67a1b2c3-0123456789abcdef01234567",
        "X-Forwarded-For": "203.0.113.7",
        "X-Forwarded-Port": "443",
        "X-Forwarded-Proto": "https",
    },
    "multiValueHeaders": {
        "Accept": ["application/json"],
        "Host": ["abc123defg.execute-api.eu-west-1.amazonaws.com"],
        "User-Agent": ["curl/8.5.0"],
        "X-Amzn-Trace-Id": ["Root=1-67a1b2c3-0123456789abcdef01234567"],
        "X-Forwarded-For": ["203.0.113.7"],
        "X-Forwarded-Port": ["443"],
        "X-Forwarded-Proto": ["https"],
    },
    "queryStringParameters": None,
    "multiValueQueryStringParameters": None,
    "pathParameters": {"proxy": "health"},
    "stageVariables": None,
    "requestContext": {
        "resourceId": "a1b2c3",
        "resourcePath": "/{proxy+}",
        "httpMethod": "GET",
        "extendedRequestId": "Fq3x0HxyDoEFXYw=",
        "requestTime": "27/Nov/2026:03:00:00 +0000",
        "path": "/prod/health",
        "accountId": "123456789012",
        "protocol": "HTTP/1.1",
        "stage": "prod",
        "domainPrefix": "abc123defg",
        "requestTimeEpoch": 1795748400000,
        "requestId": "c6af9ac6-7b61-11e6-9a41-93e8deadbeef",
        "identity": {
            "cognitoIdentityPoolId": None,
            "accountId": None,
            "cognitoIdentityId": None,
            "caller": None,
            "sourceIp": "203.0.113.7",
            "principalOrgId": None,
            "accessKey": None,
            "cognitoAuthenticationType": None,
            "cognitoAuthenticationProvider": None,
            "userArn": None,
            "userAgent": "curl/8.5.0",
            "user": None,
        },
        "domainName": "abc123defg.execute-api.eu-west-1.amazonaws.com",
        "apiId": "abc123defg",
    },
    "body": None,
    "isBase64Encoded": False,
}

HTTP_API_EVENT: dict[str, Any] = {
    "version": "2.0",
    "routeKey": "$default",
    "rawPath": "/health",
    "rawQueryString": "",
    "headers": {
        "accept": "application/json",
        "content-length": "0",
        "host": "r3pmxmplak.execute-api.eu-west-1.amazonaws.com",
        "user-agent": "curl/8.5.0",
        "x-amzn-trace-id": "Root=1-67a1b2c3-0123456789abcdef01234567",
        "x-forwarded-for": "203.0.113.7",
        "x-forwarded-port": "443",
        "x-forwarded-proto": "https",
    },
    "requestContext": {
        "accountId": "123456789012",
        "apiId": "r3pmxmplak",
        "domainName": "r3pmxmplak.execute-api.eu-west-1.amazonaws.com",
        "domainPrefix": "r3pmxmplak",
        "http": {
            "method": "GET",
            "path": "/health",
            "protocol": "HTTP/1.1",
            "sourceIp": "203.0.113.7",
            "userAgent": "curl/8.5.0",
        },
        "requestId": "JKJaXmPLvHcESHA=",
        "routeKey": "$default",
        "stage": "$default",
        "time": "27/Nov/2026:03:00:00 +0000",
        "timeEpoch": 1795748400000,
    },
    "isBase64Encoded": False,
}


class Context:
    """The attributes of the Lambda context object."""

    function_name = "breast-cancer-ml"
    function_version = "$LATEST"
    invoked_function_arn = "arn:aws:lambda:eu-west-1:123456789012:function:breast-cancer-ml"
    memory_limit_in_mb = 1024
    aws_request_id = "6f1e5cde-2b1e-4a5e-9d9b-3b1f2a0c9e11"
    log_group_name = "/aws/lambda/breast-cancer-ml"
    log_stream_name = "2026/11/27/[$LATEST]0123456789abcdef"

    def get_remaining_time_in_millis(self) -> int:
        return 29_000


def rest(method: str, path: str, body: bytes | None = None, **headers: str) -> dict[str, Any]:
    event = copy.deepcopy(REST_EVENT)
    event["httpMethod"] = event["requestContext"]["httpMethod"] = method
    event["path"] = path
    event["requestContext"]["path"] = f"/prod{path}"
    event["pathParameters"] = {"proxy": path.lstrip("/")}
    for name, value in headers.items():
        key = name.replace("_", "-").title()
        event["headers"][key] = value
        event["multiValueHeaders"][key] = [value]
    if body is not None:  # a REST API with binary media types "*/*" sends every body in base64
        event["body"] = base64.b64encode(body).decode()
        event["isBase64Encoded"] = True
    return event


def http_api(
    method: str, path: str, body: bytes | None = None, *, b64: bool = False, **headers: str
) -> dict[str, Any]:
    event = copy.deepcopy(HTTP_API_EVENT)
    event["rawPath"] = event["requestContext"]["http"]["path"] = path
    event["requestContext"]["http"]["method"] = method
    event["routeKey"] = event["requestContext"]["routeKey"] = "$default"
    event["headers"].update({k.replace("_", "-").lower(): v for k, v in headers.items()})
    if body is not None:
        event["headers"]["content-length"] = str(len(body))
        # HTTP APIs pass text bodies as they are and others in base64
        event["body"] = base64.b64encode(body).decode() if b64 else body.decode()
        event["isBase64Encoded"] = b64
    return event


def body_of(response: dict[str, Any]) -> Any:
    raw = response["body"]
    if response.get("isBase64Encoded"):
        raw = base64.b64decode(raw)
    return json.loads(raw)


@pytest.fixture(scope="module")
def model_store(
    tmp_path_factory: pytest.TempPathFactory, trained: dict[str, TrainedModel]
) -> tuple[Path, str]:
    models = tmp_path_factory.mktemp("lambda") / "models"
    return models, promote(models, trained["a"])


@pytest.fixture(scope="module")
def handler(model_store: tuple[Path, str]) -> Any:
    return lambda_handler.make_handler(ServeSettings(models_dir=model_store[0]))


PREDICT = json.dumps({"features": EXAMPLE}).encode()
JSON = "application/json"


@pytest.mark.parametrize("make", [rest, http_api], ids=["rest-v1", "http-api-v2"])
def test_health_and_ready(handler: Any, model_store: tuple[Path, str], make: Any) -> None:
    health = handler(make("GET", "/health"), Context())
    assert health["statusCode"] == 200
    doc = body_of(health)
    assert doc["status"] == "ok" and doc["model"]["run_id"] == model_store[1]
    ready = handler(make("GET", "/ready"), Context())
    assert ready["statusCode"] == 200
    assert body_of(ready) == {
        "ready": True,
        "status": "ready",
        "model_version": model_store[1],
        "registry_version": None,
        "detail": None,
        "reason": None,
    }


@pytest.mark.parametrize(
    "event",
    [
        rest("POST", "/predict", PREDICT, content_type=JSON),
        http_api("POST", "/predict", PREDICT, content_type=JSON),
        http_api("POST", "/predict", PREDICT, b64=True, content_type=JSON),
    ],
    ids=["rest-v1-base64", "http-api-v2", "http-api-v2-base64"],
)
def test_predict_answers_as_the_service_does(
    handler: Any, model_store: tuple[Path, str], trained: dict[str, TrainedModel], event: Any
) -> None:
    response = handler(event, Context())
    assert response["statusCode"] == 200, response
    doc = body_of(response)
    expected = float(expected_proba(trained["a"].pipeline, [EXAMPLE])[0])
    assert doc["prediction"] == 1 and doc["prediction_label"] == "Malignant"
    assert doc["probability"] == pytest.approx(expected, abs=1e-12)
    assert doc["model_version"] == model_store[1]
    # published without a refer rule: the set is the thresholded class
    assert (doc["decision"], doc["prediction_set"]) == ("malignant", ["Malignant"])
    headers = response.get("headers") or {}
    assert headers["content-type"] == JSON and headers["x-request-id"]


@pytest.mark.parametrize("make", [rest, http_api], ids=["rest-v1", "http-api-v2"])
def test_bad_input_is_a_clear_422_and_csv_invocations_work(handler: Any, make: Any) -> None:
    short = json.dumps({"features": EXAMPLE[:29]}).encode()
    response = handler(make("POST", "/predict", short, content_type=JSON), Context())
    assert response["statusCode"] == 422
    assert "30" in body_of(response)["detail"]

    csv = (",".join(FEATURES) + "\n" + ",".join(map(str, EXAMPLE)) + "\n").encode()
    response = handler(make("POST", "/invocations", csv, content_type="text/csv"), Context())
    assert response["statusCode"] == 200, response
    assert body_of(response) == {"predictions": [1]}


@pytest.mark.parametrize("make", [rest, http_api], ids=["rest-v1", "http-api-v2"])
def test_the_input_contract_and_the_envelope_hold_in_lambda_too(handler: Any, make: Any) -> None:
    beyond = list(EXAMPLE)
    beyond[4] = 300.0  # smoothness_mean: hard bound 200
    body = json.dumps({"features": beyond}).encode()
    response = handler(make("POST", "/predict", body, content_type=JSON), Context())
    assert response["statusCode"] == 422
    error = body_of(response)["error"]
    assert error["field"] == "features[4] (smoothness_mean)"
    assert "300 is above the hard bound 200" in error["message"]

    odd = list(EXAMPLE)
    odd[4] = 50.0  # within the hard bound, far outside the training range
    body = json.dumps({"features": odd}).encode()
    response = handler(make("POST", "/predict", body, content_type=JSON), Context())
    assert response["statusCode"] == 200
    doc = body_of(response)
    assert doc["in_distribution"] is False
    assert doc["confidence"] == "low"
    assert [w["feature"] for w in doc["warnings"]] == ["smoothness_mean"]
    assert doc["decision"] == "refer"


def test_invocations_give_decisions_when_the_query_asks_in_lambda_too(handler: Any) -> None:
    csv = (",".join(FEATURES) + "\n" + ",".join(map(str, EXAMPLE)) + "\n").encode()
    v2 = http_api("POST", "/invocations", csv, content_type="text/csv")
    v2["rawQueryString"] = "decision=true"
    v1 = rest("POST", "/invocations", csv, content_type="text/csv")
    v1["queryStringParameters"] = {"decision": "true"}
    v1["multiValueQueryStringParameters"] = {"decision": ["true"]}
    expected = {
        "predictions": [{"prediction": 1, "decision": "malignant", "prediction_set": ["Malignant"]}]
    }
    for event in (v2, v1):
        response = handler(event, Context())
        assert response["statusCode"] == 200, response
        assert body_of(response) == expected


def test_without_a_model_health_answers_and_the_rest_is_503(tmp_path: Path) -> None:
    handler = lambda_handler.make_handler(ServeSettings(models_dir=tmp_path / "empty"))
    assert handler(http_api("GET", "/health"), Context())["statusCode"] == 200
    ready = handler(http_api("GET", "/ready"), Context())
    assert ready["statusCode"] == 503
    assert "no model promoted yet" in body_of(ready)["detail"]
    event = http_api("POST", "/predict", PREDICT, content_type=JSON)
    assert handler(event, Context())["statusCode"] == 503


def test_the_model_is_loaded_once_at_init_not_per_invocation(
    model_store: tuple[Path, str],
) -> None:
    handler = lambda_handler.make_handler(ServeSettings(models_dir=model_store[0]))
    holder = handler.app.state.service.holder
    assert holder.loads == 1 and holder.status == "ready"  # before any invocation
    for _ in range(3):
        assert (
            handler(rest("POST", "/predict", PREDICT, content_type=JSON), Context())["statusCode"]
            == 200
        )
    assert holder.loads == 1


def test_module_handler_is_built_from_the_environment_once(
    model_store: tuple[Path, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """What the runtime client does: import the module, look ``handler`` up, call it."""
    monkeypatch.setenv("BCML_MODELS_DIR", str(model_store[0]))
    root = logging.getLogger()
    saved = root.handlers[:], root.level  # the handler configures JSON logging for Lambda
    lambda_handler._handler.cache_clear()
    try:
        first = lambda_handler.handler
        assert lambda_handler.handler is first
        response = first(http_api("GET", "/ready"), Context())
        assert body_of(response)["model_version"] == model_store[1]
    finally:
        lambda_handler._handler.cache_clear()
        root.handlers[:], _ = saved
        root.setLevel(saved[1])
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        _ = lambda_handler.nope
