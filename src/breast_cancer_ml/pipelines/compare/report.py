"""The selection report (``MODEL_SELECTION.md``) and the console's notes on the gate.

The report's prose is the Jinja2 template ``templates/model_selection.md.j2``; this module
computes what the template shows (the recommendation, the paired differences with the
runner-up, the weak models) so the template only lays it out. Jinja2 is already installed with
MLflow (through Flask) wherever ``bcml compare`` can run, and a template keeps the wording of a
long document in one readable file instead of a list of string fragments.
"""

from __future__ import annotations

import datetime as dt
import os
import platform
from collections.abc import Mapping
from functools import cache
from pathlib import Path
from typing import Any

from breast_cancer_ml.domain.champion import paired_difference
from breast_cancer_ml.domain.folds import FOLD_SCHEME
from breast_cancer_ml.domain.promotion import GateThresholds
from breast_cancer_ml.domain.selection import Bar, bar_misses, gate_failures
from breast_cancer_ml.pipelines.compare.results import ComparisonResult, ModelResult
from breast_cancer_ml.pipelines.compare.tables import LABELS, markdown_table, pm
from breast_cancer_ml.settings import CompareSettings

#: How far below the precision bar a gate-passing model must be to be called out.
WELL_BELOW = 0.05
#: The metrics on which the recommendation is compared with the runner-up, fold by fold.
_PAIRED = ("recall", "precision", "roc_auc")


@cache
def _template() -> Any:
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.PackageLoader("breast_cancer_ml.pipelines.compare", "templates"),
        autoescape=False,  # Markdown, not HTML
        undefined=jinja2.StrictUndefined,  # a misspelt name fails instead of printing nothing
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters["fmt"] = format  # {{ x | fmt(".4f") }} is exactly f"{x:.4f}"
    env.globals["pm"] = pm
    return env.get_template("model_selection.md.j2")


def selection_report(
    result: ComparisonResult,
    *,
    now: dt.datetime | None = None,
    machine: str | None = None,
    python: str | None = None,
) -> str:
    """The Markdown selection report (MODEL_SELECTION.md).

    ``now``, ``machine`` and ``python`` describe the run (default: this moment and this
    machine); given, they make the report reproducible byte for byte.
    """
    s = result.settings
    rec = result.recommendation
    best = result.models[rec.model]
    n_outer = s.k_folds * s.repeats
    runner_up = rec.ranking[1] if len(rec.ranking) > 1 else None
    paired = []
    if runner_up is not None:
        other = result.models[runner_up].outcomes
        for metric in _PAIRED:
            d = paired_difference(
                [o.metrics[metric] for o in best.outcomes], [o.metrics[metric] for o in other]
            )
            paired.append((LABELS[metric].lower(), d))
    weak = [
        (n, r.summary["precision_mean"])
        for n, r in result.models.items()
        if r.summary["gate_pass_share"] >= 0.5
        and r.summary["precision_mean"] < s.bar_precision - WELL_BELOW
    ]
    chosen = [
        (name, ", ".join(f"{k.split('__')[-1]}={v}" for k, v in r.chosen_params.items()), r)
        for name, r in result.models.items()
    ]
    return str(
        _template().render(
            r=result,
            s=s,
            rec=rec,
            best=best.summary,
            n_outer=n_outer,
            fold_scheme=FOLD_SCHEME,
            run_at=(dt.datetime.now(dt.UTC) if now is None else now).isoformat(timespec="seconds"),
            machine=platform.machine() if machine is None else machine,
            python=platform.python_version() if python is None else python,
            table=markdown_table(result.models),
            figures=_figures_folder(s),
            chosen=chosen,
            none_meets_bar=all(bar_misses(r.summary, _bar(s)) for r in result.models.values()),
            runner_up=runner_up,
            paired=paired,
            weak=weak,
            well_below=WELL_BELOW,
            notes=None if s.notes_file is None else s.notes_file.read_text().strip(),
        )
    )


def _figures_folder(s: CompareSettings) -> str | None:
    """The ``--output-dir`` holding the figures, relative to the report file (for links)."""
    if s.output_dir is None or s.report_file is None:
        return None
    base = s.report_file.resolve().parent
    return Path(os.path.relpath(s.output_dir.resolve(), base)).as_posix()


def _bar(s: CompareSettings) -> Bar:
    return Bar(s.bar_recall, s.bar_precision, s.bar_roc_auc)


def gate_share_notes(
    results: Mapping[str, ModelResult], min_recall: float, max_recall_std: float
) -> list[str]:
    """One line per model that failed the gate in some repeat, saying which rule failed."""
    thresholds = GateThresholds(min_recall, max_recall_std)
    lines = []
    for name, result in results.items():
        f = gate_failures(result.outcomes, thresholds)
        if f.passed == f.repeats:
            continue
        rules = []
        if f.low_recall:
            rules.append(f"mean recall below min_recall {min_recall:.4f} in {f.low_recall}")
        if f.high_std:
            rules.append(f"recall std above max_recall_std {max_recall_std:.4f} in {f.high_std}")
        lines.append(
            f"gate:          {name} passes in {f.passed} of {f.repeats} repeats "
            f"(share {f.passed / f.repeats:.2f}): " + "; ".join(rules)
        )
    return lines
