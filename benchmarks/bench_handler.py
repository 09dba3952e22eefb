"""Where a ``/predict`` request's time goes, in process: what the service adds to HTTP.

``bench_serve.py`` compares the service with a bare ASGI app that answers a constant (the HTTP
floor). This script measures, without HTTP, the work that the floor does not do and the service
must: parse and check the body, score the case with the promoted model, build the answer. With
the floor's time per request from the same machine, it gives the best ratio to the floor any
implementation of that work could reach over HTTP: ``floor / (floor + work)``.

    .venv/bin/python benchmarks/bench_handler.py [--models-dir models] [--floor-rps 11751]

``--floor-rps`` is the floor's requests per second at one client (``docs/benchmarks/serve.md``).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from breast_cancer_ml.adapters.model_store import load_published
from breast_cancer_ml.service.endpoints import handle_predict, new_state
from breast_cancer_ml.settings import ServeSettings

ROOT = Path(__file__).resolve().parent.parent
ROW = [17.99, 10.38, 122.8, 1001.0, 0.1184, 0.2776, 0.3001, 0.1471, 0.2419, 0.07871, 1.095,
       0.9053, 8.589, 153.4, 0.006399, 0.04904, 0.05373, 0.01587, 0.03003, 0.006193, 25.38,
       17.33, 184.6, 2019.0, 0.1622, 0.6656, 0.7119, 0.2654, 0.4601, 0.1189]  # fmt: skip
BODY = json.dumps({"features": ROW}).encode()


def per_call_us(fn: Callable[[], object], calls: int, rounds: int) -> float:
    """The median over ``rounds`` of the mean time of one call, in microseconds."""
    samples = []
    for _ in range(rounds):
        start = time.perf_counter()
        for _ in range(calls):
            fn()
        samples.append((time.perf_counter() - start) / calls * 1e6)
    return statistics.median(samples)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models-dir", type=Path, default=ROOT / "models")
    parser.add_argument("--floor-rps", type=float, default=None)
    parser.add_argument("--calls", type=int, default=5000)
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()

    latest = args.models_dir / "latest"
    if not latest.exists():
        print(f"no promoted model in {latest}: run `make run` first", file=sys.stderr)
        return 2
    model = load_published(latest.resolve())
    state = new_state(ServeSettings(models_dir=args.models_dir))
    X = np.asarray([ROW], dtype=np.float64)
    answer = handle_predict(state, model, b"application/json", BODY)
    assert answer.rows == 1 and b'"probability"' in answer.body, answer

    handler = per_call_us(
        lambda: handle_predict(state, model, b"application/json", BODY), args.calls, args.rounds
    )
    proba = per_call_us(lambda: model.proba(X), args.calls, args.rounds)
    name = model.record.model if model.record is not None else "?"
    print(f"model: {name} ({latest.resolve().name})")
    print(f"handle_predict (parse, check, score, answer): {handler:.1f} us per call")
    print(f"  of which model.proba on one row:            {proba:.1f} us")
    if args.floor_rps:
        floor_us = 1e6 / args.floor_rps
        best = floor_us / (floor_us + handler)
        print(f"floor: {floor_us:.1f} us per request ({args.floor_rps:.0f} req/s at c=1)")
        print(f"best reachable ratio to the floor at c=1: {best:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
