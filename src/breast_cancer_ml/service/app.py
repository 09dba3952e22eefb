"""``create_app(settings)``: the prediction service as an ASGI application, the only one.

Every entry point builds it with this factory: ``bcml serve`` (uvicorn), uvicorn's and
gunicorn's worker processes (:func:`.server.app_factory`) and the Lambda handler. At start-up
(the lifespan) the app loads the model behind ``models_dir/latest`` and then polls that link
every ``reload_interval`` seconds; see :mod:`.model_holder`.

The routes are FastAPI routes with declared request models (:mod:`.api`, :mod:`.routes`,
:mod:`.schemas`). The fast path, in :meth:`ServiceApp.__call__` and nowhere else, sends
``POST`` to the three prediction routes straight to the hand-written endpoints of
:mod:`.endpoints`: FastAPI's routing, dependency and validation layers cost more than the
prediction itself (``benchmarks/bench_serve.py`` measures both paths side by side). Its parser
accepts and rejects exactly what the declared models do
(``tests/unit/service/test_contract_equivalence.py``).

FastAPI itself is imported and the routes built (:func:`.api.build_api`, a few tenths of a
second of CPU) when the first request that needs them arrives, not before the first
prediction: cold start is process launch to the first answered prediction. With the fast path
off they are built at start-up. Either way, in the event loop's thread, once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from types import SimpleNamespace
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
from breast_cancer_ml.service.startup import resume_gc
from breast_cancer_ml.settings import ServeSettings

if TYPE_CHECKING:
    from fastapi import FastAPI

log = logging.getLogger("breast_cancer_ml.service")


class ServiceApp:
    """The service: the fast path for predictions, the FastAPI app for everything else, and
    its own lifespan (model load, watchers)."""

    def __init__(self, settings: ServeSettings, *, fast_path: bool = True) -> None:
        self.settings = settings
        service = new_state(settings)
        self.state = SimpleNamespace(service=service)  # as a Starlette app's ``app.state``
        self.endpoints = prediction_endpoints(service)
        self.observer = Observer(service)
        # With CORS on, every request must pass the CORS middleware: no fast path then.
        self.fast_routes: dict[str, Any] = (
            dict(self.endpoints) if fast_path and not settings.cors_origins else {}
        )
        self._api: FastAPI | None = None
        self._watcher: asyncio.Future[Any] | None = None

    @property
    def api(self) -> FastAPI:
        """The FastAPI app (routes, docs, OpenAPI), built on first use."""
        if self._api is None:
            from breast_cancer_ml.service.api import build_api  # imports FastAPI: see above

            self._api = build_api(self.state.service, self.endpoints)
        return self._api

    def build(self) -> None:
        """Build the FastAPI app now, when no request should wait for it (Lambda's init
        phase; start-up with the fast path off)."""
        _ = self.api

    def openapi(self) -> dict[str, Any]:
        """The OpenAPI document, as served at ``/openapi.json``."""
        return self.api.openapi()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "POST":
            endpoint = self.fast_routes.get(scope["path"])
            if endpoint is not None:
                await self.observer.fast(endpoint, scope, receive, send)
                return
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        await self.api(scope, receive, send)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                try:
                    self._watcher = await start_service(self.state.service)
                    resume_gc()  # start-up is over (startup.pause_gc_for_startup)
                    if not self.fast_routes:
                        self.build()  # every request needs it: build it before the first
                except Exception as exc:
                    log.exception("start-up failed", extra={"event": "startup_failed"})
                    await send({"type": "lifespan.startup.failed", "message": str(exc)})
                    return
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                if self._watcher is not None:
                    self._watcher.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await self._watcher  # retrieved: no "never retrieved" warning
                prediction_log = self.state.service.prediction_log
                if prediction_log is not None:  # write what is queued, fsync, log the heads
                    await asyncio.to_thread(prediction_log.close)
                await send({"type": "lifespan.shutdown.complete"})
                return


def create_app(settings: ServeSettings | None = None, *, fast_path: bool = True) -> ServiceApp:
    """The service, configured by ``settings`` (default: ``BCML_*`` environment).

    ``fast_path=False`` answers every prediction through the declared FastAPI routes (the
    benchmark measures both; the tests check both agree). With CORS on, the fast path is off.
    """
    return ServiceApp(settings if settings is not None else ServeSettings(), fast_path=fast_path)
