"""The model card of a training run: ``MODEL_CARD.md`` and ``MODEL_CARD.html``.

One generator for every card: ``bcml train`` renders it at promotion (logged to the run and
published beside the model in ``models/latest/``, hashed in the promotion metadata), and the
release files copy the published one (:mod:`breast_cancer_ml.deploy.release`).

A Jinja2 template (``templates/model_card.md.j2``) rather than ``skops.card``: the card's
numbers come from the run summary (calibration, intervals, subgroups, the refer rule), which
``skops.card`` does not know, and ``bcml compare`` already renders its report the same way,
so there is one templating tool. Every number is formatted from the run's own record, never
typed by hand; the HTML is the Markdown rendered with ``markdown-it-py`` (CommonMark with
tables), at promotion, so the serving image needs no Markdown library.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache
from typing import Any, Final

from breast_cancer_ml.adapters.markdown_templates import markdown_template
from breast_cancer_ml.adapters.model_store import CARD_FILES
from breast_cancer_ml.domain.conformal import ConformalParams
from breast_cancer_ml.domain.records import RunSummary

CARD_MD, CARD_HTML = CARD_FILES  # "MODEL_CARD.md", "MODEL_CARD.html"
#: The test metrics in the card's performance table (each with its interval).
TEST_METRICS: Final = ("recall", "precision", "specificity", "accuracy", "f1", "roc_auc", "brier")
#: The CV metrics in the card's cross-validation table.
CV_METRICS: Final = ("recall", "precision", "specificity", "accuracy", "f1", "roc_auc", "brier")
#: The decision curve's thresholds shown in the card (the CSV has all of them).
CARD_DCA_THRESHOLDS: Final = (0.05, 0.1, 0.2, 0.3, 0.4, 0.5)
#: The model's own parameter names, as logged (``lr_C``, ``svm_C``, ...): the others are bcml's.
_BCML_PARAMS: Final = frozenset(
    {
        "model_type", "k_folds", "cv_repeats", "threshold", "target_recall", "tune",
        "random_state", "data_version", "n_samples_train", "n_samples_test", "n_features",
    }
)  # fmt: skip


@cache
def _template() -> Any:
    return markdown_template("breast_cancer_ml.adapters", "model_card.md.j2")


def card_markdown(
    summary: RunSummary,
    *,
    model_sha256: str,
    conformal: ConformalParams,
    decision_curve_rows: list[dict[str, float]],
    versions: Mapping[str, str],
    bcml_version: str,
    promoted_at: str | None = None,
) -> str:
    """``MODEL_CARD.md`` of the run ``summary`` describes (see the module docstring).

    ``decision_curve_rows`` are the rows of ``decision_curve.csv``; the card shows those at
    :data:`CARD_DCA_THRESHOLDS`. ``versions`` (name -> version or commit) fill the last table.
    """
    missing = [
        name
        for name in ("cv_calibration", "test_calibration", "refer", "subgroups", "test_ci")
        if getattr(summary, name) is None
    ]
    if missing:
        raise ValueError(f"run summary {summary.run_id} lacks {missing}: no card can be made")
    shown = {round(t, 2) for t in CARD_DCA_THRESHOLDS}
    p = summary.params
    return str(
        _template().render(
            s=summary,
            m=summary.metrics,
            p=p,
            test_ci=summary.test_ci,
            cal_cv=summary.cv_calibration,
            cal_test=summary.test_calibration,
            refer=summary.refer,
            conformal=conformal,
            dca=[r for r in decision_curve_rows if round(r["threshold"], 2) in shown],
            hyperparameters=sorted((k, v) for k, v in p.items() if k not in _BCML_PARAMS),
            test_metrics=[n for n in TEST_METRICS if f"test_{n}" in summary.metrics],
            cv_metrics=[n for n in CV_METRICS if f"cv_{n}_mean" in summary.metrics],
            n_cases=int(p.get("n_samples_train", 0)) + int(p.get("n_samples_test", 0)),
            model_sha256=model_sha256,
            versions=sorted(versions.items()),
            bcml_version=bcml_version,
            promoted_at=promoted_at,
        )
    )


def card_html(markdown: str, title: str = "Model card") -> str:
    """The card as a standalone HTML page (CommonMark plus tables, raw HTML not passed
    through: the card is data, never markup)."""
    from html import escape

    from markdown_it import MarkdownIt

    body = MarkdownIt("commonmark", {"html": False}).enable("table").render(markdown)
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f"<title>{escape(title)}</title>\n"
        "<style>body{font-family:sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem}"
        "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:.2rem .5rem}"
        "code{background:#f4f4f4}</style>\n</head>\n<body>\n"
        f"{body}</body>\n</html>\n"
    )
