"""`bcml train`'s printed evidence lines, from a run summary."""

from __future__ import annotations

import json
from pathlib import Path

from breast_cancer_ml.cli.train import _evidence_lines
from breast_cancer_ml.domain.records import RunSummary, SubgroupRecord, parse_record

OLD = Path(__file__).parents[1] / "fixtures" / "records_v1_without_schema_version"


def _summary(**changes: object) -> RunSummary:
    data = json.loads((OLD / "run_summary.json").read_text())
    return parse_record(RunSummary, data | changes, "run_summary.json")


def _slice(name: str, below: bool) -> SubgroupRecord:
    metrics = {"recall": 0.8}
    return SubgroupRecord(
        slice=name, n=30, n_malignant=10, metrics=metrics, ci_low=metrics, ci_high=metrics,
        recall_below_gate=below,
    )  # fmt: skip


def test_a_summary_written_before_the_evidence_prints_no_evidence_line() -> None:
    assert _evidence_lines(_summary()) == []


def test_a_slice_whose_recall_interval_is_below_the_gate_is_named() -> None:
    summary = _summary(
        subgroups=[_slice("area_mean low", True), _slice("texture_mean high", False)]
    )
    (line,) = _evidence_lines(summary)
    assert line.startswith("subgroups:")
    assert "area_mean low" in line and "texture_mean high" not in line


def test_no_line_when_no_slice_is_flagged() -> None:
    assert _evidence_lines(_summary(subgroups=[_slice("area_mean low", False)])) == []
