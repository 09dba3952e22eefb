"""The import-linter contracts in pyproject.toml catch what they promise to.

Each test copies the package, adds one forbidden import to the copy (a function-local one,
the kind that used to hide a cycle) and runs the real ``lint-imports`` on it with our
pyproject.toml: the contract must hold on the copy as it is and break on the modified one.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import breast_cancer_ml

REPO = Path(__file__).resolve().parents[2]
PACKAGE = Path(breast_cancer_ml.__file__).parent
LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"


def _copy(tmp_path: Path) -> Path:
    src = tmp_path / "src"
    shutil.copytree(PACKAGE, src / "breast_cancer_ml", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copyfile(REPO / "pyproject.toml", tmp_path / "pyproject.toml")
    return src


def _lint(tmp_path: Path, contract: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(tmp_path / "src")}
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache", "--no-logo", "--contract", contract],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def _add_local_import(module: Path, target: str) -> None:
    module.write_text(
        module.read_text()
        + f"\n\ndef _deliberate_violation() -> None:\n    import {target}  # noqa: F401\n"
    )


@pytest.mark.parametrize(
    ("contract", "module", "target"),
    [
        ("domain-pure", "domain/schema.py", "breast_cancer_ml.adapters.dataset"),
        ("layers", "domain/schema.py", "breast_cancer_ml.adapters.dataset"),
        ("adapters-below-entry-points", "adapters/reports.py", "breast_cancer_ml.pipelines.train"),
        ("adapters-below-entry-points", "adapters/reports.py", "breast_cancer_ml.cli"),
        ("service-no-pipelines", "service/log.py", "breast_cancer_ml.pipelines.score"),
    ],
)
def test_layer_contract_breaks_on_a_forbidden_import(
    tmp_path: Path, contract: str, module: str, target: str
) -> None:
    src = _copy(tmp_path)
    assert _lint(tmp_path, contract).returncode == 0
    _add_local_import(src / "breast_cancer_ml" / module, target)
    result = _lint(tmp_path, contract)
    assert result.returncode == 1, result.stdout
    assert "BROKEN" in result.stdout


def test_cycle_contract_breaks_on_a_cycle_hidden_in_a_function_local_import(
    tmp_path: Path,
) -> None:
    # domain/cross_validation.py imports domain/folds.py at module level; the way back is hidden
    # inside a function, as pipelines/champion.py -> pipelines/train.py used to be.
    src = _copy(tmp_path)
    before = _lint(tmp_path, "no-cycles")
    assert "No cycles are allowed in breast_cancer_ml.domain." not in before.stdout
    _add_local_import(
        src / "breast_cancer_ml/domain/folds.py", "breast_cancer_ml.domain.cross_validation"
    )
    after = _lint(tmp_path, "no-cycles")
    assert after.returncode == 1
    assert "No cycles are allowed in breast_cancer_ml.domain." in after.stdout
    assert "cross_validation" in after.stdout


def test_no_cycle_among_the_pipelines(tmp_path: Path) -> None:
    # train and champion both use domain/cross_validation.py instead of importing each other
    _copy(tmp_path)
    result = _lint(tmp_path, "no-cycles")
    assert "No cycles are allowed in breast_cancer_ml.pipelines." not in result.stdout
    assert "No cycles are allowed in breast_cancer_ml." + "\n" not in result.stdout
