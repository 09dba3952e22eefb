"""``bcml monitor``: drift of recent cases (a prediction log or a table of cases) from the
training reference stored with the model. Exit 0 no drift, 1 drift, 2 bad input, 4 model store."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from breast_cancer_ml.cli.flags import load_settings_from, settings_command


def add_parser(sub: Any) -> None:
    from breast_cancer_ml.settings import MonitorSettings

    settings_command(
        sub,
        "monitor",
        MonitorSettings,
        handle,
        help="compare recent cases with the model's training reference (drift)",
        description="Compare recent cases, from a prediction log folder (--log, from `bcml "
        "serve --prediction-log`) or a CSV/Parquet file of cases (--input, scored here), with "
        "the training reference stored when the model was promoted: per-feature PSI and "
        "Kolmogorov-Smirnov (feature values needed: a log written with --log-features, or "
        "--input), and the shifts of the predicted-malignant, refer and out-of-range rates. "
        "Writes monitor_report.json and monitor_report.html (self-contained) into "
        "--output-dir. Exit 0 no drift, 1 drift beyond the thresholds, 2 bad input or "
        "settings, 4 model store problem (e.g. a model promoted without a drift reference).",
    )


def handle(args: argparse.Namespace) -> int:
    from breast_cancer_ml.pipelines.monitor import run_monitor
    from breast_cancer_ml.settings import MonitorSettings

    settings = load_settings_from(args, MonitorSettings)
    outcome = run_monitor(settings)
    for line in outcome.lines():
        print(line, file=sys.stderr)
    return outcome.exit_code
