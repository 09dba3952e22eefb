"""Mutation testing of the domain layer: run mutmut, then report (``make mutation``).

mutmut (configured in ``pyproject.toml``, ``[tool.mutmut]``) copies ``src/`` into ``mutants/``,
changes one operator, constant or argument of ``src/breast_cancer_ml/domain/`` at a time, and
runs the domain unit tests that reach the changed function. A mutant the tests fail on is
*killed*; one they pass on *survived*: the tests would not notice that change to the logic.

This script reads mutmut's public report (``mutmut results --all true``, ``mutmut show``) and
writes:

* ``build/mutation/summary.json``: ``killed``, ``survived``, ``no_tests``, ``timeout`` and
  ``score`` = killed / (killed + survived + no_tests), overall and per module;
* ``build/mutation/survivors.md``: the diff of every surviving mutant and every mutant no test
  reaches;
* the per-module table and the list of open mutants in ``docs/mutation.md`` (between its
  ``mutation-table`` and ``mutation-survivors`` markers).

It exits 1 when a module scores below the target (0.90) or a mutant is reached by no test.

Usage::

    python scripts/mutation.py                 # a fresh full run (removes mutants/ first)
    python scripts/mutation.py 'breast_cancer_ml.domain.champion*'  # some, reusing mutants/
    python scripts/mutation.py --report-only   # report the last run again
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
from collections import Counter
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "build" / "mutation"
DOC = ROOT / "docs" / "mutation.md"
TARGET = 0.90
SCORE = "killed / (killed + survived + no_tests)"
TOOL = f"mutmut {version('mutmut')}"
#: mutmut's status names, and the summary's keys for them.
KEYS = {
    "killed": "killed",
    "survived": "survived",
    "no tests": "no_tests",
    "timeout": "timeout",
    "suspicious": "suspicious",
    "skipped": "skipped",
    "caught by type check": "caught_by_type_check",
    "segfault": "segfault",
    "check was interrupted by user": "interrupted",
    "not checked": "not_checked",
}
#: ``breast_cancer_ml.domain.scoring.xǁScoredǁrecords__mutmut_7``: module, then the function.
NAME = re.compile(r"^(?P<module>[\w.]+?)\.x[_ǁ](?P<function>.+)__mutmut_\d+$")
LINE = re.compile(r"^\s+(?P<name>\S+): (?P<status>.+)$")


@dataclass(frozen=True)
class Mutant:
    name: str
    module: str
    function: str
    status: str


def mutmut(*args: str, capture: bool = True) -> str:
    """Run the mutmut CLI of this interpreter's environment."""
    command = [str(Path(sys.executable).with_name("mutmut")), *args]
    done = subprocess.run(command, cwd=ROOT, capture_output=capture, text=True, check=False)
    if done.returncode != 0:
        detail = (done.stderr or done.stdout or "")[-2000:] if capture else ""
        raise SystemExit(f"mutation: `mutmut {' '.join(args)}` failed ({done.returncode}){detail}")
    return done.stdout if capture else ""


def results() -> list[Mutant]:
    """Every mutant with its status, from ``mutmut results --all true``."""
    mutants = []
    for line in mutmut("results", "--all", "true").splitlines():
        found = LINE.match(line)
        if not found:
            continue
        name, status = found["name"], found["status"]
        parts = NAME.match(name)
        if parts is None:
            raise SystemExit(f"mutation: cannot read the mutant name {name!r}")
        if status not in KEYS:
            raise SystemExit(f"mutation: unknown mutmut status {status!r} of {name}")
        mutants.append(Mutant(name, parts["module"], parts["function"], status))
    if not mutants:
        raise SystemExit("mutation: mutmut reports no mutants; run it first (make mutation)")
    return mutants


@dataclass(frozen=True)
class Tally:
    """Mutants of one module (or all) by status, and the score."""

    counts: dict[str, int]

    @classmethod
    def of(cls, mutants: list[Mutant]) -> Tally:
        found = Counter(m.status for m in mutants)
        return cls({key: found.get(status, 0) for status, key in KEYS.items()})

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    @property
    def score(self) -> float | None:
        """killed / (killed + survived + no_tests); None when nothing was measured."""
        c = self.counts
        measured = c["killed"] + c["survived"] + c["no_tests"]
        return c["killed"] / measured if measured else None

    @property
    def below_target(self) -> bool:
        return self.score is not None and self.score < TARGET

    def as_dict(self) -> dict[str, int | float | None]:
        score = None if self.score is None else round(self.score, 4)
        return {**self.counts, "total": self.total, "score": score}


@dataclass(frozen=True)
class Report:
    overall: Tally
    modules: dict[str, Tally]

    @classmethod
    def of(cls, mutants: list[Mutant]) -> Report:
        names = sorted({m.module for m in mutants})
        modules = {n: Tally.of([m for m in mutants if m.module == n]) for n in names}
        return cls(Tally.of(mutants), modules)

    @property
    def below_target(self) -> list[str]:
        return [name for name, t in self.modules.items() if t.below_target]

    @property
    def meets_target(self) -> bool:
        c = self.overall.counts
        return not self.below_target and c["no_tests"] == 0 and c["not_checked"] == 0

    def as_dict(self) -> dict[str, object]:
        return {
            "tool": TOOL,
            "score_definition": SCORE,
            "target": TARGET,
            "overall": self.overall.as_dict(),
            "modules": {name: t.as_dict() for name, t in self.modules.items()},
            "below_target": self.below_target,
            "meets_target": self.meets_target,
        }


def open_mutants(mutants: list[Mutant]) -> dict[Mutant, str]:
    """The surviving mutants and those no test reaches, each with its diff (``mutmut show``)."""
    found = [m for m in mutants if m.status in ("survived", "no tests")]
    return {m: "\n".join(mutmut("show", m.name).splitlines()[1:]).strip() for m in found}


def survivors_report(diffs: dict[Mutant, str]) -> str:
    lines = [
        "# Surviving mutants",
        "",
        "Each diff is a change to the domain code that every domain unit test still passes "
        "(`survived`) or that no domain unit test reaches (`no tests`). "
        "Reproduce one with `.venv/bin/mutmut show NAME`.",
        "",
    ]
    if not diffs:
        lines.append("None: every mutant was killed.")
    for m, diff in diffs.items():
        lines += [f"## {m.name} ({m.status})", "", "```diff", diff, "```", ""]
    return "\n".join(lines) + "\n"


def survivors_list(diffs: dict[Mutant, str]) -> str:
    """One line per open mutant for the doc: where, and the changed line before and after."""
    if not diffs:
        return "None: every mutant was killed."
    lines = []
    for m, diff in diffs.items():
        changed = [
            line[1:].strip()
            for line in diff.splitlines()
            if line[:1] in "+-" and not line.startswith(("+++", "---"))
        ]
        change = " -> ".join(f"`{c}`" for c in changed[:2]) if changed else "(see survivors.md)"
        where = m.module.removeprefix("breast_cancer_ml.")
        lines.append(f"- {where} `{m.function.replace('ǁ', '.')}` ({m.status}): {change}")
    return "\n".join(lines)


def table(report: Report) -> str:
    def row(name: str, t: Tally) -> str:
        c = t.counts
        score = "n/a" if t.score is None else f"{t.score:.1%}"
        flag = " (below target)" if t.below_target else ""
        return (
            f"| {name} | {t.total} | {c['killed']} | {c['survived']} | {c['no_tests']} "
            f"| {c['timeout']} | {score}{flag} |"
        )

    lines = [
        f"Generated by `make mutation` ({TOOL}; score = {SCORE}; target {TARGET:.0%} per module "
        "and no mutant without a test).",
        "",
        "| module | mutants | killed | survived | no tests | timeout | score |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
        *(row(name.removeprefix("breast_cancer_ml."), t) for name, t in report.modules.items()),
        row("**all domain modules**", report.overall),
    ]
    if report.overall.counts["not_checked"]:
        n = report.overall.counts["not_checked"]
        lines += ["", f"{n} mutants were not checked (a partial run)."]
    return "\n".join(lines)


def replace_block(text: str, name: str, body: str) -> str:
    start, end = f"<!-- {name}:start -->", f"<!-- {name}:end -->"
    if start not in text or end not in text:
        raise SystemExit(f"mutation: {DOC} lacks the {start} ... {end} markers")
    head, rest = text.split(start, 1)
    _, tail = rest.split(end, 1)
    return f"{head}{start}\n{body}\n{end}{tail}"


def write_doc(report: Report, diffs: dict[Mutant, str]) -> None:
    text = DOC.read_text(encoding="utf-8")
    text = replace_block(text, "mutation-table", table(report))
    text = replace_block(text, "mutation-survivors", survivors_list(diffs))
    DOC.write_text(text, encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("mutants", nargs="*", help="mutant-name globs (default: a fresh full run)")
    parser.add_argument("--report-only", action="store_true", help="report the last run again")
    args = parser.parse_args(argv)
    if not args.report_only:
        if not args.mutants:
            shutil.rmtree(ROOT / "mutants", ignore_errors=True)  # no stale cached verdicts
        mutmut("run", *args.mutants, capture=False)
    mutants = results()
    report = Report.of(mutants)
    OUT.mkdir(parents=True, exist_ok=True)
    summary = json.dumps(report.as_dict(), indent=2) + "\n"
    (OUT / "summary.json").write_text(summary, encoding="utf-8")
    diffs = open_mutants(mutants)
    (OUT / "survivors.md").write_text(survivors_report(diffs), encoding="utf-8")
    write_doc(report, diffs)
    print(table(report))
    print(f"\nwrote {OUT / 'summary.json'}, {OUT / 'survivors.md'} and {DOC}")
    if not report.meets_target:
        below = ", ".join(report.below_target) or "none"
        print(f"mutation: target missed (modules below {TARGET:.0%}: {below}; see survivors.md)")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
