"""The model card generator on its own: refusals, and the HTML page."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from breast_cancer_ml.adapters import model_store
from breast_cancer_ml.adapters.model_card import card_html, card_markdown
from breast_cancer_ml.domain.conformal import ConformalParams
from breast_cancer_ml.domain.records import RunSummary, parse_record
from breast_cancer_ml.errors import BadMetadataError, ModelIntegrityError

OLD = Path(__file__).parents[2] / "fixtures" / "records_v1_without_schema_version"


def test_a_summary_without_the_clinical_evidence_gets_no_card() -> None:
    summary = parse_record(
        RunSummary, json.loads((OLD / "run_summary.json").read_text()), "run_summary.json"
    )
    params = ConformalParams(alpha=0.05, q_benign=0.5, q_malignant=0.5, n_benign=2, n_malignant=2)
    with pytest.raises(ValueError, match=r"lacks .*cv_calibration"):
        card_markdown(
            summary,
            model_sha256="0" * 64,
            conformal=params,
            decision_curve_rows=[],
            versions={},
            bcml_version="0",
        )


def test_html_renders_tables_and_never_passes_raw_html_through() -> None:
    page = card_html(
        "# Card\n\n| a | b |\n| --- | --- |\n| 1 | 2 |\n\n<script>x()</script>\n", "<T>"
    )
    assert page.startswith("<!DOCTYPE html>") and "<title>&lt;T&gt;</title>" in page
    assert "<h1>Card</h1>" in page and "<td>1</td>" in page
    assert "<script>" not in page and "&lt;script&gt;" in page


def test_the_store_checks_a_recorded_card_and_ignores_metadata_without_one(tmp_path: Path) -> None:
    folder = tmp_path
    (folder / "MODEL_CARD.md").write_text("# card\n")
    digest = model_store.sha256_file(folder / "MODEL_CARD.md")
    model_store.verify_card(folder, {})  # written before cards: nothing to check
    model_store.verify_card(folder, {"card_sha256": {"MODEL_CARD.md": digest}})
    (folder / "MODEL_CARD.md").write_text("# edited\n")
    with pytest.raises(ModelIntegrityError, match="model card was modified"):
        model_store.verify_card(folder, {"card_sha256": {"MODEL_CARD.md": digest}})
    with pytest.raises(ModelIntegrityError, match="missing"):
        model_store.verify_card(folder, {"card_sha256": {"MODEL_CARD.html": digest}})
    with pytest.raises(BadMetadataError, match="not a name->SHA256 map"):
        model_store.verify_card(folder, {"card_sha256": ["MODEL_CARD.md"]})
