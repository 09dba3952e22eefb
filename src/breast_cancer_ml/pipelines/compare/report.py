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

from breast_cancer_ml.adapters.markdown_templates import markdown_template
from breast_cancer_ml.domain.champion import paired_difference
from breast_cancer_ml.domain.folds import FOLD_SCHEME
from breast_cancer_ml.domain.promotion import GateThresholds
from breast_cancer_ml.domain.selection import (
    Bar,
    ReferGoal,
    bar_misses,
    gate_failures,
    refer_goal_misses,
)
from breast_cancer_ml.pipelines.compare.results import ComparisonResult, ModelResult
from breast_cancer_ml.pipelines.compare.tables import (
    LABELS,
    calibration_table,
    has_refer,
    markdown_table,
    pm,
    refer_table,
)
from breast_cancer_ml.settings import CompareSettings

#: How far below the precision bar a gate-passing model must be to be called out.
WELL_BELOW = 0.05
#: The metrics on which the recommendation is compared with the runner-up, fold by fold.
_PAIRED = ("recall", "precision", "roc_auc")


@cache
def _template() -> Any:
    return markdown_template("breast_cancer_ml.pipelines.compare", "model_selection.md.j2", pm=pm)


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
            refer=_refer_context(result) if has_refer(result.models) else None,
        )
    )


def _best(models: Mapping[str, ModelResult], key: str, names: list[str]) -> tuple[str, float]:
    """The model of ``names`` with the highest defined ``key`` (first on ties); NaN if none."""
    defined = [n for n in names if models[n].summary[key] == models[n].summary[key]]
    if not defined:
        return ("", float("nan"))
    name = max(defined, key=lambda n: models[n].summary[key])
    return name, models[name].summary[key]


def _refer_context(result: ComparisonResult) -> dict[str, Any]:
    """What the report says about the refer rule: the tables, who meets the goal, the
    recommended model's misses, and the best decided accuracy and recall the data allows
    within the refer budget (or the lowest refer rate when no model stays within it)."""
    models = result.models
    goal = ReferGoal(max_refer_rate=result.settings.max_refer_rate)
    misses = {n: refer_goal_misses(r.summary, goal) for n, r in models.items()}
    within = [n for n, r in models.items() if r.summary["refer_rate"] <= goal.max_refer_rate]
    lowest = min(models, key=lambda n: models[n].summary["refer_rate"])
    return {
        "goal": goal,
        "table": refer_table(models),
        "calibration": calibration_table(models),
        "meeting": [n for n, m in misses.items() if not m],
        "rec_misses": misses[result.recommendation.model],
        "within": within,
        "best_accuracy": _best(models, "decided_accuracy", within),
        "best_recall": _best(models, "decided_recall", within),
        "lowest": (lowest, models[lowest].summary["refer_rate"]),
        "over_budget_folds": {
            n: int(r.summary["alpha_over_budget_folds"])
            for n, r in models.items()
            if r.summary["alpha_over_budget_folds"]
        },
    }


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
