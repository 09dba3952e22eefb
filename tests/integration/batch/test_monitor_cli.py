"""`bcml monitor` through the real CLI against a model trained on the bundled data: the bundled
data shows no drift against its own training reference, a copy with the size features x1.3 is
flagged (exit 1, exactly those features), a prediction log folder is read (with and without
feature values), bad input exits 2 with a clear message, and the HTML loads nothing remote."""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest

from breast_cancer_ml.adapters import model_store
from breast_cancer_ml.cli import main
from breast_cancer_ml.domain.conformal import REFER
from breast_cancer_ml.domain.refer import refer_rows
from breast_cancer_ml.domain.schema import FEATURES
from breast_cancer_ml.settings import BUNDLED_DATA

from .conftest import Trained

pytestmark = pytest.mark.integration

SIZE_FEATURES = [f for f in FEATURES if f.split("_")[0] in ("radius", "perimeter", "area")]


def _bundled() -> tuple[list[str], list[list[str]]]:
    with BUNDLED_DATA.open(newline="") as f:
        rows = list(csv.reader(f))
    return rows[0], rows[1:]


def _bundled_features() -> np.ndarray:
    header, rows = _bundled()
    index = [header.index(f) for f in FEATURES]
    return np.array([[float(r[i]) for i in index] for r in rows])


def _monitor(trained: Trained, *args: str) -> int:
    return main(["monitor", "--models-dir", str(trained.models_dir), *args])


def _report(folder: Path) -> dict:
    return json.loads((folder / "monitor_report.json").read_text())


def test_the_training_reference_is_published_with_the_model(trained: Trained) -> None:
    record = trained.model.record
    assert record is not None and record.drift_reference is not None
    profile = record.drift_reference
    assert profile.out_of_range_rate == 0.0  # the envelope holds its own training split
    # out-of-fold predictions at the threshold: near the training prevalence (37% malignant)
    assert 0.3 < profile.predicted_malignant_rate < 0.45
    assert profile.n == 455  # the training split only (80% of 569)
    # covered by the metadata's sealed SHA256: an edited reference is refused on load
    metadata = json.loads((trained.model.folder / model_store.METADATA_FILE).read_text())
    assert metadata["drift_reference"]["features"]["radius_mean"]["quantiles"][50] > 0


def test_bundled_data_shows_no_drift_against_its_own_training_reference(
    trained: Trained, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = _monitor(trained, "--input", str(BUNDLED_DATA), "--output-dir", str(tmp_path))
    assert code == 0, capsys.readouterr().err
    report = _report(tmp_path)
    assert report["drift"] is False
    assert report["drifted_features"] == []
    assert report["n_cases"] == 569
    assert len(report["features"]) == 30
    assert max(f["psi"] for f in report["features"]) < 0.1
    assert not any(r["drift"] for r in report["rates"].values())
    assert report["model"]["run_id"] == trained.model.run_id
    assert "no drift" in capsys.readouterr().err


def test_size_features_times_1_3_are_flagged_and_exit_1(
    trained: Trained, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    shifted = _shifted_csv(tmp_path / "shifted.csv")
    out = tmp_path / "out"
    code = _monitor(trained, "--input", str(shifted), "--output-dir", str(out))
    assert code == 1
    report = _report(out)
    assert report["drift"] is True
    assert sorted(report["drifted_features"]) == sorted(SIZE_FEATURES)
    # bigger tumours: the model calls more of them malignant
    malignant = report["rates"]["predicted_malignant"]
    assert malignant["recent_rate"] > malignant["reference_rate"]
    err = capsys.readouterr().err
    assert "DRIFT" in err and "radius_mean" in err


def test_the_html_report_is_self_contained(trained: Trained, tmp_path: Path) -> None:
    assert _monitor(trained, "--input", str(BUNDLED_DATA), "--output-dir", str(tmp_path)) == 0
    page = (tmp_path / "monitor_report.html").read_text()
    assert not re.search(r"https?://", page)
    assert not re.search(r"""(src|href)\s*=\s*["'](?!data:)""", page)
    assert page.count('src="data:image/png;base64,') >= 2
    assert "no drift" in page


def _write_log(
    trained: Trained, folder: Path, X: np.ndarray, *, with_features: bool, workers: int = 2
) -> None:
    """Records in the prediction log format (docs: common contract), one file per worker,
    each a hash chain, as `bcml serve --prediction-log` writes them."""
    model = trained.model
    p = model.proba(X)
    prediction = (p >= model.threshold).astype(int)
    inside = model.envelope.in_distribution(X) if model.envelope is not None else None
    decision = refer_rows(model.conformal, p, prediction, inside).decision
    folder.mkdir(parents=True, exist_ok=True)
    start = dt.datetime(2026, 11, 1, 8, 0, tzinfo=dt.UTC)
    for worker in range(workers):
        prev = "0" * 64
        lines = []
        for i in range(worker, len(X), workers):
            vector = json.dumps([float(v) for v in X[i]]).encode()
            record = {
                "v": 1,
                "time": (start + dt.timedelta(seconds=i)).isoformat().replace("+00:00", "Z"),
                "request_id": f"req-{i}",
                "route": "/predict",
                "row": 0,
                "model_run_id": model.run_id,
                "model_sha256": "a" * 64,
                "threshold": model.threshold,
                "features_sha256": hashlib.sha256(vector).hexdigest(),
                "probability": float(p[i]),
                "prediction": int(prediction[i]),
                "decision": str(decision[i]),
                "warnings": [],
                "in_distribution": None if inside is None else bool(inside[i]),
            }
            if with_features:
                record["features"] = dict(zip(FEATURES, X[i].tolist(), strict=True))
            record["prev_sha256"] = prev
            line = json.dumps(record)
            prev = hashlib.sha256(line.encode()).hexdigest()
            lines.append(line + "\n")
        (folder / f"predictions-2026-11-01-{worker}.jsonl").write_text("".join(lines))


def test_a_prediction_log_with_features_is_compared_feature_by_feature(
    trained: Trained, tmp_path: Path
) -> None:
    X = _bundled_features()
    _write_log(trained, tmp_path / "log", X, with_features=True)
    out = tmp_path / "out"
    assert _monitor(trained, "--log", str(tmp_path / "log"), "--output-dir", str(out)) == 0
    report = _report(out)
    assert report["n_cases"] == len(X)
    assert report["source"]["files"] == 2
    assert report["source"]["cases_with_features"] == len(X)
    assert len(report["features"]) == 30 and report["drifted_features"] == []
    expected_refer = np.mean(
        refer_rows(
            trained.model.conformal,
            trained.model.proba(X),
            (trained.model.proba(X) >= trained.model.threshold).astype(int),
            trained.model.envelope.in_distribution(X),  # type: ignore[union-attr]
        ).decision
        == REFER
    )
    assert report["rates"]["refer"]["recent_rate"] == pytest.approx(expected_refer)


def test_a_shifted_log_window_is_flagged_and_last_n_keeps_the_newest(
    trained: Trained, tmp_path: Path
) -> None:
    X = _bundled_features()
    X[:, [FEATURES.index(f) for f in SIZE_FEATURES]] *= 1.3
    _write_log(trained, tmp_path / "log", X, with_features=True)
    out = tmp_path / "out"
    code = _monitor(
        trained, "--log", str(tmp_path / "log"), "--last", "200", "--output-dir", str(out)
    )
    assert code == 1
    report = _report(out)
    assert report["n_cases"] == 200
    assert report["source"]["last"].startswith("2026-11-01T08:09:28")  # case 568, the newest
    assert set(report["drifted_features"]) >= {"radius_mean", "area_worst"}


def test_a_log_without_features_reports_the_rates_and_says_what_is_missing(
    trained: Trained, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _write_log(trained, tmp_path / "log", _bundled_features(), with_features=False)
    out = tmp_path / "out"
    assert _monitor(trained, "--log", str(tmp_path / "log"), "--output-dir", str(out)) == 0
    report = _report(out)
    assert report["features"] == []
    assert report["rates"]["predicted_malignant"]["recent_n"] == 569
    assert any("--log-features" in note for note in report["notes"])
    assert "--log-features" in capsys.readouterr().err


def test_since_keeps_only_the_records_from_that_time_on(trained: Trained, tmp_path: Path) -> None:
    _write_log(trained, tmp_path / "log", _bundled_features(), with_features=False)
    out = tmp_path / "out"
    since = "2026-11-01T08:09:00Z"  # cases 540 ... 568
    code = _monitor(
        trained, "--log", str(tmp_path / "log"), "--since", since, "--output-dir", str(out)
    )
    assert code == 0
    assert _report(out)["n_cases"] == 29


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda d: d / "absent-folder", "no such prediction log folder"),
        (lambda d: d, "no predictions-*.jsonl files"),
    ],
)
def test_a_missing_or_empty_log_folder_exits_2(
    trained: Trained, tmp_path: Path, capsys: pytest.CaptureFixture[str], make, message
) -> None:
    code = _monitor(trained, "--log", str(make(tmp_path)), "--output-dir", str(tmp_path / "o"))
    assert code == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


def test_a_broken_log_line_exits_2_naming_file_and_line_without_its_content(
    trained: Trained, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    log = tmp_path / "log"
    _write_log(trained, log, _bundled_features()[:10], with_features=True, workers=1)
    path = log / "predictions-2026-11-01-0.jsonl"
    lines = path.read_text().splitlines(keepends=True)
    record = json.loads(lines[3])
    record["probability"] = "0.7x"
    lines[3] = json.dumps(record) + "\n"
    path.write_text("".join(lines))
    code = _monitor(trained, "--log", str(log), "--output-dir", str(tmp_path / "o"))
    assert code == 2
    err = capsys.readouterr().err
    assert f"{path}, line 4" in err and "probability" in err
    assert "0.7x" not in err and "radius_mean" not in err


def test_an_unfinished_last_line_is_left_out(trained: Trained, tmp_path: Path) -> None:
    log = tmp_path / "log"
    _write_log(trained, log, _bundled_features()[::10], with_features=False, workers=1)  # 57 cases
    path = log / "predictions-2026-11-01-0.jsonl"
    with path.open("a") as f:
        f.write('{"v": 1, "time": "2026-11-0')  # a write in progress
    out = tmp_path / "out"
    assert _monitor(trained, "--log", str(log), "--output-dir", str(out)) == 0
    assert _report(out)["n_cases"] == 57


def test_a_table_without_the_feature_columns_exits_2_naming_them(
    trained: Trained, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "other.csv"
    bad.write_text("row,probability\n1,0.9\n")
    code = _monitor(trained, "--input", str(bad), "--output-dir", str(tmp_path / "o"))
    assert code == 2
    assert "missing column(s)" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


def _shifted_csv(path: Path) -> Path:
    """The bundled data with the size features x1.3."""
    header, rows = _bundled()
    with path.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        for row in rows:
            writer.writerow(
                [
                    repr(float(v) * 1.3) if name in SIZE_FEATURES else v
                    for name, v in zip(header, row, strict=True)
                ]
            )
    return path


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_bcml_predicts_output_gives_the_rates_of_the_cases_it_scored(
    trained: Trained, tmp_path: Path, fmt: str
) -> None:
    # `--input scores.csv` from batch: the answers, no features; the rates must be those of
    # the same cases scored by monitor itself, and the report says feature drift needs them
    scores = tmp_path / f"scores.{fmt}"
    args = ["predict", "--models-dir", str(trained.models_dir), "--input", str(BUNDLED_DATA)]
    assert main([*args, "--output", str(scores)]) == 0
    assert _monitor(trained, "--input", str(scores), "--output-dir", str(tmp_path / "s")) == 0
    assert _monitor(trained, "--input", str(BUNDLED_DATA), "--output-dir", str(tmp_path / "c")) == 0
    from_scores, from_cases = _report(tmp_path / "s"), _report(tmp_path / "c")
    assert from_scores["source"]["kind"] == "bcml predict output"
    assert from_scores["n_cases"] == from_cases["n_cases"] == 569
    for rate in ("predicted_malignant", "refer", "out_of_range"):
        assert (
            from_scores["rates"][rate]["recent_count"] == from_cases["rates"][rate]["recent_count"]
        )
    assert from_scores["features"] == [] and from_scores["drifted_features"] == []
    assert any("per-feature drift needs the feature values" in n for n in from_scores["notes"])
    last = tmp_path / "last"
    code = _monitor(trained, "--input", str(scores), "--last", "100", "--output-dir", str(last))
    assert code == _report(last)["exit_code"]  # the file's last rows: drift or not, as found
    assert _report(last)["rates"]["predicted_malignant"]["recent_n"] == 100


def test_the_scores_of_a_shifted_population_show_the_rate_shift_and_exit_1(
    trained: Trained, tmp_path: Path
) -> None:
    scores = tmp_path / "scores.csv"
    shifted = _shifted_csv(tmp_path / "shifted.csv")
    args = ["predict", "--models-dir", str(trained.models_dir), "--input", str(shifted)]
    assert main([*args, "--output", str(scores)]) == 0
    out = tmp_path / "out"
    assert _monitor(trained, "--input", str(scores), "--output-dir", str(out)) == 1
    malignant = _report(out)["rates"]["predicted_malignant"]
    assert malignant["drift"] is True
    assert malignant["recent_rate"] > malignant["reference_rate"] + 0.1


def test_a_non_numeric_feature_value_exits_2(
    trained: Trained, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    header, rows = _bundled()
    rows[5][header.index("area_mean")] = "big"
    bad = tmp_path / "cases.csv"
    with bad.open("w", newline="") as f:
        csv.writer(f).writerows([header, *rows])
    code = _monitor(trained, "--input", str(bad), "--output-dir", str(tmp_path / "o"))
    assert code == 2
    err = capsys.readouterr().err
    assert "must be numbers" in err and "big" not in err


def test_giving_both_or_neither_source_exits_2(
    trained: Trained, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _monitor(trained, "--output-dir", str(tmp_path)) == 2
    assert "exactly one of --log DIR or --input FILE" in capsys.readouterr().err
    both = ["--log", str(tmp_path), "--input", str(BUNDLED_DATA), "--output-dir", str(tmp_path)]
    assert _monitor(trained, *both) == 2


def test_a_model_without_a_drift_reference_exits_4(
    trained: Trained, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert trained.model.record is not None
    run_id = "0" * 32
    record = trained.model.record.model_copy(
        update={"run_id": run_id, "drift_reference": None, "card_sha256": {}}
    )
    models = tmp_path / "models"
    model_store.publish(models, run_id, trained.model.folder / "model", [], record)
    code = main(
        ["monitor", "--models-dir", str(models), "--input", str(BUNDLED_DATA),
         "--output-dir", str(tmp_path / "o")]
    )  # fmt: skip
    assert code == 4
    assert "no drift reference" in capsys.readouterr().err


def test_an_edited_drift_reference_is_refused_like_an_edited_model(
    trained: Trained, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The reference rates lowered by hand in a copy of the published folder: still a valid
    reference, but not what was promoted, so the sealed SHA256 refuses it (exit 4)."""
    copy = tmp_path / "edited"
    shutil.copytree(trained.model.folder, copy)
    path = copy / model_store.METADATA_FILE
    meta = json.loads(path.read_text())
    meta["drift_reference"]["rates"]["predicted_malignant"] = 0.9
    path.write_text(json.dumps(meta, indent=2, sort_keys=True))
    code = main(
        ["monitor", "--model", str(copy), "--input", str(BUNDLED_DATA),
         "--output-dir", str(tmp_path / "o")]
    )  # fmt: skip
    assert code == 4
    assert "modified after promotion" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


def test_since_skips_the_daily_files_before_it_without_reading_them(
    trained: Trained, tmp_path: Path
) -> None:
    log = tmp_path / "log"
    _write_log(trained, log, _bundled_features(), with_features=False, workers=1)
    (log / "predictions-2026-10-31-0.jsonl").write_text("not a record\n")
    out = tmp_path / "out"
    code = _monitor(trained, "--log", str(log), "--since", "2026-11-01", "--output-dir", str(out))
    assert code == 0
    assert _report(out)["n_cases"] == 569
    assert _monitor(trained, "--log", str(log), "--output-dir", str(out)) == 2  # read: broken


def test_a_registry_model_is_compared_with_the_reference_of_its_training_run(
    trained: Trained, tmp_path: Path
) -> None:
    """models:/...@champion carries no promotion metadata: its reference comes from the run's
    run_summary.json, and it is the published model's."""
    published, registry = tmp_path / "published", tmp_path / "registry"
    assert _monitor(trained, "--input", str(BUNDLED_DATA), "--output-dir", str(published)) == 0
    code = main(
        ["monitor", "--model", "models:/breast-cancer-classifier@champion",
         "--tracking-uri", trained.tracking_uri, "--input", str(BUNDLED_DATA),
         "--output-dir", str(registry)]
    )  # fmt: skip
    assert code == 0
    a, b = _report(published), _report(registry)
    assert b["model"]["run_id"] == trained.model.run_id
    assert b["reference"] == a["reference"]
    assert b["features"] == a["features"] and b["rates"] == a["rates"]


def test_a_since_that_is_not_a_time_exits_2(
    trained: Trained, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _write_log(trained, tmp_path / "log", _bundled_features()[:5], with_features=False)
    args = ["--log", str(tmp_path / "log"), "--since", "yesterday"]
    assert _monitor(trained, *args, "--output-dir", str(tmp_path / "o")) == 2
    assert "--since 'yesterday' is not an ISO 8601 date or time" in capsys.readouterr().err
    assert _monitor(trained, "--input", str(BUNDLED_DATA), "--since", "2026-11-01") == 2
    assert "--since applies to a prediction log" in capsys.readouterr().err


def _serve_and_log(trained: Trained, root: Path, X: np.ndarray) -> Path:
    """Send ``X`` to a real ``bcml serve --prediction-log --log-features`` (in batches, as a
    lab's client would) and return the log folder, written by the server's own writer."""
    from tests.integration.service.conftest import ServerProcess

    folder = root / "log"
    server = ServerProcess(
        trained.models_dir,
        root / "server.log",
        args=("--prediction-log", str(folder), "--log-features"),
    )
    try:
        server.wait_healthy()
        server.wait_for(lambda: server.client.get("/ready").status_code == 200)
        for start in range(0, len(X), 200):
            rows = X[start : start + 200].tolist()
            answer = server.client.post("/predict/batch", json={"instances": rows})
            assert answer.status_code == 200, answer.text
    finally:
        server.stop()  # drains the writer
    return folder


@pytest.mark.parametrize(("scale", "code"), [(1.0, 0), (1.3, 1)])
def test_a_real_servers_prediction_log_is_monitored_end_to_end(
    trained: Trained, tmp_path: Path, scale: float, code: int
) -> None:
    X = _bundled_features()
    X[:, [FEATURES.index(f) for f in SIZE_FEATURES]] *= scale
    folder = _serve_and_log(trained, tmp_path, X)
    assert main(["audit", "verify", str(folder)]) == 0  # the chain the server wrote holds
    out = tmp_path / "out"
    assert _monitor(trained, "--log", str(folder), "--output-dir", str(out)) == code
    report = _report(out)
    assert report["n_cases"] == report["source"]["cases_with_features"] == len(X)
    if scale == 1.0:
        assert report["drifted_features"] == []
    else:
        assert set(report["drifted_features"]) == set(SIZE_FEATURES)
