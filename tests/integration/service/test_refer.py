"""Issue 12 at the point of answer, over a real uvicorn server on 127.0.0.1: every answer's
``decision`` and ``prediction_set`` (the conformal refer rule published with the model, or the
thresholded class for a model published without one), the decisions on /metrics, and the
model card at ``GET /model/card``."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from prometheus_client.parser import text_string_to_metric_families

from breast_cancer_ml.domain.conformal import ConformalParams, decide, prediction_sets
from breast_cancer_ml.domain.schema import FEATURES
from breast_cancer_ml.service.schemas import EXAMPLE_ROW, EXAMPLE_ROW_BENIGN

from .conftest import expected_proba, promote

pytestmark = pytest.mark.integration

# Benign is in a set when p <= 0.8, malignant when 1 - p <= 0.8 (p >= 0.2): a case scored
# between 0.2 and 0.8 gets both classes, so it is referred.
RULE = ConformalParams(alpha=0.05, q_benign=0.8, q_malignant=0.8, n_benign=285, n_malignant=170)
CARD_MD = "# Model card\n\nIntended use: a second reader for FNA cytology; run {run}.\n"
CARD_HTML = "<html><body><h1>Model card</h1><p>run {run}</p></body></html>\n"
SMOOTHNESS = FEATURES.index("smoothness_mean")


def _row_with(index: int, value: float) -> list[float]:
    row = list(EXAMPLE_ROW)
    row[index] = value
    return row


def _borderline(pipeline: Any, wdbc: Any) -> list[float]:
    """The bundled case the model scores nearest 0.5."""
    p = expected_proba(pipeline, wdbc.X)
    return [float(v) for v in wdbc.X[int(np.argmin(np.abs(p - 0.5)))]]


def _decisions(server: Any) -> dict[str, float]:
    families = text_string_to_metric_families(server.client.get("/metrics").text)
    family = {f.name: f for f in families}["bcml_decisions"]
    return {s.labels["decision"]: s.value for s in family.samples if s.name.endswith("_total")}


def test_every_route_answers_the_published_refer_rule_and_metrics_count_the_decisions(
    tmp_path: Any, start_server: Any, trained: Any, wdbc: Any
) -> None:
    model = trained["a"]
    models = tmp_path / "models"
    promote(models, model, metadata={"conformal": RULE.to_metadata()})
    server = start_server(models)
    c = server.client
    server.wait_for(lambda: c.get("/ready").status_code == 200)
    borderline = _borderline(model.pipeline, wdbc)
    outside = _row_with(SMOOTHNESS, 50.0)  # within the hard bound, far outside the envelope

    answers = {
        name: c.post("/predict", json={"features": row}).json()
        for name, row in (
            ("malignant", EXAMPLE_ROW),
            ("benign", EXAMPLE_ROW_BENIGN),
            ("borderline", borderline),
            ("outside", outside),
        )
    }
    assert (answers["malignant"]["decision"], answers["malignant"]["prediction_set"]) == (
        "malignant",
        ["Malignant"],
    )
    assert (answers["benign"]["decision"], answers["benign"]["prediction_set"]) == (
        "benign",
        ["Benign"],
    )
    assert 0.2 < answers["borderline"]["probability"] < 0.8
    assert answers["borderline"]["decision"] == "refer"
    assert answers["borderline"]["prediction_set"] == ["Benign", "Malignant"]
    assert answers["borderline"]["prediction"] in (0, 1)  # the 0/1 answer stays for old clients
    # outside the envelope: referred, whatever its set says
    assert answers["outside"]["in_distribution"] is False
    assert answers["outside"]["decision"] == "refer"
    assert len(answers["outside"]["prediction_set"]) == 1
    assert _decisions(server) == {"malignant": 1, "benign": 1, "refer": 2}

    # a batch answers each row as the domain's vectorised rule does
    rows = [*(wdbc.X[:60].tolist()), borderline, outside]
    batch = c.post("/predict/batch", json={"instances": rows}).json()["predictions"]
    X = np.asarray(rows)
    p = expected_proba(model.pipeline, X)
    pred = (p >= 0.5).astype(int)
    inside = np.ones(len(rows), dtype=bool)
    inside[-1] = False
    expected = decide(RULE, p, in_envelope=inside, prediction=pred).tolist()
    assert [r["decision"] for r in batch] == expected
    sets = prediction_sets(RULE, p)
    assert [r["prediction_set"] for r in batch] == [
        [n for n, inside in zip(("Benign", "Malignant"), s, strict=True) if inside]
        for s in sets.tolist()
    ]
    assert [r["prediction"] for r in batch] == pred.tolist()

    # /invocations: MLflow's body unless the client asks; then one record per row
    split = {"dataframe_split": {"columns": list(FEATURES), "data": rows}}
    plain = c.post("/invocations", json=split)
    assert plain.json() == {"predictions": pred.tolist()}
    asked = c.post("/invocations?decision=true", json=split)
    assert asked.status_code == 200
    assert asked.json() == {
        "predictions": [
            {"prediction": r["prediction"], "decision": r["decision"], "prediction_set": s}
            for r, s in zip(batch, (r["prediction_set"] for r in batch), strict=True)
        ]
    }
    assert asked.headers["x-bcml-out-of-distribution"] == "1"
    bad = c.post("/invocations?decision=maybe", json=split)
    assert bad.status_code == 400
    assert bad.json()["error"]["field"] == "decision"

    referred = expected.count("refer")
    counts = _decisions(server)
    # /predict (4) + /predict/batch + /invocations?decision=true; the plain call counts none
    assert counts["refer"] == 2 + 2 * referred
    assert counts["malignant"] == 1 + 2 * expected.count("malignant")
    assert counts["benign"] == 1 + 2 * expected.count("benign")

    info = c.get("/model/info").json()
    assert info["refer_rule"]["alpha"] == RULE.alpha
    assert info["refer_rule"]["quantiles"] == {"benign": 0.8, "malignant": 0.8}


def test_a_model_published_without_a_refer_rule_answers_its_thresholded_class(
    served: Any,
) -> None:
    server, _, _ = served
    c = server.client
    doc = c.post("/predict", json={"features": EXAMPLE_ROW}).json()
    assert (doc["prediction"], doc["decision"], doc["prediction_set"]) == (
        1,
        "malignant",
        ["Malignant"],
    )
    benign = c.post("/predict", json={"features": EXAMPLE_ROW_BENIGN}).json()
    assert (benign["decision"], benign["prediction_set"]) == ("benign", ["Benign"])
    outside = c.post("/predict", json={"features": _row_with(SMOOTHNESS, 50.0)}).json()
    assert outside["decision"] == "refer"
    assert outside["prediction_set"] == [outside["prediction_label"]]
    batch = c.post("/predict/batch", json={"instances": [EXAMPLE_ROW_BENIGN]}).json()
    assert batch["predictions"][0]["decision"] == "benign"
    assert c.get("/model/info").json()["refer_rule"] is None


def test_model_card_is_served_as_markdown_or_html_and_follows_a_hot_reload(
    tmp_path: Any, start_server: Any, trained: Any
) -> None:
    models = tmp_path / "models"
    first = promote(
        models,
        trained["a"],
        files={
            "MODEL_CARD.md": CARD_MD.format(run="one"),
            "MODEL_CARD.html": CARD_HTML.format(run="one"),
        },
    )
    server = start_server(models)
    c = server.client
    server.wait_for(lambda: c.get("/ready").json().get("model_version") == first)

    md = c.get("/model/card")
    assert md.status_code == 200
    assert md.headers["content-type"].startswith("text/markdown")
    assert md.text == CARD_MD.format(run="one")
    html = c.get("/model/card", params={"format": "html"})
    assert html.headers["content-type"].startswith("text/html")
    assert html.text == CARD_HTML.format(run="one")
    wrong = c.get("/model/card", params={"format": "pdf"})
    assert wrong.status_code == 400
    assert wrong.json()["error"]["field"] == "format"
    openapi = c.get("/openapi.json").json()
    assert "/model/card" in openapi["paths"]
    assert "text/markdown" in openapi["paths"]["/model/card"]["get"]["responses"]["200"]["content"]
    params = openapi["paths"]["/invocations"]["post"]["parameters"]
    assert [(p["name"], p["in"]) for p in params] == [("decision", "query")]
    row = openapi["components"]["schemas"]["RowResult"]
    assert {"decision", "prediction_set"} <= set(row["required"])

    second = promote(models, trained["b"], files={"MODEL_CARD.md": CARD_MD.format(run="two")})
    server.wait_for(lambda: c.get("/ready").json().get("model_version") == second)
    assert c.get("/model/card").text == CARD_MD.format(run="two")
    # this model was published with a Markdown card only
    missing_html = c.get("/model/card?format=html")
    assert missing_html.status_code == 404
    assert missing_html.json()["error"]["code"] == "not_found"

    third = promote(models, trained["a"])  # published without a card (before issue 12)
    server.wait_for(lambda: c.get("/ready").json().get("model_version") == third)
    none = c.get("/model/card")
    assert none.status_code == 404
    doc = none.json()
    assert set(doc["error"]) == {"status", "code", "message", "field"}
    assert third in doc["error"]["message"] and "model card" in doc["error"]["message"]
    assert doc["request_id"] == none.headers["x-request-id"]
