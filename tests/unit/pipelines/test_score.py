"""Pieces of `bcml predict` that need no model: reject file naming, the warnings column and
the progress line."""

from __future__ import annotations

import io

import numpy as np
import pytest

from breast_cancer_ml.pipelines.score import Progress, rejects_path_for, warning_column


@pytest.mark.parametrize(
    ("output", "expected"),
    [
        ("out/scores.csv", "out/scores.csv.rejects.csv"),
        ("scores.CSV.gz", "scores.CSV.gz.rejects.csv"),
        ("/data/s.parquet", "/data/s.parquet.rejects.csv"),
        ("s3a://bucket/scores.parquet/", "s3a://bucket/scores.parquet.rejects.csv"),  # Spark
        ("-", "bcml-rejects.csv"),
    ],
)
def test_reject_file_is_named_after_the_full_output_name(output, expected):
    assert rejects_path_for(output, None) == expected
    assert rejects_path_for(output, "mine.csv") == "mine.csv"


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_shows_rows_and_rate_on_a_terminal_only():
    tty = Terminal()
    bar = Progress(tty, total=200)
    bar.update(100, 1, final=False)
    bar.update(200, 3, final=True)
    text = tty.getvalue()
    assert text.startswith("\r")
    assert "200 rows 100.0%" in text
    assert "rows/s" in text
    assert "3 rejected" in text
    assert text.endswith("\n")

    pipe = io.StringIO()  # isatty() is False
    quiet = Progress(pipe, total=None)
    quiet.update(10, 0, final=True)
    assert pipe.getvalue() == ""


def test_warning_column_puts_each_text_at_its_row_and_leaves_the_rest_empty():
    column = warning_column(5, np.array([1, 4]), ["radius_mean", "a;b"])
    assert column.to_pylist() == ["", "radius_mean", "", "", "a;b"]
    assert warning_column(3, np.array([], dtype=np.int64), []).to_pylist() == ["", "", ""]
