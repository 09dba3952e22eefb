"""What CI and CD check about a training run, and the files a GitHub release carries.

``check_run_summary`` is the gate between training and shipping: CI checks a smoke run's
summary, CD refuses to build an image unless the summary says the model was promoted.
``write_release_files`` turns a promoted model folder into ``run_summary.json``,
``metrics.json`` and ``MODEL_CARD.md`` (the card published with the model) for the release
page.
"""

from __future__ import annotations

import json
import math
import re
import shutil
from pathlib import Path

from breast_cancer_ml.adapters.model_store import (
    CARD_FILES,
    METADATA_FILE,
    read_metadata,
    verify_card,
)
from breast_cancer_ml.domain.records import RunSummary, parse_metadata, parse_record
from breast_cancer_ml.errors import DataValidationError, ModelStoreError, PromotionRefusedError

#: What every training run logs (issue 12 added the clinical evidence and the model card).
ARTIFACTS = (
    "confusion_matrix.png",
    "classification_report.txt",
    "run_summary.json",
    "calibration.png",
    "decision_curve.png",
    "decision_curve.csv",
    "subgroups.csv",
    *CARD_FILES,
)
CARD_MD = CARD_FILES[0]
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
    ``model_dir`` (e.g. ``models/latest``), written to ``out_dir``.

    The card is the one published beside the model at promotion (``bcml train`` renders it
    from the run's own numbers, :mod:`breast_cancer_ml.adapters.model_card`), copied byte for
    byte after checking it against the SHA256 the promotion metadata records. A model promoted
    before cards existed has none: nothing is written, and the error says to re-promote.
    """
    folder = model_dir.resolve()
    summary = check_run_summary(folder / "run_summary.json", require_promoted=True)
    raw = read_metadata(folder)
    metadata = parse_metadata(raw, str(folder / METADATA_FILE))
    card = folder / CARD_MD
    if not card.is_file() or not metadata.card_sha256:
        raise ModelStoreError(
            f"{folder} has no model card ({CARD_MD} with its SHA256 in {METADATA_FILE}): it "
            "was promoted by a bcml that wrote none. Re-promote it with `bcml train` to get one."
        )
    verify_card(folder, raw)
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
    card_out = out_dir / CARD_MD
    shutil.copyfile(card, card_out)
    return [summary_out, metrics_out, card_out]
