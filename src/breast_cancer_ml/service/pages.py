"""The pages people open in a browser: ``GET /ui`` and the API docs (``/docs``), every byte
from the service's own origin.

``/ui`` is three static files inside the package (``static/ui/``: plain HTML, CSS and
JavaScript, no framework, no build step) and ``/ui/config.json``, what the page needs to know
about this service: the 30 features in their three groups with their hard bounds, the example
cases, ``max_batch_rows`` and whether an API key is needed. The page is public (it holds no
data); each prediction it asks for sends the key like any other client. A strict
Content-Security-Policy (``default-src 'self'``, no inline script or style) goes with the page.

FastAPI's own ``/docs`` and ``/redoc`` load Swagger UI and ReDoc from a CDN, which a hospital
network without internet access cannot reach. ``/docs`` is served here with FastAPI's public
``get_swagger_ui_html`` pointing at the Swagger UI 5 bundle the ``fastapi-offline`` package
ships (about 2.8 MB installed, ReDoc's bundle included), mounted under :data:`DOCS_ASSETS`.
``/redoc`` redirects to ``/docs``: ReDoc's bundle loads its own logo from its vendor's CDN, an
option cannot stop it, and a second docs page adds nothing.

Everything here is on the app's slow path (:mod:`.api`): the fast path never sees it.
"""

from __future__ import annotations

from importlib import resources
from typing import Any, Final

import orjson
from fastapi import APIRouter, FastAPI, Request
from fastapi.openapi.docs import get_swagger_ui_html, get_swagger_ui_oauth2_redirect_html
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles

from breast_cancer_ml.domain.contract import HARD_BOUNDS
from breast_cancer_ml.domain.schema import FEATURES, ID_COLUMN, LABEL_COLUMN
from breast_cancer_ml.service.endpoints import API_VERSION, ServiceState
from breast_cancer_ml.service.schemas import EXAMPLE_ROW, EXAMPLE_ROW_BENIGN

#: Where the Swagger UI and ReDoc assets of ``fastapi-offline`` are served.
DOCS_ASSETS: Final = "/static/docs"
#: The package that ships them, and its folder holding them.
DOCS_PACKAGE: Final = ("fastapi_offline", "static")

#: The page and its assets: URL path -> (file in ``static/ui``, media type).
UI_FILES: Final = {
    "/ui": ("index.html", "text/html; charset=utf-8"),
    "/ui/ui.js": ("ui.js", "text/javascript; charset=utf-8"),
    "/ui/ui.css": ("ui.css", "text/css; charset=utf-8"),
}

#: The page's policy: everything from this origin, nothing inline, no frames, no plugins.
#: ``data:`` images only for the empty favicon (no request at all).
UI_CSP: Final = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; form-action 'self'; base-uri 'none'; object-src 'none'; "
    "frame-ancestors 'none'"
)
#: The docs page: FastAPI's Swagger UI HTML starts it with an inline script, and it sets
#: styles inline; everything it loads or calls still has to come from this origin.
DOCS_CSP: Final = (
    "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; font-src 'self' data:; connect-src 'self'; base-uri 'none'; "
    "object-src 'none'; frame-ancestors 'none'"
)
_COMMON_HEADERS: Final = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",  # revalidate: a new release's page is seen at once
}

#: What each measure is (the WDBC data's description); the data records no physical units:
#: sizes are in the digitised image's units.
MEASURES: Final = {
    "radius": "mean distance from the centre to points on the perimeter",
    "texture": "standard deviation of grey-scale values",
    "perimeter": "perimeter of the nucleus",
    "area": "area of the nucleus",
    "smoothness": "local variation in radius lengths",
    "compactness": "perimeter² / area − 1",
    "concavity": "severity of concave portions of the contour",
    "concave points": "number of concave portions of the contour",
    "symmetry": "symmetry of the nucleus",
    "fractal_dimension": "“coastline approximation” − 1",
}
GROUPS: Final = {
    "mean": "Mean over the nuclei in the image",
    "se": "Standard error over the nuclei",
    "worst": "Worst: mean of the three largest values",
}


def _measure(feature: str) -> str:
    return feature.rsplit("_", 1)[0]


def ui_config(state: ServiceState) -> dict[str, Any]:
    """What the page needs to know about this service (``GET /ui/config.json``)."""
    groups = [
        {
            "name": group,
            "title": title,
            "features": [
                {
                    "name": f,
                    "label": _measure(f).replace("_", " ").capitalize(),
                    "hint": MEASURES[_measure(f)],
                    "max": HARD_BOUNDS[f],
                }
                for f in FEATURES
                if f.rsplit("_", 1)[1] == group
            ],
        }
        for group, title in GROUPS.items()
    ]
    return {
        "api_version": API_VERSION,
        "features": list(FEATURES),
        "groups": groups,
        "ignored_columns": [ID_COLUMN, LABEL_COLUMN],
        "max_batch_rows": state.settings.max_batch_rows,
        "api_key_required": state.settings.api_key is not None,
        # real cases of the bundled WDBC data: ids 842302 (malignant) and 8510426 (benign)
        "examples": {
            "malignant": dict(zip(FEATURES, EXAMPLE_ROW, strict=True)),
            "benign": dict(zip(FEATURES, EXAMPLE_ROW_BENIGN, strict=True)),
        },
    }


def _ui_file(name: str) -> bytes:
    return resources.files("breast_cancer_ml.service").joinpath("static", "ui", name).read_bytes()


def pages_router(state: ServiceState) -> APIRouter:
    """``/ui``, its assets and ``/ui/config.json``. The files are read once, here."""
    router = APIRouter(include_in_schema=False)
    page_headers = {**_COMMON_HEADERS, "Content-Security-Policy": UI_CSP}
    config = orjson.dumps(ui_config(state))

    for path, (name, media_type) in UI_FILES.items():
        body = _ui_file(name)

        async def serve(body: bytes = body, media_type: str = media_type) -> Response:
            return Response(body, media_type=media_type, headers=page_headers)

        router.add_api_route(path, serve, methods=["GET"])

    @router.get("/ui/config.json")
    async def ui_config_json() -> Response:
        return Response(config, media_type="application/json", headers=_COMMON_HEADERS)

    return router


def add_docs(app: FastAPI) -> None:
    """``/docs`` (Swagger UI) with its assets from this origin, and ``/redoc`` sent there.
    ``app`` must be built with ``docs_url=None, redoc_url=None`` (FastAPI's own use a CDN)."""
    app.mount(DOCS_ASSETS, StaticFiles(packages=[DOCS_PACKAGE]), name="docs-assets")
    headers = {**_COMMON_HEADERS, "Content-Security-Policy": DOCS_CSP}
    oauth2_redirect = "/docs/oauth2-redirect"
    favicon = f"{DOCS_ASSETS}/favicon.png"

    def _html(page: HTMLResponse) -> HTMLResponse:
        page.headers.update(headers)
        return page

    @app.get("/docs", include_in_schema=False)
    async def swagger_ui(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        return _html(
            get_swagger_ui_html(
                openapi_url=f"{root}{app.openapi_url}",
                title=f"{app.title} - Swagger UI",
                swagger_js_url=f"{root}{DOCS_ASSETS}/swagger-ui-bundle.js",
                swagger_css_url=f"{root}{DOCS_ASSETS}/swagger-ui.css",
                swagger_favicon_url=f"{root}{favicon}",
                oauth2_redirect_url=f"{root}{oauth2_redirect}",
                # Swagger UI's default validator is validator.swagger.io (a badge FastAPI's
                # layout does not show today): none, whatever a later layout shows
                swagger_ui_parameters={"validatorUrl": None},
            )
        )

    @app.get(oauth2_redirect, include_in_schema=False)
    async def swagger_ui_redirect() -> HTMLResponse:
        return _html(get_swagger_ui_oauth2_redirect_html())

    @app.get("/redoc", include_in_schema=False)
    async def redoc(request: Request) -> RedirectResponse:
        # ReDoc's bundle fetches its logo from its vendor's CDN whatever it is given: the one
        # docs page is Swagger UI, and old links to /redoc land there
        return RedirectResponse(f"{request.scope.get('root_path', '')}/docs", status_code=308)
