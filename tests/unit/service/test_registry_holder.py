"""RegistryModelHolder when the tracking server does not answer (a closed 127.0.0.1 port):
not ready with the reason, failures counted, the wait doubling up to its cap."""

from __future__ import annotations

import socket
from pathlib import Path

from breast_cancer_ml.adapters.registry_client import RegistryClient
from breast_cancer_ml.service.registry_holder import RegistryModelHolder


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_an_unreachable_server_means_not_ready_counted_failures_and_a_doubling_wait(
    tmp_path: Path,
) -> None:
    events: list[str] = []
    holder = RegistryModelHolder(
        "models:/breast-cancer-classifier@champion",
        RegistryClient(f"http://127.0.0.1:{closed_port()}", timeout=2),
        tmp_path,
        retry_max=3.0,
        on_change=events.append,
    )
    assert holder.next_delay(0.5) == 0.5
    delays = []
    for _ in range(4):
        assert holder.check() is False
        delays.append(holder.next_delay(0.5))

    assert delays == [1.0, 2.0, 3.0, 3.0]
    assert holder.current is None
    assert holder.status == "refused"
    assert holder.refusal is not None and holder.refusal.reason == "registry_unreachable"
    assert events == ["registry_failure"] * 4
    assert holder.registry_status() == {
        "model_uri": "models:/breast-cancer-classifier@champion",
        "reachable": False,
        "failures": 4,
        "version": None,
        "error": "registry_unreachable",
    }
    assert not any(tmp_path.iterdir())  # nothing half-downloaded
