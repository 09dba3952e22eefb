# The team tracking server: mlflow server (basic auth) on PostgreSQL with S3 artifacts.
#
#   docker build -f deployment/team/mlflow.Dockerfile -t breast-cancer-ml-mlflow .
#
# The versions are the project's lock (requirements/constraints.txt). Configuration and every
# credential come from the environment at run time: see mlflow-entrypoint.sh.
ARG PYTHON_IMAGE=python:3.11-slim
FROM ${PYTHON_IMAGE}
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_ROOT_USER_ACTION=ignore \
    PYTHONUNBUFFERED=1
COPY requirements/constraints.txt /tmp/constraints.txt
RUN pip install -c /tmp/constraints.txt 'mlflow[auth]' psycopg2-binary boto3 \
 && rm /tmp/constraints.txt
COPY deployment/team/mlflow-entrypoint.sh /usr/local/bin/mlflow-team-entrypoint
RUN groupadd --system --gid 10002 mlflow \
 && useradd --system --uid 10002 --gid mlflow --home-dir /mlflow --create-home \
      --shell /usr/sbin/nologin mlflow
USER 10002:10002
WORKDIR /mlflow
EXPOSE 5000
HEALTHCHECK --interval=15s --timeout=5s --start-period=60s --retries=5 \
  CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:5000/health', timeout=4)"]
ENTRYPOINT ["/usr/local/bin/mlflow-team-entrypoint"]
CMD ["--host", "0.0.0.0", "--port", "5000", "--artifacts-destination", "s3://mlflow/artifacts"]
