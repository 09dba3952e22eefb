"""``create_app(settings)``: the prediction service as an ASGI application.

Any ASGI server can run it (``bcml serve`` uses uvicorn; gunicorn with uvicorn workers, or a
Lambda adapter, build the same app from this factory). At start-up (the lifespan) the app loads
the model behind ``models_dir/latest`` and then polls that link every ``reload_interval``
seconds; see :mod:`.model_holder`.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import re
import secrets
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, Final

import orjson
from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from pydantic.json_schema import models_json_schema

from breast_cancer_ml import __version__
from breast_cancer_ml.service import schemas
from breast_cancer_ml.service.model_holder import ModelHolder
from breast_cancer_ml.service.routes import (
    API_VERSION,
    REQUEST_ID_KEY,
    Receive,
    Scope,
    Send,
    ServiceState,
    info_router,
    prediction_routes,
    send_bytes,
)
from breast_cancer_ml.settings import ServeSettings

log = logging.getLogger("breast_cancer_ml.service")
access_log = logging.getLogger("breast_cancer_ml.service.access")

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


class ServiceMiddleware:
    """Pure ASGI middleware (no per-request task or body copy) giving the other routes the
    same treatment as the prediction routes get from :meth:`Observer.fast`."""

    def __init__(self, app: Any, observer: Observer) -> None:
        self.app = app
        self.observer = observer

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
        try:
            await self.app(scope, receive, send_with_id)
        except Exception:
            log.exception(
                "unexpected error",
                extra={"event": "unhandled_error", "request_id": rid, "route": path},
            )
            if not started:
                await send_bytes(send_with_id, 500, _internal_error(rid))
        finally:
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


def create_app(settings: ServeSettings | None = None) -> ServiceApp:
    """The service, configured by ``settings`` (default: ``BCML_*`` environment)."""
    settings = settings if settings is not None else ServeSettings()
    state = ServiceState(settings=settings, holder=ModelHolder(settings.models_dir))

    def count_reload(result: str) -> None:
        state.metrics.reloads[result] += 1

    state.holder.on_change = count_reload

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
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
        openapi_tags=[
            {"name": "predictions", "description": "Scoring (API key if configured)."},
            {"name": "service", "description": "Health, readiness, model info, metrics."},
        ],
    )
    app.state.service = state
    raw_routes = prediction_routes(state)
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
