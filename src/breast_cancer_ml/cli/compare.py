"""``bcml compare``: every registry model on the same repeated (nested) CV folds; prints the
comparison table and the recommendation."""

from __future__ import annotations

import argparse
from typing import Any

from breast_cancer_ml.cli.flags import (
    add_verbose,
    load_settings_from,
    mlflow_verbosity,
    settings_command,
)


def add_parser(sub: Any) -> None:
    from breast_cancer_ml.settings import CompareSettings

    compare = settings_command(
        sub,
        "compare",
        CompareSettings,
        handle,
        help="compare registry models on the same repeated (nested) CV folds",
        description="Cross-validate registry models on the same repeated stratified folds of "
        "the training split (nested with --tune), log one MLflow parent run with a child run "
        "per model, and recommend one.",
    )
    add_verbose(compare)


def handle(args: argparse.Namespace) -> int:
    from breast_cancer_ml.pipelines.compare.report import gate_share_notes
    from breast_cancer_ml.pipelines.compare.run import run_comparison
    from breast_cancer_ml.pipelines.compare.tables import markdown_table
    from breast_cancer_ml.settings import CompareSettings

    settings = load_settings_from(args, CompareSettings)
    mlflow_verbosity(args)
    result = run_comparison(settings)
    rec = result.recommendation
    print(markdown_table(result.models))
    for line in gate_share_notes(result.models, settings.min_recall, settings.max_recall_std):
        print(line)
    verdict = "meets the bar" if rec.meets_bar else "misses the bar: " + "; ".join(rec.missed)
    print(f"recommended:   {rec.model} ({verdict})")
    print(f"ranking:       {' > '.join(rec.ranking)}")
    print(f"run id:        {result.run_id}  (experiment {settings.experiment!r}, parent run)")
    print(f"time:          {result.seconds:.1f} s")
    if settings.report_file is not None:
        print(f"report:        {settings.report_file}")
    if settings.output_dir is not None:
        print(f"folder:        {settings.output_dir}")
        print(f"files:         {', '.join(result.written)}")
    print(f"artifacts:     {result.artifact_uri}  ({', '.join(result.artifacts)})")
    return 0
