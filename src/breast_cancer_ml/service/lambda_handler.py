"""AWS Lambda entry point: :data:`handler` is Mangum around the app of ``create_app(settings)``.

The Lambda image (``deployment/Dockerfile.lambda``) runs the AWS Lambda runtime interface
client with ``breast_cancer_ml.service.lambda_handler.handler``. The client imports this module
and looks ``handler`` up once per container, in Lambda's init phase, before the first
invocation; that builds the app from the ``BCML_*`` environment (the image sets
``BCML_MODELS_DIR=/app/models``, where the model is baked in) and loads and verifies the model,
so no invocation pays for it. Importing the module alone does nothing.

Events: API Gateway REST APIs (payload v1), HTTP APIs and function URLs (v2), base64 bodies
included; Mangum turns each into one ASGI request to the same app ``bcml serve`` runs, so the
routes, validation, errors and JSON answers are the service's own.

No ASGI lifespan: Mangum would run start-up and shutdown around every invocation. Hence also no
watcher of ``models/latest``: a Lambda container serves the model it started with, and a new
model is a new image (``aws lambda update-function-code``). Nor a body deadline watchdog: API
Gateway hands Lambda whole bodies, so no client can trickle one. A missing or refused model does not
fail the init: ``/health`` answers, ``/ready`` and the prediction routes say 503 with the reason.
"""

from __future__ import annotations

import functools
import logging
from typing import TYPE_CHECKING, Any

from breast_cancer_ml.settings import ServeSettings

if TYPE_CHECKING:
    from breast_cancer_ml.service.endpoints import ServiceState

log = logging.getLogger("breast_cancer_ml.service")


def make_handler(settings: ServeSettings | None = None) -> Any:
    """A Lambda handler ``(event, context) -> response`` with the model loaded now.

    ``settings`` default: the ``BCML_*`` environment."""
    try:
        from mangum import Mangum
    except ModuleNotFoundError:
        raise ModuleNotFoundError(
            "the Lambda handler needs Mangum: pip install 'breast-cancer-ml[aws]' "
            "(the Lambda image installs requirements/lambda.txt)",
            name="mangum",
        ) from None
    from breast_cancer_ml.service.app import create_app

    settings = settings if settings is not None else ServeSettings()
    app = create_app(settings)
    load_model(app.state.service)
    app.build()  # the routes too, in the init phase: no invocation pays for them
    return Mangum(app, lifespan="off")


def load_model(state: ServiceState) -> None:
    """Load (verify, then deserialize) the model behind ``models_dir/latest`` once."""
    holder = state.holder
    holder.check()
    if holder.status == "no_model":
        log.warning(
            "no model in %s/latest; /ready and the prediction routes answer 503",
            holder.models_dir,
            extra={"event": "no_model", "models_dir": str(holder.models_dir)},
        )
    current = holder.current
    log.info(
        "lambda handler ready",
        extra={
            "event": "started",
            "status": holder.status,
            "run_id": current.run_id if current is not None else None,
        },
    )


@functools.cache
def _handler() -> Any:
    from breast_cancer_ml.service.log import configure_logging

    settings = ServeSettings()
    configure_logging(settings.log_level)
    return make_handler(settings)


def __getattr__(name: str) -> Any:
    """``handler``: built on first access (the runtime client's init phase), then reused."""
    if name == "handler":
        return _handler()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
