"""The real ``bcml serve`` process answers without importing the modules it defers."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from breast_cancer_ml.service.schemas import EXAMPLE_ROW


def test_real_server_answers_without_loading_deferred_scipy_modules(served: Any) -> None:
    server, _, _ = served
    for path in ("/predict", "/predict/batch"):
        body = {"features": EXAMPLE_ROW} if path == "/predict" else {"instances": [EXAMPLE_ROW]}
        assert server.client.post(path, json=body).status_code == 200
    assert server.client.get("/model/info").status_code == 200  # the full app is built too
    maps = Path(f"/proc/{server.proc.pid}/maps").read_text()
    assert "/scipy/special/" in maps  # the check can see scipy's compiled modules
    for deferred in ("/scipy/stats/", "/scipy/interpolate/", "/scipy/integrate/"):
        assert deferred not in maps, deferred  # lean_imports deferred it, and nothing needed it
