"""Start-up imports the serving process can skip: a narrow, checked shim (cold start).

The service needs scikit-learn only to load a skops file of the types in
:data:`~breast_cancer_ml.adapters.model_store.TRUSTED_TYPES` and score it. Importing skops and
those classes does large things that play no part in that, measured in the server
process with the collector paused (median CPU of paired runs):

1. **``scipy.stats`` (~0.16 s).** scikit-learn imports it eagerly (``sklearn.utils.fixes``:
   ``import scipy.stats``), and a handful of modules on our path take functions from it
   (``from scipy.stats import rankdata`` ...), all of which they call only while fitting or
   evaluating. :func:`install` puts a stand-in module in its place: a name from
   :data:`CALL_TIME_NAMES` is given out as a small proxy that imports the real ``scipy.stats``
   on first use and forwards to the real object; *any other* access (another name, a submodule,
   ``dir()``) imports the real module at once and is served by it. So nothing can get a wrong
   answer: at worst the import happens later than start-up. The integration tests check that a
   real server process has not loaded ``scipy.stats`` after answering predictions.
2. **skops's scans (~0.06 s for scikit-learn, ~180 modules; ~0.05 s for ``sys.modules``).**
   When ``skops.io`` is first imported, ``skops.io._trusted_types`` calls
   ``sklearn.utils.all_estimators()``, which imports every scikit-learn module to list the
   estimator classes that skops then trusts by default.
   While that module runs, :func:`install` has ``all_estimators`` return only the classes of
   ``TRUSTED_TYPES``. skops then trusts by default only our own allowlist among scikit-learn
   estimators, so a file holding any other scikit-learn estimator is reported by
   ``get_untrusted_types`` and refused by ``load_skops``: stricter than before, never looser.
   :func:`install` also imports ``scipy.special`` early, which shortens another scan skops does
   at import (-0.05 s; see there).
3. **numpy's ``f2py`` and ``testing`` (~0.04 s)**, which scipy imports only while copying the
   ``numpy`` namespace, are deferred the same way, with no proxies: any use imports them. So
   are ``scipy.interpolate`` and ``scipy.integrate`` (~0.03 s), with one call-time name each
   (:data:`DEFERRED_MODULES`).

Three commands install this in their own process, before scikit-learn is imported:
``bcml serve`` (``server.serve`` / ``server.app_factory``), ``bcml predict`` on the local engine
and ``bcml train`` (which never touches ``scipy.stats``: -0.35 s). ``bcml compare``, the Spark
engine, library use and the tests get the libraries unchanged.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import importlib.util
import sys
import threading
from collections.abc import Callable, Sequence
from types import ModuleType
from typing import Any, Final

#: Names modules on the serving path take from ``scipy.stats`` at import time and use only
#: when called (fitting, metrics), with the module that takes each (scikit-learn 1.9).
CALL_TIME_NAMES: Final = frozenset(
    {
        "chi2",  # sklearn.covariance._robust_covariance (MinCovDet.fit)
        "gmean",  # sklearn._loss.link (MultinomialLogit.symmetrize_raw_prediction)
        "rankdata",  # sklearn.metrics._ranking (roc_auc_score ...)
        "spearmanr",  # sklearn.isotonic (IsotonicRegression.fit with increasing="auto")
    }
)
DEFERRED: Final = "scipy.stats"
#: Every module deferred, with the names handed out as call-time proxies. numpy's ``f2py`` (a
#: Fortran wrapper generator) and ``testing`` are imported only because scipy's vendored
#: array-api-compat clones the ``numpy`` namespace (``hasattr(numpy, name)`` for every name in
#: ``dir(numpy)``, which imports numpy's lazy submodules); nothing on the serving path uses them.
DEFERRED_MODULES: Final = {
    DEFERRED: CALL_TIME_NAMES,
    "numpy.f2py": frozenset(),
    "numpy.testing": frozenset(),
    # sklearn.preprocessing._polynomial (SplineTransformer.fit/transform) and
    # sklearn.metrics._ranking (auc): -0.03 s together
    "scipy.interpolate": frozenset({"BSpline"}),
    "scipy.integrate": frozenset({"trapezoid"}),
}
_SCAN_MODULE: Final = "skops.io._trusted_types"
#: Deferred on request only (``bcml predict``): scikit-learn imports pandas whenever it is
#: installed (``sklearn.utils.fixes``: ``import pandas as pd``, ~0.2 s and ~35 MB), but scores
#: arrays without it; the serving image has no pandas at all. pyarrow imports it lazily too,
#: from the few calls that convert Python or numpy values, which the batch path avoids.
PANDAS: Final = "pandas"


def _load_real(name: str) -> ModuleType:
    """Import ``name`` for real, bypassing the stand-in, and put it where the stand-in was."""
    parent_name, _, child = name.rpartition(".")
    parent = sys.modules[parent_name] if parent_name else None
    search = parent.__path__ if parent is not None else None  # None: sys.path (top level)
    spec = importlib.machinery.PathFinder.find_spec(name, search)
    if spec is None or spec.loader is None:  # pragma: no cover - scipy always has it
        raise ModuleNotFoundError(f"No module named {name!r}", name=name)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[name]
        raise
    if parent is not None:
        setattr(parent, child, module)
    return module


class DeferredModule(ModuleType):
    """Stands in for a package until something needs it; then forwards to the real one."""

    def __init__(self, name: str, path: list[str], call_time_names: frozenset[str]) -> None:
        super().__init__(name, f"Deferred stand-in for {name} (breast_cancer_ml lean imports)")
        # a package's search path, so that `from scipy.stats import x` asks for the attribute
        # (importlib checks hasattr(module, "__path__")); submodule imports are served by
        # _Finder, which imports the real package first
        self.__path__ = path
        self._names = call_time_names
        self._lock = threading.RLock()
        self._real: ModuleType | None = None

    def real(self) -> ModuleType:
        """The real module, imported on first call."""
        with self._lock:
            if self._real is None:
                if sys.modules.get(self.__name__) is self:
                    self._real = _load_real(self.__name__)
                else:  # pragma: no cover - imported elsewhere since
                    self._real = importlib.import_module(self.__name__)
            return self._real

    @property
    def loaded(self) -> bool:
        return self._real is not None

    def __getattr__(self, name: str) -> Any:
        if self._real is None and name in self._names:
            return CallTimeProxy(self, name)
        return getattr(self.real(), name)  # anything else: the real module serves it

    def __dir__(self) -> list[str]:
        return dir(self.real())


class CallTimeProxy:
    """What ``from scipy.stats import rankdata`` gets: calls and attributes go to the real one."""

    __slots__ = ("_module", "_name")

    def __init__(self, module: DeferredModule, name: str) -> None:
        self._module = module
        self._name = name

    def target(self) -> Any:
        return getattr(self._module.real(), self._name)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.target()(*args, **kwargs)

    def __getattr__(self, attr: str) -> Any:
        return getattr(self.target(), attr)

    def __repr__(self) -> str:
        return f"<deferred {self._module.__name__}.{self._name}>"


class _StandInLoader(importlib.abc.Loader):
    def __init__(self, path: list[str], names: frozenset[str]) -> None:
        self.path = path
        self.names = names

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType:
        return DeferredModule(spec.name, self.path, self.names)

    def exec_module(self, module: ModuleType) -> None:
        return None


class _ExistingLoader(importlib.abc.Loader):
    """Hands out a module the real package's import has just imported (no second copy)."""

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType:
        return sys.modules[spec.name]

    def exec_module(self, module: ModuleType) -> None:
        return None


class _ScanLoader(importlib.abc.Loader):
    """Runs ``skops.io._trusted_types`` with ``all_estimators`` listing only our types."""

    def __init__(self, real: importlib.abc.Loader, estimators: Callable[[], list[Any]]) -> None:
        self.real = real
        self.estimators = estimators

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType | None:
        return self.real.create_module(spec)

    def exec_module(self, module: ModuleType) -> None:
        import sklearn.utils

        original = sklearn.utils.all_estimators
        sklearn.utils.all_estimators = self.estimators
        try:
            self.real.exec_module(module)
        finally:
            sklearn.utils.all_estimators = original


def trusted_estimators() -> list[tuple[str, type]]:
    """``(name, class)`` of each scikit-learn type in ``TRUSTED_TYPES``, like ``all_estimators``."""
    from breast_cancer_ml.adapters.model_store import TRUSTED_TYPES

    out = []
    for qualified in sorted(TRUSTED_TYPES):
        module_name, _, name = qualified.rpartition(".")
        if module_name.split(".")[0] == "sklearn":
            out.append((name, getattr(importlib.import_module(module_name), name)))
    return out


class _Finder(importlib.abc.MetaPathFinder):
    def __init__(self, modules: dict[str, frozenset[str]]) -> None:
        self.modules = modules

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname in self.modules:
            real = importlib.machinery.PathFinder.find_spec(fullname, path)
            if real is None or real.submodule_search_locations is None:
                return None  # pragma: no cover - let the normal import fail or succeed
            names = self.modules[fullname]
            loader = _StandInLoader(list(real.submodule_search_locations), names)
            return importlib.machinery.ModuleSpec(fullname, loader, is_package=True)
        package = fullname.rpartition(".")[0]
        while package:  # a submodule of a deferred package: the real package first
            if package in self.modules:
                stand_in = sys.modules.get(package)
                if isinstance(stand_in, DeferredModule) and not stand_in.loaded:
                    stand_in.real()
                    if fullname in sys.modules:
                        return importlib.machinery.ModuleSpec(fullname, _ExistingLoader())
                return None
            package = package.rpartition(".")[0]
        if fullname == _SCAN_MODULE:
            spec = importlib.machinery.PathFinder.find_spec(fullname, path)
            if spec is not None and spec.loader is not None:
                spec.loader = _ScanLoader(spec.loader, trusted_estimators)
            return spec
        return None


def install(*, preload: bool = True, defer_pandas: bool = False) -> bool:
    """Install the shim in this process; True if installed (or already), False if too late.

    It must run before scikit-learn, skops or ``scipy.stats`` is imported; in a process that
    imported one of them already (an embedding server, a notebook) it does nothing.
    ``preload=False`` leaves the early ``scipy.special`` import (see below) to the caller, who
    should do it before importing skops (``bcml predict`` starts parsing its input first).
    ``defer_pandas=True`` also defers ``pandas`` (:data:`PANDAS`), with no call-time names.
    """
    if any(isinstance(f, _Finder) for f in sys.meta_path):
        return True
    if any(m in sys.modules for m in (*DEFERRED_MODULES, _SCAN_MODULE, "sklearn")):
        return False
    modules = dict(DEFERRED_MODULES)
    if defer_pandas and PANDAS not in sys.modules:
        modules[PANDAS] = frozenset()
    sys.meta_path.insert(0, _Finder(modules))
    # When skops.io is imported it finds the module of each of scipy.special's ~230 ufuncs by
    # a linear scan over sys.modules, in import order. scipy.special is needed anyway;
    # imported now, it comes ~200 modules earlier in that order (before uvicorn, asyncio...),
    # so each scan stops sooner: -0.05 s CPU (0.15 -> 0.10 s for `import skops.io`), and the
    # same names (tests/unit/test_lean_imports.py).
    if preload:
        importlib.import_module("scipy.special")
    return True


def deferred_loaded(name: str = DEFERRED) -> bool:
    """Whether the real module ``name`` (default ``scipy.stats``) is imported in this process."""
    module = sys.modules.get(name)
    if isinstance(module, DeferredModule):
        return module.loaded
    return module is not None
