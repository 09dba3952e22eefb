"""What the image, the ECS task and the CD workflow assume about ``bcml serve`` is true.

The container files were written before the service; these tests fail when a flag, an
environment variable, the models folder or a ``/model/info`` key they use does not exist.
"""

from __future__ import annotations

import importlib
import re
from pathlib import Path
from typing import Any

import yaml

from breast_cancer_ml.cli import build_parser
from breast_cancer_ml.service.schemas import ModelInfo
from breast_cancer_ml.settings import ServeSettings

REPO = Path(__file__).resolve().parents[3]
DEPLOYMENT = REPO / "deployment"
SERVE_ENV = {f"BCML_{name.upper()}" for name in ServeSettings.model_fields}


class CfnLoader(yaml.SafeLoader):
    """Keeps CloudFormation's short forms as data: ``!Ref X`` -> ``{"Ref": "X"}``."""


def _tag(loader: CfnLoader, suffix: str, node: yaml.Node) -> Any:
    if isinstance(node, yaml.ScalarNode):
        return {suffix: loader.construct_scalar(node)}
    if isinstance(node, yaml.SequenceNode):
        return {suffix: loader.construct_sequence(node, deep=True)}
    return {suffix: loader.construct_mapping(node, deep=True)}  # type: ignore[arg-type]


CfnLoader.add_multi_constructor("!", _tag)


def _json_cmd(line: str) -> list[str]:
    return list(yaml.safe_load(line.split(None, 1)[1]))


def test_every_bcml_variable_the_images_and_the_task_use_is_a_serve_setting() -> None:
    texts = [
        (DEPLOYMENT / "Dockerfile").read_text(),
        (DEPLOYMENT / "Dockerfile.lambda").read_text(),
        (DEPLOYMENT / "aws" / "ecs-service.yaml").read_text(),
        (REPO / "docs" / "deployment.md").read_text(),
    ]
    used = {name for text in texts for name in re.findall(r"\bBCML_[A-Z_]+\b", text)}
    assert used, "expected BCML_* variables (BCML_MODELS_DIR, BCML_PORT)"
    assert used <= SERVE_ENV, f"not serve settings: {sorted(used - SERVE_ENV)}"


def test_the_image_serves_the_models_folder_it_copies_the_model_into() -> None:
    text = (DEPLOYMENT / "Dockerfile").read_text()
    env = dict(re.findall(r"\b(BCML_[A-Z_]+)=(\S+)", text))
    copy = re.search(r"^COPY .*\$\{MODEL_DIR\}/ (\S+)$", text, re.MULTILINE)
    assert copy is not None
    assert env["BCML_MODELS_DIR"].rstrip("/") == copy.group(1).rstrip("/") == "/app/models"
    # the HEALTHCHECK asks the port the service binds (BCML_PORT, else the default 8000)
    assert "os.environ.get('BCML_PORT', '8000')" in text
    assert ServeSettings.model_fields["port"].default == 8000


def test_the_image_cmd_and_the_ecs_command_are_valid_serve_invocations() -> None:
    cmd_line = next(
        ln for ln in (DEPLOYMENT / "Dockerfile").read_text().splitlines() if ln.startswith("CMD")
    )
    cmd = _json_cmd(cmd_line)
    assert cmd[0] == "bcml"
    args = build_parser().parse_args(cmd[1:])
    assert (args.command, args.host) == ("serve", "0.0.0.0")

    template = yaml.load((DEPLOYMENT / "aws" / "ecs-service.yaml").read_text(), CfnLoader)
    task: dict[str, Any] = template["Resources"]["TaskDefinition"]["Properties"]
    command = task["ContainerDefinitions"][0]["Command"]
    sample = {"ContainerPort": "8000", "Workers": "2"}
    argv = [c if isinstance(c, str) else sample[c["Ref"]] for c in command]
    assert argv[0] == "bcml"
    args = build_parser().parse_args(argv[1:])
    assert (args.command, args.host, args.port, args.workers) == ("serve", "0.0.0.0", 8000, 2)


def test_cd_reads_the_run_id_key_the_service_reports() -> None:
    cd = (REPO / ".github" / "workflows" / "cd.yml").read_text()
    keys = re.findall(r"jq -r '\.(\w+)", cd[cd.index("/model/info") :])
    assert keys and keys[0] == "run_id"
    assert "run_id" in ModelInfo.model_fields


def test_the_lambda_image_calls_the_handler_that_exists() -> None:
    lines = (DEPLOYMENT / "Dockerfile.lambda").read_text().splitlines()
    target = _json_cmd(next(ln for ln in lines if ln.startswith("CMD")))[0]
    module_name, _, attr = target.rpartition(".")
    module = importlib.import_module(module_name)
    # ``handler`` is built on first access (tests/integration/service/test_lambda_handler.py
    # resolves and invokes it); here: the module the image names exists and builds handlers.
    assert attr == "handler" and callable(module.make_handler)
