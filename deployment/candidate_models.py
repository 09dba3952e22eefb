"""Model stores for the image's smoke test: one per candidate of the estimator registry.

    .venv/bin/python deployment/candidate_models.py OUT_DIR

Fits every candidate of ``domain.models.CANDIDATES`` on the bundled data and publishes each
into a model store of its own, ``OUT_DIR/<name>/latest``, with the real model store and the
metadata ``bcml train`` records; ``image_test.sh`` mounts each store into the serving image and
predicts. ``OUT_DIR/foreign`` holds a pipeline with one scikit-learn estimator outside the
allowlist (GaussianNB), which the image must refuse (``/ready`` 503, ``untrusted_type``).
Prints the store names, one a line. Runs on the host, in any venv with the package's core
dependencies (no pandas or mlflow needed: CD's deploy venv will do).
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path
from typing import Any

FOREIGN = "foreign"


def _bundled_data() -> tuple[Any, Any]:
    """The bundled WDBC rows as arrays, read with the standard library (no pandas)."""
    import csv

    import numpy as np

    from breast_cancer_ml.domain.schema import FEATURES, LABEL_COLUMN, LABEL_ENCODING
    from breast_cancer_ml.settings import BUNDLED_DATA

    with BUNDLED_DATA.open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    X = np.array([[float(row[f]) for f in FEATURES] for row in rows])
    y = np.array([LABEL_ENCODING[row[LABEL_COLUMN]] for row in rows])
    return X, y


def _publish(out: Path, name: str, pipeline: Any, model_type: str, X: Any) -> None:
    import skops.io as sio

    from breast_cancer_ml.adapters.model_store import SKOPS_FILE, publish
    from breast_cancer_ml.domain.contract import Envelope
    from breast_cancer_ml.domain.schema import FEATURES

    run_id = f"image-{name}"
    with tempfile.TemporaryDirectory() as tmp:
        model_dir = Path(tmp)
        sio.dump(pipeline, model_dir / SKOPS_FILE)
        (model_dir / "MLmodel").write_text("flavors: {}\n")
        metadata = {
            "run_id": run_id,
            "model_type": model_type,
            "feature_names": list(FEATURES),
            "threshold": 0.5,
            "envelope": Envelope.from_training(X).as_dict(),
        }
        publish(out / name, run_id, model_dir, [], metadata)


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print(__doc__, file=sys.stderr)
        return 2
    from sklearn.naive_bayes import GaussianNB
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    from breast_cancer_ml.domain.models import CANDIDATES, build_pipeline

    out = Path(argv[0])
    X, y = _bundled_data()
    for name, candidate in CANDIDATES.items():
        pipeline = build_pipeline(name, 0).fit(X, y)
        _publish(out, name, pipeline, candidate.model_type, X)
        print(name)
    foreign = Pipeline([("scaler", StandardScaler()), ("estimator", GaussianNB())])
    _publish(out, FOREIGN, foreign.fit(X, y), "GaussianNB", X)
    print(FOREIGN)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
