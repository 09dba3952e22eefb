"""The ASGI app ``bcml serve`` runs: predictions first, everything else right after.

Cold start (process launch to the first answered prediction) is dominated by imports.
:class:`QuickStartApp` answers the prediction routes with the raw endpoints of
:mod:`.endpoints` as soon as the model is loaded, and builds the full FastAPI app
(:func:`.app.create_app`: docs, OpenAPI, health, readiness, info, metrics) in a worker thread,
sharing the same state, model holder, metrics and endpoints. The build starts after the first
prediction has been answered, or :data:`BUILD_DELAY_S` after start-up, or when a request needs
it, whichever comes first: started at once, its thread competed for the GIL with the first
prediction. Until it is built, other requests wait for it; prediction requests never do.
FastAPI is not imported before the service is ready.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

from breast_cancer_ml.service.endpoints import (
    Observer,
    Receive,
    Scope,
    Send,
    new_state,
    prediction_endpoints,
    start_service,
)
from breast_cancer_ml.settings import ServeSettings

if TYPE_CHECKING:
    from breast_cancer_ml.service.app import ServiceApp

log = logging.getLogger("breast_cancer_ml.service")

#: Seconds after start-up at which the full app is built if no prediction came first.
BUILD_DELAY_S = 0.5


class QuickStartApp:
    """ASGI app: direct prediction endpoints, then the full FastAPI app for the rest."""

    def __init__(self, settings: ServeSettings) -> None:
        self.settings = settings
        self.state = new_state(settings)
        self.endpoints = prediction_endpoints(self.state)
        self.observer = Observer(self.state)
        # With CORS on, every request must pass FastAPI's CORS middleware.
        self.fast: dict[str, Any] = {} if settings.cors_origins else dict(self.endpoints)
        self.full: ServiceApp | None = None
        self._build: asyncio.Future[ServiceApp] | None = None
        self._watcher: asyncio.Future[Any] | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "POST":
            endpoint = self.fast.get(scope["path"])
            if endpoint is not None:
                await self.observer.fast(endpoint, scope, receive, send)
                if self._build is None:
                    self._start_build()
                return
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        full = self.full if self.full is not None else await self._full_app()
        await full(scope, receive, send)

    def _create(self) -> ServiceApp:
        from breast_cancer_ml.service.app import create_app
        from breast_cancer_ml.service.server import resume_gc

        try:
            return create_app(self.settings, state=self.state, endpoints=self.endpoints)
        finally:
            resume_gc()  # start-up is over (server.pause_gc_for_startup)

    def _start_build(self) -> asyncio.Future[ServiceApp]:
        if self._build is None:
            self._build = asyncio.ensure_future(asyncio.to_thread(self._create))
        return self._build

    async def _full_app(self) -> ServiceApp:
        full = await asyncio.shield(self._start_build())
        self.full = full
        return full

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                try:
                    self._watcher = await start_service(self.state)
                except Exception as exc:  # pragma: no cover - start_service catches load errors
                    log.exception("start-up failed", extra={"event": "startup_failed"})
                    await send({"type": "lifespan.startup.failed", "message": str(exc)})
                    return
                asyncio.get_running_loop().call_later(BUILD_DELAY_S, self._start_build)
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                if self._watcher is not None:
                    self._watcher.cancel()
                await send({"type": "lifespan.shutdown.complete"})
                return
