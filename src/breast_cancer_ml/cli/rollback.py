"""``bcml rollback``: point models/latest at an earlier promoted model, list the promoted
models, and keep the registry alias in step (moved with ``--move-alias``, else a warning)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from breast_cancer_ml.errors import BcmlError, ConfigError


def add_parser(sub: Any) -> None:
    rollback = sub.add_parser(
        "rollback",
        help="point models/latest at an earlier promoted model",
        description="Point models/latest at an earlier promoted model (verified first). "
        "Default: the newest model promoted before the current one, so two rollbacks go "
        "C -> B -> A. The registry alias is not moved unless --move-alias is given; a warning "
        "says when it points elsewhere.",
    )
    rollback.add_argument(
        "run_id", nargs="?", help="run id in models/history (default: the one promoted before)"
    )
    rollback.add_argument(
        "--models-dir", type=Path, default=Path("models"), help="the model store (default: models)"
    )
    rollback.add_argument(
        "--list",
        action="store_true",
        help="list every promoted model, newest first; * marks the current one",
    )
    rollback.add_argument(
        "--move-alias",
        action="store_true",
        help="also point the registry alias (champion) at the model rolled back to",
    )
    rollback.add_argument(
        "--tracking-uri",
        default=None,
        help="MLflow store of the registry (default: the one the model was "
        "trained against, from its run_summary.json)",
    )
    rollback.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    from breast_cancer_ml.adapters import model_store

    if args.list:
        entries = model_store.promoted_history(args.models_dir)
        if not entries:
            print(f"{args.models_dir / model_store.HISTORY}: no promoted model yet.")
            return 0
        print("   promoted at                 run id                            registry  model")
        for e in entries:
            mark = "*" if e.current else " "
            version = f"v{e.registry_version}" if e.registry_version else "-"
            print(
                f"{mark}  {e.promoted_at or '(unreadable)':<26}  {e.run_id:<32}  "
                f"{version:<8}  {e.model or '-'}" + ("   <- current" if e.current else "")
            )
        current = next((e for e in entries if e.current), None)
        if current is not None:
            _warn_if_alias_differs(args, current)
        return 0

    done = model_store.rollback(args.models_dir, args.run_id)
    target, previous = done.target, done.previous
    before = (
        f"{previous.run_id} (promoted {previous.promoted_at or 'at an unknown time'})"
        if previous is not None
        else "no readable model"
    )
    print(f"rolled back from {before} to {target.run_id} (promoted {target.promoted_at})")
    print(f"{args.models_dir / model_store.LATEST} -> {target.folder}")
    if args.move_alias:
        return _move_alias(args, target)
    _warn_if_alias_differs(args, target)
    return 0


def _registry_of(args: argparse.Namespace, entry: Any) -> tuple[str, str, str, str] | None:
    """(tracking URI, registered name, alias, version) of a promoted model, if registered."""
    import json

    from breast_cancer_ml.adapters.tracking import resolve_tracking_uri
    from breast_cancer_ml.domain.records import RunSummary, parse_record

    reg = entry.registered or {}
    if not reg.get("name") or not reg.get("version"):
        return None
    uri = args.tracking_uri
    if uri is None:  # the store the model was trained against, as its run summary says
        path = entry.folder / "run_summary.json"
        try:
            uri = parse_record(RunSummary, json.loads(path.read_text()), str(path)).tracking_uri
        except (OSError, ValueError, BcmlError):
            uri = None
    return resolve_tracking_uri(uri), reg["name"], reg.get("alias") or "champion", reg["version"]


def _warn_if_alias_differs(args: argparse.Namespace, entry: Any) -> None:
    """Warn when the registry alias points at another version than ``models/latest``. An
    unreachable store is a note, not a failure: the rollback itself is local."""
    from breast_cancer_ml.adapters.tracking import alias_version
    from breast_cancer_ml.errors import TrackingStoreError

    where = _registry_of(args, entry)
    if where is None:
        return
    uri, name, alias, version = where
    try:
        pointed = alias_version(uri, name, alias)
    except TrackingStoreError as exc:
        print(f"note: the registry alias {name}@{alias} was not checked: {exc}", file=sys.stderr)
        return
    _warn_if_registry_hash_differs(uri, name, version, entry)
    if pointed != version:
        print(
            f"warning: the registry alias {name}@{alias} points to version {pointed or '(none)'}"
            f", but {args.models_dir / 'latest'} is version {version} (run {entry.run_id}). "
            f"Anything serving {name}@{alias} serves another model; move the alias with "
            f"`bcml rollback {entry.run_id} --move-alias`.",
            file=sys.stderr,
        )


def _warn_if_registry_hash_differs(uri: str, name: str, version: str, entry: Any) -> None:
    """The registry version's record of the metadata SHA256 must equal the folder's sidecar
    (both written at promotion); a difference means one of them was changed since."""
    from breast_cancer_ml.adapters import model_store
    from breast_cancer_ml.adapters.tracking import version_tag
    from breast_cancer_ml.errors import BcmlError

    try:
        recorded = version_tag(uri, name, version, model_store.METADATA_SHA256_TAG)
        sidecar = model_store.recorded_metadata_sha256(entry.folder)
    except BcmlError:
        return  # unreachable store (noted by the caller) or a folder verify() already judged
    if recorded is not None and recorded != sidecar:
        print(
            f"warning: {name} version {version} records another SHA256 of "
            f"{model_store.METADATA_FILE} ({recorded[:12]}...) than {entry.folder} "
            f"({sidecar[:12]}...): one of them was changed after promotion.",
            file=sys.stderr,
        )


def _move_alias(args: argparse.Namespace, entry: Any) -> int:
    from breast_cancer_ml.adapters.tracking import move_alias
    from breast_cancer_ml.errors import TrackingStoreError

    where = _registry_of(args, entry)
    if where is None:
        print(
            f"error: {entry.run_id} has no registry version (it was not registered); "
            "models/latest was rolled back, the alias was not moved.",
            file=sys.stderr,
        )
        return ConfigError.exit_code
    uri, name, alias, version = where
    try:
        move_alias(uri, name, alias, version)
    except TrackingStoreError as exc:
        raise TrackingStoreError(
            f"models/latest was rolled back, but the alias was not moved: {exc}"
        ) from None
    print(f"registry:      {name}@{alias} -> version {version}")
    return 0
