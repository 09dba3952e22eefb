"""deployment/team/mlflow-entrypoint.sh (the compose and ECS tracking server) started for real
on the session's PostgreSQL and S3: credentials only from the environment, users in their own
database, basic auth on."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from pathlib import Path

import psycopg2
import pytest

from .conftest import BUCKET, REPO_ROOT, TeamStack, _stop, _wait_http, free_port
from .test_team_training import basic, status_of

pytestmark = [pytest.mark.integration, pytest.mark.team]

ENTRYPOINT = REPO_ROOT / "deployment" / "team" / "mlflow-entrypoint.sh"


def test_the_entrypoint_serves_with_basic_auth_and_keeps_users_in_postgres(
    team_stack: TeamStack, tmp_path: Path
) -> None:
    port = free_port()
    password = secrets.token_urlsafe(18)
    env = {
        k: v for k, v in team_stack.server_env.items() if not k.startswith(("MLFLOW_AUTH_", "PG"))
    }
    env |= {
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}",
        "PGHOST": "127.0.0.1",
        "PGPORT": str(team_stack.pg_port),
        "PGUSER": "bcml",
        "PGDATABASE": "mlflow",
        "MLFLOW_AUTH_DB_NAME": "entrypoint_auth",
        "MLFLOW_AUTH_ADMIN_USERNAME": "ops",
        "MLFLOW_AUTH_ADMIN_PASSWORD": password,
    }
    log = tmp_path / "entrypoint.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            ["sh", str(ENTRYPOINT), "--host", "127.0.0.1", "--port", str(port), "--workers",
             "1", "--artifacts-destination", f"s3://{BUCKET}/entrypoint"],
            env=env, cwd=tmp_path, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    try:
        _wait_http(f"http://127.0.0.1:{port}/health", proc, log, 180)
        url = f"http://127.0.0.1:{port}/api/2.0/mlflow/experiments/search?max_results=1"
        assert status_of(url, {}) == 401
        assert status_of(url, basic("ops", password)) == 200
        with (
            psycopg2.connect(
                host="127.0.0.1", port=team_stack.pg_port, user="bcml", dbname="entrypoint_auth"
            ) as conn,
            conn.cursor() as cursor,
        ):
            cursor.execute("SELECT username FROM users")
            assert cursor.fetchall() == [("ops",)]
        # no credential reached the command line or a file of the working folder
        cmdline = Path(f"/proc/{proc.pid}/cmdline").read_bytes().decode(errors="replace")
        assert password not in cmdline
        assert not [p for p in tmp_path.rglob("*") if p.is_file() and p != log]
    finally:
        _stop(proc)
