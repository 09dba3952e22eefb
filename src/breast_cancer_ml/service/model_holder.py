"""The model being served: loaded once, replaced atomically when a new one is promoted.

``ModelHolder.current`` is one reference. A request reads it once and scores with that model
from start to end, so a swap never mixes two models in one answer. A new ``models/latest``
target is verified (SHA256 sums) and loaded aside, in a worker thread, while the old model keeps
serving; only a model that loads completely replaces it. A missing, corrupt or tampered model
is refused with one log line and does not crash the process: ``/health`` keeps answering and
``/ready`` says 503 until a good model is there.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, Literal

if TYPE_CHECKING:  # the store pulls in scikit-learn; import it only when loading
    from breast_cancer_ml.adapters.model_store import PublishedModel

log = logging.getLogger("breast_cancer_ml.service.model")

ModelState = Literal["ready", "no_model", "refused"]


#: What ``/health`` and ``/ready`` say about a refused model, by reason code: fixed text, no
#: path and no exception message (those go to the log only).
REFUSAL_MESSAGES: Final[dict[str, str]] = {
    "missing": "the model's files are missing or incomplete; promote a model again",
    "hash_mismatch": "the model's files do not match the hashes recorded at promotion",
    "untrusted_type": "the model file holds a type outside the trusted set",
    "unloadable": "the model file cannot be loaded",
    "bad_metadata": "promotion_metadata.json is unreadable or invalid",
    # serving a model_uri (service/registry_holder.py)
    "registry_unreachable": "the MLflow tracking server cannot be reached; retrying",
    "registry_auth": "the MLflow tracking server refused the service's credentials",
    "not_in_registry": "the registered model, alias or version does not exist",
}


@dataclass(frozen=True)
class Refusal:
    """A target we could not load, and the files' state then (retry only if they change).

    ``reason`` is a code of :data:`REFUSAL_MESSAGES`, safe to show to anyone."""

    target: Path
    fingerprint: tuple[Any, ...]
    reason: str

    @property
    def message(self) -> str:
        return REFUSAL_MESSAGES.get(self.reason, REFUSAL_MESSAGES["unloadable"])


def _fingerprint(folder: Path) -> tuple[Any, ...]:
    entries: list[Any] = []
    for sub in (folder, folder / "model"):
        try:
            with os.scandir(sub) as it:
                for entry in it:
                    if entry.is_file():
                        st = entry.stat()
                        entries.append((entry.path, st.st_size, st.st_mtime_ns))
        except OSError:
            entries.append((str(sub), None))
    return tuple(sorted(entries, key=str))


class ModelHolder:
    """Holds the served :class:`PublishedModel` (or ``None``) and keeps it up to date."""

    def __init__(self, models_dir: Path, on_change: Any = None) -> None:
        self.models_dir = models_dir
        self.current: PublishedModel | None = None
        self.loaded_at: float | None = None
        self.refusal: Refusal | None = None
        self.loads = 0
        self.refusals = 0
        self.on_change = on_change
        self._lock = asyncio.Lock()

    @property
    def status(self) -> ModelState:
        """``ready``, ``no_model`` (nothing promoted yet) or ``refused`` (bad model, none)."""
        if self.current is not None:
            return "ready"
        return "refused" if self.refusal is not None else "no_model"

    def _target(self) -> Path | None:
        latest = self.models_dir / "latest"
        if not latest.exists():
            return None
        return latest.resolve()

    def check(self) -> bool:
        """Load ``models/latest`` if it points somewhere new; True if the model changed.

        Blocking (hashes files, loads the skops file): call it from a worker thread.
        """
        target = self._target()
        current = self.current
        if target is None:  # nothing promoted yet, or latest removed: keep what we have
            return False
        if current is not None and current.folder == target:
            return False
        refusal = self.refusal
        if (
            refusal is not None
            and refusal.target == target
            and refusal.fingerprint == _fingerprint(target)
        ):
            return False  # refused before, unchanged since
        from breast_cancer_ml.adapters.model_store import load_published
        from breast_cancer_ml.errors import ModelStoreError

        fingerprint = _fingerprint(target)
        started = time.perf_counter()
        try:
            model = load_published(target)
        except ModelStoreError as exc:
            self._refuse(target, fingerprint, exc.reason, str(exc))
            return False
        except Exception as exc:  # never let a bad file take the service down
            self._refuse(target, fingerprint, "unloadable", f"{type(exc).__name__}: {exc}")
            return False
        previous = current.run_id if current is not None else None
        self.current = model  # the swap: one reference assignment
        self.loaded_at = time.time()
        self.refusal = None
        self.loads += 1
        log.info(
            "model loaded",
            extra={
                "event": "model_loaded",
                "run_id": model.run_id,
                "previous_run_id": previous,
                "folder": str(target),
                "load_ms": round((time.perf_counter() - started) * 1000, 1),
            },
        )
        if self.on_change is not None:
            self.on_change("loaded")
        return True

    def _refuse(self, target: Path, fingerprint: tuple[Any, ...], reason: str, detail: str) -> None:
        if reason not in REFUSAL_MESSAGES:
            reason = "unloadable"
        self.refusal = Refusal(target, fingerprint, reason)
        self.refusals += 1
        serving = self.current.run_id if self.current is not None else None
        log.error(
            "model refused (%s): %s",
            reason,
            detail,
            extra={
                "event": "model_refused",
                "reason": reason,
                "folder": str(target),
                "still_serving_run_id": serving,
            },
        )
        if self.on_change is not None:
            self.on_change("refused")

    async def check_async(self) -> bool:
        """:meth:`check` in a worker thread, so requests keep being served while it loads."""
        async with self._lock:
            return await asyncio.to_thread(self.check)

    def registry_status(self) -> dict[str, Any] | None:
        """What ``/health`` says about a followed registry (``None``: serving a folder)."""
        return None

    def next_delay(self, interval: float) -> float:
        """Seconds until the next check (a registry holder backs off while unreachable)."""
        return interval

    async def watch(self, interval: float) -> None:
        """Poll ``models/latest`` every ``interval`` seconds until cancelled."""
        while True:
            await asyncio.sleep(self.next_delay(interval))
            try:
                await self.check_async()
            except Exception:  # pragma: no cover - check() already catches load errors
                log.exception("model watch failed", extra={"event": "model_watch_error"})
