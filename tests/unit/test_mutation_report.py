"""scripts/mutation.py: how mutmut's results become the score, the verdict and the doc tables."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "mutation.py"


@pytest.fixture(scope="module")
def report() -> ModuleType:
    spec = importlib.util.spec_from_file_location("mutation_report", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while it loads
    try:
        spec.loader.exec_module(module)
    finally:
        del sys.modules[spec.name]
    return module


def mutants(report: ModuleType, module: str, **statuses: int) -> list[Any]:
    """``n`` mutants of ``module`` per status, e.g. ``killed=9, survived=1``."""
    path = f"breast_cancer_ml.domain.{module}"
    out = []
    for status, n in statuses.items():
        for _ in range(n):
            name = f"{path}.x_f__mutmut_{len(out) + 1}"
            out.append(report.Mutant(name, path, "f", status))
    return out


@pytest.mark.parametrize(
    ("name", "module", "function"),
    [
        ("breast_cancer_ml.domain.decision.x_classify__mutmut_1", "decision", "classify"),
        ("breast_cancer_ml.domain.nested_cv.x__score__mutmut_12", "nested_cv", "_score"),
        ("breast_cancer_ml.domain.scoring.xǁScoredǁrecords__mutmut_7", "scoring", "Scoredǁrecords"),
    ],
)
def test_mutant_names_give_module_and_function(
    report: ModuleType, name: str, module: str, function: str
) -> None:
    found = report.NAME.match(name)
    assert found["module"] == f"breast_cancer_ml.domain.{module}"
    assert found["function"] == function


def test_the_score_is_killed_over_killed_survived_and_untested(report: ModuleType) -> None:
    tally = report.Tally.of(
        [
            *mutants(report, "a", killed=6, survived=1, timeout=5),
            *[report.Mutant("n", "m", "f", "no tests")],
        ]
    )
    assert tally.score == pytest.approx(6 / 8)  # timeouts count neither way
    assert tally.as_dict()["no_tests"] == 1
    assert tally.total == 13


def test_the_target_is_per_module_and_no_mutant_may_lack_a_test(report: ModuleType) -> None:
    ok = report.Report.of(
        [*mutants(report, "a", killed=9, survived=1), *mutants(report, "b", killed=10)]
    )
    assert ok.meets_target
    low = report.Report.of(
        [*mutants(report, "a", killed=8, survived=2), *mutants(report, "b", killed=100)]
    )
    assert low.overall.score > 0.9  # the overall score does not hide a weak module
    assert low.below_target == ["breast_cancer_ml.domain.a"]
    assert not low.meets_target
    untested = report.Report.of(mutants(report, "a", killed=99, **{"no tests": 1}))
    assert untested.below_target == []
    assert not untested.meets_target


def test_doc_blocks_are_replaced_between_their_markers(report: ModuleType) -> None:
    text = "intro\n<!-- t:start -->\nold\n<!-- t:end -->\noutro\n"
    assert report.replace_block(text, "t", "new") == (
        "intro\n<!-- t:start -->\nnew\n<!-- t:end -->\noutro\n"
    )
    with pytest.raises(SystemExit, match="lacks the"):
        report.replace_block("no markers", "t", "new")
