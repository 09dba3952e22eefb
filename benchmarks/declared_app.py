"""The service with its fast path off: ``/predict`` through the declared FastAPI route.

``bench_serve.py`` runs it on uvicorn (``--factory``, the same options as ``bcml serve``) beside
``bcml serve`` and the bare ASGI floor, to measure what the hand-written fast path saves. The
settings come from the ``BCML_*`` environment, as for any worker process.
"""

from __future__ import annotations

from typing import Any


def app() -> Any:
    # the same start-up as bcml serve's worker processes (server.app_factory), fast path off
    from breast_cancer_ml.service.startup import isolate_process, pause_gc_for_startup

    isolate_process()
    pause_gc_for_startup()
    from breast_cancer_ml.service.app import create_app
    from breast_cancer_ml.service.log import configure_logging
    from breast_cancer_ml.settings import ServeSettings

    settings = ServeSettings()
    configure_logging(settings.log_level)
    return create_app(settings, fast_path=False)
