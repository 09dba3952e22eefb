"""A small client of MLflow's REST API for the serving side: no mlflow import, stdlib only.

The serving image has no mlflow (it would double the image), so ``bcml serve --model-uri
models:/<name>@<alias>`` reaches the tracking server through three documented REST calls:

- ``GET /api/2.0/mlflow/registered-models/alias`` (or ``.../model-versions/get``): the version
  an alias points at, its run and its tags;
- ``GET /api/2.0/mlflow/model-versions/get-download-uri`` and ``/api/2.0/mlflow/runs/get``:
  where the model's and the run's artifacts live (``mlflow-artifacts:/...`` when the server
  runs with ``--serve-artifacts``);
- ``GET /api/2.0/mlflow-artifacts/artifacts?path=`` (list) and ``.../artifacts/<path>``
  (download): the artifact proxy, so the service needs no S3 credentials of its own.

Credentials come from the same variables MLflow's own client reads: ``MLFLOW_TRACKING_USERNAME``
and ``MLFLOW_TRACKING_PASSWORD`` (basic auth), or ``MLFLOW_TRACKING_TOKEN`` (bearer).

:class:`RegistryCache` keeps each version in a local cache folder laid out like a promoted
model (``model/``, ``promotion_metadata.json``, ``promotion_metadata.sha256``), so it is
verified by the same code as ``models/latest`` (:func:`model_store.load_published`), plus the
registry's own checks: the version must carry the ``promotion_metadata_sha256`` tag that
training sets (a version without promotion metadata is refused), the downloaded metadata must
hash to it, and name the version's run. A cached copy that fails its hashes is deleted and
downloaded again.
"""

from __future__ import annotations

import base64
import dataclasses
import json
import os
import re
import shutil
import urllib.error
import urllib.parse
import urllib.request
import uuid
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from breast_cancer_ml.adapters import model_store
from breast_cancer_ml.errors import (
    BadMetadataError,
    ModelIntegrityError,
    ModelStoreError,
    RegistryAuthError,
    RegistryNotFoundError,
    RegistryUnreachableError,
)

_MODEL_URI = re.compile(r"^models:/(?P<name>[^/@]+)(?:@(?P<alias>[^/@]+)|/(?P<version>\d+))$")
_PROXY_SCHEME = "mlflow-artifacts:"
_CHUNK = 1 << 20


@dataclass(frozen=True)
class ModelRef:
    """A parsed ``models:/<name>@<alias>`` or ``models:/<name>/<version>``."""

    name: str
    alias: str | None = None
    version: str | None = None

    def __str__(self) -> str:
        tail = f"@{self.alias}" if self.alias is not None else f"/{self.version}"
        return f"models:/{self.name}{tail}"


def parse_model_uri(uri: str) -> ModelRef:
    match = _MODEL_URI.match(uri.strip())
    if match is None:
        raise ModelStoreError(
            f"{uri!r}: expected models:/<name>@<alias> or models:/<name>/<version>, e.g. "
            "models:/breast-cancer-classifier@champion."
        )
    return ModelRef(match["name"], match["alias"], match["version"])


@dataclass(frozen=True)
class RegistryVersion:
    """One registry version, as far as serving needs it."""

    name: str
    version: str
    run_id: str
    tags: dict[str, str]

    @property
    def metadata_sha256(self) -> str | None:
        return self.tags.get(model_store.METADATA_SHA256_TAG)


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    # Following a redirect would send the credentials wherever it points: refuse it instead.
    def redirect_request(self, req: Any, fp: Any, code: int, msg: str, headers: Any, newurl: str):  # type: ignore[no-untyped-def]
        raise RegistryUnreachableError(
            f"{req.full_url}: the tracking server redirected to {newurl}; give that address "
            "as the tracking URI instead (redirects are not followed with credentials)."
        )


class RegistryClient:
    """The REST calls above, with credentials, a timeout and errors a user can act on."""

    def __init__(
        self,
        tracking_uri: str,
        *,
        username: str | None = None,
        password: str | None = None,
        token: str | None = None,
        timeout: float = 10.0,
    ) -> None:
        parsed = urllib.parse.urlsplit(tracking_uri)
        if parsed.scheme not in ("http", "https") or not parsed.netloc:
            raise ModelStoreError(
                f"tracking URI {tracking_uri!r}: serving from the registry needs an MLflow "
                "tracking server (http:// or https://), set by --tracking-uri or "
                "MLFLOW_TRACKING_URI."
            )
        self.base = tracking_uri.rstrip("/")
        self.timeout = timeout
        self._headers = {"User-Agent": "bcml-registry-client"}
        if token:
            self._headers["Authorization"] = f"Bearer {token}"
        elif username is not None and password is not None:
            pair = base64.b64encode(f"{username}:{password}".encode()).decode("ascii")
            self._headers["Authorization"] = f"Basic {pair}"
        self._opener = urllib.request.build_opener(_NoRedirect)

    @classmethod
    def from_env(cls, tracking_uri: str | None, timeout: float = 10.0) -> RegistryClient:
        """Configured URI, else ``MLFLOW_TRACKING_URI``; credentials from MLflow's variables."""
        uri = tracking_uri or os.environ.get("MLFLOW_TRACKING_URI") or ""
        return cls(
            uri,
            username=os.environ.get("MLFLOW_TRACKING_USERNAME") or None,
            password=os.environ.get("MLFLOW_TRACKING_PASSWORD") or None,
            token=os.environ.get("MLFLOW_TRACKING_TOKEN") or None,
            timeout=timeout,
        )

    # ---- HTTP ------------------------------------------------------------------------------
    def _open(self, path: str, query: dict[str, str] | None = None) -> Any:
        url = self.base + path + (f"?{urllib.parse.urlencode(query)}" if query else "")
        request = urllib.request.Request(url, headers=self._headers)
        try:
            return self._opener.open(request, timeout=self.timeout)
        except urllib.error.HTTPError as exc:
            detail = _error_detail(exc)
            exc.close()
            if exc.code in (401, 403):
                raise RegistryAuthError(
                    f"{self.base}: the tracking server refused the request ({exc.code}). Set "
                    "MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD (or "
                    "MLFLOW_TRACKING_TOKEN) for a user allowed to read the model."
                ) from None
            # MLflow answers a missing alias with 400 INVALID_PARAMETER_VALUE "... not found"
            if (
                exc.code == 404
                or detail.startswith("RESOURCE_DOES_NOT_EXIST")
                or (exc.code == 400 and "not found" in detail)
            ):
                raise RegistryNotFoundError(f"{self.base}{path}: not found ({detail}).") from None
            if exc.code >= 500:
                raise RegistryUnreachableError(
                    f"{self.base}: the tracking server failed ({exc.code}: {detail})."
                ) from None
            raise ModelStoreError(f"{self.base}{path}: {exc.code} {detail}") from None
        except (urllib.error.URLError, TimeoutError, ConnectionError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise RegistryUnreachableError(
                f"{self.base}: the tracking server cannot be reached ({reason})."
            ) from None

    def _json(self, path: str, query: dict[str, str]) -> dict[str, Any]:
        with self._open(path, query) as resp:
            try:
                data = json.loads(resp.read())
            except ValueError as exc:
                raise RegistryUnreachableError(
                    f"{self.base}{path}: the answer is not JSON ({exc}); is this an MLflow "
                    "tracking server?"
                ) from None
        if not isinstance(data, dict):
            raise RegistryUnreachableError(f"{self.base}{path}: the answer is not an object.")
        return data

    # ---- registry --------------------------------------------------------------------------
    def resolve(self, ref: ModelRef) -> RegistryVersion:
        """The version ``ref`` names now (an alias is resolved on every call)."""
        if ref.alias is not None:
            data = self._json(
                "/api/2.0/mlflow/registered-models/alias", {"name": ref.name, "alias": ref.alias}
            )
        else:
            data = self._json(
                "/api/2.0/mlflow/model-versions/get",
                {"name": ref.name, "version": str(ref.version)},
            )
        mv = data.get("model_version")
        if not isinstance(mv, dict) or "version" not in mv:
            raise RegistryNotFoundError(f"{ref}: the server returned no model version.")
        tags = {
            str(t.get("key")): str(t.get("value"))
            for t in mv.get("tags") or []
            if isinstance(t, dict)
        }
        return RegistryVersion(
            name=str(mv.get("name", ref.name)),
            version=str(mv["version"]),
            run_id=str(mv.get("run_id") or ""),
            tags=tags,
        )

    def model_artifact_uri(self, version: RegistryVersion) -> str:
        data = self._json(
            "/api/2.0/mlflow/model-versions/get-download-uri",
            {"name": version.name, "version": version.version},
        )
        return str(data.get("artifact_uri", ""))

    def run_artifact_uri(self, run_id: str) -> str:
        data = self._json("/api/2.0/mlflow/runs/get", {"run_id": run_id})
        info = (data.get("run") or {}).get("info") or {}
        return str(info.get("artifact_uri", ""))

    # ---- artifact proxy --------------------------------------------------------------------
    def _proxy_path(self, artifact_uri: str) -> str:
        if not artifact_uri.startswith(_PROXY_SCHEME):
            raise ModelStoreError(
                f"artifact location {artifact_uri!r} is not served by the tracking server: run "
                "`mlflow server` with --serve-artifacts (the service reads artifacts only "
                "through the server, with no storage credentials of its own)."
            )
        rest = artifact_uri.removeprefix(_PROXY_SCHEME)
        if rest.startswith("//"):  # mlflow-artifacts://host:port/path
            rest = "/" + rest[2:].partition("/")[2]
        return rest.strip("/")

    def list_artifacts(self, artifact_uri: str) -> list[tuple[str, bool]]:
        """``(name, is_dir)`` of the entries directly under ``artifact_uri``."""
        base = self._proxy_path(artifact_uri)
        data = self._json("/api/2.0/mlflow-artifacts/artifacts", {"path": base})
        entries = []
        for item in data.get("files") or []:
            name = _safe_relative(str(item.get("path", "")), artifact_uri)
            entries.append((name.as_posix(), bool(item.get("is_dir", False))))
        return entries

    def download_file(self, artifact_uri: str, dest: Path) -> None:
        path = urllib.parse.quote(self._proxy_path(artifact_uri))
        dest.parent.mkdir(parents=True, exist_ok=True)
        with (
            self._open(f"/api/2.0/mlflow-artifacts/artifacts/{path}") as resp,
            dest.open("wb") as out,
        ):
            try:
                shutil.copyfileobj(resp, out, _CHUNK)
            except (OSError, TimeoutError) as exc:
                raise RegistryUnreachableError(
                    f"{self.base}: the download of {artifact_uri} broke off ({exc})."
                ) from None

    def download_tree(self, artifact_uri: str, dest: Path) -> None:
        """Every file below ``artifact_uri`` into ``dest`` (created)."""
        dest.mkdir(parents=True, exist_ok=True)
        for name, is_dir in self.list_artifacts(artifact_uri):
            child_uri = f"{artifact_uri.rstrip('/')}/{PurePosixPath(name).name}"
            target = dest / PurePosixPath(name).name
            if is_dir:
                self.download_tree(child_uri, target)
            else:
                self.download_file(child_uri, target)


def _safe_relative(path: str, where: str) -> PurePosixPath:
    # A listing that names '..', an absolute path or nothing cannot be written safely.
    rel = PurePosixPath(path)
    name = PurePosixPath(rel.name)
    if not rel.name or rel.is_absolute() or ".." in rel.parts or name.name in (".", ".."):
        raise ModelIntegrityError(f"{where}: the server listed an unsafe path {path!r}.")
    return name


def _error_detail(exc: urllib.error.HTTPError) -> str:
    try:
        body = json.loads(exc.read() or b"{}")
    except (ValueError, OSError):
        return exc.reason if isinstance(exc.reason, str) else str(exc.code)
    if isinstance(body, dict) and body.get("error_code"):
        return f"{body.get('error_code')}: {str(body.get('message', ''))[:300]}"
    return exc.reason if isinstance(exc.reason, str) else str(exc.code)


class RegistryCache:
    """Verified local copies of registry versions under ``cache_dir/<name>/v<version>/``."""

    def __init__(self, client: RegistryClient, cache_dir: Path) -> None:
        self.client = client
        self.cache_dir = cache_dir

    def folder(self, version: RegistryVersion) -> Path:
        return self.cache_dir / _safe_name(version.name) / f"v{version.version}"

    def fetch(self, version: RegistryVersion) -> model_store.PublishedModel:
        """The verified, loaded model of ``version``: from the cache when its copy passes its
        hashes, else downloaded (a copy that fails them is deleted first)."""
        _require_promotion_tag(version)
        final = self.folder(version)
        if final.is_dir():
            try:
                return _load_verified(final, version)
            except ModelStoreError:  # altered, truncated or half-deleted: fetch it again
                shutil.rmtree(final, ignore_errors=True)
        staging = final.with_name(f".staging-{final.name}-{uuid.uuid4().hex[:8]}")
        try:
            self._download(version, staging)
            model = _load_verified(staging, version)
            staging.rename(final)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        return dataclasses.replace(model, folder=final)

    def _download(self, version: RegistryVersion, staging: Path) -> None:
        staging.mkdir(parents=True)
        model_uri = self.client.model_artifact_uri(version)
        self.client.download_tree(model_uri, staging / model_store.MODEL_SUBDIR)
        if not version.run_id:
            raise BadMetadataError(
                f"{version.name} version {version.version} names no training run: its "
                "promotion metadata cannot be found. Refusing it."
            )
        run_uri = self.client.run_artifact_uri(version.run_id)
        promotion = f"{run_uri.rstrip('/')}/{model_store.PROMOTION_ARTIFACT_DIR}"
        for name in (model_store.METADATA_FILE, model_store.METADATA_SIDECAR):
            self._download_promotion_file(version, promotion, name, staging)
        # the model card, hashed in the metadata (card_sha256) and checked with the model
        cards = model_store.read_metadata(staging).get("card_sha256")
        if isinstance(cards, dict):
            for name in cards:
                if name in model_store.CARD_FILES:
                    self._download_promotion_file(version, promotion, name, staging)

    def _download_promotion_file(
        self, version: RegistryVersion, promotion: str, name: str, staging: Path
    ) -> None:
        try:
            self.client.download_file(f"{promotion}/{name}", staging / name)
        except RegistryNotFoundError:
            raise BadMetadataError(
                f"{version.name} version {version.version}: its run has no "
                f"{model_store.PROMOTION_ARTIFACT_DIR}/{name}, so it cannot be verified. "
                "Refusing it; promote models with `bcml train`."
            ) from None


def _safe_name(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]", "_", name)


def _require_promotion_tag(version: RegistryVersion) -> None:
    if not version.metadata_sha256:
        raise BadMetadataError(
            f"{version.name} version {version.version} has no promotion metadata (no "
            f"{model_store.METADATA_SHA256_TAG} tag): it was not promoted by `bcml train`. "
            "Refusing it."
        )


def _load_verified(folder: Path, version: RegistryVersion) -> model_store.PublishedModel:
    """The folder passes ``model_store``'s checks and matches what the registry recorded."""
    recorded = model_store.recorded_metadata_sha256(folder)
    if recorded != version.metadata_sha256:
        raise ModelIntegrityError(
            f"{folder}: the promotion metadata's SHA256 ({recorded[:12]}...) is not the one "
            f"the registry recorded for {version.name} version {version.version} "
            f"({(version.metadata_sha256 or '')[:12]}...). Refusing it."
        )
    model = model_store.load_published(folder)
    if model.run_id != version.run_id:
        raise ModelIntegrityError(
            f"{folder}: the promotion metadata names run {model.run_id}, the registry version "
            f"{version.version} run {version.run_id}. Refusing it."
        )
    return model


__all__ = [
    "ModelRef",
    "RegistryCache",
    "RegistryClient",
    "RegistryVersion",
    "parse_model_uri",
]
