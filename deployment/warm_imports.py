"""Build-time warm-up of the serving image's venv (the Dockerfile's builder stage runs it).

The venv is installed with ``--no-compile`` and the service user cannot write to it, so without
this step every start would compile the service's imports in memory. Importing what ``bcml
serve`` imports, and round-tripping every candidate estimator through skops the way the model
store loads a promoted model, writes byte-code for exactly the modules the service uses and
nothing else. It also fails the build when the venv cannot load and score a model.
"""

from __future__ import annotations

import importlib
import importlib.util
import tempfile
from pathlib import Path

import numpy as np

MODULES = [
    "breast_cancer_ml.cli",
    "breast_cancer_ml.settings",
    "breast_cancer_ml.adapters.model_store",
    "breast_cancer_ml.domain.scoring",
    "fastapi",
    "uvicorn",
    "uvicorn.loops.uvloop",
    "uvicorn.protocols.http.httptools_impl",
]
OPTIONAL = ["breast_cancer_ml.service.app", "breast_cancer_ml.service.lambda_handler"]


def main() -> None:
    import skops.io as sio

    from breast_cancer_ml.adapters.model_store import load_skops
    from breast_cancer_ml.domain.models import CANDIDATES, build_pipeline
    from breast_cancer_ml.domain.schema import N_FEATURES
    from breast_cancer_ml.domain.scoring import proba_function

    for name in MODULES:
        importlib.import_module(name)
    for name in OPTIONAL:
        parent = name.rsplit(".", 1)[0]
        if importlib.util.find_spec(parent) and importlib.util.find_spec(name):
            importlib.import_module(name)

    rng = np.random.default_rng(0)
    X = rng.random((60, N_FEATURES))
    y = np.arange(60) % 2
    with tempfile.TemporaryDirectory() as tmp:
        for name in CANDIDATES:
            path = Path(tmp) / f"{name}.skops"
            sio.dump(build_pipeline(name, 0).fit(X, y), path)
            pipeline = load_skops(path, frozenset(sio.get_untrusted_types(file=path)))
            proba = proba_function(pipeline)(X[:2])
            assert proba.shape == (2,), f"{name}: unexpected probability shape {proba.shape}"
    print(f"warmed {len(MODULES)} modules and {len(CANDIDATES)} candidate model(s)")


if __name__ == "__main__":
    main()
