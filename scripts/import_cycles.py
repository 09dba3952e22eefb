"""Fail when any two modules of a package import each other, directly or through others.

``make imports`` runs it after ``lint-imports``. import-linter's ``acyclic_siblings`` contract
(pyproject.toml) forbids cycles between the children of every package; this check adds the
cycles it cannot see, those through a package's own ``__init__`` (``cli/__init__.py`` imports
``cli/train.py``, which imports a helper back from ``breast_cancer_ml.cli``). Every import
statement counts, function-local and ``TYPE_CHECKING`` ones included: a cycle hidden inside a
function is still a cycle.

    python scripts/import_cycles.py [package]      (default: breast_cancer_ml)
"""

from __future__ import annotations

import sys

import grimp


def import_cycles(package: str) -> list[tuple[str, ...]]:
    """One shortest cycle per set of modules that import each other, as ``(a, b, ..., a)``."""
    graph = grimp.build_graph(package, cache_dir=None)
    found: dict[frozenset[str], tuple[str, ...]] = {}
    for module in sorted(graph.modules):
        for imported in sorted(graph.find_modules_directly_imported_by(module)):
            back = graph.find_shortest_chain(importer=imported, imported=module)
            if back is not None:
                found.setdefault(frozenset(back), (module, *back))
    return list(found.values())


def main(argv: list[str]) -> int:
    package = argv[0] if argv else "breast_cancer_ml"
    cycles = import_cycles(package)
    for cycle in cycles:
        print("import cycle: " + " -> ".join(cycle))
    if cycles:
        print(
            f"{len(cycles)} import cycle(s) in {package}: move what both sides need one layer "
            "down (a function-local import only hides a cycle)."
        )
        return 1
    print(f"no import cycles among the modules of {package}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
