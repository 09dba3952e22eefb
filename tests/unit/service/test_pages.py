"""The pages in-process (service/pages.py): what ``/ui/config.json`` says follows the running
settings, every asset the page and ``/docs`` name is package data that answers, and the pages
never touch the prediction fast path. Over real HTTP and in a browser:
tests/integration/service/test_pages.py and test_ui_browser.py."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from breast_cancer_ml.domain.schema import FEATURES
from breast_cancer_ml.service.app import create_app
from breast_cancer_ml.settings import ServeSettings

#: What a page loads (scripts, stylesheets, icons, images), not the links a person may follow.
_ASSET = re.compile(r"""<(?:script|link|img)\b[^>]*?\b(?:src|href)=["']([^"']+)["']""")


def _client(tmp_path: Path, **settings: object) -> TestClient:
    app = create_app(ServeSettings(models_dir=tmp_path / "models", **settings))  # type: ignore[arg-type]
    return TestClient(app, raise_server_exceptions=False)


@pytest.mark.parametrize(
    ("settings", "required"),
    [({}, False), ({"api_key": SecretStr("k" * 20), "max_batch_rows": 7}, True)],
)
def test_ui_config_follows_the_running_settings(
    tmp_path: Path, settings: dict[str, object], required: bool
) -> None:
    with _client(tmp_path, **settings) as client:
        config = client.get("/ui/config.json").json()
    assert config["api_key_required"] is required
    assert config["max_batch_rows"] == settings.get("max_batch_rows", 10_000)
    assert config["features"] == list(FEATURES)
    assert "k" * 20 not in str(config)


@pytest.mark.parametrize(
    ("page", "expected"),
    [
        ("/ui", {"/ui/ui.js", "/ui/ui.css"}),
        ("/docs", {"/static/docs/swagger-ui-bundle.js", "/static/docs/swagger-ui.css"}),
    ],
)
def test_every_asset_a_page_names_is_ours_and_answers(
    tmp_path: Path, page: str, expected: set[str]
) -> None:
    with _client(tmp_path) as client:
        html = client.get(page).text
        assets = [url for url in _ASSET.findall(html) if not url.startswith("data:")]
        assert expected <= set(assets)
        for url in assets:
            assert url.startswith("/") and not url.startswith("//"), url
            response = client.get(url)
            assert response.status_code == 200, url
            assert response.content, url


def test_the_pages_stay_off_the_prediction_fast_path(tmp_path: Path) -> None:
    app = create_app(ServeSettings(models_dir=tmp_path / "models"))
    assert set(app.fast_routes) == {"/predict", "/predict/batch", "/invocations"}
    with TestClient(app) as client:
        assert client.get("/ui").status_code == 200
        assert client.get("/redoc", follow_redirects=False).headers["location"] == "/docs"
    assert set(app.fast_routes) == {"/predict", "/predict/batch", "/invocations"}
