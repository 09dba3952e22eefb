"""Cold start of ``bcml serve``: process launch to the first 200 on ``/predict``.

Launches the server ``--launches`` times, one at a time, on a free port on 127.0.0.1, polls
``POST /predict`` (the seed README's row) until it answers 200, and records per launch:

- wall time from ``Popen`` to that first 200 (what the issue's target is about);
- CPU time (user + system) the server process used up to then, read from
  ``/proc/<pid>/stat``: much less sensitive than wall time to other jobs on a shared machine.

Prints the median, min and max of both. ``--baseline-src DIR`` (e.g. a ``git archive`` of
another commit's ``src``) alternates launches of that code (via ``PYTHONPATH``) with launches
of this tree's, so both see the same background load: a paired comparison.

    .venv/bin/python benchmarks/bench_coldstart.py [--launches 9] [--models-dir models]
    git archive main src | tar -x -C /tmp/base
    .venv/bin/python benchmarks/bench_coldstart.py --baseline-src /tmp/base/src
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
ROW = [17.99, 10.38, 122.8, 1001.0, 0.1184, 0.2776, 0.3001, 0.1471, 0.2419, 0.07871, 1.095,
       0.9053, 8.589, 153.4, 0.006399, 0.04904, 0.05373, 0.01587, 0.03003, 0.006193, 25.38,
       17.33, 184.6, 2019.0, 0.1622, 0.6656, 0.7119, 0.2654, 0.4601, 0.1189]  # fmt: skip
BODY = json.dumps({"features": ROW}).encode()
TICK = os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of ``pid`` (and of its waited-for children) so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    # after the ")": state is field 3; utime, stime, cutime, cstime are fields 14-17
    utime, stime, cutime, cstime = (int(f) for f in fields[11:15])
    return (utime + stime + cutime + cstime) / TICK


def launch(
    cmd: list[str], port: int, timeout: float = 60, extra_env: dict[str, str] | None = None
) -> tuple[float, float]:
    env = {**os.environ, "BCML_LOG_LEVEL": "warning", **(extra_env or {})}
    t0 = time.perf_counter()
    proc = subprocess.Popen(
        [*cmd, "--port", str(port)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        while time.perf_counter() - t0 < timeout:
            if proc.poll() is not None:
                raise RuntimeError(f"server exited with {proc.returncode}")
            try:
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
                conn.request("POST", "/predict", BODY, {"Content-Type": "application/json"})
                status = conn.getresponse().status
                conn.close()
            except OSError:
                time.sleep(0.002)
                continue
            if status == 200:
                return time.perf_counter() - t0, cpu_seconds(proc.pid)
            time.sleep(0.002)
        raise RuntimeError(f"no 200 within {timeout} s")
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--launches", type=int, default=9)
    parser.add_argument("--models-dir", type=Path, default=ROOT / "models")
    parser.add_argument("--cmd", default=f"{BIN / 'bcml'} serve --host 127.0.0.1")
    parser.add_argument("--json", type=Path, default=None, help="write the samples here")
    parser.add_argument("--baseline-src", type=Path, default=None, help="paired comparison")
    args = parser.parse_args()
    cmd = [*args.cmd.split(), "--models-dir", str(args.models_dir)]
    variants: dict[str, dict[str, str]] = {"this tree": {}}
    if args.baseline_src is not None:
        variants["baseline"] = {"PYTHONPATH": str(args.baseline_src.resolve())}
    samples: dict[str, tuple[list[float], list[float]]] = {k: ([], []) for k in variants}
    for _ in range(args.launches):
        for name, extra_env in variants.items():
            wall, cpu = launch(cmd, free_port(), extra_env=extra_env)
            samples[name][0].append(wall)
            samples[name][1].append(cpu)
            print(f"{name}: wall {wall:.3f} s  cpu {cpu:.2f} s", flush=True)
    load = os.getloadavg()
    print(f"load average at the end: {load[0]:.1f} {load[1]:.1f} {load[2]:.1f}")
    for name, (walls, cpus) in samples.items():
        print(
            f"{name}: cold start over {args.launches} launches: wall median"
            f" {statistics.median(walls):.3f} s (min {min(walls):.3f}, max {max(walls):.3f});"
            f" server CPU median {statistics.median(cpus):.2f} s"
            f" (min {min(cpus):.2f}, max {max(cpus):.2f})"
        )
    if args.json is not None:
        doc = {k: {"wall_s": w, "cpu_s": c} for k, (w, c) in samples.items()}
        args.json.write_text(json.dumps({**doc, "load": load}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
