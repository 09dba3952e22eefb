"""`bcml predict` holds every row to the one input contract, flags cases outside the model's
envelope, and never loses a user's file (issue #10), through the real CLI on real files."""

from __future__ import annotations

import contextlib
import csv
import gzip
import json
import math
import os
import stat
import subprocess
import tempfile
import time
import zlib
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pcsv
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from breast_cancer_ml.cli import main
from breast_cancer_ml.domain.schema import FEATURES
from breast_cancer_ml.settings import BUNDLED_DATA

from .conftest import BCML, Trained

pytestmark = pytest.mark.integration

TEXT = pcsv.ConvertOptions(column_types={"warnings": pa.string(), "id": pa.string()})


def predict(trained: Trained, *args: str) -> int:
    return main(["predict", "--models-dir", str(trained.models_dir), *args])


def wdbc_rows(n: int) -> tuple[list[str], list[list[str]]]:
    with BUNDLED_DATA.open() as f:
        reader = csv.reader(f)
        header = next(reader)
        return header, [row for _, row in zip(range(n), reader, strict=False)]


def write_rows(path: Path, header: list[str], rows: list[list[str]]) -> Path:
    with path.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def bcml_predict(trained: Trained, *args: str) -> list[str]:
    """The command line of ``bcml predict`` run as a subprocess."""
    return [*BCML, "predict", "--models-dir", str(trained.models_dir), *args]


def predict_into(trained: Trained, source: Path, output: Path) -> subprocess.CompletedProcess[str]:
    """``bcml predict --input SOURCE --output OUTPUT`` as a subprocess, its output as text."""
    return subprocess.run(
        bcml_predict(trained, "--input", str(source), "--output", str(output)),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def read_output(path: Path) -> list[dict[str, str]]:
    return list(csv.DictReader(path.open()))


# --- 1. one input contract -------------------------------------------------------------------


def test_a_row_of_30_times_1e308_is_rejected_naming_the_features_never_scored_as_nan(
    trained, tmp_path, capsys
):
    header, rows = wdbc_rows(3)
    huge = list(rows[1])
    for feature in FEATURES:
        huge[header.index(feature)] = "1e308"
    source = write_rows(tmp_path / "in.csv", header, [rows[0], huge, rows[2]])
    out = tmp_path / "scores.csv"
    assert predict(trained, "--input", str(source), "--output", str(out)) == 0
    scored = read_output(out)
    assert [r["row"] for r in scored] == ["1", "3"]
    assert all(math.isfinite(float(r["probability"])) for r in scored)
    assert {r["probability"].lower() for r in scored}.isdisjoint({"nan", "inf", "-inf", ""})
    (reject,) = read_output(tmp_path / "scores.csv.rejects.csv")
    assert reject["row"] == "2"
    reasons = reject["reason"].split(" | ")
    assert [r.split(":")[0] for r in reasons] == list(FEATURES)
    assert all("is above the hard bound" in r for r in reasons)
    assert "1 rejected" in capsys.readouterr().err


def test_strict_stops_on_a_value_beyond_its_hard_bound_with_exit_2(trained, tmp_path, capsys):
    header, rows = wdbc_rows(3)
    rows[2][header.index("area_mean")] = "9e9"  # hard bound 3,000,000
    source = write_rows(tmp_path / "in.csv", header, rows)
    code = predict(trained, "--input", str(source), "--output", str(tmp_path / "o.csv"), "--strict")
    assert code == 2
    err = capsys.readouterr().err
    assert "row 3 (id '3') is invalid: area_mean: 9e+09 is above the hard bound" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.csv"]


_cells = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.sampled_from(["", "nan", "inf", "-inf", "-1", "1e308", "abc", "0", "1e-320"]),
    st.floats(0, 3000).map(lambda v: f"{v:.6g}"),
)


@settings(
    max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.lists(st.lists(_cells, min_size=30, max_size=30), min_size=1, max_size=6))
def test_no_file_gives_a_nan_or_infinite_probability(trained, data):
    with tempfile.TemporaryDirectory() as folder:
        source = write_rows(Path(folder) / "in.csv", list(FEATURES), data)
        out = Path(folder) / "o.csv"
        assert predict(trained, "--input", str(source), "--output", str(out)) == 0
        scored = read_output(out)
        rejects = Path(folder) / "o.csv.rejects.csv"
        rejected = read_output(rejects) if rejects.exists() else []
        assert all(0 <= float(r["probability"]) <= 1 for r in scored)
        rows = sorted(int(r["row"]) for r in [*scored, *rejected])
        assert rows == list(range(1, len(data) + 1))  # every row scored or explained, once


# --- 2. the envelope -------------------------------------------------------------------------


def test_out_of_envelope_rows_are_scored_flagged_counted_and_never_high(trained, tmp_path, capsys):
    header, rows = wdbc_rows(40)
    j = header.index("smoothness_mean")
    rows[4][j] = "50"  # the data's range is about 0.05-0.16; the hard bound is 200
    source = write_rows(tmp_path / "in.csv", header, rows)
    out = tmp_path / "scores.csv"
    assert predict(trained, "--input", str(source), "--output", str(out)) == 0
    scored = pcsv.read_csv(out, convert_options=TEXT).to_pylist()

    metadata = json.loads((trained.model.folder / "promotion_metadata.json").read_text())
    bounds = metadata["envelope"]["bounds"]
    for row, record in zip(rows, scored, strict=True):
        outside = [
            f for f in FEATURES if not bounds[f][0] <= float(row[header.index(f)]) <= bounds[f][1]
        ]
        assert record["warnings"] == ";".join(outside)
        if outside:
            assert record["confidence"] == "low"
    assert "smoothness_mean" in scored[4]["warnings"].split(";")
    assert scored[4]["confidence"] == "low"
    assert "high" in {r["confidence"] for r in scored}
    flagged = sum(1 for r in scored if r["warnings"])
    err = capsys.readouterr().err
    assert f"envelope:   {flagged} scored row(s) outside the training data's range" in err


def test_a_model_without_an_envelope_says_so_and_is_never_high(trained, tmp_path, capsys):
    out = tmp_path / "scores.csv"
    model = str(trained.model.folder / "model")  # the bare MLflow model: no envelope
    code = predict(trained, "--input", str(BUNDLED_DATA), "--output", str(out), "--model", model)
    assert code == 0
    err = capsys.readouterr().err
    assert err.count("none recorded for this model") == 1
    scored = pcsv.read_csv(out, convert_options=TEXT)
    assert set(scored.column("confidence").to_pylist()) <= {"low", "medium"}


def test_a_registry_model_takes_its_envelope_from_the_training_run(trained, tmp_path, capsys):
    header, rows = wdbc_rows(5)
    rows[0][header.index("smoothness_mean")] = "50"
    source = write_rows(tmp_path / "in.csv", header, rows)
    out = tmp_path / "scores.csv"
    model = "models:/breast-cancer-classifier@champion"
    args = ["--input", str(source), "--output", str(out), "--model", model]
    assert predict(trained, *args, "--tracking-uri", trained.tracking_uri) == 0
    err = capsys.readouterr().err
    assert "none recorded" not in err
    first = pcsv.read_csv(out, convert_options=TEXT).to_pylist()[0]
    assert "smoothness_mean" in first["warnings"].split(";")
    assert first["confidence"] == "low"


# --- 3. files --------------------------------------------------------------------------------


@pytest.mark.parametrize("link", ["symlink", "hardlink"])
@pytest.mark.parametrize("flag", ["--rejects", "--output"])
def test_an_output_that_is_a_link_to_the_input_is_refused_and_the_input_kept(
    trained, tmp_path, capsys, link, flag
):
    source = tmp_path / "in.csv"
    source.write_bytes(BUNDLED_DATA.read_bytes())
    before = source.read_bytes()
    alias = tmp_path / "alias.csv"
    (os.symlink if link == "symlink" else os.link)(source, alias)
    args = {"--output": str(tmp_path / "o.csv"), "--rejects": str(tmp_path / "r.csv")}
    args[flag] = str(alias)
    code = predict(trained, "--input", str(source), *[x for kv in args.items() for x in kv])
    assert code == 2
    assert "is the input file" in capsys.readouterr().err
    assert source.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["alias.csv", "in.csv"]


def test_rejects_equal_to_the_output_is_refused(trained, tmp_path, capsys):
    out = str(tmp_path / "o.csv")
    code = predict(trained, "--input", str(BUNDLED_DATA), "--output", out, "--rejects", out)
    assert code == 2
    assert "is also the --output file" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def test_output_and_rejects_are_readable_by_their_owner_only(trained, tmp_path):
    header, rows = wdbc_rows(5)
    rows[1][header.index("radius_mean")] = "-1"
    source = write_rows(tmp_path / "in.csv", header, rows)
    out = tmp_path / "scores.csv"
    assert predict(trained, "--input", str(source), "--output", str(out)) == 0
    for path in (out, tmp_path / "scores.csv.rejects.csv"):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path


def _one_line_gz(path: Path, gib: int) -> Path:
    """A .csv.gz holding a header and then one line of ``gib`` GiB with no newline, made of
    concatenated gzip members (one is compressed once), so it is written in milliseconds."""
    piece = gzip.compress(b"1" * (16 << 20), compresslevel=9)
    assert zlib.decompress(piece, 31)  # a valid member
    with path.open("wb") as f:
        f.write(gzip.compress((",".join(FEATURES) + "\n").encode()))
        for _ in range(gib * 64):
            f.write(piece)
    return path


def test_a_csv_gz_of_one_huge_line_stops_at_1_mib_with_exit_2(trained, tmp_path):
    source = _one_line_gz(tmp_path / "huge.csv.gz", gib=4)
    started = time.monotonic()
    done = predict_into(trained, source, tmp_path / "o.csv")
    assert done.returncode == 2, done.stderr
    assert "row 1 is longer than 1 MiB (1,048,576 bytes)" in done.stderr
    assert "Traceback" not in done.stderr
    # reading 4 GiB would take far longer than the run's start-up and a few MiB of it
    assert time.monotonic() - started < 60
    assert sorted(p.name for p in tmp_path.iterdir()) == ["huge.csv.gz"]


def test_a_malformed_header_exits_2_with_a_message_not_a_traceback(trained, tmp_path):
    source = tmp_path / "in.csv"
    source.write_text('id,"radius_mean,texture_mean\n1,2,3\n')
    done = predict_into(trained, source, tmp_path / "o.csv")
    assert done.returncode == 2
    assert "the header (line 1) is not a valid CSV row" in done.stderr
    assert "Traceback" not in done.stderr


def test_strict_with_stdout_writes_nothing_to_stdout_when_a_late_row_is_invalid(trained, tmp_path):
    header, rows = wdbc_rows(569)
    rows[560][header.index("texture_mean")] = "-2"
    source = write_rows(tmp_path / "in.csv", header, rows)
    command = bcml_predict(trained, "--input", str(source), "--output", "-", "--strict")
    command += ["--chunk-size", "16"]
    done = subprocess.run(command, capture_output=True, timeout=120, check=False, cwd=tmp_path)
    assert done.returncode == 2
    assert done.stdout == b""  # 35 valid chunks came first; none of them was written
    assert b"row 561 (id '561') is invalid: texture_mean: -2 is negative" in done.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.csv"]
    rows[560][header.index("texture_mean")] = "20"
    write_rows(source, header, rows)
    done = subprocess.run(command, capture_output=True, timeout=120, check=False, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.decode().count("\n") == 1 + 569


def test_a_long_line_on_stdin_stops_the_run_without_waiting_for_the_end(trained, tmp_path):
    proc = subprocess.Popen(
        bcml_predict(trained, "--input", "-", "--output", str(tmp_path / "o.csv")),
        stdin=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
    )
    assert proc.stdin is not None and proc.stderr is not None
    try:
        with contextlib.suppress(BrokenPipeError):  # it may stop reading at the bound
            proc.stdin.write((",".join(FEATURES) + "\n").encode() + b"7" * (2 << 20))
            proc.stdin.flush()  # ... and the line never ends: the pipe stays open
        assert proc.wait(timeout=60) == 2
        err = proc.stderr.read().decode()
    finally:
        with contextlib.suppress(BrokenPipeError):
            proc.stdin.close()
        if proc.poll() is None:
            proc.kill()
    assert "stdin: row 1 is longer than 1 MiB" in err
    assert list(tmp_path.iterdir()) == []
