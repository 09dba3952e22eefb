"""One skops allowlist in every process: the same published file is accepted or refused alike
by the library (``load_latest``), a fresh ``bcml predict`` and a fresh ``bcml serve``.

skops itself trusts every public scikit-learn estimator; ours trusts only the types we build
(``model_store.TRUSTED_TYPES``), at any depth of the pipeline.
"""

from __future__ import annotations

import csv
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from breast_cancer_ml.adapters import model_store
from breast_cancer_ml.errors import UntrustedModelError
from breast_cancer_ml.settings import BUNDLED_DATA

from .conftest import TrainedModel, promote

pytestmark = pytest.mark.integration


def _foreign_model(root: Path, wdbc: Any, nested: bool) -> TrainedModel:
    """A Pipeline we could have built but for one scikit-learn estimator outside the
    allowlist: GaussianNB as the last step, or inside a CalibratedClassifierCV (the way our
    SVC candidates are wrapped), saved as the model directory training writes."""
    import skops.io as sio
    from sklearn.calibration import CalibratedClassifierCV
    from sklearn.naive_bayes import GaussianNB
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    estimator: Any = CalibratedClassifierCV(GaussianNB(), cv=3) if nested else GaussianNB()
    pipeline = Pipeline([("scaler", StandardScaler()), ("estimator", estimator)])
    pipeline.fit(wdbc.X, wdbc.y)
    folder = root / ("nested" if nested else "step")
    folder.mkdir(parents=True)
    sio.dump(pipeline, folder / model_store.SKOPS_FILE)
    (folder / "MLmodel").write_text("flavors: {}\n")
    # skops's own defaults load it: the refusal below is our allowlist, not skops'
    assert "sklearn.naive_bayes.GaussianNB" not in sio.get_untrusted_types(
        file=folder / model_store.SKOPS_FILE
    )
    return TrainedModel(folder, pipeline, 0.0)


def _bcml_predict(models: Path, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    source = tmp_path / "cases.csv"
    with BUNDLED_DATA.open() as f, source.open("w", newline="") as out:
        rows = list(csv.reader(f))[:6]
        csv.writer(out).writerows(rows)
    command = [sys.executable, "-m", "breast_cancer_ml", "predict", "--models-dir", str(models)]
    command += ["--input", str(source), "--output", str(tmp_path / "scored.csv")]
    return subprocess.run(
        command,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.mark.parametrize("nested", [False, True], ids=["as_a_step", "inside_a_calibrator"])
def test_an_estimator_outside_the_allowlist_is_refused_by_library_predict_and_serve(
    tmp_path: Path, wdbc: Any, start_server: Any, nested: bool
) -> None:
    models = tmp_path / "models"
    promote(models, _foreign_model(tmp_path / "src", wdbc, nested))

    with pytest.raises(UntrustedModelError, match=r"not trusted: \['sklearn\.naive_bayes\.") as err:
        model_store.load_latest(models)
    assert err.value.reason == "untrusted_type"

    batch = _bcml_predict(models, tmp_path)
    assert batch.returncode == 4, batch.stderr
    assert "sklearn.naive_bayes.GaussianNB" in batch.stderr
    assert "Traceback" not in batch.stderr
    assert not (tmp_path / "scored.csv").exists()

    server = start_server(models)
    ready = server.client.get("/ready")
    assert ready.status_code == 503
    assert ready.json()["reason"] == "untrusted_type"
    refusal = next(r for r in server.log_records() if r.get("event") == "model_refused")
    assert refusal["reason"] == "untrusted_type"


def test_a_model_we_build_is_accepted_by_library_predict_and_serve(
    tmp_path: Path, trained: Any, start_server: Any
) -> None:
    models = tmp_path / "models"
    promote(models, trained["a"])

    assert model_store.load_latest(models).pipeline.steps[-1][0] == "estimator"

    batch = _bcml_predict(models, tmp_path)
    assert batch.returncode == 0, batch.stderr
    assert len(list(csv.DictReader((tmp_path / "scored.csv").open()))) == 5

    server = start_server(models)
    server.wait_for(lambda: server.client.get("/ready").status_code == 200)
