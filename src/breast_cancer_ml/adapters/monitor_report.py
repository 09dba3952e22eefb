"""``monitor_report.json`` and ``monitor_report.html``: written together and atomically.

The HTML is self-contained: its pictures are PNGs drawn with matplotlib and embedded as
``data:`` URIs, its style is inline; it loads nothing from anywhere (hospital networks are often
offline). Both files hold aggregates only (rates, statistics, bin shares), never a case.
"""

from __future__ import annotations

import base64
import contextlib
import html
import io
import json
import os
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

REPORT_JSON = "monitor_report.json"
REPORT_HTML = "monitor_report.html"
#: Features drawn bin by bin in the HTML: the drifted ones, else the largest PSI, at most this.
MAX_FEATURE_PLOTS = 6


def write_reports(folder: Path, report: Mapping[str, Any]) -> tuple[Path, Path]:
    """Write both files into ``folder`` (created if needed): each under a temporary name in the
    same folder, then renamed, so a reader never sees half a report."""
    folder.mkdir(parents=True, exist_ok=True)
    texts = {
        REPORT_JSON: json.dumps(report, indent=2, allow_nan=False) + "\n",
        REPORT_HTML: render_html(report),
    }
    staged: list[tuple[Path, Path]] = []
    try:
        for name, text in texts.items():
            fd, tmp_name = tempfile.mkstemp(prefix=f".{name}.", suffix=".partial", dir=folder)
            staged.append((Path(tmp_name), folder / name))
            os.fchmod(fd, 0o666 & ~_umask())  # as a plain open() would (mkstemp: 0600)
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write(text)
                fh.flush()
                os.fsync(fh.fileno())
        for partial, final in staged:
            partial.replace(final)
    finally:
        for partial, _ in staged:
            with contextlib.suppress(FileNotFoundError):
                partial.unlink()
    return folder / REPORT_JSON, folder / REPORT_HTML


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _png(fig: Any) -> str:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=90)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")  # no display; must precede pyplot's import
    import matplotlib.pyplot as plt

    return plt


#: What the page says instead of its pictures when matplotlib is not installed.
NO_PLOTS = "No plots: they need matplotlib (pip install 'breast-cancer-ml[train]')."


def pictures(report: Mapping[str, Any]) -> list[tuple[str, str]]:
    """``(caption, data URI)`` of each picture of the report; none without matplotlib (the
    ``train`` extra), where the tables still say everything."""
    try:
        plt = _pyplot()
    except ImportError:
        return []
    out: list[tuple[str, str]] = []
    features: Sequence[Mapping[str, Any]] = report["features"]
    psi_limit = report["thresholds"]["psi"]
    if features:
        fig, ax = plt.subplots(figsize=(9, 6.5))
        names = [f["feature"] for f in features]
        values = [f["psi"] for f in features]
        colours = ["#c0392b" if f["drift"] else "#2e86c1" for f in features]
        ax.barh(names[::-1], values[::-1], color=colours[::-1])
        ax.axvline(psi_limit, color="black", linestyle="--", linewidth=1)
        ax.set_xlabel(f"PSI (dashed: threshold {psi_limit:g}; red: drifted)")
        ax.tick_params(axis="y", labelsize=7)
        fig.tight_layout()
        out.append(("Population stability index per feature", _png(fig)))
        plt.close(fig)
    rates = report["rates"]
    shown = [(k, r) for k, r in rates.items() if r["recent_rate"] is not None]
    if shown:
        fig, ax = plt.subplots(figsize=(6, 3))
        x = range(len(shown))
        ref = [r["reference_rate"] or 0.0 for _, r in shown]
        recent = [r["recent_rate"] for _, r in shown]
        ax.bar([i - 0.2 for i in x], ref, width=0.4, label="training reference", color="#95a5a6")
        ax.bar([i + 0.2 for i in x], recent, width=0.4, label="recent", color="#2e86c1")
        ax.set_xticks(list(x), labels=[k.replace("_", " ") for k, _ in shown])
        ax.set_ylabel("share of cases")
        ax.legend(fontsize=8)
        fig.tight_layout()
        out.append(("Rates: training reference vs recent cases", _png(fig)))
        plt.close(fig)
    drifted = [f for f in features if f["drift"]]
    chosen = (drifted or sorted(features, key=lambda f: -f["psi"]))[:MAX_FEATURE_PLOTS]
    for f in chosen:
        fig, ax = plt.subplots(figsize=(6, 2.6))
        bins = range(len(f["reference_shares"]))
        ax.bar([i - 0.2 for i in bins], f["reference_shares"], width=0.4, label="reference")
        ax.bar([i + 0.2 for i in bins], f["recent_shares"], width=0.4, label="recent")
        ax.set_xlabel("training decile bin (low to high)")
        ax.set_ylabel("share")
        ax.legend(fontsize=8)
        ax.set_title(f"{f['feature']}: PSI {f['psi']:.3g}, KS D {f['ks_statistic']:.3g}")
        fig.tight_layout()
        out.append((f"{f['feature']}: share of cases per bin", _png(fig)))
        plt.close(fig)
    return out


def _cell(value: Any) -> str:
    if value is None:
        return "&ndash;"
    if isinstance(value, float):
        return f"{value:.4g}"
    return html.escape(str(value))


def render_html(report: Mapping[str, Any]) -> str:
    """The report as one self-contained HTML page."""
    verdict = "DRIFT" if report["drift"] else "no drift"
    colour = "#c0392b" if report["drift"] else "#1e8449"
    rows = "".join(
        f"<tr><td>{html.escape(name.replace('_', ' '))}</td><td>{_cell(r['reference_rate'])}</td>"
        f"<td>{_cell(r['recent_rate'])}</td><td>{r['recent_count']}/{r['recent_n']}</td>"
        f"<td>{_cell(r['difference'])}</td><td>{_cell(r['p_value'])}</td>"
        f"<td>{'yes' if r['drift'] else 'no'}</td></tr>"
        for name, r in report["rates"].items()
    )
    features = "".join(
        f"<tr{' class=drift' if f['drift'] else ''}><td>{html.escape(f['feature'])}</td>"
        f"<td>{_cell(f['psi'])}</td><td>{_cell(f['ks_statistic'])}</td>"
        f"<td>{_cell(f['ks_p_value'])}</td><td>{_cell(f['ks_p_adjusted'])}</td>"
        f"<td>{html.escape('; '.join(f['reasons'])) or 'no'}</td></tr>"
        for f in report["features"]
    )
    notes = "".join(f"<li>{html.escape(n)}</li>" for n in report["notes"])
    figures = (
        "".join(
            f'<figure><img alt="{html.escape(caption)}" src="{uri}">'
            f"<figcaption>{html.escape(caption)}</figcaption></figure>"
            for caption, uri in pictures(report)
        )
        or f"<p>{html.escape(NO_PLOTS)}</p>"
    )
    model = report["model"]
    source = report["source"]
    limits = report["thresholds"]
    feature_table = (
        "<table><tr><th>feature</th><th>PSI</th><th>KS D</th><th>KS p</th>"
        f"<th>KS p (Bonferroni)</th><th>drift</th></tr>{features}</table>"
        if report["features"]
        else "<p>No per-feature comparison: the cases carry no feature values.</p>"
    )
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>bcml monitor: {html.escape(verdict)}</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 2em auto; max-width: 62em; color: #222; }}
table {{ border-collapse: collapse; margin: 1em 0; font-size: 0.9em; }}
td, th {{ border: 1px solid #ccc; padding: 0.25em 0.6em; text-align: left; }}
tr.drift td {{ background: #fdecea; }}
.verdict {{ font-size: 1.6em; font-weight: bold; color: {colour}; }}
figure {{ margin: 1em 0; }} img {{ max-width: 100%; }}
</style></head><body>
<h1>Drift report</h1>
<p class="verdict">{html.escape(verdict)}</p>
<p>{report["n_cases"]} recent case(s) from the {html.escape(str(source["kind"]))}
<code>{html.escape(str(source["path"]))}</code>, compared with the training reference of model
<code>{html.escape(str(model["run_id"]))}</code> (threshold {_cell(model["threshold"])},
{report["reference"]["n"]} training cases). Generated {html.escape(report["generated_at"])}.</p>
<h2>Rates</h2>
<table><tr><th>rate</th><th>reference</th><th>recent</th><th>count</th><th>difference</th>
<th>p (Fisher)</th><th>drift</th></tr>{rows}</table>
<h2>Features</h2>
{feature_table}
<h2>Notes</h2><ul>{notes or "<li>none</li>"}</ul>
<p>Thresholds: PSI &gt; {limits["psi"]:g}; KS p (Bonferroni over 30 features) &lt;
{limits["ks_alpha"]:g} with at least {limits["min_cases"]} cases; rate shift &gt;
{limits["max_rate_shift"]:g} with Fisher p &lt; {limits["rate_alpha"]:g}; out-of-range rate &gt;
{limits["max_out_of_range_rate"]:g}. The reference is a quantile sketch (101 quantiles per
feature) of the training split: see docs/monitoring.md.</p>
{figures}
</body></html>
"""
