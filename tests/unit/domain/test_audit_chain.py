"""The prediction log's hash chain on bytes: what an auditor recomputes by hand, and each way
a file can be tampered with, named at its line with its reason."""

from __future__ import annotations

import hashlib
import json
import struct

import pytest

from breast_cancer_ml.domain.audit_chain import (
    ChainWalker,
    canonical_features,
    check_chain,
    features_sha256,
    genesis,
    line_sha256,
)

NAME = "predictions-2026-11-30-7.jsonl"


def _chain(n: int, name: str = NAME) -> list[bytes]:
    """``n`` records chained as the writer chains them."""
    lines, link = [], genesis(name)
    for i in range(n):
        line = json.dumps({"v": 1, "row": i, "probability": i / 10, "prev_sha256": link}).encode()
        lines.append(line)
        link = line_sha256(line)
    return lines


def _data(lines: list[bytes]) -> bytes:
    return b"\n".join(lines) + b"\n"


def test_canonical_features_are_the_little_endian_doubles_of_the_values() -> None:
    values = [17.99, 1001, 6.399e-05, 0.0]
    packed = struct.pack("<4d", 17.99, 1001.0, 6.399e-05, 0.0)
    assert canonical_features(values) == packed
    assert packed[:8] == bytes.fromhex("3d0ad7a370fd3140")  # 17.99 as IEEE 754, little-endian
    assert features_sha256(values) == hashlib.sha256(packed).hexdigest()


def test_genesis_is_the_sha256_of_the_prefix_and_the_file_name() -> None:
    expected = hashlib.sha256(b"bcml-prediction-log-v1:" + NAME.encode()).hexdigest()
    assert genesis(NAME) == expected
    assert genesis("predictions-2026-11-30-8.jsonl") != expected


def test_an_intact_chain_reports_its_records_and_head() -> None:
    lines = _chain(5)
    check = check_chain(NAME, _data(lines))
    assert (check.records, check.broken, check.torn_tail) == (5, None, False)
    assert check.head == hashlib.sha256(lines[-1]).hexdigest()
    empty = check_chain(NAME, b"")
    assert (empty.records, empty.head, empty.broken) == (0, None, None)


def _break(lines: list[bytes], name: str = NAME) -> tuple[int, str]:
    broken = check_chain(name, _data(lines)).broken
    assert broken is not None
    return broken.line, broken.reason


def test_a_changed_record_is_named_at_its_own_line() -> None:
    lines = _chain(6)
    lines[2] = lines[2].replace(b'"probability": 0.2', b'"probability": 0.9')
    assert _break(lines) == (3, "changed")


def test_removed_records_are_named_at_the_line_before_the_gap() -> None:
    lines = _chain(6)
    assert _break(lines[:3] + lines[5:]) == (3, "changed")  # lines 4 and 5 removed
    assert _break(lines[1:]) == (1, "removed_first")


def test_a_file_renamed_or_records_moved_from_another_file_break_at_line_1() -> None:
    assert _break(_chain(3), name="predictions-2026-12-01-7.jsonl") == (1, "removed_first")


def test_swapped_records_are_reordered_at_the_first_of_them() -> None:
    lines = _chain(6)
    assert _break([*lines[:3], lines[4], lines[3], lines[5]]) == (4, "reordered")


def test_a_record_forged_into_the_chain_is_named_as_inserted() -> None:
    lines = _chain(5)
    forged = json.dumps({"v": 1, "row": 99, "prev_sha256": line_sha256(lines[1])}).encode()
    assert _break([*lines[:2], forged, *lines[2:]]) == (3, "inserted")


def test_a_copied_record_is_a_duplicate() -> None:
    lines = _chain(5)
    assert _break([*lines[:3], lines[1], *lines[3:]]) == (4, "duplicate")


def test_an_altered_link_is_named_on_its_own_line() -> None:
    lines = _chain(4)
    link = line_sha256(lines[1])
    other = ("0" if link[10] != "0" else "1").encode()
    lines[2] = lines[2].replace(link.encode(), link[:10].encode() + other + link[11:].encode())
    assert _break(lines) == (3, "link_changed")


@pytest.mark.parametrize(
    "bad",
    [
        b"not json",
        b"[1, 2]",
        b'{"prev_sha256": "abc"}',
        b'{"prev_sha256": "' + b"0" * 64 + b'", "v": 1}',
        b"",
    ],
)
def test_a_line_that_is_not_a_record_is_malformed(bad: bytes) -> None:
    lines = _chain(3)
    assert _break([*lines[:2], bad, *lines[2:]]) == (3, "malformed")


def test_a_torn_last_line_is_not_a_record_and_not_a_break() -> None:
    lines = _chain(3)
    check = check_chain(NAME, _data(lines) + b'{"v": 1, "ro')
    assert (check.records, check.broken, check.torn_tail) == (3, None, True)
    assert check.head == line_sha256(lines[-1])


def test_the_walker_follows_the_chain_a_line_at_a_time_and_stops_where_it_breaks() -> None:
    lines = _chain(5)
    walker = ChainWalker(NAME)
    assert [walker.step(line) for line in lines] == [line_sha256(line) for line in lines]
    assert (walker.records, walker.head) == (5, check_chain(NAME, _data(lines)).head)
    lines[2] = lines[2].replace(b'"row": 2', b'"row": 7')
    walker = ChainWalker(NAME)
    assert [walker.step(line) is not None for line in lines[:4]] == [True, True, True, False]
