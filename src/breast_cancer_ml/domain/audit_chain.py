"""The prediction log's hash chain and its checks, on bytes (no file I/O here).

A prediction log file is JSON lines, one record per answered case. Each record's last key,
``prev_sha256``, is the SHA256 (hex) of the previous line's bytes, without its newline; the
first record of a file holds the file's *genesis*: the SHA256 of ``GENESIS_PREFIX`` followed by
the file's name. So a changed byte breaks the link to the next line, a removed or inserted line
breaks the link at its place, swapped lines chain to each other out of order, a record moved to
another file (or a removed first line) does not chain to that file's genesis. Removing lines at
the end of a file leaves a valid, shorter chain: only an anchor kept elsewhere (the head: the
number of records and the hash of the last one) reveals it.

``features_sha256`` identifies a case without storing it: the SHA256 of the canonical encoding
of its 30 values (:func:`canonical_features`).
"""

from __future__ import annotations

import hashlib
import json
import struct
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

#: Version of the record layout (the ``v`` key).
RECORD_VERSION: Final = 1
GENESIS_PREFIX: Final = b"bcml-prediction-log-v1:"
#: The key holding the link; it is the last key of every record.
PREV_KEY: Final = "prev_sha256"


def genesis(file_name: str) -> str:
    """The ``prev_sha256`` of a file's first record: SHA256 of the prefix and the file's
    name (its base name, e.g. ``predictions-2026-11-30-4242.jsonl``)."""
    return hashlib.sha256(GENESIS_PREFIX + file_name.encode("utf-8")).hexdigest()


def line_sha256(line: bytes) -> str:
    """SHA256 (hex) of one record line's bytes, without its newline."""
    return hashlib.sha256(line).hexdigest()


def canonical_features(values: Sequence[float]) -> bytes:
    """The canonical encoding of a case: its values in FEATURES order as IEEE 754 doubles,
    little-endian, 8 bytes each (``struct.pack("<30d", *values)`` in Python), exactly the
    doubles the service scored (a JSON number is read as the nearest double)."""
    return struct.pack(f"<{len(values)}d", *values)


def features_sha256(values: Sequence[float]) -> str:
    """SHA256 (hex) of :func:`canonical_features`: ``features_sha256`` in a record."""
    return hashlib.sha256(canonical_features(values)).hexdigest()


@dataclass(frozen=True)
class ChainBreak:
    """The first place a file's chain fails: ``line`` (1-based) and a ``reason`` code.

    ``changed``: line ``line`` was altered (or records after it were removed; the chain alone
    cannot tell which); ``removed_first``: the file's first record(s) are missing, or the file
    was renamed; ``reordered``: line ``line`` chains to a line that comes after it;
    ``inserted``: lines from ``line`` on were inserted (a later line chains to the one before
    them); ``duplicate``: line ``line`` repeats an earlier line; ``link_changed``: the
    ``prev_sha256`` of line ``line`` was altered; ``malformed``: not a JSON object with a valid
    ``prev_sha256`` as its last key.
    """

    line: int
    reason: str
    message: str


@dataclass(frozen=True)
class ChainCheck:
    """A file's verdict: its complete lines, the hash of the last one (``None``: empty
    file), the first break (``None``: intact) and whether an incomplete last line (no
    newline: a crash while writing) was left out."""

    records: int
    head: str | None
    broken: ChainBreak | None
    torn_tail: bool


def _link(line: bytes) -> str | None:
    """A record's ``prev_sha256`` if the line is a JSON object with it as its last key."""
    try:
        doc = json.loads(line)
    except ValueError:
        return None
    if not isinstance(doc, dict) or not doc or list(doc)[-1] != PREV_KEY:
        return None
    link = doc[PREV_KEY]
    if not isinstance(link, str) or len(link) != 64:
        return None
    try:
        int(link, 16)
    except ValueError:
        return None
    return link


class ChainWalker:
    """Follows one file's chain a line at a time, holding one hash: for files of any size.

    :meth:`step` returns the line's SHA256 while the chain holds, ``None`` at the first line
    that breaks it (then :func:`check_chain` on the whole content says why)."""

    def __init__(self, file_name: str) -> None:
        self.expected = genesis(file_name)
        self.records = 0
        self.head: str | None = None

    def step(self, line: bytes) -> str | None:
        """Check the next line (without its newline)."""
        if _link(line) != self.expected:
            return None
        self.head = self.expected = line_sha256(line)
        self.records += 1
        return self.head


def check_chain(file_name: str, data: bytes) -> ChainCheck:
    """Check the chain of one file's content (``file_name``: its base name)."""
    lines = data.split(b"\n")
    torn = lines[-1] != b""  # the content does not end with a newline
    lines = lines[:-1]  # a torn last line is not a record: left out, reported
    hashes = [line_sha256(line) for line in lines]
    first_at: dict[str, int] = {}
    for i, h in enumerate(hashes):
        first_at.setdefault(h, i)
    expected = genesis(file_name)
    for i, line in enumerate(lines):
        n = i + 1
        link = _link(line)
        if link is None:
            return ChainCheck(
                len(lines),
                None,
                ChainBreak(
                    n,
                    "malformed",
                    f"line {n} is not a prediction record (a JSON object ending with a "
                    f"64-hex {PREV_KEY})",
                ),
                torn,
            )
        if link != expected:
            return ChainCheck(
                len(lines), None, _diagnose(i, link, expected, hashes, first_at), torn
            )
        expected = hashes[i]
    return ChainCheck(len(lines), hashes[-1] if hashes else None, None, torn)


def _diagnose(
    i: int, link: str, expected: str, hashes: list[str], first_at: dict[str, int]
) -> ChainBreak:
    """Why line ``i`` (0-based) does not chain to its predecessor."""
    n = i + 1
    if first_at.get(hashes[i], i) < i:
        j = first_at[hashes[i]] + 1
        return ChainBreak(n, "duplicate", f"line {n} repeats line {j}")
    if sum(a != b for a, b in zip(link, expected, strict=True)) <= 4:
        return ChainBreak(
            n, "link_changed", f"the {PREV_KEY} of line {n} was altered (a few characters differ)"
        )
    if i == 0:
        return ChainBreak(
            1,
            "removed_first",
            "line 1 does not chain to the file's genesis: its first record(s) were removed, "
            "records were moved here from another file, or the file was renamed",
        )
    at = first_at.get(link)
    if at is not None and at > i:
        return ChainBreak(
            n, "reordered", f"line {n} chains to line {at + 1}, which comes after it: reordered"
        )
    if at is not None:  # at < i - 1: the lines between them are not in the chain
        return ChainBreak(
            at + 2,
            "inserted",
            f"line {n} chains to line {at + 1}: lines {at + 2} to {n - 1} were inserted",
        )
    return ChainBreak(
        i,
        "changed",
        f"line {n} does not chain to line {i}: line {i} was changed, or records were removed "
        f"between line {i} and line {n}",
    )


__all__ = [
    "GENESIS_PREFIX",
    "PREV_KEY",
    "RECORD_VERSION",
    "ChainBreak",
    "ChainCheck",
    "ChainWalker",
    "canonical_features",
    "check_chain",
    "features_sha256",
    "genesis",
    "line_sha256",
]
