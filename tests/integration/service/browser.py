"""A real browser and a real server for the tests of the pages (``/ui``, ``/docs``).

The browser is Debian's ``chromium`` driven by Playwright (``executable_path``: Playwright never
downloads a browser here). When it is missing the tests install it as root (``apt-get install
-y chromium``, as ``.ci/run`` does for Java and PostgreSQL) and fail with the instruction when
they cannot: a skipped browser test checks nothing.

:func:`ui_server` runs ``python -m breast_cancer_ml serve`` on 127.0.0.1 with a trained model
promoted, an API key and a small ``max_batch_rows``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from .conftest import ServerProcess, TrainedModel, promote

API_KEY = "ui-test-key-0123456789abcdef"
MAX_BATCH_ROWS = 7
INSTALL = "apt-get update && apt-get install -y chromium"
HOST = "bcml.test"  # reserved for testing (RFC 2606): never a real host
#: The flags Debian's chromium needs in a container without a display or a user namespace,
#: and no traffic of its own (updates, sync, QUIC probes) to blur the page's requests.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    # the pages are opened as http://bcml.test:<port>, a name that is not localhost, as in a
    # hospital: Swagger UI, for one, behaves differently on localhost
    f"--host-resolver-rules=MAP {HOST} 127.0.0.1",
]


def _find_chromium() -> str | None:
    # Debian's name, and the one Ubuntu's images (GitHub's runners) also link
    return shutil.which("chromium") or shutil.which("chromium-browser")


def chromium() -> Path:
    """Debian's chromium, installed first when it is missing and we are root."""
    found = _find_chromium()
    if found is None and os.geteuid() == 0 and shutil.which("apt-get") is not None:
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        for cmd in (["apt-get", "update", "-qq"], ["apt-get", "install", "-y", "-qq", "chromium"]):
            done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=900)
            if done.returncode != 0:
                pytest.fail(
                    f"the browser tests need Debian's chromium and {' '.join(cmd)!r} failed "
                    f"({done.returncode}):\n{done.stderr[-2000:]}\nInstall it as root: {INSTALL}",
                    pytrace=False,
                )
        found = _find_chromium()
    if found is None:
        pytest.fail(
            "the browser tests need Debian's chromium (/usr/bin/chromium), which is not "
            f"installed. Install it as root: {INSTALL} (.ci/run does this).",
            pytrace=False,
        )
    return Path(found)


@dataclass
class Browser:
    """One chromium for a test module; each test gets a fresh context (a fresh
    sessionStorage) and page, whose every request is recorded."""

    browser: Any
    home: str  # the module's server
    origin: str = ""  # the current page's server
    requests: list[str] = field(default_factory=list)
    console_errors: list[str] = field(default_factory=list)
    context: Any = None

    def new_page(self, origin: str | None = None) -> Any:
        """A page in a fresh context on ``origin`` (default: the module's server), the
        previous context closed."""
        self.origin = origin or self.home
        if self.context is not None:
            self.context.close()
        self.requests.clear()
        self.console_errors.clear()
        context = self.context = self.browser.new_context(base_url=self.origin)
        context.set_default_timeout(10_000)
        context.on("request", lambda request: self.requests.append(request.url))

        # nothing may leave this origin; a request that tries fails fast and is recorded
        def only_our_origin(route: Any) -> None:
            if route.request.url.startswith(self.origin + "/"):
                route.continue_()
            else:
                route.abort()

        context.route("**/*", only_our_origin)
        page = context.new_page()
        page.on(
            "console",
            lambda msg: self.console_errors.append(msg.text) if msg.type == "error" else None,
        )
        return page

    def script_errors(self) -> list[str]:
        """Errors in the console (a CSP violation, an exception), less Chromium's own line for
        each answer with an error status, which the page handles."""
        return [
            text
            for text in self.console_errors
            if not text.startswith("Failed to load resource: the server responded with a status")
        ]

    def foreign_requests(self) -> list[str]:
        return [url for url in self.requests if not url.startswith(self.origin + "/")]


def origin(server: ServerProcess) -> str:
    """The server's origin as the browser names it (see :data:`HOST`)."""
    return f"http://{HOST}:{server.port}"


@pytest.fixture(scope="module")
def ui_server(
    tmp_path_factory: pytest.TempPathFactory, trained: dict[str, TrainedModel]
) -> Iterator[tuple[ServerProcess, str]]:
    """A server with model ``a`` promoted, an API key and ``max_batch_rows`` 7."""
    root = tmp_path_factory.mktemp("ui")
    run_id = promote(root / "models", trained["a"])
    server = ServerProcess(
        root / "models",
        root / "server.log",
        env={"BCML_API_KEY": API_KEY, "BCML_MAX_BATCH_ROWS": str(MAX_BATCH_ROWS)},
    )
    try:
        server.wait_healthy()
        server.wait_for(lambda: server.client.get("/ready").status_code == 200)
        yield server, run_id
    finally:
        server.stop()
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="module")
def browser(ui_server: tuple[ServerProcess, str]) -> Iterator[Browser]:
    from playwright.sync_api import sync_playwright

    executable = chromium()
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=str(executable), headless=True, args=CHROMIUM_ARGS
        )
        try:
            yield Browser(launched, origin(ui_server[0]))
        finally:
            launched.close()
