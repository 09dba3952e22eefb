"""The real ``bcml serve`` process answers predictions without importing ``scipy.stats``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from breast_cancer_ml.service.schemas import EXAMPLE_ROW


def test_real_server_answers_without_loading_scipy_stats(served: Any) -> None:
    server, _, _ = served
    for path in ("/predict", "/predict/batch"):
        body = {"features": EXAMPLE_ROW} if path == "/predict" else {"instances": [EXAMPLE_ROW]}
        assert server.client.post(path, json=body).status_code == 200
    assert server.client.get("/model/info").status_code == 200  # the full app is built too
    maps = Path(f"/proc/{server.proc.pid}/maps").read_text()
    assert "/scipy/special/" in maps  # the check can see scipy's compiled modules
    assert "/scipy/stats/" not in maps  # lean_imports deferred it, and nothing needed it
