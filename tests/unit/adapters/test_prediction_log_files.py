"""The prediction log's files on disk: anchors given to ``--expect`` (a service log, a bare
SHA256) and what is refused as unusable (exit 2 in the CLI)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from breast_cancer_ml.adapters.prediction_log import (
    HEAD_EVENT,
    Anchor,
    read_anchors,
    verify_dir,
)
from breast_cancer_ml.domain.audit_chain import genesis, line_sha256
from breast_cancer_ml.errors import ConfigError

NAME = "predictions-2026-11-30-7.jsonl"


def _log(folder: Path, n: int) -> list[bytes]:
    folder.mkdir(exist_ok=True)
    lines, link = [], genesis(NAME)
    for i in range(n):
        line = json.dumps({"v": 1, "row": i, "prev_sha256": link}).encode()
        lines.append(line)
        link = line_sha256(line)
    (folder / NAME).write_bytes(b"\n".join(lines) + b"\n")
    return lines


def test_a_service_log_gives_its_heads_and_ignores_every_other_line(tmp_path: Path) -> None:
    log = tmp_path / "service.log"
    head = {"event": HEAD_EVENT, "file": NAME, "records": 3, "sha256": "a" * 64}
    log.write_text(
        "\n".join(
            [
                json.dumps({"event": "started", "msg": "service started"}),
                "not json at all",
                json.dumps(head),
                json.dumps({**head, "records": 0}),  # not an anchor: nothing written yet
            ]
        )
    )
    assert read_anchors(str(log)) == [Anchor("a" * 64, NAME, 3)]
    assert read_anchors("B" * 64) == [Anchor("b" * 64)]


def test_an_expect_that_is_neither_a_hash_nor_a_log_with_heads_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="neither a SHA256"):
        read_anchors(str(tmp_path / "missing.log"))
    empty = tmp_path / "empty.log"
    empty.write_text('{"event": "started"}\n')
    with pytest.raises(ConfigError, match="no prediction_log_head events"):
        read_anchors(str(empty))


def test_a_bare_hash_anchor_must_be_some_record(tmp_path: Path) -> None:
    lines = _log(tmp_path / "log", 4)
    found = verify_dir(tmp_path / "log", [Anchor(line_sha256(lines[2]))])
    assert found.ok and found.anchors[0].message.endswith(f"{NAME} line 3")
    gone = verify_dir(tmp_path / "log", [Anchor("c" * 64)])
    assert not gone.ok and "no record hashes to" in gone.anchors[0].message


def test_a_head_naming_a_missing_file_fails(tmp_path: Path) -> None:
    lines = _log(tmp_path / "log", 2)
    result = verify_dir(
        tmp_path / "log",
        [Anchor(line_sha256(lines[1]), NAME, 2), Anchor("d" * 64, "predictions-x.jsonl", 5)],
    )
    assert [a.ok for a in result.anchors] == [True, False]
    assert "predictions-x.jsonl is missing" in result.anchors[1].message
