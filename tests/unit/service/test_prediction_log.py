"""The prediction log's writer on real files in tmp_path: a restart continues a file's chain,
a torn last line (a crash) moves on to the next file and leaves the torn one as it was, a new
UTC day starts a new file, a full queue drops and counts without blocking, and the metrics
show both counts."""

from __future__ import annotations

import calendar
import json
import logging
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from breast_cancer_ml.adapters import model_store
from breast_cancer_ml.adapters.prediction_log import verify_dir
from breast_cancer_ml.domain.audit_chain import features_sha256
from breast_cancer_ml.domain.contract import HARD_MAX, Envelope
from breast_cancer_ml.service.metrics import Metrics
from breast_cancer_ml.service.prediction_log import OneCase, PredictionLog, Rows
from breast_cancer_ml.service.schemas import EXAMPLE_ROW


class _Model:
    """What the writer reads of a served model: run id, threshold, folder (its sealed
    metadata), envelope, refer rule."""

    run_id = "run-1"
    threshold = 0.5
    envelope = Envelope(low=(0.0,) * 30, high=tuple(HARD_MAX.tolist()))
    conformal = None

    def __init__(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        (folder / model_store.METADATA_FILE).write_text('{"run_id": "run-1"}')
        self.sha256 = model_store.seal_metadata(folder)
        self.folder = folder


def _one(row: list[float] = EXAMPLE_ROW) -> OneCase:
    return OneCase(np.asarray([row]), 0.9, 1, "malignant", [], True)


def _run(folder: Path, model: Any, n: int, worker: str = "w1") -> PredictionLog:
    writer = PredictionLog(folder, worker=worker, flush_interval=60)
    writer.start()
    for i in range(n):
        writer.put(f"req-{i}", "/predict", model, _one(), 1)
    writer.close()  # writes everything queued, then stops
    return writer


def test_a_restart_continues_the_file_and_its_chain(tmp_path: Path) -> None:
    model = _Model(tmp_path / "model")
    assert _run(tmp_path / "log", model, 3).written == 3
    assert _run(tmp_path / "log", model, 2).written == 2
    result = verify_dir(tmp_path / "log")
    assert [(f.name.endswith("-w1.jsonl"), f.check.records, f.ok) for f in result.files] == [
        (True, 5, True)
    ]
    records = [json.loads(line) for line in result_lines(tmp_path / "log")]
    assert {r["model_sha256"] for r in records} == {model.sha256}
    assert {r["features_sha256"] for r in records} == {features_sha256(EXAMPLE_ROW)}


def result_lines(folder: Path) -> list[bytes]:
    return [line for f in sorted(folder.glob("*.jsonl")) for line in f.read_bytes().splitlines()]


def test_after_a_torn_last_line_the_writer_starts_the_next_file(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    model = _Model(tmp_path / "model")
    folder = tmp_path / "log"
    _run(folder, model, 2)
    (first,) = folder.glob("*.jsonl")
    torn = first.read_bytes() + b'{"v":1,"time":"2026-'  # the crash cut this record short
    first.write_bytes(torn)
    with caplog.at_level(logging.WARNING):
        _run(folder, model, 2)
    assert first.read_bytes() == torn  # left as it was: the evidence stays
    second = first.with_name(first.name.replace("-w1.jsonl", "-w1.1.jsonl"))
    assert second.is_file()
    result = verify_dir(folder)
    assert result.ok
    assert {f.name: (f.check.records, f.check.torn_tail) for f in result.files} == {
        first.name: (2, True),
        second.name: (2, False),
    }
    assert any(getattr(r, "event", "") == "prediction_log_torn" for r in caplog.records)


def test_a_new_utc_day_starts_a_new_file_with_its_own_chain(tmp_path: Path) -> None:
    model = _Model(tmp_path / "model")
    (tmp_path / "log").mkdir()
    writer = PredictionLog(tmp_path / "log", worker="w1")
    before = calendar.timegm((2026, 11, 30, 23, 59, 59, 0, 0, 0)) + 0.5
    for ts in (before, before + 1.0):  # 23:59:59.5 and 00:00:00.5 the next day
        writer.pending.append((ts, "r", "/predict", model, _one()))
    writer.flush()
    writer.close()
    result = verify_dir(tmp_path / "log")
    assert [(f.name, f.check.records, f.ok) for f in result.files] == [
        ("predictions-2026-11-30-w1.jsonl", 1, True),
        ("predictions-2026-12-01-w1.jsonl", 1, True),
    ]
    times = [json.loads(line)["time"] for line in result_lines(tmp_path / "log")]
    assert times == ["2026-11-30T23:59:59.500Z", "2026-12-01T00:00:00.500Z"]


def test_a_full_queue_drops_and_counts_rows_until_the_writer_catches_up(tmp_path: Path) -> None:
    model = _Model(tmp_path / "model")
    (tmp_path / "log").mkdir()
    writer = PredictionLog(tmp_path / "log", worker="w1", max_pending=2)
    writer.put("a", "/predict", model, _one(), 1)
    writer.put("b", "/predict", model, _one(), 1)
    writer.put("c", "/predict", model, _one(), 1)  # the writer has not caught up: dropped
    batch = [
        {
            "probability": 0.9,
            "prediction": 1,
            "decision": "malignant",
            "warnings": [],
            "in_distribution": True,
        }
    ] * 4
    writer.put("d", "/predict/batch", model, Rows(np.asarray([EXAMPLE_ROW] * 4), batch), 4)
    assert writer.dropped == {"queue_full": 5, "disk_full": 0, "write_error": 0}
    writer.flush()
    assert writer.written == 2
    writer.put("e", "/predict/batch", model, Rows(np.asarray([EXAMPLE_ROW] * 2), batch[:2]), 2)
    assert writer.dropped["queue_full"] == 5  # the writer caught up: room for two rows
    writer.flush()
    assert writer.written == 4
    metrics = Metrics()
    metrics.prediction_log = writer
    text = metrics.render("run-1", "ready")
    assert "bcml_prediction_log_records_total 4\n" in text
    assert 'bcml_prediction_log_dropped_total{reason="queue_full"} 5\n' in text
    assert "bcml_prediction_log" not in Metrics().render("run-1", "ready")  # log off


def test_two_writers_with_one_worker_id_never_share_a_file(tmp_path: Path) -> None:
    # two containers' PID 1 on one shared folder: the file is locked by its writer
    model = _Model(tmp_path / "model")
    folder = tmp_path / "log"
    folder.mkdir()
    first = PredictionLog(folder, worker="1")
    second = PredictionLog(folder, worker="1")
    for writer in (first, second, first, second):
        writer.put("r", "/predict", model, _one(), 1)
        writer.flush()  # both files stay open (and locked) between flushes
    first.close()
    second.close()
    result = verify_dir(folder)
    assert result.ok
    day = json.loads(result_lines(folder)[0])["time"][:10]
    assert {f.name: f.check.records for f in result.files} == {
        f"predictions-{day}-1.jsonl": 2,
        f"predictions-{day}-1.1.jsonl": 2,
    }


_PARTIAL_WRITE = """
import json, resource, signal, sys
from pathlib import Path
import numpy as np
from breast_cancer_ml.service.prediction_log import OneCase, PredictionLog
from breast_cancer_ml.service.schemas import EXAMPLE_ROW

class Model:
    run_id, threshold, envelope, conformal, folder = "run-1", 0.5, None, None, Path("/none")

folder, model = Path(sys.argv[1]), Model()
case = OneCase(np.asarray([EXAMPLE_ROW]), 0.9, 1, "malignant", [], True)
writer = PredictionLog(folder, worker="w1")
writer.put("a", "/predict", model, case, 1)
writer.flush()
size = next(folder.glob("*.jsonl")).stat().st_size  # one record
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # EFBIG instead of the signal
limit = resource.getrlimit(resource.RLIMIT_FSIZE)
resource.setrlimit(resource.RLIMIT_FSIZE, (size * 2 + size // 2, limit[1]))
for rid in "bcd":  # one write of three records: the limit lets one and a half in
    writer.put(rid, "/predict", model, case, 1)
writer.flush()
resource.setrlimit(resource.RLIMIT_FSIZE, limit)
writer.put("e", "/predict", model, case, 1)
writer.close()
print(json.dumps({"written": writer.written, "dropped": writer.dropped}))
"""


def test_a_write_cut_short_keeps_whole_records_and_the_chain_continues(tmp_path: Path) -> None:
    # a real partial write: the file size limit (RLIMIT_FSIZE) stops the kernel mid-record;
    # in a child process, so that the limit touches no file of the test run
    import subprocess
    import sys

    folder = tmp_path / "log"
    folder.mkdir()
    done = subprocess.run(
        [sys.executable, "-c", _PARTIAL_WRITE, str(folder)],
        capture_output=True,
        text=True,
        check=True,
    )
    counts = json.loads(done.stdout.splitlines()[-1])
    assert counts == {
        "written": 3,  # a; b (whole before the limit); e
        "dropped": {"queue_full": 0, "disk_full": 0, "write_error": 2},  # c (cut short), d
    }
    result = verify_dir(folder)
    assert result.ok and [f.check.torn_tail for f in result.files] == [False]
    assert [json.loads(line)["request_id"] for line in result_lines(folder)] == list("abe")


def test_the_settings_come_from_the_environment_and_features_need_a_folder(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from breast_cancer_ml.errors import ConfigError
    from breast_cancer_ml.settings import ServeSettings, load_settings

    monkeypatch.setenv("BCML_PREDICTION_LOG", str(tmp_path / "log"))
    monkeypatch.setenv("BCML_LOG_FEATURES", "true")
    settings = load_settings(ServeSettings)
    assert (settings.prediction_log, settings.log_features) == (tmp_path / "log", True)
    monkeypatch.delenv("BCML_PREDICTION_LOG")
    with pytest.raises(ConfigError, match="log_features needs prediction_log"):
        load_settings(ServeSettings)
