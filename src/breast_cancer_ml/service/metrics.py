"""Prometheus metrics in the text exposition format (version 0.0.4), kept in plain dicts.

The service runs its handlers on one event-loop thread, so counters need no lock; a hot-path
update is a dict lookup and an add. With ``--workers N`` each process counts its own requests
(Prometheus scrapes whichever worker answers; run one worker per container to aggregate).
"""

from __future__ import annotations

import time
from bisect import bisect_left
from collections.abc import Callable, Mapping
from typing import Any, Final

from breast_cancer_ml.domain.drift import DriftProfile

#: Upper bounds (seconds) of the request latency histogram.
BUCKETS: Final = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
CONTENT_TYPE: Final = "text/plain; version=0.0.4; charset=utf-8"


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


#: Default length (seconds) of a drift window, as ``ServeSettings.drift_window_seconds``
#: (tests/unit/service/test_metrics.py keeps the two equal).
DRIFT_WINDOW_SECONDS: Final = 300


class DriftWindows:
    """Counts of the current window of ``seconds`` (aligned to the clock: a 300 s window starts
    at :00, :05, ...) and of the last complete one: the rolling drift signal on ``/metrics``.

    Four integers per window and no allocation per request: a request adds to the current
    window; the first request (or scrape) after it ends moves it to "last" (or, after an idle
    window, an empty one). Counts: ``cases`` scored, ``malignant`` predicted,
    ``out_of_range`` (outside the envelope), ``decided`` (answered with a decision, the
    denominator of the refer rate: /invocations decides only with ?decision=true), ``refer``.
    """

    __slots__ = ("clock", "current", "index", "last", "seconds")

    def __init__(
        self, seconds: float = DRIFT_WINDOW_SECONDS, clock: Callable[[], float] = time.time
    ) -> None:
        if not seconds > 0:
            raise ValueError(f"a drift window should be > 0 seconds. Got {seconds!r} instead.")
        self.seconds = seconds
        self.clock = clock
        self.index = int(clock() // seconds)
        self.current = [0, 0, 0, 0, 0]  # cases, malignant, out_of_range, decided, refer
        self.last = [0, 0, 0, 0, 0]

    def roll(self) -> list[int]:
        """The current window's counts, after moving on to the window the clock is in."""
        index = int(self.clock() // self.seconds)
        if index != self.index:
            # the window that just ended is "last"; after an idle window, "last" is empty
            self.last = self.current if index == self.index + 1 else [0, 0, 0, 0, 0]
            self.current = [0, 0, 0, 0, 0]
            self.index = index
        return self.current

    def add(self, cases: int, malignant: int, out_of_range: int, decided: int, refer: int) -> None:
        c = self.roll()
        c[0] += cases
        c[1] += malignant
        c[2] += out_of_range
        c[3] += decided
        c[4] += refer

    def render(self, reference: Mapping[str, float | None] | None) -> list[str]:
        """The gauges; a rate over no case is left out (never a NaN)."""
        self.roll()
        windows = (("current", self.current, self.index), ("last", self.last, self.index - 1))
        out = [
            "# HELP bcml_drift_window_seconds Length of a drift window (drift_window_seconds).",
            "# TYPE bcml_drift_window_seconds gauge",
            f"bcml_drift_window_seconds {self.seconds!r}",
            "# HELP bcml_drift_window_start_seconds Start of the window (Unix time): the "
            "current one and the last complete one.",
            "# TYPE bcml_drift_window_start_seconds gauge",
        ]
        out += [f'bcml_drift_window_start_seconds{{window="{w}"}} {i * self.seconds!r}'
                for w, _, i in windows]  # fmt: skip
        out += [
            "# HELP bcml_drift_window_cases Cases scored in the window.",
            "# TYPE bcml_drift_window_cases gauge",
        ]
        out += [f'bcml_drift_window_cases{{window="{w}"}} {c[0]}' for w, c, _ in windows]
        rates = (
            ("predicted_malignant", "Share of the window's cases predicted malignant.", 1, 0),
            ("out_of_range", "Share of the window's cases outside the model's envelope.", 2, 0),
            ("refer", "Share of the window's decided cases referred to a pathologist.", 4, 3),
        )
        for name, text, num, den in rates:
            out += [
                f"# HELP bcml_drift_{name}_rate {text}",
                f"# TYPE bcml_drift_{name}_rate gauge",
            ]
            out += [
                f'bcml_drift_{name}_rate{{window="{w}"}} {c[num] / c[den]!r}'
                for w, c, _ in windows
                if c[den]
            ]
        if reference:
            out += [
                "# HELP bcml_drift_reference_rate The loaded model's rate on its training split "
                "(out-of-fold), to compare the windows with.",
                "# TYPE bcml_drift_reference_rate gauge",
            ]
            out += [
                f'bcml_drift_reference_rate{{rate="{k}"}} {v!r}'
                for k, v in reference.items()
                if v is not None
            ]
        return out


def reference_rates(profile: DriftProfile) -> dict[str, float | None]:
    """The rates of a model's drift reference, as ``bcml_drift_reference_rate`` shows them."""
    return {
        "predicted_malignant": profile.predicted_malignant_rate,
        "out_of_range": profile.out_of_range_rate,
        "refer": profile.refer_rate,
    }


class Metrics:
    """Request counts and latency by route, predictions by class, cases out of the model's
    envelope, model reloads, and the rolling drift windows."""

    def __init__(self, drift_window_seconds: float = DRIFT_WINDOW_SECONDS) -> None:
        self.drift = DriftWindows(drift_window_seconds)
        self.requests: dict[tuple[str, str, int], int] = {}
        # per route: [count per bucket..., +Inf count], sum
        self.latency: dict[str, list[float]] = {}
        self.predictions = {"malignant": 0, "benign": 0}
        self.out_of_range = 0
        self.decisions = {"malignant": 0, "benign": 0, "refer": 0}
        self.reloads = {"loaded": 0, "refused": 0}
        #: failed calls to the tracking server (serving a model_uri); None: not following one
        self.registry_failures: int | None = None
        #: the prediction log's writer (its ``written`` and ``dropped`` counts), if on
        self.prediction_log: Any = None

    def observe(self, route: str, method: str, status: int, seconds: float) -> None:
        key = (route, method, status)
        self.requests[key] = self.requests.get(key, 0) + 1
        hist = self.latency.get(route)
        if hist is None:
            hist = self.latency[route] = [0.0] * (len(BUCKETS) + 2)
        hist[bisect_left(BUCKETS, seconds)] += 1
        hist[-1] += seconds

    def count_predictions(
        self,
        malignant: int,
        total: int,
        out_of_range: int = 0,
        decisions: tuple[int, int, int] = (0, 0, 0),
    ) -> None:
        """``total`` rows scored, ``malignant`` of them malignant, ``out_of_range`` of them
        outside the model's plausibility envelope; ``decisions``: how many answers said
        malignant, benign and refer (rows answered without a decision count in none)."""
        self.predictions["malignant"] += malignant
        self.predictions["benign"] += total - malignant
        self.out_of_range += out_of_range
        if decisions[0]:
            self.decisions["malignant"] += decisions[0]
        if decisions[1]:
            self.decisions["benign"] += decisions[1]
        if decisions[2]:
            self.decisions["refer"] += decisions[2]
        self.drift.add(total, malignant, out_of_range, sum(decisions), decisions[2])

    def render(
        self,
        model_run_id: str | None,
        model_status: str,
        reference: Mapping[str, float | None] | None = None,
    ) -> str:
        """The exposition; ``reference``: the loaded model's drift reference rates."""
        out = [
            "# HELP bcml_http_requests_total HTTP requests by route, method and status.",
            "# TYPE bcml_http_requests_total counter",
        ]
        for (route, method, status), n in sorted(self.requests.items()):
            out.append(
                f'bcml_http_requests_total{{route="{_escape(route)}",method="{method}",'
                f'status="{status}"}} {n}'
            )
        out += [
            "# HELP bcml_http_request_duration_seconds Request latency by route.",
            "# TYPE bcml_http_request_duration_seconds histogram",
        ]
        for route, hist in sorted(self.latency.items()):
            label = _escape(route)
            cumulative = 0
            for bound, hits in zip((*BUCKETS, float("inf")), hist[:-1], strict=True):
                cumulative += int(hits)
                le = "+Inf" if bound == float("inf") else repr(bound)
                out.append(
                    f'bcml_http_request_duration_seconds_bucket{{route="{label}",le="{le}"}} '
                    f"{int(cumulative)}"
                )
            out.append(f'bcml_http_request_duration_seconds_sum{{route="{label}"}} {hist[-1]!r}')
            out.append(
                f'bcml_http_request_duration_seconds_count{{route="{label}"}} {int(cumulative)}'
            )
        out += [
            "# HELP bcml_predictions_total Rows scored, by predicted class.",
            "# TYPE bcml_predictions_total counter",
        ]
        out += [f'bcml_predictions_total{{label="{k}"}} {v}' for k, v in self.predictions.items()]
        out += [
            "# HELP bcml_decisions_total Answers by decision (malignant, benign, or refer to "
            "a pathologist); /invocations counts only the rows asked with ?decision=true.",
            "# TYPE bcml_decisions_total counter",
        ]
        out += [f'bcml_decisions_total{{decision="{k}"}} {v}' for k, v in self.decisions.items()]
        out += [
            "# HELP bcml_out_of_range_total Cases scored with a feature outside the model's "
            "plausibility envelope.",
            "# TYPE bcml_out_of_range_total counter",
            f"bcml_out_of_range_total {self.out_of_range}",
        ]
        out += [
            "# HELP bcml_model_reloads_total Models loaded or refused since start.",
            "# TYPE bcml_model_reloads_total counter",
        ]
        out += [f'bcml_model_reloads_total{{result="{k}"}} {v}' for k, v in self.reloads.items()]
        if self.registry_failures is not None:
            out += [
                "# HELP bcml_registry_failures_total Failed calls to the MLflow tracking server "
                "(unreachable, timed out, 5xx or credentials refused) since start.",
                "# TYPE bcml_registry_failures_total counter",
                f"bcml_registry_failures_total {self.registry_failures}",
            ]
        if self.prediction_log is not None:
            out += _prediction_log_lines(self.prediction_log)
        out += [
            "# HELP bcml_model_loaded 1 when a verified model is loaded (the service is ready).",
            "# TYPE bcml_model_loaded gauge",
            f"bcml_model_loaded {1 if model_run_id else 0}",
            "# HELP bcml_model_info The loaded model's run id and the model status.",
            "# TYPE bcml_model_info gauge",
            f'bcml_model_info{{run_id="{_escape(model_run_id or "")}",'
            f'status="{_escape(model_status)}"}} 1',
        ]
        out += self.drift.render(reference)
        return "\n".join(out) + "\n"


def _prediction_log_lines(writer: Any) -> list[str]:
    out = [
        "# HELP bcml_prediction_log_records_total Prediction log records written.",
        "# TYPE bcml_prediction_log_records_total counter",
        f"bcml_prediction_log_records_total {writer.written}",
        "# HELP bcml_prediction_log_dropped_total Prediction log records lost, by reason "
        "(queue_full: the writer fell behind; disk_full; write_error: any other I/O error).",
        "# TYPE bcml_prediction_log_dropped_total counter",
    ]
    out += [
        f'bcml_prediction_log_dropped_total{{reason="{k}"}} {v}'
        for k, v in list(writer.dropped.items())
    ]
    return out
