"""``bcml ui``: the MLflow UI on the tracking store, stopped with this command."""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from pathlib import Path
from typing import Any


def add_parser(sub: Any) -> None:
    ui = sub.add_parser(
        "ui",
        help="open the MLflow UI on the tracking store",
        description="Start the MLflow UI on the tracking store and print its address once it "
        "answers.",
    )
    ui.add_argument(
        "--tracking-uri",
        default=None,
        help="MLflow tracking URI (default: MLFLOW_TRACKING_URI, else sqlite:///mlflow.db)",
    )
    ui.add_argument("--host", default="127.0.0.1", help="address to listen on (default: 127.0.0.1)")
    ui.add_argument("--port", type=int, default=5000, help="port (default: 5000)")
    ui.add_argument(
        "--workers",
        type=int,
        default=1,
        help="server worker processes (default: 1; each one loads all of MLflow)",
    )
    ui.add_argument(
        "--start-timeout",
        type=float,
        default=120.0,
        help="seconds to wait for the first answer before warning (default: 120)",
    )
    ui.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    import shutil
    import signal
    import subprocess

    from breast_cancer_ml.adapters.tracking import resolve_tracking_uri

    uri = resolve_tracking_uri(args.tracking_uri)
    exe = shutil.which("mlflow") or str(Path(sys.executable).with_name("mlflow"))
    cmd = [exe, "ui", "--backend-store-uri", uri, "--host", args.host, "--port", str(args.port)]
    cmd += ["--workers", str(args.workers)]
    print(f"starting: {' '.join(cmd)}", flush=True)
    # Its own process group: `mlflow ui` runs the web server as a child of its own, and both
    # must stop with this command (Ctrl-C or SIGTERM), not linger on the port.
    proc = subprocess.Popen(cmd, start_new_session=True)

    def stop(*_: object) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, stop)
    address = f"http://{args.host}:{args.port}"
    try:
        if _wait_until_answers(proc, address, args.start_timeout):
            print(f"MLflow UI:     {address}  (Ctrl-C stops it)", flush=True)
        elif proc.poll() is None:
            print(
                f"warning: {address} has not answered after {args.start_timeout:.0f} s; "
                "still waiting for it.",
                file=sys.stderr,
                flush=True,
            )
        return proc.wait()
    except KeyboardInterrupt:
        return 130
    finally:
        signal.signal(signal.SIGTERM, previous)
        _stop_group(proc)


def _stop_group(proc: Any) -> None:
    """Stop the server's process group (SIGTERM, then SIGKILL after 10 s)."""
    import signal
    import subprocess

    for sig, wait in ((signal.SIGTERM, 10.0), (signal.SIGKILL, 5.0)):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, sig)
        try:
            proc.wait(timeout=wait)
            return
        except subprocess.TimeoutExpired:
            continue


def _wait_until_answers(proc: Any, address: str, timeout: float) -> bool:
    """Poll ``address`` until it answers HTTP (True), the server exits or ``timeout`` passes."""
    import time
    import urllib.error
    import urllib.request

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            with urllib.request.urlopen(address + "/health", timeout=2):
                return True
        except urllib.error.HTTPError:
            return True  # it answered, if not with 200
        except (OSError, ValueError):
            time.sleep(0.25)
    return False
