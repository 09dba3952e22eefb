"""Request and response models: the API's documented contract (``/docs``, ``/openapi.json``).

The prediction routes parse their bodies by hand (see :mod:`.inputs`) for speed; these models
describe exactly what that parser accepts, so the OpenAPI schema, the interactive docs and the
schema-driven fuzz tests all see the real contract. Responses of the info routes are built with
these models.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, create_model

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

#: Documented bound; the real one is the ``max_feature_value`` setting (default 1e6).
Measurement = Annotated[float, Field(ge=0, le=1e6, allow_inf_nan=False)]
FeatureList = Annotated[
    list[Measurement],
    Field(
        min_length=N_FEATURES,
        max_length=N_FEATURES,
        description=f"The {N_FEATURES} features in the dataset's order (see GET /model/info).",
    ),
]
FeatureMap: type[BaseModel] = create_model(  # all 30 names, required, nothing else
    "FeatureMap",
    __config__=ConfigDict(extra="forbid"),
    **dict.fromkeys(FEATURES, (Measurement, ...)),  # type: ignore[call-overload]
)
FeatureMap.__doc__ = "The 30 features by name; every name is required and no other is allowed."
Row = FeatureList | FeatureMap


def _examples(*docs: Any) -> dict[str, Any]:
    return {"examples": list(docs)}


class PredictRequest(BaseModel):
    """One case: 30 numbers in feature order, or an object of the 30 feature names."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra=_examples({"features": EXAMPLE_ROW}, {"features": EXAMPLE_NAMED}),
    )
    features: Row


class BatchRequest(BaseModel):
    """Several cases (at most ``max_batch_rows``, default 10,000)."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra=_examples({"instances": [EXAMPLE_ROW, EXAMPLE_ROW_BENIGN]}),
    )
    instances: Annotated[list[Row], Field(min_length=1, max_length=10_000)]


class RowResult(BaseModel):
    prediction: Literal[0, 1] = Field(description="1 = malignant, 0 = benign.")
    prediction_label: Literal["Malignant", "Benign"]
    probability: float = Field(ge=0, le=1, description="Probability of malignancy.")
    confidence: Literal["high", "medium", "low"] = Field(
        description="high: p >= 0.8 or p <= 0.2; medium: p >= 0.6 or p <= 0.4; else low."
    )
    threshold: float = Field(description="Decision threshold on the probability (from the model).")
    model_version: str = Field(description="MLflow run id of the model that answered.")
    api_version: str


class PredictResponse(RowResult):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "prediction": 1,
                    "prediction_label": "Malignant",
                    "probability": 0.99998,
                    "confidence": "high",
                    "threshold": 0.5,
                    "model_version": "7145cff549c24679978e75e84317b6ed",
                    "api_version": "1",
                }
            ]
        }
    )


class BatchResponse(BaseModel):
    predictions: list[RowResult] = Field(description="One result per instance, in order.")
    count: int
    model_version: str
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


class InvocationsResponse(BaseModel):
    predictions: list[Literal[0, 1]] = Field(description="predict(): 1 malignant, 0 benign.")


class ErrorResponse(BaseModel):
    detail: str = Field(description="What is wrong, naming the field.")
    field: str | None = Field(None, description="The offending field, when there is one.")
    request_id: str


class MlflowErrorResponse(BaseModel):
    error_code: str = Field(description="As MLflow: BAD_REQUEST or INVALID_PARAMETER_VALUE.")
    message: str
    request_id: str


class ModelStatus(BaseModel):
    status: Literal["ready", "no_model", "refused"]
    run_id: str | None
    loaded_at: str | None
    error: str | None = Field(description="Why the last model was refused, if it was.")


class Health(BaseModel):
    status: Literal["ok"]
    api_version: str
    version: str
    uptime_s: float
    model: ModelStatus


class Ready(BaseModel):
    ready: bool
    status: Literal["ready", "no_model", "refused"]
    model_version: str | None
    detail: str | None = None


class ModelInfo(BaseModel):
    run_id: str
    promoted_at: str | None
    data_version: str | None
    model_type: str | None
    model_uri: str | None
    registered_model: dict[str, Any] | None
    metrics: dict[str, float]
    threshold: float = Field(description="Decision threshold used by every prediction route.")
    gate: dict[str, Any] | None = Field(description="The promotion gate's thresholds and result.")
    feature_names: list[str] = Field(description="Feature order of positional inputs.")
    loaded_at: str | None


class Root(BaseModel):
    name: str
    version: str
    api_version: str
    model_version: str | None
    links: dict[str, str]
