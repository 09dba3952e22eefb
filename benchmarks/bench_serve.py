"""Serving benchmark: ``bcml serve`` vs its declared route vs ``mlflow models serve`` vs a bare
ASGI app, one run.

All serve on 127.0.0.1 with one worker each, side by side; the same promoted model
(``models/latest``) is served by ``bcml serve`` (``/predict`` on its fast path, and
``/invocations`` with the MLflow body), by the same app with its fast path off
(``benchmarks/declared_app.py``: ``/predict`` through the declared FastAPI/pydantic route), and
by ``mlflow models serve -m models/latest/model --env-manager local`` (``/invocations``); the
bare ASGI app (``benchmarks/bare_asgi.py`` on uvicorn, same options) answers a constant and is
the HTTP floor. The load generator is asyncio (uvloop) with raw
keep-alive HTTP/1.1 connections, in this process, bounded by time: for each target and each
concurrency it runs ``--warmup`` seconds, then ``--seconds`` measured. Cold start is process
launch to the first 200 answer to a prediction request (median of ``--cold-starts`` launches).

    .venv/bin/python benchmarks/bench_serve.py [--seconds 5] [--json results.json]
        [--baseline REV] [--report docs/benchmarks/serve.md]

``--baseline REV`` adds ``bcml serve`` as it was at git revision REV (its ``src/`` exported with
``git archive`` and run with this venv), serving the same model, so a change's cost is measured
side by side with the code before it, in the same run. ``--report`` writes the tables and the
targets as Markdown (the numbers in ``docs/`` come from here, never typed by hand).

Needs ``make run`` first (a promoted model) and the dev environment (mlflow).
"""

from __future__ import annotations

import argparse
import asyncio
import http.client
import json
import os
import platform
import signal
import socket
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
sys.path.insert(0, str(ROOT / "src"))

from baseline import export_source  # noqa: E402

from breast_cancer_ml.domain.schema import FEATURES  # noqa: E402

ROW = [
    17.99,
    10.38,
    122.8,
    1001.0,
    0.1184,
    0.2776,
    0.3001,
    0.1471,
    0.2419,
    0.07871,
    1.095,
    0.9053,
    8.589,
    153.4,
    0.006399,
    0.04904,
    0.05373,
    0.01587,
    0.03003,
    0.006193,
    25.38,
    17.33,
    184.6,
    2019.0,
    0.1622,
    0.6656,
    0.7119,
    0.2654,
    0.4601,
    0.1189,
]
DECLARED = "declared route /predict"
PREDICT_BODY = json.dumps({"features": ROW}).encode()
MLFLOW_BODY = json.dumps({"dataframe_split": {"columns": list(FEATURES), "data": [ROW]}}).encode()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def uvicorn_command(app: str, port: int, *extra: str) -> list[str]:
    """``app`` (in ``benchmarks/``) on uvicorn with the settings ``bcml serve`` uses: one
    worker, no access log, no WebSockets, no server header."""
    return [
        str(BIN / "python"),
        "-m",
        "uvicorn",
        app,
        *extra,
        "--app-dir",
        str(ROOT / "benchmarks"),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--no-access-log",
        "--log-level",
        "warning",
        "--ws",
        "none",
        "--no-server-header",
    ]


def floor_command(port: int) -> list[str]:
    """The bare-ASGI floor (``bare_asgi.py``: a constant answer) under the same uvicorn
    settings as ``bcml serve``: what any service on this machine can reach at best."""
    return uvicorn_command("bare_asgi:app", port)


def add_load_arguments(parser: argparse.ArgumentParser, seconds: float) -> None:
    """The load generator's options, shared by the serving benchmarks."""
    parser.add_argument("--seconds", type=float, default=seconds, help="measured time per cell")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds per cell")
    parser.add_argument("--warmup", type=float, default=1.0, help="unmeasured time per cell")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 32])
    parser.add_argument("--models-dir", type=Path, default=ROOT / "models")


def request_bytes(path: str, body: bytes, port: int) -> bytes:
    return (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode() + body


@dataclass
class Server:
    name: str
    cmd: list[str]
    path: str
    body: bytes
    port: int
    env: dict[str, str] = field(default_factory=dict)
    proc: subprocess.Popen[bytes] | None = None
    cold_start_s: float | None = None

    def start(self, timeout: float = 120) -> None:
        env = {**os.environ, **self.env}
        t0 = time.perf_counter()
        self.proc = subprocess.Popen(
            self.cmd,
            env=env,
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        deadline = t0 + timeout
        while time.perf_counter() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self.proc.returncode}")
            try:
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=2)
                conn.request("POST", self.path, self.body, {"Content-Type": "application/json"})
                status = conn.getresponse().status
                conn.close()
                if status == 200:
                    self.cold_start_s = time.perf_counter() - t0
                    return
            except OSError:
                pass
            time.sleep(0.005)
        raise RuntimeError(f"{self.name} did not answer 200 within {timeout} s")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)


class _Conn(asyncio.Protocol):
    """One keep-alive connection sending the same request again as soon as it is answered."""

    def __init__(self, request: bytes, run: _Run) -> None:
        self.request = request
        self.run = run
        self.buf = b""
        self.need = -1
        self.status = 0
        self.sent = 0.0
        self.transport: asyncio.Transport | None = None
        self.closed = asyncio.get_running_loop().create_future()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self.send()

    def send(self) -> None:
        self.sent = time.perf_counter()
        assert self.transport is not None
        self.transport.write(self.request)

    def data_received(self, data: bytes) -> None:
        self.buf += data
        while True:
            if self.need < 0:
                end = self.buf.find(b"\r\n\r\n")
                if end < 0:
                    return
                head = self.buf[:end].lower()
                self.status = int(head[9:12])
                i = head.find(b"content-length:")
                length = int(
                    head[i + 15 : head.find(b"\r\n", i) if head.find(b"\r\n", i) > 0 else None]
                )
                self.need = end + 4 + length
            if len(self.buf) < self.need:
                return
            self.buf = self.buf[self.need :]
            self.need = -1
            now = time.perf_counter()
            if self.run.record(now - self.sent, self.status, now):
                self.send()
            else:
                assert self.transport is not None
                self.transport.close()
                return

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.closed.done():
            self.closed.set_result(None)


class _Run:
    def __init__(self, warmup_until: float, stop_at: float) -> None:
        self.warmup_until = warmup_until
        self.stop_at = stop_at
        self.latencies: list[float] = []
        self.errors = 0
        self.first = 0.0
        self.last = 0.0

    def record(self, latency: float, status: int, now: float) -> bool:
        if now >= self.warmup_until:
            if not self.latencies and not self.errors:
                self.first = now
            self.last = now
            if status == 200:
                self.latencies.append(latency)
            else:
                self.errors += 1
        return now < self.stop_at


async def _load(port: int, request: bytes, concurrency: int, warmup: float, seconds: float) -> Any:
    loop = asyncio.get_running_loop()
    start = time.perf_counter()
    run = _Run(start + warmup, start + warmup + seconds)
    conns = []
    for _ in range(concurrency):
        _, proto = await loop.create_connection(lambda: _Conn(request, run), "127.0.0.1", port)
        conns.append(proto)
    await asyncio.gather(*(c.closed for c in conns))
    return run


def load(port: int, path: str, body: bytes, concurrency: int, warmup: float, seconds: float) -> Any:
    try:
        import uvloop

        runner: Any = uvloop.run
    except ImportError:  # pragma: no cover
        runner = asyncio.run
    return runner(_load(port, request_bytes(path, body, port), concurrency, warmup, seconds))


def summarize(runs: list[_Run]) -> dict[str, Any]:
    """Pool the rounds of one cell: total requests over total measured time, pooled latencies."""
    latencies = sorted(x for r in runs for x in r.latencies)
    errors = sum(r.errors for r in runs)
    elapsed = sum(r.last - r.first for r in runs)
    done = len(latencies) + errors
    qs = statistics.quantiles(latencies, n=100) if len(latencies) >= 100 else [float("nan")] * 99
    return {
        "requests": done,
        "errors": errors,
        "rps": done / elapsed if elapsed > 0 else float("nan"),
        "p50_ms": qs[49] * 1000,
        "p99_ms": qs[98] * 1000,
    }


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return (
        f"{os.cpu_count()} cores ({cpu}), Python {platform.python_version()}, "
        f"{platform.system()} {platform.release()}; load average at start "
        f"{', '.join(f'{x:.1f}' for x in os.getloadavg())}"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    add_load_arguments(parser, seconds=6.0)
    parser.add_argument("--cold-starts", type=int, default=7, help="launches; median reported")
    parser.add_argument("--skip-mlflow", action="store_true", help="bcml and bare ASGI only")
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument("--baseline", help="git revision whose bcml serve is measured too")
    parser.add_argument("--report", type=Path, help="write the results as Markdown here")
    args = parser.parse_args(argv)
    if not (args.models_dir / "latest").exists():
        print(f"{args.models_dir}/latest does not exist: run `make run` first", file=sys.stderr)
        return 2

    quiet = {"BCML_LOG_LEVEL": "warning", "PYTHONWARNINGS": "ignore"}
    p_bcml, p_bare, p_mlflow, p_decl = free_port(), free_port(), free_port(), free_port()
    servers = [
        Server(
            "bcml serve /predict",
            [
                str(BIN / "bcml"),
                "serve",
                "--port",
                str(p_bcml),
                "--models-dir",
                str(args.models_dir),
            ],
            "/predict",
            PREDICT_BODY,
            p_bcml,
            env=quiet,
        ),
        Server(
            DECLARED,
            uvicorn_command("declared_app:app", p_decl, "--factory"),
            "/predict",
            PREDICT_BODY,
            p_decl,
            env={**quiet, "BCML_MODELS_DIR": str(args.models_dir)},
        ),
        Server(
            "bare ASGI (floor)",
            floor_command(p_bare),
            "/predict",
            PREDICT_BODY,
            p_bare,
        ),
    ]
    if args.baseline:
        p_base = free_port()
        servers.insert(
            1,
            Server(
                f"bcml serve /predict @ {args.baseline}",
                [
                    str(BIN / "python"),
                    "-m",
                    "breast_cancer_ml",
                    "serve",
                    "--port",
                    str(p_base),
                    "--models-dir",
                    str(args.models_dir),
                ],
                "/predict",
                PREDICT_BODY,
                p_base,
                env={**quiet, "PYTHONPATH": str(export_source(args.baseline))},
            ),
        )
    if not args.skip_mlflow:
        servers.append(
            Server(
                "mlflow models serve",
                [
                    str(BIN / "mlflow"),
                    "models",
                    "serve",
                    "-m",
                    str(args.models_dir / "latest" / "model"),
                    "--env-manager",
                    "local",
                    "-h",
                    "127.0.0.1",
                    "-p",
                    str(p_mlflow),
                    "-w",
                    "1",
                ],
                "/invocations",
                MLFLOW_BODY,
                p_mlflow,
                # mlflow execs `uvicorn` from PATH
                env={"PYTHONWARNINGS": "ignore", "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}"},
            )
        )
    results: list[dict[str, Any]] = []
    info = machine()
    try:
        for server in servers:  # one at a time, so cold starts do not compete for the CPU
            # cold start: the median of several launches (mlflow's is slow: one launch)
            launches = 1 if server.name.startswith("mlflow") else args.cold_starts
            samples = []
            for _ in range(launches - 1):
                server.start()
                samples.append(server.cold_start_s)
                server.stop()
            server.start()
            samples.append(server.cold_start_s)
            server.cold_start_s = statistics.median(s for s in samples if s is not None)
        targets = [(s.name, s.port, s.path, s.body, s.cold_start_s) for s in servers]
        targets.insert(1, ("bcml serve /invocations", p_bcml, "/invocations", MLFLOW_BODY, None))
        # Interleaved rounds: background load on a shared machine drifts, so every target
        # gets a slice of each period instead of one target getting a quiet minute.
        runs: dict[tuple[str, int], list[_Run]] = {}
        slice_s = args.seconds / args.rounds
        for round_no in range(args.rounds):
            for name, port, path, body, _ in targets:
                for c in args.concurrency:
                    warm = args.warmup if round_no == 0 else min(args.warmup, 0.2)
                    runs.setdefault((name, c), []).append(load(port, path, body, c, warm, slice_s))
        for name, _, _, _, cold in targets:
            for c in args.concurrency:
                row = summarize(runs[(name, c)])
                row.update(target=name, concurrency=c, cold_start_s=cold)
                results.append(row)
                print(
                    f"{name:26s} c={c:<3d} {row['rps']:9.0f} req/s  p50 {row['p50_ms']:7.2f} ms  "
                    f"p99 {row['p99_ms']:7.2f} ms  errors {row['errors']}",
                    flush=True,
                )
    finally:
        for server in servers:
            server.stop()

    lines = [f"Machine: {info}", ""]
    lines += ["| target | concurrency | req/s | p50 ms | p99 ms | errors | cold start s |"]
    lines += ["|---|---:|---:|---:|---:|---:|---:|"]
    for r in results:
        cold = f"{r['cold_start_s']:.2f}" if r["cold_start_s"] is not None else ""
        lines.append(
            f"| {r['target']} | {r['concurrency']} | {r['rps']:.0f} | {r['p50_ms']:.2f} | "
            f"{r['p99_ms']:.2f} | {r['errors']} | {cold} |"
        )
    by = {(r["target"], r["concurrency"]): r for r in results}
    lines += ["", "Targets (one worker each):", ""]
    for c in args.concurrency:
        ours = by[("bcml serve /predict", c)]
        bare = by[("bare ASGI (floor)", c)]
        declared = by[(DECLARED, c)]
        if ("mlflow models serve", c) in by:
            ratio = ours["rps"] / by[("mlflow models serve", c)]["rps"]
            lines.append(f"- c={c}: /predict vs mlflow models serve: {ratio:.0f}x (target >= 30x)")
        lines.append(
            f"- c={c}: /predict vs bare ASGI floor: {ours['rps'] / bare['rps']:.2f} "
            f"(target >= 0.9); the declared route: {declared['rps'] / bare['rps']:.2f}"
        )
        base = by.get((f"bcml serve /predict @ {args.baseline}", c))
        if base is not None:
            lines.append(
                f"- c={c}: /predict vs the same at {args.baseline}: "
                f"{ours['rps'] / base['rps']:.2f}; vs the floor then: "
                f"{base['rps'] / bare['rps']:.2f}"
            )
        if c >= 32:
            lines.append(
                f"- c={c}: p99 /predict vs floor: {ours['p99_ms'] / bare['p99_ms']:.2f}x "
                f"(target <= 2x); the declared route: "
                f"{declared['p99_ms'] / bare['p99_ms']:.2f}x"
            )
    lines.append(f"- cold start bcml serve: {servers[0].cold_start_s:.2f} s (target <= 1 s)")
    print("\n" + "\n".join(lines))
    if args.report:
        command = " ".join(["python benchmarks/bench_serve.py", *(argv or sys.argv[1:])])
        args.report.parent.mkdir(parents=True, exist_ok=True)
        args.report.write_text(
            "# Serving benchmark\n\nGenerated by `"
            + command
            + "` (do not edit by hand).\n\n"
            + "\n".join(lines)
            + "\n"
        )
    if args.json:
        args.json.write_text(json.dumps({"machine": info, "results": results}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
