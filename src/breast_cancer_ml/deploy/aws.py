"""Roll a released image out to AWS with boto3: ECS Fargate or Elastic Beanstalk.

ECS: the service's current task definition is copied with the new image into a new revision,
the service is pointed at it, and the rollout is awaited with a bounded waiter; a rollout that
the deployment circuit breaker rolled back is reported as a failure, not as success.
Beanstalk: a source bundle (Dockerrun.aws.json naming the image, plus .ebextensions) goes to
S3, becomes an application version, the environment is updated to it, and the update is
awaited, bounded, until the environment is Ready on that version and not unhealthy.

Every wait has a timeout; every AWS error becomes a :class:`DeployError` with a message that
says what to check. Clients are passed in, so the same code runs against AWS or a stand-in.

The API key: a revision keeps the running definition's ``secrets`` (``BCML_API_KEY`` from
Secrets Manager, as deployment/aws/ecs-service.yaml injects it) untouched, the result says
where the key comes from, and :func:`check_api_key_enforced` asks the live service to prove
that it refuses a prediction without the key.
"""

from __future__ import annotations

import json
import math
import time
import urllib.error
import urllib.request
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from breast_cancer_ml.errors import BcmlError

# Fields RegisterTaskDefinition accepts; DescribeTaskDefinition returns these plus read-only
# ones (arn, revision, status, registeredAt, ...), which must not be sent back.
TASK_DEFINITION_INPUT_FIELDS = (
    "family",
    "taskRoleArn",
    "executionRoleArn",
    "networkMode",
    "containerDefinitions",
    "volumes",
    "placementConstraints",
    "requiresCompatibilities",
    "cpu",
    "memory",
    "pidMode",
    "ipcMode",
    "proxyConfiguration",
    "inferenceAccelerators",
    "ephemeralStorage",
    "runtimePlatform",
    "enableFaultInjection",
)
API_KEY_VARIABLE = "BCML_API_KEY"
DOCKERRUN = "Dockerrun.aws.json"
EBEXTENSIONS = ".ebextensions"

Sleep = Callable[[float], None]
Clock = Callable[[], float]


class DeployError(BcmlError):
    """A deployment step failed or did not finish in time; the message says what to check."""

    exit_code = 5


@dataclass(frozen=True)
class EcsResult:
    cluster: str
    service: str
    image: str
    task_definition_arn: str
    previous_task_definition_arn: str
    api_key: str
    """Where the container's API key comes from: ``secret:<valueFrom>``, ``environment``
    (plain text in the task definition) or ``none`` (predictions open to anyone)."""


@dataclass(frozen=True)
class BeanstalkResult:
    application: str
    environment: str
    version_label: str
    bundle: str
    health: str


def _aws_error(action: str, exc: Exception) -> DeployError:
    """Turn a botocore ClientError (or any AWS failure) into a readable DeployError."""
    response = getattr(exc, "response", None)
    if isinstance(response, dict) and "Error" in response:
        err = response["Error"]
        return DeployError(f"{action} failed: {err.get('Code')}: {err.get('Message')}")
    return DeployError(f"{action} failed: {exc}")


# ---- ECS ----------------------------------------------------------------------------------
def _target_container(current: dict[str, Any], container: str | None) -> int:
    """Index of the container to update: the named one, else the only (essential) one."""
    containers: list[dict[str, Any]] = current.get("containerDefinitions", [])
    names = [c.get("name") for c in containers]
    if container is None:
        essential = [i for i, c in enumerate(containers) if c.get("essential", True)]
        if len(containers) == 1:
            return 0
        if len(essential) == 1:
            return essential[0]
        raise DeployError(
            f"task definition {current.get('family')} has containers {names}; "
            "choose one with --container"
        )
    if container not in names:
        raise DeployError(
            f"task definition {current.get('family')} has no container {container!r} "
            f"(it has {names})"
        )
    return names.index(container)


def api_key_source(container: dict[str, Any]) -> str:
    """Where ``container`` gets ``BCML_API_KEY``: ``secret:<valueFrom>`` (Secrets Manager or
    SSM, injected by the ECS agent), ``environment`` (plain text, visible to anyone who may
    describe the task definition) or ``none``."""
    for secret in container.get("secrets", []):
        if secret.get("name") == API_KEY_VARIABLE:
            return f"secret:{secret.get('valueFrom')}"
    if any(e.get("name") == API_KEY_VARIABLE for e in container.get("environment", [])):
        return "environment"
    return "none"


def next_task_definition(
    current: dict[str, Any], image: str, container: str | None
) -> dict[str, Any]:
    """RegisterTaskDefinition input: ``current`` with ``image`` in the chosen container;
    everything else (the ``secrets`` that inject the API key included) as it was."""
    containers = [dict(c) for c in current.get("containerDefinitions", [])]
    containers[_target_container(current, container)]["image"] = image
    spec = {k: current[k] for k in TASK_DEFINITION_INPUT_FIELDS if current.get(k) not in (None, [])}
    spec["containerDefinitions"] = containers
    return spec


def _describe_service(ecs: Any, cluster: str, service: str) -> dict[str, Any]:
    try:
        answer = ecs.describe_services(cluster=cluster, services=[service])
    except Exception as exc:
        raise _aws_error(f"DescribeServices {cluster}/{service}", exc) from None
    services = [s for s in answer.get("services", []) if s.get("status") == "ACTIVE"]
    if not services:
        reasons = [f.get("reason") for f in answer.get("failures", [])]
        raise DeployError(
            f"ECS service {service!r} not found (or not ACTIVE) in cluster {cluster!r}"
            + (f": {reasons}" if reasons else "")
            + ". Check the cluster/service names (the ecs-service stack outputs) and region."
        )
    return dict(services[0])


def deploy_ecs(
    ecs: Any,
    cluster: str,
    service: str,
    image: str,
    container: str | None = None,
    timeout: float = 900,
    delay: float = 15,
    wait: bool = True,
) -> EcsResult:
    """Register a revision of the service's task definition with ``image``, roll it out, and
    (``wait``) wait at most ``timeout`` seconds for the service to be stable on it."""
    current_arn = str(_describe_service(ecs, cluster, service)["taskDefinition"])
    try:
        described = ecs.describe_task_definition(taskDefinition=current_arn, include=["TAGS"])
    except Exception as exc:
        raise _aws_error(f"DescribeTaskDefinition {current_arn}", exc) from None
    spec = next_task_definition(described["taskDefinition"], image, container)
    api_key = api_key_source(spec["containerDefinitions"][_target_container(spec, container)])
    if described.get("tags"):
        spec["tags"] = described["tags"]
    try:
        registered = ecs.register_task_definition(**spec)
    except Exception as exc:
        raise _aws_error(f"RegisterTaskDefinition {spec['family']}", exc) from None
    new_arn = str(registered["taskDefinition"]["taskDefinitionArn"])
    try:
        ecs.update_service(cluster=cluster, service=service, taskDefinition=new_arn)
    except Exception as exc:
        raise _aws_error(f"UpdateService {cluster}/{service}", exc) from None
    result = EcsResult(cluster, service, image, new_arn, current_arn, api_key)
    if wait:
        wait_ecs_stable(ecs, cluster, service, new_arn, timeout, delay)
    return result


def wait_ecs_stable(
    ecs: Any, cluster: str, service: str, task_definition_arn: str, timeout: float, delay: float
) -> None:
    """The ``services_stable`` waiter, bounded to ``timeout``, then a check that the stable
    service runs ``task_definition_arn`` (a circuit-breaker rollback is stable too)."""
    from botocore.exceptions import WaiterError

    attempts = max(1, math.ceil(timeout / max(delay, 1e-3)))
    waiter = ecs.get_waiter("services_stable")
    try:
        waiter.wait(
            cluster=cluster,
            services=[service],
            WaiterConfig={"Delay": max(1, round(delay)), "MaxAttempts": attempts},
        )
    except WaiterError as exc:
        raise DeployError(
            f"ECS service {cluster}/{service} was not stable within about {timeout:.0f}s "
            f"({exc.kwargs.get('reason', exc)}). Look at the service's events and the "
            "task logs (CloudWatch /ecs/<service>); the new tasks may fail /ready."
        ) from None
    svc = _describe_service(ecs, cluster, service)
    deployments: list[dict[str, Any]] = svc.get("deployments", [])
    primary = next((d for d in deployments if d.get("status") == "PRIMARY"), {})
    if svc.get("taskDefinition") != task_definition_arn or primary.get("rolloutState") == "FAILED":
        raise DeployError(
            f"ECS rolled {cluster}/{service} back to {svc.get('taskDefinition')} instead of "
            f"{task_definition_arn}: {primary.get('rolloutStateReason', 'see service events')}"
        )


# ---- Elastic Beanstalk --------------------------------------------------------------------
def build_beanstalk_bundle(dockerrun: Path, image: str, out: Path) -> Path:
    """Zip ``dockerrun`` (its image set to ``image``) and the ``.ebextensions`` beside it."""
    try:
        spec = json.loads(dockerrun.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise DeployError(f"cannot read {dockerrun} as JSON: {exc}") from None
    if str(spec.get("AWSEBDockerrunVersion")) != "1" or not isinstance(spec.get("Image"), dict):
        raise DeployError(f"{dockerrun} is not a single-container (version 1) Dockerrun file")
    spec["Image"]["Name"] = image
    out.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as bundle:
        bundle.writestr(DOCKERRUN, json.dumps(spec, indent=2) + "\n")
        extensions = dockerrun.parent / EBEXTENSIONS
        if extensions.is_dir():
            for path in sorted(extensions.rglob("*")):
                if path.is_file():
                    bundle.write(path, f"{EBEXTENSIONS}/{path.relative_to(extensions).as_posix()}")
    return out


def deploy_beanstalk(
    eb: Any,
    s3: Any,
    application: str,
    environment: str,
    version_label: str,
    bucket: str,
    key: str,
    bundle: Path | None = None,
    timeout: float = 1200,
    delay: float = 15,
    wait: bool = True,
    sleep: Sleep = time.sleep,
    clock: Clock = time.monotonic,
) -> BeanstalkResult:
    """Upload ``bundle`` (if given) to s3://bucket/key, make it application version
    ``version_label``, update ``environment`` to it and wait (bounded) until it is Ready."""
    if bundle is not None:
        try:
            s3.upload_file(str(bundle), bucket, key)
        except Exception as exc:
            raise _aws_error(f"upload of {bundle} to s3://{bucket}/{key}", exc) from None
    _create_version(eb, application, version_label, bucket, key)
    _wait_version_processed(eb, application, version_label, timeout, delay, sleep, clock)
    try:
        eb.update_environment(
            ApplicationName=application, EnvironmentName=environment, VersionLabel=version_label
        )
    except Exception as exc:
        raise _aws_error(f"UpdateEnvironment {environment}", exc) from None
    health = "unknown"
    if wait:
        health = wait_beanstalk_ready(
            eb, application, environment, version_label, timeout, delay, sleep, clock
        )
    return BeanstalkResult(application, environment, version_label, f"s3://{bucket}/{key}", health)


def _create_version(eb: Any, application: str, label: str, bucket: str, key: str) -> None:
    try:
        eb.create_application_version(
            ApplicationName=application,
            VersionLabel=label,
            Description=f"breast-cancer-ml {label}",
            SourceBundle={"S3Bucket": bucket, "S3Key": key},
            Process=True,
        )
    except Exception as exc:
        error = getattr(exc, "response", {}).get("Error", {})
        if "already exists" not in str(error.get("Message", "")):
            raise _aws_error(f"CreateApplicationVersion {application}/{label}", exc) from None
        # A re-run of the same release: the version is there already, deploy it.
        print(f"application version {label} exists already; deploying it", flush=True)


def _wait_version_processed(
    eb: Any, application: str, label: str, timeout: float, delay: float, sleep: Sleep, clock: Clock
) -> None:
    deadline = clock() + timeout
    while True:
        try:
            versions = eb.describe_application_versions(
                ApplicationName=application, VersionLabels=[label]
            )["ApplicationVersions"]
        except Exception as exc:
            raise _aws_error(f"DescribeApplicationVersions {application}/{label}", exc) from None
        if not versions:
            raise DeployError(f"application version {label} of {application} vanished")
        status = versions[0].get("Status", "PROCESSED")
        if status in ("PROCESSED", "UNPROCESSED"):
            return
        if status == "FAILED":
            raise DeployError(
                f"Beanstalk could not process version {label} (bad Dockerrun.aws.json or "
                ".ebextensions?); see the application's events"
            )
        if clock() >= deadline:
            raise DeployError(f"version {label} still {status} after {timeout:.0f}s")
        sleep(delay)


def wait_beanstalk_ready(
    eb: Any,
    application: str,
    environment: str,
    version_label: str,
    timeout: float,
    delay: float,
    sleep: Sleep = time.sleep,
    clock: Clock = time.monotonic,
) -> str:
    """Poll until ``environment`` is Ready on ``version_label``; return its health colour."""
    deadline = clock() + timeout
    last: dict[str, Any] = {}
    while True:
        try:
            envs = eb.describe_environments(
                ApplicationName=application, EnvironmentNames=[environment]
            )["Environments"]
        except Exception as exc:
            raise _aws_error(f"DescribeEnvironments {environment}", exc) from None
        envs = [e for e in envs if e.get("EnvironmentName") == environment]
        if not envs:
            raise DeployError(f"no Beanstalk environment {environment!r} in {application!r}")
        last = envs[0]
        status, health = last.get("Status"), last.get("Health")
        if status == "Ready":
            if str(last.get("VersionLabel")) != version_label:
                raise DeployError(
                    f"{environment} is Ready on version {last.get('VersionLabel')}, not "
                    f"{version_label}: the update failed or was rolled back; see its events"
                )
            if health == "Red":
                raise DeployError(
                    f"{environment} runs {version_label} but its health is Red: the instances "
                    "fail the /ready health check; see the environment's events and logs"
                )
            if health in ("Green", "Yellow"):
                return str(health)
        elif status in ("Terminating", "Terminated"):
            raise DeployError(f"{environment} is {status}")
        if clock() >= deadline:
            raise DeployError(
                f"{environment} not Ready and healthy on {version_label} within {timeout:.0f}s "
                f"(status {status}, health {health})"
            )
        sleep(delay)


# ---- after the rollout --------------------------------------------------------------------
def wait_http_ready(
    url: str,
    timeout: float = 300,
    delay: float = 5,
    sleep: Sleep = time.sleep,
    clock: Clock = time.monotonic,
) -> None:
    """GET ``url`` until it answers 200, at most ``timeout`` seconds."""
    if not url.startswith(("http://", "https://")):
        raise DeployError(f"--check-url {url!r} is not an http(s) URL (is SERVICE_URL set?)")
    deadline = clock() + timeout
    last = "no answer"
    while True:
        try:
            with urllib.request.urlopen(url, timeout=10) as response:
                if response.status == 200:
                    return
                last = f"HTTP {response.status}"
        except urllib.error.HTTPError as exc:
            last = f"HTTP {exc.code}"
        except OSError as exc:
            last = str(exc)
        if clock() >= deadline:
            raise DeployError(f"{url} did not answer 200 within {timeout:.0f}s (last: {last})")
        sleep(delay)


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """A redirect is an answer to report (HTTP -> HTTPS), not a hop to follow: urllib would
    turn the POST into a GET and the check would test the wrong thing."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


def check_api_key_enforced(predict_url: str) -> None:
    """POST ``predict_url`` without a key and require 401: proof that the live service, not
    only its task definition, refuses predictions without the API key."""
    if not predict_url.startswith(("http://", "https://")):
        raise DeployError(f"{predict_url!r} is not an http(s) URL (is SERVICE_URL set?)")
    request = urllib.request.Request(
        predict_url, data=b"{}", method="POST", headers={"Content-Type": "application/json"}
    )
    opener = urllib.request.build_opener(_NoRedirect)
    location = ""
    try:
        with opener.open(request, timeout=10) as response:
            status = response.status
    except urllib.error.HTTPError as exc:
        status = exc.code
        location = exc.headers.get("Location", "")
    except OSError as exc:
        raise DeployError(f"cannot check that {predict_url} requires the API key: {exc}") from None
    if status == 401:
        return
    if status in (301, 302, 307, 308):
        raise DeployError(
            f"{predict_url} redirects to {location or 'another URL'}: give the https:// URL "
            "(SERVICE_URL) so the check, and clients, never send the key in clear text"
        )
    raise DeployError(
        f"{predict_url} answered HTTP {status} to a request without an API key, expected 401: "
        f"the task definition injects {API_KEY_VARIABLE}, but the service does not enforce it"
    )
