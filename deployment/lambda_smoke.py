"""`make lambda-image-test`: invoke the Lambda image's handler inside the image.

Run by deployment/lambda_image_test.sh as ``python - < lambda_smoke.py`` in the Lambda image
(read-only root, an arbitrary non-root user, as Lambda runs it). The handler is resolved the way
the runtime interface client resolves it (its own ``_get_handler``, from the image's CMD), then
called with API Gateway REST (v1, base64 body) and HTTP API (v2) events for ``/health``,
``/ready`` and ``/predict``. Exits non-zero on any unexpected answer.
"""

from __future__ import annotations

import base64
import json
import os
import sys
import time

EXAMPLE = [17.99, 10.38, 122.8, 1001.0, 0.1184, 0.2776, 0.3001, 0.1471, 0.2419, 0.07871,
           1.095, 0.9053, 8.589, 153.4, 0.006399, 0.04904, 0.05373, 0.01587, 0.03003, 0.006193,
           25.38, 17.33, 184.6, 2019.0, 0.1622, 0.6656, 0.7119, 0.2654, 0.4601, 0.1189]  # fmt: skip
HOST = "abc123defg.execute-api.eu-west-1.amazonaws.com"


def rest(method: str, path: str, body: bytes | None = None) -> dict[str, object]:
    headers = {"Host": HOST, "X-Forwarded-Port": "443", "X-Forwarded-Proto": "https"}
    if body is not None:
        headers["Content-Type"] = "application/json"
    return {
        "resource": "/{proxy+}",
        "path": path,
        "httpMethod": method,
        "headers": headers,
        "multiValueHeaders": {k: [v] for k, v in headers.items()},
        "queryStringParameters": None,
        "multiValueQueryStringParameters": None,
        "pathParameters": {"proxy": path.lstrip("/")},
        "stageVariables": None,
        "requestContext": {
            "resourcePath": "/{proxy+}",
            "httpMethod": method,
            "path": f"/prod{path}",
            "accountId": "123456789012",
            "protocol": "HTTP/1.1",
            "stage": "prod",
            "requestId": "c6af9ac6-7b61-11e6-9a41-93e8deadbeef",
            "identity": {"sourceIp": "203.0.113.7", "userAgent": "curl/8.5.0"},
            "domainName": HOST,
            "apiId": "abc123defg",
        },
        "body": base64.b64encode(body).decode() if body is not None else None,
        "isBase64Encoded": body is not None,
    }


def http_api(method: str, path: str, body: bytes | None = None) -> dict[str, object]:
    headers = {"host": HOST, "x-forwarded-port": "443", "x-forwarded-proto": "https"}
    if body is not None:
        headers["content-type"] = "application/json"
    event: dict[str, object] = {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": path,
        "rawQueryString": "",
        "headers": headers,
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "abc123defg",
            "domainName": HOST,
            "http": {
                "method": method,
                "path": path,
                "protocol": "HTTP/1.1",
                "sourceIp": "203.0.113.7",
                "userAgent": "curl/8.5.0",
            },
            "requestId": "JKJaXmPLvHcESHA=",
            "routeKey": "$default",
            "stage": "$default",
            "timeEpoch": 1795748400000,
        },
        "isBase64Encoded": False,
    }
    if body is not None:
        event["body"] = body.decode()
    return event


def main() -> None:
    from awslambdaric import bootstrap

    started = time.perf_counter()
    cmd = os.environ.get("BCML_LAMBDA_HANDLER", "breast_cancer_ml.service.lambda_handler.handler")
    handler = bootstrap._get_handler(cmd)  # how the runtime client resolves the image's CMD
    init_s = time.perf_counter() - started
    predict = json.dumps({"features": EXAMPLE}).encode()
    checks = [
        ("v1 GET /health", rest("GET", "/health"), 200),
        ("v1 GET /ready", rest("GET", "/ready"), 200),
        ("v1 POST /predict (base64)", rest("POST", "/predict", predict), 200),
        ("v2 GET /health", http_api("GET", "/health"), 200),
        ("v2 GET /ready", http_api("GET", "/ready"), 200),
        ("v2 POST /predict", http_api("POST", "/predict", predict), 200),
    ]
    failed = False
    for name, event, status in checks:
        t0 = time.perf_counter()
        response = handler(event, None)
        ms = (time.perf_counter() - t0) * 1000
        raw = response.get("body") or ""
        if response.get("isBase64Encoded"):
            raw = base64.b64decode(raw).decode()
        doc = json.loads(raw) if raw else None
        ok = response["statusCode"] == status
        if ok and "predict" in name:
            ok = isinstance(doc, dict) and doc.get("prediction") == 1
        failed |= not ok
        print(f"lambda-smoke: {name:<28} {response['statusCode']} {ms:6.1f} ms  {raw[:110]}")
    print(f"lambda-smoke: init (import + app + model load) {init_s:.2f} s, uid {os.getuid()}")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
