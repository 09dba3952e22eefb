"""Atomic writers of batch scoring, on real files (and a held stdout)."""

from __future__ import annotations

import gzip
import io
import stat
import sys

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from breast_cancer_ml.adapters.table_layout import REJECT_SCHEMA
from breast_cancer_ml.adapters.table_writers import AtomicTableWriter
from breast_cancer_ml.errors import ConfigError


def _batch(n: int) -> pa.RecordBatch:
    return pa.record_batch(
        [pa.array(range(n), pa.int64()), pa.array(["x"] * n), pa.array(["why"] * n)],
        schema=REJECT_SCHEMA,
    )


@pytest.mark.parametrize("name", ["out.csv", "out.parquet", "out.csv.gz"])
def test_writer_commits_by_rename_and_leaves_nothing_partial(tmp_path, name):
    target = tmp_path / "sub" / name
    with AtomicTableWriter(str(target), REJECT_SCHEMA) as writer:
        writer.write(_batch(3))
        (partial,) = target.parent.glob(f"{name}.*.partial")
        assert stat.S_IMODE(partial.stat().st_mode) == 0o600  # patient data: owner only
        assert not target.exists()
        writer.commit()
    assert target.exists()
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert list(target.parent.iterdir()) == [target]
    if name.endswith(".parquet"):
        assert pq.read_table(target).num_rows == 3
    elif name.endswith(".gz"):
        assert gzip.decompress(target.read_bytes()).decode().count("\n") == 4
    else:
        assert target.read_text().splitlines()[0] == '"row","id","reason"'


def test_writer_failure_keeps_the_previous_file_and_removes_the_partial(tmp_path):
    target = tmp_path / "out.csv"
    target.write_text("previous complete output\n")

    def fail_mid_write() -> None:
        with AtomicTableWriter(str(target), REJECT_SCHEMA) as writer:
            writer.write(_batch(3))
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        fail_mid_write()
    assert target.read_text() == "previous complete output\n"
    assert list(tmp_path.iterdir()) == [target]


def test_writer_refuses_a_folder(tmp_path):
    (tmp_path / "d.csv").mkdir()
    with pytest.raises(ConfigError, match="is a folder"):
        AtomicTableWriter(str(tmp_path / "d.csv"), REJECT_SCHEMA)


def test_held_stdout_gets_nothing_until_commit(tmp_path, monkeypatch):
    captured = io.BytesIO()
    monkeypatch.setattr(sys, "stdout", io.TextIOWrapper(captured))
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", None)  # re-read TMPDIR
    with AtomicTableWriter("-", REJECT_SCHEMA, hold=True) as writer:
        writer.write(_batch(2))
        (held,) = tmp_path.glob("bcml-stdout.*.partial")
        assert stat.S_IMODE(held.stat().st_mode) == 0o600
        assert captured.getvalue() == b""
        writer.commit()
    assert captured.getvalue().decode().splitlines()[0] == '"row","id","reason"'
    assert list(tmp_path.iterdir()) == []

    with AtomicTableWriter("-", REJECT_SCHEMA, hold=True) as writer:
        writer.write(_batch(2))
        # left without commit (a --strict failure): nothing reaches stdout
    assert captured.getvalue().decode().count("\n") == 3
    assert list(tmp_path.iterdir()) == []
