"""The fast path's hand-written parser accepts and rejects exactly what the declared request
models accept and reject, with the same values.

The declared models (:func:`schemas.request_models`, what FastAPI validates and documents) are
the contract; :mod:`breast_cancer_ml.service.inputs` is the fast path's copy of it. Hypothesis
feeds both the same decoded bodies, near every edge of the contract (each feature's hard bound,
0, NaN, infinities, booleans, strings, integers beyond the float range, wrong lengths, missing
and unknown names, extra fields, empty and oversized batches), and the same raw bodies go over
HTTP to the app with and without its fast path.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from breast_cancer_ml.domain.conformal import ConformalParams
from breast_cancer_ml.domain.contract import HARD_BOUNDS, HARD_MAX, Envelope
from breast_cancer_ml.domain.explain import Explainer
from breast_cancer_ml.domain.models import build_pipeline
from breast_cancer_ml.domain.schema import FEATURES
from breast_cancer_ml.service import schemas
from breast_cancer_ml.service.app import create_app
from breast_cancer_ml.service.inputs import (
    InputError,
    batch_features,
    single_row,
    to_array,
    wants_explanation,
)
from breast_cancer_ml.service.schemas import EXAMPLE_ROW, EXAMPLE_ROW_BENIGN, request_models
from breast_cancer_ml.settings import ServeSettings

MAX_ROWS = 3
MODELS = request_models(MAX_ROWS)


def _valid(bound: float) -> st.SearchStrategy[Any]:
    """A value the contract accepts, often at its edges."""
    return st.one_of(
        st.floats(min_value=0, max_value=bound),
        st.integers(min_value=0, max_value=int(bound)),
        st.sampled_from([0, 0.0, -0.0, bound]),
    )


#: Values the contract refuses, just past an edge or of the wrong JSON type.
REFUSED: list[Any] = [
    math.nextafter(0.0, -1), -1, math.nan, math.inf, -math.inf, 10**400, -(10**400),
    True, False, None, "1.5", "", [], {}, [1.0],
]  # fmt: skip


def _invalid(bound: float) -> st.SearchStrategy[Any]:
    return st.sampled_from([*REFUSED, math.nextafter(bound, math.inf), int(bound) + 1])


def _cells() -> st.SearchStrategy[list[Any]]:
    """30 values in FEATURES order: all valid, or one of them (anywhere) refused."""
    valid = st.tuples(*(_valid(HARD_BOUNDS[name]) for name in FEATURES)).map(list)

    def spoil(row: list[Any], data: st.DataObject) -> list[Any]:
        i = data.draw(st.integers(0, 29))
        return [*row[:i], data.draw(_invalid(HARD_BOUNDS[FEATURES[i]])), *row[i + 1 :]]

    return st.one_of(valid, st.builds(spoil, valid, st.data()))


def _row_list() -> st.SearchStrategy[Any]:
    wrong_length = st.lists(_valid(1.0), max_size=32).filter(lambda r: len(r) != 30)
    return st.one_of(_cells(), _cells(), wrong_length)


def _row_map() -> st.SearchStrategy[Any]:
    def named(cells: list[Any], drop: int | None, extra: str | None) -> dict[str, Any]:
        row = dict(zip(FEATURES, cells, strict=True))
        if drop is not None:
            row.pop(FEATURES[drop])
        if extra is not None:
            row[extra] = 1.0
        return row

    return st.builds(
        named,
        _cells(),
        st.one_of(st.none(), st.none(), st.integers(0, 29)),
        st.one_of(st.none(), st.none(), st.sampled_from(["radius", "id", "diagnosis"])),
    )


ROW = st.one_of(_row_list(), _row_map(), st.sampled_from([None, 1.0, "row", True]))
PREDICT_DOC = st.one_of(
    st.builds(lambda row: {"features": row}, ROW),
    st.builds(lambda row: {"features": row, "extra": 1}, ROW),
    st.sampled_from([{}, [], None, "features", {"instances": [EXAMPLE_ROW]}]),
)
BATCH_DOC = st.one_of(
    st.builds(lambda rows: {"instances": rows}, st.lists(ROW, min_size=0, max_size=MAX_ROWS + 2)),
    st.builds(lambda rows: {"instances": rows, "x": 0}, st.lists(ROW, max_size=2)),
    st.sampled_from([{}, [], None, {"instances": None}, {"instances": {}}, {"features": []}]),
)


def _fast(parse: Any, doc: Any) -> tuple[str, Any]:
    try:
        X = parse(doc)
    except InputError as exc:
        return "refused", exc.status
    return "accepted", X


def _declared(model: Any, rows: Any, doc: Any) -> tuple[str, Any]:
    try:
        body = model.model_validate(doc)
    except ValidationError as exc:
        first = exc.errors()[0]
        too_many = first["type"] == "too_long" and first["loc"] == ("instances",)
        return "refused", 413 if too_many else 422
    return "accepted", to_array(rows(body))


def _same(fast: tuple[str, Any], declared: tuple[str, Any]) -> None:
    assert fast[0] == declared[0]
    if fast[0] == "accepted":
        np.testing.assert_array_equal(fast[1], declared[1])
        assert not np.isnan(fast[1]).any()
    else:
        assert fast[1] == declared[1]  # the same HTTP status on both paths


def _check(strategy: Any, fast: Any, model: Any, rows: Any, examples: int) -> set[str]:
    """Feed ``examples`` generated bodies to both parsers; the outcomes seen."""
    seen: set[str] = set()

    @settings(max_examples=examples, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(strategy)
    def same_answer(doc: Any) -> None:
        outcome = _fast(fast, doc)
        _same(outcome, _declared(model, rows, doc))
        seen.add(outcome[0])

    same_answer()
    return seen


def test_predict_fast_parser_accepts_and_refuses_what_the_declared_model_does() -> None:
    seen = _check(
        PREDICT_DOC,
        lambda d: to_array([single_row(d)]),
        MODELS.predict,
        lambda b: [b.values()],
        400,
    )
    assert seen == {"accepted", "refused"}  # not vacuous: both kinds of body were generated


def test_batch_fast_parser_accepts_and_refuses_what_the_declared_model_does() -> None:
    seen = _check(
        BATCH_DOC, lambda d: batch_features(d, MAX_ROWS), MODELS.batch, lambda b: b.rows(), 300
    )
    assert seen == {"accepted", "refused"}


EXPLAIN_VALUE = st.one_of(
    st.booleans(),
    st.none(),
    st.integers(-1, 2),
    st.floats(allow_nan=True),
    st.sampled_from(["true", "false", "1", "", "yes"]),
    st.lists(st.booleans(), max_size=1),
)


def _explain_outcome(parse: Any, model: Any, doc: Any) -> tuple[tuple[str, Any], tuple[str, Any]]:
    try:
        parse(doc)
        fast: tuple[str, Any] = ("accepted", wants_explanation(doc))
    except InputError as exc:
        fast = ("refused", exc.status)
    try:
        declared: tuple[str, Any] = ("accepted", model.model_validate(doc).explain)
    except ValidationError:
        declared = ("refused", 422)
    return fast, declared


@settings(max_examples=150, deadline=None)
@given(EXPLAIN_VALUE, st.booleans(), st.booleans())
def test_both_parsers_read_the_explain_field_alike(value: Any, batch: bool, extra: bool) -> None:
    """``"explain"`` is a JSON boolean or absent on both paths; anything else is a 422, and a
    third field is refused as before."""
    if batch:
        doc: dict[str, Any] = {"instances": [EXAMPLE_ROW], "explain": value}
        parse: Any = lambda d: batch_features(d, MAX_ROWS)  # noqa: E731
        model: Any = MODELS.batch
    else:
        doc, parse, model = {"features": EXAMPLE_ROW, "explain": value}, single_row, MODELS.predict
    if extra:
        doc["id"] = 1
    fast, declared = _explain_outcome(parse, model, doc)
    assert fast == declared
    if not extra and type(value) is bool:
        assert fast == ("accepted", value)  # a boolean is read as it is
    elif not extra:
        assert fast == ("refused", 422)


def test_a_body_without_explain_is_not_explained_on_either_path() -> None:
    assert _explain_outcome(single_row, MODELS.predict, {"features": EXAMPLE_ROW}) == (
        ("accepted", False),
        ("accepted", False),
    )


def _refused_cells() -> list[tuple[int, Any]]:
    """Every refused value, at the first and at the last feature."""
    cells = []
    for i in (0, 29):
        bound = HARD_BOUNDS[FEATURES[i]]
        for value in [*REFUSED, math.nextafter(bound, math.inf), int(bound) + 1]:
            cells.append((i, value))
    return cells


@pytest.mark.parametrize("form", ["list", "names"])
@pytest.mark.parametrize(("i", "value"), _refused_cells())
def test_every_refused_value_is_refused_by_both_parsers(form: str, i: int, value: Any) -> None:
    row: list[Any] = [*EXAMPLE_ROW[:i], value, *EXAMPLE_ROW[i + 1 :]]
    features = row if form == "list" else dict(zip(FEATURES, row, strict=True))
    one = {"features": features}
    fast = _fast(lambda d: to_array([single_row(d)]), one)
    assert fast == ("refused", 422)
    _same(fast, _declared(MODELS.predict, lambda b: [b.values()], one))
    batch = {"instances": [EXAMPLE_ROW, features]}
    fast = _fast(lambda d: batch_features(d, MAX_ROWS), batch)
    assert fast == ("refused", 422)
    _same(fast, _declared(MODELS.batch, lambda b: b.rows(), batch))


# --- over HTTP: the same raw bodies, with and without the fast path ----------------------------


class _Model:
    run_id = "run-under-test"
    threshold = 0.5
    envelope = Envelope(low=(0.0,) * 30, high=tuple(HARD_MAX.tolist()))
    registry_version = None
    # p = 0.7 below: benign (0.7 <= 0.8) and malignant (0.3 <= 0.5) are both in the set, so
    # every answer is a referral and both paths must say so
    conformal = ConformalParams(
        alpha=0.05, q_benign=0.8, q_malignant=0.5, n_benign=200, n_malignant=120
    )

    @staticmethod
    def proba(X: Any) -> Any:
        return np.full(len(X), 0.7)

    #: a linear model's explainer (the stand-in above has no pipeline of its own)
    explainer = Explainer(
        build_pipeline("logreg", 0).fit(np.array([EXAMPLE_ROW, EXAMPLE_ROW_BENIGN]), [1, 0]),
        None,
        "logreg",
    )


NAMED = dict(zip(FEATURES, EXAMPLE_ROW, strict=True))
BODIES: list[tuple[str, str, bytes]] = [
    ("/predict", "list", json.dumps({"features": EXAMPLE_ROW}).encode()),
    ("/predict", "names", json.dumps({"features": NAMED}).encode()),
    ("/predict", "integers", json.dumps({"features": [int(v) for v in EXAMPLE_ROW]}).encode()),
    ("/predict", "NaN token", json.dumps({"features": [math.nan, *EXAMPLE_ROW[1:]]}).encode()),
    ("/predict", "over bound", json.dumps({"features": [*EXAMPLE_ROW[:29], 1e9]}).encode()),
    ("/predict", "boolean", json.dumps({"features": [True, *EXAMPLE_ROW[1:]]}).encode()),
    ("/predict", "string", json.dumps({"features": ["1", *EXAMPLE_ROW[1:]]}).encode()),
    ("/predict", "29 values", json.dumps({"features": EXAMPLE_ROW[:29]}).encode()),
    ("/predict", "extra field", json.dumps({"features": EXAMPLE_ROW, "id": 1}).encode()),
    ("/predict", "missing name", json.dumps({"features": dict(list(NAMED.items())[1:])}).encode()),
    ("/predict", "not JSON", b'{"features": ['),
    ("/predict", "empty body", b""),
    (
        "/predict",
        "key twice",
        b'{"features": [1], "features": ' + json.dumps(EXAMPLE_ROW).encode() + b"}",
    ),
    (
        "/predict",
        "NaN literal",
        b'{"features": [NaN' + json.dumps(EXAMPLE_ROW[1:])[1:].encode() + b"}",
    ),
    (
        "/predict",
        "huge integer",
        b'{"features": [1' + b"0" * 400 + b", " + json.dumps(EXAMPLE_ROW[1:])[1:].encode() + b"}",
    ),
    ("/predict?explain=true", "explained", json.dumps({"features": EXAMPLE_ROW}).encode()),
    ("/predict", "explain in body", json.dumps({"features": NAMED, "explain": True}).encode()),
    ("/predict?explain=0", "explain false", json.dumps({"features": EXAMPLE_ROW}).encode()),
    ("/predict?explain=maybe", "bad explain", json.dumps({"features": EXAMPLE_ROW}).encode()),
    ("/predict", "explain string", json.dumps({"features": NAMED, "explain": "true"}).encode()),
    ("/predict/batch", "two rows", json.dumps({"instances": [EXAMPLE_ROW, NAMED]}).encode()),
    (
        "/predict/batch?explain=yes",
        "explained rows",
        json.dumps({"instances": [EXAMPLE_ROW, NAMED]}).encode(),
    ),
    (
        "/predict/batch",
        "explain in body",
        json.dumps({"instances": [EXAMPLE_ROW], "explain": True}).encode(),
    ),
    (
        "/predict/batch",
        "explain null",
        json.dumps({"instances": [NAMED], "explain": None}).encode(),
    ),
    ("/predict/batch", "no rows", json.dumps({"instances": []}).encode()),
    ("/predict/batch", "too many", json.dumps({"instances": [EXAMPLE_ROW] * 4}).encode()),
    ("/predict/batch", "bad row", json.dumps({"instances": [EXAMPLE_ROW, [-1] * 30]}).encode()),
    (
        "/invocations",
        "dataframe_split",
        json.dumps({"dataframe_split": {"columns": FEATURES, "data": [EXAMPLE_ROW]}}).encode(),
    ),
    ("/invocations", "records", json.dumps({"dataframe_records": [NAMED]}).encode()),
    (
        "/invocations?decision=true",
        "with decisions",
        json.dumps({"dataframe_records": [NAMED, NAMED]}).encode(),
    ),
    (
        "/invocations?decision=maybe",
        "bad decision parameter",
        json.dumps({"dataframe_records": [NAMED]}).encode(),
    ),
    ("/invocations", "two layouts", json.dumps({"instances": [NAMED], "inputs": [NAMED]}).encode()),
    (
        "/invocations",
        "string",
        json.dumps({"dataframe_records": [{**NAMED, "radius_mean": "x"}]}).encode(),
    ),
]


@pytest.fixture(scope="module")
def clients(tmp_path_factory: pytest.TempPathFactory) -> Any:
    folder: Path = tmp_path_factory.mktemp("models")
    made = []
    for fast in (True, False):
        app = create_app(ServeSettings(models_dir=folder, max_batch_rows=MAX_ROWS), fast_path=fast)
        client = TestClient(app)
        client.__enter__()
        app.state.service.holder.current = _Model()
        made.append(client)
    yield made
    for client in made:
        client.__exit__(None, None, None)


@pytest.mark.parametrize(("path", "case", "body"), BODIES, ids=[f"{p} {c}" for p, c, _ in BODIES])
def test_fast_path_and_declared_route_give_the_same_answer(
    clients: Any, path: str, case: str, body: bytes
) -> None:
    fast, declared = (
        c.post(path, content=body, headers={"content-type": "application/json"}) for c in clients
    )
    assert fast.status_code == declared.status_code, (fast.text, declared.text)
    assert fast.headers.get("x-bcml-out-of-distribution") == declared.headers.get(
        "x-bcml-out-of-distribution"
    )
    if fast.status_code == 200:
        assert fast.json() == declared.json()
        # and the answer is what the declared response schema says (OpenAPI documents it)
        response_model = {
            "/predict": schemas.PredictResponse,
            "/predict/batch": schemas.BatchResponse,
        }.get(path.partition("?")[0], schemas.InvocationsResponse)
        response_model.model_validate(fast.json())
    else:
        assert fast.json()["error"]["code"] == declared.json()["error"]["code"]
        if fast.status_code == 400:  # the same decoder on both paths: the same words
            assert fast.json()["error"] == declared.json()["error"]
        for r in (fast, declared):
            doc = r.json()
            assert doc["error"]["status"] == r.status_code
            assert doc["request_id"] == r.headers["x-request-id"]
            assert "Traceback" not in r.text


def test_declared_route_refuses_a_wrong_content_type_as_the_fast_path_does(clients: Any) -> None:
    answers = [
        c.post("/predict", content=b"x", headers={"content-type": "text/plain"}) for c in clients
    ]
    assert [r.status_code for r in answers] == [415, 415]
    assert answers[0].json()["detail"] == answers[1].json()["detail"]


def test_declared_route_checks_the_api_key_before_the_body_as_the_fast_path_does(
    tmp_path: Path,
) -> None:
    key = "sixteen-chars-ok"
    for fast in (True, False):
        app = create_app(ServeSettings(models_dir=tmp_path, api_key=key), fast_path=fast)
        with TestClient(app) as client:
            app.state.service.holder.current = _Model()
            refused = client.post("/predict", content=b"not json")
            assert refused.status_code == 401
            assert refused.headers["www-authenticate"] == "Bearer"
            ok = client.post(
                "/predict",
                json={"features": EXAMPLE_ROW},
                headers={"Authorization": f"Bearer {key}"},
            )
            assert ok.status_code == 200


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/predict?explain=true", {"features": EXAMPLE_ROW}),
        ("/predict", {"features": EXAMPLE_ROW, "explain": True}),
        ("/predict/batch?explain=1", {"instances": [EXAMPLE_ROW, EXAMPLE_ROW_BENIGN]}),
        ("/predict/batch", {"instances": [EXAMPLE_ROW, EXAMPLE_ROW_BENIGN], "explain": True}),
    ],
)
def test_both_paths_explain_when_asked_by_query_or_body(
    clients: Any, path: str, body: dict[str, Any]
) -> None:
    answers = [c.post(path, json=body).json() for c in clients]
    assert answers[0] == answers[1]
    rows = answers[0].get("predictions", [answers[0]])
    for row in rows:
        explanation = row["explanation"]
        assert explanation["method"] == "linear_exact" and explanation["output"] == "log_odds"
        assert len(explanation["contributions"]) == len(FEATURES)
    plain = clients[0].post(
        path.partition("?")[0], json={k: v for k, v in body.items() if k != "explain"}
    )
    assert "explanation" not in plain.text  # not asked: not computed, not sent
