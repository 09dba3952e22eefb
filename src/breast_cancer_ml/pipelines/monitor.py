"""``bcml monitor``: compare recent cases with the training reference stored at promotion, and
write ``monitor_report.json`` and ``monitor_report.html``.

The recent cases come from a prediction log folder (``--log``: what the service answered, with
the features when it ran with ``--log-features``) or a table of cases (``--input``: scored here
with the model, so their predictions, decisions and envelope checks are this model's). The
statistics are :mod:`~breast_cancer_ml.domain.drift`'s. Exit code (the CLI's): 0 no drift,
1 drift beyond the thresholds, 2 bad input or settings, 4 model store.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from breast_cancer_ml import __version__
from breast_cancer_ml.adapters.model_source import load_scoring_model
from breast_cancer_ml.adapters.monitor_report import REPORT_HTML, REPORT_JSON, write_reports
from breast_cancer_ml.adapters.monitor_sources import (
    RecentCases,
    log_cases,
    parse_since,
    read_case_table,
    read_log,
)
from breast_cancer_ml.domain.batch import score_rows
from breast_cancer_ml.domain.conformal import REFER
from breast_cancer_ml.domain.drift import DriftResult, RateShift, Thresholds, compare
from breast_cancer_ml.errors import ConfigError, DataValidationError, ModelStoreError
from breast_cancer_ml.settings import MonitorSettings

if TYPE_CHECKING:
    from breast_cancer_ml.adapters.model_store import PublishedModel

#: Version of ``monitor_report.json``'s layout.
REPORT_VERSION = 1
NO_DRIFT, DRIFT = 0, 1


@dataclass(frozen=True)
class MonitorOutcome:
    report: dict[str, Any]
    json_path: Path
    html_path: Path

    @property
    def exit_code(self) -> int:
        return DRIFT if self.report["drift"] else NO_DRIFT

    def lines(self) -> list[str]:
        r = self.report
        out = [
            f"{'DRIFT' if r['drift'] else 'no drift'}: {r['n_cases']} recent case(s) vs the "
            f"training reference of model {r['model']['run_id']}",
        ]
        for name, rate in r["rates"].items():
            if rate["recent_rate"] is not None and rate["reference_rate"] is not None:
                out.append(
                    f"  {name.replace('_', ' ')} rate {rate['recent_rate']:.3f} "
                    f"(reference {rate['reference_rate']:.3f})"
                    + ("  DRIFT" if rate["drift"] else "")
                )
        if r["drifted_features"]:
            out.append(f"  drifted features: {', '.join(r['drifted_features'])}")
        out += [f"  note: {note}" for note in r["notes"]]
        out.append(f"report: {self.json_path} and {self.html_path}")
        return out


def thresholds_of(settings: MonitorSettings) -> Thresholds:
    return Thresholds(
        psi=settings.psi_threshold,
        ks_alpha=settings.ks_alpha,
        min_cases=settings.min_cases,
        max_rate_shift=settings.max_rate_shift,
        rate_alpha=settings.rate_alpha,
        max_out_of_range_rate=settings.max_out_of_range_rate,
    )


def run_monitor(settings: MonitorSettings) -> MonitorOutcome:
    """Read the recent cases, load the model's reference, compare, write both reports."""
    _check_outputs(settings)
    notes: list[str] = []
    if settings.log is not None:
        since = parse_since(settings.since) if settings.since is not None else None
        records = read_log(settings.log, since, settings.last)
        if not records:
            window = f" since {since.isoformat()}" if since is not None else ""
            raise DataValidationError(f"{settings.log}: no prediction records{window}.")
        model = load_scoring_model(settings.model, settings.models_dir, settings.tracking_uri)
        recent = log_cases(records, settings.log)
        if recent.X is None:
            notes.append(
                "per-feature drift needs feature values: run the service with "
                "--prediction-log DIR --log-features"
            )
        elif recent.X.shape[0] < recent.n:
            notes.append(
                f"per-feature drift from the {recent.X.shape[0]} of {recent.n} cases logged "
                "with their features"
            )
    else:
        assert settings.input is not None  # one source: MonitorSettings checks it
        table = read_case_table(settings.input)
        model = load_scoring_model(settings.model, settings.models_dir, settings.tracking_uri)
        if isinstance(table, RecentCases):  # bcml predict's output: its answers, no features
            recent = table.last(settings.last) if settings.last is not None else table
            notes.append(
                "per-feature drift needs the feature values: give --input the file that was "
                "scored (monitor scores it again with the model)"
            )
        else:
            X = table[-settings.last :] if settings.last is not None else table
            recent = _scored(X, model, settings.input)
            rejected = X.shape[0] - recent.n
            if rejected:
                notes.append(
                    f"{rejected} row(s) are not valid cases (missing, negative or beyond a hard "
                    "bound) and were left out"
                )
    other = set(recent.run_ids) - {model.run_id}  # a log or scores: who answered each case
    if other:
        notes.append(
            f"{len(other)} other model(s) answered some of these cases; the rates are "
            "compared with this model's reference"
        )
    profile = model.drift_profile
    if profile is None:
        raise ModelStoreError(
            f"model {model.run_id} has no drift reference (promoted before bcml recorded one, "
            "or a bare MLflow model). Promote it again with `bcml train`."
        )
    result = compare(
        profile,
        predictions=recent.predictions,
        referred=recent.referred,
        out_of_range=recent.out_of_range,
        X=recent.X,
        thresholds=thresholds_of(settings),
    )
    report = report_dict(result, recent, model.run_id, model.threshold, notes)
    json_path, html_path = write_reports(settings.output_dir, report)
    return MonitorOutcome(report, json_path, html_path)


def _scored(X: NDArray[np.float64], model: PublishedModel, source: Path) -> RecentCases:
    rows = score_rows(model.proba, X, model.threshold, envelope=model.envelope)
    if rows.n_scored == 0:
        raise DataValidationError(
            f"{source}: no valid case (every row is missing a value, negative or beyond a "
            "feature's hard bound)."
        )
    referral = rows.refer(model.conformal)
    return RecentCases(
        predictions=rows.scored.prediction,
        referred=referral.decision == REFER,
        out_of_range=None if rows.outside is None else ~rows.in_distribution,
        X=np.ascontiguousarray(X[rows.valid]),
        description={"kind": "table of cases", "path": str(source), "rows": int(X.shape[0])},
    )


def _check_outputs(settings: MonitorSettings) -> None:
    """No report may replace an input."""
    if settings.input is None:
        return
    for name in (REPORT_JSON, REPORT_HTML):
        target = settings.output_dir / name
        if target.exists() and settings.input.exists() and target.samefile(settings.input):
            raise ConfigError(
                f"--output-dir {settings.output_dir} would overwrite the input {settings.input}; "
                "choose another folder."
            )


def _rate(shift: RateShift) -> dict[str, Any]:
    return {
        "reference_rate": shift.reference_rate,
        "reference_n": shift.reference_n,
        "recent_rate": shift.recent_rate,
        "recent_count": shift.recent_count,
        "recent_n": shift.recent_n,
        "difference": shift.difference,
        "p_value": shift.p_value,
        "drift": shift.drift,
    }


def report_dict(
    result: DriftResult,
    recent: RecentCases,
    run_id: str,
    threshold: float,
    notes: list[str],
) -> dict[str, Any]:
    """The JSON report: aggregates only (no case, no feature value)."""
    limits = result.thresholds
    profile_rates = {
        "predicted_malignant": result.predicted_malignant.reference_rate,
        "refer": result.refer.reference_rate,
        "out_of_range": result.out_of_range.reference_rate,
    }
    return {
        "report_version": REPORT_VERSION,
        "bcml_version": __version__,
        "generated_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "drift": result.drift,
        "exit_code": DRIFT if result.drift else NO_DRIFT,
        "n_cases": result.n,
        "enough_cases": result.enough_cases,
        "source": recent.description,
        "model": {"run_id": run_id, "threshold": threshold},
        "reference": {"n": result.predicted_malignant.reference_n, "rates": profile_rates},
        "thresholds": {
            "psi": limits.psi,
            "ks_alpha": limits.ks_alpha,
            "min_cases": limits.min_cases,
            "max_rate_shift": limits.max_rate_shift,
            "rate_alpha": limits.rate_alpha,
            "max_out_of_range_rate": limits.max_out_of_range_rate,
        },
        "rates": {
            "predicted_malignant": _rate(result.predicted_malignant),
            "refer": _rate(result.refer),
            "out_of_range": _rate(result.out_of_range),
        },
        "drifted_features": result.drifted_features,
        "features": [
            {
                "feature": f.feature,
                "n": f.n,
                "psi": f.psi,
                "ks_statistic": f.ks_statistic,
                "ks_p_value": f.ks_p_value,
                "ks_p_adjusted": f.ks_p_adjusted,
                "drift": f.drift,
                "reasons": list(f.reasons),
                "reference_shares": list(f.reference_shares),
                "recent_shares": list(f.recent_shares),
            }
            for f in result.features
        ],
        "notes": [*notes, *result.notes],
    }
