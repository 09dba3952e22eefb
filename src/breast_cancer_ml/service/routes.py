"""The FastAPI routes: the prediction routes, declared with their request contract, and the
info routes.

``/predict`` and ``/predict/batch`` take the bodies of :func:`.schemas.request_models`, built
from the running settings: FastAPI validates each request with them and documents them in
``/openapi.json``. These handlers answer whenever the app's fast path is off (CORS on, or
``create_app(..., fast_path=False)``); otherwise :class:`.app.ServiceApp` sends those requests
to the hand-written endpoints of :mod:`.endpoints`, proven equivalent by the tests.
``/invocations`` speaks MLflow's scoring protocol (JSON in four layouts, numbers as strings,
CSV), so its handler runs MLflow's parser (:func:`.inputs.mlflow_json`, :func:`.inputs.mlflow_csv`)
on the raw body; :class:`.schemas.InvocationsRequest` documents it.

Annotations are evaluated at definition time here (no ``from __future__ import annotations``):
the request models are built at run time, and FastAPI reads a route's types from its signature.
"""

import asyncio
import time
from collections.abc import Callable, Coroutine
from typing import Annotated, Any, Final

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from fastapi.routing import APIRoute

from breast_cancer_ml import __version__
from breast_cancer_ml.service import schemas
from breast_cancer_ml.service.endpoints import (
    API_VERSION,
    DECISION_PARAM,
    EXPLAIN_PARAM,
    REQUEST_ID_KEY,
    SERVICE_NAME,
    Answer,
    ServiceState,
    batch_answer,
    error_doc,
    handle_invocations,
    iso,
    predict_answer,
    require_json,
    served_model,
    wants_flag,
)
from breast_cancer_ml.service.inputs import InputError, parse_json, to_array
from breast_cancer_ml.service.metrics import CONTENT_TYPE, reference_rates


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
        501: "An explanation was asked of a model that cannot be explained here (the message "
        "says why: the `explain` extra is missing, or re-promote the model)",
        503: "No verified model loaded, or limit_concurrency reached (see Retry-After)",
    }
    return {code: {"model": model, "description": text[code]} for code in codes}


class BodyError(HTTPException):
    """A body the JSON decoder refuses (malformed, a key given twice), carrying the
    :class:`InputError` that says why; FastAPI re-raises an ``HTTPException`` from its body
    parsing as it is, and the app answers it in the service's error shape."""

    def __init__(self, error: InputError) -> None:
        super().__init__(error.status, error.message)
        self.error = error


class _ContractRequest(Request):
    """A prediction route's request: its JSON decoded as the fast path decodes it
    (:func:`.inputs.parse_json`), so both paths refuse the same malformed bodies."""

    async def json(self) -> Any:
        try:
            return parse_json(await self.body())
        except InputError as exc:
            raise BodyError(exc) from None


class ContractRoute(APIRoute):
    """FastAPI's documented way to change how a route reads its request (a custom
    ``APIRoute`` whose handler gets a custom ``Request``)."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def contract_handler(request: Request) -> Response:
            return await handler(_ContractRequest(request.scope, request.receive))

        return contract_handler


#: ``?explain=true`` as documented (read from the raw query by :func:`_explain`, as the fast
#: path reads it, so both accept the same values).
EXPLAIN_QUERY: Final = {
    "name": EXPLAIN_PARAM,
    "in": "query",
    "required": False,
    "schema": {"type": "boolean", "default": False},
    "description": "true: each answered case carries its explanation (docs/serving.md).",
}


def _explain(request: Request) -> bool:
    query: bytes = request.scope.get("query_string", b"")
    return query != b"" and wants_flag(query, EXPLAIN_PARAM)


def _explainer_info(model: Any) -> dict[str, Any] | None:
    """How ``?explain=true`` explains the served model (its parameters without the
    background), or ``None`` when it cannot (a non-linear model promoted before them)."""
    if not model.explainer.slow:
        return {"method": model.explainer.method, "output": "log_odds"}
    params = model.explainer_params
    if params is None or params.method != model.explainer.method:
        return None
    return dict(params.model_dump(exclude={"background", "weights"}))


def _response(state: ServiceState, answer: Answer, request: Request, model: Any) -> Response:
    state.metrics.count_predictions(answer.malignant, answer.rows, answer.outside, answer.decisions)
    if state.prediction_log is not None:
        scope = request.scope
        rid = scope.get(REQUEST_ID_KEY, "")
        state.prediction_log.put(rid, scope["path"], model, answer.cases, answer.rows)
    headers = {k.decode(): v.decode() for k, v in answer.headers}
    return Response(answer.body, media_type="application/json", headers=headers)


def prediction_router(state: ServiceState) -> APIRouter:
    """``/predict``, ``/predict/batch`` and ``/invocations``; the API key, the body size and
    the body deadline are checked before FastAPI reads a body (:class:`.api.Admission`)."""
    models = schemas.request_models(state.settings.max_batch_rows)
    router = APIRouter(tags=["predictions"], route_class=ContractRoute)

    def json_only(request: Request) -> None:
        require_json(request.headers.get("content-type", "").encode("latin-1"))

    JsonOnly = Annotated[None, Depends(json_only)]

    @router.post(
        "/predict",
        summary="Predict one case",
        description=(
            'Body: `{"features": [30 numbers]}` in the dataset\'s feature order, or '
            '`{"features": {"radius_mean": ..., ...}}` with all 30 names. Each value must be '
            "finite, >= 0 and at most its feature's hard bound (in the schema). A case with "
            "a value outside the model's plausibility envelope is scored, flagged in "
            "`warnings` and `in_distribution: false`, never reported with high confidence, "
            "and referred (`decision: refer`). Every answer carries `decision` and "
            "`prediction_set` (the refer rule: docs/serving.md)."
        ),
        response_model=schemas.PredictResponse,
        responses=_errors(schemas.ErrorResponse, 400, 401, 408, 413, 415, 422, 501, 503),
        openapi_extra={"parameters": [EXPLAIN_QUERY]},
    )
    async def predict(body: models.predict, _: JsonOnly, request: Request) -> Response:  # type: ignore[name-defined]
        explain = _explain(request) or body.explain
        model = served_model(state)
        args = (state, model, body.values(), explain)
        if explain and model.explainer.slow:  # Kernel SHAP: off the event loop, as the fast path
            answer = await asyncio.to_thread(predict_answer, *args)
        else:
            answer = predict_answer(*args)
        return _response(state, answer, request, model)

    @router.post(
        "/predict/batch",
        summary="Predict several cases",
        description=(
            'Body: `{"instances": [row, ...]}`, each row as for /predict; at most '
            f"{state.settings.max_batch_rows:,} rows (max_batch_rows)."
        ),
        response_model=schemas.BatchResponse,
        responses=_errors(schemas.ErrorResponse, 400, 401, 408, 413, 415, 422, 501, 503),
        openapi_extra={"parameters": [EXPLAIN_QUERY]},
    )
    async def predict_batch(body: models.batch, _: JsonOnly, request: Request) -> Response:  # type: ignore[name-defined]
        X = to_array(body.rows())
        explain = _explain(request) or body.explain
        model = served_model(state)
        if explain and model.explainer.slow:
            answer = await asyncio.to_thread(batch_answer, state, model, X, True)
        else:
            answer = batch_answer(state, model, X, explain)
        return _response(state, answer, request, model)

    @router.post(
        "/invocations",
        summary="MLflow scoring protocol (drop-in for `mlflow models serve`)",
        description=(
            "JSON with exactly one of `dataframe_split`, `dataframe_records`, `instances`, "
            "`inputs`, or `text/csv` with a header row; answers "
            '`{"predictions": [0 or 1, ...]}` as the MLflow scoring server does. Rows '
            "outside the model's plausibility envelope are flagged in headers, leaving the "
            "body as MLflow clients expect it: `X-BCML-Out-Of-Distribution` (how many) and "
            "`X-BCML-Out-Of-Distribution-Rows` (their 0-based positions, the first 100). "
            "With `?decision=true` each prediction is a record "
            '`{"prediction", "decision", "prediction_set"}` (MLflow\'s layout of a DataFrame '
            "answer); without it the body is exactly MLflow's."
        ),
        response_model=schemas.InvocationsResponse,
        responses=_errors(schemas.MlflowErrorResponse, 400, 401, 408, 413, 415, 503),
        openapi_extra={
            **_json_body(
                "InvocationsRequest",
                {"text/csv": {"schema": {"type": "string"}, "example": "radius_mean,...\n"}},
            ),
            "parameters": [
                {
                    "name": DECISION_PARAM,
                    "in": "query",
                    "required": False,
                    "schema": {"type": "boolean", "default": False},
                    "description": "true: each row's decision and prediction set as well.",
                }
            ],
        },
    )
    async def invocations(request: Request) -> Response:
        content_type = request.headers.get("content-type", "").encode("latin-1")
        body = await request.body()
        model = served_model(state)
        query = request.scope.get("query_string", b"")
        answer = handle_invocations(state, model, content_type, body, query)
        return _response(state, answer, request, model)

    return router


#: The media type of each ``/model/card`` format.
CARD_MEDIA_TYPES: Final = {"md": "text/markdown; charset=utf-8", "html": "text/html; charset=utf-8"}


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

    def registry_status() -> schemas.RegistryStatus | None:
        status = holder.registry_status()
        return None if status is None else schemas.RegistryStatus(**status)

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
                "model_card": "/model/card",
                "metrics": "/metrics",
                "docs": "/docs",
                "ui": "/ui",
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
            registry=registry_status(),
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
            return _no_model(request)
        record = model.record
        conformal = model.conformal
        return schemas.ModelInfo(
            run_id=model.run_id,
            registry_version=model.registry_version,
            promoted_at=record.promoted_at if record else None,
            data_version=record.data_version if record else None,
            model_type=record.model_type if record else None,
            model_uri=record.model_uri if record else None,
            registered_model=(
                record.registered_model.model_dump() if record and record.registered_model else None
            ),
            metrics=dict(record.metrics) if record else {},
            threshold=model.threshold,
            gate=record.gate.model_dump() if record and record.gate else None,
            refer_rule=conformal.to_metadata() if conformal is not None else None,
            explainer=_explainer_info(model),
            feature_names=model.feature_names,
            loaded_at=iso(holder.loaded_at),
        )

    def _no_model(request: Request) -> JSONResponse:
        return JSONResponse(
            error_doc(
                503,
                f"no verified model is loaded ({holder.status}); see /ready",
                request.scope.get(REQUEST_ID_KEY, ""),
            ),
            status_code=503,
            headers={"Retry-After": "5"},
        )

    @router.get(
        "/model/card",
        tags=["service"],
        summary="The served model's card (MODEL_CARD.md; ?format=html for MODEL_CARD.html)",
        response_class=PlainTextResponse,
        responses={
            200: {
                "content": {"text/markdown": {"schema": {"type": "string"}}, "text/html": {}},
                "description": "The card published beside the served model at promotion.",
            },
            400: {"model": schemas.ErrorResponse, "description": "format is not md or html"},
            404: {"model": schemas.ErrorResponse, "description": "The model has no card"},
            503: {"model": schemas.ErrorResponse, "description": "No verified model"},
        },
    )
    async def model_card(request: Request, format: str = "md") -> Any:
        model = holder.current  # read once: the card of the model that answers now
        rid = request.scope.get(REQUEST_ID_KEY, "")
        if format not in CARD_MEDIA_TYPES:
            return JSONResponse(
                error_doc(400, "format must be md or html", rid, field="format"),
                status_code=400,
            )
        if model is None:
            return _no_model(request)
        path = model.card_path(format)
        text = None
        if path is not None:
            try:
                text = path.read_text(encoding="utf-8")
            except OSError:
                text = None
        if text is None:
            return JSONResponse(
                error_doc(
                    404,
                    f"the served model ({model.run_id}) was published without a model card "
                    f"({'MODEL_CARD.html' if format == 'html' else 'MODEL_CARD.md'}); "
                    "promote a model trained by a bcml that writes one",
                    rid,
                ),
                status_code=404,
            )
        return Response(text, media_type=CARD_MEDIA_TYPES[format])

    @router.get(
        "/metrics",
        tags=["service"],
        summary="Prometheus metrics (text format 0.0.4)",
        response_class=PlainTextResponse,
    )
    async def metrics() -> PlainTextResponse:
        model = holder.current
        profile = model.drift_profile if model is not None else None
        text = state.metrics.render(
            model.run_id if model is not None else None,
            holder.status,
            None if profile is None else reference_rates(profile),
        )
        return PlainTextResponse(text, media_type=CONTENT_TYPE)

    return router
