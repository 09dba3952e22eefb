"""The pages over real HTTP from a real server: ``/ui`` (static, public, under a strict
Content-Security-Policy), ``/ui/config.json``, ``/docs``, whose every asset
comes from the service's own origin and answers 200 (no CDN: hospital networks are often
offline), and ``/redoc``, which now sends people to ``/docs``."""

from __future__ import annotations

from html.parser import HTMLParser
from typing import Any

import pytest

from breast_cancer_ml.domain.contract import HARD_BOUNDS
from breast_cancer_ml.domain.schema import FEATURES
from breast_cancer_ml.service.schemas import EXAMPLE_ROW

from .browser import API_KEY, MAX_BATCH_ROWS, ui_server
from .conftest import ServerProcess

pytestmark = pytest.mark.integration
__all__ = ["ui_server"]  # the module-scoped server fixture, imported for this module


class _Links(HTMLParser):
    """Every URL an HTML page makes the browser load or link to, and its inline scripts."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []
        self.inline_scripts = 0
        self.event_handlers: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        for name in ("src", "href"):
            if values.get(name):
                self.urls.append(str(values[name]))
        self.event_handlers += [name for name, _ in attrs if name.startswith("on")]
        self._in_script = tag == "script" and not values.get("src")

    def handle_data(self, data: str) -> None:
        if self._in_script and data.strip():
            self.inline_scripts += 1

    def handle_endtag(self, tag: str) -> None:
        self._in_script = False


def _links(html: str) -> _Links:
    parser = _Links()
    parser.feed(html)
    return parser


def _same_origin(url: str) -> bool:
    """A path on this origin: "/x" (not "//host/x", not "https://..."), or a data: URL."""
    return (url.startswith("/") and not url.startswith("//")) or url.startswith("data:")


def _assets_answer_200(server: ServerProcess, urls: list[str]) -> None:
    for url in urls:
        if url.startswith("data:"):
            continue
        response = server.client.get(url)
        assert response.status_code == 200, (url, response.status_code)
        assert response.content, url


def test_ui_loads_without_the_api_key_that_predictions_need(
    ui_server: tuple[ServerProcess, str],
) -> None:
    server, _ = ui_server
    page = server.client.get("/ui")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert "<form" in page.text
    # the same service refuses a prediction without the key
    refused = server.client.post("/predict", json={"features": EXAMPLE_ROW})
    assert refused.status_code == 401


def test_ui_has_a_strict_csp_no_inline_script_and_only_same_origin_assets(
    ui_server: tuple[ServerProcess, str],
) -> None:
    server, _ = ui_server
    page = server.client.get("/ui")
    csp = page.headers["content-security-policy"]
    assert "default-src 'self'" in csp
    assert "script-src 'self';" in csp  # no 'unsafe-inline', no 'unsafe-eval'
    assert "unsafe" not in csp
    assert page.headers["x-content-type-options"] == "nosniff"
    links = _links(page.text)
    assert links.inline_scripts == 0
    assert links.event_handlers == []
    assert {"/ui/ui.js", "/ui/ui.css"} <= set(links.urls)
    foreign = [url for url in links.urls if not _same_origin(url)]
    assert foreign == []
    _assets_answer_200(server, links.urls)
    assert server.client.get("/ui/ui.js").headers["content-type"].startswith("text/javascript")


def test_ui_config_has_the_features_in_three_groups_bounds_examples_and_limits(
    ui_server: tuple[ServerProcess, str],
) -> None:
    server, _ = ui_server
    config = server.client.get("/ui/config.json").json()
    assert config["features"] == list(FEATURES)
    assert [g["name"] for g in config["groups"]] == ["mean", "se", "worst"]
    grouped = [f["name"] for g in config["groups"] for f in g["features"]]
    assert grouped == list(FEATURES)
    assert all(f["max"] == HARD_BOUNDS[f["name"]] for g in config["groups"] for f in g["features"])
    assert config["max_batch_rows"] == MAX_BATCH_ROWS
    assert config["api_key_required"] is True
    assert API_KEY not in server.client.get("/ui/config.json").text
    # the examples are real cases the service answers: one malignant, one benign
    headers = {"Authorization": f"Bearer {API_KEY}"}
    for name, label in (("malignant", 1), ("benign", 0)):
        answer = server.client.post(
            "/predict", json={"features": config["examples"][name]}, headers=headers
        )
        assert answer.status_code == 200
        assert answer.json()["prediction"] == label


def test_docs_load_every_asset_from_our_origin(ui_server: tuple[ServerProcess, str]) -> None:
    server, _ = ui_server
    page = server.client.get("/docs")
    assert page.status_code == 200
    links = _links(page.text)
    assert links.urls, "the docs page loads its assets"
    foreign = [url for url in links.urls if not _same_origin(url)]
    assert foreign == []
    assert "cdn" not in page.text.lower()
    _assets_answer_200(server, links.urls)
    assert "default-src 'self'" in page.headers["content-security-policy"]
    assert '"validatorUrl": null' in page.text  # not validator.swagger.io, Swagger UI's default


def test_redoc_redirects_to_the_docs(ui_server: tuple[ServerProcess, str]) -> None:
    """ReDoc's bundle loads its logo from a CDN whatever it is told: /redoc is /docs now."""
    server, _ = ui_server
    response = server.client.get("/redoc")
    assert response.status_code == 308
    assert response.headers["location"] == "/docs"


def test_docs_are_not_in_the_openapi_schema_but_the_ui_is_linked_from_the_index(
    ui_server: tuple[ServerProcess, str],
) -> None:
    server, _ = ui_server
    paths: dict[str, Any] = server.client.get("/openapi.json").json()["paths"]
    assert not [p for p in paths if p.startswith(("/ui", "/docs", "/redoc", "/static"))]
    assert server.client.get("/").json()["links"]["ui"] == "/ui"
