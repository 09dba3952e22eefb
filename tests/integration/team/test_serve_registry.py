"""`bcml serve --model-uri models:/<name>@champion` against the real server: it becomes ready,
follows a moved alias with no failed request under load, rides out the server's outages, and
refuses a version it cannot verify."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from breast_cancer_ml.adapters.dataset import load_dataset
from breast_cancer_ml.settings import BUNDLED_DATA

from .conftest import TeamStack, free_port
from .test_team_training import bcml_train

pytestmark = [pytest.mark.integration, pytest.mark.team]

ROWS = load_dataset(BUNDLED_DATA).X[:10].tolist()


class Service:
    """``bcml serve --model-uri ...`` on a free 127.0.0.1 port, logs in a file."""

    def __init__(self, stack: TeamStack, model_uri: str, root: Path) -> None:
        self.url = f"http://127.0.0.1:{free_port()}"
        self.log_path = root / f"serve-{uuid.uuid4().hex[:6]}.log"
        port = self.url.rsplit(":", 1)[1]
        cmd = [
            str(Path(sys.executable).with_name("bcml")), "serve", "--port", port,
            "--model-uri", model_uri, "--models-dir", str(root / "serve-models"),
            "--reload-interval", "0.3", "--registry-retry-max", "2",
        ]  # fmt: skip
        with self.log_path.open("wb") as out:
            self.proc = subprocess.Popen(
                cmd,
                env=stack.client_env(PYTHONWARNINGS="ignore"),
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.client = httpx.Client(base_url=self.url, timeout=10)

    def wait_for(self, predicate: Callable[[], Any], timeout: float = 60) -> Any:
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"bcml serve exited {self.proc.returncode}:\n{self.logs()}")
            try:
                last = predicate()
            except httpx.TransportError:
                last = None
            if last:
                return last
            time.sleep(0.1)
        raise AssertionError(f"not met in {timeout} s (last: {last}):\n{self.logs()[-4000:]}")

    def health(self) -> dict[str, Any]:
        doc: dict[str, Any] = self.client.get("/health").json()
        return doc

    def ready_version(self) -> str | None:
        r = self.client.get("/ready")
        return r.json().get("registry_version") if r.status_code == 200 else None

    def predict_version(self) -> str:
        r = self.client.post("/predict/batch", json={"instances": ROWS})
        assert r.status_code == 200, r.text
        return str(r.json()["model_version"])

    def failures_metric(self) -> float:
        for line in self.client.get("/metrics").text.splitlines():
            if line.startswith("bcml_registry_failures_total "):
                return float(line.split()[1])
        raise AssertionError("no bcml_registry_failures_total in /metrics")

    def logs(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self) -> None:
        self.client.close()
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()


@pytest.fixture
def serve(team_stack: TeamStack, tmp_path: Path) -> Iterator[Callable[[str], Service]]:
    started: list[Service] = []

    def start(model_uri: str) -> Service:
        service = Service(team_stack, model_uri, tmp_path)
        started.append(service)
        return service

    yield start
    for service in started:
        service.stop()


def champion_run(stack: TeamStack, name: str) -> str:
    return str(stack.client().get_model_version_by_alias(name, "champion").run_id)


def test_serve_follows_a_second_winning_training_with_no_failed_request_under_load(
    team_env: TeamStack, tmp_path: Path, serve: Callable[[str], Service]
) -> None:
    name = f"team-serve-{uuid.uuid4().hex[:6]}"
    assert bcml_train(team_env, tmp_path, name, name).returncode == 0
    first = champion_run(team_env, name)
    service = serve(f"models:/{name}@champion")
    assert service.wait_for(service.ready_version) == "1"
    assert service.predict_version() == first

    answers: list[tuple[int, str | None]] = []
    stop = threading.Event()

    def fire() -> None:
        with httpx.Client(base_url=service.url, timeout=10) as client:
            while not stop.is_set():
                r = client.post("/predict/batch", json={"instances": ROWS})
                answers.append((r.status_code, r.json().get("model_version")))
                time.sleep(0.01)

    threads = [threading.Thread(target=fire) for _ in range(2)]
    for t in threads:
        t.start()
    try:
        done = bcml_train(team_env, tmp_path, name, name, "--force-promote", "--seed", "7")
        assert done.returncode == 0, done.stderr
        second = champion_run(team_env, name)
        assert second != first
        service.wait_for(lambda: any(v == second for _, v in answers[-5:]))
        n = len(answers)
        service.wait_for(lambda: len(answers) > n + 10)
    finally:
        stop.set()
        for t in threads:
            t.join()

    assert [status for status, _ in answers if status != 200] == []
    assert {v for _, v in answers} == {first, second}
    assert service.ready_version() == "2"
    loaded = [json.loads(x) for x in service.logs().splitlines() if '"model_loaded"' in x]
    assert [r.get("registry_version") for r in loaded] == ["1", "2"]


def test_serve_rides_out_outages_refuses_unverifiable_versions_and_follows_the_alias(
    team_env: TeamStack, tmp_path: Path, serve: Callable[[str], Service]
) -> None:
    name = f"team-fault-{uuid.uuid4().hex[:6]}"
    assert bcml_train(team_env, tmp_path, name, name).returncode == 0
    first = champion_run(team_env, name)

    # 1. the tracking server is down at start: not ready, retrying with backoff
    team_env.stop_mlflow()
    service = serve(f"models:/{name}@champion")
    service.wait_for(lambda: service.client.get("/ready").status_code == 503)
    not_ready = service.client.get("/ready").json()
    assert not_ready["reason"] == "registry_unreachable"
    assert service.health()["registry"]["reachable"] is False
    assert service.wait_for(lambda: service.failures_metric() >= 2)

    # 2. it comes up: the champion is loaded
    team_env.start_mlflow()
    assert service.wait_for(service.ready_version, timeout=30) == "1"
    assert service.health()["registry"] == {
        "model_uri": f"models:/{name}@champion",
        "reachable": True,
        "failures": service.health()["registry"]["failures"],
        "version": "1",
        "error": None,
    }

    # 3. it goes down later: the last verified model keeps answering, /health says so
    failures = service.failures_metric()
    team_env.stop_mlflow()
    service.wait_for(lambda: service.health()["registry"]["reachable"] is False)
    assert service.health()["registry"]["error"] == "registry_unreachable"
    assert service.predict_version() == first
    assert service.client.get("/ready").status_code == 200
    assert service.wait_for(lambda: service.failures_metric() > failures)

    # 4. back again, the alias moved to a version without promotion metadata: refused
    team_env.start_mlflow()
    client = team_env.client()
    promoted = client.get_model_version_by_alias(name, "champion")
    bare = client.create_model_version(
        name,
        promoted.source,
        run_id=promoted.run_id,
        model_id=promoted.source.removeprefix("models:/"),
    )
    client.set_registered_model_alias(name, "champion", str(bare.version))
    service.wait_for(lambda: service.health()["model"]["error"] == "bad_metadata", timeout=30)
    assert service.predict_version() == first
    assert service.ready_version() == "1"
    # the alias is put back on the served version: the refusal is over
    client.set_registered_model_alias(name, "champion", "1")
    service.wait_for(lambda: service.health()["model"]["error"] is None)

    # 5. a winning training moves the alias again: followed
    done = bcml_train(team_env, tmp_path, name, name, "--force-promote", "--seed", "7")
    assert done.returncode == 0, done.stderr
    third = champion_run(team_env, name)
    service.wait_for(lambda: service.predict_version() == third, timeout=30)
    assert service.health()["model"]["error"] is None
    assert "Traceback" not in service.logs()
