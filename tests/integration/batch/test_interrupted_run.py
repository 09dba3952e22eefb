"""A `bcml predict` process killed mid-run never leaves a complete-looking output file."""

from __future__ import annotations

import signal
import stat
import subprocess
import time
from pathlib import Path

import pytest
from benchmarks.synthetic import write_synthetic

from breast_cancer_ml.domain.schema import FEATURES

from .conftest import BCML, Trained

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def big_csv(tmp_path_factory) -> Path:
    return write_synthetic(tmp_path_factory.mktemp("big") / "big.csv", 200_000, seed=3)


def start(
    trained: Trained, source: str, out: Path, chunk_size: int = 8192, **popen: object
) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [
            *BCML,
            "predict",
            "--models-dir",
            str(trained.models_dir),
            "--input",
            source,
            "--output",
            str(out),
            "--chunk-size",
            str(chunk_size),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        **popen,
    )


def wait_for_partial(proc: subprocess.Popen[bytes], folder: Path, min_bytes: int) -> Path:
    """Block until the run has written part of its output (a real mid-run state)."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        partial = [p for p in folder.glob("scores.csv.*.partial") if p.stat().st_size >= min_bytes]
        if partial:
            return partial[0]
        assert proc.poll() is None, "bcml predict ended before it could be interrupted"
        time.sleep(0.01)
    raise AssertionError("no partial output appeared within 60 s")


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM])
def test_killed_run_leaves_no_output_and_keeps_the_previous_one(trained, big_csv, tmp_path, sig):
    out = tmp_path / "scores.csv"
    out.write_text("previous complete output\n")
    # The input arrives on stdin and the pipe stays open: the run has scored and written the
    # first half and waits for more, so the signal always lands mid-run.
    lines = big_csv.read_bytes().split(b"\n")
    first_half = b"\n".join(lines[:100_001]) + b"\n"
    proc = start(trained, "-", out, stdin=subprocess.PIPE)
    assert proc.stdin is not None
    proc.stdin.write(first_half)
    proc.stdin.flush()
    partial = wait_for_partial(proc, tmp_path, min_bytes=1_000_000)
    # mid-run, the partial file holding patient data is readable by its owner only
    assert stat.S_IMODE(partial.stat().st_mode) == 0o600
    proc.send_signal(sig)
    proc.stdin.close()
    err = proc.stderr.read() if proc.stderr else b""
    proc.wait(timeout=60)
    expected_code = -signal.SIGKILL if sig == signal.SIGKILL else 143
    assert proc.returncode == expected_code, err.decode()[-2000:]
    assert out.read_text() == "previous complete output\n"
    assert not (tmp_path / "scores.csv.rejects.csv").exists()
    if sig == signal.SIGKILL:
        # What is left is named as unfinished; the next run starts from scratch.
        assert partial.exists()
        assert partial.name.endswith(".partial")
    else:
        assert b"terminated: no output written" in err
        assert list(tmp_path.iterdir()) == [out]


def test_uninterrupted_run_replaces_the_output_whole(trained, big_csv, tmp_path):
    out = tmp_path / "scores.csv"
    out.write_text("previous complete output\n")
    proc = start(trained, str(big_csv), out)
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err.decode()
    with out.open() as fh:
        assert sum(1 for _ in fh) == 200_001
    assert sorted(p.name for p in tmp_path.iterdir()) == ["scores.csv"]  # no rejects, no file


def test_an_error_while_stdin_stays_open_and_idle_exits_promptly(trained, tmp_path):
    """The reader waits on stdin that never answers; the model is missing (exit 4). The run
    must end with its own error, not hang on the reader or abort at exit."""
    proc = subprocess.Popen(
        [*BCML, "predict", "--model", str(tmp_path / "nope"), "--input", "-", "--output",
         str(tmp_path / "o.csv")],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    assert proc.stdin is not None
    header = ",".join(["id", *(f'"{f}"' if " " in f else f for f in FEATURES)])
    proc.stdin.write(header.encode() + b"\n")  # a header, then nothing more, pipe left open
    proc.stdin.flush()
    try:
        proc.wait(timeout=30)
        err = proc.stderr.read().decode() if proc.stderr else ""
    finally:
        proc.stdin.close()
        proc.kill()
    assert proc.returncode == 4, err
    assert "no such model folder" in err
    assert "Fatal Python error" not in err
