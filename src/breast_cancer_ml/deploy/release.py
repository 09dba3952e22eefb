"""What CI and CD check about a training run, and the files a GitHub release carries.

``check_run_summary`` is the gate between training and shipping: CI checks a smoke run's
summary, CD refuses to build an image unless the summary says the model was promoted.
``write_release_files`` turns a promoted model folder into ``run_summary.json``,
``metrics.json`` and ``MODEL_CARD.md`` for the release page.
"""

from __future__ import annotations

import json
import math
import re
import shutil
from pathlib import Path

from breast_cancer_ml.adapters.model_store import METADATA_FILE, read_metadata
from breast_cancer_ml.domain.records import (
    PromotionMetadata,
    RunSummary,
    parse_metadata,
    parse_record,
)
from breast_cancer_ml.errors import DataValidationError, PromotionRefusedError

ARTIFACTS = ("confusion_matrix.png", "classification_report.txt", "run_summary.json")
_KEY_METRICS = ("cv_recall_mean", "cv_recall_std", "test_recall", "test_accuracy")


def check_run_summary(
    path: Path,
    *,
    expect_smoke: bool | None = None,
    require_promoted: bool = False,
    check_artifacts: bool = False,
) -> RunSummary:
    """Read ``run_summary.json`` at ``path`` through :class:`RunSummary` and check what a
    release needs of it; raise with the first problem."""

    def bad(problem: str) -> DataValidationError:
        return DataValidationError(f"{path}: {problem}")

    try:
        data = json.loads(path.read_text())
    except OSError as exc:
        raise bad(f"cannot read: {exc.strerror}") from None
    except json.JSONDecodeError as exc:
        raise bad(f"not valid JSON: {exc}") from None
    summary = parse_record(RunSummary, data, str(path), error=DataValidationError)
    if not re.fullmatch(r"[0-9a-f]{32}", summary.run_id):
        raise bad(f"run_id {summary.run_id!r} is not an MLflow run id")
    if not re.fullmatch(r"[0-9a-f]{64}", summary.data_version):
        raise bad("data_version is not a SHA-256 hex digest")
    for name in _KEY_METRICS:
        value = summary.metrics.get(name)
        if value is None or not math.isfinite(value) or not 0 <= value <= 1:
            raise bad(f"metric {name} = {value!r}, expected a number in [0, 1]")
    if summary.promoted and (summary.smoke or not summary.gate.passed):
        raise bad("promoted although smoke run or gate failed: inconsistent summary")
    if expect_smoke is not None and summary.smoke != expect_smoke:
        raise bad(f"smoke is {summary.smoke}, expected {expect_smoke}")
    if require_promoted and not summary.promoted:
        raise PromotionRefusedError(
            f"{path}: model not promoted ({summary.not_promoted_reason}); nothing to ship"
        )
    if check_artifacts:
        folder = Path(str(summary.artifact_uri or "").removeprefix("file://"))
        missing = [name for name in ARTIFACTS if not (folder / name).is_file()]
        if missing:
            raise bad(f"artifacts {missing} missing under {folder}")
    return summary


def write_release_files(model_dir: Path, out_dir: Path) -> list[Path]:
    """``run_summary.json``, ``metrics.json`` and ``MODEL_CARD.md`` of the promoted model in
    ``model_dir`` (e.g. ``models/latest``), written to ``out_dir``."""
    folder = model_dir.resolve()
    summary = check_run_summary(folder / "run_summary.json", require_promoted=True)
    metadata = parse_metadata(read_metadata(folder), str(folder / METADATA_FILE))
    out_dir.mkdir(parents=True, exist_ok=True)
    summary_out = out_dir / "run_summary.json"
    shutil.copyfile(folder / "run_summary.json", summary_out)
    metrics_out = out_dir / "metrics.json"
    metrics_out.write_text(
        json.dumps(
            {
                "run_id": summary.run_id,
                "model": summary.model,
                "data_version": summary.data_version,
                "threshold": summary.threshold,
                "gate": summary.gate.model_dump(),
                "metrics": summary.metrics,
                "promoted_at": metadata.promoted_at,
            },
            indent=2,
        )
        + "\n"
    )
    card_out = out_dir / "MODEL_CARD.md"
    card_out.write_text(model_card(summary, metadata))
    return [summary_out, metrics_out, card_out]


def _fold_noise(summary: RunSummary) -> str:
    """How much one missed case moves a fold's recall, from this run's own counts (the test
    split's malignant share, stratified, applied to the training split over its folds)."""
    n_test, n_train = summary.params.get("n_samples_test"), summary.params.get("n_samples_train")
    k, malignant = summary.params.get("k_folds"), summary.n_test_malignant
    if not all(isinstance(v, int) and v > 0 for v in (n_test, n_train, k, malignant)):
        return ""
    per_fold = malignant / n_test * n_train / k  # type: ignore[operator]
    return (
        f" About {per_fold:.0f} malignant cases per CV fold: one miss moves a fold's recall "
        f"by about {100 / per_fold:.0f} points."
    )


def model_card(summary: RunSummary, metadata: PromotionMetadata) -> str:
    """A short model card (Mitchell et al. 2019 headings) from the run's own numbers."""
    m = summary.metrics
    p = summary.params
    cv_rows = "\n".join(
        f"| {name} | {m[f'cv_{name}_mean']:.4f} | {m[f'cv_{name}_std']:.4f} |"
        for name in ("recall", "precision", "f1", "accuracy")
        if f"cv_{name}_mean" in m
    )
    test_rows = "\n".join(
        f"| {k.removeprefix('test_')} | {v:.4f} |" for k, v in m.items() if k.startswith("test_")
    )
    gate = summary.gate
    reg = summary.registered_model
    registry = (
        "-" if reg is None else f"`{reg.name}` version {reg.version} (alias `{reg.alias or '-'}`)"
    )
    return f"""# Model card: breast-cancer-ml {summary.model} (run {summary.run_id})

## Model details
- Estimator: {p.get("model_type", summary.model)} in a scikit-learn pipeline, saved with skops.
- MLflow run `{summary.run_id}`, experiment `{summary.experiment}`; registry
  {registry}.
- Promoted {metadata.promoted_at or "-"}; decision threshold {summary.threshold} on the
  probability of malignancy; bcml {metadata.bcml_version or "-"}.

## Intended use
Decision support for trained clinicians reading fine-needle aspirate (FNA) image features:
it flags likely malignant cases for attention. It is not a diagnosis and not for use on
populations or measurement protocols unlike the training data.

## Data
Wisconsin Diagnostic Breast Cancer (569 cases, 30 features), data version (SHA-256)
`{summary.data_version}`; stratified split: {p.get("n_samples_train", "-")} training,
{p.get("n_samples_test", "-")} held-out test cases (seed {p.get("random_state", "-")}).

## Evaluation
{p.get("k_folds", "-")}-fold stratified cross-validation on the training split (std with ddof=1):

| metric | mean | std |
| --- | --- | --- |
{cv_rows}

Held-out test split (one split: a small sample, read with its noise in mind):

| metric | value |
| --- | --- |
{test_rows}

## Promotion gate
{"PASSED" if gate.passed else "FAILED"}: {"; ".join(gate.reasons)}

## Limitations and risks
- Malignant is the positive class; a missed malignancy (false negative) is the costly error,
  so the gate is on recall.{_fold_noise(summary)}
- One public dataset from one institution; no external validation. Performance on other
  scanners, labs or populations is unknown.
- Inputs must be the 30 WDBC features in the documented order and units; the service rejects
  missing, non-finite or negative values.
"""
