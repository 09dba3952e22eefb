"""The image's venv pruning: record the files a process uses, delete the others.

The Dockerfile proves the whole thing on the real venv (it serves every candidate again after
pruning); these tests pin the rules: what a recording contains, and what pruning keeps.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
import textwrap
from pathlib import Path
from types import ModuleType

import pytest

DEPLOYMENT = Path(__file__).resolve().parents[3] / "deployment"


def _load(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, DEPLOYMENT / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


prune_venv = _load("prune_venv")


def test_a_recording_holds_opened_files_imported_modules_and_mapped_libraries(
    tmp_path: Path,
) -> None:
    record = tmp_path / "record"
    record.mkdir()
    data = tmp_path / "table.txt"
    data.write_text("x")
    script = textwrap.dedent(
        f"""
        import os, runpy
        ns = runpy.run_path({str(DEPLOYMENT / "record_files.py")!r})
        import colorsys, _decimal
        open({str(data)!r}).read()
        os.kill(os.getpid(), ns["SIGNAL"])
        """
    )
    env = {"BCML_RECORD_DIR": str(record), "PATH": "/usr/bin:/bin"}
    proc = subprocess.run([sys.executable, "-c", script], env=env, timeout=60, check=False)
    assert proc.returncode == 0
    (listing,) = record.glob("*.txt")
    used = set(listing.read_text().split())
    import _decimal
    import colorsys

    assert str(data.resolve()) in used
    assert str(Path(colorsys.__file__).resolve()) in used
    assert str(Path(_decimal.__file__).resolve()) in used  # an extension module: mapped
    assert any("libc.so" in u or "libc-" in u for u in used)  # a shared library it pulls in


def test_record_files_does_nothing_without_the_variable(tmp_path: Path) -> None:
    script = (
        f"import runpy, signal, sys; ns = runpy.run_path({str(DEPLOYMENT / 'record_files.py')!r}); "
        "sys.exit(signal.getsignal(ns['SIGNAL']) is not signal.SIG_DFL)"
    )
    proc = subprocess.run(
        [sys.executable, "-c", script],
        env={"PATH": "/usr/bin:/bin"},
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0


def _tree(root: Path, files: list[str]) -> None:
    for name in files:
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(name)


def test_prune_keeps_used_files_and_the_byte_code_of_used_sources(tmp_path: Path) -> None:
    pkg = tmp_path / "site" / "pkg"
    _tree(
        pkg,
        [
            "__init__.py",
            "used.py",
            "unused.py",
            "_ext.cpython-311-x86_64-linux-gnu.so",
            "stub.pyi",
            "data/table.csv",
            "sub/__init__.py",
            "sub/tests/test_x.py",
            "__pycache__/__init__.cpython-311.pyc",
            "__pycache__/used.cpython-311.pyc",
            "__pycache__/unused.cpython-311.pyc",
        ],
    )
    record = tmp_path / "record"
    _tree(record, ["1.txt", "2.txt"])
    (record / "1.txt").write_text(f"{pkg}/__init__.py\n{pkg}/used.py\n/usr/lib/libc.so.6\n")
    (record / "2.txt").write_text(f"{pkg}/_ext.cpython-311-x86_64-linux-gnu.so\n")

    keep_list = tmp_path / "kept.txt"
    prune_venv.main(["--used", str(record), "--keep-list", str(keep_list), str(pkg)])

    left = sorted(p.relative_to(pkg).as_posix() for p in pkg.rglob("*") if p.is_file())
    assert left == [
        "__init__.py",
        "__pycache__/__init__.cpython-311.pyc",
        "__pycache__/used.cpython-311.pyc",
        "_ext.cpython-311-x86_64-linux-gnu.so",
        "used.py",
    ]
    assert not (pkg / "sub").exists() and not (pkg / "data").exists()
    assert "pkg/used.py" in keep_list.read_text().split()


def test_prune_refuses_a_package_nothing_was_used_of(tmp_path: Path) -> None:
    pkg = tmp_path / "pkg"
    _tree(pkg, ["__init__.py"])
    record = tmp_path / "record"
    _tree(record, ["1.txt"])
    (record / "1.txt").write_text("/elsewhere/x.py\n")
    with pytest.raises(SystemExit, match="nothing under"):
        prune_venv.main(["--used", str(record), str(pkg)])
    assert (pkg / "__init__.py").exists()


def test_prune_refuses_without_recordings(tmp_path: Path) -> None:
    (tmp_path / "record").mkdir()
    with pytest.raises(SystemExit, match="no file lists"):
        prune_venv.main(["--used", str(tmp_path / "record"), str(tmp_path)])
