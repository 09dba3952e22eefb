"""The prediction log: one JSON record per answered case, appended by a background thread.

The event loop only calls :meth:`PredictionLog.put`: a length test and a deque append of what
the answer already computed (no file I/O, no hashing, no JSON). The writer thread wakes every
``flush_interval`` seconds, turns the waiting answers into records (the canonical feature hash,
the model's SHA256, orjson), chains them (:mod:`breast_cancer_ml.domain.audit_chain`) and
appends them to the day's file (:mod:`breast_cancer_ml.adapters.prediction_log`) in one write.

Nothing here can fail a prediction, and the event loop never waits for the disk. A full
queue (the disk is slower than the traffic) or a failing write (a full disk, an I/O error)
drops the records concerned: they are
counted by reason (``bcml_prediction_log_dropped_total`` on /metrics) and logged, without
patient data, at most every ``DROP_LOG_INTERVAL`` seconds. Records only partly written by a
failing write are cut off again, so the file keeps whole records and its chain stays intact.

Every ``HEAD_EVERY`` records or ``HEAD_INTERVAL`` seconds, when a file is closed (UTC day
change) and at shutdown, the writer fsyncs the file and logs its chain head (file name, number
of records, SHA256 of the last one): the anchor that ``bcml audit verify --expect`` checks.
"""

from __future__ import annotations

import collections
import contextlib
import errno
import logging
import os
import threading
import time
from hashlib import sha256
from pathlib import Path
from typing import Any, Final, NamedTuple

import numpy as np
import orjson

from breast_cancer_ml.adapters.prediction_log import HEAD_EVENT, OpenLog, open_log, prepare_dir
from breast_cancer_ml.domain.audit_chain import RECORD_VERSION, line_sha256
from breast_cancer_ml.domain.refer import refer_rows
from breast_cancer_ml.domain.schema import FEATURES

log = logging.getLogger("breast_cancer_ml.service.prediction_log")

MAX_PENDING: Final = 50_000  # cases (rows) waiting for the writer: ~10 s at full speed
FLUSH_INTERVAL: Final = 0.2
BATCH_RECORDS: Final = 32  # records per write; the writer yields the GIL between writes
HEAD_EVERY: Final = 1_000
HEAD_INTERVAL: Final = 60.0
DROP_LOG_INTERVAL: Final = 10.0
CLOSE_TIMEOUT: Final = 10.0  # seconds the shutdown waits for the writer
#: Reasons a record is dropped (the ``reason`` label of the metric).
DROP_REASONS: Final = ("queue_full", "disk_full", "write_error")


class OneCase(NamedTuple):
    """What ``/predict`` answered: its one row (1, 30) and the answer's fields."""

    X: Any
    probability: float
    prediction: int
    decision: str
    warnings: list[dict[str, Any]]
    in_distribution: bool | None


class Rows(NamedTuple):
    """What ``/predict/batch`` answered: its rows (n, 30) and the answer's row dicts."""

    X: Any
    records: list[dict[str, Any]]


class MlflowRows(NamedTuple):
    """What ``/invocations`` computed: rows, probabilities, predictions, the positions of the
    rows outside the envelope, and the decisions (``None`` unless asked with ?decision=true:
    then the writer derives them as the refer rule would have)."""

    X: Any
    probability: Any
    prediction: Any
    outside: list[int]
    decisions: list[str] | None


Cases = OneCase | Rows | MlflowRows


class PredictionLog:
    """The writer of one process: ``put`` from the event loop, the rest in its thread."""

    def __init__(
        self,
        directory: Path,
        *,
        log_features: bool = False,
        worker: str | None = None,
        max_pending: int = MAX_PENDING,
        flush_interval: float = FLUSH_INTERVAL,
    ) -> None:
        self.directory = directory
        self.log_features = log_features
        self.worker = worker or str(os.getpid())
        self.max_pending = max_pending
        self.flush_interval = flush_interval
        self.pending: collections.deque[tuple[float, str, str, Any, Cases]] = collections.deque()
        # rows queued (counted by the event loop) and taken (by the writer): each counter has
        # one thread writing it, so the difference is exact without a lock
        self.queued = 0
        self.taken = 0
        #: records written, and dropped by reason (the /metrics counters); ``written`` and
        #: the disk reasons are counted by the writer thread, ``queue_full`` by the event loop
        self.written = 0
        self.dropped = dict.fromkeys(DROP_REASONS, 0)
        self._logged_drops = dict(self.dropped)
        self._last_drop_log = 0.0
        self._last_error: str | None = None
        self._second = -1
        self._second_text = ""
        self._file: OpenLog | None = None
        self._day = ""
        self._since_head = 0
        self._head_at = time.monotonic()
        self._model: Any = None
        self._fields: tuple[str, str | None, float] = ("", None, 0.0)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # ---- the event loop's side ----------------------------------------------------------

    def put(self, request_id: str, route: str, model: Any, cases: Cases, rows: int) -> None:
        """Queue one answer's ``rows`` cases; never blocks (a full queue drops and counts
        them)."""
        if self.queued - self.taken + rows <= self.max_pending:
            self.queued += rows
            self.pending.append((time.time(), request_id, route, model, cases))
        else:
            self.dropped["queue_full"] += rows

    def start(self) -> None:
        """Create the folder (:class:`ConfigError` if it cannot be) and start the writer."""
        prepare_dir(self.directory)
        self._thread = threading.Thread(target=self._run, name="bcml-prediction-log", daemon=True)
        self._thread.start()
        log.info(
            "prediction log on",
            extra={
                "event": "prediction_log_started",
                "folder": str(self.directory),
                "worker": self.worker,
                "log_features": self.log_features,
            },
        )

    def close(self, timeout: float = CLOSE_TIMEOUT) -> None:
        """Stop the writer after it has written everything queued (blocking: call it from a
        worker thread at shutdown). A disk that hangs longer than ``timeout`` seconds is left
        behind, with an error naming how many cases were not written."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            if self._thread.is_alive():
                log.error(
                    "prediction log: the writer did not finish within %g s; %d cases not written",
                    timeout,
                    self.queued - self.taken,
                    extra={"event": "prediction_log_dropped", "folder": str(self.directory)},
                )
        else:  # never started (a test driving flush() itself): finish here
            self.flush()
            self._finish_file()

    # ---- the writer thread --------------------------------------------------------------

    def _run(self) -> None:
        try:
            while not self._stop.wait(self.flush_interval):
                self.flush()
            self.flush()
            self._finish_file()
        except Exception:  # pragma: no cover - a bug here must not kill silently
            log.exception("prediction log writer failed", extra={"event": "prediction_log_error"})
        self._log_drops(force=True)

    def flush(self) -> None:
        """Write every queued answer (the writer thread's step; tests call it directly)."""
        batch: list[dict[str, Any]] = []
        day = ""
        pending = self.pending
        while pending:
            ts, rid, route, model, cases = pending.popleft()
            self.taken += 1 if isinstance(cases, OneCase) else len(cases.X)
            stamp = self._time(ts)
            if batch and stamp[:10] != day:  # a new UTC day: a new file
                self._write(day, batch)
                batch = []
            day = stamp[:10]
            batch.extend(self._records(stamp, rid, route, model, cases))
            if len(batch) >= BATCH_RECORDS:
                self._write(day, batch)
                batch = []
                time.sleep(0)  # let the event loop have the GIL now rather than in 5 ms
        if batch:
            self._write(day, batch)
        self._log_drops()
        if self._file is not None and (
            self._since_head >= HEAD_EVERY
            or (self._since_head and time.monotonic() - self._head_at >= HEAD_INTERVAL)
        ):
            self._anchor(self._file)

    def _records(
        self, stamp: str, rid: str, route: str, model: Any, cases: Cases
    ) -> list[dict[str, Any]]:
        run_id, model_sha, threshold = self._model_fields(model)
        if isinstance(cases, OneCase):
            answers: list[tuple[Any, ...]] = [
                (
                    cases.probability,
                    cases.prediction,
                    cases.decision,
                    cases.warnings,
                    cases.in_distribution,
                )
            ]
        elif isinstance(cases, Rows):
            answers = [
                (
                    r["probability"],
                    r["prediction"],
                    r["decision"],
                    r["warnings"],
                    r["in_distribution"],
                )
                for r in cases.records
            ]
        else:
            answers = self._mlflow_answers(model, cases)
        X = cases.X
        raw = np.ascontiguousarray(X, dtype="<f8").tobytes()
        width = 8 * X.shape[1]
        return [
            self._record(
                stamp,
                rid,
                route,
                i,
                run_id,
                model_sha,
                threshold,
                X[i : i + 1],
                raw[i * width : (i + 1) * width],
                answer,
            )
            for i, answer in enumerate(answers)
        ]

    def _record(
        self,
        stamp: str,
        rid: str,
        route: str,
        row: int,
        run_id: str,
        model_sha: str | None,
        threshold: float,
        X: Any,
        canonical: bytes,
        answer: tuple[Any, ...],
    ) -> dict[str, Any]:
        """One record (``prev_sha256`` is added when it is chained). ``canonical``: the row's
        little-endian doubles (:func:`~breast_cancer_ml.domain.audit_chain.canonical_features`,
        the same bytes, without a float-by-float pack)."""
        p, pred, decision, warnings, in_dist = answer
        if warnings and not self.log_features:  # a warning holds the value: patient data
            warnings = [{k: v for k, v in w.items() if k != "value"} for w in warnings]
        rec = {
            "v": RECORD_VERSION,
            "time": stamp,
            "request_id": rid,
            "route": route,
            "row": row,
            "model_run_id": run_id,
            "model_sha256": model_sha,
            "threshold": threshold,
            "features_sha256": sha256(canonical).hexdigest(),
            "probability": p,
            "prediction": pred,
            "decision": decision,
            "warnings": warnings,
            "in_distribution": in_dist,
        }
        if self.log_features:
            rec["features"] = dict(zip(FEATURES, X[0].tolist(), strict=True))
        return rec

    def _time(self, ts: float) -> str:
        """``ts`` as UTC ISO 8601 with milliseconds and ``Z`` (the seconds cached)."""
        second = int(ts)
        if second != self._second:
            self._second = second
            self._second_text = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
        return f"{self._second_text}.{int((ts - second) * 1000):03d}Z"

    @staticmethod
    def _mlflow_answers(model: Any, cases: MlflowRows) -> list[tuple[Any, ...]]:
        """/invocations' rows as /predict/batch would have answered them."""
        envelope = model.envelope
        in_envelope = None
        if envelope is not None:
            in_envelope = np.ones(len(cases.X), dtype=bool)
            in_envelope[cases.outside] = False
        decisions = cases.decisions
        if decisions is None:
            decisions = refer_rows(
                model.conformal, cases.probability, cases.prediction, in_envelope
            ).decision.tolist()
        outside = set(cases.outside)
        answers: list[tuple[Any, ...]] = []
        for i, (p, pred) in enumerate(
            zip(cases.probability.tolist(), cases.prediction.tolist(), strict=True)
        ):
            if envelope is None:
                answers.append((p, pred, decisions[i], [], None))
            elif i in outside:
                warnings = [w.as_dict() for w in envelope.warnings(cases.X[i])]
                answers.append((p, pred, decisions[i], warnings, False))
            else:
                answers.append((p, pred, decisions[i], [], True))
        return answers

    def _model_fields(self, model: Any) -> tuple[str, str | None, float]:
        """``model_run_id``, ``model_sha256`` and ``threshold`` of ``model``, read once per
        model. ``model_sha256`` is the SHA256 of its sealed promotion metadata (the
        ``promotion_metadata.sha256`` sidecar, checked when the service loaded the model; the
        metadata holds the SHA256 of every model file, the threshold, the envelope and the
        refer rule)."""
        if model is not self._model:
            from breast_cancer_ml.adapters.model_store import recorded_metadata_sha256
            from breast_cancer_ml.errors import BcmlError

            try:
                sha: str | None = recorded_metadata_sha256(model.folder)
            except (BcmlError, OSError):
                sha = None
            self._fields = (model.run_id, sha, model.threshold)
            self._model = model
        return self._fields

    def _write(self, day: str, batch: list[dict[str, Any]]) -> None:
        """Chain and append ``batch`` (records of UTC ``day``) to the day's file."""
        try:
            current = self._open(day)
        except OSError as exc:
            self._drop(len(batch), exc)
            return
        link = current.link
        lines = []
        for rec in batch:
            rec["prev_sha256"] = link
            line = orjson.dumps(rec)
            link = line_sha256(line)
            lines.append(line)
        data = b"\n".join(lines) + b"\n"
        written = 0
        try:
            while written < len(data):
                written += current.file.write(data[written:]) or 0
        except OSError as exc:
            whole, end = _whole_lines(lines, written)
            if end < written:  # cut the torn record off, so the chain continues cleanly
                try:
                    fd = current.file.fileno()
                    os.ftruncate(fd, os.fstat(fd).st_size - (written - end))
                except OSError:
                    self._close_file()  # reopened next time: a torn file gets a new suffix
            if whole:
                current.head = line_sha256(lines[whole - 1])
                current.records += whole
                self._count(whole)
            self._drop(len(lines) - whole, exc)
            return
        current.head = link
        current.records += len(lines)
        self._count(len(lines))

    def _count(self, n: int) -> None:
        self.written += n
        self._since_head += n

    def _open(self, day: str) -> OpenLog:
        if self._file is not None and day == self._day:
            return self._file
        self._finish_file()
        self.directory.mkdir(parents=True, exist_ok=True)  # removed while serving: again
        opened = open_log(self.directory, day, self.worker)
        for name in opened.skipped:
            log.warning(
                "prediction log %s ends with an incomplete record (a crash while writing?); "
                "left as it is, writing to the next file",
                name,
                extra={"event": "prediction_log_torn", "file": name},
            )
        self._file, self._day = opened, day
        return opened

    def _finish_file(self) -> None:
        if self._file is not None:
            if self._file.records:
                self._anchor(self._file)
            self._close_file()

    def _close_file(self) -> None:
        if self._file is not None:
            with contextlib.suppress(OSError):
                self._file.file.close()
            self._file = None

    def _anchor(self, current: OpenLog) -> None:
        """fsync, then log the chain head (no patient data: a name, a count, a hash)."""
        # not a regular file, or the disk failed: the head is still what was written
        with contextlib.suppress(OSError):
            os.fsync(current.file.fileno())
        self._since_head = 0
        self._head_at = time.monotonic()
        log.info(
            "prediction log head",
            extra={
                "event": HEAD_EVENT,
                "file": current.name,
                "records": current.records,
                "sha256": current.head,
            },
        )

    def _drop(self, n: int, exc: OSError) -> None:
        if n <= 0:
            return
        reason = "disk_full" if exc.errno in (errno.ENOSPC, errno.EDQUOT) else "write_error"
        self.dropped[reason] += n
        self._last_error = f"{exc.strerror or exc}"

    def _log_drops(self, force: bool = False) -> None:
        now = time.monotonic()
        if self.dropped == self._logged_drops:
            return
        if not force and now - self._last_drop_log < DROP_LOG_INTERVAL:
            return
        new = {k: self.dropped[k] - self._logged_drops[k] for k in DROP_REASONS}
        self._logged_drops = dict(self.dropped)
        self._last_drop_log = now
        log.error(
            "prediction log: records dropped (%s)",
            ", ".join(f"{n} {k}" for k, n in new.items() if n),
            extra={
                "event": "prediction_log_dropped",
                "dropped": {k: n for k, n in new.items() if n},
                "error": self._last_error,
                "folder": str(self.directory),
            },
        )


def _whole_lines(lines: list[bytes], written: int) -> tuple[int, int]:
    """How many of ``lines`` (each followed by a newline) fit whole in ``written`` bytes, and
    the bytes they take."""
    end = 0
    for i, line in enumerate(lines):
        if end + len(line) + 1 > written:
            return i, end
        end += len(line) + 1
    return len(lines), end


__all__ = ["DROP_REASONS", "Cases", "MlflowRows", "OneCase", "PredictionLog", "Rows"]
