"""MLflow tracking and Model Registry: the only module of the training path importing mlflow.

The tracking store is MLflow 3's SQLite default (``sqlite:///mlflow.db``, artifacts under
``./mlruns`` beside it) unless ``--tracking-uri``/``BCML_TRACKING_URI`` or
``MLFLOW_TRACKING_URI`` names another store or a tracking server.

A new SQLite store is created and migrated by MLflow the first time a client touches it. Two
processes doing that at once race inside alembic's migration (one dies half-way), so
:func:`open_store` does it under a file lock beside the database (``mlflow.db.lock``): the
others wait, then find the tables made. Every MLflow, SQLAlchemy or alembic error of the store
leaves this module as :class:`~breast_cancer_ml.errors.TrackingStoreError` (exit 4).
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from breast_cancer_ml.errors import TrackingStoreError
from breast_cancer_ml.settings import DEFAULT_TRACKING_URI

#: The file MLflow's client adds to a downloaded registry model (models_artifact_repo.py).
REGISTERED_MODEL_META = "registered_model_meta"
#: How long a start-up waits for another process that is creating or migrating the store.
STORE_LOCK_TIMEOUT_S = 300.0


def resolve_tracking_uri(configured: str | None) -> str:
    """Settings first, then ``MLFLOW_TRACKING_URI``, then the SQLite default."""
    return configured or os.environ.get("MLFLOW_TRACKING_URI") or DEFAULT_TRACKING_URI


def quiet_mlflow(quiet: bool = True) -> None:
    """At the default verbosity, MLflow says only warnings: no INFO lines (``Creating initial
    MLflow database tables...``) and no artifact progress bar, which becomes one long line when
    stderr is not a terminal. ``quiet=False`` (``-v``) restores MLflow's own INFO level.

    Uses MLflow's public switches: the ``MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR`` environment
    variable (a user's own setting wins) and the level of the ``mlflow`` logger.
    """
    import logging

    if quiet:
        os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
        os.environ.setdefault("MLFLOW_LOGGING_LEVEL", "WARNING")  # read when mlflow is imported
        logging.getLogger("mlflow").setLevel(logging.WARNING)  # if it was imported already
        logging.getLogger("alembic").setLevel(logging.WARNING)
    else:
        logging.getLogger("mlflow").setLevel(logging.INFO)
        logging.getLogger("alembic").setLevel(logging.INFO)


@contextlib.contextmanager
def _registry_notes_silenced() -> Iterator[None]:
    """``register_model`` prints ``Registered model ... already exists. Creating a new
    version...`` straight to stderr (not through a logger); when the ``mlflow`` logger is
    quieter than INFO (:func:`quiet_mlflow`), MLflow's public ``logging_utils.disable_logging``
    silences that event stream for the call."""
    import logging

    from mlflow.utils import logging_utils

    quiet = logging.getLogger("mlflow").getEffectiveLevel() > logging.INFO
    if not quiet or not logging_utils.MLFLOW_LOGGING_STREAM.enabled:
        yield
        return
    logging_utils.disable_logging()  # type: ignore[no-untyped-call]
    try:
        yield
    finally:
        logging_utils.enable_logging()  # type: ignore[no-untyped-call]


def sqlite_path(tracking_uri: str) -> Path | None:
    """The database file of a ``sqlite:///`` URI (``None`` for servers and in-memory stores)."""
    if not tracking_uri.startswith("sqlite:///"):
        return None
    name = tracking_uri.removeprefix("sqlite:///").split("?", 1)[0]
    if name in ("", ":memory:"):
        return None
    return Path(name)


def store_lock_path(tracking_uri: str) -> Path | None:
    """``mlflow.db.lock`` beside a SQLite store's ``mlflow.db``; ``None`` for other stores."""
    db = sqlite_path(tracking_uri)
    return None if db is None else db.with_name(db.name + ".lock")


def _store_failure_types() -> tuple[type[BaseException], ...]:
    from alembic.util.exc import CommandError
    from mlflow.exceptions import MlflowException
    from sqlalchemy.exc import SQLAlchemyError

    return (MlflowException, SQLAlchemyError, CommandError, sqlite3.Error, OSError)


@contextlib.contextmanager
def store_errors(tracking_uri: str, doing: str) -> Iterator[None]:
    """Turn an error of the tracking store into :class:`TrackingStoreError` (exit 4, a
    message, no traceback). Wraps only MLflow calls, never the caller's own work."""
    failures = _store_failure_types()
    try:
        yield
    except failures as exc:
        raise TrackingStoreError(_store_message(tracking_uri, doing, exc)) from exc


def _store_message(tracking_uri: str, doing: str, exc: BaseException) -> str:
    first = (str(exc).strip().splitlines() or [""])[0][:300]
    hint = (
        " If another bcml or mlflow process was killed while creating this store, move the "
        "database away and run again."
        if sqlite_path(tracking_uri) is not None
        else " Check that the tracking server is reachable."
    )
    return (
        f"MLflow tracking store {tracking_uri}: {doing} failed "
        f"({type(exc).__name__}: {first}).{hint}"
    )


def open_store(tracking_uri: str) -> None:
    """Create and migrate the tracking and registry stores behind ``tracking_uri`` if needed.

    For SQLite the work is done under ``mlflow.db.lock`` (a file lock beside the database), so
    concurrent first runs wait for one another instead of racing in MLflow's migration. The
    stores are touched through the public client (``search_experiments`` and
    ``search_registered_models``), which is what makes MLflow create and migrate them.
    """
    from filelock import FileLock, Timeout
    from mlflow import MlflowClient

    lock_path = store_lock_path(tracking_uri)
    lock: contextlib.AbstractContextManager[Any] = contextlib.nullcontext()
    if lock_path is not None:
        lock = FileLock(str(lock_path), timeout=STORE_LOCK_TIMEOUT_S)
    try:
        with store_errors(tracking_uri, "opening the store"), lock:
            client = MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
            client.search_experiments(max_results=1)
            client.search_registered_models(max_results=1)
    except Timeout:
        raise TrackingStoreError(
            f"MLflow tracking store {tracking_uri}: another process has held {lock_path} for "
            f"over {STORE_LOCK_TIMEOUT_S:.0f} s while creating the store. Try again later."
        ) from None
    except ValueError as exc:  # alembic's batch migrations raise it on a half-migrated store
        raise TrackingStoreError(_store_message(tracking_uri, "opening the store", exc)) from exc


@dataclass(frozen=True)
class LoggedModel:
    model_uri: str
    local_dir: Path  # a local copy of the MLflow model directory


@dataclass(frozen=True)
class RegisteredVersion:
    name: str
    version: str
    alias: str


class Tracker:
    """A thin, typed facade over the MLflow calls one training run makes.

    Creating it opens (and on first use creates) the store; any store error of its methods is
    a :class:`TrackingStoreError`.
    """

    def __init__(self, tracking_uri: str | None) -> None:
        import mlflow

        self._mlflow = mlflow
        self.tracking_uri = resolve_tracking_uri(tracking_uri)
        mlflow.set_tracking_uri(self.tracking_uri)
        open_store(self.tracking_uri)

    def _errors(self, doing: str) -> contextlib.AbstractContextManager[None]:
        return store_errors(self.tracking_uri, doing)

    @contextlib.contextmanager
    def run(
        self, experiment: str, tags: Mapping[str, str], run_name: str | None = None
    ) -> Iterator[str]:
        """Start a run in ``experiment`` and yield its id. An exception marks it FAILED."""
        from mlflow.exceptions import MlflowException

        with self._errors("starting a run"):
            if self._mlflow.get_experiment_by_name(experiment) is None:
                try:
                    self._mlflow.create_experiment(
                        experiment,
                        artifact_location=_artifact_location(self.tracking_uri, experiment),
                    )
                except MlflowException as exc:
                    # another training created it between the two calls (a shared server)
                    if exc.error_code != "RESOURCE_ALREADY_EXISTS":
                        raise
            self._mlflow.set_experiment(experiment)
            active = self._mlflow.start_run(tags=dict(tags), run_name=run_name)
        with self._ending():
            yield active.info.run_id

    @contextlib.contextmanager
    def child_run(self, run_name: str, tags: Mapping[str, str]) -> Iterator[str]:
        """A run nested in the active one (``bcml compare``: one child per model)."""
        with self._errors("starting a child run"):
            active = self._mlflow.start_run(run_name=run_name, nested=True, tags=dict(tags))
        with self._ending():
            yield active.info.run_id

    @contextlib.contextmanager
    def _ending(self) -> Iterator[None]:
        """End ``active`` as FINISHED, or FAILED (KILLED on Ctrl-C) when the block raised."""
        try:
            yield
        except BaseException as exc:
            status = "KILLED" if isinstance(exc, KeyboardInterrupt) else "FAILED"
            with contextlib.suppress(Exception):  # the block's own error is the one to report
                self._mlflow.end_run(status=status)
            raise
        with self._errors("ending the run"):
            self._mlflow.end_run(status="FINISHED")

    def log_params(self, params: Mapping[str, Any]) -> None:
        with self._errors("logging parameters"):
            self._mlflow.log_params({k: _param_value(v) for k, v in params.items()})

    def log_metrics(self, metrics: Mapping[str, float]) -> None:
        with self._errors("logging metrics"):
            self._mlflow.log_metrics(dict(metrics))

    def log_artifacts(self, paths: list[Path], artifact_path: str | None = None) -> None:
        with self._errors("logging artifacts"):
            for path in paths:
                self._mlflow.log_artifact(str(path), artifact_path=artifact_path)

    def log_sklearn_model(
        self,
        model: Any,
        input_example: Any,
        pip_requirements: list[str],
        download_to: Path,
        skops_trusted_types: list[str] | None = None,
    ) -> LoggedModel:
        """Log ``model`` as ``model`` with skops serialization, a signature from the named
        ``input_example`` (a DataFrame) and explicit requirements (no slow inference).
        ``skops_trusted_types``: non-default types the model holds (trees, calibrators).

        MLflow's own check of the input example (load the saved model back through pyfunc and
        predict on the example's serving form, ~0.45 s per model, mostly pyfunc's imports) is
        turned off with ``validate_serving_input=False``, which ``Model.log`` reads from its
        arguments. The caller checks the logged model itself, more strictly
        (``model_store.check_logged_model``: the downloaded skops file loads through our
        allowlist and gives the fitted pipeline's exact probabilities on the example).
        MLflow also checks ``pip_requirements`` against the installed packages (one
        ``importlib.metadata.packages_distributions()`` scan per process, ~0.2 s); it has no
        public switch (``MLFLOW_SKIP_PIP_REQUIREMENTS_CHECK`` skips another check), so it runs.
        """
        import mlflow.sklearn
        from mlflow.models import Model, infer_signature

        signature = infer_signature(input_example, model.predict(input_example.to_numpy()))
        with self._errors("logging the model"):
            info = Model.log(
                artifact_path=None,  # deprecated for `name`, but still a required argument
                name="model",
                flavor=_SKLEARN_FLAVOR,
                sk_model=model,
                serialization_format=mlflow.sklearn.SERIALIZATION_FORMAT_SKOPS,
                signature=signature,
                input_example=input_example,
                pip_requirements=pip_requirements,
                skops_trusted_types=skops_trusted_types or None,
                validate_serving_input=False,
            )
            local = self._mlflow.artifacts.download_artifacts(
                artifact_uri=info.model_uri, dst_path=str(download_to)
            )
        # MLflow's client writes `registered_model_meta` into a models:/ download; it is not a
        # logged artifact, so a copy fetched from the server (bcml serve --model-uri) never has
        # it. Published hashes cover exactly the files the tracking server holds.
        (Path(local) / REGISTERED_MODEL_META).unlink(missing_ok=True)
        return LoggedModel(model_uri=info.model_uri, local_dir=Path(local))

    def register(self, model_uri: str, name: str, run_id: str) -> str:
        """Register ``model_uri`` as a new version of ``name``; return the version."""
        with self._errors("registering the model"), _registry_notes_silenced():
            version = self._mlflow.register_model(model_uri, name, tags={"run_id": run_id})
        return str(version.version)

    def set_version_tag(self, name: str, version: str, key: str, value: str) -> None:
        with self._errors("tagging the model version"):
            self._mlflow.MlflowClient().set_model_version_tag(name, version, key, value)

    def set_alias(self, name: str, alias: str, version: str) -> RegisteredVersion:
        with self._errors("moving the registry alias"):
            self._mlflow.MlflowClient().set_registered_model_alias(name, alias, version)
        return RegisteredVersion(name=name, version=version, alias=alias)

    def artifact_uri(self) -> str:
        with self._errors("reading the artifact location"):
            return str(self._mlflow.get_artifact_uri())


class _SklearnFlavor:
    """The ``mlflow.sklearn`` flavor as ``Model.log`` uses it (its documented ``flavor``
    argument: anything with a ``save_model``), taking the one argument ``Model.log`` reads for
    itself and ``mlflow.sklearn.save_model`` does not accept: ``validate_serving_input``
    (MLflow's transformers flavor passes it the same way). ``mlflow.sklearn.log_model`` is
    exactly ``Model.log(flavor=mlflow.sklearn, ...)``, so the logged model is the same."""

    __name__ = "mlflow.sklearn"  # the flavor name MLflow records for the logged model

    @staticmethod
    def save_model(validate_serving_input: bool = True, **kwargs: Any) -> None:
        import mlflow.sklearn

        mlflow.sklearn.save_model(**kwargs)


_SKLEARN_FLAVOR: Final = _SklearnFlavor()  # an instance: its __name__ is the class attribute


def _artifact_location(tracking_uri: str, experiment: str) -> str | None:
    """Artifacts of a SQLite store go to ``mlruns/`` beside the database file (MLflow would
    otherwise use ``./mlruns`` relative to wherever the command runs). Servers decide alone."""
    if not tracking_uri.startswith("sqlite:///"):
        return None
    db = Path(tracking_uri.removeprefix("sqlite:///")).resolve()
    return (db.parent / "mlruns" / experiment).as_uri()


def _param_value(value: Any) -> str:
    text = str(value)
    # MLflow params are limited to 6000 characters; ours are short, but never fail a run on it.
    return text if len(text) <= 6000 else text[:5997] + "..."


def _existing_store(tracking_uri: str) -> None:
    """Refuse to create a store by merely asking it something (``bcml rollback``)."""
    db = sqlite_path(tracking_uri)
    if db is not None and not db.is_file():
        raise TrackingStoreError(f"MLflow tracking store {tracking_uri}: {db} does not exist.")


def alias_version(tracking_uri: str, name: str, alias: str) -> str | None:
    """The registry version ``name@alias`` points at (``None``: the alias is not set)."""
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    _existing_store(tracking_uri)
    open_store(tracking_uri)
    client = MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
    with store_errors(tracking_uri, f"reading the alias {name}@{alias}"):
        try:
            return str(client.get_model_version_by_alias(name, alias).version)
        except MlflowException as exc:
            if exc.error_code in ("RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE"):
                return None
            raise


def move_alias(tracking_uri: str, name: str, alias: str, version: str) -> None:
    """Point ``name@alias`` at ``version``."""
    from mlflow import MlflowClient

    _existing_store(tracking_uri)
    open_store(tracking_uri)
    client = MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
    with store_errors(tracking_uri, f"moving the alias {name}@{alias}"):
        client.set_registered_model_alias(name, alias, version)


def version_tag(tracking_uri: str, name: str, version: str, key: str) -> str | None:
    """Tag ``key`` of registry version ``name`` ``version`` (``None``: not set)."""
    from mlflow import MlflowClient

    _existing_store(tracking_uri)
    open_store(tracking_uri)
    client = MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
    with store_errors(tracking_uri, f"reading {name} version {version}"):
        return client.get_model_version(name, version).tags.get(key)
