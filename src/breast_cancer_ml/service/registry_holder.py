"""Serving ``models:/<name>@<alias>``: follow the registry's alias instead of ``models/latest``.

:class:`RegistryModelHolder` is a :class:`~.model_holder.ModelHolder` whose target is the
version the alias points at, resolved through the tracking server's REST API
(:mod:`breast_cancer_ml.adapters.registry_client`, no mlflow import). The rules are those of
``models/latest``: a new version is downloaded into the local cache, verified (SHA256 sums, the
promotion metadata and the registry's tag) and loaded aside while the old model keeps serving;
only a model that loads completely replaces it; a bad version is refused and not retried until
the alias moves.

Faults of the tracking server are not refusals of a model:

- unreachable at start: ``/ready`` stays 503 (reason ``registry_unreachable``) and the holder
  retries, the wait doubling from ``reload_interval`` up to ``registry_retry_max``;
- unreachable later: the last verified model keeps serving, ``/health`` says
  ``registry.reachable: false``, ``bcml_registry_failures_total`` counts every failed call;
- back again: the next poll resolves the alias, and a moved alias is followed.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

from breast_cancer_ml.adapters.registry_client import (
    ModelRef,
    RegistryCache,
    RegistryClient,
    RegistryVersion,
    parse_model_uri,
)
from breast_cancer_ml.errors import (
    ModelStoreError,
    RegistryAuthError,
    RegistryNotFoundError,
    RegistryUnreachableError,
)
from breast_cancer_ml.service.model_holder import ModelHolder, Refusal

log = logging.getLogger("breast_cancer_ml.service.model")

#: Seconds a single call to the tracking server may take before it counts as a failure.
REGISTRY_TIMEOUT_S = 5.0
_REGISTRY_FAULTS = (RegistryUnreachableError, RegistryAuthError, RegistryNotFoundError)


class RegistryModelHolder(ModelHolder):
    """Holds the model of ``model_uri``'s current version and follows the alias."""

    def __init__(
        self,
        model_uri: str,
        client: RegistryClient,
        cache_dir: Path,
        retry_max: float,
        on_change: Any = None,
    ) -> None:
        super().__init__(cache_dir, on_change)
        self.ref: ModelRef = parse_model_uri(model_uri)
        self.cache = RegistryCache(client, cache_dir)
        self.retry_max = retry_max
        self.version: RegistryVersion | None = None  # the version being served
        self.reachable: bool | None = None
        self.failures = 0
        self.consecutive_failures = 0
        self.last_error: str | None = None
        self._refused_version: str | None = None

    def check(self) -> bool:
        """Resolve the alias; load its version if it is new. True if the model changed."""
        try:
            version = self.cache.client.resolve(self.ref)
        except _REGISTRY_FAULTS as exc:
            self._registry_failed(exc)
            return False
        except ModelStoreError as exc:  # an answer we cannot use (4xx other than the above)
            self._registry_failed(exc)
            return False
        served = self.version
        if served is not None and served.version == version.version:
            self._registry_ok()
            if self._refused_version is not None:  # the alias came back from a refused version
                self._refused_version = None
                self.refusal = None
            return False
        if self._refused_version == version.version:
            self._registry_ok()
            return False  # refused before; retried when the alias moves
        started = time.perf_counter()
        try:
            model = self.cache.fetch(version)
        except _REGISTRY_FAULTS as exc:  # the server went away mid-download: not the model's fault
            self._registry_failed(exc)
            return False
        except ModelStoreError as exc:
            self._registry_ok()
            self._refused_version = version.version
            self._refuse(self.cache.folder(version), (version.version,), exc.reason, str(exc))
            return False
        except Exception as exc:  # never let a bad file take the service down
            self._refused_version = version.version
            self._refuse(
                self.cache.folder(version),
                (version.version,),
                "unloadable",
                f"{type(exc).__name__}: {exc}",
            )
            return False
        self._registry_ok()
        previous = self.version.version if self.version is not None else None
        self.current = model  # the swap: one reference assignment
        self.version = version
        self.loaded_at = time.time()
        self.refusal = None
        self._refused_version = None
        self.loads += 1
        log.info(
            "model loaded",
            extra={
                "event": "model_loaded",
                "run_id": model.run_id,
                "model_uri": str(self.ref),
                "registry_version": version.version,
                "previous_registry_version": previous,
                "folder": str(model.folder),
                "load_ms": round((time.perf_counter() - started) * 1000, 1),
            },
        )
        if self.on_change is not None:
            self.on_change("loaded")
        return True

    def _registry_ok(self) -> None:
        if self.reachable is False:
            log.info(
                "tracking server reachable again",
                extra={"event": "registry_reachable", "failures": self.failures},
            )
        self.reachable = True
        self.consecutive_failures = 0
        self.last_error = None
        if (
            self.current is None
            and self.refusal is not None
            and self.refusal.reason
            in (
                "registry_unreachable",
                "registry_auth",
                "not_in_registry",
            )
        ):
            self.refusal = None

    def _registry_failed(self, exc: ModelStoreError) -> None:
        self.failures += 1
        self.consecutive_failures += 1
        self.reachable = False
        self.last_error = exc.reason
        if self.on_change is not None:
            self.on_change("registry_failure")
        if self.consecutive_failures == 1:  # once per outage, not once per poll
            log.warning(
                "tracking server call failed (%s): %s",
                exc.reason,
                exc,
                extra={
                    "event": "registry_failure",
                    "reason": exc.reason,
                    "model_uri": str(self.ref),
                    "still_serving_run_id": self.current.run_id if self.current else None,
                },
            )
        if self.current is None:
            # nothing to serve: /ready says why (a fixed sentence per code)
            self.refusal = Refusal(self.models_dir, ("registry",), exc.reason)

    def next_delay(self, interval: float) -> float:
        if self.consecutive_failures == 0:
            return interval
        return min(interval * 2.0**self.consecutive_failures, max(interval, self.retry_max))

    def registry_status(self) -> dict[str, Any] | None:
        return {
            "model_uri": str(self.ref),
            "reachable": self.reachable,
            "failures": self.failures,
            "version": self.version.version if self.version is not None else None,
            "error": self.last_error,
        }
