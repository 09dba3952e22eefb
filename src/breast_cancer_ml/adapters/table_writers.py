"""Atomic CSV/Parquet output for batch scoring (pyarrow).

Writers write to ``<name>.<pid>.<random>.partial`` beside the target, created exclusively with
mode 0o600 (it holds patient data), and rename it over the target only on
:meth:`AtomicTableWriter.commit`, so an interrupted run never leaves a truncated file under the
name of a complete one. ``-`` means stdout, CSV only.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.csv as pcsv
import pyarrow.parquet as pq

from breast_cancer_ml.adapters.table_layout import STDIO, is_gzip, table_format
from breast_cancer_ml.errors import ConfigError

#: Suffix of the files a writer fills before they are complete.
PARTIAL_SUFFIX = ".partial"


def create_partial(folder: Path, name: str) -> tuple[int, Path]:
    """A new, empty ``<name>.<pid>.<random>.partial`` in ``folder``: created exclusively
    (``O_EXCL``: never an existing file or a planted link) with mode 0o600, since it holds
    patient data. Returns the open descriptor and the path."""
    fd, path = tempfile.mkstemp(prefix=f"{name}.{os.getpid()}.", suffix=PARTIAL_SUFFIX, dir=folder)
    return fd, Path(path)


def _open_created(fd: int, path: Path, gzip_csv: bool) -> pa.NativeFile:
    """A pyarrow stream writing to the file ``fd`` (from :func:`create_partial`) refers to.

    pyarrow opens files by name only, and its native file writes faster than a Python file
    object. The name is opened again and checked to be the very file created exclusively
    (same inode, held open until then), so nothing swapped in under that name is written to.
    """
    try:
        native = pa.OSFile(str(path), mode="w")
        mine, opened = os.fstat(fd), os.fstat(native.fileno())
        if (mine.st_dev, mine.st_ino) != (opened.st_dev, opened.st_ino):
            native.close()
            raise ConfigError(f"{path} was replaced while being opened; not writing to it.")
    finally:
        os.close(fd)
    return pa.CompressedOutputStream(native, "gzip") if gzip_csv else native


class AtomicTableWriter:
    """Write record batches as CSV or Parquet to ``target`` atomically (or to stdout: ``-``).

    Batches go to a partial file (:func:`create_partial`); :meth:`commit` fsyncs and renames it
    over ``target`` (which keeps mode 0o600); :meth:`abort` (or leaving the ``with`` block on an
    exception) deletes it. For stdout, ``hold=True`` writes to a partial file in the temporary
    folder and copies it to stdout only on :meth:`commit`, so nothing reaches stdout from a run
    that fails (``--strict`` with ``--output -``).
    """

    def __init__(self, target: str, schema: pa.Schema, *, hold: bool = False) -> None:
        self.target = target
        self.schema = schema
        self.fmt = table_format(target)
        self.rows = 0
        self._path: Path | None = None
        self._to_stdout = target == STDIO
        self._stream: pa.NativeFile | None = None
        sink: Any
        if self._to_stdout and not hold:
            sink = sys.stdout.buffer
        else:
            if self._to_stdout:
                fd, self._path = create_partial(Path(tempfile.gettempdir()), "bcml-stdout")
            else:
                final = Path(target)
                if final.is_dir():
                    raise ConfigError(f"{target} is a folder; give a file name for the output.")
                final.parent.mkdir(parents=True, exist_ok=True)
                fd, self._path = create_partial(final.parent, final.name)
            gzip_csv = is_gzip(target) and self.fmt == "csv"
            sink = self._stream = _open_created(fd, self._path, gzip_csv)
        self._writer: pcsv.CSVWriter | pq.ParquetWriter
        if self.fmt == "parquet":
            self._writer = pq.ParquetWriter(sink, schema)
        else:
            options = pcsv.WriteOptions(quoting_style="needed")
            self._writer = pcsv.CSVWriter(sink, schema, write_options=options)
        self._open = True

    def write(self, batch: pa.RecordBatch) -> None:
        self._writer.write_batch(batch)
        self.rows += batch.num_rows

    def _close(self) -> None:
        if self._open:
            self._open = False
            self._writer.close()
            if self._stream is not None:
                self._stream.close()

    def commit(self) -> None:
        """Finish the file and give it its final name."""
        self._close()
        if self._path is None:
            sys.stdout.buffer.flush()
            return
        if self._to_stdout:
            with self._path.open("rb") as held:
                shutil.copyfileobj(held, sys.stdout.buffer, 1 << 20)
            sys.stdout.buffer.flush()
            self._path.unlink()
            self._path = None
            return
        fd = os.open(self._path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        self._path.replace(self.target)
        dir_fd = os.open(self._path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
        self._path = None

    def abort(self) -> None:
        """Drop the unfinished file."""
        with contextlib.suppress(Exception):
            self._close()
        if self._path is not None:
            self._path.unlink(missing_ok=True)
            self._path = None

    def __enter__(self) -> AtomicTableWriter:
        return self

    def __exit__(self, exc_type: object, *exc: object) -> None:
        if exc_type is not None:
            self.abort()
        elif self._path is not None or self._open:
            self.abort()  # left without commit(): nothing is published
