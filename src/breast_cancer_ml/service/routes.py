"""The endpoints.

The three prediction routes are raw ASGI handlers (:class:`PredictionEndpoint`): they read the
body, check it with :mod:`.inputs`, score it with :func:`breast_cancer_ml.domain.scoring.score`
(the one scoring implementation) and write orjson bytes, without FastAPI's per-request
dependency and validation machinery, which costs more than the prediction itself. They are
still declared as FastAPI routes (:class:`RawRoute`) so ``/openapi.json`` and ``/docs``
describe their bodies and answers. The other routes are ordinary FastAPI routes.
"""

from __future__ import annotations

import hmac
import time
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass, field
from typing import Any, Final

import orjson
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, PlainTextResponse
from fastapi.routing import APIRoute

from breast_cancer_ml import __version__
from breast_cancer_ml.domain.scoring import score
from breast_cancer_ml.service import schemas
from breast_cancer_ml.service.inputs import (
    InputError,
    batch_features,
    mlflow_csv,
    mlflow_json,
    parse_json,
    single_features,
)
from breast_cancer_ml.service.metrics import CONTENT_TYPE, Metrics
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


class RawRoute(APIRoute):
    """A FastAPI route for the docs whose requests go straight to a raw ASGI endpoint."""

    def __init__(self, path: str, asgi: PredictionEndpoint, **kwargs: Any) -> None:
        async def documented_only() -> None:  # pragma: no cover - never called
            raise NotImplementedError

        super().__init__(path, documented_only, methods=["POST"], **kwargs)
        self.app = asgi  # type: ignore[assignment]


def _json_body(schema_name: str, extra: dict[str, Any] | None = None) -> dict[str, Any]:
    content: dict[str, Any] = {
        "application/json": {"schema": {"$ref": f"#/components/schemas/{schema_name}"}}
    }
    content.update(extra or {})
    return {"requestBody": {"required": True, "content": content}}


def _errors(model: Any, *codes: int) -> dict[int | str, dict[str, Any]]:
    text = {
        400: "Malformed JSON or an invalid value (MLflow protocol)",
        401: "Missing or wrong API key (when BCML_API_KEY is set)",
        413: "Body or batch too large",
        415: "Wrong Content-Type",
        422: "Invalid input; the message names the field",
        503: "No verified model loaded",
    }
    return {code: {"model": model, "description": text[code]} for code in codes}


def prediction_routes(state: ServiceState) -> list[APIRoute]:
    common: dict[str, Any] = {"tags": ["predictions"]}
    return [
        RawRoute(
            "/predict",
            PredictionEndpoint(state, handle_predict, mlflow_errors=False),
            summary="Predict one case",
            description=(
                'Body: `{"features": [30 numbers]}` in the dataset\'s feature order, or '
                '`{"features": {"radius_mean": ..., ...}}` with all 30 names.'
            ),
            response_model=schemas.PredictResponse,
            responses=_errors(schemas.ErrorResponse, 400, 401, 413, 415, 422, 503),
            openapi_extra=_json_body("PredictRequest"),
            **common,
        ),
        RawRoute(
            "/predict/batch",
            PredictionEndpoint(state, handle_batch, mlflow_errors=False),
            summary="Predict several cases",
            description='Body: `{"instances": [row, ...]}`, each row as for /predict.',
            response_model=schemas.BatchResponse,
            responses=_errors(schemas.ErrorResponse, 400, 401, 413, 415, 422, 503),
            openapi_extra=_json_body("BatchRequest"),
            **common,
        ),
        RawRoute(
            "/invocations",
            PredictionEndpoint(state, handle_invocations, mlflow_errors=True),
            summary="MLflow scoring protocol (drop-in for `mlflow models serve`)",
            description=(
                "JSON with exactly one of `dataframe_split`, `dataframe_records`, `instances`, "
                "`inputs`, or `text/csv` with a header row; answers "
                '`{"predictions": [0 or 1, ...]}` as the MLflow scoring server does.'
            ),
            response_model=schemas.InvocationsResponse,
            responses=_errors(schemas.MlflowErrorResponse, 400, 401, 413, 415, 503),
            openapi_extra=_json_body(
                "InvocationsRequest",
                {"text/csv": {"schema": {"type": "string"}, "example": "radius_mean,...\n"}},
            ),
            **common,
        ),
    ]


def info_router(state: ServiceState) -> APIRouter:
    router = APIRouter()
    holder = state.holder

    def model_status() -> schemas.ModelStatus:
        model = holder.current
        refusal = holder.refusal
        return schemas.ModelStatus(
            status=holder.status,
            run_id=model.run_id if model is not None else None,
            loaded_at=iso(holder.loaded_at) if model is not None else None,
            error=refusal.reason if refusal is not None else None,
        )

    @router.get("/", response_model=schemas.Root, tags=["service"], summary="Service index")
    async def index() -> schemas.Root:
        model = holder.current
        return schemas.Root(
            name=SERVICE_NAME,
            version=__version__,
            api_version=API_VERSION,
            model_version=model.run_id if model is not None else None,
            links={
                "predict": "/predict",
                "batch": "/predict/batch",
                "invocations": "/invocations",
                "health": "/health",
                "ready": "/ready",
                "model_info": "/model/info",
                "metrics": "/metrics",
                "docs": "/docs",
                "openapi": "/openapi.json",
            },
        )

    @router.get(
        "/health",
        response_model=schemas.Health,
        tags=["service"],
        summary="Liveness: 200 while the process serves; model status in the body",
    )
    async def health() -> schemas.Health:
        return schemas.Health(
            status="ok",
            api_version=API_VERSION,
            version=__version__,
            uptime_s=round(time.time() - state.started, 3),
            model=model_status(),
        )

    @router.get(
        "/ready",
        response_model=schemas.Ready,
        tags=["service"],
        summary="Readiness: 200 only with a verified model loaded, else 503",
        responses={503: {"model": schemas.Ready, "description": "No verified model"}},
    )
    async def ready() -> Any:
        model = holder.current
        if model is not None:
            return schemas.Ready(ready=True, status="ready", model_version=model.run_id)
        refusal = holder.refusal
        detail = (
            refusal.reason
            if refusal is not None
            else f"no model promoted yet in {holder.models_dir}/latest; run `bcml train`"
        )
        doc = schemas.Ready(ready=False, status=holder.status, model_version=None, detail=detail)
        return JSONResponse(doc.model_dump(), status_code=503)

    @router.get(
        "/model/info",
        response_model=schemas.ModelInfo,
        tags=["service"],
        summary="The served model: run id, data version, metrics, threshold, feature order",
        responses={503: {"model": schemas.ErrorResponse, "description": "No verified model"}},
    )
    async def model_info(request: Request) -> Any:
        model = holder.current
        if model is None:
            return JSONResponse(
                {
                    "detail": f"no verified model is loaded ({holder.status}); see /ready",
                    "field": None,
                    "request_id": request.scope.get(REQUEST_ID_KEY, ""),
                },
                status_code=503,
            )
        meta = model.metadata
        return schemas.ModelInfo(
            run_id=model.run_id,
            promoted_at=meta.get("promoted_at"),
            data_version=meta.get("data_version"),
            model_type=meta.get("model_type"),
            model_uri=meta.get("model_uri"),
            registered_model=meta.get("registered_model"),
            metrics={k: float(v) for k, v in meta.get("metrics", {}).items()},
            threshold=model.threshold,
            gate=meta.get("gate"),
            feature_names=model.feature_names,
            loaded_at=iso(holder.loaded_at),
        )

    @router.get(
        "/metrics",
        tags=["service"],
        summary="Prometheus metrics (text format 0.0.4)",
        response_class=PlainTextResponse,
    )
    async def metrics() -> PlainTextResponse:
        model = holder.current
        text = state.metrics.render(model.run_id if model is not None else None, holder.status)
        return PlainTextResponse(text, media_type=CONTENT_TYPE)

    return router
