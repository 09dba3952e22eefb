"""The model holder's refusals: a short code and a fixed sentence for anyone, the detail for
the log only."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from breast_cancer_ml.adapters.model_store import seal_metadata
from breast_cancer_ml.service.model_holder import REFUSAL_MESSAGES, ModelHolder


def test_a_refused_model_keeps_a_code_and_a_fixed_message_and_the_log_keeps_the_path(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    folder = tmp_path / "history" / "run-1"
    folder.mkdir(parents=True)
    (folder / "promotion_metadata.json").write_text("{not json")
    seal_metadata(folder)  # sealed as promoted (the sidecar matches), but unreadable as JSON
    (tmp_path / "latest").symlink_to(folder)
    holder = ModelHolder(tmp_path)
    with caplog.at_level(logging.ERROR):
        assert holder.check() is False
    refusal = holder.refusal
    assert refusal is not None
    assert refusal.reason == "bad_metadata"
    assert refusal.message == REFUSAL_MESSAGES["bad_metadata"]
    assert str(tmp_path) not in refusal.reason + refusal.message
    (record,) = [r for r in caplog.records if getattr(r, "event", "") == "model_refused"]
    assert str(folder) in record.getMessage()  # the detail, for the operator
    assert holder.status == "refused"
    assert holder.check() is False  # unchanged files: not retried, not logged again
    assert len([r for r in caplog.records if getattr(r, "event", "") == "model_refused"]) == 1


def test_every_store_error_reason_has_a_fixed_message() -> None:
    from breast_cancer_ml import errors

    reasons = {
        cls.reason
        for cls in vars(errors).values()
        if isinstance(cls, type) and issubclass(cls, errors.ModelStoreError)
    }
    assert reasons <= set(REFUSAL_MESSAGES)
