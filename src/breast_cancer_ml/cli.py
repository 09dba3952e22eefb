"""The ``bcml`` command line. ``main(argv)`` returns an exit code; tests call it directly.

Heavy libraries (mlflow, scikit-learn, pandas) are imported only inside the command that needs
them, so ``bcml --help`` answers at once.

Exit codes: 0 success, 1 unexpected error, 2 invalid settings or data, 3 model not promoted
with ``--require-promotion``, 4 model store problem, 5 ``bcml deploy`` failed, 6 ``bcml serve``'s
port in use.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import os
import sys
import types
import typing
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from pydantic_settings import BaseSettings

from breast_cancer_ml import __version__
from breast_cancer_ml.errors import BcmlError, ConfigError, PromotionRefusedError

if TYPE_CHECKING:
    from breast_cancer_ml.domain.records import RunSummary

Handler = Callable[[argparse.Namespace], int]


def add_settings_arguments(
    parser: argparse.ArgumentParser, cls: type[BaseSettings], skip: Sequence[str] = ()
) -> None:
    """One ``--flag`` per settings field, its help and default taken from the field itself.

    Flags default to ``None`` ("not given") so the environment and config file still apply.
    Help text is escaped for argparse (a ``%`` in a description is printed as it is).
    """
    parser.add_argument(
        "--config", type=Path, metavar="FILE", help="TOML file with any of these settings."
    )
    for name, info in cls.model_fields.items():
        if name in skip:
            continue
        flag = "--" + name.replace("_", "-")
        default = info.default
        shown = "" if default is None else f" (default: {default})"
        env = f"{cls.model_config.get('env_prefix', '')}{name.upper()}"
        help_text = f"{info.description}{shown} [env {env}]".replace("%", "%%")
        if _is_bool(info.annotation):
            parser.add_argument(flag, action="store_true", default=None, help=help_text)
        else:
            parser.add_argument(
                flag,
                type=_arg_type(info.annotation),
                default=None,
                metavar=name.upper(),
                help=help_text,
            )


def _is_bool(annotation: Any) -> bool:
    return annotation is bool


def _arg_type(annotation: Any) -> Callable[[str], Any]:
    if isinstance(annotation, types.UnionType) or typing.get_origin(annotation) is typing.Union:
        inner = [a for a in typing.get_args(annotation) if a is not type(None)]
        annotation = inner[0]
    if annotation in (int, float, Path):
        return annotation  # type: ignore[no-any-return]
    return str


S = TypeVar("S", bound=BaseSettings)


def _load(args: argparse.Namespace, cls: type[S]) -> S:
    """The command's settings: flags (``None``: not given) > env > ``--config`` > defaults."""
    from breast_cancer_ml.settings import load_settings

    flags = {name: getattr(args, name, None) for name in cls.model_fields}
    return load_settings(cls, args.config, **flags)


def _settings_command(
    sub: Any,
    name: str,
    cls: type[BaseSettings],
    handler: Handler,
    *,
    help: str,
    description: str,
    skip: Sequence[str] = (),
) -> argparse.ArgumentParser:
    """A subcommand whose flags are ``cls``'s settings fields (except ``skip``)."""
    parser: argparse.ArgumentParser = sub.add_parser(name, help=help, description=description)
    add_settings_arguments(parser, cls, skip=skip)
    parser.set_defaults(handler=handler)
    return parser


def _cmd_train(args: argparse.Namespace) -> int:
    from breast_cancer_ml import lean_imports

    # scipy.stats and co. are never used when training (-0.35 s; see there)
    lean_imports.install()
    from breast_cancer_ml.pipelines.train import run_training
    from breast_cancer_ml.settings import TrainSettings

    settings = _load(args, TrainSettings)
    _mlflow_verbosity(args)
    result = run_training(settings)
    summary = result.summary
    metrics = summary.metrics
    print(f"run id:        {result.run_id}  (experiment {summary.experiment!r})")
    print(f"data version:  {summary.data_version}")
    print(
        f"cv recall:     {metrics['cv_recall_mean']:.4f} ± {metrics['cv_recall_std']:.4f} "
        f"(ddof=1, {summary.params['k_folds']} folds"
        + (f" x {summary.cv_repeats} repeats)" if summary.cv_repeats > 1 else ")")
    )
    print(
        f"gate:          {'PASSED' if result.gate.passed else 'FAILED'}: "
        + "; ".join(result.gate.reasons)
    )
    for line in _test_lines(summary, settings.min_recall):
        print(line)
    _print_selection(summary)
    reg = summary.registered_model
    if result.promoted and reg is not None:
        print(f"promoted:      {summary.published_path} -> {result.published_path}")
        print(f"registry:      {reg.name} version {reg.version} @{reg.alias}")
    else:
        print(f"promoted:      no ({summary.not_promoted_reason}); models/latest unchanged")
    print(f"model:         {summary.model_uri}")
    print(f"artifacts:     {summary.artifact_uri}")
    uri = str(summary.tracking_uri)
    ui = f"mlflow ui --backend-store-uri {uri}" if uri.startswith("sqlite") else uri
    print(f"MLflow UI:     bcml ui   (or: {ui})")
    if settings.require_promotion and not (
        result.promoted or (settings.smoke and result.gate.passed)
    ):
        raise PromotionRefusedError(
            f"model not promoted ({summary.not_promoted_reason}) and --require-promotion set"
        )
    return 0


def _test_lines(summary: RunSummary, min_recall: float) -> list[str]:
    """The held-out test split, labelled as a report (not a check), each metric with its 95%
    bootstrap CI; a plain line when its recall is under ``min_recall``."""
    metrics, ci = summary.metrics, summary.test_ci or {}
    parts = []
    for name in ("recall", "precision", "accuracy", "f1", "roc_auc"):
        if f"test_{name}" not in metrics:
            continue
        part = f"{name} {metrics[f'test_{name}']:.4f}"
        if isinstance(ci.get(name), dict):
            part += f" (95% CI {ci[name]['low']:.2f}-{ci[name]['high']:.2f})"
        parts.append(part)
    n_malignant = summary.n_test_malignant
    cases = f"; {n_malignant} malignant cases" if n_malignant is not None else ""
    lines = [f"test (reported only, not used by the gate{cases}): " + ", ".join(parts)]
    recall = metrics.get("test_recall")
    if recall is not None and recall < min_recall:
        lines.append(
            f"note:          test recall {recall:.4f} is below min_recall {min_recall:.4f}. The "
            "gate uses K-fold CV on the training split instead: the test split is small, and "
            "it stays an unbiased report only if nothing is decided on it."
        )
    return lines


def _mlflow_verbosity(args: argparse.Namespace) -> None:
    """Default: MLflow says only warnings (our summary is the output); ``-v``: all of it."""
    from breast_cancer_ml.adapters.tracking import quiet_mlflow

    quiet_mlflow(quiet=not getattr(args, "verbose", 0))


def _add_verbose(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "-v",
        "--verbose",
        action="count",
        default=0,
        help="also show MLflow's own messages (database set-up, registry, progress bars).",
    )


def _print_selection(summary: RunSummary) -> None:
    """Threshold and champion/challenger lines of ``bcml train`` (issue 4)."""
    target = summary.target_recall
    how = f"chosen for target recall {target} on out-of-fold predictions" if target else "default"
    print(f"threshold:     {summary.threshold:.4f} ({how})")
    verdict = summary.champion_challenger
    if verdict is not None and verdict.evaluated:
        print(f"challenger:    {verdict.reason}")


def _cmd_compare(args: argparse.Namespace) -> int:
    from breast_cancer_ml.pipelines.compare import (
        gate_share_notes,
        markdown_table,
        run_comparison,
    )
    from breast_cancer_ml.settings import CompareSettings

    settings = _load(args, CompareSettings)
    _mlflow_verbosity(args)
    result = run_comparison(settings)
    rec = result.recommendation
    print(markdown_table(result.models))
    for line in gate_share_notes(result.models, settings.min_recall, settings.max_recall_std):
        print(line)
    verdict = "meets the bar" if rec.meets_bar else "misses the bar: " + "; ".join(rec.missed)
    print(f"recommended:   {rec.model} ({verdict})")
    print(f"ranking:       {' > '.join(rec.ranking)}")
    print(f"run id:        {result.run_id}  (experiment {settings.experiment!r}, parent run)")
    print(f"time:          {result.seconds:.1f} s")
    if settings.report_file is not None:
        print(f"report:        {settings.report_file}")
    if settings.output_dir is not None:
        print(f"folder:        {settings.output_dir}")
        print(f"files:         {', '.join(result.written)}")
    print(f"artifacts:     {result.artifact_uri}  ({', '.join(result.artifacts)})")
    return 0


def _add_compare_parser(sub: Any) -> None:
    from breast_cancer_ml.settings import CompareSettings

    compare = _settings_command(
        sub,
        "compare",
        CompareSettings,
        _cmd_compare,
        help="compare registry models on the same repeated (nested) CV folds",
        description="Cross-validate registry models on the same repeated stratified folds of "
        "the training split (nested with --tune), log one MLflow parent run with a child run "
        "per model, and recommend one.",
    )
    _add_verbose(compare)


def _cmd_rollback(args: argparse.Namespace) -> int:
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


def _cmd_ui(args: argparse.Namespace) -> int:
    import shutil
    import signal
    import subprocess

    from breast_cancer_ml.adapters.tracking import resolve_tracking_uri

    uri = resolve_tracking_uri(args.tracking_uri)
    exe = shutil.which("mlflow") or str(Path(sys.executable).with_name("mlflow"))
    cmd = [exe, "ui", "--backend-store-uri", uri, "--host", args.host, "--port", str(args.port)]
    cmd += ["--workers", str(args.workers)]
    print(f"starting: {' '.join(cmd)}", flush=True)
    # Its own process group: `mlflow ui` runs the web server as a child of its own, and both
    # must stop with this command (Ctrl-C or SIGTERM), not linger on the port.
    proc = subprocess.Popen(cmd, start_new_session=True)

    def stop(*_: object) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, stop)
    address = f"http://{args.host}:{args.port}"
    try:
        if _wait_until_answers(proc, address, args.start_timeout):
            print(f"MLflow UI:     {address}  (Ctrl-C stops it)", flush=True)
        elif proc.poll() is None:
            print(
                f"warning: {address} has not answered after {args.start_timeout:.0f} s; "
                "still waiting for it.",
                file=sys.stderr,
                flush=True,
            )
        return proc.wait()
    except KeyboardInterrupt:
        return 130
    finally:
        signal.signal(signal.SIGTERM, previous)
        _stop_group(proc)


def _stop_group(proc: Any) -> None:
    """Stop the server's process group (SIGTERM, then SIGKILL after 10 s)."""
    import signal
    import subprocess

    for sig, wait in ((signal.SIGTERM, 10.0), (signal.SIGKILL, 5.0)):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, sig)
        try:
            proc.wait(timeout=wait)
            return
        except subprocess.TimeoutExpired:
            continue


def _wait_until_answers(proc: Any, address: str, timeout: float) -> bool:
    """Poll ``address`` until it answers HTTP (True), the server exits or ``timeout`` passes."""
    import time
    import urllib.error
    import urllib.request

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            with urllib.request.urlopen(address + "/health", timeout=2):
                return True
        except urllib.error.HTTPError:
            return True  # it answered, if not with 200
        except (OSError, ValueError):
            time.sleep(0.25)
    return False


def _cmd_serve(args: argparse.Namespace) -> int:
    import importlib.util

    from breast_cancer_ml.settings import ServeSettings

    settings = _load(args, ServeSettings)
    missing = [m for m in ("fastapi", "uvicorn", "orjson") if importlib.util.find_spec(m) is None]
    if missing:
        raise ConfigError(
            f"bcml serve needs {', '.join(missing)}: pip install 'breast-cancer-ml[serve]'"
        )
    from breast_cancer_ml.service.server import serve

    serve(settings)
    return 0


def _add_serve_parser(sub: Any) -> None:
    from breast_cancer_ml.settings import ServeSettings

    _settings_command(
        sub,
        "serve",
        ServeSettings,
        _cmd_serve,
        help="run the prediction service (FastAPI + uvicorn) on models/latest",
        description="Serve the promoted model over HTTP: /predict, /predict/batch, "
        "/invocations (MLflow protocol), /health, /ready, /model/info, /metrics, /docs. "
        "A newly promoted model is picked up without a restart. The API key is read from "
        "the BCML_API_KEY environment variable only (never a flag: it would show in ps) and "
        "must be at least 16 characters. Exit 2 on invalid settings, 6 when the port is "
        "already in use.",
        skip=("api_key",),
    )


def _cmd_predict(args: argparse.Namespace) -> int:
    from breast_cancer_ml.settings import PredictSettings

    settings = _load(args, PredictSettings)
    if settings.engine == "spark":
        from breast_cancer_ml.pipelines.spark_score import run_spark_predict

        spark_summary = run_spark_predict(settings)
        for line in spark_summary.lines():
            print(line, file=sys.stderr)
        return 0

    from breast_cancer_ml import lean_imports

    # defer scipy.stats, pandas etc., narrow skops's scans (-0.8 s, see there); scipy.special
    # is imported when the model is loaded, while the input is already being parsed
    lean_imports.install(preload=False, defer_pandas=True)
    from breast_cancer_ml.pipelines.score import Terminated, run_predict

    try:
        summary = run_predict(settings)
    except KeyboardInterrupt:
        print("interrupted: no output written", file=sys.stderr)
        return 130
    except Terminated:
        print("terminated: no output written", file=sys.stderr)
        return 143
    except BrokenPipeError:  # `--output - | head`: the reader stopped reading
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        print("stopped: the reader of stdout closed the pipe", file=sys.stderr)
        return 141
    for line in summary.lines():
        print(line, file=sys.stderr)
    return 0


def _add_predict_parser(sub: Any) -> None:
    from breast_cancer_ml.settings import PredictSettings

    predict = _settings_command(
        sub,
        "predict",
        PredictSettings,
        _cmd_predict,
        skip=("input", "output"),
        help="score a CSV/Parquet file (any size) with the promoted model",
        description="Score every row of a CSV or Parquet file in the training layout "
        "(diagnosis optional and ignored, id kept) in chunks, with flat memory. Writes row "
        "(the 1-based input row, to join back), id, prediction, prediction_label, probability, "
        "confidence, warnings (features outside the training data's range, ;-separated) and "
        "model_version (the run id) in input order. A row that is not a valid case (missing, "
        "negative, infinite or beyond a feature's hard bound) is never scored: it goes to the "
        "reject file with the reason. Exit 2 on invalid input or settings (the first invalid "
        "row with --strict, more than --max-rejects invalid rows, a CSV line over 1 MiB, an "
        "output or reject file that is the input), 4 on a model store problem.",
    )
    predict.add_argument(
        "--input",
        required=True,
        metavar="FILE",
        help=PredictSettings.model_fields["input"].description,
    )
    predict.add_argument(
        "--output",
        required=True,
        metavar="FILE",
        help=PredictSettings.model_fields["output"].description,
    )


def build_parser() -> argparse.ArgumentParser:
    from breast_cancer_ml.settings import TrainSettings

    parser = argparse.ArgumentParser(
        prog="bcml",
        description="Breast cancer (WDBC) diagnosis: train, promote and serve a model.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    train = _settings_command(
        sub,
        "train",
        TrainSettings,
        _cmd_train,
        help="train, evaluate, log to MLflow and promote if the gate passes",
        description="Train on the bundled data (or --data), cross-validate, evaluate on the "
        "held-out split, log to MLflow and promote the model if the gate passes.",
        skip=("smoke_fraction", "smoke_k_folds"),
    )
    _add_verbose(train)

    _add_compare_parser(sub)

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
    rollback.set_defaults(handler=_cmd_rollback)

    ui = sub.add_parser(
        "ui",
        help="open the MLflow UI on the tracking store",
        description="Start the MLflow UI on the tracking store and print its address once it "
        "answers.",
    )
    ui.add_argument(
        "--tracking-uri",
        default=None,
        help="MLflow tracking URI (default: MLFLOW_TRACKING_URI, else sqlite:///mlflow.db)",
    )
    ui.add_argument("--host", default="127.0.0.1", help="address to listen on (default: 127.0.0.1)")
    ui.add_argument("--port", type=int, default=5000, help="port (default: 5000)")
    ui.add_argument(
        "--workers",
        type=int,
        default=1,
        help="server worker processes (default: 1; each one loads all of MLflow)",
    )
    ui.add_argument(
        "--start-timeout",
        type=float,
        default=120.0,
        help="seconds to wait for the first answer before warning (default: 120)",
    )
    ui.set_defaults(handler=_cmd_ui)
    _add_serve_parser(sub)
    _add_deploy_parser(sub)

    _add_predict_parser(sub)
    return parser


def _add_deploy_parser(sub: Any) -> None:
    from breast_cancer_ml.deploy.cli import add_parser

    add_parser(sub)


#: Commands run with the cyclic garbage collector paused. Their time is mostly importing
#: scikit-learn, scipy, pyarrow (and MLflow with SQLAlchemy for ``train``): about a million
#: objects that all stay alive, over which the collector runs hundreds of collections and
#: frees nothing. Measured on the bundled data: ``bcml train`` 2.7 s -> 2.0 s with the same
#: peak memory (+2 MB); ``bcml predict`` on 1M rows -0.1 s, memory unchanged and still flat
#: on 10M rows (the data path frees by reference counting). Memory that only the collector
#: could free (reference cycles) is bounded by one command's work. Long-running commands
#: (``serve``, ``compare``) keep the collector: the server pauses it only while starting.
PAUSE_CYCLIC_GC = frozenset({"train", "predict"})


def main(argv: Sequence[str] | None = None, *, restore_gc: bool = True) -> int:
    """Parse ``argv`` and run the command; return the exit code.

    ``restore_gc=False`` leaves the collector paused after a :data:`PAUSE_CYCLIC_GC` command
    (the console script, which exits right after: re-enabling it would start a full
    collection over everything imported).
    """
    # Usage telemetry off unless the user opts in: a clinical tool does not phone home.
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    args = build_parser().parse_args(argv)
    handler: Handler = args.handler
    pause_gc = args.command in PAUSE_CYCLIC_GC and gc.isenabled()
    if pause_gc:
        gc.disable()
    try:
        return handler(args)
    except BcmlError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    finally:
        if pause_gc and restore_gc:  # as it was: an in-process caller keeps its collector
            gc.enable()


def run() -> None:
    """Console-script entry point."""
    code = main(restore_gc=False)
    # Everything is written and closed by now. Freezing the heap spares the interpreter's
    # final garbage collections over ~400k objects from mlflow/sklearn (~1.5 s at exit).
    gc.freeze()
    if code in SIGNAL_EXITS or _reader_left_behind():
        # Stopped by a signal (its partial files already removed), or a batch reader is still
        # blocked on an idle stdin: exit as the signal would, without the interpreter's
        # teardown. That teardown waits for or fights over a thread still inside pyarrow or
        # holding stdin's lock, and was seen to abort (SIGABRT) instead of exiting 143.
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(OSError, ValueError):
                stream.flush()
        os._exit(code)
    sys.exit(code)


#: Exit codes of a run stopped by a signal: SIGINT (130), SIGPIPE (141), SIGTERM (143).
SIGNAL_EXITS = frozenset({130, 141, 143})


def _reader_left_behind() -> bool:
    module = sys.modules.get("breast_cancer_ml.adapters.read_ahead")  # only if predict ran
    return module is not None and bool(module.left_behind())
