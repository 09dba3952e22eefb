"""Model lifecycle over real HTTP: no model, promotion, refusal of bad models, swap under load."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

from breast_cancer_ml.service.schemas import EXAMPLE_ROW

from .conftest import expected_proba, promote

pytestmark = pytest.mark.integration


def test_no_model_then_promotion_makes_it_ready_without_restart(
    tmp_path: Path, start_server: Any, trained: Any
) -> None:
    models = tmp_path / "models"
    server = start_server(models)
    c = server.client

    health = c.get("/health")
    assert health.status_code == 200
    assert health.json()["model"]["status"] == "no_model"
    ready = c.get("/ready")
    assert ready.status_code == 503
    assert ready.json()["ready"] is False
    assert "no model promoted" in ready.json()["detail"]
    r = c.post("/predict", json={"features": EXAMPLE_ROW})
    assert r.status_code == 503
    assert r.json()["request_id"] == r.headers["x-request-id"]
    assert c.get("/model/info").status_code == 503

    run_id = promote(models, trained["a"])
    server.wait_for(lambda: c.get("/ready").status_code == 200)
    assert c.get("/ready").json()["model_version"] == run_id
    r = c.post("/predict", json={"features": EXAMPLE_ROW})
    assert r.status_code == 200
    assert r.json()["model_version"] == run_id
    assert server.proc.poll() is None  # the same process, never restarted


def test_tampered_model_is_refused_at_start_and_health_keeps_answering(
    tmp_path: Path, start_server: Any, trained: Any
) -> None:
    models = tmp_path / "models"
    promote(models, trained["a"], tamper=True)
    server = start_server(models)
    c = server.client

    ready = c.get("/ready")
    assert ready.status_code == 503
    assert ready.json()["status"] == "refused"
    assert ready.json()["detail"] == (
        "hash_mismatch: the model's files do not match the hashes recorded at promotion"
    )  # the SHA256 check, named by its code
    health = c.get("/health")
    assert health.status_code == 200
    assert health.json()["model"]["status"] == "refused"
    assert c.post("/predict", json={"features": EXAMPLE_ROW}).status_code == 503
    refusals = [r for r in server.log_records() if r.get("event") == "model_refused"]
    assert len(refusals) == 1, "one clear log line, not one per poll"
    assert refusals[0]["level"] == "error"

    # a good promotion afterwards is picked up
    run_id = promote(models, trained["b"])
    server.wait_for(lambda: c.get("/ready").status_code == 200)
    assert c.post("/predict", json={"features": EXAMPLE_ROW}).json()["model_version"] == run_id
    assert server.proc.poll() is None


def test_bad_new_model_leaves_the_old_one_serving(
    tmp_path: Path, start_server: Any, trained: Any
) -> None:
    models = tmp_path / "models"
    good = promote(models, trained["a"])
    server = start_server(models)
    c = server.client
    server.wait_for(lambda: c.get("/ready").status_code == 200)

    promote(models, trained["b"], tamper=True)
    server.wait_for(lambda: c.get("/health").json()["model"]["error"])
    assert c.get("/ready").status_code == 200
    assert c.get("/ready").json()["model_version"] == good
    assert c.post("/predict", json={"features": EXAMPLE_ROW}).json()["model_version"] == good
    metrics = c.get("/metrics").text
    assert 'bcml_model_reloads_total{result="refused"} 1' in metrics
    assert f'bcml_model_info{{run_id="{good}"' in metrics


def test_swap_under_load_fails_no_request_and_never_mixes_models(
    tmp_path: Path, start_server: Any, trained: Any, wdbc: Any
) -> None:
    models = tmp_path / "models"
    run_a = promote(models, trained["a"])
    server = start_server(models)
    server.wait_for(lambda: server.client.get("/ready").status_code == 200)
    X = wdbc.X[:20]
    expected = {run_a: expected_proba(trained["a"].pipeline, X)}
    answers: list[tuple[int, Any]] = []
    stop = threading.Event()

    def fire() -> None:
        with httpx.Client(base_url=server.url, timeout=10) as client:
            while not stop.is_set():
                r = client.post("/predict/batch", json={"instances": X.tolist()})
                answers.append((r.status_code, r.json()))

    threads = [threading.Thread(target=fire) for _ in range(3)]
    for t in threads:
        t.start()
    try:
        server.wait_for(lambda: len(answers) > 20)
        run_b = promote(models, trained["b"])
        expected[run_b] = expected_proba(trained["b"].pipeline, X)
        server.wait_for(lambda: any(a[1].get("model_version") == run_b for a in answers[-5:]))
        n = len(answers)
        server.wait_for(lambda: len(answers) > n + 20)
    finally:
        stop.set()
        for t in threads:
            t.join()

    assert [s for s, _ in answers if s != 200] == []
    seen = set()
    for _, doc in answers:
        run = doc["model_version"]
        seen.add(run)
        rows = doc["predictions"]
        assert {row["model_version"] for row in rows} == {run}  # one model per answer
        np.testing.assert_allclose([row["probability"] for row in rows], expected[run], rtol=1e-9)
    assert seen == {run_a, run_b}
    assert not np.allclose(expected[run_a], expected[run_b]), "the two models must differ"


def test_workers_share_the_flags_and_each_loads_the_model(
    tmp_path: Path, start_server: Any, trained: Any
) -> None:
    models = tmp_path / "models"
    run_id = promote(models, trained["a"])
    server = start_server(models, args=("--workers", "2", "--max-batch-rows", "5"))
    server.wait_for(lambda: server.client.get("/ready").status_code == 200)
    prefixes = set()
    for _ in range(40):  # new connections, so the kernel hands them to either worker
        with httpx.Client(base_url=server.url, timeout=10) as client:
            r = client.post("/predict/batch", json={"instances": [EXAMPLE_ROW] * 5})
            assert r.status_code == 200
            assert r.json()["model_version"] == run_id
            prefixes.add(r.headers["x-request-id"].split("-")[0])
            too_many = client.post("/predict/batch", json={"instances": [EXAMPLE_ROW] * 6})
            assert too_many.status_code == 413  # the flag reached the worker processes
    loaded = [r for r in server.log_records() if r.get("event") == "model_loaded"]
    assert len(loaded) == 2  # one per worker
    assert prefixes  # (which worker answers is up to the kernel)
