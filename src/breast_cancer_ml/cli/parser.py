"""The ``bcml`` argument parser: one subcommand per module of this package."""

from __future__ import annotations

import argparse

from breast_cancer_ml import __version__
from breast_cancer_ml.cli import (
    audit,
    compare,
    deploy,
    monitor,
    predict,
    rollback,
    serve,
    train,
    ui,
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="bcml",
        description="Breast cancer (WDBC) diagnosis: train, promote and serve a model.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    for command in (train, compare, rollback, ui, serve, deploy, predict, monitor, audit):
        command.add_parser(sub)
    return parser
