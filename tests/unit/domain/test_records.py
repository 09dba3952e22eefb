"""The typed records: old files still load, the writer's output reads back as written, and a
file from a newer bcml is refused with the bad_metadata reason (exit 4)."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from breast_cancer_ml.domain.conformal import ConformalParams
from breast_cancer_ml.domain.drift import DriftProfile, build_profile
from breast_cancer_ml.domain.records import (
    SCHEMA_VERSION,
    ChallengerVerdict,
    PromotionMetadata,
    RunSummary,
    parse_metadata,
    parse_record,
)
from breast_cancer_ml.domain.schema import FEATURES
from breast_cancer_ml.errors import BadMetadataError, DataValidationError

OLD = Path(__file__).parents[2] / "fixtures" / "records_v1_without_schema_version"


def _old(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((OLD / name).read_text())
    assert "schema_version" not in data  # the fixture stands for files written before it
    return data


def test_old_run_summary_without_schema_version_loads_as_version_1() -> None:
    summary = parse_record(RunSummary, _old("run_summary.json"), "run_summary.json")
    assert summary.schema_version == 1
    assert summary.promoted is True
    assert summary.threshold == 0.5
    assert summary.gate.passed is True
    assert summary.registered_model is not None and summary.registered_model.version == "2"
    assert summary.envelope is not None
    verdict = summary.champion_challenger
    assert verdict is not None and verdict.evaluated and verdict.replace
    assert verdict.champion is not None and verdict.champion.present
    assert verdict.champion.source == "stored (same fold_spec)"
    assert verdict.difference is not None and verdict.difference.recall is not None
    assert verdict.difference.recall.equal_folds == 10


def test_old_promotion_metadata_without_schema_version_loads_as_version_1() -> None:
    metadata = parse_metadata(_old("promotion_metadata.json"), "promotion_metadata.json")
    assert metadata.schema_version == 1
    assert metadata.feature_names == list(FEATURES)
    assert len(metadata.model_sha256) >= 1
    assert metadata.cv_fold_recall is not None and len(metadata.cv_fold_recall) == 10
    assert metadata.champion_challenger is not None
    assert metadata.champion_challenger.champion is not None
    assert metadata.champion_challenger.champion.run_id == "d9268ea366834aeb83adf6537c02d527"
    assert metadata.forced_promotion is False
    # the next challenger compares its own fold spec with this one to reuse the stored folds
    assert metadata.fold_spec is not None
    assert (metadata.fold_spec.k_folds, metadata.fold_spec.repeats) == (10, 1)


def test_a_record_written_today_reads_back_equal_and_carries_its_version() -> None:
    summary = parse_record(RunSummary, _old("run_summary.json"), "old")
    # a version 1 record written back stays version 1: it still lacks what version 2 adds
    written = json.loads(summary.to_json())
    assert written["schema_version"] == 1
    assert parse_record(RunSummary, written, "new") == summary
    fresh = RunSummary(**summary.model_dump(exclude={"schema_version"}))
    assert json.loads(fresh.to_json())["schema_version"] == SCHEMA_VERSION == 2
    metadata = parse_metadata(_old("promotion_metadata.json"), "old")
    assert parse_metadata(json.loads(metadata.to_json()), "new") == metadata


def test_an_unmeasured_metric_is_written_as_nan_and_reads_back_as_nan() -> None:
    data = _old("run_summary.json")
    data["metrics"]["test_roc_auc"] = math.nan
    summary = parse_record(RunSummary, data, "run_summary.json")
    again = parse_record(RunSummary, json.loads(summary.to_json()), "run_summary.json")
    assert math.isnan(again.metrics["test_roc_auc"])


@pytest.mark.parametrize(
    ("cls", "name"),
    [(RunSummary, "run_summary.json"), (PromotionMetadata, "promotion_metadata.json")],
)
def test_a_newer_schema_version_is_refused_as_bad_metadata(cls: Any, name: str) -> None:
    data = _old(name) | {"schema_version": SCHEMA_VERSION + 1}
    # even where other problems are reported as bad input, a newer file is bad metadata
    with pytest.raises(BadMetadataError, match="written by a newer bcml") as info:
        parse_record(cls, data, name, error=DataValidationError)
    assert info.value.reason == "bad_metadata"
    assert info.value.exit_code == 4


def test_a_newer_verdict_is_refused_too() -> None:
    newer = SCHEMA_VERSION + 1
    with pytest.raises(BadMetadataError, match=f"schema_version {newer}"):
        parse_record(ChallengerVerdict, {"schema_version": newer, "evaluated": False}, "verdict")


def test_a_broken_field_is_named_without_its_value() -> None:
    data = _old("run_summary.json") | {"threshold": 1.7, "run_id": ""}
    with pytest.raises(DataValidationError, match=r"run_id: .*; threshold: ") as info:
        parse_record(RunSummary, data, "run_summary.json", error=DataValidationError)
    assert "1.7" not in str(info.value)


@pytest.mark.parametrize("version", [0, -1, "1", True])
def test_a_schema_version_that_is_not_a_known_positive_integer_is_refused(version: Any) -> None:
    with pytest.raises(BadMetadataError, match="schema_version"):
        parse_metadata(_old("promotion_metadata.json") | {"schema_version": version}, "m")


def test_the_refer_rule_travels_in_the_promotion_metadata_and_reads_back_equal() -> None:
    data = _old("promotion_metadata.json")
    assert parse_metadata(data, "old").conformal is None  # written before the refer rule
    params = ConformalParams(
        alpha=0.03, q_benign=0.81, q_malignant=0.64, n_benign=285, n_malignant=170
    )
    data["conformal"] = params.to_metadata()
    metadata = parse_metadata(data, "with rule")
    assert metadata.conformal == params
    written = json.loads(metadata.to_json())
    assert written["conformal"]["quantiles"] == {"benign": 0.81, "malignant": 0.64}
    assert parse_metadata(written, "again") == metadata


def test_a_broken_refer_rule_is_refused_as_bad_metadata() -> None:
    data = _old("promotion_metadata.json")
    data["conformal"] = {"method": "mondrian", "alpha": 0.03, "quantiles": {"benign": 1.5}}
    with pytest.raises(BadMetadataError, match="conformal"):
        parse_metadata(data, "promotion_metadata.json")


def _drift_profile() -> DriftProfile:
    rng = np.random.default_rng(0)
    return build_profile(rng.gamma(2.0, 1.0, size=(40, len(FEATURES))), 0.375, 0.0, 0.05)


def test_the_drift_reference_travels_in_both_records_and_reads_back_equal() -> None:
    data = _old("promotion_metadata.json")
    assert parse_metadata(data, "old").drift_reference is None  # written before it
    profile = _drift_profile()
    data["drift_reference"] = profile.to_metadata()
    metadata = parse_metadata(data, "with drift reference")
    assert metadata.drift_reference == profile
    written = json.loads(metadata.to_json())
    assert written["drift_reference"]["rates"]["predicted_malignant"] == 0.375
    assert parse_metadata(written, "again") == metadata
    summary = parse_record(
        RunSummary, _old("run_summary.json") | {"drift_reference": written["drift_reference"]}, "s"
    )
    assert summary.drift_reference == profile


def test_a_broken_drift_reference_is_refused_as_bad_metadata() -> None:
    data = _old("promotion_metadata.json")
    data["drift_reference"] = _drift_profile().to_metadata() | {"n": 0}
    with pytest.raises(BadMetadataError, match="drift_reference"):
        parse_metadata(data, "promotion_metadata.json")
