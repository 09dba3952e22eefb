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


_NO_VALUE = object()


def instantiate(template: dict[str, Any], **parameters: str) -> dict[str, Any]:
    """The template as CloudFormation would create it with ``parameters`` (defaults for the
    rest): conditions evaluated, ``!If`` chosen, parameter ``!Ref``s replaced, resources whose
    condition is false and ``AWS::NoValue`` dropped. ``!Ref`` to a resource stays as is."""
    values = {k: str(v.get("Default")) for k, v in template["Parameters"].items()}
    values.update(parameters)
    conditions: dict[str, bool] = {}

    def condition(name: str) -> bool:
        if name not in conditions:
            conditions[name] = test(template["Conditions"][name])
        return conditions[name]

    def test(expr: dict[str, Any]) -> bool:
        ((fn, args),) = expr.items()
        if fn == "Equals":
            return bool(resolve(args[0]) == resolve(args[1]))
        if fn == "Not":
            return not test(args[0])
        if fn == "And":
            return all(test(a) for a in args)
        if fn == "Or":
            return any(test(a) for a in args)
        assert fn == "Condition", expr
        return condition(args)

    def resolve(node: Any) -> Any:
        if isinstance(node, list):
            return [v for v in map(resolve, node) if v is not _NO_VALUE]
        if not isinstance(node, dict):
            return node
        if list(node) == ["If"]:
            name, then, otherwise = node["If"]
            return resolve(then if condition(name) else otherwise)
        if list(node) == ["Ref"]:
            if node["Ref"] == "AWS::NoValue":
                return _NO_VALUE
            return values.get(node["Ref"], node)
        resolved = {k: resolve(v) for k, v in node.items()}
        return {k: v for k, v in resolved.items() if v is not _NO_VALUE}

    resources = {
        name: resolve(body)
        for name, body in template["Resources"].items()
        if "Condition" not in body or condition(body["Condition"])
    }
    outputs = {
        name: resolve(body)
        for name, body in template["Outputs"].items()
        if "Condition" not in body or condition(body["Condition"])
    }
    return {"Resources": resources, "Outputs": outputs}


def ecs_stack(**parameters: str) -> dict[str, Any]:
    return instantiate(cfn("ecs-service.yaml"), ImageUri=IMAGE, **parameters)


def statements(role: dict[str, Any]) -> list[dict[str, Any]]:
    """Every statement of a role's inline policies."""
    return [
        s for p in role["Properties"].get("Policies", []) for s in p["PolicyDocument"]["Statement"]
    ]


def api_container(stack: dict[str, Any]) -> dict[str, Any]:
    task = stack["Resources"]["TaskDefinition"]["Properties"]
    return dict(task["ContainerDefinitions"][0])


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


# ---- the ECS stack's security defaults (issue #10) ------------------------------------------
SECRET_ARN = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:bcml/api-key-AbC123"
KMS_KEY_ARN = "arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
CERT_ARN = "arn:aws:acm:eu-west-1:123456789012:certificate/1234abcd-12ab-34cd-56ef-1234567890ab"


def test_by_default_the_task_gets_a_generated_secret_as_bcml_api_key() -> None:
    stack = ecs_stack()
    secret = stack["Resources"]["ApiKeySecret"]
    assert secret["Type"] == "AWS::SecretsManager::Secret"
    generated = secret["Properties"]["GenerateSecretString"]
    # bcml serve refuses a key shorter than 16 characters; no punctuation keeps it
    # copy-pasteable into a shell and an Authorization header
    assert generated["PasswordLength"] >= 16
    assert generated["ExcludePunctuation"] is True
    assert "SecretString" not in secret["Properties"]  # no key written into the template
    container = api_container(stack)
    assert container["Secrets"] == [{"Name": "BCML_API_KEY", "ValueFrom": {"Ref": "ApiKeySecret"}}]
    env_names = {e["Name"] for e in container.get("Environment", [])}
    assert "BCML_API_KEY" not in env_names  # never as a plain variable in the task definition
    assert stack["Outputs"]["ApiKeySecretArn"]["Value"] == {"Ref": "ApiKeySecret"}


def test_the_execution_role_reads_exactly_the_api_key_secret_and_the_task_role_nothing() -> None:
    stack = ecs_stack()
    resources = stack["Resources"]
    granted = statements(resources["ExecutionRole"])
    assert granted == [
        {
            "Effect": "Allow",
            "Action": "secretsmanager:GetSecretValue",
            "Resource": {"Ref": "ApiKeySecret"},
        }
    ]
    assert "Policies" not in resources["TaskRole"]["Properties"]
    assert "ManagedPolicyArns" not in resources["TaskRole"]["Properties"]


def test_an_existing_secret_is_injected_and_readable_and_none_is_generated() -> None:
    stack = ecs_stack(ApiKeySecretArn=SECRET_ARN)
    assert "ApiKeySecret" not in stack["Resources"]
    assert api_container(stack)["Secrets"] == [{"Name": "BCML_API_KEY", "ValueFrom": SECRET_ARN}]
    assert statements(stack["Resources"]["ExecutionRole"]) == [
        {"Effect": "Allow", "Action": "secretsmanager:GetSecretValue", "Resource": SECRET_ARN}
    ]
    assert stack["Outputs"]["ApiKeySecretArn"]["Value"] == SECRET_ARN


def test_a_secret_under_a_customer_key_can_be_decrypted_only_through_secrets_manager() -> None:
    stack = ecs_stack(ApiKeySecretArn=SECRET_ARN, ApiKeyKmsKeyArn=KMS_KEY_ARN)
    decrypt = [
        s for s in statements(stack["Resources"]["ExecutionRole"]) if s["Action"] == "kms:Decrypt"
    ]
    assert len(decrypt) == 1
    assert decrypt[0]["Resource"] == KMS_KEY_ARN
    via = decrypt[0]["Condition"]["StringEquals"]["kms:ViaService"]
    assert via == {"Sub": "secretsmanager.${AWS::Region}.amazonaws.com"}
    # without a customer key (the AWS managed one), no KMS right at all
    plain = statements(ecs_stack(ApiKeySecretArn=SECRET_ARN)["Resources"]["ExecutionRole"])
    assert not [s for s in plain if s["Action"] == "kms:Decrypt"]


def test_opting_out_of_the_api_key_is_explicit_and_leaves_no_secret_or_permission() -> None:
    parameter = cfn("ecs-service.yaml")["Parameters"]["RequireApiKey"]
    assert parameter["Default"] == "true"
    assert parameter["AllowedValues"] == ["true", "false"]
    assert "UNSAFE" in parameter["Description"]
    stack = ecs_stack(RequireApiKey="false")
    assert "ApiKeySecret" not in stack["Resources"]
    assert "Secrets" not in api_container(stack)
    assert "Policies" not in stack["Resources"]["ExecutionRole"]["Properties"]
    assert stack["Outputs"]["ApiKeySecretArn"]["Value"] == "none"
    # a secret ARN given together with the opt-out is not injected either
    stack = ecs_stack(RequireApiKey="false", ApiKeySecretArn=SECRET_ARN)
    assert "Secrets" not in api_container(stack)


@pytest.mark.parametrize(
    ("arn", "valid"),
    [
        (SECRET_ARN, True),
        ("", True),
        ("arn:aws:secretsmanager:eu-west-1:123456789012:secret:bcml/api-key", False),  # partial
        ("bcml/api-key", False),
        ("arn:aws:ssm:eu-west-1:123456789012:parameter/bcml-api-key", False),
    ],
)
def test_only_a_full_secret_arn_is_accepted_so_the_iam_grant_matches_it(
    arn: str, valid: bool
) -> None:
    pattern = cfn("ecs-service.yaml")["Parameters"]["ApiKeySecretArn"]["AllowedPattern"]
    assert (re.fullmatch(pattern, arn) is not None) is valid


def test_with_a_certificate_port_80_redirects_to_https_on_443() -> None:
    stack = ecs_stack(CertificateArn=CERT_ARN)
    resources = stack["Resources"]
    http = resources["HttpListener"]["Properties"]
    assert http["Port"] == 80
    assert http["DefaultActions"] == [
        {
            "Type": "redirect",
            "RedirectConfig": {"Protocol": "HTTPS", "Port": "443", "StatusCode": "HTTP_301"},
        }
    ]
    https = resources["HttpsListener"]["Properties"]
    assert (https["Port"], https["Protocol"]) == (443, "HTTPS")
    assert https["Certificates"] == [{"CertificateArn": CERT_ARN}]
    assert https["SslPolicy"].startswith("ELBSecurityPolicy-TLS13")
    assert https["DefaultActions"] == [
        {"Type": "forward", "TargetGroupArn": {"Ref": "TargetGroup"}}
    ]
    assert stack["Outputs"]["ServiceUrl"]["Value"]["Sub"].startswith("https://")


def test_without_a_certificate_port_80_forwards_in_clear_text_and_says_so() -> None:
    template = cfn("ecs-service.yaml")
    assert "clear text" in template["Parameters"]["CertificateArn"]["Description"]
    stack = ecs_stack()
    resources = stack["Resources"]
    assert "HttpsListener" not in resources
    assert resources["HttpListener"]["Properties"]["DefaultActions"] == [
        {"Type": "forward", "TargetGroupArn": {"Ref": "TargetGroup"}}
    ]
    assert stack["Outputs"]["ServiceUrl"]["Value"]["Sub"].startswith("http://")
