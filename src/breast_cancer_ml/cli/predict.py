"""``bcml predict``: score a CSV/Parquet file of any size with the promoted model (or with
Spark); the summary goes to stderr, so ``--output -`` keeps stdout for the scored rows."""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

from breast_cancer_ml.cli.flags import load_settings_from, settings_command


def add_parser(sub: Any) -> None:
    from breast_cancer_ml.settings import PredictSettings

    predict = settings_command(
        sub,
        "predict",
        PredictSettings,
        handle,
        skip=("input", "output"),
        help="score a CSV/Parquet file (any size) with the promoted model",
        description="Score every row of a CSV or Parquet file in the training layout "
        "(diagnosis optional and ignored, id kept) in chunks, with flat memory. Writes row "
        "(the 1-based input row, to join back), id, prediction, prediction_label, probability, "
        "confidence, warnings (features outside the training data's range, ;-separated) and "
        "model_version (the run id) in input order. A row that is not a valid case (missing, "
        "negative, infinite or beyond a feature's hard bound) is never scored: it goes to the "
        "reject file with the reason. Exit 2 on invalid input or settings (the first invalid "
        "row with --strict, more than --max-rejects invalid rows, a CSV line over 1 MiB, an "
        "output or reject file that is the input), 4 on a model store problem.",
    )
    predict.add_argument(
        "--input",
        required=True,
        metavar="FILE",
        help=PredictSettings.model_fields["input"].description,
    )
    predict.add_argument(
        "--output",
        required=True,
        metavar="FILE",
        help=PredictSettings.model_fields["output"].description,
    )


def handle(args: argparse.Namespace) -> int:
    from breast_cancer_ml.settings import PredictSettings

    settings = load_settings_from(args, PredictSettings)
    if settings.engine == "spark":
        if settings.explain is not None:
            from breast_cancer_ml.errors import ConfigError

            raise ConfigError("--explain works with the local engine only; drop --engine spark")
        from breast_cancer_ml.pipelines.spark_score import run_spark_predict

        spark_summary = run_spark_predict(settings)
        for line in spark_summary.lines():
            print(line, file=sys.stderr)
        return 0

    from breast_cancer_ml.adapters.model_source import REGISTRY_SCHEME

    registry = (settings.model or "").startswith(REGISTRY_SCHEME)
    isolated = ("pandas", "matplotlib")
    explain = settings.explain is not None  # a non-linear model's explainer (shap) needs both
    own = getattr(args, "own_process", False)
    if own and not registry and not explain and isolated[0] not in sys.modules:
        # a published model or MLflow model folder needs neither MLflow nor pandas: keep
        # scikit-learn from importing pandas (time and memory the command never uses)
        from breast_cancer_ml.service.startup import isolate_process

        isolate_process([m for m in isolated if m not in sys.modules])
    from breast_cancer_ml.pipelines.score import Terminated, run_predict

    try:
        summary = run_predict(settings)
    except KeyboardInterrupt:
        print("interrupted: no output written", file=sys.stderr)
        return 130
    except Terminated:
        print("terminated: no output written", file=sys.stderr)
        return 143
    except BrokenPipeError:  # `--output - | head`: the reader stopped reading
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        print("stopped: the reader of stdout closed the pipe", file=sys.stderr)
        return 141
    for line in summary.lines():
        print(line, file=sys.stderr)
    return 0
