"""Typed settings: the single source of truth for every default.

Values come from, highest priority first: command-line flags, ``BCML_*`` environment variables,
a TOML config file (``--config FILE``, flat keys named as the fields below), the defaults here.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_core import PydanticCustomError
from pydantic_settings import (
    BaseSettings,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from breast_cancer_ml.errors import ConfigError

BUNDLED_DATA = Path(__file__).parent / "data" / "wdbc.csv"
DEFAULT_TRACKING_URI = "sqlite:///mlflow.db"


class BcmlSettings(BaseSettings):
    """Base of every command's settings: strict, frozen, ``BCML_*`` environment, and sources
    in priority order flags (init) > environment > the ``--config`` TOML file > defaults."""

    model_config = SettingsConfigDict(
        env_prefix="BCML_", extra="forbid", frozen=True, validate_default=True
    )

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings, env_settings, TomlConfigSettingsSource(settings_cls))


#: The estimator registry's names (domain/models.py, which imports scikit-learn), spelled here
#: so that ``--help`` lists them without that import; a unit test keeps the two equal.
ALL_MODELS = "logreg,decision_tree,random_forest,svm_rbf,svm_log,hist_gb,knn"


class TrainSettings(BcmlSettings):
    """Settings of ``bcml train``: data, cross-validation, promotion gate, stores."""

    data: Path = Field(BUNDLED_DATA, description="CSV in the Kaggle WDBC layout.")
    model: str = Field(
        "logreg",
        description="Estimator name in the model registry: one of "
        + ", ".join(ALL_MODELS.split(","))
        + ".",
    )
    k_folds: int = Field(10, ge=2, le=50, description="Stratified CV folds on the training split.")
    smoke: bool = Field(False, description="Fast run on a stratified 20% sample; never promotes.")
    smoke_fraction: float = Field(0.2, gt=0, le=1, description="Share of rows a smoke run uses.")
    smoke_k_folds: int = Field(3, ge=2, description="Folds of a smoke run unless k_folds is set.")
    test_size: float = Field(0.2, gt=0, lt=1, description="Held-out test share (stratified).")
    seed: int = Field(42, ge=0, description="Seed of every split and estimator.")
    experiment: str = Field("breast-cancer-ml", min_length=1, description="MLflow experiment.")
    min_recall: float = Field(0.95, ge=0, le=1, description="Gate: minimum CV malignant recall.")
    max_recall_std: float = Field(0.05, ge=0, le=1, description="Gate: maximum CV recall std.")
    max_ece: float = Field(
        0.05,
        ge=0,
        le=1,
        description="Gate: maximum expected calibration error (10 equal-width bins) of the CV "
        "out-of-fold probabilities.",
    )
    max_brier: float = Field(
        0.05, ge=0, le=1, description="Gate: maximum CV Brier score (mean over folds)."
    )
    max_refer_rate: float = Field(
        0.05,
        ge=0,
        le=1,
        description="Refer rule: the smallest conformal alpha whose refer rate on the training "
        "split's out-of-fold predictions stays within this share of cases.",
    )
    conformal_alpha: float | None = Field(
        None,
        gt=0,
        lt=1,
        description="Refer rule: this conformal alpha instead of the one --max-refer-rate picks.",
    )
    models_dir: Path = Field(Path("models"), description="Where promoted models are published.")
    registered_model_name: str = Field(
        "breast-cancer-classifier", min_length=1, description="MLflow Model Registry name."
    )
    champion_alias: str = Field("champion", min_length=1, description="Registry alias to move.")
    require_promotion: bool = Field(False, description="Exit 3 when the gate fails.")
    tracking_uri: str | None = Field(
        None,
        description=f"MLflow tracking URI; else MLFLOW_TRACKING_URI, else {DEFAULT_TRACKING_URI}.",
    )
    summary_file: Path | None = Field(None, description="Also write run_summary.json here.")
    # --- model selection (issue 4) ---
    repeats: int = Field(
        1, ge=1, le=100, description="Repeats of the K-fold CV behind the gate (stabler, slower)."
    )
    target_recall: float | None = Field(
        None,
        gt=0,
        le=1,
        description="Lower the threshold (from out-of-fold training predictions) to reach "
        "this malignant recall; default: threshold 0.5.",
    )
    challenger_recall_margin: float = Field(
        0.01,
        ge=0,
        le=1,
        description="Champion/challenger: tolerated drop in mean per-fold recall vs the champion.",
    )
    challenger_auc_margin: float = Field(
        0.005,
        ge=0,
        le=1,
        description="Champion/challenger: tolerated drop in mean per-fold ROC AUC.",
    )
    force_promote: bool = Field(
        False, description="Promote even if the champion/challenger rule keeps the champion."
    )
    tune: bool = Field(
        False, description="Pick the model's grid point by inner CV on the training split first."
    )
    inner_k_folds: int = Field(5, ge=2, le=20, description="Folds of the --tune search.")
    tune_metric: Literal["roc_auc", "pr_auc", "brier", "precision_at_recall"] = Field(
        "roc_auc",
        description="Criterion of the --tune search (brier: lower is better; "
        "precision_at_recall: precision at the --target-recall threshold).",
    )

    @model_validator(mode="after")
    def _metric_needs_target(self) -> TrainSettings:
        if self.tune_metric == "precision_at_recall" and self.target_recall is None:
            raise ValueError("tune_metric precision_at_recall needs --target-recall")
        return self


class CompareSettings(BcmlSettings):
    """Settings of ``bcml compare``: candidates, repeated (nested) CV, bars, stores."""

    data: Path = Field(BUNDLED_DATA, description="CSV in the Kaggle WDBC layout.")
    models: str = Field(ALL_MODELS, description="Comma-separated registry names to compare.")
    k_folds: int = Field(10, ge=2, le=50, description="Outer stratified folds (training split).")
    repeats: int = Field(10, ge=1, le=100, description="Repeats of the outer K-fold CV.")
    tune: bool = Field(False, description="Nested CV: inner folds pick each model's grid point.")
    inner_k_folds: int = Field(5, ge=2, le=20, description="Inner folds (--tune, threshold).")
    tune_metric: Literal["roc_auc", "pr_auc", "brier", "precision_at_recall"] = Field(
        "roc_auc",
        description="Inner-CV criterion for --tune (brier: lower is better; "
        "precision_at_recall: precision at the --target-recall threshold).",
    )
    target_recall: float | None = Field(
        None,
        gt=0,
        le=1,
        description="Choose each fold's threshold inside the training folds to reach this "
        "malignant recall; default: threshold 0.5.",
    )
    max_refer_rate: float = Field(
        0.05,
        ge=0,
        le=1,
        description="Refer budget: in each outer fold, alpha is the smallest whose refer rate on "
        "the inner out-of-fold predictions is within it.",
    )
    test_size: float = Field(0.2, gt=0, lt=1, description="Held-out share left out of compare.")
    seed: int = Field(42, ge=0, description="Seed of every split and estimator.")
    experiment: str = Field(
        "breast-cancer-ml-compare", min_length=1, description="MLflow experiment."
    )
    min_recall: float = Field(0.95, ge=0, le=1, description="Gate: minimum CV malignant recall.")
    max_recall_std: float = Field(0.05, ge=0, le=1, description="Gate: maximum CV recall std.")
    bar_recall: float = Field(0.975, ge=0, le=1, description="Recommendation bar: mean recall.")
    bar_precision: float = Field(0.93, ge=0, le=1, description="Recommendation bar: precision.")
    bar_roc_auc: float = Field(0.995, ge=0, le=1, description="Recommendation bar: ROC AUC.")
    tracking_uri: str | None = Field(
        None,
        description=f"MLflow tracking URI; else MLFLOW_TRACKING_URI, else {DEFAULT_TRACKING_URI}.",
    )
    report_file: Path | None = Field(
        None, description="Write the selection report (Markdown, e.g. MODEL_SELECTION.md) here."
    )
    output_dir: Path | None = Field(
        None, description="Also keep the table and figures in this folder."
    )
    notes_file: Path | None = Field(
        None, description="Markdown appended to the report as hand-written notes."
    )
    progress: Literal["auto", "always", "never"] = Field(
        "auto", description="Progress bar on stderr; auto: only when stderr is a terminal."
    )

    @model_validator(mode="after")
    def _metric_needs_target(self) -> CompareSettings:
        if self.tune_metric == "precision_at_recall" and self.target_recall is None:
            raise ValueError("tune_metric precision_at_recall needs --target-recall")
        return self

    @field_validator("models")
    @classmethod
    def _known_models(cls, value: str) -> str:
        from breast_cancer_ml.domain.models import CANDIDATES

        names = [n.strip() for n in value.split(",") if n.strip()]
        if not names:
            raise ValueError("name at least one model")
        unknown = [n for n in names if n not in CANDIDATES]
        if unknown:
            raise ValueError(f"unknown model(s) {unknown}; known: {sorted(CANDIDATES)}")
        if len(set(names)) != len(names):
            raise ValueError("a model is named twice")
        return ",".join(names)

    @property
    def model_names(self) -> list[str]:
        return self.models.split(",")


S = TypeVar("S", bound=BaseSettings)


def load_settings(cls: type[S], config_file: Path | None = None, **overrides: Any) -> S:
    """Build settings ``cls`` from flags (``overrides``; ``None`` means "not given"), the
    environment, and an optional TOML file. Invalid values raise :class:`ConfigError`."""
    given = {k: v for k, v in overrides.items() if v is not None}
    target: type[S] = cls
    if config_file is not None:
        _check_toml(config_file, cls)
        config = {**cls.model_config, "toml_file": config_file}
        target = type(cls.__name__, (cls,), {"model_config": config})
    try:
        return target(**given)
    except ValidationError as exc:
        raise ConfigError(_describe(exc, config_file)) from None


def _check_toml(path: Path, cls: type[BaseSettings]) -> None:
    try:
        with path.open("rb") as fh:
            values = tomllib.load(fh)
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path}: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {path} is not valid TOML: {exc}") from None
    unknown = sorted(set(values) - set(cls.model_fields))
    if unknown:
        raise ConfigError(
            f"config file {path}: unknown setting(s) {unknown}. "
            f"Known settings: {sorted(cls.model_fields)}."
        )


def _describe(exc: ValidationError, config_file: Path | None) -> str:
    where = f" (flags, BCML_* environment or {config_file})" if config_file else ""
    lines = [f"invalid settings{where}:"]
    for err in exc.errors():
        field = ".".join(str(p) for p in err["loc"])
        if not field:  # a rule over several settings: its input is all of them, secrets too
            lines.append(f"  settings: {err['msg']}")
            continue
        lines.append(f"  {field}: {err['msg']} (got {err.get('input')!r})")
    return "\n".join(lines)


def _split_origins(value: Any) -> Any:
    """``"https://a, https://b"`` (flag or environment) -> ``["https://a", "https://b"]``."""
    if isinstance(value, str):
        return [origin.strip() for origin in value.split(",") if origin.strip()]
    return value


#: Shortest API key ``bcml serve`` accepts.
MIN_API_KEY_LENGTH = 16


class ServeSettings(BcmlSettings):
    """Settings of ``bcml serve``: the HTTP server, the model store it watches, input limits."""

    host: str = Field("127.0.0.1", min_length=1, description="Interface to bind.")
    port: int = Field(8000, ge=0, le=65535, description="TCP port (0 picks a free one).")
    workers: int = Field(1, ge=1, le=64, description="Worker processes (uvicorn).")
    models_dir: Path = Field(Path("models"), description="Model store whose latest/ is served.")
    max_batch_rows: int = Field(10_000, ge=1, description="Most rows in one batch request.")
    max_body_bytes: int = Field(
        16 * 1024 * 1024, ge=1024, description="Largest request body accepted (else 413)."
    )
    body_timeout: float = Field(
        10.0,
        gt=0,
        le=600,
        description="Seconds a client has to send its whole request body (else 408, closed).",
    )
    limit_concurrency: int = Field(
        32,
        ge=1,
        le=10_000,
        description="Requests handled at once per worker; past it 503 with Retry-After "
        "(32 x max_body_bytes 16 MiB = 512 MiB of bodies at most: fits a 1 GiB task).",
    )
    api_key: SecretStr | None = Field(
        None,
        description="If set (16+ characters), prediction routes require "
        "'Authorization: Bearer <key>'.",
    )
    cors_origins: Annotated[list[str], NoDecode] = Field(
        [], description="Comma-separated origins allowed by CORS (none: CORS off)."
    )
    reload_interval: float = Field(
        2.0,
        gt=0,
        le=3600,
        description="Seconds between checks of models_dir/latest (or of the model_uri alias).",
    )
    model_uri: str | None = Field(
        None,
        pattern=r"^models:/[^/@]+(@[^/@]+|/\d+)$",
        description="Serve models:/<name>@<alias> (or models:/<name>/<version>) from an MLflow "
        "tracking server instead of models_dir/latest, following the alias; credentials from "
        "MLFLOW_TRACKING_USERNAME/MLFLOW_TRACKING_PASSWORD (or MLFLOW_TRACKING_TOKEN).",
    )
    tracking_uri: str | None = Field(
        None,
        description="MLflow tracking server (http[s]://) for model_uri; else MLFLOW_TRACKING_URI.",
    )
    model_cache_dir: Path | None = Field(
        None, description="Local cache of registry versions (default: MODELS_DIR/registry-cache)."
    )
    registry_retry_max: float = Field(
        30.0,
        gt=0,
        le=3600,
        description="Longest wait between retries while the tracking server is unreachable "
        "(the wait doubles from reload_interval up to this).",
    )
    log_level: Literal["debug", "info", "warning", "error"] = Field(
        "info", description="Log level of the JSON logs."
    )
    access_log: bool = Field(False, description="Log one JSON line per request.")
    drift_window_seconds: float = Field(
        300.0,
        ge=1,
        le=86_400,
        description="Length of the rolling windows of the drift gauges on /metrics "
        "(predicted-malignant, out-of-range and refer rates of the current and last window).",
    )
    prediction_log: Path | None = Field(
        None,
        description="Append one record per answered case to daily JSON-lines files in this "
        "folder, hash-chained (bcml audit verify); see docs/serving.md.",
    )
    log_features: bool = Field(
        False,
        description="Also write each case's 30 feature values in the prediction log (patient "
        "data: off by default; needs prediction_log).",
    )

    _split_cors = field_validator("cors_origins", mode="before")(_split_origins)

    @model_validator(mode="after")
    def _log_features_needs_log(self) -> ServeSettings:
        if self.log_features and self.prediction_log is None:
            raise ValueError("log_features needs prediction_log (the folder to write to)")
        return self

    @model_validator(mode="after")
    def _strong_api_key(self) -> ServeSettings:
        # a model-level rule: _describe prints no input for it, so the key is never shown
        if self.api_key is None:
            return self
        key = self.api_key.get_secret_value()
        if len(key) < MIN_API_KEY_LENGTH:
            raise PydanticCustomError(
                "api_key_too_short",
                f"api_key (BCML_API_KEY) is set but {'empty' if not key else 'too short'} "
                f"({len(key)} characters); use a random key of at least {MIN_API_KEY_LENGTH} "
                "characters (e.g. python -c 'import secrets; print(secrets.token_urlsafe(32))'), "
                "or unset it to serve without a key",
            )
        if not key.isascii() or not key.isprintable() or any(c.isspace() for c in key):
            raise PydanticCustomError(
                "api_key_not_printable",
                "api_key (BCML_API_KEY) must be printable ASCII without spaces: it is sent "
                "in an HTTP header",
            )
        return self


class PredictSettings(BcmlSettings):
    """Settings of ``bcml predict`` (batch scoring). Environment prefix ``BCML_PREDICT_``, so
    ``BCML_MODEL`` (training's estimator name) never leaks in as the model to score with."""

    model_config = SettingsConfigDict(env_prefix="BCML_PREDICT_")

    input: str = Field(
        min_length=1,
        description="CSV (.csv, .csv.gz) or Parquet file in the training layout; - for stdin. "
        "Spark engine: a file or a folder of parts.",
    )
    output: str = Field(
        min_length=1,
        description="Where predictions go (.csv, .csv.gz, .parquet); - for stdout. "
        "Spark engine: a folder.",
    )
    model: str | None = Field(
        None,
        description="Model folder (promoted, models dir or MLflow model) or "
        "models:/<name>@<alias>; default: MODELS_DIR/latest.",
    )
    models_dir: Path = Field(Path("models"), description="Model store holding latest/.")
    chunk_size: int = Field(
        8_192, ge=1, le=10_000_000, description="Rows scored at a time (memory stays flat)."
    )
    strict: bool = Field(
        False,
        description="Stop at the first invalid row with exit code 2; nothing is written (with "
        "--output -, the output is held in a private temporary file until the whole input has "
        "passed).",
    )
    max_rejects: int | None = Field(
        None,
        ge=0,
        description="Stop with exit code 2, writing nothing, once more than this many rows are "
        "invalid (default: no limit). Held like --strict with --output -.",
    )
    rejects: str | None = Field(
        None,
        description="Reject file (row, id, reason), written only when a row is rejected; "
        "default: OUTPUT + .rejects.csv, e.g. scores.parquet.rejects.csv (bcml-rejects.csv "
        "when OUTPUT is -).",
    )
    explain: int | None = Field(
        None,
        ge=1,
        le=30,
        description="Add each row's explanation: explain_base (the reference log-odds) and the "
        "K largest contributions to its log-odds, explain_1_feature, explain_1_contribution, "
        "... (1 <= K <= 30; local engine only). A non-linear model needs the `explain` extra "
        "(Kernel SHAP, far slower than scoring): docs/batch.md.",
    )
    engine: Literal["local", "spark"] = Field(
        "local", description="local (streaming, one process) or spark (pyspark, [spark] extra)."
    )
    master: str = Field("local[*]", description="Spark master URL (engine spark only).")
    tracking_uri: str | None = Field(
        None, description="MLflow tracking URI for models:/ URIs; else MLFLOW_TRACKING_URI."
    )


class MonitorSettings(BcmlSettings):
    """Settings of ``bcml monitor`` (drift of recent cases from the training reference).
    Environment prefix ``BCML_MONITOR_``, as ``bcml predict``'s, so that ``BCML_MODEL``
    (training's estimator name) never leaks in as the model."""

    model_config = SettingsConfigDict(env_prefix="BCML_MONITOR_")

    log: Path | None = Field(
        None,
        description="Prediction log folder (bcml serve --prediction-log): its "
        "predictions-*.jsonl files. Per-feature drift needs a log written with --log-features.",
    )
    input: Path | None = Field(
        None,
        description="CSV (.csv, .csv.gz) or Parquet file of cases with the 30 WDBC feature "
        "columns (other columns ignored), scored here with the model.",
    )
    model: str | None = Field(
        None,
        description="Model whose training reference is compared with: a promoted model folder "
        "or models:/<name>@<alias>; default: MODELS_DIR/latest.",
    )
    models_dir: Path = Field(Path("models"), description="Model store holding latest/.")
    tracking_uri: str | None = Field(
        None, description="MLflow tracking URI for models:/ URIs; else MLFLOW_TRACKING_URI."
    )
    since: str | None = Field(
        None,
        description="Only log records from this UTC time on (ISO 8601, e.g. 2026-11-01 or "
        "2026-11-01T08:00:00Z); --log only.",
    )
    last: int | None = Field(
        None, ge=1, description="Only the last N cases (after --since, if given)."
    )
    output_dir: Path = Field(
        Path(), description="Where monitor_report.json and monitor_report.html go."
    )
    psi_threshold: float = Field(
        0.2,
        gt=0,
        description="A feature has drifted when its PSI exceeds this (0.2: the "
        "usual 'significant shift').",
    )
    ks_alpha: float = Field(
        0.01,
        gt=0,
        lt=1,
        description="...or when its KS p-value, Bonferroni-adjusted over the 30 features, is "
        "below this.",
    )
    min_cases: int = Field(
        30,
        ge=1,
        description="Fewer recent cases than this: everything is reported, nothing is flagged.",
    )
    max_rate_shift: float = Field(
        0.10,
        gt=0,
        le=1,
        description="A rate (predicted malignant, refer) has drifted when it moved more than "
        "this (absolute) from the reference...",
    )
    rate_alpha: float = Field(
        0.01, gt=0, lt=1, description="...and Fisher's exact test gives a p-value below this."
    )
    max_out_of_range_rate: float = Field(
        0.05,
        ge=0,
        le=1,
        description="Drift when more than this share of cases lies outside the model's "
        "plausibility envelope (0 on the training split).",
    )

    @model_validator(mode="after")
    def _one_source(self) -> MonitorSettings:
        if (self.log is None) == (self.input is None):
            raise ValueError("give exactly one of --log DIR or --input FILE")
        if self.since is not None and self.log is None:
            raise ValueError("--since applies to a prediction log (--log); use --last N")
        return self
