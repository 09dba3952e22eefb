"""Record the files a Python process uses (build-time only; see warm_imports.py --record).

``warm_imports.py --record`` makes every Python process of the venv run this file at start-up
(a ``.pth`` line in site-packages, removed afterwards). With ``BCML_RECORD_DIR`` set, the
process then notes every file it opens (audit events ``open`` and ``ctypes.dlopen``), and on
``SIGRTMIN+2`` writes ``BCML_RECORD_DIR/<pid>.txt``: those files, the file of every imported module
and every file mapped into memory (``/proc/self/maps``: extension modules and the shared
libraries they pull in, such as OpenBLAS). prune_venv.py keeps exactly these files.
"""

import os
import signal
import sys
from pathlib import Path

_DIR = os.environ.get("BCML_RECORD_DIR")
#: uvicorn's supervisor takes SIGUSR1/2; no server handles real-time signals.
SIGNAL = signal.SIGRTMIN + 2


def _install(out_dir: str) -> None:
    seen: set[str] = set()

    def hook(event: str, args: tuple[object, ...]) -> None:
        if event in ("open", "ctypes.dlopen") and args and isinstance(args[0], (str, bytes)):
            seen.add(os.fsdecode(args[0]))

    def dump(signum: object = None, frame: object = None) -> None:
        files = set(seen)
        for module in list(sys.modules.values()):
            # The module's own dict, never getattr: a lazy stand-in (lean_imports.py)
            # would import its real module here, inside whatever import the signal interrupted.
            path = getattr(module, "__dict__", {}).get("__file__")
            if isinstance(path, str):
                files.add(path)
        with Path("/proc/self/maps").open() as maps:
            for line in maps:
                parts = line.split(None, 5)
                if len(parts) == 6 and parts[5].startswith("/"):
                    files.add(parts[5].strip().removesuffix(" (deleted)"))
        out = Path(out_dir, f"{os.getpid()}.txt")
        tmp = out.with_suffix(".tmp")
        tmp.write_text("\n".join(sorted(os.path.realpath(f) for f in files)) + "\n")
        tmp.replace(out)

    sys.addaudithook(hook)
    signal.signal(SIGNAL, dump)


if _DIR:
    _install(_DIR)
