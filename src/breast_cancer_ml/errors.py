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
    """The model store (``models/``) is missing, incomplete or cannot be written."""

    exit_code = 4


class ModelIntegrityError(ModelStoreError):
    """A model's files do not match the SHA256 sums recorded when it was promoted."""


class ChampionChangedError(ModelStoreError):
    """Another training promoted a model after this one compared itself with the champion."""


class PromotionRefusedError(BcmlError):
    """The model did not pass the promotion gate and promotion was required."""

    exit_code = 3
