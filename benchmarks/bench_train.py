"""Benchmark: a full 10-fold `bcml train`, process start to exit, against an existing tracking
store, side by side with the straightforward script in naive_train.py (same steps, same data).

    python benchmarks/bench_train.py [--repeats 5]

Each command runs in a fresh process in its own scratch folder with its own SQLite store, which
is created and warmed by one untimed run first. Prints a Markdown table (median and min of the
wall times) and the ratio.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "src" / "breast_cancer_ml" / "data" / "wdbc.csv"
BIN = Path(sys.executable).parent


def timed(cmd: list[str], cwd: Path) -> float:
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        sys.exit(f"{cmd} failed:\n{proc.stderr[-3000:]}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    scratch = Path(tempfile.mkdtemp(prefix="bcml-bench-train-"))
    commands = {
        "bcml train (10 folds)": [str(BIN / "bcml"), "train", "--data", str(DATA)],
        "naive script (same steps)": [
            sys.executable,
            str(ROOT / "benchmarks" / "naive_train.py"),
            str(DATA),
            "out",
        ],
    }
    times: dict[str, list[float]] = {}
    for name, cmd in commands.items():
        cwd = scratch / name.split()[0]
        cwd.mkdir()
        timed(cmd, cwd)  # creates and migrates the store: not timed
    for _ in range(args.repeats):  # interleaved, so both see the same machine load
        for name, cmd in commands.items():
            times.setdefault(name, []).append(timed(cmd, scratch / name.split()[0]))
    shutil.rmtree(scratch, ignore_errors=True)

    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    )
    print(f"repeats: {args.repeats}\n")
    print("| command | median s | min s |")
    print("|---|---:|---:|")
    for name, values in times.items():
        print(f"| {name} | {statistics.median(values):.2f} | {min(values):.2f} |")
    ours, naive = (statistics.median(v) for v in times.values())
    print(f"\nspeed-up (median): {naive / ours:.1f}x")


if __name__ == "__main__":
    main()
