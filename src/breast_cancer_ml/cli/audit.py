"""``bcml audit verify DIR``: check the prediction log's hash chains (and anchors).

Exit 0: every file's chain is intact (and every ``--expect`` anchor matches); 1: a record was
changed, removed, inserted or reordered (file, first bad line and reason are printed); 2: the
folder is missing, unreadable or holds no log file, or an ``--expect`` is unusable.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

TAMPERED = 1


def add_parser(sub: Any) -> None:
    audit = sub.add_parser(
        "audit",
        help="check the prediction log (bcml serve --prediction-log)",
        description="Audit the prediction log written by bcml serve --prediction-log.",
    )
    actions = audit.add_subparsers(dest="audit_command", metavar="ACTION", required=True)
    verify = actions.add_parser(
        "verify",
        help="check every file's hash chain; exit 1 naming the first bad line",
        description="Check the hash chain of every predictions-*.jsonl in DIR. Exit 0 when "
        "intact, 1 when a record was changed, removed, inserted or reordered (the file, the "
        "first bad line and why are printed), 2 when DIR is missing, unreadable or empty. A "
        "chain cannot show records removed from the end of a file: give the chain heads the "
        "service logged with --expect to check that too (docs/serving.md).",
    )
    verify.add_argument("dir", type=Path, metavar="DIR", help="the --prediction-log folder")
    verify.add_argument(
        "--expect",
        action="append",
        default=[],
        metavar="LOGFILE_OR_SHA256",
        help="an anchor: the service's JSON log (its prediction_log_head events: each file must "
        "still have that many records, the last hashing as logged), or one SHA256 a record "
        "must hash to; repeatable",
    )
    verify.add_argument("--json", action="store_true", help="print the result as JSON")
    verify.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    from breast_cancer_ml.adapters.prediction_log import read_anchors, verify_dir

    anchors = [a for value in args.expect for a in read_anchors(value)]
    result = verify_dir(args.dir, anchors)
    if args.json:
        import json

        print(json.dumps(result.as_dict(), indent=2))
        return 0 if result.ok else TAMPERED
    for f in result.files:
        check = f.check
        torn = (
            " (an incomplete last line, left by a crash, is not counted)" if check.torn_tail else ""
        )
        if check.broken is None:
            print(f"ok      {f.name}: {check.records} records{torn}")
        else:
            b = check.broken
            print(f"BROKEN  {f.name} line {b.line} ({b.reason}): {b.message}{torn}")
    for a in result.anchors:
        print(f"{'ok' if a.ok else 'BROKEN':<7} anchor: {a.message}")
    summary = f"{len(result.files)} files, {result.records} records"
    if result.ok:
        print(f"intact: {summary}" + (f", {len(result.anchors)} anchors" if anchors else ""))
        return 0
    bad = sum(not f.ok for f in result.files) + sum(not a.ok for a in result.anchors)
    print(f"TAMPERED: {summary}; {bad} problem(s) above", file=sys.stderr)
    return TAMPERED
