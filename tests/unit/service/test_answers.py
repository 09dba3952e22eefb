"""Property tests of the prediction handlers with a real fitted model: whatever valid case
comes in, the answer is finite, and a case outside the envelope is flagged and never 'high'."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from breast_cancer_ml.adapters.dataset import load_dataset
from breast_cancer_ml.domain.contract import HARD_MAX, Envelope
from breast_cancer_ml.domain.models import build_pipeline
from breast_cancer_ml.domain.schema import FEATURES
from breast_cancer_ml.domain.scoring import proba_function
from breast_cancer_ml.service.endpoints import handle_batch, handle_predict, new_state
from breast_cancer_ml.service.inputs import InputError
from breast_cancer_ml.settings import BUNDLED_DATA, ServeSettings


class _Served:
    """A fitted pipeline with what the handlers read of a PublishedModel."""

    run_id = "run-1"
    threshold = 0.5
    registry_version = "4"
    conformal = None  # published without a refer rule

    def __init__(self, model: Any, envelope: Envelope | None) -> None:
        self.proba = proba_function(model)
        self.envelope = envelope


@pytest.fixture(scope="module")
def served() -> _Served:
    data = load_dataset(BUNDLED_DATA)
    pipeline = build_pipeline("logreg", 42).fit(data.X, data.y)
    return _Served(pipeline, Envelope.from_training(data.X[:400]))  # some real cases fall out


@pytest.fixture(scope="module")
def state(tmp_path_factory: pytest.TempPathFactory) -> Any:
    return new_state(ServeSettings(models_dir=Path(tmp_path_factory.mktemp("m"))))


WDBC = load_dataset(BUNDLED_DATA).X
#: Any valid case: each value a share of its feature's hard bound (mostly out of the envelope).
any_valid = st.lists(st.floats(min_value=0, max_value=1), min_size=30, max_size=30).map(
    lambda shares: [s * float(b) for s, b in zip(shares, HARD_MAX, strict=True)]
)
#: Real cases (inside an envelope learned from all of them; some outside the fixture's).
real = st.integers(0, len(WDBC) - 1).map(lambda i: WDBC[i].tolist())
values = any_valid | real


@given(row=values)
@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
def test_every_valid_case_gets_a_finite_answer_flagged_when_out_of_range(
    served: _Served, state: Any, row: list[float]
) -> None:
    answer = handle_predict(state, served, b"application/json", orjson.dumps({"features": row}))
    doc = json.loads(answer.body)
    assert math.isfinite(doc["probability"]) and 0 <= doc["probability"] <= 1
    X = np.array([row])
    outside = served.envelope is not None and not served.envelope.in_distribution(X)[0]
    assert doc["in_distribution"] is (not outside)
    assert answer.outside == int(outside)
    if outside:
        assert doc["warnings"]
        assert doc["confidence"] != "high"
        assert {w["feature"] for w in doc["warnings"]} <= set(FEATURES)
    else:
        assert doc["warnings"] == []
    assert doc["registry_version"] == "4"


@given(rows=st.lists(values, min_size=1, max_size=5))
@settings(
    max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
def test_a_batch_flags_exactly_the_rows_outside_the_envelope(
    served: _Served, state: Any, rows: list[list[float]]
) -> None:
    answer = handle_batch(state, served, b"application/json", orjson.dumps({"instances": rows}))
    doc = json.loads(answer.body)
    assert served.envelope is not None
    inside = served.envelope.in_distribution(np.array(rows)).tolist()
    assert [p["in_distribution"] for p in doc["predictions"]] == inside
    assert doc["out_of_distribution"] == answer.outside == inside.count(False)
    assert all(math.isfinite(p["probability"]) for p in doc["predictions"])


@given(share=st.floats(min_value=1.001, max_value=1e300), j=st.integers(0, 29))
@settings(
    max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
def test_a_case_beyond_a_hard_bound_is_never_scored(
    served: _Served, state: Any, share: float, j: int
) -> None:
    row = [float(b) / 2 for b in HARD_MAX]
    row[j] = float(HARD_MAX[j]) * share
    with pytest.raises(InputError) as err:
        handle_predict(state, served, b"application/json", orjson.dumps({"features": row}))
    assert err.value.status == 422
    assert err.value.field == f"features[{j}] ({FEATURES[j]})"
