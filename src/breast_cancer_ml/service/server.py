"""``bcml serve``: run the service with uvicorn (one process, or ``workers`` processes).

Every entry point serves the one app of :func:`.app.create_app`: ``bcml serve`` hands it to
uvicorn directly (one worker), or names :func:`app_factory` for uvicorn's (or gunicorn's)
worker processes. Each server process first forbids the training stack and pauses the
collector (:mod:`.startup`); the app resumes it once its model is loaded.
"""

from __future__ import annotations

import contextlib
import errno
import json
import logging
import os
import socket
from typing import TYPE_CHECKING, Any, Final

from breast_cancer_ml.errors import BcmlError, ConfigError, PortInUseError
from breast_cancer_ml.service.startup import isolate_process, pause_gc_for_startup, resume_gc
from breast_cancer_ml.settings import ServeSettings

if TYPE_CHECKING:
    from breast_cancer_ml.service.app import ServiceApp

_SETTINGS_ENV: Final = "_BCML_SERVE_SETTINGS_JSON"  # settings handed to worker processes

log = logging.getLogger("breast_cancer_ml.service")


def _uvicorn_options(settings: ServeSettings) -> dict[str, Any]:
    return {
        "host": settings.host,
        "port": settings.port,
        "log_config": None,  # our JSON logging, configured below
        "access_log": False,  # the service logs requests itself when access_log is set
        "ws": "none",
        "lifespan": "on",
        "server_header": False,
        "timeout_graceful_shutdown": 10,
    }


def bind(host: str, port: int) -> socket.socket:
    """The listening socket, bound as uvicorn binds it; :class:`PortInUseError` (exit 6) when
    another process holds the port, :class:`ConfigError` (exit 2) for any other bind error."""
    sock = socket.socket(family=socket.AF_INET6 if ":" in host else socket.AF_INET)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise PortInUseError(
                f"port {port} on {host} is already in use; stop the other server or pass --port"
            ) from None
        raise ConfigError(
            f"cannot listen on {host}:{port}: {exc.strerror or exc}; check --host and --port"
        ) from None
    sock.set_inheritable(True)
    return sock


def serve(settings: ServeSettings) -> None:
    """Run the service until interrupted (SIGINT/SIGTERM stop it gracefully)."""
    sock = bind(settings.host, settings.port)  # before anything slow: a busy port fails fast
    isolate_process()
    pause_gc_for_startup()  # until the model is loaded (the app's lifespan resumes it)
    # deferred: the training stack must be forbidden before scikit-learn is imported
    from breast_cancer_ml.service.log import configure_logging

    configure_logging(settings.log_level)
    import uvicorn

    if settings.workers == 1:
        from breast_cancer_ml.service.app import create_app

        # uvicorn.run() without its bind: the server listens on the socket bound above
        config = uvicorn.Config(create_app(settings), **_uvicorn_options(settings))
        server = uvicorn.Server(config)
        with sock, contextlib.suppress(KeyboardInterrupt):
            server.run(sockets=[sock])
        if not server.started:
            raise BcmlError("the service did not start; see the log above")
        return
    sock.close()  # the supervisor binds again for its workers (a moment later)
    # Worker processes import the app from a string and rebuild the settings from the env;
    # each one pauses its own collector (app_factory). This supervisor loads no model.
    resume_gc()
    doc = settings.model_dump(mode="json")
    if settings.api_key is not None:
        doc["api_key"] = settings.api_key.get_secret_value()
    os.environ[_SETTINGS_ENV] = json.dumps(doc)
    uvicorn.run(
        "breast_cancer_ml.service.server:app_factory",
        factory=True,
        workers=settings.workers,
        **_uvicorn_options(settings),
    )


def app_factory() -> ServiceApp:
    """The app of one worker process (``uvicorn --factory``): settings from ``bcml serve``, or
    from the ``BCML_*`` environment when started by another server (gunicorn, uvicorn CLI)."""
    isolate_process()
    pause_gc_for_startup()  # until the model is loaded (the app's lifespan resumes it)
    # deferred: the training stack must be forbidden before scikit-learn is imported
    from breast_cancer_ml.service.app import create_app
    from breast_cancer_ml.service.log import configure_logging

    raw = os.environ.get(_SETTINGS_ENV)
    settings = ServeSettings(**json.loads(raw)) if raw else ServeSettings()
    configure_logging(settings.log_level)
    return create_app(settings)
