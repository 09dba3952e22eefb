"""The team-mode deployment files: no credential is written in them, and compose and the AWS
template run the same server the same way (the tests in tests/integration/team run it)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from breast_cancer_ml.settings import ServeSettings

from .test_deployment_files import cfn

REPO = Path(__file__).resolve().parents[3]
TEAM = REPO / "deployment" / "team"
SECRET_NAME = re.compile(r"PASSWORD|SECRET|_KEY$")


def compose() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((TEAM / "compose.yaml").read_text())
    return data


def test_every_credential_in_the_compose_file_comes_from_the_environment() -> None:
    services = compose()["services"]
    seen = 0
    for service in services.values():
        for name, value in (service.get("environment") or {}).items():
            if SECRET_NAME.search(name):
                seen += 1
                # `${VAR:?message}`: compose stops, naming VAR, when it is not set
                assert re.fullmatch(r"\$\{[A-Z_]+:\?[^}]+\}", str(value)), (name, value)
    assert seen >= 6


def test_the_compose_stack_runs_postgres_s3_mlflow_with_auth_and_bcml_on_the_champion() -> None:
    services = compose()["services"]
    assert {"postgres", "minio", "mlflow", "bcml"} <= set(services)
    entrypoint = (TEAM / "mlflow-entrypoint.sh").read_text()
    assert '--backend-store-uri "postgresql+psycopg2://' in entrypoint
    assert "--serve-artifacts --app-name basic-auth" in entrypoint
    assert "s3://mlflow/artifacts" in services["mlflow"]["command"]
    bcml = services["bcml"]["environment"]
    settings = {f"BCML_{name.upper()}" for name in ServeSettings.model_fields}
    assert {k for k in bcml if k.startswith("BCML_")} <= settings
    ServeSettings(model_uri=bcml["BCML_MODEL_URI"])  # a value the service accepts
    assert bcml["BCML_MODEL_URI"] == "models:/breast-cancer-classifier@champion"
    assert bcml["MLFLOW_TRACKING_URI"] == "http://mlflow:5000"


def test_the_aws_template_injects_every_credential_from_secrets_manager() -> None:
    template = cfn("team-mlflow.yaml")
    (container,) = template["Resources"]["TaskDefinition"]["Properties"]["ContainerDefinitions"]
    plain = {e["Name"] for e in container["Environment"]}
    injected = {s["Name"] for s in container["Secrets"]}
    assert not {n for n in plain if SECRET_NAME.search(n)}
    assert injected == {
        "PGPASSWORD",
        "MLFLOW_AUTH_ADMIN_PASSWORD",
        "MLFLOW_FLASK_SERVER_SECRET_KEY",
    }
    database = template["Resources"]["Database"]["Properties"]
    assert database["ManageMasterUserPassword"] is True
    assert database["PubliclyAccessible"] is False
    assert database["StorageEncrypted"] is True
    # the same major PostgreSQL version as the compose file
    major = compose()["services"]["postgres"]["image"].split(":")[1].split("-")[0]
    assert database["EngineVersion"].split(".")[0] == major
