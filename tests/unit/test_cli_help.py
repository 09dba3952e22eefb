"""Every subcommand's --help renders as text a person can read (no argparse internals)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

BCML = str(Path(sys.executable).with_name("bcml"))


def _help(*args: str) -> str:
    proc = subprocess.run(
        [BCML, *args, "--help"], capture_output=True, text=True, timeout=60, check=True
    )
    return proc.stdout


def _subcommands() -> list[str]:
    """The COMMAND list of ``bcml --help`` (indented ``name  help`` lines)."""
    return re.findall(r"^ {4}([a-z]+)\b", _help(), flags=re.MULTILINE)


def test_the_command_list_is_found() -> None:
    assert {"train", "compare", "rollback", "ui", "serve", "predict", "deploy"} <= set(
        _subcommands()
    )


@pytest.mark.parametrize("command", _subcommands())
def test_subcommand_help_has_no_argparse_internals(command: str) -> None:
    text = _help(command)
    assert "option_strings" not in text
    assert "%(" not in text
    assert text.startswith(f"usage: bcml {command}")


def test_train_help_shows_percent_signs_and_lists_the_models() -> None:
    text = " ".join(_help("train").split())  # argparse wraps lines
    assert "stratified 20% sample" in text
    assert "one of logreg, decision_tree, random_forest, svm_rbf, svm_log, hist_gb, knn" in text
    assert "-v, --verbose" in text


def test_rollback_help_names_list_and_move_alias() -> None:
    text = _help("rollback")
    assert "--list" in text and "--move-alias" in text
