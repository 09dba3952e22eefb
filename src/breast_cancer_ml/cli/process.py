"""How a ``bcml`` process runs a command: the cyclic collector paused for the short
commands, domain errors turned into exit codes, and a fast exit after a signal.

Exit codes: 0 success, 1 unexpected error (``bcml monitor``: drift found), 2 invalid settings
or data, 3 model not promoted with ``--require-promotion``, 4 model store problem, 5 ``bcml
deploy`` failed, 6 ``bcml serve``'s port in use; 130, 141 and 143 when stopped by SIGINT, SIGPIPE
or SIGTERM.
"""

from __future__ import annotations

import contextlib
import gc
import os
import sys
from collections.abc import Sequence

from breast_cancer_ml.cli.flags import Handler
from breast_cancer_ml.cli.parser import build_parser
from breast_cancer_ml.errors import BcmlError

#: Commands run with the cyclic garbage collector paused. Their time is mostly importing
#: scikit-learn, scipy, pyarrow (and MLflow with SQLAlchemy for ``train``): about a million
#: objects that all stay alive, over which the collector runs hundreds of collections and
#: frees nothing: that time is pure waste for a short command. Peak memory barely moves and
#: stays flat in file size, because the data path frees by reference counting (the benchmarks
#: in docs/performance.md measure both). Memory that only the collector
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
    # the console script's own process, which exits after the command (not an in-process
    # caller such as the tests): a command may then shape the process (cli/predict.py)
    args.own_process = not restore_gc
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
    # final garbage collections over the hundreds of thousands of objects mlflow and
    # scikit-learn left alive, which would only delay the exit.
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
