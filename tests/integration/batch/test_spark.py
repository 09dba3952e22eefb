"""`bcml predict --engine spark` in local mode, compared row by row with the local engine.

One SparkSession serves the whole module (JVM start-up dominates); `run_spark_predict` reuses
an active session and leaves it running. Spark needs Java 17: without a ``java`` (on the PATH or
under JAVA_HOME) these tests fail and say what to install (``.ci/run`` installs it), rather
than pass by checking nothing.
"""

from __future__ import annotations

import csv
import os
import shutil
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pcsv
import pyarrow.parquet as pq
import pytest
from benchmarks.synthetic import synthetic_table

from breast_cancer_ml.cli import main

from .conftest import RULE, Trained


def _java() -> str | None:
    """The ``java`` pyspark would start: JAVA_HOME's, else the one on the PATH."""
    home = os.environ.get("JAVA_HOME")
    if home and os.access(Path(home) / "bin" / "java", os.X_OK):
        return str(Path(home) / "bin" / "java")
    return shutil.which("java")


pytestmark = [pytest.mark.integration, pytest.mark.spark]

BAD = {
    3: ("radius_mean", "x1"),
    1_234: ("area_se", ""),
    2_500: ("area_mean", "1e308"),  # beyond the hard bound: rejected, never a NaN
    4_000: ("texture_worst", "-2"),
}


@pytest.fixture(scope="module")
def spark():
    if _java() is None:  # a skipped test checks nothing: say what to install instead
        pytest.fail(
            "the Spark engine needs Java 17 and no java was found (PATH, JAVA_HOME): "
            "apt-get install openjdk-17-jre-headless (.ci/run installs it)",
            pytrace=False,
        )
    from breast_cancer_ml.pipelines.spark_score import spark_session

    session = spark_session(
        "local[2]",
        "bcml-tests",
        **{
            "spark.ui.enabled": "false",
            "spark.sql.shuffle.partitions": "2",
            # small input splits, so one test file is scored as several partitions
            "spark.sql.files.maxPartitionBytes": "262144",
            "spark.sql.files.openCostInBytes": "0",
        },
    )
    yield session
    session.stop()


@pytest.fixture(scope="module")
def csv_input(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("spark-in") / "cases.csv"
    pcsv.write_csv(synthetic_table(5_000, seed=11), path)
    lines = path.read_text().splitlines()
    header = next(csv.reader([lines[0]]))
    for row, (column, text) in BAD.items():
        cells = lines[row + 1].split(",")
        cells[header.index(column)] = text
        lines[row + 1] = ",".join(cells)
    path.write_text("\n".join(lines) + "\n")
    return path


def spark_parts(folder: Path, fmt: str) -> pa.Table:
    """A Spark output folder read back part by part in name order (= partition order)."""
    parts = sorted(folder.glob(f"part-*.{fmt}" if fmt == "csv" else "part-*.parquet"))
    assert parts, f"no part files in {folder}"
    read = pcsv.read_csv if fmt == "csv" else pq.read_table
    return pa.concat_tables([read(p) for p in parts])


def bcml(trained: Trained, *args: str) -> int:
    return main(["predict", "--models-dir", str(trained.models_dir), *args])


def assert_same_scores(local: pa.Table, distributed: pa.Table) -> None:
    assert distributed.column_names == local.column_names
    for name in (
        "row",
        "id",
        "prediction",
        "prediction_label",
        "confidence",
        "decision",
        "model_version",
    ):
        assert distributed.column(name).to_pylist() == local.column(name).to_pylist(), name
    # an all-empty CSV column reads back as nulls
    for name in ("warnings", "prediction_set"):
        texts = [w or "" for w in distributed.column(name).to_pylist()]
        assert texts == [w or "" for w in local.column(name).to_pylist()], name
    np.testing.assert_allclose(
        distributed.column("probability").to_numpy(),
        local.column("probability").to_numpy(),
        rtol=0,
        atol=1e-14,  # BLAS sums in an order that depends on the batch size
    )


def test_spark_matches_the_local_engine_row_by_row(spark, trained, csv_input, tmp_path, capsys):
    assert bcml(trained, "--input", str(csv_input), "--output", str(tmp_path / "local.csv")) == 0
    capsys.readouterr()
    out = tmp_path / "spark.parquet"
    code = bcml(
        trained,
        "--engine",
        "spark",
        "--master",
        "local[2]",
        "--input",
        str(csv_input),
        "--output",
        str(out),
    )
    assert code == 0
    err = capsys.readouterr().err
    n_partitions = int(err.split("spark:")[1].split(",")[1].split()[0])
    assert n_partitions > 1, err  # row numbers and order hold across partitions
    assert "5,000 read, 4,996 scored, 4 rejected" in err

    local = pcsv.read_csv(
        tmp_path / "local.csv",
        convert_options=pcsv.ConvertOptions(column_types={"id": pa.string()}),
    )
    assert_same_scores(local, spark_parts(out, "parquet"))

    local_rejects = list(csv.DictReader((tmp_path / "local.csv.rejects.csv").open()))
    spark_rejects = [
        row
        for part in sorted((tmp_path / "spark.parquet.rejects.csv").glob("part-*.csv"))
        for row in csv.DictReader(part.open())
    ]
    assert spark_rejects == local_rejects
    assert [int(r["row"]) for r in spark_rejects] == [row + 1 for row in BAD]
    assert not list(tmp_path.glob("*.partial"))


def test_spark_reads_a_folder_of_parquet_parts(spark, trained, tmp_path, capsys):
    table = synthetic_table(3_000, seed=12)
    folder = tmp_path / "parts"
    folder.mkdir()
    for i in range(3):
        pq.write_table(table.slice(i * 1_000, 1_000), folder / f"part-{i}.parquet")
    pq.write_table(table, tmp_path / "all.parquet")
    assert (
        bcml(
            trained,
            "--input",
            str(tmp_path / "all.parquet"),
            "--output",
            str(tmp_path / "local.parquet"),
        )
        == 0
    )
    out = tmp_path / "scores.csv"
    code = bcml(trained, "--engine", "spark", "--input", str(folder), "--output", str(out))
    assert code == 0
    err = capsys.readouterr().err
    assert "3,000 read, 3,000 scored, 0 rejected" in err
    assert err.strip().splitlines()[-1] == "NOT scored: none (no reject file written)"
    assert not (tmp_path / "scores.csv.rejects.csv").exists()
    # a reject folder left by an earlier run would describe another input: it goes
    stale = tmp_path / "scores.csv.rejects.csv"
    stale.mkdir()
    (stale / "part-00000-old.csv").write_text("row,id,reason\n7,7,radius_mean: missing\n")
    (stale / "_SUCCESS").write_text("")
    assert bcml(trained, "--engine", "spark", "--input", str(folder), "--output", str(out)) == 0
    assert f"removed {stale} left by an earlier run" in capsys.readouterr().err
    assert not stale.exists()
    local = pq.read_table(tmp_path / "local.parquet").sort_by("id")
    assert_same_scores(local, spark_parts(out, "csv").sort_by("id"))


def test_spark_strict_stops_with_exit_2_and_writes_nothing(
    spark, trained, csv_input, tmp_path, capsys
):
    out = tmp_path / "scores.parquet"
    code = bcml(
        trained, "--engine", "spark", "--strict", "--input", str(csv_input), "--output", str(out)
    )
    assert code == 2
    assert "row 4 (id '4') is invalid: radius_mean: not a number" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def test_spark_max_rejects_stops_with_exit_2_and_writes_nothing(
    spark, trained, csv_input, tmp_path, capsys
):
    out = tmp_path / "scores.parquet"
    args = ["--engine", "spark", "--input", str(csv_input), "--output", str(out)]
    assert bcml(trained, *args, "--max-rejects", "3") == 2
    err = capsys.readouterr().err
    assert "4 invalid row(s), more than --max-rejects 3; nothing written" in err
    assert "The first: row 4 (id '4'): radius_mean: not a number" in err
    assert list(tmp_path.iterdir()) == []


def test_spark_gives_the_local_engines_decisions_under_a_refer_rule(
    spark, with_rule, csv_input, tmp_path, capsys
):
    assert bcml(with_rule, "--input", str(csv_input), "--output", str(tmp_path / "local.csv")) == 0
    local_err = capsys.readouterr().err
    out = tmp_path / "spark.parquet"
    args = ["--engine", "spark", "--master", "local[2]", "--input", str(csv_input)]
    assert bcml(with_rule, *args, "--output", str(out)) == 0
    err = capsys.readouterr().err
    local = pcsv.read_csv(
        tmp_path / "local.csv",
        convert_options=pcsv.ConvertOptions(column_types={"id": pa.string()}),
    )
    distributed = spark_parts(out, "parquet")
    assert_same_scores(local, distributed)
    decisions = local.column("decision").to_pylist()
    assert {"malignant", "benign", "refer"} <= set(decisions)  # the rule is exercised
    referred = f"decisions:  {decisions.count('refer'):,} of 4,996 scored row(s) referred"
    assert referred in local_err and referred in err
    assert f"alpha {RULE.alpha:g}" in err
