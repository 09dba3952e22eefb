"""Team mode on real parts: PostgreSQL, an S3 stand-in and ``mlflow server`` with basic auth.

One stack per test session (marker ``team``), on free 127.0.0.1 ports:

- **PostgreSQL**: Debian's server binaries (``initdb``/``pg_ctl`` on PATH or under
  ``/usr/lib/postgresql/*/bin``), a throw-away cluster in a temporary folder, trust auth on
  127.0.0.1 only. As root (CI, the dev machine) it runs as the ``postgres`` system user, since
  PostgreSQL refuses to run as root. Missing binaries FAIL the tests with the fix: nothing is
  skipped silently (``.ci/run`` installs the ``postgresql`` package when it is missing).
- **S3**: moto in server mode, in its own process (its state is then its own: other tests that
  reset moto in this process cannot empty the bucket).
- **mlflow server** ``--backend-store-uri postgresql+psycopg2://... --artifacts-destination
  s3://... --serve-artifacts --app-name basic-auth``. The admin user and password come from
  ``MLFLOW_AUTH_ADMIN_USERNAME``/``MLFLOW_AUTH_ADMIN_PASSWORD`` (random per session); the auth
  config file holds no secret (its user database is a SQLite file beside it). MLflow's job
  runner (GenAI jobs) is switched off with its public ``MLFLOW_SERVER_ENABLE_JOB_EXECUTION``.

:class:`TeamStack` can stop and restart the mlflow server on the same port (fault tests).
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from mlflow import MlflowClient

BUCKET = "mlflow-team"
REPO_ROOT = Path(__file__).resolve().parents[3]
ADMIN = "admin"
START_TIMEOUT_S = 180.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def postgres_bin() -> Path:
    """The folder of Debian's PostgreSQL server binaries, or a test failure saying how to get it."""
    initdb = shutil.which("initdb")
    if initdb is not None and shutil.which("pg_ctl") is not None:
        return Path(initdb).resolve().parent
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))
    if found:
        return found[-1].parent
    pytest.fail(
        "team tests need a PostgreSQL server: no initdb/pg_ctl on PATH or under "
        "/usr/lib/postgresql/*/bin. Install Debian's package (as root: apt-get install -y "
        "postgresql; .ci/run does this) and run again.",
        pytrace=False,
    )


def _run_as(user: str | None) -> list[str]:
    return [] if user is None else ["runuser", "-u", user, "--"]


def _wait_http(url: str, proc: subprocess.Popen[bytes], log: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            tail = log.read_text(errors="replace")[-3000:]
            pytest.fail(f"{proc.args!r} exited with {proc.returncode}:\n{tail}", pytrace=False)
        try:
            with urllib.request.urlopen(url, timeout=2) as resp:
                if resp.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.3)
    tail = log.read_text(errors="replace")[-3000:]
    pytest.fail(f"{url} did not answer within {timeout:.0f} s:\n{tail}", pytrace=False)


def _stop(proc: subprocess.Popen[bytes] | None, sig: int = signal.SIGTERM) -> None:
    """Stop a process started with ``start_new_session=True`` and every child it made."""
    if proc is None or proc.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, sig)
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)


@dataclass
class TeamStack:
    """The running stack and how to reach it."""

    root: Path
    pg_port: int
    s3_port: int
    mlflow_port: int
    password: str
    server_env: dict[str, str]
    server_args: list[str]
    mlflow: subprocess.Popen[bytes] | None = None
    restarts: int = 0
    others: list[subprocess.Popen[bytes]] = field(default_factory=list)

    @property
    def tracking_uri(self) -> str:
        return f"http://127.0.0.1:{self.mlflow_port}"

    def client(self) -> MlflowClient:
        """A client of the server, named explicitly: an earlier test in this process may have
        set MLflow's global tracking URI, which wins over the environment."""
        return MlflowClient(tracking_uri=self.tracking_uri, registry_uri=self.tracking_uri)

    @property
    def s3_endpoint(self) -> str:
        return f"http://127.0.0.1:{self.s3_port}"

    def client_env(self, **extra: str) -> dict[str, str]:
        """The environment of a ``bcml`` process that works against the server."""
        env = {
            k: v for k, v in os.environ.items() if not k.startswith(("BCML_", "MLFLOW_", "AWS_"))
        }
        env |= {
            "MLFLOW_TRACKING_URI": self.tracking_uri,
            "MLFLOW_TRACKING_USERNAME": ADMIN,
            "MLFLOW_TRACKING_PASSWORD": self.password,
        }
        return env | extra

    def start_mlflow(self) -> None:
        log = self.root / f"mlflow-{self.restarts}.log"
        with log.open("wb") as out:
            self.mlflow = subprocess.Popen(
                self.server_args,
                env=self.server_env,
                cwd=self.root,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.restarts += 1
        _wait_http(f"{self.tracking_uri}/health", self.mlflow, log, START_TIMEOUT_S)

    def stop_mlflow(self) -> None:
        _stop(self.mlflow)
        self.mlflow = None


def _start_postgres(root: Path) -> tuple[int, list[str], Path]:
    bin_dir = postgres_bin()
    user: str | None = None
    if os.geteuid() == 0:  # PostgreSQL refuses to run as root
        user = "postgres"
        try:
            import pwd

            pwd.getpwnam(user)
        except KeyError:
            pytest.fail(
                "running as root, and there is no 'postgres' system user to run PostgreSQL "
                "as (Debian's postgresql package creates it): apt-get install -y postgresql",
                pytrace=False,
            )
    pg = root / "pg"
    pg.mkdir()
    if user is not None:
        shutil.chown(pg, user=user)
    data = pg / "data"
    port = free_port()
    as_user = _run_as(user)
    subprocess.run(
        [*as_user, str(bin_dir / "initdb"), "-D", str(data), "-U", "bcml", "--auth=trust",
         "-E", "UTF8", "--no-sync", "--no-instructions"],
        check=True, capture_output=True,
    )  # fmt: skip
    subprocess.run(
        [*as_user, str(bin_dir / "pg_ctl"), "-D", str(data), "-l", str(pg / "postgres.log"),
         "-o", f"-h 127.0.0.1 -p {port} -k {pg} -F", "-w", "-t", "60", "start"],
        check=True, capture_output=True,
    )  # fmt: skip
    subprocess.run(
        [*as_user, str(bin_dir / "createdb"), "-h", "127.0.0.1", "-p", str(port), "-U", "bcml",
         "mlflow"],
        check=True, capture_output=True,
    )  # fmt: skip
    stop = [*as_user, str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "fast", "-w", "stop"]
    return port, stop, data


def _start_moto(root: Path) -> tuple[int, subprocess.Popen[bytes]]:
    port = free_port()
    log = root / "moto.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [str(Path(sys.executable).with_name("moto_server")), "-H", "127.0.0.1", "-p",
             str(port)],
            stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    _wait_http(f"http://127.0.0.1:{port}/moto-api/", proc, log, 60)
    return port, proc


def _s3_credentials() -> dict[str, str]:
    # moto accepts any key; these name no real account
    return {
        "AWS_ACCESS_KEY_ID": "team-test",
        "AWS_SECRET_ACCESS_KEY": "team-test",
        "AWS_DEFAULT_REGION": "us-east-1",
    }


@pytest.fixture(scope="session")
def team_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TeamStack]:
    root = tmp_path_factory.mktemp("team")
    root.chmod(0o755)  # the postgres user walks through it to its data folder
    for parent in root.parents:
        if parent == Path(parent.anchor):
            break
        with contextlib.suppress(OSError):
            parent.chmod(parent.stat().st_mode | 0o111)
    pg_stop: list[str] | None = None
    moto: subprocess.Popen[bytes] | None = None
    stack: TeamStack | None = None
    try:
        pg_port, pg_stop, _ = _start_postgres(root)
        s3_port, moto = _start_moto(root)
        import boto3

        boto3.client(
            "s3", endpoint_url=f"http://127.0.0.1:{s3_port}", **_lower(_s3_credentials())
        ).create_bucket(Bucket=BUCKET)
        auth_ini = root / "basic_auth.ini"
        # No secret here: the admin's name and password come from the environment below.
        auth_ini.write_text(
            "[mlflow]\n"
            "default_permission = READ\n"
            f"database_uri = sqlite:///{root / 'basic_auth.db'}\n"
            "authorization_function = mlflow.server.auth:authenticate_request_basic_auth\n"
            # PBKDF2 per request costs ~0.5 s on this machine; cache a verified login
            "auth_cache_ttl_seconds = 300\n"
        )
        password = secrets.token_urlsafe(24)
        server_env = {
            k: v for k, v in os.environ.items() if not k.startswith(("BCML_", "MLFLOW_", "AWS_"))
        }
        server_env |= _s3_credentials() | {
            "MLFLOW_S3_ENDPOINT_URL": f"http://127.0.0.1:{s3_port}",
            "MLFLOW_AUTH_CONFIG_PATH": str(auth_ini),
            "MLFLOW_AUTH_ADMIN_USERNAME": ADMIN,
            "MLFLOW_AUTH_ADMIN_PASSWORD": password,
            "MLFLOW_FLASK_SERVER_SECRET_KEY": secrets.token_hex(16),
            "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false",
        }
        mlflow_port = free_port()
        args = [
            str(Path(sys.executable).with_name("mlflow")), "server",
            "--backend-store-uri", f"postgresql+psycopg2://bcml@127.0.0.1:{pg_port}/mlflow",
            "--artifacts-destination", f"s3://{BUCKET}/artifacts",
            "--serve-artifacts",
            "--app-name", "basic-auth",
            "--host", "127.0.0.1",
            "--port", str(mlflow_port),
            "--workers", "1",
        ]  # fmt: skip
        stack = TeamStack(root, pg_port, s3_port, mlflow_port, password, server_env, args)
        stack.start_mlflow()
        yield stack
    finally:
        if stack is not None:
            stack.stop_mlflow()
        _stop(moto)
        if pg_stop is not None:
            subprocess.run(pg_stop, check=False, capture_output=True, timeout=60)


def _lower(env: dict[str, str]) -> dict[str, str]:
    return {
        "aws_access_key_id": env["AWS_ACCESS_KEY_ID"],
        "aws_secret_access_key": env["AWS_SECRET_ACCESS_KEY"],
        "region_name": env["AWS_DEFAULT_REGION"],
    }


@pytest.fixture
def team_env(team_stack: TeamStack, monkeypatch: pytest.MonkeyPatch) -> TeamStack:
    """``team_stack`` with this process's MLflow client pointed at it (credentials included)."""
    for key, value in team_stack.client_env().items():
        if key.startswith("MLFLOW_"):
            monkeypatch.setenv(key, value)
    return team_stack
