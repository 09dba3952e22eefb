"""``bcml serve``: run the service with uvicorn (one process, or ``workers`` processes).

The serving process must not load mlflow, pandas or matplotlib: the serving image does not
ship them, and they cost memory and start-up time. scikit-learn imports pandas whenever it is
installed (``sklearn.utils.fixes``: ``try: import pandas``), as it is in the dev environment,
so :func:`isolate_process` makes those imports fail in the server process exactly as they do
in the serving image, where scikit-learn then runs without pandas as designed.
"""

from __future__ import annotations

import contextlib
import errno
import gc
import importlib.abc
import json
import logging
import os
import socket
import sys
from collections.abc import Sequence
from types import ModuleType
from typing import TYPE_CHECKING, Any, Final

from breast_cancer_ml.errors import BcmlError, ConfigError, PortInUseError
from breast_cancer_ml.settings import ServeSettings

if TYPE_CHECKING:
    from breast_cancer_ml.service.boot import QuickStartApp

#: Top-level packages the service never loads: the training stack, and test tools that library
#: code imports when present (``sklearn.utils._testing`` tries pytest, and then probes BLAS).
FORBIDDEN: Final = ("mlflow", "pandas", "matplotlib", "pytest", "_pytest")
_SETTINGS_ENV: Final = "_BCML_SERVE_SETTINGS_JSON"  # settings handed to worker processes

log = logging.getLogger("breast_cancer_ml.service")


class _Forbidden(importlib.abc.MetaPathFinder):
    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> None:
        if fullname.partition(".")[0] in FORBIDDEN:
            raise ModuleNotFoundError(
                f"No module named {fullname!r} (not available to the prediction service)",
                name=fullname,
            )


def isolate_process() -> None:
    """Make ``import mlflow/pandas/matplotlib/pytest`` fail here, as in the serving image.

    Call it first thing in a server process, before scikit-learn is imported.
    """
    loaded = sorted(m for m in FORBIDDEN if m in sys.modules)
    if loaded:
        raise RuntimeError(f"{loaded} already imported; isolate_process() must run first")
    if not any(isinstance(f, _Forbidden) for f in sys.meta_path):
        sys.meta_path.insert(0, _Forbidden())


def pause_gc_for_startup() -> None:
    """Turn the cyclic garbage collector off until start-up is over (:func:`resume_gc`).

    Importing scikit-learn, scipy and skops allocates about a million objects that all stay
    alive; on the way the collector ran hundreds of collections over them that found nothing
    to free, and delayed the first answer (the cold-start benchmark in docs/performance.md
    measures it). Reference counting still frees everything acyclic.
    """
    global _gc_paused
    if gc.isenabled():
        gc.disable()
        _gc_paused = True


def resume_gc() -> None:
    """Turn the collector back on if :func:`pause_gc_for_startup` turned it off."""
    global _gc_paused
    if _gc_paused:
        _gc_paused = False
        gc.enable()


_gc_paused = False


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
    pause_gc_for_startup()  # until the model is loaded and the full app built (boot.py)
    from breast_cancer_ml.service.log import configure_logging

    configure_logging(settings.log_level)
    import uvicorn

    if settings.workers == 1:
        from breast_cancer_ml.service.boot import QuickStartApp

        # uvicorn.run() without its bind: the server listens on the socket bound above
        config = uvicorn.Config(QuickStartApp(settings), **_uvicorn_options(settings))
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


def app_factory() -> QuickStartApp:
    """The app of one worker process (``uvicorn --factory``): settings from ``bcml serve``, or
    from the ``BCML_*`` environment when started by another server (gunicorn, uvicorn CLI)."""
    isolate_process()
    pause_gc_for_startup()  # until the model is loaded and the full app built (boot.py)
    from breast_cancer_ml.service.boot import QuickStartApp
    from breast_cancer_ml.service.log import configure_logging

    raw = os.environ.get(_SETTINGS_ENV)
    settings = ServeSettings(**json.loads(raw)) if raw else ServeSettings()
    configure_logging(settings.log_level)
    return QuickStartApp(settings)
