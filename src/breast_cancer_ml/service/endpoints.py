"""The fast path's prediction endpoints, as raw ASGI handlers, and what every request gets.

:class:`PredictionEndpoint` admits a request (API key, body size, body deadline: the same
:meth:`~PredictionEndpoint.admit` guards the declared routes), checks its body with
:mod:`.inputs`, scores it with :func:`breast_cancer_ml.domain.scoring.score` (the one scoring
implementation) and writes orjson bytes, without FastAPI's per-request dependency and
validation machinery, which costs more than the prediction itself. The answers are built by
:func:`predict_answer` and :func:`batch_answer`, which the declared routes (:mod:`.routes`)
call too. :class:`Observer` gives each request its id, metrics, access log line and a safe
500. Nothing here imports FastAPI: the app answers predictions before FastAPI is imported
(see :mod:`.app`).
"""

from __future__ import annotations

import asyncio
import hmac
import itertools
import logging
import re
import secrets
import time
from collections.abc import Awaitable, Callable, MutableMapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, NamedTuple

import numpy as np
import orjson

from breast_cancer_ml.domain.contract import Envelope
from breast_cancer_ml.domain.explain import KERNEL_SHAP
from breast_cancer_ml.domain.refer import refer_one, refer_rows
from breast_cancer_ml.domain.schema import CLASS_NAMES
from breast_cancer_ml.domain.scoring import Scored, confidence, score, score_one
from breast_cancer_ml.errors import ExplanationUnavailableError
from breast_cancer_ml.service.inputs import (
    InputError,
    batch_features,
    mlflow_csv,
    mlflow_json,
    parse_json,
    single_row,
    to_array,
    wants_explanation,
)
from breast_cancer_ml.service.metrics import Metrics
from breast_cancer_ml.service.model_holder import ModelHolder
from breast_cancer_ml.service.prediction_log import MlflowRows, OneCase, PredictionLog, Rows
from breast_cancer_ml.service.startup import permit_explainer_imports
from breast_cancer_ml.settings import ServeSettings

API_VERSION: Final = "1"
SERVICE_NAME: Final = "breast-cancer-ml"
REQUEST_ID_KEY: Final = "bcml.request_id"  # set on the ASGI scope by the middleware

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

_JSON: Final = b"application/json"
_CSV: Final = b"text/csv"


class BodyTooLargeError(Exception):
    pass


class ClientGoneError(Exception):
    pass


#: The ``error.code`` of each status, unless the error names a more precise one.
ERROR_CODES: Final = {
    400: "bad_request",
    401: "unauthorized",
    404: "not_found",
    405: "method_not_allowed",
    408: "body_timeout",
    413: "too_large",
    415: "unsupported_media_type",
    422: "invalid_input",
    500: "internal_error",
    501: "explanation_unavailable",
    503: "unavailable",
}


def error_doc(
    status: int,
    message: str,
    rid: str,
    field: str | None = None,
    code: str | None = None,
    *,
    mlflow: bool = False,
) -> dict[str, Any]:
    """The one shape of every error answer.

    ``{"error": {"status", "code", "message", "field"}, "request_id"}``, plus the top-level
    fields existing clients read: ``detail`` and ``field`` (this API's answers before the
    shape was shared), or ``error_code`` and ``message`` on ``/invocations`` (MLflow's
    scoring server, whose clients read those).
    """
    code = code or ERROR_CODES.get(status, "error")
    doc: dict[str, Any] = {
        "error": {"status": status, "code": code, "message": message, "field": field}
    }
    if mlflow:
        doc["error_code"] = "INVALID_PARAMETER_VALUE" if field and status == 400 else "BAD_REQUEST"
        doc["message"] = message
    else:
        doc["detail"] = message
        doc["field"] = field
    doc["request_id"] = rid
    return doc


@dataclass
class ServiceState:
    """Everything the handlers share; one per app."""

    settings: ServeSettings
    holder: ModelHolder
    metrics: Metrics = field(default_factory=Metrics)
    started: float = field(default_factory=time.time)

    def __post_init__(self) -> None:
        key = self.settings.api_key
        # settings refuse a key shorter than 16 characters, so "Bearer " alone never matches
        self.auth: bytes | None = (
            b"Bearer " + key.get_secret_value().encode() if key is not None else None
        )
        self.in_flight = 0  # requests being handled now (limit_concurrency)
        self.plausibility = Plausibility()
        self.body_deadline = BodyDeadline(self.settings.body_timeout)
        #: the prediction log (``prediction_log`` set), else None: one test per answer
        self.prediction_log: PredictionLog | None = None
        if self.settings.prediction_log is not None:
            self.prediction_log = PredictionLog(
                self.settings.prediction_log, log_features=self.settings.log_features
            )
            self.metrics.prediction_log = self.prediction_log


def iso(ts: float | None) -> str | None:
    if ts is None:
        return None
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts))


async def read_body(receive: Receive, limit: int) -> bytes:
    message = await receive()
    if message["type"] == "http.disconnect":
        raise ClientGoneError
    body: bytes = message.get("body", b"")
    if not message.get("more_body", False):
        if len(body) > limit:
            raise BodyTooLargeError
        return body
    chunks = [body]
    size = len(body)
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientGoneError
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise BodyTooLargeError
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


class BodyDeadline:
    """The body deadline: a request's body must be complete ``seconds`` after its read began.

    A client trickling its body (or sending none) must not hold a connection forever. A
    request registers while it reads its body (a dict entry: a timer per request would cost
    more than the rest of the read); :meth:`watch`, one task for the whole
    service, cancels each read that is overdue, which :meth:`read` turns into ``TimeoutError``.
    A read is stopped between ``seconds`` and ``seconds`` + :attr:`tick` after it began.
    """

    _CANCEL_MESSAGE: Final = "bcml: body deadline passed"

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.tick = min(1.0, seconds / 4)
        self.reading: dict[asyncio.Task[Any], float] = {}

    async def read(self, receive: Receive, limit: int) -> bytes:
        """:func:`read_body`, or ``TimeoutError`` once the deadline has passed."""
        task = asyncio.current_task()
        if task is None:  # pragma: no cover - ASGI servers run each request in a task
            return await read_body(receive, limit)
        self.reading[task] = time.monotonic()
        try:
            return await read_body(receive, limit)
        except asyncio.CancelledError as exc:
            if exc.args != (self._CANCEL_MESSAGE,):
                raise  # cancelled by someone else (shutdown): not ours to swallow
            task.uncancel()
            raise TimeoutError from None
        finally:
            self.reading.pop(task, None)

    async def watch(self) -> None:
        """Cancel overdue body reads, every :attr:`tick` seconds, until cancelled."""
        while True:
            await asyncio.sleep(self.tick)
            overdue = time.monotonic() - self.seconds
            for task, began in list(self.reading.items()):
                if began <= overdue:
                    del self.reading[task]
                    task.cancel(self._CANCEL_MESSAGE)


async def send_bytes(
    send: Send, status: int, body: bytes, content_type: bytes = _JSON, extra: Any = ()
) -> None:
    headers = [(b"content-type", content_type), (b"content-length", str(len(body)).encode())]
    headers.extend(extra)
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class Answer(NamedTuple):
    """A handler's result: the JSON body, what the metrics count, and extra headers."""

    body: bytes
    rows: int
    malignant: int
    outside: int  # rows outside the model's plausibility envelope
    headers: tuple[tuple[bytes, bytes], ...] = ()
    #: rows decided malignant, decided benign, referred (zeros where no decision was asked)
    decisions: tuple[int, int, int] = (0, 0, 0)
    #: what the prediction log records of the answered cases (:mod:`.prediction_log`)
    cases: Any = None


Handler = Callable[[ServiceState, Any, bytes, bytes, bytes], Answer]
"""(state, model, content type, body, query string) -> the answer."""


class PredictionEndpoint:
    """A raw ASGI endpoint: auth, content type, body, model, handler, errors.

    Returns the response status (the app's fast dispatch records it in the metrics) and sets
    the ``X-Request-ID`` header itself.
    """

    def __init__(self, state: ServiceState, handler: Handler, mlflow_errors: bool) -> None:
        self.state = state
        self.handler = handler
        self.mlflow_errors = mlflow_errors

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> int:
        body = await self.admit(scope, receive, send)
        if isinstance(body, int):
            return body
        state = self.state
        try:
            model = served_model(state)  # read once: this request uses this model throughout
            query = scope["query_string"]
            args = (state, model, _header(scope, b"content-type"), body, query)
            if (b"explain" in query or b"explain" in body) and model.explainer.slow:
                # Kernel SHAP takes far longer than a prediction: off the event loop, so the
                # worker keeps answering other requests (and /health) meanwhile
                answer = await asyncio.to_thread(self.handler, *args)
            else:
                answer = self.handler(*args)
        except InputError as exc:
            retry = [(b"retry-after", b"5")] if exc.status == 503 else ()
            return await self.error(scope, send, exc, extra=retry)
        state.metrics.count_predictions(
            answer.malignant, answer.rows, answer.outside, answer.decisions
        )
        if state.prediction_log is not None:
            state.prediction_log.put(
                scope[REQUEST_ID_KEY], scope["path"], model, answer.cases, answer.rows
            )
        rid = (b"x-request-id", scope[REQUEST_ID_KEY].encode())
        extra = (rid, *answer.headers) if answer.headers else (rid,)
        await send_bytes(send, 200, answer.body, extra=extra)
        return 200

    async def admit(self, scope: Scope, receive: Receive, send: Send) -> bytes | int:
        """What a prediction request must pass before its body is parsed, on either path: the
        API key, the body size and the body deadline. The whole body, or the status of the
        error answer already sent."""
        state = self.state
        settings = state.settings
        auth = None
        for key, value in scope["headers"]:
            if key == b"authorization":
                auth = value
            elif key == b"content-length" and (
                not value.isdigit() or int(value) > settings.max_body_bytes
            ):
                return await self.error(scope, send, too_large(settings.max_body_bytes))
        if state.auth is not None and (auth is None or not hmac.compare_digest(auth, state.auth)):
            return await self.error(
                scope,
                send,
                InputError(
                    "missing or wrong API key: send 'Authorization: Bearer <key>'", None, 401
                ),
                extra=[(b"www-authenticate", b"Bearer")],
            )
        try:
            return await state.body_deadline.read(receive, settings.max_body_bytes)
        except BodyTooLargeError:
            return await self.error(scope, send, too_large(settings.max_body_bytes))
        except ClientGoneError:
            return 499  # the client closed the connection; nothing to answer
        except TimeoutError:
            return await self.error(
                scope,
                send,
                InputError(
                    f"the request body was not complete within {settings.body_timeout:g} s "
                    "(body_timeout); send the whole body at once",
                    None,
                    408,
                ),
                extra=[(b"connection", b"close")],
            )

    async def error(self, scope: Scope, send: Send, exc: InputError, extra: Any = ()) -> int:
        rid = scope[REQUEST_ID_KEY]
        doc = error_doc(
            exc.status, exc.message, rid, exc.field, exc.code, mlflow=self.mlflow_errors
        )
        headers = [*extra, (b"x-request-id", rid.encode())]
        await send_bytes(send, exc.status, orjson.dumps(doc), extra=headers)
        return exc.status


def _header(scope: Scope, name: bytes) -> bytes:
    for key, value in scope["headers"]:
        if key == name:
            return bytes(value)
    return b""


def served_model(state: ServiceState) -> Any:
    """The model to answer with, or the 503 :class:`InputError` when none is verified."""
    model = state.holder.current
    if model is None:
        raise InputError(
            f"no verified model is loaded ({state.holder.status}); see /ready", None, 503
        )
    return model


def too_large(limit: int) -> InputError:
    return InputError(
        f"the request body is larger than the limit of {limit} bytes (max_body_bytes); "
        "split the batch",
        None,
        413,
    )


def _media_type(content_type: bytes) -> bytes:
    return content_type.split(b";", 1)[0].strip().lower()


def require_json(content_type: bytes) -> None:
    """415 unless the media type is ``application/json``."""
    if _media_type(content_type) != _JSON:
        if not content_type:
            message = "no Content-Type header; send application/json"
        else:
            message = (
                f"Content-Type must be application/json, got {content_type.decode('latin-1')!r}"
            )
        raise InputError(message, "content-type", 415)


class Plausibility:
    """The served model's envelope, cached for a cheap in-range test of whole rows.

    Rebuilt only when the model (so its envelope) changes: a request compares its rows with
    the cached bounds, and builds warnings only for a row with a value out of range.
    """

    def __init__(self) -> None:
        self._envelope: Envelope | None = None
        self._low: Any = None
        self._high: Any = None
        self._bounds: list[tuple[float, float]] = []

    def _use(self, envelope: Envelope) -> None:
        if envelope is not self._envelope:
            self._low = np.asarray(envelope.low)
            self._high = np.asarray(envelope.high)
            self._bounds = list(zip(envelope.low, envelope.high, strict=True))
            self._envelope = envelope

    def outside_one(self, envelope: Envelope, values: Sequence[float]) -> bool:
        """Whether one case (its 30 values, as parsed) has a value outside ``envelope``: 30
        chained comparisons, cheaper than three numpy calls on a single row."""
        self._use(envelope)
        for v, (low, high) in zip(values, self._bounds, strict=True):
            if not (low <= v <= high):
                return True
        return False

    def outside(self, envelope: Envelope, X: Any) -> list[int]:
        """The positions of the rows of ``X`` with a value outside ``envelope``."""
        self._use(envelope)
        if len(X) == 1:
            return [0] if self.outside_one(envelope, X[0].tolist()) else []
        inside = ((self._low <= X) & (self._high >= X)).all(axis=1)
        return np.flatnonzero(~inside).tolist()


def _flag(
    state: ServiceState, model: Any, X: Any, scored: Scored
) -> tuple[list[Any], int, tuple[int, int, int]]:
    """The records of ``scored``, each with ``decision``, ``prediction_set``, ``warnings`` and
    ``in_distribution`` (None when the model carries no envelope), the number of rows outside
    the envelope, and the decision counts (:attr:`Answer.decisions`)."""
    records = scored.records()
    envelope: Envelope | None = model.envelope
    in_envelope = None
    outside: list[int] = []
    if envelope is None:  # a bare MLflow model: no envelope, never high confidence
        for rec in records:
            rec["confidence"] = confidence(rec["probability"], in_distribution=False)
            rec["warnings"] = []
            rec["in_distribution"] = None
    else:
        for rec in records:
            rec["warnings"] = []
            rec["in_distribution"] = True
        outside = state.plausibility.outside(envelope, X)
        in_envelope = np.ones(len(records), dtype=bool)
        in_envelope[outside] = False
        for i in outside:  # the rare case: build the warnings only now
            rec = records[i]
            rec["confidence"] = confidence(rec["probability"], in_distribution=False)
            rec["warnings"] = [w.as_dict() for w in envelope.warnings(X[i])]
            rec["in_distribution"] = False
    referral = refer_rows(model.conformal, scored.probability, scored.prediction, in_envelope)
    for rec, decision, names in zip(
        records, referral.decision.tolist(), _set_lists(referral.sets), strict=True
    ):
        rec["decision"] = decision
        rec["prediction_set"] = names
    counts = referral.counts()
    return records, len(outside), (counts["malignant"], counts["benign"], counts["refer"])


#: A set's class names by (benign in it, malignant in it).
_SET_NAMES: Final = {
    (False, False): [],
    (False, True): [CLASS_NAMES[1]],
    (True, False): [CLASS_NAMES[0]],
    (True, True): [CLASS_NAMES[0], CLASS_NAMES[1]],
}


def _set_lists(sets: Any) -> list[list[str]]:
    """Each row of an ``(n, 2)`` set array as a fresh list of class names."""
    return [list(_SET_NAMES[b, m]) for b, m in sets.tolist()]


def handle_predict(
    state: ServiceState, model: Any, content_type: bytes, body: bytes, query: bytes = b""
) -> Answer:
    """The fast path of ``/predict``: the body parsed by hand (:mod:`.inputs`), then scored."""
    require_json(content_type)
    doc = parse_json(body)
    values = single_row(doc)
    # without `explain` in the query or the body: two cheap checks, nothing else
    explain = (query != b"" and wants_flag(query, EXPLAIN_PARAM)) or (
        len(doc) == 2 and wants_explanation(doc)
    )
    return predict_answer(state, model, values, explain)


def predict_answer(
    state: ServiceState, model: Any, values: Sequence[float], explain: bool = False
) -> Answer:
    """The answer of ``/predict`` for one case's 30 checked values, in FEATURES order, with
    its ``explanation`` when ``explain``."""
    X = to_array([values])
    threshold = model.threshold
    probability, prediction = score_one(model.proba, X, threshold)
    envelope: Envelope | None = model.envelope
    warnings: list[dict[str, Any]] = []
    in_distribution: bool | None = True
    if envelope is None:  # a bare MLflow model: no envelope, never high confidence
        in_distribution = None
    elif state.plausibility.outside_one(envelope, values):  # the rare case: build warnings
        warnings = [w.as_dict() for w in envelope.warnings(X[0])]
        in_distribution = False
    prediction_set, decision = refer_one(model.conformal, probability, prediction, in_distribution)
    answer = {
        "prediction": prediction,
        "prediction_label": CLASS_NAMES[prediction],
        "probability": probability,
        "confidence": confidence(probability, in_distribution is True),
        "decision": decision,
        "prediction_set": prediction_set,
        "warnings": warnings,
        "in_distribution": in_distribution,
        "threshold": threshold,
        "model_version": model.run_id,
        "registry_version": model.registry_version,
        "api_version": API_VERSION,
    }
    if explain:
        answer["explanation"] = explanations(model, X)[0]
    return Answer(
        orjson.dumps(answer),
        1,
        prediction,
        0 if in_distribution is not False else 1,
        decisions=_ONE_DECISION[decision],
        cases=(
            OneCase(X, probability, prediction, decision, warnings, in_distribution)
            if state.prediction_log is not None  # built only when it is written
            else None
        ),
    )


#: Answer.decisions of one case, by its decision.
_ONE_DECISION: Final = {"malignant": (1, 0, 0), "benign": (0, 1, 0), "refer": (0, 0, 1)}


def handle_batch(
    state: ServiceState, model: Any, content_type: bytes, body: bytes, query: bytes = b""
) -> Answer:
    """The fast path of ``/predict/batch``: the body parsed by hand, then scored."""
    require_json(content_type)
    doc = parse_json(body)
    X = batch_features(doc, state.settings.max_batch_rows)
    explain = (query != b"" and wants_flag(query, EXPLAIN_PARAM)) or (
        len(doc) == 2 and wants_explanation(doc)
    )
    return batch_answer(state, model, X, explain)


def batch_answer(state: ServiceState, model: Any, X: Any, explain: bool = False) -> Answer:
    """The answer of ``/predict/batch`` for the checked rows ``X`` (n, 30), each with its
    ``explanation`` when ``explain``."""
    scored = score(model.proba, X, model.threshold)
    records, outside, decisions = _flag(state, model, X, scored)
    if explain:
        for rec, doc in zip(records, explanations(model, X), strict=True):
            rec["explanation"] = doc
    common = {
        "threshold": scored.threshold,
        "model_version": model.run_id,
        "registry_version": model.registry_version,
        "api_version": API_VERSION,
    }
    rows = [{**r, **common} for r in records]
    doc = {
        "predictions": rows,
        "count": len(rows),
        "out_of_distribution": outside,
        "model_version": model.run_id,
        "registry_version": model.registry_version,
        "api_version": API_VERSION,
    }
    return Answer(
        orjson.dumps(doc),
        len(rows),
        int(scored.prediction.sum()),
        outside,
        decisions=decisions,
        cases=Rows(X, records) if state.prediction_log is not None else None,
    )


#: Response header of /invocations: how many rows lie outside the model's envelope, and
#: which (0-based, the first :data:`MAX_LISTED_ROWS`). MLflow's body stays as MLflow writes it.
OUT_OF_RANGE_HEADER: Final = b"x-bcml-out-of-distribution"
OUT_OF_RANGE_ROWS_HEADER: Final = b"x-bcml-out-of-distribution-rows"
MAX_LISTED_ROWS: Final = 100


#: The query parameter of /invocations asking for each row's decision and prediction set.
DECISION_PARAM: Final = "decision"
_TRUE: Final = frozenset({"true", "1", "yes"})
_FALSE: Final = frozenset({"false", "0", "no", ""})


#: The query parameter of /predict and /predict/batch asking for explanations.
EXPLAIN_PARAM: Final = "explain"


def wants_decision(query: bytes) -> bool:
    """Whether the query string asks for decisions (``?decision=true``)."""
    return wants_flag(query, DECISION_PARAM)


def wants_flag(query: bytes, name: str) -> bool:
    """Whether the query string sets the flag ``name`` (``?name=true``); 400 naming the
    parameter for a value that is neither true nor false. Other parameters are ignored, as
    MLflow's scoring server ignores them."""
    if not query:
        return False
    from urllib.parse import parse_qsl

    values = [v for k, v in parse_qsl(query.decode("latin-1"), keep_blank_values=True) if k == name]
    if not values:
        return False
    value = values[-1].strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise InputError(
        f"query parameter {name!r} must be true or false, got {values[-1][:40]!r}", name, 400
    )


def explanations(model: Any, X: Any) -> list[dict[str, Any]]:
    """The ``explanation`` object of each row of ``X`` (domain/explain.py), or the 501 a
    client can act on when this model cannot be explained here."""
    explainer = model.explainer
    try:
        if explainer.method == KERNEL_SHAP:  # never for a linear model
            permit_explainer_imports()
        return list(explainer.explain(X).docs(X))
    except ExplanationUnavailableError as exc:
        raise InputError(str(exc), EXPLAIN_PARAM, 501) from None


def handle_invocations(
    state: ServiceState, model: Any, content_type: bytes, body: bytes, query: bytes = b""
) -> Answer:
    """The scoring protocol of ``mlflow models serve``: its content-type rules, its formats,
    and ``{"predictions": [...]}`` holding ``predict()`` (0/1) as its pyfunc answers.

    With ``?decision=true`` each prediction becomes a record of three columns, as MLflow
    writes a pyfunc's DataFrame output: ``{"prediction": 0/1, "decision": ...,
    "prediction_set": [...]}``. Without it the body is exactly MLflow's."""
    decision = wants_decision(query)
    parts = [p.strip() for p in content_type.decode("latin-1").split(";")]
    mime = parts[0]
    params = dict(p.partition("=")[::2] for p in parts[1:] if p)
    if params.get("charset", "utf-8").lower() != "utf-8":
        raise InputError("The scoring server only supports UTF-8", "content-type", 415)
    if set(params) - {"charset"}:
        raise InputError(
            f"Unrecognized content type parameters: {', '.join(sorted(set(params) - {'charset'}))}",
            "content-type",
            415,
        )
    max_rows = state.settings.max_batch_rows
    if mime == "application/json":
        X = mlflow_json(parse_json(body), max_rows)
    elif mime == "text/csv":
        X = mlflow_csv(body, max_rows)
    elif not mime:
        raise InputError(
            "no Content-Type header; send application/json or text/csv", "content-type", 415
        )
    else:
        raise InputError(
            "This predictor only supports the following content types: "
            f"['text/csv', 'application/json']. Got {mime!r}.",
            "content-type",
            415,
        )
    scored = score(model.proba, X, model.threshold)
    pred = scored.prediction
    envelope = model.envelope
    outside = [] if envelope is None else state.plausibility.outside(envelope, X)
    if not decision:
        body_out = orjson.dumps({"predictions": pred.tolist()})
        decisions = (0, 0, 0)
        decided = None
    else:
        in_envelope = None
        if envelope is not None:
            in_envelope = np.ones(len(pred), dtype=bool)
            in_envelope[outside] = False
        referral = refer_rows(model.conformal, scored.probability, pred, in_envelope)
        rows = [
            {"prediction": p, "decision": d, "prediction_set": names}
            for p, d, names in zip(
                pred.tolist(), referral.decision.tolist(), _set_lists(referral.sets), strict=True
            )
        ]
        body_out = orjson.dumps({"predictions": rows})
        decided = referral.decision.tolist()
        counts = referral.counts()
        decisions = (counts["malignant"], counts["benign"], counts["refer"])
    cases = (
        MlflowRows(X, scored.probability, pred, outside, decided)
        if state.prediction_log is not None
        else None
    )
    if envelope is None:
        return Answer(body_out, len(pred), int(pred.sum()), 0, decisions=decisions, cases=cases)
    headers: tuple[tuple[bytes, bytes], ...] = ((OUT_OF_RANGE_HEADER, str(len(outside)).encode()),)
    if outside:
        listed = ",".join(map(str, outside[:MAX_LISTED_ROWS]))
        headers += ((OUT_OF_RANGE_ROWS_HEADER, listed.encode()),)
    return Answer(body_out, len(pred), int(pred.sum()), len(outside), headers, decisions, cases)


log = logging.getLogger("breast_cancer_ml.service")
access_log = logging.getLogger("breast_cancer_ml.service.access")
_REQUEST_ID: Final = re.compile(rb"[A-Za-z0-9._:-]{1,128}")
_ID_PREFIX: Final = secrets.token_hex(4)  # per process: ids stay unique across workers
_ids = itertools.count(1)


def _request_id(scope: Scope) -> str:
    """The caller's ``X-Request-ID`` if it is short and plain (it is echoed and logged), else a
    new one: a random per-process prefix and a counter (unique; cheaper than uuid4)."""
    for key, value in scope["headers"]:
        if key == b"x-request-id":
            if _REQUEST_ID.fullmatch(value):
                return str(value.decode("ascii"))
            break
    return f"{_ID_PREFIX}-{next(_ids):x}"


def _internal_error(rid: str, path: str = "") -> bytes:
    return orjson.dumps(
        error_doc(
            500,
            "internal error; quote the request id when reporting it",
            rid,
            mlflow=path == "/invocations",
        )
    )


#: Seconds a client is asked to wait (``Retry-After``) when the service is at its limit.
RETRY_AFTER_S: Final = 1


async def send_overloaded(send: Send, scope: Scope, rid: str, limit: int) -> int:
    """503 with ``Retry-After``: ``limit`` requests are being handled already."""
    doc = error_doc(
        503,
        f"the service is handling its limit of {limit} requests at once (limit_concurrency); "
        f"retry after {RETRY_AFTER_S} s",
        rid,
        code="overloaded",
        mlflow=scope["path"] == "/invocations",
    )
    headers = [(b"retry-after", str(RETRY_AFTER_S).encode()), (b"x-request-id", rid.encode())]
    await send_bytes(send, 503, orjson.dumps(doc), extra=headers)
    return 503


class Observer:
    """What every request gets: a request id, metrics, the optional access log, and a 500
    without a stack trace (but with the request id) for unexpected errors, which are logged
    with their traceback."""

    def __init__(self, state: ServiceState) -> None:
        self.state = state
        self.metrics = state.metrics
        self.access = state.settings.access_log
        self.limit = state.settings.limit_concurrency

    def done(self, scope: Scope, route: str, status: int, start: float, rid: str) -> None:
        elapsed = time.perf_counter() - start
        self.metrics.observe(route, scope["method"], status, elapsed)
        if self.access:
            access_log.info(
                "request",
                extra={
                    "event": "request",
                    "request_id": rid,
                    "method": scope["method"],
                    "route": route,
                    "status": status,
                    "duration_ms": round(elapsed * 1000, 3),
                },
            )

    async def fast(self, endpoint: Any, scope: Scope, receive: Receive, send: Send) -> None:
        """A prediction route's endpoint, called directly (it sets the request id header)."""
        start = time.perf_counter()
        rid = scope[REQUEST_ID_KEY] = _request_id(scope)
        status = 500
        state = self.state
        state.in_flight += 1
        try:
            if state.in_flight > self.limit:
                status = await send_overloaded(send, scope, rid, self.limit)
            else:
                status = await endpoint(scope, receive, send)
        except Exception:
            log.exception(
                "unexpected error",
                extra={"event": "unhandled_error", "request_id": rid, "route": scope["path"]},
            )
            # endpoints send the response start and body together, last: nothing was sent
            await send_bytes(
                send,
                500,
                _internal_error(rid, scope["path"]),
                extra=[(b"x-request-id", rid.encode())],
            )
        finally:
            state.in_flight -= 1
            self.done(scope, scope["path"], status, start, rid)


def prediction_endpoints(state: ServiceState) -> dict[str, PredictionEndpoint]:
    """The three prediction endpoints by path."""
    return {
        "/predict": PredictionEndpoint(state, handle_predict, mlflow_errors=False),
        "/predict/batch": PredictionEndpoint(state, handle_batch, mlflow_errors=False),
        "/invocations": PredictionEndpoint(state, handle_invocations, mlflow_errors=True),
    }


def new_state(settings: ServeSettings) -> ServiceState:
    """A fresh :class:`ServiceState`, its model reloads counted in the metrics."""
    state = ServiceState(
        settings=settings,
        holder=_holder(settings),
        metrics=Metrics(drift_window_seconds=settings.drift_window_seconds),
    )
    if settings.model_uri is not None:
        state.metrics.registry_failures = 0

    def count_reload(result: str) -> None:
        if result == "registry_failure":
            state.metrics.registry_failures = (state.metrics.registry_failures or 0) + 1
        else:
            state.metrics.reloads[result] += 1

    state.holder.on_change = count_reload
    return state


def _holder(settings: ServeSettings) -> ModelHolder:
    """``models_dir/latest``, or the registry version ``model_uri`` names (followed)."""
    if settings.model_uri is None:
        return ModelHolder(settings.models_dir)
    from breast_cancer_ml.adapters.registry_client import RegistryClient
    from breast_cancer_ml.service.registry_holder import REGISTRY_TIMEOUT_S, RegistryModelHolder

    return RegistryModelHolder(
        settings.model_uri,
        RegistryClient.from_env(settings.tracking_uri, timeout=REGISTRY_TIMEOUT_S),
        settings.model_cache_dir or settings.models_dir / "registry-cache",
        settings.registry_retry_max,
    )


async def start_service(state: ServiceState) -> asyncio.Future[Any]:
    """Start-up: load the model (if one is promoted), start watching ``models/latest`` and
    the body deadline of requests.

    Returns the watchers; cancel them at shutdown.
    """
    settings = state.settings
    if state.prediction_log is not None:
        state.prediction_log.start()
    await state.holder.check_async()
    if settings.model_uri is not None and state.holder.current is None:
        log.warning(
            "no verified model from %s yet; /ready answers 503 while retrying",
            settings.model_uri,
            extra={"event": "no_model", "model_uri": settings.model_uri},
        )
    elif state.holder.status == "no_model":
        log.warning(
            "no model promoted yet; /ready answers 503 until one is",
            extra={"event": "no_model", "models_dir": str(settings.models_dir)},
        )
    watcher = asyncio.gather(
        state.holder.watch(settings.reload_interval), state.body_deadline.watch()
    )
    log.info(
        "service started",
        extra={
            "event": "started",
            "status": state.holder.status,
            "api_key": settings.api_key is not None,
            "cors_origins": settings.cors_origins,
        },
    )
    return watcher
