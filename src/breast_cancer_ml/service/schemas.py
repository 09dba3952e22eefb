"""Request and response models: the API's contract, declared once.

The request bodies of ``/predict`` and ``/predict/batch`` are built by :func:`request_models`
from the input contract (:mod:`breast_cancer_ml.domain.contract`: each feature's hard bound)
and from the running settings (``max_batch_rows``). FastAPI validates the declared routes with
them and generates ``/openapi.json`` and ``/docs`` from them, so the documented limits are the
enforced ones. The fast path of :mod:`.app` parses the same bodies by hand (:mod:`.inputs`);
``tests/unit/service/test_contract_equivalence.py`` proves it accepts and rejects exactly what
these models do, with the same values. Responses are built with the models below.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Annotated, Any, Literal, NamedTuple

from pydantic import BaseModel, ConfigDict, Field, StrictBool, create_model

from breast_cancer_ml.domain.contract import HARD_BOUNDS
from breast_cancer_ml.domain.schema import FEATURES, N_FEATURES

#: The seed README's example row (a malignant case, id 842302 of the WDBC data).
EXAMPLE_ROW: list[float] = [
    17.99, 10.38, 122.8, 1001.0, 0.1184, 0.2776, 0.3001, 0.1471, 0.2419, 0.07871,
    1.095, 0.9053, 8.589, 153.4, 0.006399, 0.04904, 0.05373, 0.01587, 0.03003, 0.006193,
    25.38, 17.33, 184.6, 2019.0, 0.1622, 0.6656, 0.7119, 0.2654, 0.4601, 0.1189,
]  # fmt: skip
#: A benign case (id 8510426).
EXAMPLE_ROW_BENIGN: list[float] = [
    13.54, 14.36, 87.46, 566.3, 0.09779, 0.08129, 0.06664, 0.04781, 0.1885, 0.05766,
    0.2699, 0.7886, 2.058, 23.56, 0.008462, 0.0146, 0.02387, 0.01315, 0.0198, 0.0023,
    15.11, 19.26, 99.7, 711.2, 0.144, 0.1773, 0.239, 0.1288, 0.2977, 0.07259,
]  # fmt: skip
EXAMPLE_NAMED: dict[str, float] = dict(zip(FEATURES, EXAMPLE_ROW, strict=True))


def _measurement(feature: str) -> Any:
    """A value of ``feature`` as the input contract accepts it (domain/contract.py): a JSON
    number (strict: not a string, not a boolean), finite, >= 0, at most the hard bound."""
    return Annotated[
        float,
        Field(
            strict=True,
            ge=0,
            le=HARD_BOUNDS[feature],
            allow_inf_nan=False,
            description=f"{feature}: finite, >= 0, at most {HARD_BOUNDS[feature]:g} (hard bound).",
        ),
    ]


#: The 30 values in FEATURES order, each with its own feature's bound (``prefixItems``).
FeatureList: Any = Annotated[
    tuple[tuple(_measurement(f) for f in FEATURES)],  # type: ignore[misc]
    Field(description=f"The {N_FEATURES} features in the dataset's order (see GET /model/info)."),
]
FeatureMap: type[BaseModel] = create_model(  # all 30 names, required, nothing else
    "FeatureMap",
    __config__=ConfigDict(extra="forbid"),
    **{f: (_measurement(f), ...) for f in FEATURES},  # type: ignore[call-overload]
)
FeatureMap.__doc__ = "The 30 features by name; every name is required and no other is allowed."
if TYPE_CHECKING:  # built from the contract at run time; the type checker sees a row as Any
    Row = Any
else:
    Row = FeatureList | FeatureMap


def row_values(row: Any) -> list[float]:
    """A validated row (a tuple in FEATURES order, or a :data:`FeatureMap`) as a list."""
    if isinstance(row, BaseModel):
        return [getattr(row, name) for name in FEATURES]
    return list(row)


_EXPLAIN_DOC = (
    "true: each answered case carries its `explanation` (as `?explain=true` does): the base "
    "log-odds and every feature's contribution to the case's log-odds (docs/serving.md)."
)


def _examples(*docs: Any) -> dict[str, Any]:
    return {"examples": list(docs)}


class PredictRequest(BaseModel):
    """One case: 30 numbers in feature order, or an object of the 30 feature names."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra=_examples({"features": EXAMPLE_ROW}, {"features": EXAMPLE_NAMED}),
    )
    features: Row
    explain: StrictBool = Field(False, description=_EXPLAIN_DOC)

    def values(self) -> list[float]:
        """The 30 values in FEATURES order."""
        return row_values(self.features)


class BatchRequestBase(BaseModel):
    """Several cases; :func:`request_models` sets the most rows one request may hold."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra=_examples({"instances": [EXAMPLE_ROW, EXAMPLE_ROW_BENIGN]}),
    )
    instances: list[Row]
    explain: StrictBool = Field(False, description=_EXPLAIN_DOC)

    def rows(self) -> list[list[float]]:
        """Each instance's 30 values in FEATURES order."""
        return [row_values(row) for row in self.instances]


class RequestModels(NamedTuple):
    """The request bodies of the running service (built from its settings)."""

    predict: type[PredictRequest]
    batch: type[BatchRequestBase]


@functools.cache
def request_models(max_batch_rows: int) -> RequestModels:
    """The declared request contract for a service allowing ``max_batch_rows`` rows per batch
    (``ServeSettings.max_batch_rows``): one class per limit, so the OpenAPI schema of a service
    started with ``max_batch_rows=7`` says 7, and FastAPI refuses an eighth row."""
    batch: type[BatchRequestBase] = create_model(
        "BatchRequest",
        __base__=BatchRequestBase,
        __doc__=f"Several cases (at most {max_batch_rows:,}: the service's max_batch_rows).",
        instances=(Annotated[list[Row], Field(min_length=1, max_length=max_batch_rows)], ...),
    )
    return RequestModels(predict=PredictRequest, batch=batch)


class OutOfRangeWarning(BaseModel):
    feature: str
    value: float
    low: float = Field(description="Lower end of the feature's plausibility envelope.")
    high: float = Field(description="Upper end of the feature's plausibility envelope.")


ClassName = Literal["Benign", "Malignant"]
DecisionName = Literal["malignant", "benign", "refer"]
_SET_DOC = (
    "The classes the model cannot rule out at the refer rule's coverage (conformal prediction "
    'set): ["Malignant"], ["Benign"], ["Benign", "Malignant"] or []. For a model published '
    "without a refer rule, the thresholded class alone."
)
_DECISION_DOC = (
    "malignant or benign when the prediction set is that single class and agrees with "
    "`prediction`; refer (to a pathologist) when the set is empty or holds both classes, when "
    "they disagree, or when the case is outside the model's plausibility envelope."
)


class Contribution(BaseModel):
    feature: str
    value: float = Field(description="The case's raw value of the feature.")
    contribution: float = Field(description="Its contribution to the case's log-odds.")


class Explanation(BaseModel):
    """Why the model answered as it did: ``base + sum(contributions)`` is the case's log-odds
    of malignancy (to 1e-6)."""

    method: Literal["linear_exact", "kernel_shap"] = Field(
        description="linear_exact: coefficient x standardised value (a linear model, exact); "
        "kernel_shap: Kernel SHAP on a k-means background of the training split."
    )
    base: float = Field(
        description="The log-odds of the reference case: the training mean (linear_exact) "
        "or the background's mean probability (kernel_shap)."
    )
    contributions: list[Contribution] = Field(
        min_length=N_FEATURES,
        max_length=N_FEATURES,
        description="All 30 features, largest |contribution| first.",
    )
    output: Literal["log_odds"]


class RowResult(BaseModel):
    prediction: Literal[0, 1] = Field(description="1 = malignant, 0 = benign.")
    prediction_label: Literal["Malignant", "Benign"]
    probability: float = Field(ge=0, le=1, description="Probability of malignancy.")
    confidence: Literal["high", "medium", "low"] = Field(
        description="high: p >= 0.8 or p <= 0.2; medium: p >= 0.6 or p <= 0.4; else low. "
        "Always low for a case outside the model's plausibility envelope."
    )
    decision: DecisionName = Field(description=_DECISION_DOC)
    prediction_set: list[ClassName] = Field(max_length=2, description=_SET_DOC)
    warnings: list[OutOfRangeWarning] = Field(
        description="One entry per feature outside the model's plausibility envelope (the "
        "training split's range widened by 10%); empty when every value is within it."
    )
    in_distribution: bool | None = Field(
        description="False when any feature is outside the envelope (see warnings); null only "
        "for a model that carries no envelope."
    )
    threshold: float = Field(description="Decision threshold on the probability (from the model).")
    model_version: str = Field(description="MLflow run id of the model that answered.")
    registry_version: str | None = Field(
        description="Model Registry version of that model; null when it was not registered."
    )
    api_version: str
    explanation: Explanation | None = Field(
        None, description='Present only when asked (`?explain=true` or `"explain": true`).'
    )


class PredictResponse(RowResult):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "prediction": 1,
                    "prediction_label": "Malignant",
                    "probability": 0.99998,
                    "confidence": "high",
                    "decision": "malignant",
                    "prediction_set": ["Malignant"],
                    "warnings": [],
                    "in_distribution": True,
                    "threshold": 0.5,
                    "model_version": "7145cff549c24679978e75e84317b6ed",
                    "registry_version": "3",
                    "api_version": "1",
                }
            ]
        }
    )


class BatchResponse(BaseModel):
    predictions: list[RowResult] = Field(description="One result per instance, in order.")
    count: int
    out_of_distribution: int = Field(description="How many instances are outside the envelope.")
    model_version: str
    registry_version: str | None
    api_version: str


class InvocationsRequest(BaseModel):
    """MLflow scoring protocol: exactly one of the four fields. Also ``text/csv``."""

    model_config = ConfigDict(
        json_schema_extra=_examples(
            {"dataframe_split": {"columns": list(FEATURES), "data": [EXAMPLE_ROW]}},
            {"dataframe_records": [EXAMPLE_NAMED]},
        )
    )
    dataframe_split: dict[str, Any] | None = Field(
        None, description='{"columns": [names], "data": [[values], ...]} (pandas "split").'
    )
    dataframe_records: list[dict[str, Any]] | None = Field(
        None, description="[{name: value, ...}, ...] (pandas 'records')."
    )
    instances: list[dict[str, Any]] | dict[str, Any] | None = Field(
        None, description="Records, or an object of columns (TF-serving style)."
    )
    inputs: list[dict[str, Any]] | dict[str, Any] | None = Field(None, description="As instances.")
    params: dict[str, Any] | None = Field(None, description="Accepted and ignored.")


class InvocationRow(BaseModel):
    """One row of /invocations?decision=true (MLflow's records layout of a DataFrame)."""

    prediction: Literal[0, 1] = Field(description="predict(): 1 malignant, 0 benign.")
    decision: DecisionName = Field(description=_DECISION_DOC)
    prediction_set: list[ClassName] = Field(max_length=2, description=_SET_DOC)


class InvocationsResponse(BaseModel):
    predictions: list[Literal[0, 1]] | list[InvocationRow] = Field(
        description="predict(): 1 malignant, 0 benign, as MLflow answers; with "
        "?decision=true one record per row with its decision and prediction set."
    )


class ErrorBody(BaseModel):
    status: int = Field(description="The HTTP status, repeated.")
    code: str = Field(
        description="Stable short code: bad_request, duplicate_key, unauthorized, not_found, "
        "method_not_allowed, body_timeout, too_large, unsupported_media_type, invalid_input, "
        "overloaded, unavailable, internal_error, explanation_unavailable."
    )
    message: str = Field(description="What is wrong and what to do, naming the field.")
    field: str | None = Field(None, description="The offending field, when there is one.")


class ErrorResponse(BaseModel):
    """Every error answer of the service (``/invocations`` adds MLflow's two fields)."""

    error: ErrorBody
    detail: str = Field(description="Same as error.message (kept for existing clients).")
    field: str | None = Field(None, description="Same as error.field (kept for existing clients).")
    request_id: str


class MlflowErrorResponse(BaseModel):
    error: ErrorBody
    error_code: str = Field(description="As MLflow: BAD_REQUEST or INVALID_PARAMETER_VALUE.")
    message: str
    request_id: str


class ModelStatus(BaseModel):
    status: Literal["ready", "no_model", "refused"]
    run_id: str | None
    loaded_at: str | None
    error: str | None = Field(
        description="Why the last model was refused, if it was: missing, hash_mismatch, "
        "untrusted_type, unloadable or bad_metadata (details in the service's log)."
    )
    error_message: str | None = Field(None, description="A fixed sentence for that code.")


class RegistryStatus(BaseModel):
    """The tracking server a ``model_uri`` service follows (absent when serving a folder)."""

    model_uri: str
    reachable: bool | None = Field(description="Whether the last call succeeded (None: none yet).")
    failures: int = Field(description="Failed calls since start (also a metric).")
    version: str | None = Field(description="The registry version being served.")
    error: str | None = Field(
        None,
        description="registry_unreachable, registry_auth or not_in_registry when the last "
        "call failed (details in the service's log).",
    )


class Health(BaseModel):
    status: Literal["ok"]
    api_version: str
    version: str
    uptime_s: float
    model: ModelStatus
    registry: RegistryStatus | None = None


class Ready(BaseModel):
    ready: bool
    status: Literal["ready", "no_model", "refused"]
    model_version: str | None
    registry_version: str | None = None
    detail: str | None = None
    reason: str | None = Field(None, description="The refusal code, as in /health.")


class NotReady(Ready):
    """/ready's 503: the readiness fields, and the error shape of every error answer (its
    ``error.code`` is the refusal code, or ``no_model``)."""

    error: ErrorBody
    request_id: str


class ModelInfo(BaseModel):
    run_id: str
    registry_version: str | None = Field(
        description="Model Registry version; null when the model was not registered."
    )
    promoted_at: str | None
    data_version: str | None
    model_type: str | None
    model_uri: str | None
    registered_model: dict[str, Any] | None
    metrics: dict[str, float]
    threshold: float = Field(description="Decision threshold used by every prediction route.")
    gate: dict[str, Any] | None = Field(description="The promotion gate's thresholds and result.")
    refer_rule: dict[str, Any] | None = Field(
        None,
        description="The conformal refer rule fitted at promotion (method, alpha, per-class "
        "quantiles, calibration counts); null when the model was published without one "
        "(its prediction set is then the thresholded class).",
    )
    explainer: dict[str, Any] | None = Field(
        None,
        description="How `?explain=true` explains this model: method (linear_exact or "
        "kernel_shap) and, for kernel_shap, nsamples, k, eps and seed; null when it cannot "
        "(a non-linear model promoted before explanations: re-promote it).",
    )
    feature_names: list[str] = Field(description="Feature order of positional inputs.")
    loaded_at: str | None


class Root(BaseModel):
    name: str
    version: str
    api_version: str
    model_version: str | None
    links: dict[str, str]
