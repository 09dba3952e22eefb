"""The code of an earlier git revision, to measure a change side by side with what it changed.

``export_source(rev)`` exports ``src/`` of ``rev`` once under ``build/bench-baseline/<commit>``
(``git archive``); a benchmark runs it with this venv by putting that folder first on
``PYTHONPATH``. Same interpreter, same dependencies, same model, same run: only our code differs.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def export_source(rev: str) -> Path:
    """``src/`` of git revision ``rev``, exported once under build/ (reused on the next run)."""
    commit = subprocess.run(
        ["git", "rev-parse", "--verify", f"{rev}^{{commit}}"],
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    dest = ROOT / "build" / "bench-baseline" / commit
    if not (dest / "src").is_dir():
        dest.mkdir(parents=True, exist_ok=True)
        archive = subprocess.run(
            ["git", "archive", commit, "src"], cwd=ROOT, check=True, capture_output=True
        ).stdout
        subprocess.run(["tar", "-x", "-C", str(dest)], input=archive, check=True)
    return dest / "src"
