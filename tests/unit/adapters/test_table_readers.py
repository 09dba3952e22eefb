"""Streaming readers of batch scoring, on real small files."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given
from hypothesis import strategies as st

from breast_cancer_ml.adapters import table_readers
from breast_cancer_ml.adapters.table_readers import MAX_RECORD_BYTES, first_long_line, open_reader
from breast_cancer_ml.domain.schema import FEATURES
from breast_cancer_ml.errors import DataValidationError


def _rows(n: int) -> list[list[float]]:
    return [[round(0.5 + i + j / 100, 4) for j in range(len(FEATURES))] for i in range(n)]


def write_csv(path: Path, rows: list[list[object]], header: list[str], text: str = "") -> Path:
    lines = [",".join(header)] + [",".join(str(v) for v in row) for row in rows]
    path.write_text(text or "\n".join(lines) + "\n")
    return path


def test_csv_chunks_in_feature_order_with_ids_kaggle_trailing_column_and_bom(tmp_path):
    rows = _rows(5)
    order = list(reversed(FEATURES))  # column order is free
    body = [
        [f"00{i}", "M", *[row[FEATURES.index(c)] for c in order], ""] for i, row in enumerate(rows)
    ]
    path = write_csv(tmp_path / "in.csv", body, ["id", "diagnosis", *order, ""])
    path.write_bytes(b"\xef\xbb\xbf" + path.read_bytes())
    with open_reader(str(path), chunk_size=2) as reader:
        chunks = list(reader)
    assert [c.start for c in chunks] == [0, 2, 4]
    assert [c.n_rows for c in chunks] == [2, 2, 1]
    X = np.vstack([c.X for c in chunks])
    np.testing.assert_array_equal(X, np.array(rows))
    ids = [i for c in chunks for i in c.ids.to_pylist()]
    assert ids == ["000", "001", "002", "003", "004"]  # text: leading zeros kept
    assert not any(c.not_numeric.any() for c in chunks)


def test_csv_bad_values_become_nan_with_a_not_a_number_mask(tmp_path):
    rows: list[list[object]] = [list(r) for r in _rows(4)]
    rows[1][0] = "abc"
    rows[2][1] = ""
    rows[3][2] = " 7.5 "
    path = write_csv(tmp_path / "in.csv", rows, list(FEATURES))
    with open_reader(str(path), chunk_size=100) as reader:
        (chunk,) = list(reader)
    assert chunk.ids is None
    assert np.isnan(chunk.X[1, 0])
    assert np.isnan(chunk.X[2, 1])
    assert chunk.X[3, 2] == 7.5
    assert np.argwhere(chunk.not_numeric).tolist() == [[1, 0]]


@pytest.mark.parametrize(
    ("cell", "value", "not_numeric"),
    [
        ("1_0", np.nan, True),  # Python's float() would read it as 10
        ("1e3", 1000.0, False),
        (" 2.5\t", 2.5, False),
        ("abc", np.nan, True),
        ("", np.nan, False),  # blank: missing, not "not a number"
        ("   ", np.nan, False),
        ("7", 7.0, False),
    ],
)
def test_how_a_csv_cell_is_read_and_the_rest_of_its_row_still_is(
    tmp_path, cell, value, not_numeric
):
    rows: list[list[object]] = [list(r) for r in _rows(2)]
    rows[1][0] = cell
    path = write_csv(tmp_path / "in.csv", rows, list(FEATURES))
    with open_reader(str(path), chunk_size=100) as reader:
        (chunk,) = list(reader)
    np.testing.assert_array_equal(chunk.X[1, 0], value)
    assert bool(chunk.not_numeric[1, 0]) is not_numeric
    np.testing.assert_array_equal(chunk.X[1, 1:], np.array(rows[1][1:], dtype=np.float64))
    np.testing.assert_array_equal(chunk.X[0], np.array(rows[0], dtype=np.float64))
    assert np.argwhere(chunk.not_numeric).tolist() == ([[1, 0]] if not_numeric else [])
    assert (chunk.X.dtype, chunk.not_numeric.dtype) == (np.float64, np.bool_)


def test_csv_unknown_column_with_a_value_is_refused_with_its_row(tmp_path):
    rows = [[*r, ""] for r in _rows(3)]
    rows[2][-1] = "oops"
    path = write_csv(tmp_path / "in.csv", rows, [*FEATURES, "notes"])
    with (
        open_reader(str(path), chunk_size=100) as reader,
        pytest.raises(
            DataValidationError, match=r"unknown column 'notes' has values \(first at row 3\)"
        ),
    ):
        list(reader)


def test_csv_line_with_wrong_field_count_is_named(tmp_path):
    path = write_csv(tmp_path / "in.csv", _rows(4), list(FEATURES))
    lines = path.read_text().splitlines()
    lines[3] = lines[3].rsplit(",", 1)[0]
    path.write_text("\n".join(lines) + "\n")
    with (
        open_reader(str(path), chunk_size=100) as reader,
        pytest.raises(DataValidationError, match=r"row 3 has 29 field\(s\); the header has 30"),
    ):
        list(reader)


def test_empty_and_missing_files_are_clear_errors(tmp_path):
    (tmp_path / "empty.csv").write_text("")
    with pytest.raises(DataValidationError, match="the file is empty"):
        open_reader(str(tmp_path / "empty.csv"), 10)
    with pytest.raises(DataValidationError, match="no such file"):
        open_reader(str(tmp_path / "nope.csv"), 10)
    with pytest.raises(DataValidationError, match="no such file"):
        open_reader(str(tmp_path / "nope.parquet"), 10)


def test_csv_gz_and_header_only(tmp_path):
    path = write_csv(tmp_path / "in.csv", _rows(3), list(FEATURES))
    gz = tmp_path / "in.csv.gz"
    gz.write_bytes(gzip.compress(path.read_bytes()))
    with open_reader(str(gz), 100) as reader:
        assert sum(c.n_rows for c in reader) == 3
    only_header = write_csv(tmp_path / "h.csv", [], list(FEATURES))
    with open_reader(str(only_header), 100) as reader:
        assert list(reader) == []


def test_large_csv_is_read_in_bounded_blocks_in_order(tmp_path):
    n = 20_000  # several 64 KiB parse blocks
    rows = [[i + 0.25] * len(FEATURES) for i in range(n)]
    path = write_csv(tmp_path / "big.csv", [[i, *r] for i, r in enumerate(rows)], ["id", *FEATURES])
    with open_reader(str(path), chunk_size=100) as reader:
        chunks = list(reader)
    assert max(c.n_rows for c in chunks) <= 100
    assert [c.start for c in chunks] == list(np.cumsum([0] + [c.n_rows for c in chunks[:-1]]))
    X = np.vstack([c.X for c in chunks])
    np.testing.assert_array_equal(X[:, 0], np.arange(n) + 0.25)


def test_parquet_reader_casts_numbers_and_keeps_id_type(tmp_path):
    rows = np.array(_rows(5))
    columns = {"id": pa.array(np.arange(10, 15))}
    for j, c in enumerate(FEATURES):
        columns[c] = pa.array(rows[:, j].astype(np.float32) if j % 2 else rows[:, j])
    columns["area_mean"] = pa.array([1, 2, None, 4, 5], type=pa.int32())
    path = tmp_path / "in.parquet"
    pq.write_table(pa.table(columns), path)
    with open_reader(str(path), chunk_size=2) as reader:
        assert reader.total_rows == 5
        assert reader.id_type == pa.int64()
        chunks = list(reader)
    X = np.vstack([c.X for c in chunks])
    assert X[:, 3].tolist()[:2] == [1.0, 2.0]
    assert np.isnan(X[2, 3])
    assert [i for c in chunks for i in c.ids.to_pylist()] == [10, 11, 12, 13, 14]


def test_parquet_string_features_are_parsed(tmp_path):
    rows = _rows(2)
    columns = {c: pa.array([str(r[j]) for r in rows]) for j, c in enumerate(FEATURES)}
    columns["radius_mean"] = pa.array(["1.5", "x"])
    path = tmp_path / "s.parquet"
    pq.write_table(pa.table(columns), path)
    with open_reader(str(path), chunk_size=10) as reader:
        (chunk,) = list(reader)
    assert chunk.X[0, 0] == 1.5
    assert np.argwhere(chunk.not_numeric).tolist() == [[1, 0]]


def test_float_columns_are_copied_exactly_from_every_piece_of_a_chunked_column() -> None:
    values = np.random.default_rng(0).normal(size=100)
    whole = pa.array(values)
    chunked = pa.chunked_array([whole.slice(0, 30), whole.slice(30, 45), whole.slice(75)])
    out = np.full((100, 2), np.nan, order="F")
    assert table_readers._copy_floats(chunked, out[:, 1])
    np.testing.assert_array_equal(out[:, 1], values)
    assert np.isnan(out[:, 0]).all()


@pytest.mark.parametrize(
    "column",
    [pa.array([1.0, None, 3.0]), pa.array([1, 2, 3]), pa.array(["1.0", "2", "x"])],
)
def test_columns_with_nulls_or_other_types_are_left_to_the_general_conversion(
    column: pa.Array,
) -> None:
    out = np.zeros(3)
    assert not table_readers._copy_floats(column, out)
    assert (out == 0).all()


@pytest.mark.parametrize("gz", [False, True])
def test_a_line_longer_than_1_mib_stops_the_read_with_its_row(tmp_path, gz):
    path = write_csv(tmp_path / "in.csv", _rows(3), list(FEATURES))
    lines = path.read_bytes().splitlines(keepends=True)
    long_line = b"1," * (MAX_RECORD_BYTES // 2 + 1) + b"\n"
    data = b"".join([*lines[:3], long_line, lines[3]])
    if gz:
        path = tmp_path / "in.csv.gz"
        path.write_bytes(gzip.compress(data))
    else:
        path.write_bytes(data)
    with (
        open_reader(str(path), chunk_size=100) as reader,
        pytest.raises(DataValidationError, match=r"row 3 is longer than 1 MiB \(1,048,576 bytes"),
    ):
        list(reader)


def test_a_line_of_exactly_1_mib_is_read(tmp_path):
    path = write_csv(tmp_path / "in.csv", _rows(2), list(FEATURES))
    first, second = path.read_bytes().splitlines(keepends=True)[1:]
    padded = first.rstrip(b"\n") + b" " * (MAX_RECORD_BYTES - len(first) + 1) + b"\n"
    assert len(padded) == MAX_RECORD_BYTES + 1
    path.write_bytes(b",".join(f.encode() for f in FEATURES) + b"\n" + padded + second)
    with open_reader(str(path), chunk_size=100) as reader:
        assert sum(c.n_rows for c in reader) == 2


def test_a_header_without_a_newline_is_not_read_past_1_mib(tmp_path):
    path = tmp_path / "in.csv"
    path.write_bytes(b"a" * (3 * MAX_RECORD_BYTES))
    with pytest.raises(DataValidationError, match=r"the header \(line 1\) is longer than 1 MiB"):
        open_reader(str(path), 100)


def test_a_malformed_header_is_a_clear_error(tmp_path):
    path = tmp_path / "in.csv"
    path.write_text('id,"radius_mean\n1,2\n')
    with pytest.raises(DataValidationError, match=r"the header \(line 1\) is not a valid CSV row"):
        open_reader(str(path), 100)


def test_a_nul_byte_in_a_data_row_is_a_clear_error(tmp_path):
    path = write_csv(tmp_path / "in.csv", _rows(3), list(FEATURES))
    data = path.read_bytes().replace(b"\n", b"\n\x00,,", 2)
    path.write_bytes(data)
    with open_reader(str(path), 100) as reader, pytest.raises(DataValidationError, match="row"):
        list(reader)


def _first_long_line_by_hand(block: bytes, limit: int) -> int | None:
    start = 0
    for line in block.split(b"\n"):
        if len(line) > limit:
            return start
        start += len(line) + 1
    return None


@given(st.lists(st.integers(0, 40), max_size=30), st.integers(1, 30))
def test_first_long_line_finds_what_a_line_by_line_scan_finds(lengths, limit):
    block = b"".join(b"x" * n + b"\n" for n in lengths)
    assert first_long_line(block, limit) == _first_long_line_by_hand(block, limit)


@pytest.mark.parametrize("column", [0, 1])
def test_bytes_that_are_not_utf8_are_a_clear_error_naming_the_row(tmp_path, column):
    path = write_csv(
        tmp_path / "in.csv", [[i, *r] for i, r in enumerate(_rows(3))], ["id", *FEATURES]
    )
    lines = path.read_bytes().split(b"\n")
    cells = lines[2].split(b",")
    cells[column] = b"\xff" + cells[column]
    lines[2] = b",".join(cells)
    path.write_bytes(b"\n".join(lines))
    with (
        open_reader(str(path), chunk_size=100) as reader,
        pytest.raises(DataValidationError, match=r"row 2 is not UTF-8 text \(byte 0xff\)"),
    ):
        list(reader)
