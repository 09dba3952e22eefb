"""The prediction log (issue 13), over a real uvicorn server on 127.0.0.1 writing real files:
one record per answered case on every route, nothing for a refused request, the hash chain
checked by the real ``bcml audit verify`` (a changed byte, a deleted line and swapped lines
each named at their line; records cut from the end caught by the logged heads), no patient
data unless ``--log-features``, a failing disk counted on /metrics while predictions still
answer 200, and one file per worker with ``--workers 2``."""

from __future__ import annotations

import datetime as dt
import json
import shutil
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from breast_cancer_ml import cli
from breast_cancer_ml.adapters import model_store
from breast_cancer_ml.domain.audit_chain import features_sha256
from breast_cancer_ml.domain.schema import FEATURES
from breast_cancer_ml.service.schemas import EXAMPLE_ROW, EXAMPLE_ROW_BENIGN

from .conftest import ServerProcess, promote

pytestmark = pytest.mark.integration

KEYS = [
    "v",
    "time",
    "request_id",
    "route",
    "row",
    "model_run_id",
    "model_sha256",
    "threshold",
    "features_sha256",
    "probability",
    "prediction",
    "decision",
    "warnings",
    "in_distribution",
    "prev_sha256",
]
SMOOTHNESS = FEATURES.index("smoothness_mean")


def _distinct(row: list[float], salt: int) -> list[float]:
    """``row`` with every value given many digits, so its text cannot appear by chance."""
    return [round(v * (1 + (salt * 31 + j) * 1.3e-7) + 1.17e-9, 12) for j, v in enumerate(row)]


OUTSIDE = _distinct(EXAMPLE_ROW, 1)
OUTSIDE[SMOOTHNESS] = 50.123456789  # within the hard bound, far outside the envelope
CASES = [_distinct(EXAMPLE_ROW, 2), _distinct(EXAMPLE_ROW_BENIGN, 3), OUTSIDE]
BATCH = [_distinct(EXAMPLE_ROW, 10 + i) for i in range(4)]
MLFLOW = [_distinct(EXAMPLE_ROW_BENIGN, 20 + i) for i in range(2)]


def _files(folder: Path) -> list[Path]:
    return sorted(folder.glob("predictions-*.jsonl"))


def _records(folder: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for f in _files(folder) for line in f.read_bytes().splitlines()]


def _send_every_route(server: ServerProcess) -> dict[str, Any]:
    """3 cases on /predict, 4 on /predict/batch, 2 on /invocations, and two refused requests;
    the answers by request id."""
    c = server.client
    answers: dict[str, Any] = {}
    for row in CASES:
        r = c.post("/predict", json={"features": row})
        assert r.status_code == 200, r.text
        answers[r.headers["x-request-id"]] = ("/predict", [row], [r.json()])
    r = c.post("/predict/batch", json={"instances": BATCH}, headers={"X-Request-ID": "batch-1"})
    assert r.status_code == 200, r.text
    answers["batch-1"] = ("/predict/batch", BATCH, r.json()["predictions"])
    body = {"dataframe_split": {"columns": list(FEATURES), "data": MLFLOW}}
    r = c.post("/invocations", json=body)
    assert r.status_code == 200, r.text
    answers[r.headers["x-request-id"]] = ("/invocations", MLFLOW, r.json()["predictions"])
    bad = c.post("/predict", json={"features": [*CASES[0][:29], -1.0]})
    assert bad.status_code == 422
    assert (
        c.post("/predict", content=b"{", headers={"content-type": "application/json"}).status_code
        == 400
    )
    return answers


@pytest.fixture(scope="module")
def logged(
    tmp_path_factory: pytest.TempPathFactory, trained: Any
) -> tuple[Path, Path, dict[str, Any], str]:
    """A server run with --prediction-log: the log folder, the server's own log, the answers,
    and the served model's folder. The server is stopped (SIGTERM) before the files are read."""
    root = tmp_path_factory.mktemp("prediction-log")
    models = root / "models"
    promote(models, trained["a"])
    folder = root / "log"
    server = ServerProcess(models, root / "server.log", args=("--prediction-log", str(folder)))
    try:
        server.wait_healthy()
        server.wait_for(lambda: server.client.get("/ready").status_code == 200)
        answers = _send_every_route(server)
    finally:
        server.stop()
    return folder, root / "server.log", answers, str((models / "latest").resolve())


def test_every_answered_case_is_one_record_in_the_fixed_layout_and_refused_requests_none(
    logged: tuple[Path, Path, dict[str, Any], str],
) -> None:
    folder, _, answers, model_folder = logged
    files = _files(folder)
    assert len(files) == 1
    day = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d")
    assert files[0].name.startswith(f"predictions-{day}-")
    records = _records(folder)
    assert len(records) == 3 + 4 + 2  # one per case; the 422 and the 400 wrote nothing
    sidecar = model_store.recorded_metadata_sha256(Path(model_folder))
    seen = 0
    for rid, (route, rows, answered) in answers.items():
        mine = [r for r in records if r["request_id"] == rid]
        assert [r["row"] for r in mine] == list(range(len(rows)))
        for rec, row, answer in zip(mine, rows, answered, strict=True):
            assert list(rec) == KEYS
            assert rec["v"] == 1 and rec["route"] == route
            assert rec["time"].endswith("Z") and rec["time"].startswith(day)
            assert rec["model_sha256"] == sidecar
            assert rec["features_sha256"] == features_sha256(row)
            assert rec["threshold"] == 0.5
            if route == "/invocations":  # MLflow's body: the 0/1 prediction only
                assert rec["prediction"] == answer
            else:
                assert rec["probability"] == answer["probability"]
                assert rec["prediction"] == answer["prediction"]
                assert rec["decision"] == answer["decision"]
                assert rec["in_distribution"] == answer["in_distribution"]
                assert [w["feature"] for w in rec["warnings"]] == [
                    w["feature"] for w in answer["warnings"]
                ]
            seen += 1
    assert seen == len(records)
    outside = next(r for r in records if r["features_sha256"] == features_sha256(OUTSIDE))
    assert outside["in_distribution"] is False and outside["decision"] == "refer"
    assert outside["warnings"][0]["feature"] == "smoothness_mean"


def test_no_feature_value_is_written_without_log_features(
    logged: tuple[Path, Path, dict[str, Any], str],
) -> None:
    folder, _, _, _ = logged
    text = b"".join(f.read_bytes() for f in _files(folder)).decode()
    for row in [*CASES, *BATCH, *MLFLOW]:
        for v in row:
            assert repr(v) not in text
    for rec in _records(folder):
        assert "features" not in rec
        assert all("value" not in w for w in rec["warnings"])


def test_the_intact_log_verifies_and_the_logged_heads_anchor_it(
    logged: tuple[Path, Path, dict[str, Any], str], capsys: pytest.CaptureFixture[str]
) -> None:
    folder, server_log, _, _ = logged
    assert cli.main(["audit", "verify", str(folder)]) == 0
    out = capsys.readouterr().out
    assert "intact: 1 files, 9 records" in out
    heads = [
        json.loads(line)
        for line in server_log.read_text().splitlines()
        if '"prediction_log_head"' in line
    ]
    assert heads and heads[-1]["records"] == 9  # logged at shutdown
    assert cli.main(["audit", "verify", str(folder), "--expect", str(server_log)]) == 0
    assert "matches its logged head" in capsys.readouterr().out
    assert cli.main(["audit", "verify", str(folder), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["ok"] is True and doc["records"] == 9


def _tampered(folder: Path, tmp_path: Path, edit: Any) -> Path:
    copy = tmp_path / "copy"
    shutil.copytree(folder, copy)
    path = _files(copy)[0]
    lines = path.read_bytes().split(b"\n")[:-1]
    path.write_bytes(b"\n".join(edit(lines)) + b"\n")
    return copy


def _verify(folder: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, dict[str, Any]]:
    code = cli.main(["audit", "verify", str(folder), "--json"])
    doc = json.loads(capsys.readouterr().out)
    return code, doc["checked"][0]["error"]


def _flip(lines: list[bytes], n: int) -> list[bytes]:
    """Line ``n`` (1-based) with one byte of its probability changed."""
    line = lines[n - 1]
    at = line.index(b'"probability":') + len(b'"probability":') + 3
    changed = line[:at] + bytes([line[at] ^ 0x01]) + line[at + 1 :]
    return [*lines[: n - 1], changed, *lines[n:]]


def test_a_changed_byte_is_named_at_its_line(
    logged: tuple[Path, Path, dict[str, Any], str],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    copy = _tampered(logged[0], tmp_path, lambda lines: _flip(lines, 4))
    code, error = _verify(copy, capsys)
    assert code == 1
    assert error["line"] == 4 and error["reason"] == "changed"


def test_a_deleted_line_is_named_where_it_was(
    logged: tuple[Path, Path, dict[str, Any], str],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    copy = _tampered(logged[0], tmp_path, lambda lines: lines[:5] + lines[6:])  # line 6 gone
    code, error = _verify(copy, capsys)
    assert code == 1
    assert error["reason"] == "changed"  # line 5 changed, or records after it removed
    assert error["line"] == 5 and "between line 5 and line 6" in error["message"]
    first = _tampered(logged[0], tmp_path / "first", lambda lines: lines[1:])
    code, error = _verify(first, capsys)
    assert code == 1 and (error["line"], error["reason"]) == (1, "removed_first")


def test_two_swapped_lines_are_named_as_reordered(
    logged: tuple[Path, Path, dict[str, Any], str],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    copy = _tampered(
        logged[0], tmp_path, lambda lines: [*lines[:2], lines[3], lines[2], *lines[4:]]
    )
    code, error = _verify(copy, capsys)
    assert code == 1
    assert (error["line"], error["reason"]) == (3, "reordered")


def test_lines_cut_from_the_end_pass_the_chain_but_not_the_logged_heads(
    logged: tuple[Path, Path, dict[str, Any], str],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    folder, server_log, _, _ = logged
    copy = _tampered(folder, tmp_path, lambda lines: lines[:-2])
    assert cli.main(["audit", "verify", str(copy)]) == 0  # a chain alone cannot see it
    capsys.readouterr()
    assert cli.main(["audit", "verify", str(copy), "--expect", str(server_log)]) == 1
    out = capsys.readouterr().out
    assert "has 7 records, but its head was logged at 9" in out
    changed_last = _tampered(folder, tmp_path / "last", lambda lines: _flip(lines, 9))
    assert cli.main(["audit", "verify", str(changed_last), "--expect", str(server_log)]) == 1


def test_a_missing_folder_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["audit", "verify", str(tmp_path / "nowhere")]) == 2
    assert "is not a folder" in capsys.readouterr().err
    assert cli.main(["audit", "verify", str(tmp_path)]) == 2  # no log file in it


def test_log_features_writes_the_values_the_case_was_sent_with(
    tmp_path: Path, start_server: Any, trained: Any
) -> None:
    models = tmp_path / "models"
    promote(models, trained["a"])
    folder = tmp_path / "log"
    server = start_server(models, args=("--prediction-log", str(folder), "--log-features"))
    server.wait_for(lambda: server.client.get("/ready").status_code == 200)
    assert server.client.post("/predict", json={"features": OUTSIDE}).status_code == 200
    server.stop()
    (rec,) = _records(folder)
    assert list(rec["features"]) == list(FEATURES)
    assert list(rec["features"].values()) == OUTSIDE
    assert list(rec)[-1] == "prev_sha256"
    assert rec["warnings"][0]["value"] == OUTSIDE[SMOOTHNESS]


def _metric(server: ServerProcess, name: str) -> dict[str, float]:
    families = {
        f.name: f for f in text_string_to_metric_families(server.client.get("/metrics").text)
    }
    return {
        s.labels.get("reason", ""): s.value
        for s in families[name].samples
        if s.name.endswith("_total")
    }


def test_a_full_disk_is_counted_and_logged_while_predictions_still_answer(
    tmp_path: Path, start_server: Any, trained: Any
) -> None:
    models = tmp_path / "models"
    promote(models, trained["a"])
    folder = tmp_path / "log"
    server = start_server(models, args=("--prediction-log", str(folder)))
    server.wait_for(lambda: server.client.get("/ready").status_code == 200)
    # the file this worker writes today is /dev/full: every write fails with ENOSPC
    day = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d")
    (folder / f"predictions-{day}-{server.proc.pid}.jsonl").symlink_to("/dev/full")
    for row in CASES:
        assert server.client.post("/predict", json={"features": row}).status_code == 200
    r = server.client.post("/predict/batch", json={"instances": BATCH})
    assert r.status_code == 200
    dropped = server.wait_for(
        lambda: (d := _metric(server, "bcml_prediction_log_dropped"))["disk_full"] == 7 and d
    )
    assert dropped == {"queue_full": 0, "disk_full": 7, "write_error": 0}
    assert _metric(server, "bcml_prediction_log_records") == {"": 0}
    event = server.wait_for(
        lambda: [r for r in server.log_records() if r.get("event") == "prediction_log_dropped"]
    )[0]
    assert event["dropped"] == {"disk_full": 7} and "No space left" in event["error"]
    logs = server.logs()
    for v in CASES[0]:
        assert repr(v) not in logs


def test_two_workers_write_one_file_each_and_lose_no_record(
    tmp_path: Path, start_server: Any, trained: Any
) -> None:
    models = tmp_path / "models"
    promote(models, trained["a"])
    folder = tmp_path / "log"
    server = start_server(models, args=("--prediction-log", str(folder), "--workers", "2"))
    server.wait_for(lambda: server.client.get("/ready").status_code == 200)

    def one(i: int) -> int:  # a new connection each time: the kernel spreads them
        with httpx.Client(base_url=server.url, timeout=10) as c:
            return c.post("/predict", json={"features": CASES[i % 3]}).status_code

    sent = 0
    with ThreadPoolExecutor(8) as pool:
        while sent < 800 and len(_files(folder)) < 2:
            assert set(pool.map(one, range(40))) == {200}
            sent += 40
            server.wait_for(lambda n=sent: len(_records(folder)) == n, timeout=5)
    server.stop()
    files = _files(folder)
    assert len(files) == 2, "all requests went to one worker"
    workers = {f.name.rsplit("-", 1)[1] for f in files}
    assert len(workers) == 2 and all(w.removesuffix(".jsonl").isdigit() for w in workers)
    assert len(_records(folder)) == sent
    assert cli.main(["audit", "verify", str(folder)]) == 0


def test_serve_refuses_a_log_folder_it_cannot_create(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    assert cli.main(["serve", "--prediction-log", str(blocker / "log")]) == 2
    assert cli.main(["serve", "--log-features"]) == 2  # nowhere to write them


def test_the_declared_routes_log_as_the_fast_path_does(
    tmp_path: Path, start_server: Any, trained: Any
) -> None:
    # CORS on: every prediction goes through the declared FastAPI routes
    models = tmp_path / "models"
    promote(models, trained["a"])
    folder = tmp_path / "log"
    server = start_server(
        models,
        args=("--prediction-log", str(folder), "--cors-origins", "https://ehr.example"),
    )
    server.wait_for(lambda: server.client.get("/ready").status_code == 200)
    answers = _send_every_route(server)
    server.stop()
    records = _records(folder)
    assert len(records) == 9
    for rid, (route, rows, _) in answers.items():
        mine = [r for r in records if r["request_id"] == rid]
        assert [(r["route"], r["features_sha256"]) for r in mine] == [
            (route, features_sha256(row)) for row in rows
        ]
    assert cli.main(["audit", "verify", str(folder)]) == 0
