"""What a server process does before it builds the app: forbid the training stack, pause GC.

Shared by :mod:`.server` (``bcml serve`` and the ``--factory`` entry point) and :mod:`.app`
(which resumes the collector once start-up is over), so neither imports the other for it.
The serving process must not load mlflow, pandas or matplotlib: the serving image does not
ship them, and they cost memory and start-up time. scikit-learn imports pandas whenever it is
installed (``sklearn.utils.fixes``: ``try: import pandas``), as it is in the dev environment,
so :func:`isolate_process` makes those imports fail in the server process exactly as they do
in the serving image, where scikit-learn then runs without pandas as designed.
"""

from __future__ import annotations

import gc
import importlib.abc
import logging
import sys
from collections.abc import Sequence
from types import ModuleType
from typing import Final

#: Top-level packages the service never loads: the training stack, and test tools that library
#: code imports when present (``sklearn.utils._testing`` tries pytest, and then probes BLAS).
FORBIDDEN: Final = ("mlflow", "pandas", "matplotlib", "pytest", "_pytest")


class _Forbidden(importlib.abc.MetaPathFinder):
    """A finder of our own, first on ``sys.meta_path`` (the import system's public hook):
    it refuses the forbidden packages and defers every other import to the usual finders."""

    def __init__(self, forbidden: tuple[str, ...] = FORBIDDEN) -> None:
        self.forbidden = forbidden

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> None:
        if fullname.partition(".")[0] in self.forbidden:
            raise ModuleNotFoundError(
                f"No module named {fullname!r} (not available to the prediction service)",
                name=fullname,
            )


#: What ``shap`` (Kernel SHAP explanations of a non-linear model, domain/explain.py) imports
#: of :data:`FORBIDDEN`.
EXPLAINER_IMPORTS: Final = ("pandas", "matplotlib")


def permit_explainer_imports() -> None:
    """Let this process import what ``shap`` needs, from now on.

    Called when a non-linear model is first asked for an explanation: shap imports pandas and
    matplotlib at its own import. A linear model is explained without shap, so a service
    serving the default champion never lifts the guard. Logged once, as it changes what the
    process holds in memory.
    """
    for finder in sys.meta_path:
        if isinstance(finder, _Forbidden) and set(EXPLAINER_IMPORTS) & set(finder.forbidden):
            finder.forbidden = tuple(m for m in finder.forbidden if m not in EXPLAINER_IMPORTS)
            logging.getLogger("breast_cancer_ml.service").info(
                "explaining a non-linear model: shap and its imports (%s) are loaded",
                ", ".join(EXPLAINER_IMPORTS),
                extra={"event": "explainer_imports"},
            )


def isolate_process(forbidden: Sequence[str] = FORBIDDEN) -> None:
    """Make ``import`` of the ``forbidden`` packages fail here, as in the serving image.

    Call it first thing in a server process, before scikit-learn is imported. ``bcml predict``
    on a published model (no MLflow needed) forbids only ``pandas`` and ``matplotlib``: it
    reads and writes with pyarrow, and scikit-learn then runs without pandas as designed.
    """
    loaded = sorted(m for m in forbidden if m in sys.modules)
    if loaded:
        raise RuntimeError(f"{loaded} already imported; isolate_process() must run first")
    if not any(isinstance(f, _Forbidden) for f in sys.meta_path):
        sys.meta_path.insert(0, _Forbidden(tuple(forbidden)))


_gc_paused = False


def pause_gc_for_startup() -> None:
    """Turn the cyclic garbage collector off until start-up is over (:func:`resume_gc`).

    Importing scikit-learn, scipy and skops allocates about a million objects that all stay
    alive; on the way the collector runs hundreds of collections over them that find nothing
    to free. Reference counting still frees everything acyclic meanwhile.
    """
    global _gc_paused
    if gc.isenabled():
        gc.disable()
        _gc_paused = True


def resume_gc() -> None:
    """Turn the collector back on if :func:`pause_gc_for_startup` turned it off."""
    global _gc_paused
    if _gc_paused:
        _gc_paused = False
        gc.enable()
