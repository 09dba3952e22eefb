"""`bcml predict` end to end on real files, a real promoted model and a real MLflow registry."""

from __future__ import annotations

import csv
import os
import re
import subprocess
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pcsv
import pyarrow.parquet as pq
import pytest
from benchmarks.synthetic import synthetic_table

from breast_cancer_ml.cli import main
from breast_cancer_ml.domain.schema import FEATURES

from .conftest import BCML, Trained

pytestmark = pytest.mark.integration

N_ROWS = 3_000
BAD = {  # 0-based data row -> (column, text written, reason)
    10: ("radius_mean", "abc", "radius_mean: not a number"),
    11: ("texture_mean", "", "texture_mean: missing"),
    500: ("area_mean", "-3", "area_mean: -3 is negative; measurements are >= 0"),
    2_999: ("symmetry_worst", "inf", "symmetry_worst: inf is not a finite number"),
}


@pytest.fixture(scope="module")
def table() -> pa.Table:
    return synthetic_table(N_ROWS, seed=7)


@pytest.fixture(scope="module")
def csv_input(tmp_path_factory, table) -> Path:
    path = tmp_path_factory.mktemp("in") / "cases.csv"
    pcsv.write_csv(table, path)
    lines = path.read_text().splitlines()
    header = next(csv.reader([lines[0]]))
    for row, (column, text, _) in BAD.items():
        cells = lines[row + 1].split(",")
        cells[header.index(column)] = text
        lines[row + 1] = ",".join(cells)
    path.write_text("\n".join(lines) + "\n")
    return path


def expected_scores(trained: Trained, table: pa.Table) -> tuple[np.ndarray, np.ndarray]:
    """Independent reference: scikit-learn's own predict_proba on the valid rows."""
    X = np.column_stack([table.column(c).to_numpy() for c in FEATURES])
    keep = np.ones(len(X), dtype=bool)
    keep[list(BAD)] = False
    ids = table.column("id").to_numpy()[keep]
    return ids, trained.model.pipeline.predict_proba(X[keep])[:, 1]


def predict(trained: Trained, *args: str) -> int:
    return main(["predict", "--models-dir", str(trained.models_dir), *args])


def test_csv_scores_every_valid_row_in_input_order_and_rejects_the_rest(
    trained, table, csv_input, tmp_path, capsys
):
    out = tmp_path / "scores.csv"
    assert (
        predict(trained, "--input", str(csv_input), "--output", str(out), "--chunk-size", "7") == 0
    )
    result = pcsv.read_csv(out)
    assert result.column_names == [
        "row",
        "id",
        "prediction",
        "prediction_label",
        "probability",
        "confidence",
        "decision",
        "prediction_set",
        "warnings",
        "model_version",
    ]
    ids, proba = expected_scores(trained, table)
    np.testing.assert_array_equal(result.column("id").to_numpy(), ids)
    np.testing.assert_array_equal(result.column("row").to_numpy(), ids)  # synthetic id = row
    np.testing.assert_allclose(result.column("probability").to_numpy(), proba, atol=1e-12)
    prediction = result.column("prediction").to_numpy()
    np.testing.assert_array_equal(prediction, (proba >= trained.model.threshold).astype(int))
    labels = result.column("prediction_label").to_pylist()
    assert labels == ["Malignant" if p else "Benign" for p in prediction]
    assert set(result.column("model_version").to_pylist()) == {trained.model.run_id}

    rejects = list(csv.DictReader((tmp_path / "scores.csv.rejects.csv").open()))
    assert [(int(r["row"]), r["id"], r["reason"]) for r in rejects] == [
        (row + 1, str(row + 1), reason) for row, (_, _, reason) in BAD.items()
    ]
    err = capsys.readouterr().err
    assert "3,000 read, 2,996 scored, 4 rejected" in err
    last = err.strip().splitlines()[-1]
    assert last == f"NOT scored: 4 row(s), listed with the reason in {tmp_path / 'scores.csv'}" + (
        ".rejects.csv"
    )
    assert "\r" not in err  # no progress bar when stderr is not a terminal
    assert not list(tmp_path.glob("*.partial"))


def test_chunk_size_does_not_change_the_output(trained, csv_input, tmp_path):
    small, large = tmp_path / "a.csv", tmp_path / "b.csv"
    assert (
        predict(trained, "--input", str(csv_input), "--output", str(small), "--chunk-size", "1")
        == 0
    )
    assert predict(trained, "--input", str(csv_input), "--output", str(large)) == 0
    a, b = pcsv.read_csv(small), pcsv.read_csv(large)
    # Same rows, ids and predictions; probabilities equal to the last bits (BLAS sums a
    # matrix-vector product in an order that depends on the number of rows).
    assert a.drop_columns(["probability"]).equals(b.drop_columns(["probability"]))
    np.testing.assert_allclose(
        a.column("probability").to_numpy(), b.column("probability").to_numpy(), atol=1e-14
    )
    assert (tmp_path / "a.csv.rejects.csv").read_bytes() == (
        tmp_path / "b.csv.rejects.csv"
    ).read_bytes()


def test_parquet_in_and_out_give_the_same_scores(trained, table, tmp_path):
    source = tmp_path / "cases.parquet"
    pq.write_table(table.drop_columns(["diagnosis"]), source, row_group_size=1000)
    out = tmp_path / "scores.parquet"
    assert predict(trained, "--input", str(source), "--output", str(out)) == 0
    result = pq.read_table(out)
    assert result.schema.field("id").type == pa.int64()
    X = np.column_stack([table.column(c).to_numpy() for c in FEATURES])
    expected = trained.model.pipeline.predict_proba(X)[:, 1]
    np.testing.assert_allclose(result.column("probability").to_numpy(), expected, atol=1e-12)
    assert not (tmp_path / "scores.parquet.rejects.csv").exists()  # no rejects, no file


def test_stdin_to_stdout(trained, csv_input, tmp_path):
    done = subprocess.run(
        [
            *BCML,
            "predict",
            "--models-dir",
            str(trained.models_dir),
            "--input",
            "-",
            "--output",
            "-",
        ],
        input=csv_input.read_bytes(),
        capture_output=True,
        cwd=tmp_path,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr.decode()
    lines = done.stdout.decode().splitlines()
    assert lines[0] == (
        '"row","id","prediction","prediction_label","probability","confidence","decision",'
        '"prediction_set","warnings",'
        '"model_version"'
    )
    assert len(lines) == 1 + N_ROWS - len(BAD)
    assert (tmp_path / "bcml-rejects.csv").read_text().count("\n") == 1 + len(BAD)
    assert b"4 rejected" in done.stderr


def test_strict_stops_at_the_first_invalid_row_with_exit_2(trained, csv_input, tmp_path, capsys):
    out = tmp_path / "scores.csv"
    assert predict(trained, "--input", str(csv_input), "--output", str(out), "--strict") == 2
    err = capsys.readouterr().err
    assert "row 11 (id '11') is invalid: radius_mean: not a number" in err
    assert "Traceback" not in err
    assert list(tmp_path.iterdir()) == []  # no output, no reject file, no partial file


def test_bad_input_and_bad_model_are_clear_errors(trained, csv_input, tmp_path, capsys):
    missing = tmp_path / "missing.csv"
    missing.write_text("id,radius_mean\n1,2\n")
    assert predict(trained, "--input", str(missing), "--output", str(tmp_path / "o.csv")) == 2
    assert "missing column(s)" in capsys.readouterr().err
    assert predict(trained, "--input", str(csv_input), "--output", str(tmp_path / "o.json")) == 2
    assert "unknown file type" in capsys.readouterr().err
    assert predict(trained, "--input", str(csv_input), "--output", str(csv_input)) == 2
    assert "is the input file" in capsys.readouterr().err
    code = predict(
        trained,
        "--input",
        str(csv_input),
        "--output",
        str(tmp_path / "o.csv"),
        "--model",
        str(tmp_path / "nope"),
    )
    assert code == 4
    assert "no such model folder" in capsys.readouterr().err
    assert (
        main(["predict", "--input", str(csv_input), "--output", "o.csv", "--chunk-size", "0"]) == 2
    )
    assert "chunk_size" in capsys.readouterr().err


@pytest.mark.parametrize("kind", ["history", "mlflow", "registry"])
def test_every_model_source_gives_the_same_scores(trained, csv_input, tmp_path, kind, capsys):
    reference = tmp_path / "ref.csv"
    assert predict(trained, "--input", str(csv_input), "--output", str(reference)) == 0
    model = {
        "history": str(trained.model.folder),
        "mlflow": str(trained.model.folder / "model"),
        "registry": "models:/breast-cancer-classifier@champion",
    }[kind]
    out = tmp_path / "other.csv"
    args = ["--input", str(csv_input), "--output", str(out), "--model", model]
    assert predict(trained, *args, "--tracking-uri", trained.tracking_uri) == 0
    err = capsys.readouterr().err
    if kind == "mlflow":  # a bare MLflow model carries no envelope: never "high" confidence
        assert "envelope:   none recorded for this model" in err
        text = pcsv.ConvertOptions(column_types={"warnings": pa.string()})
        other, ref = (pcsv.read_csv(p, convert_options=text) for p in (out, reference))
        judged = ["confidence", "warnings", "decision", "prediction_set"]
        assert other.drop_columns(judged).equals(ref.drop_columns(judged))
        # nor a refer rule: the set is the thresholded class, and no row is referred for
        # being out of an envelope it does not have
        labels = other.column("prediction_label").to_pylist()
        assert other.column("prediction_set").to_pylist() == labels
        assert other.column("decision").to_pylist() == [label.lower() for label in labels]
        assert set(other.column("warnings").to_pylist()) == {""}  # nothing to compare with
        assert "high" in ref.column("confidence").to_pylist()
        assert set(other.column("confidence").to_pylist()) <= {"low", "medium"}
    else:  # the registry model's envelope comes from its training run's run_summary.json
        assert out.read_bytes() == reference.read_bytes()
        assert "envelope:   none recorded" not in err
    assert f"run {trained.model.run_id}, threshold 0.5" in err
    if kind == "registry":
        assert "models:/breast-cancer-classifier@champion" in err


def test_unknown_registry_alias_is_a_model_store_error(trained, csv_input, tmp_path, capsys):
    code = predict(
        trained,
        "--input",
        str(csv_input),
        "--output",
        str(tmp_path / "o.csv"),
        "--model",
        "models:/breast-cancer-classifier@nope",
        "--tracking-uri",
        trained.tracking_uri,
    )
    assert code == 4
    assert "models:/breast-cancer-classifier@nope" in capsys.readouterr().err


def test_progress_bar_on_a_real_terminal(trained, csv_input, tmp_path):
    import os
    import pty

    leader, follower = pty.openpty()
    try:
        done = subprocess.run(
            [
                *BCML,
                "predict",
                "--models-dir",
                str(trained.models_dir),
                "--input",
                str(csv_input),
                "--output",
                str(tmp_path / "o.csv"),
            ],
            stderr=follower,
            stdout=subprocess.DEVNULL,
            timeout=120,
            check=False,
        )
        os.close(follower)
        follower = -1
        chunks = []
        while True:
            try:
                data = os.read(leader, 65536)
            except OSError:  # EIO: the terminal has no writer left
                break
            if not data:
                break
            chunks.append(data)
    finally:
        if follower != -1:
            os.close(follower)
        os.close(leader)
    assert done.returncode == 0
    text = b"".join(chunks).decode()
    # the progress line redraws itself with a carriage return: "\r        3,000 rows  ... rows/s"
    assert re.search(r"\r +3,000 rows +[\d,]+ rows/s", text), text


def test_the_console_command_scores_a_published_model_without_importing_pandas(
    trained, csv_input, tmp_path
):
    """`bcml predict` on a published model reads and writes with pyarrow: its own process
    keeps scikit-learn from importing pandas (time and memory it never uses), and the
    scores are the same as an in-process run's, which has pandas loaded."""
    console, in_process = tmp_path / "console.csv", tmp_path / "in_process.csv"
    args = ["predict", "--models-dir", str(trained.models_dir), "--input", str(csv_input)]
    done = subprocess.run(
        [*BCML, *args, "--output", str(console)],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPROFILEIMPORTTIME": "1"},
    )
    assert done.returncode == 0, done.stderr
    imported = {line.rsplit("|", 1)[1].strip() for line in done.stderr.splitlines() if "|" in line}
    assert "numpy" in imported and "sklearn.base" in imported  # the import log is real
    assert not {m for m in imported if m.startswith("pandas.")}
    assert main([*args, "--output", str(in_process)]) == 0
    assert console.read_bytes() == in_process.read_bytes()
