"""The GitHub workflows keep their security and reliability rules (schema and actionlint are
checked by ``make check-deploy``; these are the project's own rules on top)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

WORKFLOWS = Path(__file__).resolve().parents[3] / ".github" / "workflows"
PINNED = re.compile(r"^\s*(?:-\s+)?uses:\s+[\w.-]+/[\w./-]+@[0-9a-f]{40} # v\d+\.\d+\.\d+\s*$")


def load(name: str) -> dict[Any, Any]:
    return yaml.safe_load((WORKFLOWS / name).read_text())


@pytest.mark.parametrize("name", ["ci.yml", "cd.yml", "mutation.yml"])
def test_actions_pinned_by_commit_with_version_comment(name: str) -> None:
    uses = [ln for ln in (WORKFLOWS / name).read_text().splitlines() if "uses:" in ln]
    assert uses
    for line in uses:
        assert PINNED.match(line), f"{name}: not pinned to a full commit SHA: {line.strip()}"


@pytest.mark.parametrize("name", ["ci.yml", "cd.yml", "mutation.yml"])
def test_least_privilege_and_timeouts(name: str) -> None:
    workflow = load(name)
    assert workflow["permissions"] == {"contents": "read"}
    assert "concurrency" in workflow
    for job_name, job in workflow["jobs"].items():
        assert 0 < job["timeout-minutes"] <= 60, job_name
        perms = job.get("permissions", {})
        assert perms.get("id-token") in (None, "write")
        if perms.get("id-token") == "write":
            assert job.get("environment", {}).get("name") == "production", job_name
        assert set(perms.values()) <= {"read", "write"}


def test_ci_has_no_secrets_and_runs_the_checks() -> None:
    text = (WORKFLOWS / "ci.yml").read_text()
    assert "secrets." not in text
    for step in (
        "make install",
        "make lint",
        "make typecheck",
        "--cov-fail-under=",
        "--smoke",
        "check-run",
        "make check-deploy",
        "make image-test",
        "upload-artifact",
    ):
        assert step in text, step


def test_cd_gates_on_promotion_and_uses_oidc() -> None:
    workflow = load("cd.yml")
    text = (WORKFLOWS / "cd.yml").read_text()
    triggers = workflow[True]  # YAML 1.1 reads the key `on` as True
    assert triggers["push"]["tags"] == ["v*.*.*"]
    assert triggers["workflow_dispatch"]["inputs"]["target"]["options"] == ["ecs", "beanstalk"]
    assert "--require-promotion" in text
    assert "check-run build/release/run_summary.json --promoted" in text
    assert "role-to-assume:" in text
    assert "aws-access-key-id" not in text
    assert workflow["jobs"]["deploy"]["needs"] == "train"
    assert workflow["jobs"]["release"]["permissions"] == {"contents": "write"}
    assert workflow["concurrency"]["cancel-in-progress"] is False


def test_mutation_testing_runs_weekly_and_on_demand_and_keeps_its_report() -> None:
    workflow = load("mutation.yml")
    triggers = workflow[True]  # YAML 1.1 reads the key `on` as True
    assert set(triggers) == {"schedule", "workflow_dispatch"}  # never on every push
    assert len(triggers["schedule"]) == 1
    steps = workflow["jobs"]["mutation"]["steps"]
    assert any(s.get("run") == "make mutation" for s in steps)
    (upload,) = [s for s in steps if str(s.get("uses", "")).startswith("actions/upload-artifact")]
    assert upload["if"] == "${{ !cancelled() }}"  # the report survives a missed target
    assert "build/mutation/" in upload["with"]["path"]
    assert "secrets." not in (WORKFLOWS / "mutation.yml").read_text()
