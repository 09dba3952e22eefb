"""What a comparison produced: every model's outer-fold outcomes and summary, and the run."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from breast_cancer_ml.domain.nested_cv import FoldOutcome
from breast_cancer_ml.domain.selection import Recommendation
from breast_cancer_ml.settings import CompareSettings


@dataclass
class ModelResult:
    name: str
    outcomes: list[FoldOutcome]
    summary: dict[str, float]
    chosen_params: dict[str, Any]
    chosen_count: int


@dataclass
class ComparisonResult:
    run_id: str
    settings: CompareSettings
    command: str
    data_version: str
    n_train: int
    n_malignant: int
    models: dict[str, ModelResult]
    recommendation: Recommendation
    seconds: float
    artifacts: list[str]
    artifact_uri: str = ""
    written: list[str] = field(default_factory=list)  # files written outside MLflow
