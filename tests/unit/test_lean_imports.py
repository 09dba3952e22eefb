"""The import shim (``lean_imports.py``), each case in a fresh interpreter, as ``bcml serve``
(or, for pandas, ``bcml predict``) runs it: real pipelines, real skops files, real model store."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import MinMaxScaler, StandardScaler

from breast_cancer_ml import lean_imports
from breast_cancer_ml.adapters import model_store
from breast_cancer_ml.adapters.dataset import load_dataset
from breast_cancer_ml.domain.contract import Envelope
from breast_cancer_ml.domain.models import CANDIDATES, build_pipeline
from breast_cancer_ml.domain.schema import FEATURES
from breast_cancer_ml.settings import BUNDLED_DATA


@pytest.fixture(scope="module")
def wdbc() -> Any:
    return load_dataset(BUNDLED_DATA)


def _publish(models_dir: Path, pipeline: Any, run_id: str) -> Path:
    import skops.io as sio

    model_dir = models_dir.parent / f"mlmodel-{run_id}"
    model_dir.mkdir(parents=True)
    sio.dump(pipeline, model_dir / "model.skops")
    meta = {
        "run_id": run_id,
        "feature_names": list(FEATURES),
        "threshold": 0.5,
        "envelope": Envelope.from_training(load_dataset(BUNDLED_DATA).X).as_dict(),
    }
    return model_store.publish(models_dir, run_id, model_dir, [], meta)


def _fresh(script: str) -> dict[str, Any]:
    """Run ``script`` in a fresh interpreter; return the JSON it prints last."""
    out = subprocess.run(
        [sys.executable, "-W", "ignore", "-c", textwrap.dedent(script)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    doc: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return doc


def _run(script: str) -> dict[str, Any]:
    """Run ``script`` after what serve() does first; return the JSON it prints last."""
    prelude = textwrap.dedent(
        """
        import json, sys
        from breast_cancer_ml.service.server import isolate_process
        from breast_cancer_ml import lean_imports
        isolate_process()
        assert lean_imports.install()
        """
    )
    return _fresh(prelude + textwrap.dedent(script))


@pytest.mark.parametrize("candidate", sorted(CANDIDATES))
def test_every_candidate_loads_and_scores_the_same_without_scipy_stats(
    tmp_path: Path, wdbc: Any, candidate: str
) -> None:
    pipeline = build_pipeline(candidate, 42).fit(wdbc.X, wdbc.y)
    folder = _publish(tmp_path / "models", pipeline, f"run-{candidate}")
    expected = pipeline.predict_proba(wdbc.X)[:, 1]
    np.save(tmp_path / "X.npy", wdbc.X)
    doc = _run(
        f"""
        import numpy as np
        from pathlib import Path
        from breast_cancer_ml.adapters.model_store import load_published
        from breast_cancer_ml.domain.scoring import score
        X = np.load({str(tmp_path / "X.npy")!r})
        model = load_published(Path({str(folder)!r}))
        fast = score(model.proba, X, model.threshold).probability  # what /predict uses
        generic = model.pipeline.predict_proba(X)[:, 1]  # scikit-learn's own path works too
        stats_loaded = lean_imports.deferred_loaded()
        others = [lean_imports.deferred_loaded(m) for m in lean_imports.DEFERRED_MODULES]
        from sklearn.isotonic import IsotonicRegression  # fit() calls scipy.stats.spearmanr
        iso = IsotonicRegression(increasing="auto").fit(X[:, 0], generic)
        print(json.dumps({{"fast": fast.tolist(), "generic": generic.tolist(),
                          "stats_loaded_before": stats_loaded, "others": others,
                          "increasing": bool(iso.increasing_),
                          "stats_loaded_after": lean_imports.deferred_loaded()}}))
        """
    )
    np.testing.assert_allclose(doc["fast"], expected, rtol=0, atol=1e-12)
    np.testing.assert_allclose(doc["generic"], expected, rtol=0, atol=1e-12)
    assert doc["stats_loaded_before"] is False  # the saving is real
    assert doc["others"] == [False] * len(lean_imports.DEFERRED_MODULES)
    assert doc["stats_loaded_after"] is True  # a call-time use imported it, and was served
    from sklearn.isotonic import IsotonicRegression

    iso = IsotonicRegression(increasing="auto").fit(wdbc.X[:, 0], expected)
    assert doc["increasing"] is bool(iso.increasing_)


def test_deferred_names_and_any_other_use_are_served_by_the_real_scipy_stats() -> None:
    doc = _run(
        """
        import sklearn.linear_model  # the serving path: takes the call-time names as proxies
        from scipy.stats import chi2, gmean, rankdata, spearmanr
        proxies = [type(f).__name__ for f in (chi2, gmean, rankdata, spearmanr)]
        assert not lean_imports.deferred_loaded()
        values = [rankdata([3.0, 1.0, 2.0]).tolist(), float(gmean([1.0, 4.0])),
                  float(spearmanr([1, 2, 3], [1, 3, 2]).statistic), float(chi2.isf(0.5, 2))]
        import scipy.stats, scipy.stats.mstats
        from scipy.stats.mstats import mquantiles  # a submodule: one module object, the real one
        real = sys.modules["scipy.stats"]
        import numpy as np
        np.testing.assert_allclose([1.0], [1.0])  # the stand-in serves numpy.testing for real
        numpy_testing = type(sys.modules["numpy.testing"]).__name__
        from numpy.f2py import crackfortran  # a submodule of a deferred package
        from sklearn.metrics import auc  # scipy.integrate.trapezoid, through its proxy
        from sklearn.preprocessing import SplineTransformer  # scipy.interpolate.BSpline
        area = float(auc([0.0, 1.0, 2.0], [0.0, 1.0, 1.0]))
        splines = SplineTransformer(n_knots=4).fit_transform(np.arange(12.0).reshape(6, 2))
        f2py_ok = crackfortran is sys.modules["numpy.f2py"].crackfortran
        print(json.dumps({"proxies": proxies, "values": values,
                          "real_is_module": type(real).__name__,
                          "same_mstats": real.mstats is sys.modules["scipy.stats.mstats"],
                          "norm": float(scipy.stats.norm.cdf(0.0)),
                          "mq": mquantiles([1.0, 2.0, 3.0], [0.5]).tolist(),
                          "numpy_testing": numpy_testing, "f2py": f2py_ok,
                          "auc": area, "splines": splines.tolist()}))
        """
    )
    assert doc["proxies"] == ["CallTimeProxy"] * 4
    import scipy.stats

    assert doc["values"] == [
        scipy.stats.rankdata([3.0, 1.0, 2.0]).tolist(),
        pytest.approx(2.0),
        pytest.approx(float(scipy.stats.spearmanr([1, 2, 3], [1, 3, 2]).statistic)),
        pytest.approx(float(scipy.stats.chi2.isf(0.5, 2))),
    ]
    assert doc["real_is_module"] == "module"
    assert doc["same_mstats"] is True
    assert doc["norm"] == 0.5
    assert doc["mq"] == [2.0]
    assert doc["numpy_testing"] == "module"
    assert doc["f2py"] is True
    assert doc["auc"] == 1.5
    from sklearn.preprocessing import SplineTransformer

    expected = SplineTransformer(n_knots=4).fit_transform(np.arange(12.0).reshape(6, 2))
    np.testing.assert_allclose(doc["splines"], expected, rtol=0, atol=1e-12)


def test_a_submodule_import_first_loads_the_real_package_once() -> None:
    doc = _run(
        """
        import sklearn.utils.fixes  # holds the stand-in (import scipy.stats)
        import scipy.stats._stats_py as stats_py  # a submodule before anything else
        import scipy.stats
        print(json.dumps({"loaded": lean_imports.deferred_loaded(),
                          "same": scipy.stats._stats_py is stats_py,
                          "mode": sklearn.utils.fixes._mode([1, 1, 2])[0].tolist()}))
        """
    )
    assert doc == {"loaded": True, "same": True, "mode": [1]}


def test_skops_trusts_no_other_sklearn_estimator_by_default_in_the_server(
    tmp_path: Path, wdbc: Any
) -> None:
    """Narrowing skops's scan makes loading stricter: a foreign scikit-learn type is refused
    by the allowlist check (``get_untrusted_types``), before skops builds anything."""
    foreign = Pipeline([("scaler", MinMaxScaler()), ("estimator", LogisticRegression())])
    folder = _publish(tmp_path / "models", foreign.fit(wdbc.X, wdbc.y), "run-foreign")
    doc = _run(
        f"""
        from pathlib import Path
        from breast_cancer_ml.adapters.model_store import load_published, TRUSTED_TYPES
        from breast_cancer_ml.errors import ModelIntegrityError
        from skops.io._trusted_types import SKLEARN_ESTIMATOR_TYPE_NAMES, SCIPY_UFUNC_TYPE_NAMES
        try:
            load_published(Path({str(folder)!r}))
            error = None
        except ModelIntegrityError as exc:
            error = str(exc)
        print(json.dumps({{"error": error, "scan": sorted(SKLEARN_ESTIMATOR_TYPE_NAMES),
                          "ufuncs": SCIPY_UFUNC_TYPE_NAMES,
                          "trusted": sorted(TRUSTED_TYPES)}}))
        """
    )
    assert doc["scan"] == doc["trusted"]
    from skops.io._trusted_types import SCIPY_UFUNC_TYPE_NAMES

    assert doc["ufuncs"] == SCIPY_UFUNC_TYPE_NAMES  # scipy.special imported early: same names
    assert doc["error"] is not None
    assert "not trusted" in doc["error"]
    assert "sklearn.preprocessing._data.MinMaxScaler" in doc["error"]
    # and outside the server (full skops defaults) the structure check refuses it as well
    with pytest.raises(model_store.ModelIntegrityError, match="MinMaxScaler"):
        model_store.load_published(folder)
    assert StandardScaler.__name__ in str(sorted(model_store.TRUSTED_TYPES))


def test_install_does_nothing_once_scikit_learn_is_imported() -> None:
    assert "sklearn" in sys.modules  # this test process
    assert lean_imports.install() is False
    assert not any(isinstance(f, lean_imports._Finder) for f in sys.meta_path)


def test_deferred_pandas_is_the_real_pandas_on_first_use() -> None:
    doc = _fresh(
        """
        import json, sys
        from breast_cancer_ml import lean_imports
        assert lean_imports.install(defer_pandas=True)
        import sklearn.utils.fixes as fixes  # does `import pandas as pd`
        before = lean_imports.deferred_loaded("pandas")
        frame = fixes.pd.DataFrame({"a": [1.5, 2.5]})
        import pandas
        print(json.dumps({"before": before, "after": lean_imports.deferred_loaded("pandas"),
                          "sum": float(frame["a"].sum()), "same": pandas.DataFrame is
                          fixes.pd.DataFrame, "version": pandas.__version__}))
        """
    )
    import pandas

    assert doc == {
        "before": False,
        "after": True,
        "sum": 4.0,
        "same": True,
        "version": pandas.__version__,
    }
