"""The local model store: atomic publishing of promoted models, and loading them back.

Layout under ``models_dir``::

    latest -> history/<run_id>      a symlink, replaced atomically by rename(2)
    history/<run_id>/               every promoted model, kept for rollback
        model/                      the MLflow model directory (model.skops, MLmodel, ...)
        confusion_matrix.png, classification_report.txt, run_summary.json, ...
        MODEL_CARD.md, MODEL_CARD.html
        promotion_metadata.json     holds the SHA256 of every file in model/ and of the card
        promotion_metadata.sha256   written last: the SHA256 of promotion_metadata.json
                                    (``sha256sum -c`` format), also a registry version tag
    .publish.lock                   serialises publishers (two trainings at once)

A reader opening ``latest/`` sees the old model or the new one, whole, at any instant: the new
folder is complete (and fsynced) before the symlink swap, and the swap is one rename.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import json
import os
import shutil
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

from breast_cancer_ml.domain.conformal import ConformalParams
from breast_cancer_ml.domain.contract import Envelope
from breast_cancer_ml.domain.decision import DEFAULT_THRESHOLD
from breast_cancer_ml.domain.drift import DriftProfile
from breast_cancer_ml.domain.explain import Explainer, ExplainerParams
from breast_cancer_ml.domain.records import PromotionMetadata, parse_metadata
from breast_cancer_ml.domain.schema import FEATURES
from breast_cancer_ml.domain.scoring import ProbaFn, proba_function
from breast_cancer_ml.errors import (
    BadMetadataError,
    ChampionChangedError,
    ModelIntegrityError,
    ModelStoreError,
    UnloadableModelError,
    UntrustedModelError,
)

LATEST = "latest"
HISTORY = "history"
MODEL_SUBDIR = "model"
METADATA_FILE = "promotion_metadata.json"
METADATA_SIDECAR = "promotion_metadata.sha256"
#: The registry version tag holding the same SHA256 as the sidecar.
METADATA_SHA256_TAG = "promotion_metadata_sha256"
#: The training run's artifact folder holding the metadata file and its sidecar, attached
#: before the alias moves: a service following the registry verifies a version with them.
PROMOTION_ARTIFACT_DIR = "promotion"
LOCK_FILE = ".publish.lock"
#: The model card published beside the model (``adapters/model_card.py``, written at promotion)
#: and its HTML rendering: hashed like the model files (``card_sha256``), checked on load.
MODEL_CARD_MD = "MODEL_CARD.md"
MODEL_CARD_HTML = "MODEL_CARD.html"
CARD_FILES = (MODEL_CARD_MD, MODEL_CARD_HTML)
_STAGING_PREFIX = ".staging-"


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def hash_tree(root: Path) -> dict[str, str]:
    """``{relative posix path: sha256}`` of every file below ``root``, sorted."""
    return {
        p.relative_to(root).as_posix(): sha256_file(p)
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def _fsync_tree(root: Path) -> None:
    for p in root.rglob("*"):
        if p.is_file():
            fd = os.open(p, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
    _fsync_dir(root)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextlib.contextmanager
def publish_lock(models_dir: Path, timeout: float = 600) -> Iterator[None]:
    """Hold the store's publish lock (a file lock, so it also works across processes)."""
    from filelock import FileLock, Timeout

    models_dir.mkdir(parents=True, exist_ok=True)
    lock = FileLock(str(models_dir / LOCK_FILE), timeout=timeout)
    try:
        with lock:
            yield
    except Timeout:
        raise ModelStoreError(
            f"{models_dir}: another process holds {LOCK_FILE} for over {timeout:.0f} s."
        ) from None


#: ``publish(expected_latest=...)`` default: publish whatever the current champion is.
UNCHECKED: Any = object()


def latest_run_id(models_dir: Path) -> str | None:
    """The run id ``latest`` points at (its history folder's name), ``None`` if no model yet."""
    latest = models_dir / LATEST
    return latest.resolve().name if latest.exists() else None


def publish(
    models_dir: Path,
    run_id: str,
    model_dir: Path,
    artifacts: list[Path],
    metadata: PromotionMetadata | dict[str, Any],
    *,
    expected_latest: object = UNCHECKED,
    before_swap: Callable[[Path], None] | None = None,
) -> Path:
    """Publish a promoted model as ``models_dir/latest`` and return its history folder.

    ``model_dir`` (the MLflow model directory) and ``artifacts`` are copied into a staging
    folder, ``metadata`` plus the SHA256 of every model file is written as
    ``promotion_metadata.json`` (training passes a :class:`PromotionMetadata`; tests may pass
    a deliberately broken dict, which loading then refuses), the folder is fsynced and renamed
    to ``history/<run_id>``, and ``latest`` is switched to it by an atomic rename.
    ``before_swap(final)`` runs under the lock just before the swap (training moves the
    registry alias there, so the alias and ``latest`` move together; tests use it to
    interleave); if it raises, ``latest`` stays.

    ``expected_latest`` (a run id, or ``None`` for "no model yet") is the champion the caller
    compared itself with: if another publisher replaced it meanwhile, the publish is refused
    with :class:`ChampionChangedError`, under the same lock as the swap.
    """
    history = models_dir / HISTORY
    with publish_lock(models_dir):
        if expected_latest is not UNCHECKED:
            current = latest_run_id(models_dir)
            if current != expected_latest:
                raise ChampionChangedError(
                    f"{models_dir / LATEST} changed while this model trained: it compared "
                    f"itself with {expected_latest or 'no model'}, the champion is now "
                    f"{current or 'none'}. Not promoted; train again to compare with it."
                )
        history.mkdir(parents=True, exist_ok=True)
        _remove_stale_staging(history)
        final = history / run_id
        if final.exists():
            raise ModelStoreError(f"{final} exists already: run {run_id} was published before.")
        staging = history / f"{_STAGING_PREFIX}{run_id}-{uuid.uuid4().hex[:8]}"
        staging.mkdir()
        try:
            shutil.copytree(model_dir, staging / MODEL_SUBDIR)
            for artifact in artifacts:
                shutil.copy2(artifact, staging / artifact.name)
            record = metadata.model_dump() if isinstance(metadata, PromotionMetadata) else metadata
            full = {**record, "model_sha256": hash_tree(staging / MODEL_SUBDIR)}
            cards = {n: sha256_file(staging / n) for n in CARD_FILES if (staging / n).is_file()}
            if cards:
                full["card_sha256"] = cards
            (staging / METADATA_FILE).write_text(json.dumps(full, indent=2, sort_keys=True))
            seal_metadata(staging)  # last: a folder with a sidecar is complete
            _fsync_tree(staging)
            staging.rename(final)
            _fsync_dir(history)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        if before_swap is not None:
            before_swap(final)
        _point_latest(models_dir, final)
        return final


def seal_metadata(folder: Path) -> str:
    """Write ``promotion_metadata.sha256`` for ``folder``'s metadata file; return the SHA256."""
    digest = sha256_file(folder / METADATA_FILE)
    (folder / METADATA_SIDECAR).write_text(f"{digest}  {METADATA_FILE}\n")
    return digest


def recorded_metadata_sha256(folder: Path) -> str:
    """The SHA256 of the metadata file as recorded in ``folder``'s sidecar at promotion."""
    path = folder / METADATA_SIDECAR
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise BadMetadataError(
            f"{path} is missing: the promotion metadata of {folder.name} cannot be checked "
            "(published by an older version, or altered). Refusing the model; re-promote it "
            "with `bcml train` or roll back."
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise BadMetadataError(f"{path} cannot be read: {exc}") from None
    fields = text.split()
    if len(fields) != 2 or fields[1] != METADATA_FILE or not _is_sha256(fields[0]):
        raise BadMetadataError(
            f"{path} is not '<sha256>  {METADATA_FILE}'. Refusing the model; re-promote it "
            "with `bcml train` or roll back."
        )
    return fields[0]


def _is_sha256(text: str) -> bool:
    return len(text) == 64 and all(c in "0123456789abcdef" for c in text)


def _check_metadata_seal(folder: Path) -> None:
    """``promotion_metadata.json`` is the file that was promoted: its SHA256 equals the
    sidecar's. An edited threshold or envelope is then refused (``hash_mismatch``)."""
    path = folder / METADATA_FILE
    if not path.is_file():
        raise ModelStoreError(f"{path} is missing: {folder} is not a promoted model.")
    recorded = recorded_metadata_sha256(folder)
    actual = sha256_file(path)
    if actual != recorded:
        raise ModelIntegrityError(
            f"{path} does not match {METADATA_SIDECAR} (SHA256 {actual[:12]}... != recorded "
            f"{recorded[:12]}...): the promotion metadata was modified after promotion. "
            "Refusing to use it; re-promote or roll back."
        )


def _point_latest(models_dir: Path, target: Path) -> None:
    latest = models_dir / LATEST
    if latest.exists() and not latest.is_symlink():
        raise ModelStoreError(
            f"{latest} is a real folder, not the symlink this store manages; move it away "
            f"(e.g. into {models_dir / HISTORY}/) and publish again."
        )
    tmp_link = models_dir / f".{LATEST}-{uuid.uuid4().hex[:8]}"
    tmp_link.symlink_to(os.path.relpath(target, models_dir), target_is_directory=True)
    tmp_link.replace(latest)  # rename(2) is atomic: readers see the old target or the new one
    _fsync_dir(models_dir)


def _remove_stale_staging(history: Path) -> None:
    # Left by a publisher that died mid-copy. Safe under the lock: no one else is publishing.
    for leftover in history.glob(f"{_STAGING_PREFIX}*"):
        shutil.rmtree(leftover, ignore_errors=True)


@dataclass(frozen=True)
class HistoryEntry:
    """One promoted model in ``history/``, as ``bcml rollback --list`` shows it."""

    run_id: str
    folder: Path
    promoted_at: str | None  # ISO 8601 UTC; None when the metadata cannot be read
    registered: dict[str, str] | None  # {"name", "version", "alias"} when registered
    model: str | None
    current: bool

    @property
    def registry_version(self) -> str | None:
        return None if self.registered is None else self.registered.get("version")

    @property
    def promoted(self) -> dt.datetime | None:
        return None if self.promoted_at is None else _instant(self.promoted_at)


def _entry(folder: Path, current: Path | None) -> HistoryEntry:
    try:
        record = parse_metadata(read_metadata(folder), str(folder / METADATA_FILE))
    except ModelStoreError:
        record = None  # listed; with no promotion time it is never the default rollback target
    when = None if record is None else record.promoted_at
    registered = None if record is None else record.registered_model
    return HistoryEntry(
        run_id=folder.name,
        folder=folder,
        promoted_at=when if when is not None and _instant(when) is not None else None,
        registered=(
            None
            if registered is None
            else {k: str(v) for k, v in registered.model_dump().items() if v is not None}
        ),
        model=None if record is None else record.model,
        current=current is not None and folder.resolve() == current,
    )


def _instant(iso: str) -> dt.datetime | None:
    try:
        when = dt.datetime.fromisoformat(iso)
    except ValueError:
        return None
    return when if when.tzinfo is not None else when.replace(tzinfo=dt.UTC)


def promoted_history(models_dir: Path) -> list[HistoryEntry]:
    """Every promoted model in ``history/``, newest promotion first (unreadable ones last)."""
    history = models_dir / HISTORY
    if not history.is_dir():
        return []
    latest = models_dir / LATEST
    current = latest.resolve() if latest.exists() else None
    entries = [
        _entry(d, current)
        for d in history.iterdir()
        if d.is_dir() and not d.name.startswith(_STAGING_PREFIX) and (d / METADATA_FILE).exists()
    ]
    oldest = dt.datetime.min.replace(tzinfo=dt.UTC)
    return sorted(entries, key=lambda e: e.promoted or oldest, reverse=True)


def previous_model(entries: list[HistoryEntry]) -> HistoryEntry | None:
    """The newest model promoted strictly before the current one (``None``: there is none).

    Comparing promotion times, not "newest that is not current", is what makes two rollbacks
    go C -> B -> A rather than C -> B -> C. With no readable current model (a broken or
    missing ``latest``), the newest readable model is the answer.
    """
    current = next((e for e in entries if e.current), None)
    dated = [(when, e) for e in entries if not e.current and (when := e.promoted) is not None]
    now = current.promoted if current is not None else None
    if now is None:
        return dated[0][1] if dated else None
    earlier = [e for when, e in dated if when < now]
    return earlier[0] if earlier else None


@dataclass(frozen=True)
class RolledBack:
    """What a rollback changed: ``latest`` went from ``previous`` to ``target``."""

    previous: HistoryEntry | None
    target: HistoryEntry


def rollback(models_dir: Path, run_id: str | None = None) -> RolledBack:
    """Point ``latest`` at ``history/<run_id>``, or at the newest model promoted before the
    current one; the target is verified (files and metadata) first."""
    history = models_dir / HISTORY
    with publish_lock(models_dir):
        entries = promoted_history(models_dir)
        previous = next((e for e in entries if e.current), None)
        if not entries:
            raise ModelStoreError(f"{history}: no promoted model yet. Run `bcml train` first.")
        if run_id is None:
            chosen = previous_model(entries)
            if chosen is None:
                when = f" (promoted {previous.promoted_at})" if previous else ""
                raise ModelStoreError(
                    f"{history}: no model was promoted before the current one{when}; nothing "
                    "to roll back to. `bcml rollback --list` shows them all."
                )
            target = chosen.folder
        else:
            target = history / run_id
            if not (target / METADATA_FILE).is_file():
                raise ModelStoreError(
                    f"{target}: no promoted model with run id {run_id}. "
                    "`bcml rollback --list` shows them all."
                )
        verify(target)
        _point_latest(models_dir, target)
        return RolledBack(previous=previous, target=_entry(target, target.resolve()))


def resolve_latest(models_dir: Path) -> Path:
    """The real folder behind ``models_dir/latest`` (resolve once, then read only from it)."""
    latest = models_dir / LATEST
    if not latest.exists():
        raise ModelStoreError(
            f"{latest} does not exist: no model has been promoted yet. Run `bcml train` first."
        )
    return latest.resolve()


def read_metadata(folder: Path) -> dict[str, Any]:
    path = folder / METADATA_FILE
    try:
        data: dict[str, Any] = json.loads(path.read_text())
    except FileNotFoundError:
        raise ModelStoreError(f"{path} is missing: {folder} is not a promoted model.") from None
    except (OSError, ValueError) as exc:
        raise BadMetadataError(f"{path} cannot be read as JSON: {exc}") from None
    if not isinstance(data, dict):
        raise BadMetadataError(f"{path} holds a JSON {type(data).__name__}, not an object.")
    return data


def verify(folder: Path) -> dict[str, Any]:
    """Check the metadata file against its sidecar and every file in ``folder/model`` against
    the SHA256 sums it records; return the metadata."""
    _check_metadata_seal(folder)
    metadata = read_metadata(folder)
    expected = metadata.get("model_sha256")
    if not isinstance(expected, dict) or not expected:
        raise BadMetadataError(f"{folder / METADATA_FILE} has no model_sha256 table.")
    model = folder / MODEL_SUBDIR
    actual = hash_tree(model) if model.is_dir() else {}
    missing = sorted(set(expected) - set(actual))
    extra = sorted(set(actual) - set(expected))
    changed = sorted(k for k in set(expected) & set(actual) if expected[k] != actual[k])
    if missing or extra or changed:
        raise ModelIntegrityError(
            f"{model} does not match {METADATA_FILE}: missing {missing}, unexpected {extra}, "
            f"modified {changed}. Refusing to use it; re-promote or roll back."
        )
    verify_card(folder, metadata)
    return metadata


def verify_card(folder: Path, metadata: dict[str, Any]) -> None:
    """Each card file the metadata records a SHA256 for (``card_sha256``) is in ``folder``
    and unchanged (metadata written before the card existed records none, and is checked for
    none)."""
    recorded = metadata.get("card_sha256")
    if recorded is None:
        return
    if not isinstance(recorded, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in recorded.items()
    ):
        raise BadMetadataError(f"{folder / METADATA_FILE}: card_sha256 is not a name->SHA256 map.")
    for name, digest in sorted(recorded.items()):
        path = folder / name
        if name not in CARD_FILES or not path.is_file() or sha256_file(path) != digest:
            raise ModelIntegrityError(
                f"{path} is missing or does not match the SHA256 recorded in {METADATA_FILE}: "
                "the model card was modified after promotion. Refusing to use it; re-promote "
                "or roll back."
            )


#: Every scikit-learn type a published model may hold: the one allowlist of every process and
#: entry point (serve, predict, train, compare, the Lambda handler, Spark). skops trusts every
#: public scikit-learn estimator by default; :func:`load_skops` narrows that to this set. Extend
#: together with the estimator registry (domain/models.py): a test fits every candidate and
#: loads it through this list.
TRUSTED_TYPES: frozenset[str] = frozenset(
    {
        "sklearn.pipeline.Pipeline",
        "sklearn.preprocessing._data.StandardScaler",
        "sklearn.linear_model._logistic.LogisticRegression",
        "sklearn.tree._classes.DecisionTreeClassifier",
        "sklearn.tree._tree.Tree",
        "sklearn.ensemble._forest.RandomForestClassifier",
        "sklearn.calibration.CalibratedClassifierCV",
        "sklearn.calibration._CalibratedClassifier",
        "sklearn.calibration._SigmoidCalibration",
        "sklearn.svm._classes.SVC",
        # svm_log's log1p step. Its function (numpy.log1p) is a numpy ufunc, which skops
        # trusts by default; any other function in a file is reported and refused.
        "sklearn.preprocessing._function_transformer.FunctionTransformer",
        "sklearn.ensemble._hist_gradient_boosting.gradient_boosting.HistGradientBoostingClassifier",
        "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
        # what a fitted HistGradientBoostingClassifier holds besides its trees
        "sklearn.preprocessing._label.LabelEncoder",
        "sklearn.ensemble._hist_gradient_boosting.binning._BinMapper",
        "sklearn._loss.loss.HalfBinomialLoss",
        "sklearn._loss._loss.CyHalfBinomialLoss",
        "sklearn._loss.link.LogitLink",
        "sklearn._loss.link.Interval",
        "sklearn.neighbors._classification.KNeighborsClassifier",
    }
)
SKOPS_FILE = "model.skops"


@dataclass(frozen=True)
class PublishedModel:
    """A verified, loaded promoted model and what callers need to score with it.

    ``envelope`` is the plausibility envelope learned from the model's training split
    (:class:`~breast_cancer_ml.domain.contract.Envelope`); ``None`` only for a bare MLflow
    model, which carries none: its answers are then never reported with high confidence.
    """

    folder: Path
    metadata: dict[str, Any]
    pipeline: Any
    proba: ProbaFn
    envelope: Envelope | None = None
    #: the promotion metadata, read through its class; ``None`` for a bare MLflow model
    record: PromotionMetadata | None = None
    #: the refer rule of a model without promotion metadata (a registry model scored from its
    #: training run's summary); a published model's rule is its record's
    refer_rule: ConformalParams | None = None
    #: the explainer of a model without promotion metadata (a registry model scored from its
    #: training run's summary); a published model's is its record's
    explain_rule: ExplainerParams | None = None
    #: the drift reference of such a model (from its run summary), as :attr:`refer_rule`
    drift_reference: DriftProfile | None = None

    @property
    def run_id(self) -> str:
        if self.record is not None:
            return self.record.run_id
        return str(self.metadata["run_id"])

    @property
    def threshold(self) -> float:
        if self.record is not None:
            return self.record.threshold
        return float(self.metadata.get("threshold", DEFAULT_THRESHOLD))

    @property
    def registry_version(self) -> str | None:
        """The Model Registry version of this model, if it was registered."""
        if self.record is not None and self.record.registered_model is not None:
            return self.record.registered_model.version
        registered = self.metadata.get("registered_model")
        if isinstance(registered, dict) and registered.get("version") is not None:
            return str(registered["version"])
        return None

    @property
    def feature_names(self) -> list[str]:
        if self.record is not None:
            return list(self.record.feature_names)
        return list(self.metadata.get("feature_names", FEATURES))

    @property
    def conformal(self) -> ConformalParams | None:
        """The refer rule fitted at promotion; ``None`` for metadata written before it and
        for a bare MLflow model (then the set is the thresholded class: domain/refer.py)."""
        return self.record.conformal if self.record is not None else self.refer_rule

    @property
    def explainer_params(self) -> ExplainerParams | None:
        """How this model is explained (built at promotion); ``None`` for metadata written
        before explanations and for a bare MLflow model (a linear one is still explained
        exactly: domain/explain.py)."""
        return self.record.explainer if self.record is not None else self.explain_rule

    @cached_property
    def explainer(self) -> Explainer:
        """This model's explainer, built on first use and kept with the model."""
        name = self.record.model if self.record is not None else None
        if not name:
            name = type(getattr(self.pipeline, "steps", [(None, self.pipeline)])[-1][1]).__name__
        return Explainer(self.pipeline, self.explainer_params, name)

    @property
    def drift_profile(self) -> DriftProfile | None:
        """The drift reference built at promotion (``bcml monitor``); ``None`` for a model
        promoted before it and for a bare MLflow model."""
        if self.record is not None:
            return self.record.drift_reference
        return self.drift_reference

    def card_path(self, fmt: str = "md") -> Path | None:
        """``MODEL_CARD.md`` (``fmt="md"``) or ``MODEL_CARD.html`` (``"html"``) published
        beside the model, or ``None`` when this model has none."""
        path = self.folder / (MODEL_CARD_HTML if fmt == "html" else MODEL_CARD_MD)
        return path if path.is_file() else None


def load_skops(path: Path, trusted: frozenset[str] = TRUSTED_TYPES) -> Any:
    """Load a skops file, refusing any type outside ``trusted`` (no pickle, no arbitrary code).

    Two checks, the same in every process:

    1. before anything is built: every type skops does not trust by default must be in
       ``trusted``, and ``trusted`` is what ``skops.io.load`` is given, explicitly;
    2. after: skops trusts every public scikit-learn estimator by default, so the loaded object
       is walked and every scikit-learn object in it, at any depth (a step, a calibrated
       estimator, a forest's trees), must be of a type in ``trusted`` (:func:`_check_structure`).
    """
    import skops.io as sio

    try:
        refused = sorted(set(sio.get_untrusted_types(file=path)) - trusted)
        if refused:
            raise UntrustedModelError(f"{path} contains types that are not trusted: {refused}")
        model = sio.load(path, trusted=sorted(trusted))
    except ModelIntegrityError:
        raise
    except Exception as exc:  # skops raises many kinds on a corrupt file
        raise UnloadableModelError(f"{path} cannot be loaded as a skops model: {exc}") from None
    _check_structure(path, model, trusted)
    return model


def check_logged_model(model_dir: Path, fitted: Any, example: Any) -> None:
    """The logged MLflow model in ``model_dir`` loads through :func:`load_skops` (our allowlist)
    and gives exactly ``fitted``'s probabilities on ``example`` (rows of the 30 features).

    Run on the downloaded copy of every logged model before anything is registered or
    published; it replaces MLflow's own serving-input check (see ``adapters/tracking.py``).
    """
    import numpy as np

    loaded = load_skops(model_dir / SKOPS_FILE)
    rows = np.asarray(example, dtype=np.float64)
    expected = fitted.predict_proba(rows)
    got = loaded.predict_proba(rows)
    if not np.array_equal(expected, got):
        raise ModelIntegrityError(
            f"{model_dir}: the logged model's probabilities on the input example differ from "
            f"the fitted model's ({got.tolist()} != {expected.tolist()}); nothing was published."
        )


def _qualname(obj: Any) -> str:
    return f"{type(obj).__module__}.{type(obj).__qualname__}"


def _check_structure(path: Path, model: Any, trusted: frozenset[str]) -> None:
    """A promoted model is a Pipeline, and every scikit-learn object in it is of a type we
    build (skops' own defaults trust every scikit-learn estimator)."""
    if _qualname(model) != "sklearn.pipeline.Pipeline" or not isinstance(
        getattr(model, "steps", None), list
    ):
        raise UntrustedModelError(f"{path} holds a {_qualname(model)}, not a Pipeline we build.")
    foreign = sorted(sklearn_types_in(model) - trusted)
    if foreign:
        raise UntrustedModelError(
            f"{path} holds scikit-learn types that are not trusted: {foreign}"
        )


def sklearn_types_in(obj: Any) -> set[str]:
    """The qualified names of every scikit-learn object reachable from ``obj``: through
    attributes, containers and object arrays, at any depth, each object visited once."""
    import numpy as np

    found: set[str] = set()
    seen: set[int] = set()
    stack = [obj]
    while stack:
        item = stack.pop()
        if id(item) in seen:
            continue
        seen.add(id(item))
        name = _qualname(item)
        if name.startswith("sklearn."):
            found.add(name)
        if isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, (list, tuple, set, frozenset)):
            stack.extend(item)
        elif isinstance(item, np.ndarray):
            if item.dtype == object:
                stack.extend(item.ravel().tolist())
        elif isinstance(attributes := getattr(item, "__dict__", None), dict):
            stack.extend(attributes.values())
    return found


def trusted_types_for(model: Any, trusted: frozenset[str] = TRUSTED_TYPES) -> list[str]:
    """The non-default types skops needs trusted to load ``model`` (``[]`` for scaler+logreg).

    Raises :class:`ModelIntegrityError` when ``model`` holds a type outside ``trusted``: such
    a model could be published but never loaded, so it is refused before logging.
    """
    import skops.io as sio

    needed = sorted(sio.get_untrusted_types(data=sio.dumps(model)))
    refused = sorted((set(needed) | sklearn_types_in(model)) - trusted)
    if refused:
        raise ModelIntegrityError(
            f"the model holds types outside model_store.TRUSTED_TYPES: {refused}. Add them "
            "there (with the estimator registry) after checking they are safe to load."
        )
    return needed


def load_published(folder: Path) -> PublishedModel:
    """Verify ``folder`` (a ``history/<run_id>`` or the resolved ``latest``) and load it."""
    metadata = verify(folder)
    record = parse_metadata(metadata, str(folder / METADATA_FILE))
    pipeline = load_skops(folder / MODEL_SUBDIR / SKOPS_FILE)
    try:
        proba = proba_function(pipeline)
    except ValueError as exc:
        raise UnloadableModelError(f"{folder}: {exc}") from None
    return PublishedModel(
        folder=folder,
        metadata=metadata,
        pipeline=pipeline,
        proba=proba,
        envelope=record.envelope,
        record=record,
    )


def load_latest(models_dir: Path) -> PublishedModel:
    """Resolve ``models_dir/latest`` once and load the verified model behind it."""
    return load_published(resolve_latest(models_dir))
