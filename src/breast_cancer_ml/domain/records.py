"""The records a training run leaves behind, typed and versioned: written and read by the same
classes everywhere (train, champion/challenger, release checks, the service and batch).

* :class:`RunSummary`: ``run_summary.json``, what one ``bcml train`` run measured and decided.
* :class:`PromotionMetadata`: ``promotion_metadata.json``, what a promoted model is served and
  scored by (threshold, envelope, feature order, file hashes) plus its provenance.
* :class:`ChallengerVerdict`: the champion/challenger decision, inside both.

Each carries ``schema_version``. A file written before the field existed is version 1 (a
shape this version still reads; version 2 adds the clinical evidence and the refer rule, all
optional fields). A file from a newer bcml (a higher version) is refused with
:class:`~breast_cancer_ml.errors.BadMetadataError` rather than half-understood. The models are
pure data (no file I/O): callers read the JSON and hand it to :func:`parse_record`.
"""

from __future__ import annotations

import json
from typing import Annotated, Any, TypeVar

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    ValidationError,
    field_validator,
)

from breast_cancer_ml.domain.conformal import ConformalParams
from breast_cancer_ml.domain.contract import Envelope
from breast_cancer_ml.domain.drift import DriftProfile
from breast_cancer_ml.domain.explain import ExplainerParams
from breast_cancer_ml.domain.schema import FEATURES
from breast_cancer_ml.errors import BadMetadataError, BcmlError

#: The schema version this code writes and the newest it reads. 2 (issue 12): the promotion
#: metadata carries the refer rule (``conformal``) and the card's hashes (``card_sha256``), and
#: the run summary the clinical evidence; a bcml that reads only version 1 refuses such a model
#: rather than serve it without the refer rule it cannot apply.
#: The explainer and the drift reference (issue 13) are new optional fields, not a new version:
#: a reader that ignores them (unknown keys are ignored) gives the same answers, only without
#: ``explain`` and ``bcml monitor``, so refusing the model would gain nothing.
SCHEMA_VERSION = 2


def _envelope(value: Any) -> Envelope:
    if isinstance(value, Envelope):
        return value
    if not isinstance(value, dict):
        raise ValueError("expected an object with 'margin' and 'bounds'")
    return Envelope.from_dict(value)


EnvelopeField = Annotated[
    Envelope,
    BeforeValidator(_envelope),
    PlainSerializer(lambda env: env.as_dict(), return_type=dict),
]


def _conformal(value: Any) -> ConformalParams:
    if isinstance(value, ConformalParams):
        return value
    if not isinstance(value, dict):
        raise ValueError("expected an object with 'alpha' and 'quantiles'")
    return ConformalParams.from_metadata(value)


#: The refer rule fitted at promotion (:mod:`~breast_cancer_ml.domain.conformal`).
ConformalField = Annotated[
    ConformalParams,
    BeforeValidator(_conformal),
    PlainSerializer(lambda params: params.to_metadata(), return_type=dict),
]


def _drift(value: Any) -> DriftProfile:
    if isinstance(value, DriftProfile):
        return value
    if not isinstance(value, dict):
        raise ValueError("expected an object with 'features' and 'rates'")
    return DriftProfile.from_metadata(value)


#: The drift reference built at promotion (:mod:`~breast_cancer_ml.domain.drift`).
DriftField = Annotated[
    DriftProfile,
    BeforeValidator(_drift),
    PlainSerializer(lambda profile: profile.to_metadata(), return_type=dict),
]
#: A decision threshold on the probability of malignancy: a finite number in (0, 1].
Threshold = Annotated[float, Field(gt=0, le=1, allow_inf_nan=False, strict=True)]


class _Part(BaseModel):
    """A nested part of a record. Fields it does not name are ignored (never written back)."""

    model_config = ConfigDict(frozen=True, extra="ignore", arbitrary_types_allowed=True)


class _Record(_Part):
    """A top-level record: versioned, and written as indented JSON (NaN kept as ``NaN``, as
    :func:`json.dumps` writes it, so an unmeasured metric reads back as NaN, not null)."""

    schema_version: int = Field(default=SCHEMA_VERSION, ge=1, le=SCHEMA_VERSION, strict=True)

    def to_json(self) -> str:
        return json.dumps(self.model_dump(), indent=2)


# --- champion/challenger ----------------------------------------------------------------------


class ChallengerRuleRecord(_Part):
    name: str
    recall_margin: float
    auc_margin: float


class FoldNumbers(_Part):
    """One model's per-fold recall and ROC AUC on the compared folds, and their means."""

    recall_mean: float
    roc_auc_mean: float
    fold_recall: list[float]
    fold_roc_auc: list[float]


class ChampionInfo(_Part):
    """The champion a challenger was compared with; ``present`` False when there was none."""

    present: bool
    source: str | None = None  # "stored (same fold_spec)", "recomputed: ...", "unavailable"
    error: str | None = None  # why it could not be read ("unavailable")
    run_id: str | None = None
    model: str | None = None
    threshold: float | None = None
    folder: str | None = None
    recall_mean: float | None = None
    roc_auc_mean: float | None = None
    fold_recall: list[float] | None = None
    fold_roc_auc: list[float] | None = None


class PairedDifferenceRecord(_Part):
    mean: float
    std_error: float | None  # None for one fold
    better_folds: int
    worse_folds: int
    equal_folds: int


class DifferenceRecord(_Part):
    recall: PairedDifferenceRecord | None
    roc_auc: PairedDifferenceRecord | None


class ChallengerVerdict(_Record):
    """May this run's model replace the champion? ``evaluated`` False when the run was not
    eligible anyway (smoke run, gate failed): ``reason`` then says why."""

    evaluated: bool
    reason: str | None
    replace: bool = False
    forced: bool = False
    force_promote: bool = False
    rule: ChallengerRuleRecord | None = None
    challenger: FoldNumbers | None = None
    champion: ChampionInfo | None = None
    difference: DifferenceRecord | None = None


# --- training run and promotion ---------------------------------------------------------------


class FoldSpec(_Part):
    """What makes two runs' CV folds the same rows: equal specs, equal folds."""

    scheme: str
    data_version: str
    smoke_fraction: float
    test_size: float
    seed: int
    k_folds: int
    repeats: int
    scikit_learn: str


class GateRecord(_Part):
    passed: bool
    reasons: list[str] = Field(default_factory=list)
    min_recall: float | None = None
    max_recall_std: float | None = None
    max_ece: float | None = None
    max_brier: float | None = None


class CalibrationRecord(_Part):
    """Calibration of one set of predictions (:mod:`~breast_cancer_ml.domain.calibration`)."""

    predictions: str  # which: "cv out-of-fold (training split)" or "test split"
    n: int
    brier: float
    ece: float
    slope: float
    intercept: float
    ece_binning: str = "10 equal-width bins on P(malignant), weighted by each bin's share"


class ReferRecord(_Part):
    """The refer rule fitted at training and what it did on the out-of-fold predictions."""

    method: str
    alpha: float
    how: str
    max_refer_rate: float
    refer_rate: float
    within_budget: bool
    coverage_benign: float
    coverage_malignant: float
    decided_accuracy: float
    decided_recall: float
    decided_precision: float
    guarantee: str


class SubgroupRecord(_Part):
    """One row of ``subgroups.csv``: a slice's counts, metrics and 95% intervals."""

    slice: str
    n: int
    n_malignant: int
    metrics: dict[str, float]
    ci_low: dict[str, float]
    ci_high: dict[str, float]
    recall_below_gate: bool


class RegisteredModel(_Part):
    name: str
    version: str
    alias: str | None = None


class RunSummary(_Record):
    """``run_summary.json``: every ``bcml train`` run writes one, promoted or not."""

    run_id: str = Field(min_length=1)
    experiment: str
    model: str
    smoke: bool
    data_version: str
    params: dict[str, Any]
    metrics: dict[str, float]
    gate: GateRecord
    threshold: Threshold
    promoted: bool
    not_promoted_reason: str | None = None
    tracking_uri: str | None = None
    artifact_uri: str | None = None
    model_uri: str | None = None
    data_path: str | None = None
    cv_folds: list[dict[str, float]] = Field(default_factory=list)
    target_recall: float | None = None
    envelope: EnvelopeField | None = None
    registered_model: RegisteredModel | None = None
    published_path: str | None = None
    fold_spec: FoldSpec | None = None
    cv_repeats: int = 1
    n_test_malignant: int | None = None
    test_ci: dict[str, Any] | None = None
    champion_challenger: ChallengerVerdict | None = None
    # --- clinical evidence (issue 12; absent in version 1 summaries) ---
    #: 95% intervals of the CV means (folds resampled), per metric, and the method
    cv_mean_ci: dict[str, Any] | None = None
    cv_calibration: CalibrationRecord | None = None
    test_calibration: CalibrationRecord | None = None
    refer: ReferRecord | None = None
    #: The refer rule itself (as in the promotion metadata), so that a registry model scored
    #: from its training run applies the same rule as the published copy.
    conformal: ConformalField | None = None
    subgroups: list[SubgroupRecord] | None = None
    #: How the model's predictions are explained (issue 13), as in the promotion metadata, so
    #: that a registry model scored from its training run explains like the published copy.
    explainer: ExplainerParams | None = None
    #: The drift reference (training split quantiles and rates), as in the promotion
    #: metadata, so that ``bcml monitor`` can compare with a registry model too.
    drift_reference: DriftField | None = None


class PromotionMetadata(_Record):
    """``promotion_metadata.json``: a promoted model is served and scored by ``threshold``,
    ``envelope`` and ``feature_names``; ``model_sha256`` is filled in by the model store when
    it publishes (and checked there on every load); the rest is provenance for reports and
    the next champion/challenger comparison."""

    run_id: str = Field(min_length=1)
    threshold: Threshold
    envelope: EnvelopeField
    feature_names: list[str]
    model_sha256: dict[str, str] = Field(default_factory=dict)
    promoted_at: str | None = None
    model_uri: str | None = None
    registered_model: RegisteredModel | None = None
    model: str | None = None
    model_type: str | None = None
    data_version: str | None = None
    metrics: dict[str, float] = Field(default_factory=dict)
    gate: GateRecord | None = None
    target_recall: float | None = None
    fold_spec: FoldSpec | None = None
    cv_fold_recall: list[float] | None = None
    cv_fold_roc_auc: list[float] | None = None
    champion_challenger: ChallengerVerdict | None = None
    #: The refer rule (alpha and per-class quantiles); ``None`` in metadata written before it.
    conformal: ConformalField | None = None
    #: What ``bcml monitor`` compares recent cases with (quantile sketches of the training
    #: split, reference rates); ``None`` in metadata written before it.
    drift_reference: DriftField | None = None
    #: SHA256 of ``MODEL_CARD.md`` / ``MODEL_CARD.html`` beside the model, filled in (and
    #: checked on every load) by the model store like ``model_sha256``.
    card_sha256: dict[str, str] = Field(default_factory=dict)
    #: The explainer built at promotion from the training split (domain/explain.py); ``None``
    #: in metadata written before it (a linear model is still explained exactly).
    explainer: ExplainerParams | None = None
    forced_promotion: bool = False
    bcml_version: str | None = None

    @field_validator("feature_names")
    @classmethod
    def _wdbc_order(cls, names: list[str]) -> list[str]:
        if names != list(FEATURES):
            raise ValueError("expected the 30 WDBC features in the order this version uses")
        return names


R = TypeVar("R", bound=_Record)


def parse_record(
    cls: type[R], data: Any, where: str, error: type[BcmlError] = BadMetadataError
) -> R:
    """``data`` (decoded JSON) as a ``cls``, or ``error`` naming each broken field (never its
    value: the message may reach a log). A newer ``schema_version`` than this code knows is
    always :class:`BadMetadataError`: the file is fine, this bcml is too old for it."""
    version = data.get("schema_version", 1) if isinstance(data, dict) else None
    if isinstance(version, int) and not isinstance(version, bool) and version > SCHEMA_VERSION:
        raise BadMetadataError(
            f"{where}: schema_version {version} was written by a newer bcml; this version "
            f"reads up to {SCHEMA_VERSION}. Upgrade bcml to use it."
        )
    if isinstance(data, dict) and "schema_version" not in data:
        data = {**data, "schema_version": 1}  # written before the field existed: version 1
    try:
        return cls.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or 'record'}: {err['msg']}"
            for err in exc.errors(include_input=False, include_url=False)
        )
        raise error(f"{where}: not valid ({problems}).") from None


def parse_metadata(data: Any, where: str) -> PromotionMetadata:
    """``promotion_metadata.json`` as a :class:`PromotionMetadata`, or
    :class:`BadMetadataError`: the model is refused (a service keeps the one it has, a batch
    run stops with exit 4)."""
    try:
        return parse_record(PromotionMetadata, data, where)
    except BadMetadataError as exc:
        raise BadMetadataError(
            f"{exc} Refusing the model; re-promote it with `bcml train` or roll back."
        ) from None


__all__ = [
    "SCHEMA_VERSION",
    "ChallengerVerdict",
    "PromotionMetadata",
    "RunSummary",
    "parse_metadata",
    "parse_record",
]
