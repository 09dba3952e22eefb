"""Prediction log benchmark: ``/predict`` with the log off and on, against the bare-ASGI floor,
and a load run with the log on whose records are counted against the answers.

Three servers on 127.0.0.1, one worker each, side by side: ``bcml serve`` without the log,
``bcml serve --prediction-log DIR`` (same model, ``models/latest``), and the bare ASGI app of
``bench_serve.py`` (the HTTP floor). Interleaved rounds at each concurrency give req/s and
latency for each (``bench_serve.py``'s load generator). Then a fresh server with the log on
takes ``--loss-seconds`` of load at the highest concurrency (no warm-up: every answer is
counted) and is stopped with SIGTERM (the service drains its queue); the records in its files
must equal the 200 answers it gave (the load plus the one of the start-up probe), no record
lost, and ``bcml audit verify`` must pass.

    .venv/bin/python benchmarks/bench_audit.py [--seconds 6] [--loss-seconds 60]
        [--report docs/benchmarks/audit.md]

Needs ``make run`` first (a promoted model). The numbers in docs/ come from ``--report``.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import urllib.request
from pathlib import Path
from typing import Any

from bench_serve import (
    BIN,
    PREDICT_BODY,
    Server,
    add_load_arguments,
    floor_command,
    free_port,
    load,
    machine,
    summarize,
)

OFF = "bcml serve /predict, log off"
ON = "bcml serve /predict, log on"
FLOOR = "bare ASGI (floor)"


def _bcml(port: int, models_dir: Path, *extra: str) -> list[str]:
    return [
        str(BIN / "bcml"),
        "serve",
        "--port",
        str(port),
        "--models-dir",
        str(models_dir),
        *extra,
    ]


def _dropped(port: int) -> dict[str, float]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as r:
        text = r.read().decode()
    out = {}
    for line in text.splitlines():
        if line.startswith("bcml_prediction_log_dropped_total{"):
            reason = line.split('reason="', 1)[1].split('"', 1)[0]
            out[reason] = float(line.rsplit(" ", 1)[1])
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    add_load_arguments(parser, seconds=6.0)
    parser.add_argument("--loss-seconds", type=float, default=60.0, help="the counted load run")
    parser.add_argument("--report", type=Path, help="write the results as Markdown here")
    args = parser.parse_args(argv)
    if not (args.models_dir / "latest").exists():
        print(f"{args.models_dir}/latest does not exist: run `make run` first", file=sys.stderr)
        return 2

    quiet = {"BCML_LOG_LEVEL": "warning", "PYTHONWARNINGS": "ignore"}
    work = Path(tempfile.mkdtemp(prefix="bench-audit-"))
    p_off, p_on, p_floor = free_port(), free_port(), free_port()
    servers = [
        Server(OFF, _bcml(p_off, args.models_dir), "/predict", PREDICT_BODY, p_off, env=quiet),
        Server(
            ON,
            _bcml(p_on, args.models_dir, "--prediction-log", str(work / "ratio")),
            "/predict",
            PREDICT_BODY,
            p_on,
            env=quiet,
        ),
        Server(FLOOR, floor_command(p_floor), "/predict", PREDICT_BODY, p_floor),
    ]
    info = machine()
    results: list[dict[str, Any]] = []
    try:
        for server in servers:
            server.start()
        runs: dict[tuple[str, int], list[Any]] = {}
        slice_s = args.seconds / args.rounds
        for round_no in range(args.rounds):
            for server in servers:
                for c in args.concurrency:
                    warm = args.warmup if round_no == 0 else min(args.warmup, 0.2)
                    runs.setdefault((server.name, c), []).append(
                        load(server.port, "/predict", PREDICT_BODY, c, warm, slice_s)
                    )
        for server in servers:
            for c in args.concurrency:
                row = summarize(runs[(server.name, c)])
                row.update(target=server.name, concurrency=c)
                results.append(row)
                print(
                    f"{server.name:30s} c={c:<3d} {row['rps']:9.0f} req/s  "
                    f"p50 {row['p50_ms']:7.2f} ms  p99 {row['p99_ms']:7.2f} ms  "
                    f"errors {row['errors']}",
                    flush=True,
                )
    finally:
        for server in servers:
            server.stop()

    # the counted run: a fresh log, every answer counted, then a graceful stop
    c_loss = max(args.concurrency)
    p_loss = free_port()
    loss_dir = work / "loss"
    counted = Server(
        "loss run",
        _bcml(p_loss, args.models_dir, "--prediction-log", str(loss_dir)),
        "/predict",
        PREDICT_BODY,
        p_loss,
        env=quiet,
    )
    try:
        counted.start()  # its probe got one 200 answer: one record
        run = load(p_loss, "/predict", PREDICT_BODY, c_loss, 0.0, args.loss_seconds)
        dropped = _dropped(p_loss)
    finally:
        counted.stop()  # SIGTERM: the service writes what is queued before it exits
    answered = len(run.latencies) + 1
    records = sum(f.read_bytes().count(b"\n") for f in sorted(loss_dir.glob("predictions-*.jsonl")))
    verify = subprocess.run(
        [str(BIN / "bcml"), "audit", "verify", str(loss_dir)], capture_output=True, text=True
    )
    shutil.rmtree(work, ignore_errors=True)

    by = {(r["target"], r["concurrency"]): r for r in results}
    lines = [f"Machine: {info}", ""]
    lines += ["| target | concurrency | req/s | p50 ms | p99 ms | errors |"]
    lines += ["|---|---:|---:|---:|---:|---:|"]
    for r in results:
        lines.append(
            f"| {r['target']} | {r['concurrency']} | {r['rps']:.0f} | {r['p50_ms']:.2f} | "
            f"{r['p99_ms']:.2f} | {r['errors']} |"
        )
    lines += ["", "Targets (one worker each):", ""]
    for c in args.concurrency:
        on, off, floor = by[(ON, c)], by[(OFF, c)], by[(FLOOR, c)]
        lines.append(
            f"- c={c}: log on vs bare ASGI floor: {on['rps'] / floor['rps']:.2f} "
            f"(target >= 0.8 at c=32); log off vs floor: {off['rps'] / floor['rps']:.2f}; "
            f"log on vs off: {on['rps'] / off['rps']:.2f}"
        )
    lost = answered - records
    lines.append(
        f"- {args.loss_seconds:g} s at c={c_loss} with the log on: {answered} answers with "
        f"status 200, {records} records in the files: {lost} lost (target 0); dropped "
        f"counters {dropped or '{}'}; errors {run.errors}; bcml audit verify exit "
        f"{verify.returncode} ({verify.stdout.strip().splitlines()[-1] if verify.stdout else ''})"
    )
    print("\n" + "\n".join(lines))
    if args.report:
        command = " ".join(["python benchmarks/bench_audit.py", *(argv or sys.argv[1:])])
        args.report.parent.mkdir(parents=True, exist_ok=True)
        args.report.write_text(
            "# Prediction log benchmark\n\nGenerated by `"
            + command
            + "` (do not edit by hand).\n\n"
            + "\n".join(lines)
            + "\n"
        )
    return 0 if lost == 0 and verify.returncode == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
