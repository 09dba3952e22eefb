"""Streaming CSV/Parquet input for batch scoring (pyarrow).

Readers yield :class:`Chunk` objects of at most ``chunk_size`` rows, so memory stays flat
whatever the file size: CSV as blocks of whole lines, each parsed by pyarrow on all cores (see
:class:`CsvReader` for why not ``pyarrow.csv.open_csv``), Parquet through
``ParquetFile.iter_batches``. The columns are found by
:func:`~breast_cancer_ml.adapters.table_layout.resolve_layout`.

Rows are numbered 1, 2, ... from the first data row (the header is not a row): row ``n`` of a
CSV file is its line ``n + 1``. Every message and the ``row`` columns use this numbering. A CSV
record (line) may be at most :data:`MAX_RECORD_BYTES` long; a longer one stops the run, so a
file without newlines (or a ``.csv.gz`` of one huge line) is never read into memory.
"""

from __future__ import annotations

import abc
import contextlib
import csv
import gzip
import io
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pcsv
import pyarrow.parquet as pq
from numpy.typing import NDArray

from breast_cancer_ml.adapters.table_layout import (
    STDIO,
    Layout,
    is_gzip,
    resolve_layout,
    table_format,
)
from breast_cancer_ml.domain.schema import FEATURES
from breast_cancer_ml.errors import DataValidationError

#: Bytes of CSV text per row assumed when sizing pyarrow's parse blocks from ``chunk_size``.
_CSV_BYTES_PER_ROW = 128
#: Smallest block of CSV text parsed at once (~9k rows of WDBC data): large enough that
#: pyarrow's per-call costs vanish, small enough to keep memory flat.
_MIN_CSV_BLOCK = 2 << 20
#: Rows per Parquet batch read at once (then handed out in ``chunk_size`` slices).
_MIN_PARQUET_BATCH = 65_536
#: Longest CSV record (line, newline excluded) read, in bytes: 1 MiB. A WDBC row is ~400 bytes.
MAX_RECORD_BYTES = 1 << 20


@dataclass(frozen=True)
class Chunk:
    """Consecutive input rows, features as floats in the model's column order.

    ``start`` is the 0-based position of the first row in the input. ``X`` has NaN where a value
    is missing or not a number; ``not_numeric`` marks the cells whose text was present but is
    not a number (so the other NaN are missing values). ``ids`` is the ``id`` column, if any.
    """

    start: int
    X: NDArray[np.float64]
    not_numeric: NDArray[np.bool_]
    ids: pa.Array | None

    @property
    def n_rows(self) -> int:
        return int(self.X.shape[0])

    def split(self, size: int) -> Iterator[Chunk]:
        """This chunk in consecutive pieces of at most ``size`` rows."""
        for offset in range(0, self.n_rows, size):
            yield self.rows(offset, size)

    def rows(self, offset: int, length: int) -> Chunk:
        """Rows ``offset .. offset + length`` of this chunk (views, no copy)."""
        end = offset + length
        return Chunk(
            start=self.start + offset,
            X=self.X[offset:end],
            not_numeric=self.not_numeric[offset:end],
            ids=None if self.ids is None else self.ids.slice(offset, length),
        )


def _floats(
    values: pa.Array | pa.ChunkedArray, column: str, where: str
) -> tuple[NDArray[np.float64], Any]:
    """A float64 numpy copy of ``values`` (null -> NaN) and a not-a-number mask or ``None``."""
    kind = values.type
    if pa.types.is_null(kind):
        return np.full(len(values), np.nan), None
    if pa.types.is_float64(kind):  # the CSV reader's typed parse: one copy, nulls as NaN
        return np.asarray(values.to_numpy(zero_copy_only=False), dtype=np.float64), None
    if pa.types.is_floating(kind) or pa.types.is_integer(kind) or pa.types.is_decimal(kind):
        out = pc.cast(values, pa.float64()).to_numpy(zero_copy_only=False)
        return np.asarray(out, dtype=np.float64), None
    if not (pa.types.is_string(kind) or pa.types.is_large_string(kind)):
        raise DataValidationError(
            f"{where}: column {column!r} has type {kind}; expected numbers (or their text)."
        )
    for candidate in (values, pc.utf8_trim_whitespace(values)):
        with contextlib.suppress(pa.ArrowInvalid):
            cast = pc.cast(candidate, pa.float64()).to_numpy(zero_copy_only=False)
            return np.asarray(cast, dtype=np.float64), None
    # Some cells are not numbers: parse this column of this chunk one value at a time.
    texts = values.to_pylist()
    out = np.full(len(texts), np.nan)
    bad = np.zeros(len(texts), dtype=np.bool_)
    for i, text in enumerate(texts):
        if text is None or not text.strip():
            continue
        try:
            if "_" in text:  # Python's float() reads "1_0" as 10; a CSV number never has one
                raise ValueError(text)
            out[i] = float(text)
        except ValueError:
            bad[i] = True
    return out, bad


def _copy_floats(values: pa.Array | pa.ChunkedArray, out: NDArray[np.float64]) -> bool:
    """Copy a float64 column without nulls into ``out`` straight from its Arrow buffers; False
    (and nothing done) for any other column, which :func:`_floats` converts instead.

    One copy and no conversion call: pyarrow's ``to_numpy`` would also import pandas (see
    :mod:`~breast_cancer_ml.adapters.arrow_arrays`), which the batch path does without.
    """
    if not pa.types.is_float64(values.type) or values.null_count:
        return False
    pieces = values.chunks if isinstance(values, pa.ChunkedArray) else [values]
    start = 0
    for piece in pieces:
        n = len(piece)
        data = piece.buffers()[1]
        if n and data is not None:
            out[start : start + n] = np.frombuffer(
                data, dtype=np.float64, count=n, offset=piece.offset * 8
            )
        start += n
    return True


def _filled(values: pa.Array | pa.ChunkedArray) -> pa.Array | pa.ChunkedArray:
    """A boolean array: True where a cell holds something (not null, not blank text)."""
    valid = pc.is_valid(values)
    if pa.types.is_string(values.type) or pa.types.is_large_string(values.type):
        blank = pc.equal(pc.utf8_trim_whitespace(values), "")
        return pc.and_(valid, pc.invert(pc.fill_null(blank, True)))
    return valid


class TableReader(abc.ABC):
    """Iterate over an input table as :class:`Chunk` objects. Use as a context manager."""

    def __init__(self, where: str, layout: Layout, chunk_size: int) -> None:
        self.where = where
        self.layout = layout
        self.chunk_size = chunk_size
        self.total_rows: int | None = None
        self.id_type: pa.DataType = pa.string()

    @abc.abstractmethod
    def _batches(self) -> Iterator[pa.RecordBatch | pa.Table]:
        """The input's rows as record batches or tables, in order (each reader's own format).

        Each is converted to floats in one pass and then handed out in ``chunk_size`` slices,
        so a small ``chunk_size`` does not make the parsing or the conversion slower.
        """

    def close(self) -> None:  # noqa: B027 - optional hook, a no-op by default
        """Release the input (a no-op unless a subclass holds something)."""

    def __enter__(self) -> TableReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __iter__(self) -> Iterator[Chunk]:
        for block in self.blocks():
            yield from block.split(self.chunk_size)

    def parsed(self) -> Iterator[pa.RecordBatch | pa.Table]:
        """The input as parsed, before conversion (:meth:`blocks` converts them)."""
        return self._batches()

    def blocks(self, parsed: Iterable[pa.RecordBatch | pa.Table] | None = None) -> Iterator[Chunk]:
        """The input as large chunks, each converted to floats in one pass.

        ``parsed`` is :meth:`parsed`'s output, possibly produced elsewhere (``bcml predict``
        parses in a read-ahead thread and converts in the scoring thread); default: parse here.
        """
        start = 0
        for big in self._batches() if parsed is None else parsed:
            whole = self._chunk(big, start)
            yield whole
            start += whole.n_rows

    def _chunk(self, batch: pa.RecordBatch | pa.Table, start: int) -> Chunk:
        n = batch.num_rows
        for name in self.layout.ignored:
            filled = _filled(batch.column(name))
            if pc.any(filled).as_py():
                first = int(np.flatnonzero(filled.to_numpy(zero_copy_only=False))[0])
                raise DataValidationError(
                    f"{self.where}: unknown column {name.strip()!r} has values (first at row "
                    f"{start + first + 1}). Remove it or rename it to a WDBC column."
                )
        # Column-major: each column is one contiguous copy (a row-major X costs 4x more here);
        # the scorer and scikit-learn take either layout.
        X = np.empty((n, len(self.layout.features)), dtype=np.float64, order="F")
        not_numeric = np.zeros(X.shape, dtype=np.bool_, order="F")
        for j, name in enumerate(self.layout.features):
            column = batch.column(name)
            if _copy_floats(column, X[:, j]):
                continue
            X[:, j], bad = _floats(column, name.strip(), self.where)
            if bad is not None:
                not_numeric[:, j] = bad
        ids: Any = batch.column(self.layout.id) if self.layout.id is not None else None
        if isinstance(ids, pa.ChunkedArray):
            ids = ids.combine_chunks()
        if ids is not None and pa.types.is_string(ids.type):
            ids = pc.utf8_trim_whitespace(ids)
        return Chunk(start=start, X=X, not_numeric=not_numeric, ids=ids)


class CsvReader(TableReader):
    """A CSV file, ``.csv.gz`` file or stdin (``-``), parsed one block of lines at a time.

    The text is read in blocks of at least 2 MB (more for a large ``chunk_size``), cut after
    the last newline, and
    each block is parsed by ``pyarrow.csv.read_csv`` (multi-threaded) with the features typed
    as float64. Cutting the blocks here, rather than using pyarrow's streaming reader, bounds
    memory (that reader parses many blocks ahead), isolates a block with a non-numeric value
    (only that block is parsed again as text) and gives exact line numbers for errors. Like
    pyarrow's default, values must not contain newlines.
    """

    def __init__(self, source: str, chunk_size: int, columns: tuple[str, ...] = FEATURES) -> None:
        where = "stdin" if source == STDIO else source
        self._owned: IO[bytes] | None = None
        self._stream: IO[bytes]
        try:
            if source == STDIO:
                self._stream = sys.stdin.buffer
            else:
                # Closed by close(): the reader outlives this constructor.
                opened: Any = (
                    gzip.open(source, "rb")  # noqa: SIM115
                    if is_gzip(source)
                    else Path(source).open("rb")  # noqa: SIM115
                )
                self._owned = self._stream = opened
            header = self._stream.readline(MAX_RECORD_BYTES + 1)
        except FileNotFoundError:
            raise DataValidationError(f"{where}: no such file.") from None
        except (OSError, EOFError) as exc:
            self.close()
            raise DataValidationError(f"{where}: cannot read the file ({exc}).") from None
        if len(header) > MAX_RECORD_BYTES:
            self.close()
            raise DataValidationError(
                f"{where}: the header (line 1) is longer than {_MIB}; expected a CSV header "
                f"of column names."
            )
        try:
            self._names = _parse_header(header, where)
        except DataValidationError:
            self.close()
            raise
        layout = resolve_layout(self._names, where, columns)
        super().__init__(where, layout, chunk_size)
        self._block = min(max(chunk_size * _CSV_BYTES_PER_ROW, _MIN_CSV_BLOCK), 64 << 20)
        wanted = [*layout.features, *([layout.id] if layout.id else []), *layout.ignored]
        # pyarrow parses the pieces of one block in parallel: four per block keeps two cores
        # busy on the per-block parse without reading further ahead (which costs memory).
        self._read = pcsv.ReadOptions(
            column_names=self._names, block_size=max(self._block // 4, 1 << 16)
        )
        self._typed = pcsv.ConvertOptions(
            column_types={
                name: pa.float64() if name in layout.features else pa.string() for name in wanted
            },
            include_columns=wanted,
            strings_can_be_null=True,
        )
        self._text = pcsv.ConvertOptions(
            column_types=dict.fromkeys(wanted, pa.string()),
            include_columns=wanted,
            strings_can_be_null=True,
        )

    def _blocks(self) -> Iterator[tuple[int, bytes]]:
        """``(row number of the block's first line, whole lines of text)``.

        A line longer than :data:`MAX_RECORD_BYTES` stops the read as soon as it is seen:
        at most that much plus one block is ever held.
        """
        row = 1  # the header is line 1; row 1 is line 2
        rest = b""
        while True:
            try:
                data = self._stream.read(self._block)
            except (OSError, EOFError) as exc:
                raise DataValidationError(f"{self.where}: cannot read the file ({exc}).") from None
            if not data:
                if len(rest) > MAX_RECORD_BYTES:
                    raise self._too_long(row)
                if rest.strip():
                    yield row, rest
                return
            buffer = rest + data
            cut = buffer.rfind(b"\n") + 1
            if cut == 0:  # no newline yet: a long line; keep reading up to the bound
                if len(buffer) > MAX_RECORD_BYTES:
                    raise self._too_long(row)
                rest = buffer
                continue
            block, rest = buffer[:cut], buffer[cut:]
            long_line = first_long_line(block, MAX_RECORD_BYTES)
            if long_line is not None:
                raise self._too_long(row + block.count(b"\n", 0, long_line))
            lines = block.count(b"\n")
            if len(rest) > MAX_RECORD_BYTES:
                raise self._too_long(row + lines)
            yield row, block
            row += lines

    def _too_long(self, row: int) -> DataValidationError:
        return DataValidationError(
            f"{self.where}: row {row} is longer than {_MIB} (the longest record read); a "
            f"WDBC row is about 400 bytes. Is this a CSV file with one case per line?"
        )

    def _batches(self) -> Iterator[pa.Table]:
        for line, block in self._blocks():
            try:
                table = self._parse(block, self._typed)
            except pa.ArrowInvalid as exc:
                if "conversion error" not in str(exc):
                    raise self._structure_error(line, block, exc) from None
                # A value that is not a number: read this block's features as text; the
                # reader marks those cells and the rows go to the rejects.
                try:
                    table = self._parse(block, self._text)
                except pa.ArrowInvalid as again:  # e.g. bytes that are not UTF-8 text
                    raise self._structure_error(line, block, again) from None
            if table.num_rows:
                yield table

    def _parse(self, block: bytes, convert: pcsv.ConvertOptions) -> pa.Table:
        try:
            return pcsv.read_csv(
                pa.BufferReader(block), read_options=self._read, convert_options=convert
            )
        except pa.ArrowInvalid as exc:
            # pyarrow parses a block in pieces of block_size bytes and refuses a line that
            # spans more than two of them ("straddling object"); a long line (up to
            # MAX_RECORD_BYTES) is legal here, so parse such a block in one piece.
            if "straddling" not in str(exc):
                raise
        whole = pcsv.ReadOptions(column_names=self._names, block_size=len(block) + 1)
        return pcsv.read_csv(pa.BufferReader(block), read_options=whole, convert_options=convert)

    def _structure_error(
        self, line: int, block: bytes, exc: pa.ArrowInvalid
    ) -> DataValidationError:
        expected = len(self._names)
        try:
            block.decode("utf-8")
        except UnicodeDecodeError as bad:
            at = line + block.count(b"\n", 0, bad.start)
            return DataValidationError(
                f"{self.where}: row {at} is not UTF-8 text (byte 0x{block[bad.start]:02x}). "
                f"Save the file as UTF-8 CSV."
            )
        text = block.decode("utf-8", errors="replace").splitlines()
        with contextlib.suppress(csv.Error):  # e.g. a NUL byte: pyarrow's message says enough
            for offset, row in enumerate(csv.reader(text)):
                if row and len(row) != expected:
                    return DataValidationError(
                        f"{self.where}: row {line + offset} has {len(row)} field(s); the "
                        f"header has {expected}. Fix or remove that row."
                    )
        return _csv_error(self.where, exc)

    def close(self) -> None:
        if self._owned is not None:
            self._owned.close()
            self._owned = None


def _parse_header(line: bytes, where: str) -> list[str]:
    if not line.strip():
        raise DataValidationError(f"{where}: the file is empty; expected a CSV with a header row.")
    try:
        text = line.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise DataValidationError(f"{where}: not a UTF-8 text file; expected a CSV.") from None
    try:
        names = next(csv.reader(io.StringIO(text), strict=True))
    except csv.Error as exc:
        raise DataValidationError(
            f"{where}: the header (line 1) is not a valid CSV row ({exc}); expected the column "
            f"names separated by commas."
        ) from None
    return names


_MIB = f"1 MiB ({MAX_RECORD_BYTES:,} bytes)"


def first_long_line(block: bytes, limit: int) -> int | None:
    """The offset of the first line of ``block`` longer than ``limit`` bytes (newline
    excluded), or None. Looks back from ``limit`` bytes ahead for the last newline, so it
    costs a few ``rfind`` calls per ``limit`` bytes, not one per line."""
    start = 0
    while len(block) - start > limit:
        newline = block.rfind(b"\n", start, start + limit + 1)
        if newline == -1:
            return start
        start = newline + 1
    return None


def _csv_error(where: str, exc: pa.ArrowInvalid) -> DataValidationError:
    message = str(exc).replace("\n", " ")
    return DataValidationError(f"{where}: not a well-formed CSV ({message}).")


class ParquetReader(TableReader):
    """A Parquet file, read one row group slice at a time."""

    def __init__(self, source: str, chunk_size: int, columns: tuple[str, ...] = FEATURES) -> None:
        try:
            self._file = pq.ParquetFile(source)
        except FileNotFoundError:
            raise DataValidationError(f"{source}: no such file.") from None
        except (OSError, pa.ArrowException) as exc:
            raise DataValidationError(f"{source}: not a readable Parquet file ({exc}).") from None
        schema = self._file.schema_arrow
        layout = resolve_layout(list(schema.names), source, columns)
        super().__init__(source, layout, chunk_size)
        self.total_rows = self._file.metadata.num_rows
        if layout.id is not None:
            self.id_type = schema.field(layout.id).type
        self._columns = [*layout.features, *([layout.id] if layout.id else []), *layout.ignored]

    def _batches(self) -> Iterator[pa.RecordBatch]:
        try:
            yield from self._file.iter_batches(
                batch_size=max(self.chunk_size, _MIN_PARQUET_BATCH), columns=self._columns
            )
        except (OSError, pa.ArrowException) as exc:
            raise DataValidationError(f"{self.where}: cannot read the file ({exc}).") from None

    def close(self) -> None:
        self._file.close()


def open_reader(source: str, chunk_size: int, columns: tuple[str, ...] = FEATURES) -> TableReader:
    """A reader for ``source`` (format from the extension; ``-`` is CSV on stdin)."""
    if table_format(source) == "parquet":
        return ParquetReader(source, chunk_size, columns)
    return CsvReader(source, chunk_size, columns)
