"""``bcml deploy`` against a local AWS stand-in: moto in server mode on 127.0.0.1.

Real boto3 clients talk HTTP to the stand-in. Its known gaps are filled here, in the test,
never in the deploy code: moto runs no containers (MOTO_ECS_SERVICE_RUNNING tells it how many
tasks to report running) and has no Beanstalk application versions or environment updates
(the three missing actions are added to its Beanstalk responder below, with an update that
completes one poll later, as a real one does after a while).
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto.elasticbeanstalk import responses as eb_responses
from moto.moto_server import threaded_moto_server as moto_server

from breast_cancer_ml.deploy import aws

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[2]
REGION = "eu-west-1"
OLD_IMAGE = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/breast-cancer-ml:v0.1.0"
NEW_IMAGE = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/breast-cancer-ml:v0.2.0"


@pytest.fixture(scope="module")
def endpoint() -> Iterator[str]:
    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def aws_env(endpoint: str, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    env = {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_REGION": REGION,
        "AWS_DEFAULT_REGION": REGION,
        "AWS_ENDPOINT_URL": endpoint,
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    req = urllib.request.Request(f"{endpoint}/moto-api/reset", method="POST")
    urllib.request.urlopen(req, timeout=10).close()
    return env


def client(name: str, endpoint: str) -> Any:
    return boto3.client(name, region_name=REGION, endpoint_url=endpoint)


def make_service(
    ecs: Any,
    running: int,
    monkeypatch: pytest.MonkeyPatch,
    secrets: list[dict[str, str]] | None = None,
) -> str:
    """A cluster and a Fargate service as deployment/aws/ecs-service.yaml makes them
    (``secrets``: the api container's, e.g. BCML_API_KEY from Secrets Manager)."""
    monkeypatch.setenv("MOTO_ECS_SERVICE_RUNNING", str(running))  # moto runs no containers
    ecs.create_cluster(clusterName="bcml")
    td = ecs.register_task_definition(
        family="bcml",
        requiresCompatibilities=["FARGATE"],
        networkMode="awsvpc",
        cpu="512",
        memory="1024",
        executionRoleArn="arn:aws:iam::123456789012:role/bcml-exec",
        taskRoleArn="arn:aws:iam::123456789012:role/bcml-task",
        containerDefinitions=[
            {
                "name": "api",
                "image": OLD_IMAGE,
                "essential": True,
                "portMappings": [{"containerPort": 8000, "protocol": "tcp"}],
                "command": ["bcml", "serve", "--host", "0.0.0.0"],
                **({"secrets": secrets} if secrets else {}),
                "logConfiguration": {
                    "logDriver": "awslogs",
                    "options": {"awslogs-group": "/ecs/bcml", "awslogs-region": REGION},
                },
            },
            {"name": "sidecar", "image": "public.ecr.aws/xray:1", "essential": False},
        ],
        tags=[{"key": "app", "value": "bcml"}],
    )
    ecs.create_service(
        cluster="bcml",
        serviceName="api",
        taskDefinition=td["taskDefinition"]["taskDefinitionArn"],
        desiredCount=2,
        launchType="FARGATE",
    )
    return str(td["taskDefinition"]["taskDefinitionArn"])


def test_ecs_rollout_registers_a_revision_with_only_the_image_changed(
    aws_env: dict[str, str], endpoint: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    ecs = client("ecs", endpoint)
    old_arn = make_service(ecs, running=2, monkeypatch=monkeypatch)

    result = aws.deploy_ecs(ecs, "bcml", "api", NEW_IMAGE, timeout=10, delay=1)

    assert result.previous_task_definition_arn == old_arn
    assert result.task_definition_arn.endswith(":2")
    new = ecs.describe_task_definition(taskDefinition=result.task_definition_arn, include=["TAGS"])
    old = ecs.describe_task_definition(taskDefinition=old_arn)["taskDefinition"]
    td = new["taskDefinition"]
    containers = {c["name"]: c for c in td["containerDefinitions"]}
    assert containers["api"]["image"] == NEW_IMAGE
    assert containers["sidecar"]["image"] == "public.ecr.aws/xray:1"
    old_api = next(c for c in old["containerDefinitions"] if c["name"] == "api")
    assert {k: v for k, v in containers["api"].items() if k != "image"} == {
        k: v for k, v in old_api.items() if k != "image"
    }
    for field in ("cpu", "memory", "executionRoleArn", "taskRoleArn", "networkMode"):
        assert td[field] == old[field]
    assert new["tags"] == [{"key": "app", "value": "bcml"}]
    service = ecs.describe_services(cluster="bcml", services=["api"])["services"][0]
    assert service["taskDefinition"] == result.task_definition_arn


def test_ecs_wait_is_bounded_when_tasks_never_run(
    aws_env: dict[str, str], endpoint: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    ecs = client("ecs", endpoint)
    make_service(ecs, running=0, monkeypatch=monkeypatch)
    started = time.monotonic()
    with pytest.raises(aws.DeployError, match="not stable within about 2s"):
        aws.deploy_ecs(ecs, "bcml", "api", NEW_IMAGE, timeout=2, delay=1)
    assert time.monotonic() - started < 15


def test_ecs_rollback_by_the_circuit_breaker_is_a_failure(
    aws_env: dict[str, str], endpoint: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    ecs = client("ecs", endpoint)
    old_arn = make_service(ecs, running=2, monkeypatch=monkeypatch)
    result = aws.deploy_ecs(ecs, "bcml", "api", NEW_IMAGE, wait=False)
    ecs.update_service(cluster="bcml", service="api", taskDefinition=old_arn)  # the rollback
    with pytest.raises(aws.DeployError, match="rolled bcml/api back"):
        aws.wait_ecs_stable(ecs, "bcml", "api", result.task_definition_arn, timeout=5, delay=1)


def test_ecs_unknown_service_is_a_clear_error(aws_env: dict[str, str], endpoint: str) -> None:
    ecs = client("ecs", endpoint)
    ecs.create_cluster(clusterName="bcml")
    with pytest.raises(aws.DeployError, match="not found"):
        aws.deploy_ecs(ecs, "bcml", "nope", NEW_IMAGE, timeout=2, delay=1)


def test_cli_deploys_ecs_in_a_real_process(
    aws_env: dict[str, str], endpoint: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    ecs = client("ecs", endpoint)
    make_service(ecs, running=2, monkeypatch=monkeypatch)
    cmd = [sys.executable, "-m", "breast_cancer_ml.deploy", "ecs", "--cluster", "bcml"]
    cmd += ["--service", "api", "--image", NEW_IMAGE, "--container", "api"]
    cmd += ["--timeout", "10", "--poll", "1"]
    done = subprocess.run(cmd, env={**os.environ, **aws_env}, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    assert summary["target"] == "ecs"
    assert summary["image"] == NEW_IMAGE
    # this service has no BCML_API_KEY: said plainly, not silently deployed
    assert summary["api_key"] == "none"
    assert "WARNING: bcml/api runs without an API key" in done.stderr

    cmd[cmd.index("--container") + 1] = "missing"
    done = subprocess.run(cmd, env={**os.environ, **aws_env}, capture_output=True, text=True)
    assert done.returncode == aws.DeployError.exit_code
    assert "no container 'missing'" in done.stderr
    assert "Traceback" not in done.stderr


# ---- the API key: a Secrets Manager secret injected as BCML_API_KEY ----------------------
# moto's CloudFormation (5.2) cannot create deployment/aws/ecs-service.yaml: it has no
# AWS::SecretsManager::Secret or Application Auto Scaling resources and stops on the stack's
# ECS/ELB part. tests/unit/deploy/test_deployment_files.py checks what the template creates
# per parameter set; here, what the deploy script does with a service built like it.
def make_api_key_secret(endpoint: str) -> tuple[str, str]:
    """A secret as the stack generates it (32 characters, no punctuation): (ARN, value)."""
    sm = client("secretsmanager", endpoint)
    value = sm.get_random_password(PasswordLength=32, ExcludePunctuation=True)["RandomPassword"]
    arn = sm.create_secret(Name="bcml/api-key", SecretString=value)["ARN"]
    return str(arn), str(value)


def test_ecs_rollout_keeps_the_api_key_secret_the_running_task_definition_injects(
    aws_env: dict[str, str], endpoint: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    arn, _ = make_api_key_secret(endpoint)
    injected = [{"name": "BCML_API_KEY", "valueFrom": arn}]
    ecs = client("ecs", endpoint)
    make_service(ecs, running=2, monkeypatch=monkeypatch, secrets=injected)

    result = aws.deploy_ecs(ecs, "bcml", "api", NEW_IMAGE, timeout=10, delay=1)

    assert result.api_key == f"secret:{arn}"
    td = ecs.describe_task_definition(taskDefinition=result.task_definition_arn)["taskDefinition"]
    api = next(c for c in td["containerDefinitions"] if c["name"] == "api")
    assert api["image"] == NEW_IMAGE
    assert api["secrets"] == injected
    assert "BCML_API_KEY" not in {e["name"] for e in api.get("environment", [])}
    # the reference still names the secret exactly (what the execution role may read)
    described = client("secretsmanager", endpoint).describe_secret(
        SecretId=api["secrets"][0]["valueFrom"]
    )
    assert described["ARN"] == arn


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[Any]:
    """Start the real ``bcml serve`` on 127.0.0.1 (no model: /health 200, /ready 503) with
    the given environment; returns its base URL. Stopped at the end of the test."""
    procs: list[subprocess.Popen[bytes]] = []
    logs: list[Any] = []

    def start(env: dict[str, str]) -> str:
        port = free_port()
        base = {k: v for k, v in os.environ.items() if not k.startswith("BCML_")}
        cmd = [sys.executable, "-m", "breast_cancer_ml", "serve", "--port", str(port)]
        cmd += ["--models-dir", str(tmp_path / "models")]
        log = (tmp_path / f"serve-{port}.log").open("wb")
        logs.append(log)
        proc = subprocess.Popen(
            cmd, env={**base, **env}, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        procs.append(proc)
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            assert proc.poll() is None, (tmp_path / f"serve-{port}.log").read_text()
            try:
                urllib.request.urlopen(f"{url}/health", timeout=2).close()
                return url
            except OSError:
                time.sleep(0.05)
        raise AssertionError("bcml serve not healthy within 30 s")

    yield start
    for proc in procs:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(10)
    for log in logs:
        log.close()


def test_cli_proves_the_live_service_refuses_predictions_without_the_injected_key(
    aws_env: dict[str, str], endpoint: str, monkeypatch: pytest.MonkeyPatch, serve: Any
) -> None:
    arn, value = make_api_key_secret(endpoint)
    make_service(
        client("ecs", endpoint),
        running=2,
        monkeypatch=monkeypatch,
        secrets=[{"name": "BCML_API_KEY", "valueFrom": arn}],
    )
    # what the ECS agent does at task start: the secret's value as BCML_API_KEY
    url = serve({"BCML_API_KEY": value})
    cmd = [sys.executable, "-m", "breast_cancer_ml.deploy", "ecs", "--cluster", "bcml"]
    cmd += ["--service", "api", "--image", NEW_IMAGE, "--container", "api"]
    cmd += ["--timeout", "10", "--poll", "1", "--check-url", f"{url}/health"]
    done = subprocess.run(cmd, env={**os.environ, **aws_env}, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    assert summary["api_key"] == f"secret:{arn}"
    assert "WARNING" not in done.stderr
    assert value not in done.stdout + done.stderr  # the key itself is never printed


def test_cli_fails_when_the_task_injects_a_key_but_the_service_answers_without_it(
    aws_env: dict[str, str], endpoint: str, monkeypatch: pytest.MonkeyPatch, serve: Any
) -> None:
    arn, _ = make_api_key_secret(endpoint)
    make_service(
        client("ecs", endpoint),
        running=2,
        monkeypatch=monkeypatch,
        secrets=[{"name": "BCML_API_KEY", "valueFrom": arn}],
    )
    url = serve({})  # the key never reached the service
    cmd = [sys.executable, "-m", "breast_cancer_ml.deploy", "ecs", "--cluster", "bcml"]
    cmd += ["--service", "api", "--image", NEW_IMAGE, "--timeout", "10", "--poll", "1"]
    cmd += ["--container", "api", "--check-url", f"{url}/health"]
    done = subprocess.run(cmd, env={**os.environ, **aws_env}, capture_output=True, text=True)
    assert done.returncode == aws.DeployError.exit_code
    assert f"{url}/predict answered HTTP 503 to a request without an API key, expected 401" in (
        done.stderr
    )
    assert "Traceback" not in done.stderr


def test_api_key_check_reports_an_http_to_https_redirect_instead_of_following_it() -> None:
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    seen: list[str] = []

    class Alb(BaseHTTPRequestHandler):  # the ALB's port-80 listener with a certificate set
        def do_POST(self) -> None:
            seen.append(self.command)
            self.send_response(301)
            self.send_header("Location", "https://bcml.example.org:443/predict")
            self.end_headers()

        def do_GET(self) -> None:
            seen.append(self.command)
            self.send_response(405)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Alb)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        with pytest.raises(
            aws.DeployError, match=re.escape("redirects to https://bcml.example.org:443/predict")
        ):
            aws.check_api_key_enforced(f"http://127.0.0.1:{server.server_port}/predict")
    finally:
        server.shutdown()
    assert seen == ["POST"]  # not followed: no GET sent on, no key ever sent in clear text


# ---- Elastic Beanstalk: moto lacks application versions and environment updates --------
@pytest.fixture
def beanstalk_stand_in(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """Adds CreateApplicationVersion, DescribeApplicationVersions and UpdateEnvironment to
    moto's Beanstalk responder. An update shows `Updating` once, then `Ready` on the new
    version with ``state["health"]`` (or, with ``state["roll_back"]``, on the old one)."""
    state: dict[str, Any] = {
        "versions": {},
        "pending": {},
        "polls": 0,
        "health": "Green",
        "roll_back": False,
    }
    cls = eb_responses.EBResponse
    original_describe = cls.describe_environments

    def create_application_version(self: Any) -> Any:
        label = self._get_param("VersionLabel")
        if label in state["versions"]:
            raise eb_responses.InvalidParameterValueError(
                f"Application Version {label} already exists."
            )
        version = {
            "ApplicationName": self._get_param("ApplicationName"),
            "VersionLabel": label,
            "SourceBundle": self._get_param("SourceBundle"),
            "Status": "PROCESSING",
        }
        state["versions"][label] = version
        return eb_responses.ActionResult({"ApplicationVersion": dict(version)})

    def describe_application_versions(self: Any) -> Any:
        labels = self._get_param("VersionLabels", [])
        found = [dict(state["versions"][x]) for x in labels if x in state["versions"]]
        for label in labels:  # processed by the next look, as Beanstalk does after a moment
            if label in state["versions"]:
                state["versions"][label]["Status"] = "PROCESSED"
        return eb_responses.ActionResult({"ApplicationVersions": found})

    def update_environment(self: Any) -> Any:
        name = self._get_param("EnvironmentName")
        env = next(
            e
            for e in self.elasticbeanstalk_backend.describe_environments()
            if e.environment_name == name
        )
        env.status = "Updating"
        state["pending"][name] = self._get_param("VersionLabel")
        state["polls"] = 0
        return eb_responses.ActionResult(env)

    def describe_environments(self: Any) -> Any:
        answer = original_describe(self)
        for env in self.elasticbeanstalk_backend.describe_environments():
            label = state["pending"].get(env.environment_name)
            if label is not None and state["polls"] >= 1:
                env.status = "Ready"
                env.health = state["health"]
                if not state["roll_back"]:
                    env.version_label = label
                del state["pending"][env.environment_name]
            state["polls"] = state.get("polls", 0) + 1
        return answer

    monkeypatch.setattr(cls, "create_application_version", create_application_version, False)
    monkeypatch.setattr(cls, "describe_application_versions", describe_application_versions, False)
    monkeypatch.setattr(cls, "update_environment", update_environment, False)
    monkeypatch.setattr(cls, "describe_environments", describe_environments)
    return state


def make_environment(endpoint: str) -> tuple[Any, Any]:
    eb, s3 = client("elasticbeanstalk", endpoint), client("s3", endpoint)
    s3.create_bucket(
        Bucket="bcml-bundles", CreateBucketConfiguration={"LocationConstraint": REGION}
    )
    eb.create_application(ApplicationName="bcml")
    eb.create_environment(
        ApplicationName="bcml",
        EnvironmentName="bcml-prod",
        SolutionStackName="64bit Amazon Linux 2023 v4.4.0 running Docker",
    )
    return eb, s3


def test_beanstalk_rollout_uploads_the_bundle_and_waits_for_ready(
    aws_env: dict[str, str], endpoint: str, beanstalk_stand_in: dict[str, Any], tmp_path: Path
) -> None:
    eb, s3 = make_environment(endpoint)
    bundle = aws.build_beanstalk_bundle(
        REPO / "deployment" / "Dockerrun.aws.json", NEW_IMAGE, tmp_path / "b.zip"
    )
    result = aws.deploy_beanstalk(
        eb,
        s3,
        "bcml",
        "bcml-prod",
        "v0.2.0",
        "bcml-bundles",
        "bcml/v0.2.0.zip",
        bundle=bundle,
        timeout=10,
        delay=0.2,
    )
    assert result.health == "Green"
    env = eb.describe_environments(ApplicationName="bcml", EnvironmentNames=["bcml-prod"])
    assert str(env["Environments"][0]["VersionLabel"]) == "v0.2.0"
    stored = tmp_path / "stored.zip"
    s3.download_file("bcml-bundles", "bcml/v0.2.0.zip", str(stored))
    with zipfile.ZipFile(stored) as zf:
        assert json.loads(zf.read("Dockerrun.aws.json"))["Image"]["Name"] == NEW_IMAGE
    assert beanstalk_stand_in["versions"]["v0.2.0"]["SourceBundle"] == {
        "S3Bucket": "bcml-bundles",
        "S3Key": "bcml/v0.2.0.zip",
    }


@pytest.mark.parametrize(
    ("health", "roll_back", "message"),
    [("Red", False, "health is Red"), ("Green", True, "not v0.2.0")],
)
def test_beanstalk_unhealthy_or_rolled_back_update_fails(
    aws_env: dict[str, str],
    endpoint: str,
    beanstalk_stand_in: dict[str, Any],
    tmp_path: Path,
    health: str,
    roll_back: bool,
    message: str,
) -> None:
    beanstalk_stand_in.update(health=health, roll_back=roll_back)
    eb, s3 = make_environment(endpoint)
    bundle = aws.build_beanstalk_bundle(
        REPO / "deployment" / "Dockerrun.aws.json", NEW_IMAGE, tmp_path / "b.zip"
    )
    with pytest.raises(aws.DeployError, match=message):
        aws.deploy_beanstalk(
            eb,
            s3,
            "bcml",
            "bcml-prod",
            "v0.2.0",
            "bcml-bundles",
            "k.zip",
            bundle=bundle,
            timeout=10,
            delay=0.2,
        )


def test_beanstalk_cli_in_a_real_process(
    aws_env: dict[str, str], endpoint: str, beanstalk_stand_in: dict[str, Any], tmp_path: Path
) -> None:
    make_environment(endpoint)
    cmd = [sys.executable, "-m", "breast_cancer_ml.deploy", "beanstalk"]
    cmd += ["--application", "bcml", "--environment", "bcml-prod", "--version-label", "v0.3.0"]
    cmd += ["--bucket", "bcml-bundles", "--image", NEW_IMAGE, "--timeout", "20", "--poll", "0.2"]
    cmd += ["--dockerrun", str(REPO / "deployment" / "Dockerrun.aws.json")]
    done = subprocess.run(
        cmd, env={**os.environ, **aws_env}, capture_output=True, text=True, cwd=tmp_path
    )
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    assert summary["bundle"] == "s3://bcml-bundles/bcml/v0.3.0.zip"
    assert summary["health"] == "Green"


def test_wait_http_ready_is_bounded_and_checks_the_url() -> None:
    with pytest.raises(aws.DeployError, match="not an http"):
        aws.wait_http_ready("/ready")
    # nothing listens on port 9 of 127.0.0.1 (discard): refused at once, until the timeout
    started = time.monotonic()
    with pytest.raises(aws.DeployError, match="did not answer 200 within 1s"):
        aws.wait_http_ready("http://127.0.0.1:9/ready", timeout=1, delay=0.2)
    assert time.monotonic() - started < 10


def test_wait_http_ready_waits_through_503() -> None:
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    answers = iter([503, 503, 200])

    class Ready(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(next(answers, 200))
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Ready)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        aws.wait_http_ready(f"http://127.0.0.1:{server.server_port}/ready", timeout=10, delay=0.1)
        assert next(answers, "used up") == "used up"
    finally:
        server.shutdown()
