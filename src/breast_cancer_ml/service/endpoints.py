"""The prediction endpoints, as raw ASGI handlers, and what every request gets.

:class:`PredictionEndpoint` reads the body, checks it with :mod:`.inputs`, scores it with
:func:`breast_cancer_ml.domain.scoring.score` (the one scoring implementation) and writes
orjson bytes, without FastAPI's per-request dependency and validation machinery, which costs
more than the prediction itself. :class:`Observer` gives each request its id, metrics, access
log line and a safe 500. Nothing here imports FastAPI: ``bcml serve`` answers predictions
before FastAPI (docs, info routes; :mod:`.routes`) is even imported (see :mod:`.boot`).
"""

from __future__ import annotations

import asyncio
import hmac
import itertools
import logging
import re
import secrets
import time
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass, field
from typing import Any, Final

import orjson

from breast_cancer_ml.domain.scoring import score
from breast_cancer_ml.service.inputs import (
    InputError,
    batch_features,
    mlflow_csv,
    mlflow_json,
    parse_json,
    single_features,
)
from breast_cancer_ml.service.metrics import Metrics
from breast_cancer_ml.service.model_holder import ModelHolder
from breast_cancer_ml.settings import ServeSettings

API_VERSION: Final = "1"
SERVICE_NAME: Final = "breast-cancer-ml"
REQUEST_ID_KEY: Final = "bcml.request_id"  # set on the ASGI scope by the middleware

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

_JSON: Final = b"application/json"
_CSV: Final = b"text/csv"


class BodyTooLargeError(Exception):
    pass


class ClientGoneError(Exception):
    pass


@dataclass
class ServiceState:
    """Everything the handlers share; one per app."""

    settings: ServeSettings
    holder: ModelHolder
    metrics: Metrics = field(default_factory=Metrics)
    started: float = field(default_factory=time.time)

    def __post_init__(self) -> None:
        key = self.settings.api_key
        self.auth: bytes | None = (
            b"Bearer " + key.get_secret_value().encode() if key is not None else None
        )


def iso(ts: float | None) -> str | None:
    if ts is None:
        return None
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts))


async def read_body(receive: Receive, limit: int) -> bytes:
    message = await receive()
    if message["type"] == "http.disconnect":
        raise ClientGoneError
    body: bytes = message.get("body", b"")
    if not message.get("more_body", False):
        if len(body) > limit:
            raise BodyTooLargeError
        return body
    chunks = [body]
    size = len(body)
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientGoneError
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise BodyTooLargeError
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


async def send_bytes(
    send: Send, status: int, body: bytes, content_type: bytes = _JSON, extra: Any = ()
) -> None:
    headers = [(b"content-type", content_type), (b"content-length", str(len(body)).encode())]
    headers.extend(extra)
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


Handler = Callable[[ServiceState, Any, bytes, bytes], tuple[bytes, int, int]]
"""(state, model, content type, body) -> (JSON answer, rows, malignant rows)."""


class PredictionEndpoint:
    """A raw ASGI endpoint: auth, content type, body, model, handler, errors.

    Returns the response status (the app's fast dispatch records it in the metrics) and sets
    the ``X-Request-ID`` header itself.
    """

    def __init__(self, state: ServiceState, handler: Handler, mlflow_errors: bool) -> None:
        self.state = state
        self.handler = handler
        self.mlflow_errors = mlflow_errors

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> int:
        state = self.state
        rid = (b"x-request-id", scope[REQUEST_ID_KEY].encode())
        content_type = b""
        auth = None
        for key, value in scope["headers"]:
            if key == b"content-type":
                content_type = value
            elif key == b"authorization":
                auth = value
            elif key == b"content-length" and (
                not value.isdigit() or int(value) > state.settings.max_body_bytes
            ):
                return await self.error(scope, send, too_large(state.settings.max_body_bytes))
        if state.auth is not None and (auth is None or not hmac.compare_digest(auth, state.auth)):
            return await self.error(
                scope,
                send,
                InputError(
                    "missing or wrong API key: send 'Authorization: Bearer <key>'", None, 401
                ),
                extra=[(b"www-authenticate", b"Bearer")],
            )
        try:
            body = await read_body(receive, state.settings.max_body_bytes)
        except BodyTooLargeError:
            return await self.error(scope, send, too_large(state.settings.max_body_bytes))
        except ClientGoneError:
            return 499  # the client closed the connection; nothing to answer
        model = state.holder.current  # read once: this request uses this model throughout
        if model is None:
            return await self.error(
                scope,
                send,
                InputError(
                    f"no verified model is loaded ({state.holder.status}); see /ready", None, 503
                ),
            )
        try:
            answer, rows, malignant = self.handler(state, model, content_type, body)
        except InputError as exc:
            return await self.error(scope, send, exc)
        state.metrics.count_predictions(malignant, rows)
        await send_bytes(send, 200, answer, extra=(rid,))
        return 200

    async def error(self, scope: Scope, send: Send, exc: InputError, extra: Any = ()) -> int:
        rid = scope[REQUEST_ID_KEY]
        if self.mlflow_errors:
            code = "INVALID_PARAMETER_VALUE" if exc.field and exc.status == 400 else "BAD_REQUEST"
            doc: dict[str, Any] = {"error_code": code, "message": exc.message, "request_id": rid}
        else:
            doc = {"detail": exc.message, "field": exc.field, "request_id": rid}
        headers = [*extra, (b"x-request-id", rid.encode())]
        await send_bytes(send, exc.status, orjson.dumps(doc), extra=headers)
        return exc.status


def too_large(limit: int) -> InputError:
    return InputError(
        f"the request body is larger than the limit of {limit} bytes (max_body_bytes); "
        "split the batch",
        None,
        413,
    )


def _media_type(content_type: bytes) -> bytes:
    return content_type.split(b";", 1)[0].strip().lower()


def _require_json(content_type: bytes) -> None:
    if _media_type(content_type) != _JSON:
        shown = content_type.decode("latin-1") or "none"
        raise InputError(
            f"Content-Type must be application/json, got {shown!r}", "content-type", 415
        )


def handle_predict(state: ServiceState, model: Any, content_type: bytes, body: bytes) -> Any:
    _require_json(content_type)
    X = single_features(parse_json(body), state.settings.max_feature_value)
    scored = score(model.proba, X, model.threshold)
    answer = scored.records()[0]
    answer["threshold"] = scored.threshold
    answer["model_version"] = model.run_id
    answer["api_version"] = API_VERSION
    return orjson.dumps(answer), 1, answer["prediction"]


def handle_batch(state: ServiceState, model: Any, content_type: bytes, body: bytes) -> Any:
    _require_json(content_type)
    settings = state.settings
    X = batch_features(parse_json(body), settings.max_feature_value, settings.max_batch_rows)
    scored = score(model.proba, X, model.threshold)
    common = {
        "threshold": scored.threshold,
        "model_version": model.run_id,
        "api_version": API_VERSION,
    }
    rows = [{**r, **common} for r in scored.records()]
    doc = {
        "predictions": rows,
        "count": len(rows),
        "model_version": model.run_id,
        "api_version": API_VERSION,
    }
    return orjson.dumps(doc), len(rows), int(scored.prediction.sum())


def handle_invocations(state: ServiceState, model: Any, content_type: bytes, body: bytes) -> Any:
    """The scoring protocol of ``mlflow models serve``: its content-type rules, its formats,
    and ``{"predictions": [...]}`` holding ``predict()`` (0/1) as its pyfunc answers."""
    parts = [p.strip() for p in content_type.decode("latin-1").split(";")]
    mime = parts[0]
    params = dict(p.partition("=")[::2] for p in parts[1:] if p)
    if params.get("charset", "utf-8").lower() != "utf-8":
        raise InputError("The scoring server only supports UTF-8", "content-type", 415)
    if set(params) - {"charset"}:
        raise InputError(
            f"Unrecognized content type parameters: {', '.join(sorted(set(params) - {'charset'}))}",
            "content-type",
            415,
        )
    settings = state.settings
    if mime == "application/json":
        X = mlflow_json(parse_json(body), settings.max_feature_value, settings.max_batch_rows)
    elif mime == "text/csv":
        X = mlflow_csv(body, settings.max_feature_value, settings.max_batch_rows)
    else:
        raise InputError(
            "This predictor only supports the following content types: "
            f"['text/csv', 'application/json']. Got {mime or 'none'!r}.",
            "content-type",
            415,
        )
    scored = score(model.proba, X, model.threshold)
    pred = scored.prediction
    return orjson.dumps({"predictions": pred.tolist()}), len(pred), int(pred.sum())


log = logging.getLogger("breast_cancer_ml.service")
access_log = logging.getLogger("breast_cancer_ml.service.access")
_REQUEST_ID: Final = re.compile(rb"[A-Za-z0-9._:-]{1,128}")
_ID_PREFIX: Final = secrets.token_hex(4)  # per process: ids stay unique across workers
_ids = itertools.count(1)


def _request_id(scope: Scope) -> str:
    """The caller's ``X-Request-ID`` if it is short and plain (it is echoed and logged), else a
    new one: a random per-process prefix and a counter (unique; cheaper than uuid4)."""
    for key, value in scope["headers"]:
        if key == b"x-request-id":
            if _REQUEST_ID.fullmatch(value):
                return str(value.decode("ascii"))
            break
    return f"{_ID_PREFIX}-{next(_ids):x}"


def _internal_error(rid: str) -> bytes:
    return orjson.dumps(
        {
            "detail": "internal error; quote the request id when reporting it",
            "field": None,
            "request_id": rid,
        }
    )


class Observer:
    """What every request gets: a request id, metrics, the optional access log, and a 500
    without a stack trace (but with the request id) for unexpected errors, which are logged
    with their traceback."""

    def __init__(self, state: ServiceState) -> None:
        self.metrics = state.metrics
        self.access = state.settings.access_log

    def done(self, scope: Scope, route: str, status: int, start: float, rid: str) -> None:
        elapsed = time.perf_counter() - start
        self.metrics.observe(route, scope["method"], status, elapsed)
        if self.access:
            access_log.info(
                "request",
                extra={
                    "event": "request",
                    "request_id": rid,
                    "method": scope["method"],
                    "route": route,
                    "status": status,
                    "duration_ms": round(elapsed * 1000, 3),
                },
            )

    async def fast(self, endpoint: Any, scope: Scope, receive: Receive, send: Send) -> None:
        """A prediction route's endpoint, called directly (it sets the request id header)."""
        start = time.perf_counter()
        rid = scope[REQUEST_ID_KEY] = _request_id(scope)
        status = 500
        try:
            status = await endpoint(scope, receive, send)
        except Exception:
            log.exception(
                "unexpected error",
                extra={"event": "unhandled_error", "request_id": rid, "route": scope["path"]},
            )
            # endpoints send the response start and body together, last: nothing was sent
            await send_bytes(
                send, 500, _internal_error(rid), extra=[(b"x-request-id", rid.encode())]
            )
        finally:
            self.done(scope, scope["path"], status, start, rid)


def prediction_endpoints(state: ServiceState) -> dict[str, PredictionEndpoint]:
    """The three prediction endpoints by path."""
    return {
        "/predict": PredictionEndpoint(state, handle_predict, mlflow_errors=False),
        "/predict/batch": PredictionEndpoint(state, handle_batch, mlflow_errors=False),
        "/invocations": PredictionEndpoint(state, handle_invocations, mlflow_errors=True),
    }


def new_state(settings: ServeSettings) -> ServiceState:
    """A fresh :class:`ServiceState`, its model reloads counted in the metrics."""
    state = ServiceState(settings=settings, holder=ModelHolder(settings.models_dir))

    def count_reload(result: str) -> None:
        state.metrics.reloads[result] += 1

    state.holder.on_change = count_reload
    return state


async def start_service(state: ServiceState) -> asyncio.Task[None]:
    """Start-up: load the model (if one is promoted) and start watching ``models/latest``.

    Returns the watcher task; cancel it at shutdown.
    """
    settings = state.settings
    await state.holder.check_async()
    if state.holder.status == "no_model":
        log.warning(
            "no model promoted yet; /ready answers 503 until one is",
            extra={"event": "no_model", "models_dir": str(settings.models_dir)},
        )
    watcher = asyncio.create_task(state.holder.watch(settings.reload_interval))
    log.info(
        "service started",
        extra={
            "event": "started",
            "status": state.holder.status,
            "api_key": settings.api_key is not None,
            "cors_origins": settings.cors_origins,
        },
    )
    return watcher
