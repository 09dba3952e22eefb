"""The CLI's process-level policy: the cyclic collector is paused while ``train`` and
``predict`` run, and given back to an in-process caller afterwards."""

from __future__ import annotations

import gc
from pathlib import Path

import pytest

from breast_cancer_ml import cli
from breast_cancer_ml.cli import compare, predict


@pytest.fixture
def seen(monkeypatch: pytest.MonkeyPatch) -> list[bool]:
    """Replace the predict and compare handlers by probes recording ``gc.isenabled()``."""
    states: list[bool] = []

    def probe(args: object) -> int:
        states.append(gc.isenabled())
        return 0

    monkeypatch.setattr(predict, "handle", probe)
    monkeypatch.setattr(compare, "handle", probe)
    return states


def test_predict_runs_without_the_cyclic_collector_and_gives_it_back(
    seen: list[bool], tmp_path: Path
) -> None:
    assert gc.isenabled()
    code = cli.main(["predict", "--input", str(tmp_path / "a.csv"), "--output", "b.csv"])
    assert code == 0
    assert seen == [False]
    assert gc.isenabled()


def test_the_console_script_leaves_it_paused_until_exit(seen: list[bool], tmp_path: Path) -> None:
    try:
        cli.main(
            ["predict", "--input", str(tmp_path / "a.csv"), "--output", "b.csv"],
            restore_gc=False,
        )
        assert seen == [False]
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_long_running_commands_keep_the_collector(seen: list[bool]) -> None:
    assert cli.main(["compare"]) == 0
    assert seen == [True]
    assert gc.isenabled()
