"""``bcml serve``: the prediction service (FastAPI + uvicorn) on models/latest."""

from __future__ import annotations

import argparse
from typing import Any

from breast_cancer_ml.cli.flags import load_settings_from, settings_command
from breast_cancer_ml.errors import ConfigError


def add_parser(sub: Any) -> None:
    from breast_cancer_ml.settings import ServeSettings

    settings_command(
        sub,
        "serve",
        ServeSettings,
        handle,
        help="run the prediction service (FastAPI + uvicorn) on models/latest",
        description="Serve the promoted model over HTTP: /predict, /predict/batch, "
        "/invocations (MLflow protocol), /health, /ready, /model/info, /metrics, /docs. "
        "A newly promoted model is picked up without a restart; with --model-uri "
        "models:/<name>@<alias> the service follows that registry alias on an MLflow tracking "
        "server instead of models/latest (docs/team.md). The API key is read from "
        "the BCML_API_KEY environment variable only (never a flag: it would show in ps) and "
        "must be at least 16 characters. Exit 2 on invalid settings, 6 when the port is "
        "already in use.",
        skip=("api_key",),
    )


def handle(args: argparse.Namespace) -> int:
    import importlib.util

    from breast_cancer_ml.settings import ServeSettings

    settings = load_settings_from(args, ServeSettings)
    missing = [m for m in ("fastapi", "uvicorn", "orjson") if importlib.util.find_spec(m) is None]
    if missing:
        raise ConfigError(
            f"bcml serve needs {', '.join(missing)}: pip install 'breast-cancer-ml[serve]'"
        )
    if settings.prediction_log is not None:  # a folder that cannot be made: exit 2 now
        from breast_cancer_ml.adapters.prediction_log import prepare_dir

        prepare_dir(settings.prediction_log)
    from breast_cancer_ml.service.server import serve

    serve(settings)
    return 0
