"""``promotion_metadata.json``: the typed record of a promoted model, read and checked once.

Every published model is loaded through :class:`PromotionMetadata`. A record that breaks it
(a threshold that is not a finite number in (0, 1], a missing or malformed plausibility
envelope, another feature order, no hash table) refuses the model: a service keeps the model it
has, a batch run stops with exit 4. Fields this schema does not name (metrics, the gate, the
champion/challenger verdict) are kept as they are, for reports.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    ValidationError,
    field_validator,
)

from breast_cancer_ml.domain.contract import Envelope
from breast_cancer_ml.domain.schema import FEATURES
from breast_cancer_ml.errors import BadMetadataError


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


class PromotionMetadata(BaseModel):
    """The fields a promoted model is served and scored by; the rest is carried along."""

    model_config = ConfigDict(extra="allow", frozen=True, arbitrary_types_allowed=True)

    run_id: str = Field(min_length=1)
    threshold: float = Field(gt=0, le=1, allow_inf_nan=False, strict=True)
    envelope: EnvelopeField
    feature_names: list[str]
    model_sha256: dict[str, str] = Field(min_length=1)
    promoted_at: str | None = None

    @field_validator("feature_names")
    @classmethod
    def _wdbc_order(cls, names: list[str]) -> list[str]:
        if names != list(FEATURES):
            raise ValueError("expected the 30 WDBC features in the order this version uses")
        return names


def parse_metadata(data: Any, where: str) -> PromotionMetadata:
    """``data`` (the decoded JSON) as a :class:`PromotionMetadata`, or :class:`BadMetadataError`
    naming each broken field (never its value: the message may reach a log)."""
    try:
        return PromotionMetadata.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or 'record'}: {err['msg']}"
            for err in exc.errors(include_input=False, include_url=False)
        )
        raise BadMetadataError(
            f"{where}: the promotion metadata is not valid ({problems}). Refusing the model; "
            "re-promote it with `bcml train` or roll back."
        ) from None


__all__ = ["PromotionMetadata", "parse_metadata"]
