"""``create_app(settings)``: the prediction service as an ASGI application.

Any ASGI server can run it (``bcml serve`` uses uvicorn; gunicorn with uvicorn workers, or a
Lambda adapter, build the same app from this factory). At start-up (the lifespan) the app loads
the model behind ``models_dir/latest`` and then polls that link every ``reload_interval``
seconds; see :mod:`.model_holder`.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
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
    new_state,
    prediction_endpoints,
    send_bytes,
    send_overloaded,
    start_service,
)
from breast_cancer_ml.service.routes import info_router, prediction_routes
from breast_cancer_ml.settings import ServeSettings

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
    }
)
#: Routes that answer even when the service is at its concurrency limit: probes must not fail
#: (and get the task restarted) because the service is busy.
UNBOUNDED_ROUTES: Final = frozenset({"/health", "/ready", "/metrics"})
PREDICTION_ROUTES: Final = frozenset({"/predict", "/predict/batch", "/invocations"})


class ServiceMiddleware:
    """Pure ASGI middleware (no per-request task or body copy) giving the other routes the
    same treatment as the prediction routes get from :meth:`Observer.fast`."""

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
            route = path if path in KNOWN_ROUTES else "other"
            self.observer.done(scope, route, status, start, rid)


class ServiceApp(FastAPI):
    """FastAPI, plus a direct dispatch of ``POST`` to the prediction routes' endpoints: the
    same objects the router reaches, without the routing and middleware layers that would
    otherwise cost more than the prediction. Every other request goes through FastAPI."""

    fast_routes: dict[str, Any]
    observer: Observer

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "POST":
            endpoint = self.fast_routes.get(scope["path"])
            if endpoint is not None:
                await self.observer.fast(endpoint, scope, receive, send)
                return
        await super().__call__(scope, receive, send)


def _openapi(app: FastAPI) -> dict[str, Any]:
    """FastAPI's schema plus the request bodies of the raw prediction routes."""
    if app.openapi_schema is None:
        doc = get_openapi(
            title=app.title,
            version=app.version,
            description=app.description,
            routes=app.routes,
            tags=app.openapi_tags,
        )
        _, defs = models_json_schema(
            [
                (schemas.PredictRequest, "validation"),
                (schemas.BatchRequest, "validation"),
                (schemas.InvocationsRequest, "validation"),
            ],
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
    assert isinstance(exc, RequestValidationError)
    first = exc.errors()[0] if exc.errors() else {}
    field = ".".join(str(p) for p in first.get("loc", ())) or None
    message = f"{field}: {first.get('msg', 'invalid request')}" if field else "invalid request"
    doc = error_doc(422, message, request.scope.get(REQUEST_ID_KEY, ""), field)
    return JSONResponse(doc, status_code=422)


def create_app(
    settings: ServeSettings | None = None,
    *,
    state: ServiceState | None = None,
    endpoints: dict[str, PredictionEndpoint] | None = None,
) -> ServiceApp:
    """The service, configured by ``settings`` (default: ``BCML_*`` environment).

    ``state`` and ``endpoints`` are for :class:`~.boot.QuickStartApp`, which serves predictions
    with them before it builds this app; the app's own lifespan is then not used.
    """
    settings = settings if settings is not None else ServeSettings()
    state = state if state is not None else new_state(settings)
    endpoints = endpoints if endpoints is not None else prediction_endpoints(state)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        watcher = await start_service(state)
        try:
            yield
        finally:
            watcher.cancel()

    app = ServiceApp(
        title="breast-cancer-ml prediction service",
        version=__version__,
        description=(
            "Predicts malignancy of breast masses from the 30 WDBC features with the promoted "
            f"model. API version {API_VERSION}."
        ),
        lifespan=lifespan,
        redirect_slashes=False,  # /predict/ gets a 404 naming /predict, not an empty 307
        exception_handlers={
            StarletteHTTPException: _http_error,
            RequestValidationError: _validation_error,
        },
        openapi_tags=[
            {"name": "predictions", "description": "Scoring (API key if configured)."},
            {"name": "service", "description": "Health, readiness, model info, metrics."},
        ],
    )
    app.state.service = state
    raw_routes = prediction_routes(endpoints)
    app.router.routes.extend(raw_routes)
    app.include_router(info_router(state))
    app.openapi = lambda: _openapi(app)  # type: ignore[method-assign]
    app.observer = Observer(state)
    # With CORS on, every request must pass the CORS middleware: no direct dispatch then.
    app.fast_routes = {} if settings.cors_origins else {r.path: r.app for r in raw_routes}
    if settings.cors_origins:
        from fastapi.middleware.cors import CORSMiddleware

        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["GET", "POST"],
            allow_headers=["Authorization", "Content-Type", "X-Request-ID"],
            expose_headers=["X-Request-ID"],
        )
    app.add_middleware(ServiceMiddleware, observer=app.observer)  # outermost of the stack
    return app
