"""Batch scoring benchmark: `bcml predict` vs `mlflow models predict` vs a plain pandas script.

Builds a CSV of N rows (default 1,000,000) resampled from the bundled WDBC data with 5% noise,
then scores it, one after the other in fresh processes, with the promoted model in
``models/latest``:

- ``bcml predict --input in.csv --output out.csv``
- ``mlflow models predict -m models/latest/model -i in.csv -t csv --env-manager local``
- a pandas script: ``read_csv`` + ``predict_proba`` + ``to_csv`` (same model, skops-loaded)

and, unless ``--skip-big``, ``bcml predict`` alone on 10,000,000 rows (memory must stay flat).
Each command is timed wall-clock from process start to exit (imports and model loading
included), and its peak memory is the child's RSS high-water mark from ``wait4(2)``. This
script imports nothing heavy and writes the data in a separate process: a child's high-water mark
starts at its parent's (the kernel carries it over from fork to exec), so a parent that had
generated 10M rows in memory would inflate every measurement.

    make run                          # a promoted model in models/latest
    python benchmarks/bench_batch.py  # [--rows N] [--big-rows N] [--skip-big] [--repeat 3]

Times are the median of ``--repeat`` runs per command (the 10M run: one), peak memory the
highest of them.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import textwrap
import time
from dataclasses import asdict, dataclass
from pathlib import Path

PANDAS_SCRIPT = textwrap.dedent(
    """
    import sys
    from pathlib import Path

    import pandas as pd

    from breast_cancer_ml.adapters.model_store import load_latest
    from breast_cancer_ml.domain.schema import FEATURES

    source, target, models = sys.argv[1:4]
    pipeline = load_latest(Path(models)).pipeline
    frame = pd.read_csv(source)
    proba = pipeline.predict_proba(frame[list(FEATURES)].to_numpy())[:, 1]
    out = pd.DataFrame({"id": frame["id"], "probability": proba, "prediction": proba >= 0.5})
    out.to_csv(target, index=False)
    """
)


@dataclass
class Measure:
    tool: str
    rows: int
    seconds: float
    rows_per_second: float
    peak_rss_mb: float
    cpu_seconds: float
    exit_code: int


def measure(
    tool: str,
    cmd: list[str],
    rows: int,
    cwd: Path,
    repeat: int = 1,
    env: dict[str, str] | None = None,
) -> Measure:
    """Run ``cmd`` ``repeat`` times: the median wall time and the highest peak RSS."""
    runs = [measure_once(tool, cmd, rows, cwd, env) for _ in range(repeat)]
    runs.sort(key=lambda r: r.seconds)
    median = runs[len(runs) // 2]
    median.peak_rss_mb = max(r.peak_rss_mb for r in runs)
    median.exit_code = max(runs, key=lambda r: abs(r.exit_code)).exit_code
    return median


def measure_once(
    tool: str, cmd: list[str], rows: int, cwd: Path, env: dict[str, str] | None = None
) -> Measure:
    """Run ``cmd``; wall time and the child's own peak RSS (``wait4`` gives it per child)."""
    print(f"$ {' '.join(cmd)}", flush=True)
    started = time.perf_counter()
    proc = subprocess.Popen(
        cmd,
        cwd=cwd,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env=None if env is None else {**os.environ, **env},
    )
    stderr = proc.stderr
    assert stderr is not None
    err = stderr.read()  # drain, so a chatty child never blocks on a full pipe
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - started
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        print(err.decode(errors="replace")[-2000:], file=sys.stderr)
    result = Measure(
        tool=tool,
        rows=rows,
        seconds=round(seconds, 2),
        rows_per_second=round(rows / seconds),
        peak_rss_mb=round(usage.ru_maxrss / 1024, 1),  # Linux reports KiB
        cpu_seconds=round(usage.ru_utime + usage.ru_stime, 2),
        exit_code=proc.returncode,
    )
    print(f"  -> {result}", flush=True)
    return result


def generate(path: Path, rows: int, seed: int) -> None:
    """Write the synthetic CSV in a child process (see the module docstring)."""
    t0 = time.perf_counter()
    script = Path(__file__).with_name("synthetic.py")
    subprocess.run([sys.executable, str(script), str(path), str(rows), str(seed)], check=True)
    os.sync()  # no write-back of the new file competing with the first measured command
    size = path.stat().st_size / 1024**2
    print(f"{rows:,} rows, {size:,.0f} MB written in {time.perf_counter() - t0:.1f} s")


def machine() -> dict[str, str]:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
        mem_kb = int(Path("/proc/meminfo").read_text().split()[1])
        memory = f"{mem_kb / 1024**2:.0f} GiB"
    except OSError:
        memory = "?"
    return {
        "cpu": cpu,
        "cores": str(os.cpu_count()),
        "memory": memory,
        "os": platform.platform(),
        "python": platform.python_version(),
        "load_average_at_start": " ".join(f"{x:.2f}" for x in os.getloadavg()),
    }


def table(results: list[Measure], reference: str) -> str:
    ref = next((r for r in results if r.tool == reference and r.exit_code == 0), None)
    lines = [
        "| tool | rows | time (s) | rows/s | peak RSS (MB) | CPU (s) | rows/s vs mlflow |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in results:
        speed = f"{r.rows_per_second / ref.rows_per_second:.1f}x" if ref else "n/a"
        status = "" if r.exit_code == 0 else f" (exit {r.exit_code})"
        lines.append(
            f"| {r.tool}{status} | {r.rows:,} | {r.seconds:.2f} | {r.rows_per_second:,} | "
            f"{r.peak_rss_mb:,.0f} | {r.cpu_seconds:.1f} | {speed} |"
        )
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--big-rows", type=int, default=10_000_000)
    parser.add_argument("--skip-big", action="store_true", help="skip the 10M-row bcml run")
    parser.add_argument("--repeat", type=int, default=3, help="runs per command (median)")
    parser.add_argument("--models-dir", type=Path, default=Path("models"))
    parser.add_argument("--workdir", type=Path, default=None, help="default: a temporary dir")
    parser.add_argument("--json", type=Path, default=None, help="also write results here")
    parser.add_argument("--report", type=Path, default=None, help="write Markdown results here")
    parser.add_argument("--baseline", help="git revision whose bcml predict is measured too")
    args = parser.parse_args()

    models_dir = args.models_dir.resolve()
    if not (models_dir / "latest").exists():
        print(f"{models_dir}/latest does not exist: run `make run` first.", file=sys.stderr)
        return 2
    bin_dir = Path(sys.executable).parent
    bcml = (
        [str(bin_dir / "bcml")]
        if (bin_dir / "bcml").exists()
        else [sys.executable, "-m", "breast_cancer_ml"]
    )
    mlflow = str(bin_dir / "mlflow") if (bin_dir / "mlflow").exists() else shutil.which("mlflow")

    python_m = [sys.executable, "-m", "breast_cancer_ml"]  # the baseline: its src on PYTHONPATH

    def bcml_predict(source: Path, output: Path, prefix: list[str] = bcml) -> list[str]:
        return [*prefix, "predict", "--models-dir", str(models_dir), "--input", str(source),
                "--output", str(output)]  # fmt: skip

    owned = args.workdir is None
    work = Path(tempfile.mkdtemp(prefix="bcml-bench-")) if owned else args.workdir
    work.mkdir(parents=True, exist_ok=True)
    info = machine()
    try:
        source = work / "in.csv"
        generate(source, args.rows, seed=0)
        script = work / "pandas_predict.py"
        script.write_text(PANDAS_SCRIPT)
        results = [
            measure(
                "bcml predict",
                bcml_predict(source, work / "out_bcml.csv"),
                args.rows,
                work,
                args.repeat,
            ),
        ]
        if args.baseline:
            from baseline import export_source

            results.append(
                measure(
                    f"bcml predict @ {args.baseline}",
                    bcml_predict(source, work / "out_baseline.csv", python_m),
                    args.rows,
                    work,
                    args.repeat,
                    env={"PYTHONPATH": str(export_source(args.baseline))},
                )
            )
        if mlflow:
            results.append(
                measure(
                    "mlflow models predict",
                    [
                        mlflow,
                        "models",
                        "predict",
                        "-m",
                        str(models_dir / "latest" / "model"),
                        "-i",
                        str(source),
                        "-t",
                        "csv",
                        "-o",
                        str(work / "out_mlflow.json"),
                        "--env-manager",
                        "local",
                    ],
                    args.rows,
                    work,
                    args.repeat,
                )
            )
        results.append(
            measure(
                "pandas read_csv + predict_proba + to_csv",
                [
                    sys.executable,
                    str(script),
                    str(source),
                    str(work / "out_pandas.csv"),
                    str(models_dir),
                ],
                args.rows,
                work,
                args.repeat,
            )
        )
        source.unlink()
        if not args.skip_big:
            big = work / "big.csv"
            generate(big, args.big_rows, seed=1)
            results.append(
                measure(
                    "bcml predict", bcml_predict(big, work / "out_big.csv"), args.big_rows, work
                )
            )
            big.unlink()
        info["load_average_at_end"] = " ".join(f"{x:.2f}" for x in os.getloadavg())
        text = table(results, "mlflow models predict")
        where = "machine: " + ", ".join(f"{k} {v}" for k, v in info.items())
        print(f"\n{text}\n\n{where}")
        if args.report:
            command = " ".join(["python benchmarks/bench_batch.py", *sys.argv[1:]])
            args.report.parent.mkdir(parents=True, exist_ok=True)
            args.report.write_text(
                f"# Batch scoring benchmark\n\nGenerated by `{command}` (do not edit by hand). "
                "Target: `bcml predict` >= 4x `mlflow models predict` at 1M rows, peak RSS "
                f"< 300 MB.\n\n{text}\n\n{where}\n"
            )
        if args.json:
            args.json.write_text(
                json.dumps({"machine": info, "results": [asdict(r) for r in results]}, indent=2)
            )
        return 0 if all(r.exit_code == 0 for r in results) else 1
    finally:
        if owned:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
