"""`bcml ui`: one worker by default, the address printed only once it answers, and the server
stops with the command."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

BCML = str(Path(sys.executable).with_name("bcml"))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return int(response.status) == 200
    except OSError:
        return False


def test_ui_prints_its_address_when_it_answers_and_stops_with_the_command(
    tmp_path: Path,
) -> None:
    port = _free_port()
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    proc = subprocess.Popen(
        [BCML, "ui", "--tracking-uri", uri, "--port", str(port)],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env={**os.environ, "MLFLOW_DISABLE_TELEMETRY": "true"},
    )
    address = f"http://127.0.0.1:{port}"
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline()
        assert first.startswith("starting: ") and "--workers 1" in first
        lines = []  # MLflow's own lines may come first; ours comes once the server answers
        while not (line := proc.stdout.readline()).startswith("MLflow UI:") and line:
            lines.append(line)
        assert line.startswith(f"MLflow UI:     {address}"), lines
        assert _answers(address + "/health")  # printed only once it answers
    finally:
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=60)
    assert code == 130
    deadline = time.monotonic() + 15
    while _answers(address + "/health") and time.monotonic() < deadline:
        time.sleep(0.5)
    assert not _answers(address + "/health")  # no server left behind on the port
