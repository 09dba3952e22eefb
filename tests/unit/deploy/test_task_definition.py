"""The new task definition revision: the same definition, the new image, nothing read-only."""

from __future__ import annotations

from typing import Any

import pytest

from breast_cancer_ml.deploy.aws import DeployError, api_key_source, next_task_definition

NEW = "registry/breast-cancer-ml:v2"


def described(*containers: dict[str, Any]) -> dict[str, Any]:
    """A DescribeTaskDefinition answer, read-only fields included."""
    return {
        "taskDefinitionArn": "arn:aws:ecs:eu-west-1:1:task-definition/bcml:7",
        "revision": 7,
        "status": "ACTIVE",
        "registeredAt": "2026-01-01T00:00:00Z",
        "registeredBy": "arn:aws:iam::1:role/x",
        "requiresAttributes": [{"name": "ecs.capability.execution-role-awslogs"}],
        "compatibilities": ["EC2", "FARGATE"],
        "family": "bcml",
        "cpu": "512",
        "memory": "1024",
        "networkMode": "awsvpc",
        "requiresCompatibilities": ["FARGATE"],
        "executionRoleArn": "arn:aws:iam::1:role/exec",
        "volumes": [],
        "containerDefinitions": list(containers),
    }


def test_single_container_gets_the_image_and_read_only_fields_are_dropped() -> None:
    current = described({"name": "api", "image": "old", "essential": True, "cpu": 0})
    spec = next_task_definition(current, NEW, None)
    assert spec["containerDefinitions"] == [
        {"name": "api", "image": NEW, "essential": True, "cpu": 0}
    ]
    assert set(spec) == {
        "family",
        "cpu",
        "memory",
        "networkMode",
        "requiresCompatibilities",
        "executionRoleArn",
        "containerDefinitions",
    }
    assert current["containerDefinitions"][0]["image"] == "old"  # input left alone


def test_the_one_essential_container_is_chosen_among_several() -> None:
    current = described(
        {"name": "api", "image": "old", "essential": True},
        {"name": "xray", "image": "xray:1", "essential": False},
    )
    images = {
        c["name"]: c["image"]
        for c in next_task_definition(current, NEW, None)["containerDefinitions"]
    }
    assert images == {"api": NEW, "xray": "xray:1"}


def test_ambiguous_or_unknown_container_is_a_clear_error() -> None:
    current = described({"name": "a", "image": "x"}, {"name": "b", "image": "y"})
    with pytest.raises(DeployError, match=r"containers \['a', 'b'\]; choose one with --container"):
        next_task_definition(current, NEW, None)
    with pytest.raises(DeployError, match="no container 'c'"):
        next_task_definition(current, NEW, "c")
    spec = next_task_definition(current, NEW, "b")
    assert [c["image"] for c in spec["containerDefinitions"]] == ["x", NEW]


SECRET = "arn:aws:secretsmanager:eu-west-1:1:secret:bcml/api-key-AbC123"


def test_the_new_revision_keeps_the_secrets_that_inject_the_api_key() -> None:
    secrets = [{"name": "BCML_API_KEY", "valueFrom": SECRET}]
    current = described({"name": "api", "image": "old", "secrets": secrets})
    container = next_task_definition(current, NEW, None)["containerDefinitions"][0]
    assert container["secrets"] == secrets
    assert api_key_source(container) == f"secret:{SECRET}"


def test_api_key_source_names_a_plain_variable_and_a_missing_key() -> None:
    plain = {"name": "api", "environment": [{"name": "BCML_API_KEY", "value": "k" * 32}]}
    assert api_key_source(plain) == "environment"
    other = {"name": "api", "secrets": [{"name": "OTHER", "valueFrom": SECRET}]}
    assert api_key_source(other) == "none"
    assert api_key_source({"name": "api"}) == "none"
