"""The prediction log's files: their names, appending to one (continuing its chain), and
verifying a folder of them against their hash chains and optional anchors.

Layout of ``DIR``: ``predictions-YYYY-MM-DD-<worker>.jsonl``, one file per UTC day and worker
process (``<worker>`` is the process id). A file is continued after a restart only when its
last line is a complete record; after a crash that left a torn last line, the writer starts
``predictions-YYYY-MM-DD-<worker>.1.jsonl`` (then ``.2``...) and leaves the torn file as it is,
so verification still shows what happened. The chain rules are in
:mod:`breast_cancer_ml.domain.audit_chain`.
"""

from __future__ import annotations

import fcntl
import json
import re
import stat
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO, Final

from breast_cancer_ml.domain.audit_chain import (
    ChainCheck,
    ChainWalker,
    check_chain,
    genesis,
    line_sha256,
)
from breast_cancer_ml.errors import ConfigError

FILE_GLOB: Final = "predictions-*.jsonl"
#: The event name of a chain head in the service's JSON log: an anchor for ``--expect``.
HEAD_EVENT: Final = "prediction_log_head"
_SHA256: Final = re.compile(r"[0-9a-f]{64}")
_CHUNK: Final = 1 << 20


def file_name(day: str, worker: str) -> str:
    """``predictions-<day>-<worker>.jsonl`` (``day``: ``YYYY-MM-DD``, UTC)."""
    return f"predictions-{day}-{worker}.jsonl"


def prepare_dir(directory: Path) -> None:
    """Create ``directory`` (and its parents) if needed; :class:`ConfigError` (exit 2) when
    it cannot be created or is not a folder."""
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(
            f"prediction_log: cannot create the folder {directory}: {exc.strerror or exc}; "
            "choose a writable folder"
        ) from None
    if not directory.is_dir():
        raise ConfigError(f"prediction_log: {directory} is not a folder")


@dataclass
class OpenLog:
    """A log file open for appending: its name, its complete records so far, the hash of the
    last one (``None``: empty) and the names skipped because their last line was torn."""

    file: BinaryIO
    name: str
    records: int
    head: str | None
    skipped: list[str] = field(default_factory=list)

    @property
    def link(self) -> str:
        """The ``prev_sha256`` of the next record."""
        return self.head if self.head is not None else genesis(self.name)


def _tail(path: Path) -> tuple[int, bytes | None, bool] | None:
    """(complete lines, the last complete line, whether a torn line follows) of a regular
    file; ``None`` if there is no such file or it is not a regular file (a device)."""
    try:
        st = path.stat()
    except FileNotFoundError:
        return None
    if not stat.S_ISREG(st.st_mode):
        return None
    count = 0
    last_complete = b""
    current = b""
    with path.open("rb") as fh:
        while chunk := fh.read(_CHUNK):
            count += chunk.count(b"\n")
            current += chunk
            cut = current.rfind(b"\n")
            if cut >= 0:
                start = current.rfind(b"\n", 0, cut) + 1
                last_complete = current[start:cut]
                current = current[cut + 1 :]
    return count, (last_complete if count else None), current != b""


def open_log(directory: Path, day: str, worker: str) -> OpenLog:
    """Open the day's file of ``worker`` for appending, continuing its chain from its last
    record. The file is locked (``flock``) while open: one writer per file, even when two
    hosts' processes share an id (PID 1 in containers) on a shared folder. A file locked by
    another process, or whose last line is torn or not a record, is left alone for the next
    suffix (``<worker>.1``, ``.2``...). Raises ``OSError`` when no file can be opened."""
    skipped: list[str] = []
    suffix = 0
    while True:
        name = file_name(day, worker if suffix == 0 else f"{worker}.{suffix}")
        path = directory / name
        suffix += 1
        fh = path.open("ab", buffering=0)
        try:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            fh.close()
            continue  # another live writer has it
        except OSError:
            pass  # a file system without locks (or a device): one writer per name still
        tail = _tail(path)  # read under the lock: no writer is half-way through a line
        if tail is None:
            return OpenLog(fh, name, 0, None, skipped)
        count, last, torn = tail
        if not torn and (last is None or _is_record(last)):
            head = line_sha256(last) if last is not None else None
            return OpenLog(fh, name, count, head, skipped)
        fh.close()
        skipped.append(name)


def _is_record(line: bytes) -> bool:
    try:
        doc = json.loads(line)
    except ValueError:
        return False
    return isinstance(doc, dict) and bool(doc) and list(doc)[-1] == "prev_sha256"


# ---- verification -----------------------------------------------------------------------


@dataclass(frozen=True)
class Anchor:
    """A chain head recorded elsewhere: ``file`` had ``records`` records, the last hashing to
    ``sha256``. ``file`` ``None``: a bare hash, which must be the hash of some record."""

    sha256: str
    file: str | None = None
    records: int | None = None


@dataclass(frozen=True)
class FileVerdict:
    name: str
    check: ChainCheck

    @property
    def ok(self) -> bool:
        return self.check.broken is None


@dataclass(frozen=True)
class AnchorVerdict:
    anchor: Anchor
    ok: bool
    message: str


@dataclass(frozen=True)
class Verification:
    files: list[FileVerdict]
    anchors: list[AnchorVerdict]

    @property
    def ok(self) -> bool:
        return all(f.ok for f in self.files) and all(a.ok for a in self.anchors)

    @property
    def records(self) -> int:
        return sum(f.check.records for f in self.files)

    def as_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "files": len(self.files),
            "records": self.records,
            "checked": [
                {
                    "file": f.name,
                    "records": f.check.records,
                    "head_sha256": f.check.head,
                    "ok": f.ok,
                    "torn_last_line": f.check.torn_tail,
                    "error": (
                        None
                        if f.check.broken is None
                        else {
                            "line": f.check.broken.line,
                            "reason": f.check.broken.reason,
                            "message": f.check.broken.message,
                        }
                    ),
                }
                for f in self.files
            ],
            "anchors": [
                {
                    "file": a.anchor.file,
                    "records": a.anchor.records,
                    "sha256": a.anchor.sha256,
                    "ok": a.ok,
                    "message": a.message,
                }
                for a in self.anchors
            ],
        }


def read_anchors(value: str) -> list[Anchor]:
    """The anchors ``--expect`` names: a 64-hex hash, or a file of JSON lines (the service's
    log: its ``prediction_log_head`` events; other lines are ignored). :class:`ConfigError`
    when it is neither, or the file holds no head."""
    text = value.strip().lower()
    if _SHA256.fullmatch(text):
        return [Anchor(text)]
    path = Path(value)
    try:
        content = path.read_bytes()
    except OSError as exc:
        raise ConfigError(
            f"--expect {value}: neither a SHA256 (64 hex digits) nor a readable file "
            f"({exc.strerror or exc})"
        ) from None
    anchors = []
    for line in content.splitlines():
        if HEAD_EVENT.encode() not in line:
            continue
        try:
            doc = json.loads(line)
        except ValueError:
            continue
        if not isinstance(doc, dict) or doc.get("event") != HEAD_EVENT:
            continue
        sha, name, records = doc.get("sha256"), doc.get("file"), doc.get("records")
        well_formed = isinstance(sha, str) and _SHA256.fullmatch(sha) is not None
        if well_formed and isinstance(name, str) and isinstance(records, int) and records > 0:
            anchors.append(Anchor(str(sha), name, records))
    if not anchors:
        raise ConfigError(
            f"--expect {value}: no {HEAD_EVENT} events in it (the service logs one per log "
            "file every 1,000 records or minute, and at shutdown, at log level info)"
        )
    return anchors


@dataclass
class _Scan:
    """What one pass over a file found: its verdict, its complete lines, and the hashes of
    the lines anchors ask about."""

    check: ChainCheck
    lines: int
    at: dict[int, str]


def _scan(path: Path, anchored: set[int], wanted: set[str], found: dict[str, str]) -> _Scan:
    """Stream ``path`` once: follow its chain, note the hashes anchors ask for; read it whole
    only when the chain breaks, to say why."""
    walker = ChainWalker(path.name)
    lines, torn, broken = 0, False, False
    at: dict[int, str] = {}
    with path.open("rb") as fh:
        for raw in fh:
            if not raw.endswith(b"\n"):
                torn = True
                break
            lines += 1
            line = raw[:-1]
            digest = None if broken else walker.step(line)
            if digest is None:
                broken = True
                digest = line_sha256(line)
            if lines in anchored:
                at[lines] = digest
            if digest in wanted and digest not in found:
                found[digest] = f"{path.name} line {lines}"
    if broken:
        return _Scan(check_chain(path.name, path.read_bytes()), lines, at)
    return _Scan(ChainCheck(walker.records, walker.head, None, torn), lines, at)


def verify_dir(directory: Path, anchors: Iterable[Anchor] = ()) -> Verification:
    """Check every ``predictions-*.jsonl`` in ``directory`` and each anchor, reading each
    file once, a line at a time.

    :class:`ConfigError` when the folder is missing or unreadable, or holds no log file.
    """
    anchors = list(anchors)
    if not directory.is_dir():
        raise ConfigError(f"{directory} is not a folder (give the --prediction-log folder)")
    try:
        paths = sorted(directory.glob(FILE_GLOB))
    except OSError as exc:
        raise ConfigError(f"cannot list {directory}: {exc.strerror or exc}") from None
    if not paths:
        raise ConfigError(f"{directory} holds no prediction log files ({FILE_GLOB})")
    wanted = {a.sha256 for a in anchors if a.file is None}
    found: dict[str, str] = {}
    files = []
    scans: dict[str, _Scan] = {}
    for path in paths:
        anchored = {a.records for a in anchors if a.file == path.name and a.records}
        try:
            scan = _scan(path, anchored, wanted, found)
        except OSError as exc:
            raise ConfigError(f"cannot read {path}: {exc.strerror or exc}") from None
        scans[path.name] = scan
        files.append(FileVerdict(path.name, scan.check))
    return Verification(files, [_check_anchor(a, scans, found) for a in anchors])


def _check_anchor(anchor: Anchor, scans: dict[str, _Scan], found: dict[str, str]) -> AnchorVerdict:
    if anchor.file is None:
        if anchor.sha256 in found:
            return AnchorVerdict(anchor, True, f"{anchor.sha256[:12]}... is {found[anchor.sha256]}")
        return AnchorVerdict(
            anchor,
            False,
            f"no record hashes to {anchor.sha256}: the record it anchors was changed or removed",
        )
    n = anchor.records or 0
    scan = scans.get(anchor.file)
    if scan is None:
        return AnchorVerdict(
            anchor, False, f"{anchor.file} is missing, but its head was logged at {n} records"
        )
    if scan.lines < n:
        return AnchorVerdict(
            anchor,
            False,
            f"{anchor.file} has {scan.lines} records, but its head was logged at {n}: "
            f"records were removed from its end (from line {scan.lines + 1})",
        )
    if scan.at.get(n) != anchor.sha256:
        return AnchorVerdict(
            anchor,
            False,
            f"{anchor.file} line {n} does not hash to the head logged for it "
            f"({anchor.sha256[:12]}...): it was changed, or lines before it were",
        )
    return AnchorVerdict(anchor, True, f"{anchor.file} line {n} matches its logged head")


__all__ = [
    "FILE_GLOB",
    "HEAD_EVENT",
    "Anchor",
    "OpenLog",
    "Verification",
    "file_name",
    "open_log",
    "prepare_dir",
    "read_anchors",
    "verify_dir",
]
