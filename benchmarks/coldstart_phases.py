"""CPU time of each start-up phase of ``bcml serve``, in the order the server does them.

Runs the same steps as ``bcml serve`` up to a loaded model, in one fresh process per launch,
with the collector paused as the server does, and prints the CPU
seconds of each phase (median over ``--launches``). Complements ``bench_coldstart.py``
(end to end), to show where the remaining start-up time goes.

    .venv/bin/python benchmarks/coldstart_phases.py [--launches 5] [--models-dir models]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

CHILD = """
import time, sys
t0 = time.process_time()
from breast_cancer_ml.cli import build_parser
from breast_cancer_ml.cli.flags import load_settings_from
args = build_parser().parse_args(["serve", "--port", "0", "--models-dir", sys.argv[1]])
from breast_cancer_ml.settings import ServeSettings
settings = load_settings_from(args, ServeSettings)
t1 = time.process_time()
from breast_cancer_ml.service.startup import isolate_process, pause_gc_for_startup
isolate_process()
pause_gc_for_startup()
t2 = time.process_time()
from breast_cancer_ml.service.log import configure_logging
configure_logging("warning")
import uvicorn
t3 = time.process_time()
from breast_cancer_ml.service.app import create_app
app = create_app(settings)  # the endpoints (FastAPI is built on first need)
t4 = time.process_time()
from breast_cancer_ml.adapters.model_store import load_latest
from pathlib import Path
import sklearn.base
t45 = time.process_time()
model = load_latest(Path(sys.argv[1]))  # skops.io import, SHA256 check, trusted load
t5 = time.process_time()
print(json.dumps({
    "interpreter start": t0, "CLI + settings (argparse, pydantic)": t1 - t0,
    "process isolation": t2 - t1, "uvicorn": t3 - t2,
    "create_app": t4 - t3, "scikit-learn (with scipy.stats)": t45 - t4,
    "skops.io (its default trust scan) + verify + load": t5 - t45, "total": t5,
}))
"""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--launches", type=int, default=5)
    parser.add_argument("--models-dir", type=Path, default=ROOT / "models")
    args = parser.parse_args()
    runs = []
    for _ in range(args.launches):
        out = subprocess.run(
            [sys.executable, "-c", "import json\n" + CHILD, str(args.models_dir)],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        )
        runs.append(json.loads(out.stdout.strip().splitlines()[-1]))
    print("| phase | CPU s (median) |")
    print("|---|---:|")
    for key in runs[0]:
        print(f"| {key} | {statistics.median(r[key] for r in runs):.3f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
