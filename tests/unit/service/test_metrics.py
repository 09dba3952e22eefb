"""The Prometheus exposition written by hand, read back with the reference parser."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

from breast_cancer_ml.service.metrics import DriftWindows, Metrics


def test_histogram_buckets_are_cumulative_and_counts_add_up() -> None:
    m = Metrics()
    for seconds in (0.0001, 0.0007, 0.003, 0.003, 7.0):
        m.observe("/predict", "POST", 200, seconds)
    m.observe("/predict", "POST", 422, 0.0002)
    m.count_predictions(malignant=2, total=5, out_of_range=1)
    m.count_predictions(malignant=0, total=0, out_of_range=0)
    families = {f.name: f for f in text_string_to_metric_families(m.render("run-1", "ready"))}

    hist = families["bcml_http_request_duration_seconds"].samples
    buckets = {s.labels["le"]: s.value for s in hist if s.name.endswith("_bucket")}
    assert buckets["0.0005"] == 2
    assert buckets["0.001"] == 3
    assert buckets["0.005"] == 5
    assert buckets["2.5"] == 5
    assert buckets["+Inf"] == 6
    count = next(s.value for s in hist if s.name.endswith("_count"))
    total = next(s.value for s in hist if s.name.endswith("_sum"))
    assert count == 6
    assert abs(total - 7.007) < 1e-9

    requests = {s.labels["status"]: s.value for s in families["bcml_http_requests"].samples}
    assert requests == {"200": 5, "422": 1}
    predictions = {s.labels["label"]: s.value for s in families["bcml_predictions"].samples}
    assert predictions == {"malignant": 2, "benign": 3}
    assert families["bcml_model_loaded"].samples[0].value == 1
    out_of_range = families["bcml_out_of_range"]
    assert out_of_range.type == "counter"
    assert [s.value for s in out_of_range.samples if s.name == "bcml_out_of_range_total"] == [1]


def test_label_values_are_escaped() -> None:
    m = Metrics()
    text = m.render('run"with\\quote', "refused")
    info = {f.name: f for f in text_string_to_metric_families(text)}["bcml_model_info"]
    assert info.samples[0].labels == {"run_id": 'run"with\\quote', "status": "refused"}


def test_decisions_are_counted_by_decision_and_every_decision_is_exposed_from_zero() -> None:
    m = Metrics()
    first = {f.name: f for f in text_string_to_metric_families(m.render(None, "no_model"))}
    family = first["bcml_decisions"]
    assert family.type == "counter"
    assert {s.labels["decision"]: s.value for s in family.samples if s.name.endswith("_total")} == {
        "malignant": 0,
        "benign": 0,
        "refer": 0,
    }
    m.count_predictions(malignant=3, total=5, decisions=(2, 1, 2))
    m.count_predictions(malignant=1, total=1, decisions=(0, 0, 1))
    m.count_predictions(malignant=1, total=2)  # /invocations without ?decision=true
    families = {f.name: f for f in text_string_to_metric_families(m.render("run-1", "ready"))}
    samples = families["bcml_decisions"].samples
    assert {s.labels["decision"]: s.value for s in samples if s.name.endswith("_total")} == {
        "malignant": 2,
        "benign": 1,
        "refer": 3,
    }


class _Clock:
    """A clock the test moves by hand (DriftWindows takes its clock as an argument)."""

    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def _drift_samples(text: str) -> dict[tuple[str, str], float]:
    out = {}
    for family in text_string_to_metric_families(text):
        if family.name.startswith("bcml_drift_"):
            for s in family.samples:
                out[(s.name, s.labels.get("window") or s.labels.get("rate", ""))] = s.value
    return out


def test_drift_windows_show_the_current_and_the_last_complete_window() -> None:
    clock = _Clock(1_000_000.0)  # a multiple of 100: the start of a window
    m = Metrics()
    m.drift = DriftWindows(100, clock)
    m.count_predictions(malignant=3, total=4, out_of_range=1, decisions=(2, 1, 1))
    clock.now += 50
    m.count_predictions(malignant=0, total=4, decisions=(0, 4, 0))
    now = _drift_samples(m.render("run-1", "ready"))
    assert now[("bcml_drift_window_cases", "current")] == 8
    assert now[("bcml_drift_predicted_malignant_rate", "current")] == 3 / 8
    assert now[("bcml_drift_out_of_range_rate", "current")] == 1 / 8
    assert now[("bcml_drift_refer_rate", "current")] == 1 / 8
    assert now[("bcml_drift_window_cases", "last")] == 0
    assert ("bcml_drift_predicted_malignant_rate", "last") not in now  # no case: no NaN
    assert now[("bcml_drift_window_start_seconds", "current")] == 1_000_000.0

    clock.now += 60  # the next window: the first one is now the last complete one
    later = _drift_samples(m.render("run-1", "ready"))
    assert later[("bcml_drift_window_cases", "last")] == 8
    assert later[("bcml_drift_predicted_malignant_rate", "last")] == 3 / 8
    assert later[("bcml_drift_window_cases", "current")] == 0
    assert later[("bcml_drift_window_start_seconds", "last")] == 1_000_000.0

    clock.now += 250  # two windows on with nothing scored: the last complete one was empty
    idle = _drift_samples(m.render("run-1", "ready"))
    assert idle[("bcml_drift_window_cases", "last")] == 0


def test_the_refer_rate_counts_only_answers_with_a_decision() -> None:
    clock = _Clock(0.0)
    m = Metrics()
    m.drift = DriftWindows(60, clock)
    m.count_predictions(malignant=1, total=2, decisions=(0, 1, 1))
    m.count_predictions(malignant=5, total=10)  # /invocations without ?decision=true
    samples = _drift_samples(m.render("run-1", "ready"))
    assert samples[("bcml_drift_refer_rate", "current")] == 0.5
    assert samples[("bcml_drift_predicted_malignant_rate", "current")] == 6 / 12


def test_the_models_reference_rates_are_shown_beside_the_windows() -> None:
    m = Metrics()
    text = m.render("run-1", "ready", {"predicted_malignant": 0.37, "refer": None})
    samples = _drift_samples(text)
    assert samples[("bcml_drift_reference_rate", "predicted_malignant")] == 0.37
    assert ("bcml_drift_reference_rate", "refer") not in samples


def test_the_default_drift_window_is_the_settings_default() -> None:
    from breast_cancer_ml.service.metrics import DRIFT_WINDOW_SECONDS
    from breast_cancer_ml.settings import ServeSettings

    assert ServeSettings().drift_window_seconds == DRIFT_WINDOW_SECONDS
    assert Metrics().drift.seconds == DRIFT_WINDOW_SECONDS
