"""The deployment files agree with each other and with what the service does.

Port 8000, the /ready health check and the non-root user appear in the Dockerfile, the
Beanstalk bundle, the ECS template and the workflows; these tests fail when one drifts.
"""

from __future__ import annotations

import json
import re
import zipfile
from pathlib import Path
from typing import Any

import pytest
import yaml

from breast_cancer_ml.deploy import aws

REPO = Path(__file__).resolve().parents[3]
DEPLOYMENT = REPO / "deployment"
IMAGE = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/breast-cancer-ml:v1.2.3"


class CfnLoader(yaml.SafeLoader):
    """YAML loader that keeps CloudFormation's short-form tags (!Ref, !Sub, ...) as data."""


def _tag(loader: CfnLoader, suffix: str, node: yaml.Node) -> Any:
    if isinstance(node, yaml.ScalarNode):
        value: Any = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)  # type: ignore[arg-type]
    return {suffix: value}


CfnLoader.add_multi_constructor("!", _tag)


def cfn(name: str) -> dict[str, Any]:
    return yaml.load((DEPLOYMENT / "aws" / name).read_text(), Loader=CfnLoader)


def test_dockerrun_is_a_single_container_v1_file_on_port_8000() -> None:
    spec = json.loads((DEPLOYMENT / "Dockerrun.aws.json").read_text())
    assert set(spec) <= {"AWSEBDockerrunVersion", "Image", "Ports", "Logging", "Volumes"}
    assert spec["AWSEBDockerrunVersion"] == "1"
    assert set(spec["Image"]) == {"Name", "Update"}
    assert spec["Image"]["Update"] in ("true", "false")
    assert re.fullmatch(r"[^:]+\.dkr\.ecr\.[^:]+/breast-cancer-ml:\w+", spec["Image"]["Name"])
    assert spec["Ports"] == [{"ContainerPort": "8000", "HostPort": "8000"}]


def test_beanstalk_health_check_is_ready() -> None:
    config = yaml.safe_load((DEPLOYMENT / ".ebextensions" / "01-health.config").read_text())
    options = config["option_settings"]
    process = options["aws:elasticbeanstalk:environment:process:default"]
    assert process["HealthCheckPath"] == "/ready"
    assert process["MatcherHTTPCode"] == "200"
    assert options["aws:elasticbeanstalk:application"]["Application Healthcheck URL"] == "/ready"
    assert options["aws:elasticbeanstalk:command"]["DeploymentPolicy"] == "Immutable"


def test_bundle_holds_the_image_and_the_ebextensions(tmp_path: Path) -> None:
    out = aws.build_beanstalk_bundle(DEPLOYMENT / "Dockerrun.aws.json", IMAGE, tmp_path / "b.zip")
    with zipfile.ZipFile(out) as zf:
        assert sorted(zf.namelist()) == [".ebextensions/01-health.config", "Dockerrun.aws.json"]
        spec = json.loads(zf.read("Dockerrun.aws.json"))
    assert spec["Image"]["Name"] == IMAGE
    assert spec["Ports"][0]["ContainerPort"] == "8000"


def test_bundle_refuses_a_multicontainer_file(tmp_path: Path) -> None:
    v2 = tmp_path / "Dockerrun.aws.json"
    v2.write_text(json.dumps({"AWSEBDockerrunVersion": 2, "containerDefinitions": []}))
    with pytest.raises(aws.DeployError, match="single-container"):
        aws.build_beanstalk_bundle(v2, IMAGE, tmp_path / "b.zip")


def test_ecs_template_checks_ready_and_scales_on_cpu_and_requests() -> None:
    resources = cfn("ecs-service.yaml")["Resources"]
    tg = resources["TargetGroup"]["Properties"]
    assert tg["HealthCheckPath"] == "/ready"
    assert tg["TargetType"] == "ip"
    metrics = {
        r["Properties"]["TargetTrackingScalingPolicyConfiguration"][
            "PredefinedMetricSpecification"
        ]["PredefinedMetricType"]
        for r in resources.values()
        if r["Type"] == "AWS::ApplicationAutoScaling::ScalingPolicy"
    }
    assert metrics == {"ECSServiceAverageCPUUtilization", "ALBRequestCountPerTarget"}
    container = resources["TaskDefinition"]["Properties"]["ContainerDefinitions"][0]
    assert container["User"] != "0"
    assert not container["User"].startswith("root")
    assert container["LogConfiguration"]["LogDriver"] == "awslogs"
    assert resources["LogGroup"]["Type"] == "AWS::Logs::LogGroup"
    breaker = resources["Service"]["Properties"]["DeploymentConfiguration"]
    assert breaker["DeploymentCircuitBreaker"] == {"Enable": True, "Rollback": True}


def test_oidc_role_is_scoped() -> None:
    template = cfn("github-oidc.yaml")
    resources = template["Resources"]
    trust = resources["DeployRole"]["Properties"]["AssumeRolePolicyDocument"]["Statement"][0]
    cond = trust["Condition"]["StringEquals"]
    assert cond["token.actions.githubusercontent.com:aud"] == "sts.amazonaws.com"
    assert "environment:" in str(cond["token.actions.githubusercontent.com:sub"])
    statements = [
        s
        for r in resources.values()
        if r["Type"] in ("AWS::IAM::Role", "AWS::IAM::RolePolicy")
        for doc in (
            [p["PolicyDocument"] for p in r["Properties"].get("Policies", [])]
            + ([r["Properties"]["PolicyDocument"]] if "PolicyDocument" in r["Properties"] else [])
        )
        for s in doc["Statement"]
    ]
    for s in statements:
        actions = s["Action"] if isinstance(s["Action"], list) else [s["Action"]]
        assert not any(a.endswith(":*") or a == "*" for a in actions), s
    passrole = next(s for s in statements if s["Action"] == "iam:PassRole")
    assert passrole["Condition"]["StringEquals"]["iam:PassedToService"] == "ecs-tasks.amazonaws.com"
    assert passrole["Resource"] != "*"
    push = next(s for s in statements if "ecr:PutImage" in s["Action"])
    assert push["Resource"] != "*"


def test_dockerfile_follows_the_rules() -> None:
    text = (DEPLOYMENT / "Dockerfile").read_text()
    lines = [ln.strip() for ln in text.splitlines() if ln.strip() and not ln.startswith("#")]
    assert not any("<<" in ln for ln in lines)  # buildah 1.28: no RUN heredocs
    assert not any(ln.startswith("COPY") and "--link" in ln for ln in lines)
    assert [ln for ln in lines if ln.startswith("FROM")][-1] == "FROM ${PYTHON_IMAGE}"
    assert "ARG PYTHON_IMAGE=python:3.11-slim" in lines
    assert "EXPOSE 8000" in lines
    user = [ln for ln in lines if ln.startswith("USER")][-1]
    assert user.split()[1].split(":")[0] not in ("0", "root")
    assert re.search(r"HEALTHCHECK .*\n?.*/health", text)
    assert lines[-1] == 'CMD ["bcml", "serve", "--host", "0.0.0.0"]'


def test_lambda_image_adds_only_the_runtime_client_to_the_serving_image() -> None:
    text = (DEPLOYMENT / "Dockerfile.lambda").read_text()
    lines = [ln.strip() for ln in text.splitlines() if ln.strip() and not ln.startswith("#")]
    assert not any("<<" in ln for ln in lines)
    assert [ln for ln in lines if ln.startswith("FROM")][-1] == "FROM ${SERVING_IMAGE}"
    assert lines[-2] == 'ENTRYPOINT ["python", "-m", "awslambdaric"]'
    assert lines[-1] == 'CMD ["breast_cancer_ml.service.lambda_handler.handler"]'
    pins = (REPO / "requirements" / "lambda.txt").read_text().split()
    assert {p.split("==")[0] for p in pins if "==" in p} >= {"awslambdaric", "mangum"}
