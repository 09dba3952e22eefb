"""Domain exceptions. Each carries an exit code; the CLI and the HTTP layer translate them."""

from __future__ import annotations


class BcmlError(Exception):
    """Base class for errors a user can act on. ``exit_code`` is what the CLI returns."""

    exit_code = 1


class ConfigError(BcmlError):
    """Settings (flags, environment, config file) are invalid."""

    exit_code = 2


class DataValidationError(BcmlError):
    """An input data file cannot be used; the message names the file, column and row."""

    exit_code = 2


class ModelStoreError(BcmlError):
    """The model store (``models/``) is missing, incomplete or cannot be written.

    ``reason`` is a short, stable code for what went wrong, safe to show to anyone (``/health``
    reports it); the message, which may name files, goes to the log and the CLI only.
    """

    exit_code = 4
    reason = "missing"


class ModelIntegrityError(ModelStoreError):
    """A model's files do not match the SHA256 sums recorded when it was promoted."""

    reason = "hash_mismatch"


class UntrustedModelError(ModelIntegrityError):
    """A model file holds a type outside the trusted set (it could run code), or is not a
    pipeline we build."""

    reason = "untrusted_type"


class UnloadableModelError(ModelIntegrityError):
    """A model file cannot be loaded (corrupt, wrong format, not a binary classifier)."""

    reason = "unloadable"


class BadMetadataError(ModelIntegrityError):
    """``promotion_metadata.json`` is unreadable or breaks its schema (threshold, envelope,
    feature names, hashes)."""

    reason = "bad_metadata"


class TrackingStoreError(BcmlError):
    """The MLflow tracking store or Model Registry cannot be opened, migrated or written."""

    exit_code = 4


class ChampionChangedError(ModelStoreError):
    """Another training promoted a model after this one compared itself with the champion."""


class PromotionRefusedError(BcmlError):
    """The model did not pass the promotion gate and promotion was required."""

    exit_code = 3


class NonFiniteProbabilityError(BcmlError):
    """A model gave a NaN or infinite probability; the answer is withheld (a model fault)."""

    exit_code = 4


class PortInUseError(BcmlError):
    """``bcml serve`` cannot listen: another process holds the port."""

    exit_code = 6


class RegistryUnreachableError(ModelStoreError):
    """The MLflow tracking server cannot be reached, timed out or answered with a 5xx."""

    reason = "registry_unreachable"


class RegistryAuthError(ModelStoreError):
    """The tracking server refused the credentials (401/403): MLFLOW_TRACKING_USERNAME and
    MLFLOW_TRACKING_PASSWORD (or MLFLOW_TRACKING_TOKEN) are missing or wrong."""

    reason = "registry_auth"


class RegistryNotFoundError(ModelStoreError):
    """The registered model, alias, version or artifact does not exist on the server."""

    reason = "not_in_registry"


class ExplanationUnavailableError(BcmlError):
    """The served model cannot be explained here: its explainer needs the ``explain`` extra
    (shap), or it was promoted before explanations existed. The prediction itself is fine."""

    exit_code = 2
