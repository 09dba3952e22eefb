"""The rolling drift signal on ``/metrics``, over a real uvicorn server on 127.0.0.1: the
predicted-malignant, out-of-range and refer rates of the current window are those of the
answers given in it, they move to the "last" window when it ends, and the model's reference
rates (its drift reference from promotion) are shown beside them."""

from __future__ import annotations

import time
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from breast_cancer_ml.domain.drift import build_profile
from breast_cancer_ml.domain.schema import FEATURES
from breast_cancer_ml.service.schemas import EXAMPLE_ROW, EXAMPLE_ROW_BENIGN

from .conftest import promote

pytestmark = pytest.mark.integration

WINDOW = 3.0
OUTSIDE = list(EXAMPLE_ROW)
OUTSIDE[FEATURES.index("smoothness_mean")] = 50.0  # within the hard bound, outside the envelope


def _drift(server: Any) -> dict[tuple[str, str], float]:
    text = server.client.get("/metrics").text
    return {
        (s.name, s.labels.get("window") or s.labels.get("rate", "")): s.value
        for family in text_string_to_metric_families(text)
        if family.name.startswith("bcml_drift_")
        for s in family.samples
    }


def _start_of_a_window() -> int:
    """Wait until a window has just begun, so the requests below all fall in it; its index."""
    while time.time() % WINDOW > 0.3:
        time.sleep(0.02)
    return int(time.time() // WINDOW)


def test_metrics_show_the_windows_rates_of_the_answers_given(
    tmp_path: Any, start_server: Any, trained: Any, wdbc: Any
) -> None:
    profile = build_profile(wdbc.X, 0.37, 0.0, 0.05)
    models = tmp_path / "models"
    promote(models, trained["a"], metadata={"drift_reference": profile.to_metadata()})
    server = start_server(models, args=("--drift-window-seconds", str(WINDOW)))
    c = server.client
    server.wait_for(lambda: c.get("/ready").status_code == 200)

    window = _start_of_a_window()
    answers = [c.post("/predict", json={"features": row}).json() for row in
               (EXAMPLE_ROW, EXAMPLE_ROW, EXAMPLE_ROW_BENIGN, OUTSIDE)]  # fmt: skip
    batch = c.post("/predict/batch", json={"instances": [EXAMPLE_ROW_BENIGN, OUTSIDE]}).json()
    answers += batch["predictions"]
    now = _drift(server)
    assert int(time.time() // WINDOW) == window, "the requests took longer than a window"

    n = len(answers)
    malignant = sum(a["prediction"] for a in answers)
    outside = sum(1 for a in answers if a["in_distribution"] is False)
    referred = sum(1 for a in answers if a["decision"] == "refer")
    assert outside == 2  # the check below is not vacuous
    assert now[("bcml_drift_window_cases", "current")] == n
    assert now[("bcml_drift_predicted_malignant_rate", "current")] == pytest.approx(malignant / n)
    assert now[("bcml_drift_out_of_range_rate", "current")] == pytest.approx(outside / n)
    assert now[("bcml_drift_refer_rate", "current")] == pytest.approx(referred / n)
    assert now[("bcml_drift_window_seconds", "")] == WINDOW
    assert now[("bcml_drift_reference_rate", "predicted_malignant")] == 0.37
    assert now[("bcml_drift_reference_rate", "refer")] == 0.05

    # the next window: these answers are the last complete window's, the current one is empty
    server.wait_for(lambda: _drift(server)[("bcml_drift_window_cases", "current")] == 0, 10)
    later = _drift(server)
    assert later[("bcml_drift_window_cases", "last")] == n
    assert later[("bcml_drift_predicted_malignant_rate", "last")] == pytest.approx(malignant / n)
    assert ("bcml_drift_predicted_malignant_rate", "current") not in later  # never a NaN
