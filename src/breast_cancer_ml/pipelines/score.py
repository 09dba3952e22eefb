"""``bcml predict``: score a CSV/Parquet file of any size with a promoted model.

The input is read in chunks (:mod:`~breast_cancer_ml.adapters.table_readers`), each chunk is
validated and scored by :func:`~breast_cancer_ml.domain.batch.score_rows` (the same function the
API's batch route and the Spark engine call), valid rows are appended to the output and invalid
ones to the reject file. Both files are written under temporary names and renamed when the whole
input has been scored; the reject file only exists when some row was rejected.

Every output row carries its input row number (``row``, 1-based data rows), its ``confidence``
(never "high" outside the model's plausibility envelope, or when the model has none) and its
``warnings`` (the out-of-envelope features, ``;``-separated).
"""

from __future__ import annotations

import contextlib
import functools
import os
import signal
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

import numpy as np
import pyarrow as pa
from numpy.typing import NDArray

from breast_cancer_ml.adapters.arrow_arrays import arrow_array, arrow_strings
from breast_cancer_ml.adapters.read_ahead import ReadAhead
from breast_cancer_ml.adapters.table_layout import (
    REJECT_SCHEMA,
    STDIO,
    output_schema,
    table_format,
)
from breast_cancer_ml.adapters.table_readers import Chunk, open_reader
from breast_cancer_ml.adapters.table_writers import AtomicTableWriter
from breast_cancer_ml.domain.batch import LABELS, RowsScored, score_rows
from breast_cancer_ml.domain.refer import DECISIONS, SET_LABELS, Referral
from breast_cancer_ml.domain.schema import FEATURES
from breast_cancer_ml.domain.scoring import CONFIDENCE_LEVELS
from breast_cancer_ml.errors import ConfigError, DataValidationError
from breast_cancer_ml.settings import PredictSettings

if TYPE_CHECKING:  # the model store imports scikit-learn: loaded in run_predict, see there
    from breast_cancer_ml.adapters.model_store import PublishedModel

DEFAULT_STDOUT_REJECTS = "bcml-rejects.csv"


@functools.cache
def _labels() -> pa.Array:
    """prediction -> label as an Arrow array: ``take`` labels a chunk without a Python loop.

    Built from buffers (:func:`arrow_strings`): ``pa.array`` would import pandas.
    """
    return arrow_strings([str(label) for label in LABELS])


@functools.cache
def _levels() -> pa.Array:
    """confidence index -> level name, as :func:`_labels`."""
    return arrow_strings(list(CONFIDENCE_LEVELS))


@functools.cache
def _decision_names() -> pa.Array:
    """decision code -> decision (:data:`~breast_cancer_ml.domain.refer.DECISIONS`)."""
    return arrow_strings(list(DECISIONS))


@functools.cache
def _set_names() -> pa.Array:
    """set code -> the set's class names joined by ``;`` (:data:`.refer.SET_LABELS`)."""
    return arrow_strings(list(SET_LABELS))


#: What the summary says when the model carries no plausibility envelope.
NO_ENVELOPE = (
    "none recorded for this model (a bare MLflow model, or a run trained before envelopes): "
    'no row is known to be in distribution, so no confidence is "high"'
)


@dataclass(frozen=True)
class PredictSummary:
    """What a ``bcml predict`` run did. ``rejects`` is None when no row was rejected (no reject
    file is written); ``out_of_envelope`` is None when the model has no envelope."""

    rows: int
    scored: int
    rejected: int
    seconds: float
    output: str
    rejects: str | None
    run_id: str
    threshold: float
    model_source: str
    out_of_envelope: int | None = None
    stale_rejects_removed: str | None = None
    #: scored rows referred to a pathologist (decision "refer")
    referred: int = 0
    #: the refer rule, e.g. "mondrian-split-conformal, alpha 0.05"; None: the model has none
    refer_rule: str | None = None

    @property
    def rows_per_second(self) -> float:
        return self.rows / self.seconds if self.seconds > 0 else 0.0

    def lines(self) -> list[str]:
        if self.out_of_envelope is None:
            envelope = NO_ENVELOPE
        elif self.out_of_envelope:
            envelope = (
                f"{self.out_of_envelope:,} scored row(s) outside the training data's range "
                f'(features named in the warnings column; their confidence is never "high")'
            )
        else:
            envelope = "every scored row inside the training data's range"
        if self.rejected:
            not_scored = f"{self.rejected:,} row(s), listed with the reason in {self.rejects}"
        else:
            not_scored = "none (no reject file written)"
            if self.stale_rejects_removed:
                not_scored += f"; removed {self.stale_rejects_removed} left by an earlier run"
        return [
            f"model:      {self.model_source} (run {self.run_id}, threshold {self.threshold:g})",
            *self.engine_lines(),
            f"rows:       {self.rows:,} read, {self.scored:,} scored, {self.rejected:,} rejected",
            f"envelope:   {envelope}",
            f"decisions:  {self.decision_text()}",
            f"time:       {self.seconds:.2f} s ({self.rows_per_second:,.0f} rows/s)",
            f"output:     {self.output}",
            f"NOT scored: {not_scored}",
        ]

    def decision_text(self) -> str:
        rule = (
            f"refer rule {self.refer_rule}"
            if self.refer_rule
            else "no refer rule recorded for this model: the set is the thresholded class; "
            "only rows outside the envelope are referred"
        )
        return (
            f"{self.referred:,} of {self.scored:,} scored row(s) referred to a pathologist "
            f"(decision column; {rule})"
        )

    def engine_lines(self) -> list[str]:
        """Lines an engine adds after the model line (none for the local engine)."""
        return []


def rejects_path_for(output: str, configured: str | None) -> str:
    """``--rejects`` if given, else ``<output>.rejects.csv`` beside the output (the full name,
    so the rejects of ``scores.csv`` and ``scores.parquet`` never overwrite each other)."""
    if configured:
        return configured
    if output == STDIO:
        return DEFAULT_STDOUT_REJECTS
    return f"{output.rstrip('/')}.rejects.csv"  # text, not Path: keeps s3a://... intact


class Progress:
    """A one-line progress display (rows, rows/s) on a terminal; silent otherwise."""

    def __init__(self, stream: TextIO, total: int | None, enabled: bool | None = None) -> None:
        self.stream = stream
        self.total = total
        self.enabled = stream.isatty() if enabled is None else enabled
        self.started = time.perf_counter()
        self._last = 0.0

    def update(self, rows: int, rejected: int, final: bool = False) -> None:
        if not self.enabled:
            return
        now = time.perf_counter()
        if not final and now - self._last < 0.2:
            return
        self._last = now
        elapsed = max(now - self.started, 1e-9)
        pct = f" {100 * rows / self.total:5.1f}%" if self.total else ""
        line = f"\r{rows:>13,} rows{pct}  {rows / elapsed:>11,.0f} rows/s  {rejected:,} rejected"
        self.stream.write(line + ("\n" if final else ""))
        self.stream.flush()


class Terminated(BaseException):
    """SIGTERM arrived: unwind (deleting partial files); the CLI exits 143."""


@contextlib.contextmanager
def _sigterm_unwinds() -> Iterator[None]:
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, frame: Any) -> None:
        raise Terminated

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def same_file(a: str, b: str) -> bool:
    """Whether paths ``a`` and ``b`` name one file: the same real path (symlinks resolved), or
    the same ``(st_dev, st_ino)`` (a hard link). False when either does not exist and their
    real paths differ."""
    if os.path.realpath(a) == os.path.realpath(b):
        return True
    try:
        return Path(a).samefile(b)
    except OSError:  # one of them does not exist (yet)
        return False


def check_paths(source: str, output: str, rejects: str) -> None:
    """Refuse, before anything is written, an output or reject file that is the input (or a
    link to it) or each other: a run must never overwrite its own input."""
    table_format(source)
    table_format(output)
    if rejects == STDIO or table_format(rejects) != "csv":
        raise ConfigError(f"--rejects {rejects}: the reject file is a .csv file.")
    check_distinct(source, output, rejects)


def check_distinct(source: str, output: str, rejects: str) -> None:
    """The same-file part of :func:`check_paths` (files or folders)."""
    named = [("--output", output), ("--rejects", rejects)]
    for i, (flag, path) in enumerate(named):
        if path == STDIO:
            continue
        if source != STDIO and same_file(path, source):
            raise ConfigError(
                f"{flag} {path} is the input file {source} (or a link to it); a run never "
                f"overwrites its input. Choose another name."
            )
        for other_flag, other in named[:i]:
            if other != STDIO and same_file(path, other):
                raise ConfigError(
                    f"{flag} {path} is also the {other_flag} file; choose another name."
                )


def _lean_memory_pool() -> None:
    """Use jemalloc for pyarrow's buffers unless the user chose a pool.

    pyarrow's default mimalloc keeps more freed pages per parsing thread, so its peak memory
    is higher at the same speed (the batch benchmark measures the peak).
    """
    if "ARROW_DEFAULT_MEMORY_POOL" in os.environ:
        return
    with contextlib.suppress(NotImplementedError, AttributeError):  # built without jemalloc
        pa.set_memory_pool(pa.jemalloc_memory_pool())


def run_predict(
    settings: PredictSettings,
    *,
    stderr: TextIO | None = None,
    progress: bool | None = None,
) -> PredictSummary:
    """The whole ``bcml predict`` job on the local engine (see the module docstring).

    The input is parsed in a background thread (:class:`ReadAhead`, up to eight 2 MB blocks
    ahead) from the start: while the main thread imports scikit-learn and loads the model, and
    then while it converts, scores and writes one block, the next ones are being parsed.

    With ``--output -`` and ``--strict`` or ``--max-rejects``, the output is held in a private
    temporary file and copied to stdout only once the whole input has passed, so a run that
    stops writes nothing to stdout.
    """
    err = stderr if stderr is not None else sys.stderr
    rejects_path = rejects_path_for(settings.output, settings.rejects)
    check_paths(settings.input, settings.output, rejects_path)
    _lean_memory_pool()
    started = time.perf_counter()
    hold = settings.output == STDIO and (settings.strict or settings.max_rejects is not None)
    with (
        _sigterm_unwinds(),
        open_reader(settings.input, settings.chunk_size, FEATURES) as reader,
        ReadAhead(reader.parsed(), depth=8) as parsed,
    ):
        model = _load_model(settings)
        source = str(model.metadata.get("source", model.folder))
        explain = settings.explain or 0
        if explain:
            model.explainer.check()  # before any output: exit 2 with what to do
        scored_schema = output_schema(reader.id_type)
        with (
            AtomicTableWriter(
                settings.output, output_schema(reader.id_type, explain), hold=hold
            ) as writer,
            contextlib.ExitStack() as stack,
        ):
            rejects: AtomicTableWriter | None = None
            bar = Progress(err, reader.total_rows, progress)
            rows = rejected = out_of_envelope = referred = 0
            conformal = model.conformal
            first_reject = ""
            for block in reader.blocks(parsed):
                for chunk in block.split(settings.chunk_size):
                    result = score_rows(
                        model.proba,
                        chunk.X,
                        model.threshold,
                        chunk.not_numeric,
                        envelope=model.envelope,
                    )
                    if result.rejected.size:
                        if settings.strict:
                            raise _strict_error(reader.where, chunk, result)
                        if rejects is None:
                            rejects = stack.enter_context(
                                AtomicTableWriter(rejects_path, REJECT_SCHEMA)
                            )
                            first_reject = _describe_first(chunk, result)
                        rejects.write(reject_batch(chunk, result))
                        rejected += int(result.rejected.size)
                        if settings.max_rejects is not None and rejected > settings.max_rejects:
                            raise _too_many_rejects(
                                reader.where, settings.max_rejects, chunk, first_reject
                            )
                    referral = result.refer(conformal)
                    batch = output_batch(chunk, result, model.run_id, scored_schema, referral)
                    if explain:
                        X_scored = chunk.X[result.valid]
                        batch = with_explanations(batch, model, X_scored, explain, writer.schema)
                    writer.write(batch)
                    out_of_envelope += result.n_out_of_envelope
                    referred += referral.n_referred
                    rows += chunk.n_rows
                    bar.update(rows, rejected)
            bar.update(rows, rejected, final=True)
            stale = None
            if rejects is not None:
                rejects.commit()
            elif Path(rejects_path).is_file() or Path(rejects_path).is_symlink():
                # the reject file of an earlier run would describe rows of another input
                Path(rejects_path).unlink()
                stale = rejects_path
            writer.commit()
    return PredictSummary(
        rows=rows,
        scored=writer.rows,
        rejected=rejected,
        seconds=time.perf_counter() - started,
        output="stdout" if settings.output == STDIO else settings.output,
        rejects=rejects_path if rejected else None,
        run_id=model.run_id,
        threshold=model.threshold,
        model_source=source,
        out_of_envelope=None if model.envelope is None else out_of_envelope,
        stale_rejects_removed=stale,
        referred=referred,
        refer_rule=refer_rule_text(model),
    )


def refer_rule_text(model: PublishedModel) -> str | None:
    """The model's refer rule in a few words for the summary; None when it has none."""
    params = model.conformal
    if params is None:
        return None
    return f"{params.method}, alpha {params.alpha:g}"


def _load_model(settings: PredictSettings) -> PublishedModel:
    """The model to score with; imported here so that parsing starts before scikit-learn.

    Every model source gives the FEATURES order the reader parses in (``load_published``
    refuses a promoted model that records another one).
    """
    from breast_cancer_ml.adapters.model_source import load_scoring_model

    return load_scoring_model(settings.model, settings.models_dir, settings.tracking_uri)


def output_batch(
    chunk: Chunk,
    result: RowsScored,
    run_id: str,
    schema: pa.Schema,
    referral: Referral | None = None,
) -> pa.RecordBatch:
    """The scored rows of ``chunk`` in the output layout, in input order. ``referral``
    (default: ``result.refer(None)``, the rule of a model without conformal parameters) gives
    the ``decision`` and ``prediction_set`` columns."""
    if referral is None:
        referral = result.refer(None)
    n = result.n_scored
    if result.rejected.size:
        positions = np.flatnonzero(result.valid)
        rows = positions + (chunk.start + 1)
    else:
        rows = np.arange(chunk.start + 1, chunk.start + 1 + n, dtype=np.int64)
    if chunk.ids is None:
        ids: pa.Array = pa.nulls(n, type=schema.field("id").type)
    elif result.rejected.size:
        ids = chunk.ids.filter(arrow_array(result.valid, pa.bool_()))
    else:
        ids = chunk.ids
    prediction = arrow_array(result.scored.prediction, pa.int64())
    level = arrow_array(result.confidence.astype(np.int64), pa.int64())
    return pa.record_batch(
        [
            arrow_array(rows, pa.int64()),
            ids,
            prediction,
            _labels().take(prediction),
            arrow_array(result.scored.probability, pa.float64()),
            _levels().take(level),
            _decision_names().take(arrow_array(referral.decision_codes, pa.int64())),
            _set_names().take(arrow_array(referral.set_codes, pa.int64())),
            warning_column(n, *result.warning_texts()),
            pa.repeat(arrow_strings([run_id])[0], n),
        ],
        schema=schema,
    )


def with_explanations(
    batch: pa.RecordBatch,
    model: PublishedModel,
    X: NDArray[np.float64],
    k: int,
    schema: pa.Schema,
) -> pa.RecordBatch:
    """``batch`` (the scored rows ``X``) with the explanation columns of ``--explain k``
    (:func:`~breast_cancer_ml.adapters.table_layout.explain_columns`)."""
    explained = model.explainer.explain(X)
    top = explained.order()[:, :k]
    rows = np.arange(len(X))[:, None]
    contributions = explained.contributions[rows, top]
    names = arrow_strings(list(FEATURES))
    columns = list(batch.columns)
    columns.append(arrow_array(explained.base, pa.float64()))
    for i in range(k):
        columns.append(names.take(arrow_array(top[:, i].astype(np.int64), pa.int64())))
        columns.append(arrow_array(np.ascontiguousarray(contributions[:, i]), pa.float64()))
    return pa.record_batch(columns, schema=schema)


def warning_column(n: int, positions: NDArray[np.int64], texts: list[str]) -> pa.Array:
    """``n`` strings: ``texts`` at ``positions``, empty elsewhere. Built from buffers: only
    the flagged rows cost Python work."""
    offsets = np.zeros(n + 1, dtype=np.int64)
    encoded = [t.encode() for t in texts]
    if encoded:
        lengths = np.zeros(n, dtype=np.int64)
        lengths[positions] = [len(t) for t in encoded]
        np.cumsum(lengths, out=offsets[1:])
    return pa.Array.from_buffers(
        pa.string(),
        n,
        [None, pa.py_buffer(offsets.astype(np.int32)), pa.py_buffer(b"".join(encoded))],
    )


def reject_batch(chunk: Chunk, result: RowsScored) -> pa.RecordBatch:
    """The rejected rows of ``chunk``: 1-based row number, id (as text), reason."""
    rows = chunk.start + result.rejected + 1
    if chunk.ids is None:
        ids: pa.Array = pa.nulls(rows.size, type=pa.string())
    else:
        ids = chunk.ids.take(arrow_array(result.rejected, pa.int64())).cast(pa.string())
    return pa.record_batch(
        [arrow_array(rows, pa.int64()), ids, pa.array(result.reasons, type=pa.string())],
        schema=REJECT_SCHEMA,
    )


def _first_rejected(chunk: Chunk, result: RowsScored) -> tuple[str, str]:
    """``("row 12 (id '12')", reason)`` for the first rejected row of ``chunk``."""
    first = int(result.rejected[0])
    ident = "" if chunk.ids is None else f" (id {chunk.ids[first].as_py()!r})"
    return f"row {chunk.start + first + 1}{ident}", result.reasons[0]


def _describe_first(chunk: Chunk, result: RowsScored) -> str:
    row, reason = _first_rejected(chunk, result)
    return f"{row}: {reason}"


def _strict_error(where: str, chunk: Chunk, result: RowsScored) -> DataValidationError:
    row, reason = _first_rejected(chunk, result)
    more = int(np.count_nonzero(~result.valid)) - 1
    extra = f"; {more} more invalid row(s) in the same chunk" if more else ""
    return DataValidationError(
        f"{where}: {row} is invalid: {reason}{extra}. --strict stops at the first invalid row "
        f"and writes no output; without --strict invalid rows go to a reject file and the rest "
        f"is scored."
    )


def _too_many_rejects(
    where: str, limit: int, chunk: Chunk, first_reject: str
) -> DataValidationError:
    return DataValidationError(
        f"{where}: more than {limit:,} invalid row(s) (--max-rejects {limit}) by row "
        f"{chunk.start + chunk.n_rows:,}; stopped, nothing written. The first: {first_reject}. "
        f"Fix the input, or raise --max-rejects."
    )
