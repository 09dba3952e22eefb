"""The FastAPI declarations: the info routes, and the prediction routes for the docs.

The prediction routes' requests are handled by the raw endpoints of :mod:`.endpoints`; they are
declared here (:class:`RawRoute`) so ``/openapi.json`` and ``/docs`` describe their bodies and
answers, and so FastAPI's router reaches them when the app's direct dispatch is off (CORS).
"""

from __future__ import annotations

import time
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, PlainTextResponse
from fastapi.routing import APIRoute

from breast_cancer_ml import __version__
from breast_cancer_ml.service import schemas
from breast_cancer_ml.service.endpoints import (
    API_VERSION,
    REQUEST_ID_KEY,
    SERVICE_NAME,
    PredictionEndpoint,
    ServiceState,
    error_doc,
    iso,
)
from breast_cancer_ml.service.metrics import CONTENT_TYPE


class RawRoute(APIRoute):
    """A FastAPI route for the docs whose requests go straight to a raw ASGI endpoint."""

    def __init__(self, path: str, asgi: PredictionEndpoint, **kwargs: Any) -> None:
        async def documented_only() -> None:  # pragma: no cover - never called
            # FastAPI builds the OpenAPI entry from this function; requests never reach it,
            # because ``self.app`` below sends them to the raw ASGI endpoint instead.
            raise RuntimeError(f"{path} is served by its raw ASGI endpoint")

        super().__init__(path, documented_only, methods=["POST"], **kwargs)
        self.app = asgi  # type: ignore[assignment]


def _json_body(schema_name: str, extra: dict[str, Any] | None = None) -> dict[str, Any]:
    content: dict[str, Any] = {
        "application/json": {"schema": {"$ref": f"#/components/schemas/{schema_name}"}}
    }
    content.update(extra or {})
    return {"requestBody": {"required": True, "content": content}}


def _errors(model: Any, *codes: int) -> dict[int | str, dict[str, Any]]:
    text = {
        400: "Malformed JSON or an invalid value (MLflow protocol)",
        401: "Missing or wrong API key (when BCML_API_KEY is set)",
        408: "The body was not complete within body_timeout seconds; the connection is closed",
        413: "Body or batch too large",
        415: "Wrong or missing Content-Type",
        422: "Invalid input (a value beyond its feature's hard bound, ...); names the field",
        503: "No verified model loaded, or limit_concurrency reached (see Retry-After)",
    }
    return {code: {"model": model, "description": text[code]} for code in codes}


def prediction_routes(endpoints: dict[str, PredictionEndpoint]) -> list[APIRoute]:
    common: dict[str, Any] = {"tags": ["predictions"]}
    return [
        RawRoute(
            "/predict",
            endpoints["/predict"],
            summary="Predict one case",
            description=(
                'Body: `{"features": [30 numbers]}` in the dataset\'s feature order, or '
                '`{"features": {"radius_mean": ..., ...}}` with all 30 names. Each value must be '
                "finite, >= 0 and at most its feature's hard bound (in the schema). A case with "
                "a value outside the model's plausibility envelope is scored, flagged in "
                "`warnings` and `in_distribution: false`, and never reported with high confidence."
            ),
            response_model=schemas.PredictResponse,
            responses=_errors(schemas.ErrorResponse, 400, 401, 408, 413, 415, 422, 503),
            openapi_extra=_json_body("PredictRequest"),
            **common,
        ),
        RawRoute(
            "/predict/batch",
            endpoints["/predict/batch"],
            summary="Predict several cases",
            description='Body: `{"instances": [row, ...]}`, each row as for /predict.',
            response_model=schemas.BatchResponse,
            responses=_errors(schemas.ErrorResponse, 400, 401, 408, 413, 415, 422, 503),
            openapi_extra=_json_body("BatchRequest"),
            **common,
        ),
        RawRoute(
            "/invocations",
            endpoints["/invocations"],
            summary="MLflow scoring protocol (drop-in for `mlflow models serve`)",
            description=(
                "JSON with exactly one of `dataframe_split`, `dataframe_records`, `instances`, "
                "`inputs`, or `text/csv` with a header row; answers "
                '`{"predictions": [0 or 1, ...]}` as the MLflow scoring server does. Rows '
                "outside the model's plausibility envelope are flagged in headers, leaving the "
                "body as MLflow clients expect it: `X-BCML-Out-Of-Distribution` (how many) and "
                "`X-BCML-Out-Of-Distribution-Rows` (their 0-based positions, the first 100)."
            ),
            response_model=schemas.InvocationsResponse,
            responses=_errors(schemas.MlflowErrorResponse, 400, 401, 408, 413, 415, 503),
            openapi_extra=_json_body(
                "InvocationsRequest",
                {"text/csv": {"schema": {"type": "string"}, "example": "radius_mean,...\n"}},
            ),
            **common,
        ),
    ]


def info_router(state: ServiceState) -> APIRouter:
    router = APIRouter()
    holder = state.holder

    def model_status() -> schemas.ModelStatus:
        model = holder.current
        refusal = holder.refusal
        return schemas.ModelStatus(
            status=holder.status,
            run_id=model.run_id if model is not None else None,
            loaded_at=iso(holder.loaded_at) if model is not None else None,
            error=refusal.reason if refusal is not None else None,
            error_message=refusal.message if refusal is not None else None,
        )

    @router.get("/", response_model=schemas.Root, tags=["service"], summary="Service index")
    async def index() -> schemas.Root:
        model = holder.current
        return schemas.Root(
            name=SERVICE_NAME,
            version=__version__,
            api_version=API_VERSION,
            model_version=model.run_id if model is not None else None,
            links={
                "predict": "/predict",
                "batch": "/predict/batch",
                "invocations": "/invocations",
                "health": "/health",
                "ready": "/ready",
                "model_info": "/model/info",
                "metrics": "/metrics",
                "docs": "/docs",
                "openapi": "/openapi.json",
            },
        )

    @router.get(
        "/health",
        response_model=schemas.Health,
        tags=["service"],
        summary="Liveness: 200 while the process serves; model status in the body",
    )
    async def health() -> schemas.Health:
        return schemas.Health(
            status="ok",
            api_version=API_VERSION,
            version=__version__,
            uptime_s=round(time.time() - state.started, 3),
            model=model_status(),
        )

    @router.get(
        "/ready",
        response_model=schemas.Ready,
        tags=["service"],
        summary="Readiness: 200 only with a verified model loaded, else 503",
        responses={503: {"model": schemas.NotReady, "description": "No verified model"}},
    )
    async def ready(request: Request) -> Any:
        model = holder.current
        if model is not None:
            return schemas.Ready(
                ready=True,
                status="ready",
                model_version=model.run_id,
                registry_version=model.registry_version,
            )
        refusal = holder.refusal
        detail = (
            f"{refusal.reason}: {refusal.message}"
            if refusal is not None
            else "no model promoted yet; run `bcml train`"
        )
        doc = schemas.Ready(
            ready=False,
            status=holder.status,
            model_version=None,
            detail=detail,
            reason=refusal.reason if refusal is not None else None,
        )
        # the readiness fields, and the error shape every other error answer has
        rid = request.scope.get(REQUEST_ID_KEY, "")
        error = error_doc(503, detail, rid, code=doc.reason or holder.status)
        return JSONResponse(
            {**doc.model_dump(), "error": error["error"], "request_id": rid}, status_code=503
        )

    @router.get(
        "/model/info",
        response_model=schemas.ModelInfo,
        tags=["service"],
        summary="The served model: run id, data version, metrics, threshold, feature order",
        responses={503: {"model": schemas.ErrorResponse, "description": "No verified model"}},
    )
    async def model_info(request: Request) -> Any:
        model = holder.current
        if model is None:
            return JSONResponse(
                error_doc(
                    503,
                    f"no verified model is loaded ({holder.status}); see /ready",
                    request.scope.get(REQUEST_ID_KEY, ""),
                ),
                status_code=503,
                headers={"Retry-After": "5"},
            )
        meta = model.metadata
        return schemas.ModelInfo(
            run_id=model.run_id,
            registry_version=model.registry_version,
            promoted_at=meta.get("promoted_at"),
            data_version=meta.get("data_version"),
            model_type=meta.get("model_type"),
            model_uri=meta.get("model_uri"),
            registered_model=meta.get("registered_model"),
            metrics={k: float(v) for k, v in meta.get("metrics", {}).items()},
            threshold=model.threshold,
            gate=meta.get("gate"),
            feature_names=model.feature_names,
            loaded_at=iso(holder.loaded_at),
        )

    @router.get(
        "/metrics",
        tags=["service"],
        summary="Prometheus metrics (text format 0.0.4)",
        response_class=PlainTextResponse,
    )
    async def metrics() -> PlainTextResponse:
        model = holder.current
        text = state.metrics.render(model.run_id if model is not None else None, holder.status)
        return PlainTextResponse(text, media_type=CONTENT_TYPE)

    return router
