"""Build-time exercise of the serving image's venv (the Dockerfile's builder stage runs it).

It runs the real ``bcml serve`` (``python -m breast_cancer_ml serve``) as a client would, once
with one process and once with ``--workers 2``, an API key, CORS and the access log, on models
of EVERY candidate in the estimator registry (``domain.models.CANDIDATES``), published into a
model store the way ``bcml train`` publishes them, and checks the answers: ``/health``,
``/ready``, ``/``, ``/model/info``, ``/metrics``, ``/openapi.json``, ``/docs``; ``/predict``
(list and named features), ``/predict/batch``, ``/invocations`` (JSON and CSV), and refused
inputs (400, 401, 415, 422). Each candidate is served by a hot reload of ``models/latest``, as
a promotion in production is.

    python warm_imports.py --models DIR --record RECORD_DIR   # fit, publish, serve, record
    python warm_imports.py --models DIR                       # serve the models in DIR again

``--record`` first fits every candidate on the bundled data and publishes it into DIR (this
process imports what training needs; it is not recorded). Every server process then records the
files it uses (record_files.py), which is what prune_venv.py keeps. The second form imports
neither numpy nor scikit-learn itself, so after pruning it proves that the pruned venv still
loads and scores every candidate through the real service; any failure fails the build.

The venv is installed with ``--no-compile`` and the service user cannot write to it; these runs
write byte-code for exactly the modules the service imports, so it starts without compiling.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import sysconfig
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

# The seed README's example: the first row of the bundled data, malignant.
EXAMPLE = [17.99, 10.38, 122.8, 1001.0, 0.1184, 0.2776, 0.3001, 0.1471, 0.2419, 0.07871,
           1.095, 0.9053, 8.589, 153.4, 0.006399, 0.04904, 0.05373, 0.01587, 0.03003, 0.006193,
           25.38, 17.33, 184.6, 2019.0, 0.1622, 0.6656, 0.7119, 0.2654, 0.4601, 0.1189]  # fmt: skip
RUNS_FILE = "warm_runs.json"
PTH = "zz_bcml_record_files.pth"
READY_TIMEOUT = 60.0


def fit_and_stage(models: Path) -> list[str]:
    """Fit every candidate on the bundled data; publish the first, stage the others.

    Returns the run ids in order; the staged ones are published later, while serving."""
    import csv

    import numpy as np
    import skops.io as sio

    from breast_cancer_ml.adapters.model_store import SKOPS_FILE, publish
    from breast_cancer_ml.domain.contract import Envelope
    from breast_cancer_ml.domain.models import CANDIDATES, build_pipeline
    from breast_cancer_ml.domain.schema import FEATURES, LABEL_COLUMN, encode_label
    from breast_cancer_ml.settings import BUNDLED_DATA

    with BUNDLED_DATA.open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    X = np.array([[float(r[f]) for f in FEATURES] for r in rows])
    y = np.array([encode_label(r[LABEL_COLUMN]) for r in rows])
    run_ids = []
    for name, candidate in CANDIDATES.items():
        run_id = f"warm-{name}"
        staged = models / "staged" / run_id
        staged.mkdir(parents=True)
        sio.dump(build_pipeline(name, 0).fit(X, y), staged / SKOPS_FILE)
        meta = {
            "run_id": run_id,
            "model_type": candidate.model_type,
            "feature_names": list(FEATURES),
            "threshold": 0.5,
            "envelope": Envelope.from_training(X).as_dict(),
        }
        (staged / "meta.json").write_text(json.dumps(meta))
        run_ids.append(run_id)
    publish(models, run_ids[0], models / "staged" / run_ids[0], [], _meta(models, run_ids[0]))
    (models / RUNS_FILE).write_text(json.dumps(run_ids))
    return run_ids


def _meta(models: Path, run_id: str) -> dict[str, Any]:
    meta: dict[str, Any] = json.loads((models / "staged" / run_id / "meta.json").read_text())
    return meta


def _point_latest(models: Path, run_id: str) -> None:
    """Serve ``run_id``: swap ``latest`` to its history folder, or publish it from staging."""
    if (models / "history" / run_id).is_dir():
        tmp = models / ".latest-warm"
        tmp.unlink(missing_ok=True)
        tmp.symlink_to(Path("history") / run_id, target_is_directory=True)
        tmp.replace(models / "latest")
    else:
        from breast_cancer_ml.adapters.model_store import publish  # record mode only

        publish(models, run_id, models / "staged" / run_id, [], _meta(models, run_id))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


#: Headers of every request; the secured run adds an API key and a CORS origin.
HEADERS: dict[str, str] = {}


def request(
    url: str, body: bytes | None = None, content_type: str = "application/json"
) -> tuple[int, bytes]:
    headers = dict(HEADERS)
    if body is not None:
        headers["Content-Type"] = content_type
    req = urllib.request.Request(url, data=body, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def expect(url: str, status: int, body: Any = None, content_type: str = "application/json") -> Any:
    raw = body if body is None or isinstance(body, bytes) else json.dumps(body).encode()
    got, answer = request(url, raw, content_type)
    if got != status:
        raise SystemExit(f"warm-up: {url} answered {got}, expected {status}: {answer[:300]!r}")
    try:
        return json.loads(answer)
    except ValueError:
        return answer.decode()


@contextlib.contextmanager
def server(
    models: Path, workers: int, record: Path | None, settings: dict[str, str]
) -> Iterator[str]:
    port = free_port()
    # No BCML_* from outside; byte-code written (the point of the warm-up, see above).
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("BCML_") and k != "PYTHONDONTWRITEBYTECODE"
    }
    env.update(settings)
    if record is not None:
        env["BCML_RECORD_DIR"] = str(record)
    cmd = [sys.executable, "-m", "breast_cancer_ml", "serve", "--host", "127.0.0.1"]
    cmd += ["--port", str(port), "--workers", str(workers), "--models-dir", str(models)]
    cmd += ["--reload-interval", "0.2", "--log-level", "warning"]
    proc = subprocess.Popen(cmd, env=env, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + READY_TIMEOUT
        while _status(f"{url}/ready") != 200:
            _fail_if_refused(url)
            if proc.poll() is not None:
                raise SystemExit(f"warm-up: bcml serve exited with {proc.returncode}")
            if time.monotonic() > deadline:
                raise SystemExit(f"warm-up: /ready not 200 within {READY_TIMEOUT:.0f} s")
            time.sleep(0.1)
        yield url
        if record is not None:
            _collect(proc, record)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def _fail_if_refused(url: str) -> None:
    """The service refused the model (e.g. an import failed): fail now, with its reason."""
    try:
        status, body = request(f"{url}/health")
    except OSError:
        return
    error = json.loads(body)["model"]["error"] if status == 200 else None
    if error:
        raise SystemExit(f"warm-up: the service refused the model: {error}")


def _status(url: str) -> int:
    try:
        return request(url)[0]
    except OSError:  # not listening yet
        return 0


def _collect(proc: subprocess.Popen[bytes], record: Path) -> None:
    """Ask every process of the server (supervisor and workers) to write its file list."""
    before = {p: p.stat().st_mtime_ns for p in record.glob("*.txt")}
    pids = _group_pids(proc.pid)
    os.killpg(proc.pid, signal.SIGRTMIN + 2)  # record_files.SIGNAL
    deadline = time.monotonic() + 20
    while True:
        done = [p for p in pids if (record / f"{p}.txt").exists()]
        fresh = all(
            before.get(record / f"{p}.txt") != (record / f"{p}.txt").stat().st_mtime_ns
            for p in done
        )
        if len(done) == len(pids) and fresh:
            return
        if time.monotonic() > deadline:
            raise SystemExit(f"warm-up: file lists of {sorted(set(pids) - set(done))} missing")
        time.sleep(0.1)


def _group_pids(pgid: int) -> list[int]:
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
                exe = (entry / "exe").readlink()
            except OSError:
                continue
            fields = stat.rsplit(")", 1)[1].split()
            if int(fields[2]) == pgid and "python" in Path(exe).name:
                pids.append(int(entry.name))
    return pids


def exercise_routes(url: str, run_id: str) -> None:
    """Every route once, as a client; the answers are checked."""
    assert expect(f"{url}/health", 200)["status"] == "ok"
    assert expect(f"{url}/ready", 200)["model_version"] == run_id
    assert expect(f"{url}/", 200)["model_version"] == run_id
    info = expect(f"{url}/model/info", 200)
    assert info["run_id"] == run_id and len(info["feature_names"]) == 30, info
    assert "bcml" in expect(f"{url}/metrics", 200)
    assert "/predict" in expect(f"{url}/openapi.json", 200)["paths"]
    assert "swagger" in expect(f"{url}/docs", 200).lower()
    score_all(url, run_id)
    expect(f"{url}/predict", 400, b"{not json")
    expect(f"{url}/predict", 415, b"x", content_type="text/plain")
    expect(f"{url}/predict", 422, {"features": EXAMPLE[:29]})
    expect(f"{url}/predict", 422, {"features": [*EXAMPLE[:29], -1.0]})
    expect(f"{url}/predict", 422, {"features": [1e308, *EXAMPLE[1:]]})
    expect(f"{url}/invocations", 400, {"dataframe_split": {"columns": ["a"], "data": [[1]]}})


def score_all(url: str, run_id: str) -> None:
    """The prediction routes on the served model: the example must come out malignant."""
    one = expect(f"{url}/predict", 200, {"features": EXAMPLE})
    assert one["prediction"] == 1 and one["model_version"] == run_id, one
    assert one["warnings"] == [] and one["in_distribution"] is True, one
    odd = expect(f"{url}/predict", 200, {"features": [*EXAMPLE[:4], 50.0, *EXAMPLE[5:]]})
    assert odd["in_distribution"] is False and odd["confidence"] != "high", odd
    names = _feature_names(url)
    named = expect(f"{url}/predict", 200, {"features": dict(zip(names, EXAMPLE, strict=True))})
    assert named["prediction"] == 1, named
    rows = [[v * (1 + i / 1000) for v in EXAMPLE] for i in range(200)]
    batch = expect(f"{url}/predict/batch", 200, {"instances": rows})
    assert batch["count"] == 200, batch["count"]
    split = {"dataframe_split": {"columns": names, "data": rows[:50]}}
    assert len(expect(f"{url}/invocations", 200, split)["predictions"]) == 50
    csv = ",".join(names) + "\n" + "\n".join(",".join(map(str, r)) for r in rows[:20]) + "\n"
    got = expect(f"{url}/invocations", 200, csv.encode(), content_type="text/csv")
    assert got["predictions"][0] == 1, got


def _feature_names(url: str) -> list[str]:
    names: list[str] = expect(f"{url}/model/info", 200)["feature_names"]
    return names


def wait_for_model(url: str, run_id: str) -> None:
    deadline = time.monotonic() + 30
    while expect(f"{url}/model/info", 200)["run_id"] != run_id:
        _fail_if_refused(url)
        if time.monotonic() > deadline:
            raise SystemExit(f"warm-up: the service did not load {run_id} within 30 s")
        time.sleep(0.1)


@contextlib.contextmanager
def recording(record: Path | None) -> Iterator[None]:
    """With ``record``, every new Python process of this venv runs record_files.py first."""
    if record is None:
        yield
        return
    record.mkdir(parents=True, exist_ok=True)
    script = Path(__file__).with_name("record_files.py").resolve()
    pth = Path(sysconfig.get_paths()["purelib"]) / PTH
    pth.write_text(f"import runpy; runpy.run_path({str(script)!r})\n")
    try:
        yield
    finally:
        pth.unlink()


_UNSHIMMED = """
import importlib, os, signal, sys
from pathlib import Path
import numpy as np
from breast_cancer_ml.adapters.model_store import load_published
from breast_cancer_ml.lean_imports import DEFERRED_MODULES
for name in DEFERRED_MODULES:
    importlib.import_module(name)
for run_id in sys.argv[2:]:
    load_published(Path(sys.argv[1]) / "history" / run_id).proba(np.ones((2, 30)))
os.kill(os.getpid(), signal.SIGRTMIN + 2)  # record_files.SIGNAL: write the file list now
"""


def record_unshimmed(models: Path, run_ids: list[str], record: Path) -> None:
    """Record the import path without ``lean_imports``: the modules it defers in ``bcml serve``
    are imported for real on first use, and the Lambda handler imports scikit-learn plainly
    (which pulls numpy.testing through scipy's namespace clone). Their files must survive."""
    env = {**os.environ, "BCML_RECORD_DIR": str(record)}
    subprocess.run([sys.executable, "-c", _UNSHIMMED, str(models), *run_ids], env=env, check=True)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", type=Path, required=True, help="the warm-up model store")
    parser.add_argument("--record", type=Path, help="fit and publish, and record used files")
    args = parser.parse_args(argv)
    models: Path = args.models
    if args.record is not None:
        run_ids = fit_and_stage(models)
    else:
        run_ids = json.loads((models / RUNS_FILE).read_text())
        _point_latest(models, run_ids[0])
    started = time.monotonic()
    with recording(args.record):
        with server(models, 1, args.record, {}) as url:
            exercise_routes(url, run_ids[0])
            for run_id in run_ids[1:]:
                _point_latest(models, run_id)
                wait_for_model(url, run_id)
                score_all(url, run_id)
        _point_latest(models, run_ids[0])
        # The settings that switch code paths on: API key, CORS, access log; and workers.
        secured = {
            "BCML_API_KEY": "warm-up-key-for-the-image",
            "BCML_CORS_ORIGINS": "https://example.org",
            "BCML_ACCESS_LOG": "true",
        }
        with server(models, 2, args.record, secured) as url:
            HEADERS["Origin"] = "https://example.org"
            expect(f"{url}/predict", 401, {"features": EXAMPLE})
            HEADERS["Authorization"] = "Bearer warm-up-key-for-the-image"
            exercise_routes(url, run_ids[0])
            HEADERS.clear()
        if args.record is not None:
            record_unshimmed(models, run_ids, args.record)
    print(
        f"warm-up: bcml serve (1 and 2 workers) scored {len(run_ids)} candidate model(s) "
        f"{run_ids} on every route in {time.monotonic() - started:.1f} s"
    )


if __name__ == "__main__":
    main()
