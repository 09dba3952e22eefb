"""`deployment/candidate_models.py`, the stores the image's smoke test serves, on the host: a
break here would otherwise show only in `make image-test`."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from breast_cancer_ml.adapters.model_store import load_latest
from breast_cancer_ml.domain.models import CANDIDATES
from breast_cancer_ml.errors import UntrustedModelError

SCRIPT = Path(__file__).parents[2] / "deployment" / "candidate_models.py"
#: The first bundled case (malignant), as image_test.sh sends it.
MALIGNANT_CASE = [17.99, 10.38, 122.8, 1001.0, 0.1184, 0.2776, 0.3001, 0.1471, 0.2419, 0.07871,
                  1.095, 0.9053, 8.589, 153.4, 0.006399, 0.04904, 0.05373, 0.01587, 0.03003,
                  0.006193, 25.38, 17.33, 184.6, 2019.0, 0.1622, 0.6656, 0.7119, 0.2654,
                  0.4601, 0.1189]  # fmt: skip


def test_every_candidate_gets_a_store_that_loads_and_the_foreign_one_is_refused(
    tmp_path: Path,
) -> None:
    done = subprocess.run(
        [sys.executable, str(SCRIPT), str(tmp_path)], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == [*CANDIDATES, "foreign"]
    x = np.asarray([MALIGNANT_CASE])
    for name in CANDIDATES:
        model = load_latest(tmp_path / name)
        assert model.proba(x)[0] > model.threshold, name  # what the image test asserts
    with pytest.raises(UntrustedModelError):
        load_latest(tmp_path / "foreign")
