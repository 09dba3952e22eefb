"""A new SQLite tracking store is created once, under a lock, however many runs start at once;
a store that cannot be opened is exit 4 with a message, never a traceback."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

BCML = str(Path(sys.executable).with_name("bcml"))
ROUNDS = 1  # without the lock, 4 starts at once broke a new store in each of 3 tries
AT_ONCE = 4


def _burn_cpu() -> subprocess.Popen[bytes]:
    """A process that keeps one core busy, so the starts interleave as on a loaded machine."""
    return subprocess.Popen([sys.executable, "-c", "while True: pass"])


def test_concurrent_first_trainings_on_a_new_store_all_succeed(tmp_path: Path) -> None:
    burner = _burn_cpu()
    try:
        for round_no in range(ROUNDS):
            folder = tmp_path / f"round{round_no}"
            folder.mkdir()
            uri = f"sqlite:///{folder / 'mlflow.db'}"
            env = {**os.environ, "MLFLOW_DISABLE_TELEMETRY": "true"}
            procs = [
                subprocess.Popen(
                    [BCML, "train", "--smoke", "--tracking-uri", uri, "--experiment", f"e{i}"],
                    cwd=folder,
                    env=env,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE,
                    text=True,
                )
                for i in range(AT_ONCE)
            ]
            for proc in procs:
                out, err = proc.communicate(timeout=120)
                assert proc.returncode == 0, f"round {round_no}: exit {proc.returncode}\n{err}"
                assert "Traceback" not in err
                assert "run id:" in out
            assert (folder / "mlflow.db.lock").exists()  # the lock lives beside the database
    finally:
        burner.kill()
        burner.wait()


def test_a_store_that_cannot_be_opened_is_exit_4_with_a_message(tmp_path: Path) -> None:
    not_a_db = tmp_path / "mlflow.db"
    not_a_db.write_bytes(b"this is not a SQLite database" * 100)
    started = time.monotonic()
    proc = subprocess.run(
        [BCML, "train", "--smoke", "--tracking-uri", f"sqlite:///{not_a_db}"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 4, proc.stderr
    assert "Traceback" not in proc.stderr
    assert f"MLflow tracking store sqlite:///{not_a_db}" in proc.stderr
    assert time.monotonic() - started < 60


def test_runs_after_a_start_up_killed_mid_migration_wait_and_never_traceback(
    tmp_path: Path,
) -> None:
    """The first run is killed (-9) while MLflow migrates the new store. The runs after it
    get the lock in turn: each either finds a usable store (exit 0) or a half-migrated one,
    which is exit 4 with what to do, never a traceback (where the kill lands varies)."""
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    first = subprocess.Popen(
        [BCML, "train", "--smoke", "-v", "--tracking-uri", uri],
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert first.stderr is not None
    for line in first.stderr:  # -v: MLflow says when it starts migrating
        if "Updating database tables" in line:
            break
    first.kill()
    first.wait()
    after = [
        subprocess.Popen(
            [BCML, "train", "--smoke", "--tracking-uri", uri, "--experiment", f"e{i}"],
            cwd=tmp_path,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(2)
    ]
    for proc in after:
        _out, err = proc.communicate(timeout=120)
        assert proc.returncode in (0, 4), err
        assert "Traceback" not in err
        if proc.returncode == 4:
            assert "move the database away and run again" in err
