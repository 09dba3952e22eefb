"""``GET /ui`` in a real browser (Debian's chromium, driven by Playwright) against a real
uvicorn server with an API key: what a clinician does with the page, checked on what the page
shows, and every request the page makes stays on the service's origin (opened by a name that
is not localhost). ``/docs`` too."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from breast_cancer_ml.domain.models import build_pipeline
from breast_cancer_ml.settings import BUNDLED_DATA

from .browser import API_KEY, MAX_BATCH_ROWS, Browser, browser, origin, ui_server
from .conftest import ServerProcess, TrainedModel, promote

pytestmark = pytest.mark.integration
__all__ = ["browser", "ui_server"]  # module-scoped fixtures, imported for this module

AUTH = {"Authorization": f"Bearer {API_KEY}"}


def _open(browser: Browser, *, key: str | None = API_KEY) -> Any:
    """The page, loaded and ready, with ``key`` entered in its API key field."""
    page = browser.new_page()
    page.goto("/ui")
    page.wait_for_selector("body[data-ready=true]")
    if key is not None:
        page.fill("#api-key", key)
        page.click("#key-save")
    return page


def _features(page: Any) -> dict[str, float]:
    """The case as the form holds it now."""
    values: dict[str, str] = page.eval_on_selector_all(
        "#groups input", "inputs => Object.fromEntries(inputs.map(i => [i.name, i.value]))"
    )
    return {name: float(value) for name, value in values.items()}


def _assert_stayed_home(browser: Browser) -> None:
    assert browser.requests, "the page made no request at all"
    assert browser.foreign_requests() == []
    assert browser.script_errors() == []  # a CSP violation or a script error is logged here


def test_example_case_shows_the_decision_and_probability_the_api_gives(
    browser: Browser, ui_server: tuple[ServerProcess, str]
) -> None:
    server, run_id = ui_server
    page = _open(browser)
    page.click("#fill-malignant")
    case = _features(page)
    assert len(case) == 30
    page.click("#predict")
    page.wait_for_selector("#result:not([hidden])")

    api = server.client.post("/predict", json={"features": case}, headers=AUTH).json()
    assert page.get_attribute("#decision", "data-decision") == api["decision"] == "malignant"
    assert page.inner_text("#decision") == "Malignant"
    assert float(page.get_attribute("#probability", "data-value")) == api["probability"]
    assert page.inner_text("#probability") == f"{api['probability']:.4f}"
    assert page.inner_text("#model-version") == run_id
    assert page.is_hidden("#refer-note")
    assert page.is_hidden("#warnings-box")
    # the key went in the session's storage, nowhere that outlives the tab
    assert page.evaluate("sessionStorage.getItem('bcml.apiKey')") == API_KEY
    assert page.evaluate("localStorage.length") == 0
    assert page.context.cookies() == []
    _assert_stayed_home(browser)
    assert f"{browser.origin}/predict?explain=true" in browser.requests


def test_without_the_key_the_page_says_it_is_missing_or_wrong(browser: Browser) -> None:
    page = _open(browser, key=None)
    page.click("#fill-benign")
    page.click("#predict")
    page.wait_for_selector("#form-message:not([hidden])")
    assert "API key missing or wrong" in page.inner_text("#form-message")
    assert page.is_hidden("#result")

    page.fill("#api-key", "not-the-right-key-at-all")
    page.click("#key-save")
    page.click("#predict")
    page.wait_for_selector("#predict:not([disabled])")  # the answer is in
    assert "API key missing or wrong" in page.inner_text("#form-message")

    page.fill("#api-key", API_KEY)
    page.click("#key-save")
    page.click("#predict")
    page.wait_for_selector("#result:not([hidden])")
    assert page.get_attribute("#decision", "data-decision") == "benign"
    assert page.is_hidden("#form-message")


def test_csv_of_three_cases_gives_a_table_of_their_three_decisions(
    browser: Browser, ui_server: tuple[ServerProcess, str], tmp_path: Path
) -> None:
    server, _ = ui_server
    # the Kaggle layout: id and diagnosis columns, and its trailing empty column
    lines = BUNDLED_DATA.read_text().splitlines()[:4]
    csv = tmp_path / "three.csv"
    csv.write_text("\r\n".join(line + "," for line in lines) + "\r\n")
    header = lines[0].split(",")
    rows = [dict(zip(header, line.split(","), strict=True)) for line in lines[1:]]
    instances = [[float(r[name]) for name in header[2:]] for r in rows]

    page = _open(browser)
    page.set_input_files("#csv-file", str(csv))
    page.click("#predict-batch")
    page.wait_for_selector("#batch-table:not([hidden])")

    api = server.client.post("/predict/batch", json={"instances": instances}, headers=AUTH)
    expected = api.json()["predictions"]
    shown = page.eval_on_selector_all(
        "#batch-table tbody tr",
        "trs => trs.map(tr => ({decision: tr.dataset.decision, "
        "cells: [...tr.cells].map(td => td.textContent)}))",
    )
    assert len(shown) == 3
    assert [row["decision"] for row in shown] == [p["decision"] for p in expected]
    assert [row["cells"][0] for row in shown] == ["1", "2", "3"]
    assert [row["cells"][1] for row in shown] == [r["id"] for r in rows]
    assert [row["cells"][3] for row in shown] == [f"{p['probability']:.4f}" for p in expected]
    assert page.is_hidden("#batch-message")
    _assert_stayed_home(browser)


def test_csv_over_the_batch_limit_is_refused_in_the_page_naming_the_limit(
    browser: Browser, tmp_path: Path
) -> None:
    lines = BUNDLED_DATA.read_text().splitlines()[: MAX_BATCH_ROWS + 2]
    csv = tmp_path / "too-many.csv"
    csv.write_text("\n".join(lines) + "\n")
    page = _open(browser)
    page.set_input_files("#csv-file", str(csv))
    page.click("#predict-batch")
    page.wait_for_selector("#batch-message:not([hidden])")
    message = page.inner_text("#batch-message")
    assert f"{MAX_BATCH_ROWS + 1} cases" in message
    assert f"limit of {MAX_BATCH_ROWS}" in message
    assert page.is_hidden("#batch-table")
    assert not [url for url in browser.requests if url.endswith("/predict/batch")]


def test_csv_with_a_negative_value_names_the_row_and_the_field(
    browser: Browser, tmp_path: Path
) -> None:
    header, *rows = BUNDLED_DATA.read_text().splitlines()[:4]
    area = header.split(",").index("area_mean")
    cells = rows[1].split(",")
    cells[area] = "-5"
    rows[1] = ",".join(cells)
    csv = tmp_path / "negative.csv"
    csv.write_text("\n".join([header, *rows]) + "\n")
    page = _open(browser)
    page.set_input_files("#csv-file", str(csv))
    page.click("#predict-batch")
    page.wait_for_selector("#batch-message:not([hidden])")
    message = page.inner_text("#batch-message")
    assert message.startswith("Row 2:")
    assert "area_mean" in message
    assert "negative" in message
    assert page.is_hidden("#batch-table")


def test_negative_area_shows_the_message_naming_the_field(browser: Browser) -> None:
    page = _open(browser)
    page.click("#fill-benign")
    page.fill('input[name="area_mean"]', "-5")
    page.click("#predict")
    page.wait_for_selector("#form-message:not([hidden])")
    message = page.inner_text("#form-message")
    assert "area_mean" in message
    assert page.get_attribute('input[name="area_mean"]', "aria-invalid") == "true"
    assert page.is_hidden("#result")
    assert "Traceback" not in message
    _assert_stayed_home(browser)


def test_case_outside_the_envelope_is_referred_prominently_with_its_warnings(
    browser: Browser,
) -> None:
    page = _open(browser)
    page.click("#fill-benign")
    page.fill('input[name="area_mean"]', "9000")  # within the hard bound, far beyond the data
    page.click("#predict")
    page.wait_for_selector("#result:not([hidden])")
    assert page.get_attribute("#decision", "data-decision") == "refer"
    assert page.inner_text("#decision") == "Refer to a clinician"
    assert page.is_visible("#refer-note")
    assert "A clinician must decide" in page.inner_text("#refer-note")
    assert page.is_visible("#warnings-box")
    warned = page.eval_on_selector_all("#warnings li", "lis => lis.map(li => li.dataset.feature)")
    assert "area_mean" in warned
    assert "outside the range the model was trained on" in page.inner_text("#warnings")
    _assert_stayed_home(browser)


def test_a_service_that_went_away_gives_a_message_not_a_stack_trace(
    browser: Browser, start_server: Any, tmp_path: Path
) -> None:
    server = start_server(tmp_path / "models")  # no model needed to load the page
    page = browser.new_page(origin(server))
    page.goto("/ui")
    page.wait_for_selector("body[data-ready=true]")
    server.stop()
    page.click("#fill-benign")
    page.click("#predict")
    page.wait_for_selector("#form-message:not([hidden])")
    message = page.inner_text("#form-message")
    assert "could not be reached" in message
    assert "Check the network" in message
    assert page.is_hidden("#result")


def test_docs_render_swagger_ui_with_no_request_elsewhere(browser: Browser) -> None:
    page = browser.new_page()
    page.goto("/docs")
    page.wait_for_selector(".swagger-ui .opblock-summary-path")
    paths = page.eval_on_selector_all(
        ".swagger-ui .opblock-summary-path", "nodes => nodes.map(n => n.textContent)"
    )
    assert {"/predict", "/predict/batch"} <= {p.replace("\u200b", "") for p in paths}
    page.wait_for_load_state("networkidle")
    assert f"{browser.origin}/openapi.json" in browser.requests
    assert browser.foreign_requests() == []


def test_explanation_shows_a_bar_per_largest_contribution_as_the_api_explains_it(
    browser: Browser, ui_server: tuple[ServerProcess, str]
) -> None:
    """Needs the explanations of issue #13 (``?explain=true``) in the service."""
    server, _ = ui_server
    page = _open(browser)
    page.click("#fill-malignant")
    case = _features(page)
    page.click("#predict")
    page.wait_for_selector("#result:not([hidden])")

    api = server.client.post("/predict?explain=true", json={"features": case}, headers=AUTH)
    assert api.status_code == 200, api.text
    explanation = api.json().get("explanation")
    assert explanation is not None, "the service answers ?explain=true without an explanation"
    top = explanation["contributions"][:10]
    bars = page.eval_on_selector_all(
        "#chart .bar-row",
        "rows => rows.map(r => ({feature: r.dataset.feature, "
        "width: r.querySelector('.bar').getBoundingClientRect().width, "
        "malignant: r.querySelector('.bar').classList.contains('bar-malignant')}))",
    )
    assert [bar["feature"] for bar in bars] == [c["feature"] for c in top]
    assert [bar["malignant"] for bar in bars] == [c["contribution"] >= 0 for c in top]
    assert all(bar["width"] > 0 for bar in bars)
    # the longest bar is the largest contribution
    assert max(bars, key=lambda bar: bar["width"])["feature"] == top[0]["feature"]
    assert explanation["method"] in page.inner_text("#explanation-note")
    _assert_stayed_home(browser)


def test_a_model_that_cannot_be_explained_still_shows_its_decision_and_why(
    browser: Browser, start_server: Any, tmp_path: Path, wdbc: Any
) -> None:
    """Needs the explanations of issue #13: a non-linear model published without an
    explainer answers ``?explain=true`` with 501; the page asks again without it."""
    import mlflow.sklearn

    pipeline = build_pipeline("knn", 0).fit(wdbc.X, wdbc.y)
    model_dir = tmp_path / "knn"
    mlflow.sklearn.save_model(
        pipeline,
        str(model_dir),
        serialization_format=mlflow.sklearn.SERIALIZATION_FORMAT_SKOPS,
        pip_requirements=["scikit-learn", "skops", "numpy"],
    )
    promote(tmp_path / "models", TrainedModel(model_dir, pipeline, 0.0), metadata={"model": "knn"})
    server = start_server(tmp_path / "models")
    server.wait_for(lambda: server.client.get("/ready").status_code == 200)

    page = browser.new_page(origin(server))
    page.goto("/ui")
    page.wait_for_selector("body[data-ready=true]")
    page.click("#fill-malignant")
    case = _features(page)
    page.click("#predict")
    page.wait_for_selector("#result:not([hidden])")

    refused = server.client.post("/predict?explain=true", json={"features": case})
    assert refused.status_code == 501, refused.text
    answer = server.client.post("/predict", json={"features": case}).json()
    assert page.get_attribute("#decision", "data-decision") == answer["decision"]
    assert float(page.get_attribute("#probability", "data-value")) == answer["probability"]
    assert page.eval_on_selector_all("#chart .bar-row", "rows => rows.length") == 0
    note = page.inner_text("#explanation-note")
    assert note.startswith("No explanation for this model:")
    assert refused.json()["error"]["message"] in note
    assert page.is_hidden("#form-message")
    _assert_stayed_home(browser)
