"""The FastAPI app behind :class:`.app.ServiceApp`: every route, declared, and the middleware.

Built by :func:`build_api` from the service's state the first time a request needs it (the fast
path of :class:`.app.ServiceApp` answers predictions without it), so FastAPI is imported after
the service has answered its first prediction, or at start-up when the fast path is off.
"""

from __future__ import annotations

import time
from typing import Any, Final

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse
from pydantic.json_schema import models_json_schema
from starlette.exceptions import HTTPException as StarletteHTTPException

from breast_cancer_ml import __version__
from breast_cancer_ml.service import schemas
from breast_cancer_ml.service.endpoints import (
    API_VERSION,
    REQUEST_ID_KEY,
    Observer,
    PredictionEndpoint,
    Receive,
    Scope,
    Send,
    ServiceState,
    _internal_error,
    _request_id,
    error_doc,
    log,
    send_bytes,
    send_overloaded,
)
from breast_cancer_ml.service.inputs import EMPTY_BODY, InputError
from breast_cancer_ml.service.pages import add_docs, pages_router
from breast_cancer_ml.service.routes import BodyError, info_router, prediction_router

KNOWN_ROUTES: Final = frozenset(
    {
        "/",
        "/health",
        "/ready",
        "/predict",
        "/predict/batch",
        "/invocations",
        "/model/info",
        "/metrics",
        "/docs",
        "/openapi.json",
        "/redoc",
        "/ui",
        "/ui/ui.js",
        "/ui/ui.css",
        "/ui/config.json",
    }
)
#: Routes that answer even when the service is at its concurrency limit: probes must not fail
#: (and get the task restarted) because the service is busy.
UNBOUNDED_ROUTES: Final = frozenset({"/health", "/ready", "/metrics"})
PREDICTION_ROUTES: Final = frozenset({"/predict", "/predict/batch", "/invocations"})
STATUS_KEY: Final = "bcml.status"  # set on the scope by Admission when it answered itself


class Admission:
    """Pure ASGI middleware: a declared prediction route gets the checks the fast path makes
    before it reads a body (API key, body size, body deadline: :meth:`PredictionEndpoint.admit`),
    and then its body, read once. Inside the CORS middleware, so refusals carry CORS headers."""

    def __init__(self, app: Any, endpoints: dict[str, PredictionEndpoint]) -> None:
        self.app = app
        self.endpoints = endpoints

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        endpoint = None
        if scope["type"] == "http" and scope["method"] == "POST":
            endpoint = self.endpoints.get(scope["path"])
        if endpoint is None:
            await self.app(scope, receive, send)
            return
        body = await endpoint.admit(scope, receive, send)
        if isinstance(body, int):
            scope[STATUS_KEY] = body  # sent already, or 499: the client left, nothing to send
        else:
            await self.app(scope, _replay(body, receive), send)


class ServiceMiddleware:
    """Pure ASGI middleware (no per-request task or body copy) giving the routes FastAPI
    answers the same treatment as the fast path gets from :meth:`Observer.fast`."""

    def __init__(self, app: Any, observer: Observer) -> None:
        self.app = app
        self.observer = observer
        self.state = observer.state
        self.limit = observer.limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        rid = scope[REQUEST_ID_KEY] = _request_id(scope)
        rid_header = (b"x-request-id", rid.encode())
        status = 500
        started = False

        async def send_with_id(message: Any) -> None:
            nonlocal status, started
            if message["type"] == "http.response.start":
                status = message["status"]
                started = True
                headers = list(message.get("headers", ()))
                if not any(k == b"x-request-id" for k, _ in headers):
                    headers.append(rid_header)
                message["headers"] = headers
            await send(message)

        path = scope["path"]
        bounded = path not in UNBOUNDED_ROUTES
        state = self.state
        if bounded:
            state.in_flight += 1
        try:
            if bounded and state.in_flight > self.limit:
                await send_overloaded(send_with_id, scope, rid, self.limit)
            else:
                await self.app(scope, receive, send_with_id)
        except Exception:
            log.exception(
                "unexpected error",
                extra={"event": "unhandled_error", "request_id": rid, "route": path},
            )
            if not started:
                await send_bytes(send_with_id, 500, _internal_error(rid, path))
        finally:
            if bounded:
                state.in_flight -= 1
            if not started:
                status = scope.get(STATUS_KEY, status)
            route = path if path in KNOWN_ROUTES else "other"
            self.observer.done(scope, route, status, start, rid)


def _replay(body: bytes, receive: Receive) -> Receive:
    """``receive`` for a request whose body was read already: the body, then the client's
    own messages (a disconnect)."""
    pending = [{"type": "http.request", "body": body, "more_body": False}]

    async def replayed() -> Any:
        return pending.pop() if pending else await receive()

    return replayed


def _openapi(app: FastAPI) -> dict[str, Any]:
    """FastAPI's schema, plus the model documenting ``/invocations``'s JSON body (its handler
    reads the raw body: MLflow's protocol also takes CSV and numbers as strings)."""
    if app.openapi_schema is None:
        doc = get_openapi(
            title=app.title,
            version=app.version,
            description=app.description,
            routes=app.routes,
            tags=app.openapi_tags,
        )
        _, defs = models_json_schema(
            [(schemas.InvocationsRequest, "validation")],
            ref_template="#/components/schemas/{model}",
        )
        doc.setdefault("components", {}).setdefault("schemas", {}).update(defs["$defs"])
        app.openapi_schema = doc
    return app.openapi_schema


def _hint(request: Request, status: int) -> str:
    """What to do after a 404 or 405, by path."""
    path = request.url.path
    bare = path.rstrip("/") or "/"
    if status == 405:
        if path in PREDICTION_ROUTES:
            return f"{request.method} is not allowed here; use POST {path} with a JSON body"
        return f"{request.method} is not allowed here; use GET {path}"
    if bare != path and bare in KNOWN_ROUTES:
        return f"no route {path!r}; use {bare} (no trailing slash)"
    return f"no route {path!r}; GET / lists the endpoints"


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    """FastAPI's own errors (404, 405, ...) in the service's one error shape."""
    assert isinstance(exc, StarletteHTTPException)
    if isinstance(exc, BodyError):
        return await _input_error(request, exc.error)
    status = exc.status_code
    message = _hint(request, status) if status in (404, 405) else str(exc.detail)
    doc = error_doc(
        status,
        message,
        request.scope.get(REQUEST_ID_KEY, ""),
        mlflow=request.url.path == "/invocations",
    )
    return JSONResponse(doc, status_code=status, headers=exc.headers)


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    """A body the declared request models refuse, in the service's error shape and with the
    fast path's statuses: 400 for malformed JSON, 413 for too many rows, else 422."""
    assert isinstance(exc, RequestValidationError)
    first = exc.errors()[0] if exc.errors() else {}
    loc = [str(p) for p in first.get("loc", ())]
    if loc[:1] == ["body"] and len(loc) > 1:
        loc = loc[1:]  # the body itself is not a field the client named
    field = ".".join(loc) or None
    kind = first.get("type")
    status = 422
    if kind == "missing" and loc == ["body"]:  # FastAPI does not decode an empty body
        return await _input_error(request, InputError(EMPTY_BODY, status=400))
    if kind == "json_invalid":
        status, field = 400, None
        message = f"the body is not valid JSON: {first.get('ctx', {}).get('error', '')}"
    elif kind == "too_long" and field == "instances":
        status = 413
        ctx = first.get("ctx", {})
        n = f"{ctx['actual_length']} rows" if ctx.get("actual_length") is not None else "rows"
        message = (
            f"instances: {n}, more than the limit of {ctx.get('max_length')} per request "
            "(max_batch_rows); split the batch"
        )
    else:
        message = f"{field}: {first.get('msg', 'invalid request')}" if field else "invalid request"
    doc = error_doc(status, message, request.scope.get(REQUEST_ID_KEY, ""), field)
    return JSONResponse(doc, status_code=status)


async def _input_error(request: Request, exc: Exception) -> JSONResponse:
    """A refusal of a declared prediction route (415, 503, MLflow's 400s) in the same shape
    and with the same headers as the fast path's."""
    assert isinstance(exc, InputError)
    doc = error_doc(
        exc.status,
        exc.message,
        request.scope.get(REQUEST_ID_KEY, ""),
        exc.field,
        exc.code,
        mlflow=request.url.path == "/invocations",
    )
    headers = {"Retry-After": "5"} if exc.status == 503 else None
    return JSONResponse(doc, status_code=exc.status, headers=headers)


def build_api(state: ServiceState, endpoints: dict[str, PredictionEndpoint]) -> FastAPI:
    """The FastAPI app of the service whose state is ``state``: the declared routes, the error
    shape, CORS when configured, and the request id, metrics and concurrency limit
    (:class:`ServiceMiddleware`). Start-up and shutdown are :class:`.app.ServiceApp`'s."""
    settings = state.settings
    app = FastAPI(
        title="breast-cancer-ml prediction service",
        version=__version__,
        description=(
            "Predicts malignancy of breast masses from the 30 WDBC features with the promoted "
            f"model. API version {API_VERSION}."
        ),
        redirect_slashes=False,  # /predict/ gets a 404 naming /predict, not an empty 307
        docs_url=None,  # FastAPI's /docs and /redoc load from a CDN: add_docs serves them
        redoc_url=None,
        exception_handlers={
            StarletteHTTPException: _http_error,
            RequestValidationError: _validation_error,
            InputError: _input_error,
        },
        openapi_tags=[
            {"name": "predictions", "description": "Scoring (API key if configured)."},
            {"name": "service", "description": "Health, readiness, model info, metrics."},
        ],
    )
    app.state.service = state
    app.include_router(prediction_router(state))
    app.include_router(info_router(state))
    app.include_router(pages_router(state))
    add_docs(app)
    app.openapi = lambda: _openapi(app)  # type: ignore[method-assign]
    app.add_middleware(Admission, endpoints=endpoints)  # the innermost: added first
    if settings.cors_origins:
        from fastapi.middleware.cors import CORSMiddleware

        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["GET", "POST"],
            allow_headers=["Authorization", "Content-Type", "X-Request-ID"],
            expose_headers=["X-Request-ID"],
        )
    app.add_middleware(ServiceMiddleware, observer=Observer(state))  # outermost of the stack
    return app
