"""Start-up of `bcml serve`'s app: the collector is paused until the model is loaded."""

from __future__ import annotations

import gc
import subprocess
import sys
import textwrap
from pathlib import Path

from fastapi.testclient import TestClient

from breast_cancer_ml.service import startup
from breast_cancer_ml.service.app import create_app
from breast_cancer_ml.service.schemas import EXAMPLE_ROW
from breast_cancer_ml.settings import ServeSettings


def test_gc_is_paused_during_start_up_and_resumed_once_the_app_has_started(
    tmp_path: Path,
) -> None:
    assert gc.isenabled()
    try:
        startup.pause_gc_for_startup()  # what serve() and app_factory() do
        assert not gc.isenabled()
        app = create_app(ServeSettings(models_dir=tmp_path / "models"))
        assert not gc.isenabled()  # building the app does not end start-up
        with TestClient(app) as client:
            assert gc.isenabled()  # the lifespan (model check) is over
            assert client.post("/predict", json={"features": EXAMPLE_ROW}).status_code == 503
    finally:
        gc.enable()
        startup.resume_gc()


def test_resume_gc_leaves_a_collector_it_did_not_pause_alone() -> None:
    assert gc.isenabled()
    gc.disable()  # someone else's choice (e.g. an embedding server)
    try:
        startup.pause_gc_for_startup()
        startup.resume_gc()
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_fastapi_is_imported_only_when_a_request_needs_the_routes() -> None:
    """Cold start is launch to the first answered prediction: the fast path answers it
    without FastAPI, which is imported when a request first needs the routes."""
    script = textwrap.dedent(
        """
        import sys
        from breast_cancer_ml.service.app import create_app
        from breast_cancer_ml.settings import ServeSettings
        app = create_app(ServeSettings(models_dir="no-such-dir"))
        before = "fastapi" in sys.modules
        assert app.openapi()["paths"]["/predict"]
        print(before, "fastapi" in sys.modules)
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    ).stdout.split()
    assert out == ["False", "True"]


def test_permitting_the_explainer_imports_lifts_the_guard_for_pandas_and_matplotlib_only() -> None:
    """What the first Kernel SHAP explanation in a server process does: shap's own imports
    become importable, the rest of the training stack stays forbidden."""
    script = textwrap.dedent(
        """
        import importlib
        from breast_cancer_ml.service.startup import isolate_process, permit_explainer_imports

        def importable(name):
            try:
                importlib.import_module(name)
                return True
            except ModuleNotFoundError:
                return False

        isolate_process()
        before = importable("pandas")
        permit_explainer_imports()
        print(before, importable("pandas"), importable("matplotlib"), importable("mlflow"))
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=120
    )
    assert done.stdout.split() == ["False", "True", "True", "False"]
