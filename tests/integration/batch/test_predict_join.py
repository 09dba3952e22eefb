"""Batch results a user can join back to the input, and a summary that says what was not scored
(issue #15), through the real CLI on real files."""

from __future__ import annotations

import csv
import re
import shlex
import shutil
import subprocess
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from breast_cancer_ml.cli import main
from breast_cancer_ml.domain.schema import FEATURES
from breast_cancer_ml.settings import BUNDLED_DATA

from .conftest import BCML, Trained

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[3]


def predict(trained: Trained, *args: str) -> int:
    return main(["predict", "--models-dir", str(trained.models_dir), *args])


def features_only(path: Path, n: int, bad: dict[int, str]) -> Path:
    """The first ``n`` bundled cases without id or diagnosis; ``bad`` maps a 1-based row to
    the text written in its radius_mean."""
    with BUNDLED_DATA.open() as f:
        reader = csv.DictReader(f)
        rows = [[row[c] for c in FEATURES] for _, row in zip(range(n), reader, strict=False)]
    for row, text in bad.items():
        rows[row - 1][0] = text
    with path.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(FEATURES)
        writer.writerows(rows)
    return path


def last_line(err: str) -> str:
    return err.strip().splitlines()[-1]


def test_a_file_without_id_gets_row_numbers_that_join_back_and_match_the_rejects(
    trained, tmp_path, capsys
):
    source = features_only(tmp_path / "cases.csv", 30, {5: "abc", 17: "-4"})
    out = tmp_path / "scores.csv"
    assert predict(trained, "--input", str(source), "--output", str(out), "--chunk-size", "4") == 0
    scored = list(csv.DictReader(out.open()))
    assert [int(r["row"]) for r in scored] == [r for r in range(1, 31) if r not in (5, 17)]
    assert {r["id"] for r in scored} == {""}
    inputs = list(csv.DictReader(source.open()))
    for record in scored:  # the row number finds the input row that was scored
        case = inputs[int(record["row"]) - 1]
        assert case["radius_mean"] not in ("abc", "-4")
    rejects = list(csv.DictReader((tmp_path / "scores.csv.rejects.csv").open()))
    assert [(r["row"], r["reason"].split(":")[0]) for r in rejects] == [
        ("5", "radius_mean"),
        ("17", "radius_mean"),
    ]
    err = capsys.readouterr().err
    assert last_line(err) == (
        f"NOT scored: 2 row(s), listed with the reason in {tmp_path / 'scores.csv.rejects.csv'}"
    )


def test_strict_and_structure_errors_use_the_same_row_numbers_as_the_rejects(
    trained, tmp_path, capsys
):
    source = features_only(tmp_path / "cases.csv", 10, {5: "abc"})
    args = ["--input", str(source), "--output", str(tmp_path / "o.csv")]
    assert predict(trained, *args, "--strict") == 2
    assert "row 5 is invalid: radius_mean: not a number" in capsys.readouterr().err

    lines = source.read_text().splitlines()
    lines[7] = lines[7].rsplit(",", 2)[0]  # data row 7 loses two fields
    source.write_text("\n".join(lines) + "\n")
    assert predict(trained, *args) == 2
    assert "row 7 has 28 field(s); the header has 30" in capsys.readouterr().err


def test_no_rejects_means_no_reject_file_and_the_summary_says_none(trained, tmp_path, capsys):
    source = features_only(tmp_path / "cases.csv", 10, {3: "abc"})
    out = tmp_path / "scores.csv"
    assert predict(trained, "--input", str(source), "--output", str(out)) == 0
    assert (tmp_path / "scores.csv.rejects.csv").exists()
    capsys.readouterr()

    features_only(source, 10, {})  # fixed: the earlier reject file would now be wrong
    assert predict(trained, "--input", str(source), "--output", str(out)) == 0
    assert last_line(capsys.readouterr().err) == (
        "NOT scored: none (no reject file written); removed "
        f"{tmp_path / 'scores.csv.rejects.csv'} left by an earlier run"
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cases.csv", "scores.csv"]


def test_csv_and_parquet_runs_keep_their_own_reject_files(trained, tmp_path):
    source = features_only(tmp_path / "cases.csv", 10, {2: "abc"})
    assert predict(trained, "--input", str(source), "--output", str(tmp_path / "s.csv")) == 0
    assert predict(trained, "--input", str(source), "--output", str(tmp_path / "s.parquet")) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "cases.csv",
        "s.csv",
        "s.csv.rejects.csv",
        "s.parquet",
        "s.parquet.rejects.csv",
    ]
    assert pq.read_table(tmp_path / "s.parquet").column("row").to_pylist()[:2] == [1, 3]


def test_max_rejects_turns_too_many_rejects_into_exit_2_and_writes_nothing(
    trained, tmp_path, capsys
):
    source = features_only(tmp_path / "cases.csv", 40, {3: "x", 9: "", 33: "-1"})
    out = tmp_path / "scores.csv"
    args = ["--input", str(source), "--output", str(out), "--chunk-size", "8"]
    assert predict(trained, *args, "--max-rejects", "2") == 2
    err = capsys.readouterr().err
    assert "more than 2 invalid row(s) (--max-rejects 2) by row 40" in err
    assert "The first: row 3: radius_mean: not a number" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cases.csv"]
    assert predict(trained, *args, "--max-rejects", "3") == 0
    assert "NOT scored: 3 row(s)" in capsys.readouterr().err


def test_the_batch_examples_of_the_readme_and_the_batch_doc_work_as_written(trained, tmp_path):
    examples = []
    for doc in ("README.md", "docs/batch.md"):
        found = re.findall(
            r"^(bcml predict --input src/\S+ --output \S+)$", (REPO / doc).read_text(), re.M
        )
        assert found, f"{doc} shows how to score the bundled file"
        examples += found
    # a fresh clone after `bcml train`: models/ and the bundled data under src/
    (tmp_path / "models").symlink_to(trained.models_dir)
    data = tmp_path / "src" / "breast_cancer_ml" / "data"
    data.mkdir(parents=True)
    shutil.copy(BUNDLED_DATA, data / "wdbc.csv")
    for example in examples:
        argv = shlex.split(example)
        done = subprocess.run(
            [*BCML, *argv[1:]], cwd=tmp_path, capture_output=True, text=True, timeout=120
        )
        assert done.returncode == 0, done.stderr
        output = tmp_path / argv[argv.index("--output") + 1]
        assert sum(1 for _ in output.open()) == 1 + 569
        assert "NOT scored: none" in done.stderr
