"""The import-linter contracts in pyproject.toml and scripts/import_cycles.py (both run by
``make imports``) catch what they promise to.

Each test copies the package, adds one forbidden import to the copy (a function-local one,
the kind that used to hide a cycle) and runs the real ``lint-imports`` (with our
pyproject.toml) or the cycle script on it: the check must pass on the copy as it is and fail
on the modified one.
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


def _cycles(tmp_path: Path, package: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(REPO / "scripts" / "import_cycles.py"), package],
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(tmp_path / "src")},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_cycle_check_passes_the_package_and_breaks_on_a_cycle_through_a_package_init(
    tmp_path: Path,
) -> None:
    # What acyclic_siblings cannot see: a package's __init__ and its own child, as a cli/
    # package whose command module imports a helper back from breast_cancer_ml.cli would be.
    pkg = tmp_path / "src" / "toy"
    (pkg / "cli").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "cli" / "__init__.py").write_text(
        "from toy.cli import train\n\n\ndef helper() -> int:\n    return 1\n"
    )
    (pkg / "cli" / "train.py").write_text("def run() -> int:\n    return 0\n")
    assert _cycles(tmp_path, "toy").returncode == 0

    _add_local_import(pkg / "cli" / "train.py", "toy.cli")
    result = _cycles(tmp_path, "toy")
    assert result.returncode == 1
    assert "import cycle: toy.cli -> toy.cli.train -> toy.cli" in result.stdout


def test_cycle_check_names_a_cycle_hidden_in_a_function_in_a_copy_of_the_package(
    tmp_path: Path,
) -> None:
    src = _copy(tmp_path)
    before = _cycles(tmp_path, "breast_cancer_ml").stdout
    assert "breast_cancer_ml.domain.folds" not in before
    _add_local_import(
        src / "breast_cancer_ml/domain/folds.py", "breast_cancer_ml.domain.cross_validation"
    )
    result = _cycles(tmp_path, "breast_cancer_ml")
    assert result.returncode == 1
    assert "breast_cancer_ml.domain.folds" in result.stdout
    assert "breast_cancer_ml.domain.cross_validation" in result.stdout
