"""``bcml predict --engine spark``: the same scoring, distributed with Spark.

The input (Parquet or CSV, a file or a folder of parts, any Spark-readable URI) is scored by a
pandas UDF (``mapInPandas``) that calls :func:`~breast_cancer_ml.domain.batch.score_rows`, the
function the local engine and the API use, with the model's own ``proba`` function and threshold
shipped to the executors in the UDF's closure. The result is a folder of part files (Parquet or
CSV by the output's extension) with the local engine's columns (``row``, ``confidence`` and
``warnings`` included), plus, when some row is rejected, a reject folder (row, id, reason) named
like the local engine's reject file (``<output>.rejects.csv``).

Row numbers and order: one cheap job counts the rows of each input partition; each row's number
is its partition's offset plus its position (from ``monotonically_increasing_id``), so rejects
carry the same 1-based row number the local engine gives for a single input file, and each
output part holds one input partition in order. For a single input file, reading the output
parts in name order gives the rows in input order; for a folder of parts Spark orders partitions
by file size, so use ``id`` to join.

Executors need this package installed (``pip install breast-cancer-ml[spark]`` in the cluster's
Python environment): the UDF imports :mod:`breast_cancer_ml.domain.batch`.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sys
import time
import uuid
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse

import numpy as np

from breast_cancer_ml.adapters.model_source import load_scoring_model
from breast_cancer_ml.adapters.model_store import PublishedModel
from breast_cancer_ml.adapters.table_layout import (
    OUTPUT_COLUMNS,
    Format,
    resolve_layout,
    table_format,
)
from breast_cancer_ml.domain.conformal import ConformalParams
from breast_cancer_ml.domain.contract import Envelope
from breast_cancer_ml.errors import ConfigError, DataValidationError
from breast_cancer_ml.pipelines.score import (
    PredictSummary,
    check_distinct,
    refer_rule_text,
    rejects_path_for,
)
from breast_cancer_ml.settings import PredictSettings

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd
    from pyspark.sql import DataFrame, SparkSession

_POSITION_BITS = 33  # monotonically_increasing_id = partition id << 33 | position in partition
_ROW = "row"
_REASON = "_bcml_reason"
_NOT_NUMERIC = "_bcml_not_numeric"
_MID = "_bcml_mid"


@dataclass(frozen=True)
class SparkSummary(PredictSummary):
    """What a Spark scoring run did: a local run's summary plus the Spark master used."""

    master: str = ""
    partitions: int = 0

    def engine_lines(self) -> list[str]:
        return [f"spark:      {self.master}, {self.partitions} input partition(s)"]


def spark_session(master: str, app_name: str = "bcml-predict", **conf: str) -> SparkSession:
    """A SparkSession on ``master``; local masters run the UDF on this very Python."""
    session_cls = _session_class()
    if master.startswith("local"):
        os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
        os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
    builder = session_cls.builder.master(master).appName(app_name)
    for key, value in conf.items():
        builder = builder.config(key, value)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)  # pyspark 4's notice about pandas 3
            session = builder.getOrCreate()
    except Exception as exc:  # JVM start-up failures surface as many kinds
        raise ConfigError(f"cannot start Spark on {master!r}: {exc}") from None
    session.sparkContext.setLogLevel("WARN")
    return session


def _session_class() -> type[SparkSession]:
    try:
        from pyspark.sql import SparkSession
    except ImportError:
        raise ConfigError(
            "--engine spark needs pyspark and Java 17+: pip install 'breast-cancer-ml[spark]'."
        ) from None
    return SparkSession


def _is_local(path: str) -> bool:
    scheme = urlparse(path).scheme
    return scheme in ("", "file") or len(scheme) == 1  # "C:" on Windows


def _local(path: str) -> Path:
    return Path(urlparse(path).path if path.startswith("file:") else path)


def input_format(path: str) -> Format:
    """Parquet or CSV: from the name, else (a local folder) from its part files."""
    with contextlib.suppress(ConfigError):
        return table_format(path)
    if _is_local(path) and _local(path).is_dir():
        for part in sorted(_local(path).rglob("*")):
            if part.is_file() and not part.name.startswith(("_", ".")):
                with contextlib.suppress(ConfigError):
                    return table_format(part.name)
    raise ConfigError(
        f"{path}: cannot tell Parquet from CSV. Name it *.parquet or *.csv, or use a folder of "
        f"*.parquet or *.csv part files."
    )


def run_spark_predict(settings: PredictSettings) -> SparkSummary:
    """``bcml predict --engine spark``: start Spark on ``settings.master``, score, stop."""
    if settings.input == "-" or settings.output == "-":
        raise ConfigError("--engine spark reads and writes paths, not stdin/stdout (-).")
    rejects = rejects_path_for(settings.output, settings.rejects)
    check_distinct(settings.input, settings.output, rejects)
    owned = _session_class().getActiveSession() is None  # else reuse it, leave it running
    model = load_scoring_model(settings.model, settings.models_dir, settings.tracking_uri)
    spark = spark_session(settings.master)
    try:
        return score_with_spark(
            spark,
            settings.input,
            settings.output,
            model,
            rejects=rejects,
            strict=settings.strict,
            max_rejects=settings.max_rejects,
        )
    finally:
        if owned:
            spark.stop()


def read_input(spark: SparkSession, path: str) -> DataFrame:
    if _is_local(path) and not _local(path).exists():
        raise DataValidationError(f"{path}: no such file or folder.")
    reader = spark.read
    if input_format(path) == "parquet":
        return reader.parquet(path)
    # All CSV columns as text; the features are converted below so a bad cell becomes a
    # rejected row, not a failed job.
    return reader.option("header", True).option("mode", "FAILFAST").csv(path)


def score_with_spark(
    spark: SparkSession,
    source: str,
    output: str,
    model: PublishedModel,
    *,
    rejects: str,
    strict: bool = False,
    max_rejects: int | None = None,
) -> SparkSummary:
    """Score ``source`` into ``output`` (a folder) with ``model`` on ``spark``."""
    from pyspark.sql import functions as F  # noqa: N812 - the PySpark convention
    from pyspark.sql import types as T  # noqa: N812

    started = time.perf_counter()
    out_format = table_format(output)
    df = read_input(spark, source)
    layout = resolve_layout(list(df.columns), source, tuple(model.feature_names))

    counts, filled = _partition_counts(df, layout.ignored)
    for name, n_filled in filled.items():
        if n_filled:
            raise DataValidationError(
                f"{source}: unknown column {name.strip()!r} has values ({n_filled:,} row(s)). "
                f"Remove it or rename it to a WDBC column."
            )
    offsets = np.zeros(max(counts, default=-1) + 2, dtype=np.int64)
    for pid, n in counts.items():
        offsets[pid + 1] = n
    offsets = np.cumsum(offsets)
    total = int(offsets[-1])

    features = [f"_bcml_f{j}" for j in range(len(layout.features))]
    not_numeric = F.lit(0).cast("long")
    columns = [F.monotonically_increasing_id().alias(_MID)]
    for j, (name, alias) in enumerate(zip(layout.features, features, strict=True)):
        column = F.col(f"`{name}`")
        if isinstance(df.schema[name].dataType, T.StringType):
            value = column.try_cast("double")
            bad = column.isNotNull() & (F.trim(column) != "") & value.isNull()
            not_numeric = not_numeric + F.when(bad, F.lit(1 << j)).otherwise(F.lit(0))
        else:
            value = column.cast("double")
        columns.append(value.alias(alias))
    columns.append(not_numeric.alias(_NOT_NUMERIC))
    if layout.id is not None:
        id_type = df.schema[layout.id].dataType
        columns.append(F.col(f"`{layout.id}`").alias("id"))
    else:
        id_type = T.StringType()
        columns.append(F.lit(None).cast(id_type).alias("id"))

    schema = T.StructType(
        [
            T.StructField(_ROW, T.LongType()),
            T.StructField("id", id_type),
            T.StructField("prediction", T.LongType()),
            T.StructField("prediction_label", T.StringType()),
            T.StructField("probability", T.DoubleType()),
            T.StructField("confidence", T.StringType()),
            T.StructField("decision", T.StringType()),
            T.StructField("prediction_set", T.StringType()),
            T.StructField("warnings", T.StringType()),
            T.StructField("model_version", T.StringType()),
            T.StructField(_REASON, T.StringType()),
        ]
    )
    udf = make_partition_scorer(
        model.proba,
        model.threshold,
        model.run_id,
        features,
        offsets[:-1].copy(),
        model.envelope,
        model.conformal,
    )
    from pyspark import StorageLevel

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # pyspark 4's notice about pandas 3
        mapped = df.select(*columns).mapInPandas(udf, schema)
    scored = mapped.persist(StorageLevel.MEMORY_AND_DISK)
    try:
        bad_rows = scored.filter(F.col(_REASON).isNotNull())
        n_rejected = bad_rows.count()
        too_many = max_rejects is not None and n_rejected > max_rejects
        if n_rejected and (strict or too_many):
            first = bad_rows.orderBy(_ROW).select(_ROW, "id", _REASON).first()
            assert first is not None  # n_rejected > 0
            ident = "" if first["id"] is None else f" (id {first['id']!r})"
            where = f"row {first[_ROW]}{ident}"
            if strict:
                raise DataValidationError(
                    f"{source}: {where} is invalid: {first[_REASON]}. --strict stops at the "
                    f"first invalid row and writes no output."
                )
            raise DataValidationError(
                f"{source}: {n_rejected:,} invalid row(s), more than --max-rejects "
                f"{max_rejects}; nothing written. The first: {where}: {first[_REASON]}. Fix "
                f"the input, or raise --max-rejects."
            )
        good = scored.filter(F.col(_REASON).isNull()).select(*OUTPUT_COLUMNS)
        _write_atomically(good, output, out_format)
        if n_rejected:
            rejected_rows = bad_rows.select(
                _ROW, F.col("id").cast("string").alias("id"), F.col(_REASON).alias("reason")
            )
            _write_atomically(rejected_rows, rejects, "csv")
        stale = None if n_rejected else _remove_stale_rejects(rejects)
        out_of_envelope = (
            None if model.envelope is None else good.filter(F.col("warnings") != "").count()
        )
        referred = good.filter(F.col("decision") == "refer").count()
    finally:
        scored.unpersist()
    return SparkSummary(
        rows=total,
        scored=total - n_rejected,
        rejected=n_rejected,
        seconds=time.perf_counter() - started,
        output=output,
        rejects=rejects if n_rejected else None,
        stale_rejects_removed=stale,
        run_id=model.run_id,
        threshold=model.threshold,
        model_source=str(model.metadata.get("source", model.folder)),
        out_of_envelope=out_of_envelope,
        referred=referred,
        refer_rule=refer_rule_text(model),
        master=str(spark.sparkContext.master),
        partitions=len(counts),
    )


def _partition_counts(
    df: DataFrame, ignored: tuple[str, ...]
) -> tuple[dict[int, int], dict[str, int]]:
    """Rows per input partition, and the non-empty cells of each ignored column."""
    from pyspark.sql import functions as F  # noqa: N812 - the PySpark convention

    aggs = [F.count(F.lit(1)).alias("n")]
    for j, name in enumerate(ignored):
        column = F.col(f"`{name}`")
        filled = column.isNotNull() & (F.trim(column.cast("string")) != "")
        aggs.append(F.sum(F.when(filled, 1).otherwise(0)).alias(f"f{j}"))
    rows = df.groupBy(F.spark_partition_id().alias("p")).agg(*aggs).collect()
    counts = {int(r["p"]): int(r["n"]) for r in rows}
    n_filled = {name: sum(int(r[f"f{j}"] or 0) for r in rows) for j, name in enumerate(ignored)}
    return counts, n_filled


def make_partition_scorer(
    proba: Callable[[Any], Any],
    threshold: float,
    run_id: str,
    features: list[str],
    offsets: Any,
    envelope: Envelope | None = None,
    conformal: ConformalParams | None = None,
) -> Callable[[Iterator[pd.DataFrame]], Iterator[pd.DataFrame]]:
    """The ``mapInPandas`` function: pandas frames of one partition in, scored frames out.
    ``conformal`` is the model's refer rule (None: the set is the thresholded class)."""

    def score_partition(frames: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        import pandas as pd

        from breast_cancer_ml.domain.batch import LABELS, score_rows
        from breast_cancer_ml.domain.refer import DECISIONS, SET_LABELS
        from breast_cancer_ml.domain.scoring import CONFIDENCE_LEVELS

        levels = np.array(CONFIDENCE_LEVELS, dtype=object)
        decision_names = np.array(DECISIONS, dtype=object)
        set_names = np.array(SET_LABELS, dtype=object)

        mask = (1 << _POSITION_BITS) - 1
        bits = np.arange(len(features), dtype=np.int64)
        for frame in frames:
            n = len(frame)
            if n == 0:
                continue
            X = frame[features].to_numpy(dtype=np.float64, na_value=np.nan)
            packed = frame[_NOT_NUMERIC].to_numpy(dtype=np.int64)
            not_numeric = ((packed[:, None] >> bits) & 1).astype(bool)
            result = score_rows(proba, X, threshold, not_numeric, envelope=envelope)
            mid = frame[_MID].to_numpy(dtype=np.int64)
            rows = offsets[mid >> _POSITION_BITS] + (mid & mask) + 1
            prediction = np.zeros(n, dtype=np.int64)
            probability = np.full(n, np.nan)
            prediction[result.valid] = result.scored.prediction
            probability[result.valid] = result.scored.probability
            confidence = np.full(n, None, dtype=object)
            confidence[result.valid] = levels[result.confidence]
            flags = np.full(n, None, dtype=object)
            scored_warnings = np.full(result.n_scored, "", dtype=object)
            positions, texts = result.warning_texts()
            scored_warnings[positions] = texts
            flags[result.valid] = scored_warnings
            referral = result.refer(conformal)
            decision = np.full(n, None, dtype=object)
            decision[result.valid] = decision_names[referral.decision_codes]
            in_set = np.full(n, None, dtype=object)
            in_set[result.valid] = set_names[referral.set_codes]
            reason = np.full(n, None, dtype=object)
            reason[result.rejected] = result.reasons
            yield pd.DataFrame(
                {
                    _ROW: rows,
                    "id": frame["id"].to_numpy(),
                    "prediction": prediction,
                    "prediction_label": LABELS[prediction],
                    "probability": probability,
                    "confidence": confidence,
                    "decision": decision,
                    "prediction_set": in_set,
                    "warnings": flags,
                    "model_version": run_id,
                    _REASON: reason,
                }
            )

    return score_partition


def _remove_stale_rejects(folder: str) -> str | None:
    """Remove a local reject folder left by an earlier run (it would describe another input);
    only a folder that holds nothing but Spark's part files and markers."""
    if not _is_local(folder):
        return None
    path = _local(folder)
    if not path.is_dir():
        return None
    names = [p.name for p in path.iterdir()]
    spark_files = ("part-", "_SUCCESS", ".part-", "._SUCCESS")
    if not all(name.startswith(spark_files) for name in names):
        return None
    shutil.rmtree(path)
    return folder


def _write_atomically(df: DataFrame, target: str, fmt: Format) -> None:
    """Write ``df`` as a folder; on a local file system under a temporary name, renamed at the
    end (elsewhere Spark's own commit protocol and ``_SUCCESS`` marker apply)."""
    if not _is_local(target):
        _write(df, target, fmt, mode="overwrite")
        return
    final = _local(target)
    final.parent.mkdir(parents=True, exist_ok=True)
    partial = final.with_name(f"{final.name}.{uuid.uuid4().hex[:8]}.partial")
    try:
        _write(df, str(partial), fmt, mode="error")
        if final.exists():
            old = final.with_name(f"{final.name}.{uuid.uuid4().hex[:8]}.old")
            final.rename(old)
            partial.rename(final)
            shutil.rmtree(old, ignore_errors=True)
        else:
            partial.rename(final)
    finally:
        if partial.exists():
            shutil.rmtree(partial, ignore_errors=True)


def _write(df: DataFrame, target: str, fmt: Format, mode: str) -> None:
    writer = df.write.mode(mode)
    if fmt == "parquet":
        writer.parquet(target)
    else:
        writer.option("header", True).csv(target)
