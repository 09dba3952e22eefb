"""The reproducible command line of a comparison, and the CLI wiring."""

from __future__ import annotations

from pathlib import Path

import pytest

from breast_cancer_ml.cli import main
from breast_cancer_ml.pipelines.compare.run import command_line
from breast_cancer_ml.settings import CompareSettings


def test_command_line_lists_only_what_changes_the_numbers() -> None:
    s = CompareSettings(
        tune=True,
        target_recall=0.98,
        repeats=3,
        report_file=Path("MODEL_SELECTION.md"),
        tracking_uri="sqlite:////tmp/x.db",
        progress="never",
    )
    assert command_line(s) == (
        "bcml compare --repeats 3 --tune --target-recall 0.98 --report-file MODEL_SELECTION.md"
    )
    assert command_line(CompareSettings()) == "bcml compare"


def test_compare_help_lists_the_flags(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["compare", "--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    for flag in ("--models", "--k-folds", "--repeats", "--tune", "--target-recall"):
        assert flag in out


def test_bad_tune_metric_is_a_clear_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["compare", "--tune-metric", "accuracy"]) == 2
    assert "tune_metric" in capsys.readouterr().err
