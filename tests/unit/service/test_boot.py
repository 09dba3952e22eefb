"""Start-up order of `bcml serve`'s app: predictions first, the rest later, GC paused meanwhile."""

from __future__ import annotations

import gc
import time
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from breast_cancer_ml.service import boot as boot_module
from breast_cancer_ml.service import server
from breast_cancer_ml.service.boot import QuickStartApp
from breast_cancer_ml.service.schemas import EXAMPLE_ROW
from breast_cancer_ml.settings import ServeSettings


def _wait_built(app: QuickStartApp, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while app._build is None or not app._build.done():
        assert time.monotonic() < deadline, "full app not built"
        time.sleep(0.01)


def test_full_app_is_built_after_the_first_prediction(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(boot_module, "BUILD_DELAY_S", 60.0)  # only the prediction may start it
    app = QuickStartApp(ServeSettings(models_dir=tmp_path / "models"))
    with TestClient(app) as client:
        assert app._build is None  # start-up done, nothing built yet
        assert client.post("/predict", json={"features": EXAMPLE_ROW}).status_code == 503
        assert app._build is not None
        assert client.get("/ready").status_code == 503  # the full app, same (empty) holder
    assert app.full is not None


def test_full_app_is_built_after_a_delay_without_predictions(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(boot_module, "BUILD_DELAY_S", 0.05)
    app = QuickStartApp(ServeSettings(models_dir=tmp_path / "models"))
    with TestClient(app):
        _wait_built(app)  # no request at all
        assert app._build is not None and app._build.exception() is None


def test_gc_is_paused_during_start_up_and_resumed_once_the_full_app_is_built(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(boot_module, "BUILD_DELAY_S", 60.0)
    assert gc.isenabled()
    try:
        server.pause_gc_for_startup()  # what serve() and app_factory() do
        assert not gc.isenabled()
        app = QuickStartApp(ServeSettings(models_dir=tmp_path / "models"))
        with TestClient(app) as client:
            assert not gc.isenabled()  # start-up (model load) done, full app not built yet
            assert client.get("/health").status_code == 200  # builds the full app on demand
            assert gc.isenabled()
    finally:
        gc.enable()
        server._gc_paused = False


def test_resume_gc_leaves_a_collector_it_did_not_pause_alone() -> None:
    assert gc.isenabled()
    gc.disable()  # someone else's choice (e.g. an embedding server)
    try:
        server.pause_gc_for_startup()
        server.resume_gc()
        assert not gc.isenabled()
    finally:
        gc.enable()
