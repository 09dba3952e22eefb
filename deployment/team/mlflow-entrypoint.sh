#!/bin/sh
# The team tracking server: mlflow server on PostgreSQL with the basic-auth app.
#
# Every credential comes from the environment (compose: the operator's shell; ECS: Secrets
# Manager), never from a file in the image or the repository:
#   PGHOST, PGPORT, PGUSER, PGDATABASE   the PostgreSQL server (PGPASSWORD: libpq reads it, so
#                                        the password is in no URI, no argv and no file)
#   MLFLOW_AUTH_ADMIN_USERNAME/PASSWORD  the admin user created on the first start
#   MLFLOW_FLASK_SERVER_SECRET_KEY       the CSRF key of the auth app
#   AWS_* / MLFLOW_S3_ENDPOINT_URL       the artifact store (an ECS task role needs no keys)
# The auth app's user database lives on the same PostgreSQL server (MLFLOW_AUTH_DB_NAME,
# created here if missing), so users survive a restart of the container.
set -eu
: "${PGHOST:?set PGHOST}" "${PGUSER:?set PGUSER}"
PGPORT="${PGPORT:-5432}"
PGDATABASE="${PGDATABASE:-mlflow}"
AUTH_DB="${MLFLOW_AUTH_DB_NAME:-mlflow_auth}"
export PGPORT PGDATABASE

python - "$AUTH_DB" <<'PY'
import sys

import psycopg2
from psycopg2 import sql

connection = psycopg2.connect(dbname="postgres")  # host, port, user, password: PG* variables
connection.autocommit = True
with connection.cursor() as cursor:
    cursor.execute("SELECT 1 FROM pg_database WHERE datname = %s", (sys.argv[1],))
    if cursor.fetchone() is None:
        cursor.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(sys.argv[1])))
connection.close()
PY

config="$(mktemp -d)/basic_auth.ini"
cat > "$config" <<INI
[mlflow]
default_permission = READ
database_uri = postgresql+psycopg2://${PGUSER}@${PGHOST}:${PGPORT}/${AUTH_DB}
authorization_function = mlflow.server.auth:authenticate_request_basic_auth
auth_cache_ttl_seconds = 60
INI
export MLFLOW_AUTH_CONFIG_PATH="$config"
export MLFLOW_SERVER_ENABLE_JOB_EXECUTION="${MLFLOW_SERVER_ENABLE_JOB_EXECUTION:-false}"

exec mlflow server \
  --backend-store-uri "postgresql+psycopg2://${PGUSER}@${PGHOST}:${PGPORT}/${PGDATABASE}" \
  --serve-artifacts --app-name basic-auth "$@"
