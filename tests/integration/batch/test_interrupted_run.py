"""A `bcml predict` process killed mid-run never leaves a complete-looking output file."""

from __future__ import annotations

import signal
import subprocess
import time
from pathlib import Path

import pytest

from breast_cancer_ml.adapters.synthetic import write_synthetic

from .conftest import BCML, Trained

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def big_csv(tmp_path_factory) -> Path:
    # Small chunks make this run for seconds: long enough to be caught mid-way.
    return write_synthetic(tmp_path_factory.mktemp("big") / "big.csv", 200_000, seed=3)


def start(
    trained: Trained, source: Path, out: Path, chunk_size: int = 64
) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [
            *BCML,
            "predict",
            "--models-dir",
            str(trained.models_dir),
            "--input",
            str(source),
            "--output",
            str(out),
            "--chunk-size",
            "64",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def wait_for_partial(proc: subprocess.Popen[bytes], folder: Path, min_bytes: int = 50_000) -> Path:
    """Block until the run has written part of its output (a real mid-run state)."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        partial = [p for p in folder.glob("scores.csv.*.partial") if p.stat().st_size > min_bytes]
        if partial:
            return partial[0]
        assert proc.poll() is None, "bcml predict ended before it could be interrupted"
        time.sleep(0.01)
    raise AssertionError("no partial output appeared within 60 s")


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM])
def test_killed_run_leaves_no_output_and_keeps_the_previous_one(trained, big_csv, tmp_path, sig):
    out = tmp_path / "scores.csv"
    out.write_text("previous complete output\n")
    proc = start(trained, big_csv, out)
    partial = wait_for_partial(proc, tmp_path)
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=60)
    assert out.read_text() == "previous complete output\n"
    assert not (tmp_path / "scores.rejects.csv").exists()
    if sig == signal.SIGKILL:
        assert proc.returncode == -signal.SIGKILL
        # What is left is named as unfinished; the next run starts from scratch.
        assert partial.exists()
        assert partial.name.endswith(".partial")
    else:
        assert proc.returncode == 143
        assert b"terminated: no output written" in err
        assert list(tmp_path.iterdir()) == [out]


def test_uninterrupted_run_replaces_the_output_whole(trained, big_csv, tmp_path):
    out = tmp_path / "scores.csv"
    out.write_text("previous complete output\n")
    proc = start(trained, big_csv, out, chunk_size=8192)
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err.decode()
    with out.open() as fh:
        assert sum(1 for _ in fh) == 200_001
    assert sorted(p.name for p in tmp_path.iterdir()) == ["scores.csv", "scores.rejects.csv"]
