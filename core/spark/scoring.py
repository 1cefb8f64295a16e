"""Scoring a log on Spark with a saved bundle: the same scores as the local engine.

The within-file context is computed by Spark (``core.spark.context``); everything per row
(features, the NumPy forward pass, errors, reasons) runs in the executors over Arrow
batches with ``mapInPandas``, through ``core.scoring.score_rows`` — the very function the
local ``score_log`` calls on each chunk. The detector (fitted tables and dense weights, no
Keras model) is shipped once (a broadcast; a file artifact under Spark Connect) and unpickled once
per Python worker.

Thresholds: ``--threshold`` is used as given; ``--percentile``/``--rate`` are exact (the local
engine's NumPy quantile on the same errors) up to ``EXACT_ROWS`` scored rows, and above that
Spark's ``approxQuantile`` with relative error ``QUANTILE_ERROR``: the threshold is a value
whose rank is within ``QUANTILE_ERROR * n`` of the exact rank. ``--top N`` is always exact.
"""

from __future__ import annotations

import copy
import hashlib
import pickle
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from core.errors import DataError
from core.schema import FEATURE_FIELDS, FIELDS, RECIPIENT, SENDER, SUBJECT, TIME, UUID
from core.scoring import (
    ERROR,
    FIELD_ERROR_PREFIX,
    IS_ANOMALY,
    NEW_PREFIX,
    REASON,
    SCORED,
    TOP_FIELD,
    field_column,
    resolve_threshold,
    score_rows,
    unscored_reasons,
)
from core.spark.context import CONTEXT_NAMES, SCORABLE, T, with_context
from core.spark.io import ORDER_COLUMNS, RAW_TIME, quoted

EXACT_ROWS = 1_000_000
QUANTILE_ERROR = 1e-4
FIELD_ERRORS = [field_column(FIELD_ERROR_PREFIX, f) for f in FEATURE_FIELDS]
NEW_FLAGS = [field_column(NEW_PREFIX, f) for f in (SENDER, RECIPIENT, SUBJECT)]

# Unpickled values (detectors, workspace marks) per Python worker, by shipment: once per worker, not per batch.
_SHIPPED: dict = {}
_SHIPPED_KEEP = 4  # a job ships one or two values; older ones are dropped beyond this many


def is_connect(spark) -> bool:
    """Whether ``spark`` is a Spark Connect client session (no SparkContext, no broadcasts)."""
    return type(spark).__module__.startswith("pyspark.sql.connect")


def shippable(detector):
    """A copy of ``detector`` with what scoring needs only: the Keras model (and its path,
    which means nothing on another machine) stay behind; ``dense_layers_`` carry the weights."""
    light = copy.copy(detector)
    light.__dict__ = {k: v for k, v in detector.__dict__.items() if k not in ("_model", "model_path_")}
    return light


class _Shipped:
    """A pickled value (the light detector, the workspace's marks), shipped once per executor:
    a broadcast variable on classic Spark; under Spark Connect, where broadcasts don't exist,
    a file artifact named by its content (``addArtifacts(..., file=True)``), which each node
    downloads once and each Python worker reads once."""

    def __init__(self, spark, value):
        payload = pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
        self.key = hashlib.sha256(payload).hexdigest()
        self.broadcast, self.file = None, None
        if not is_connect(spark):
            self.broadcast = spark.sparkContext.broadcast(payload)
            return
        self.file = f"email-ad-{self.key[:32]}.pkl"  # same content, same name: adding it again is allowed
        with tempfile.TemporaryDirectory(prefix="email-ad-ship-") as folder:
            path = Path(folder) / self.file
            path.write_bytes(payload)
            # Uploaded before it returns (on a classic session addArtifacts would only note the
            # path, and the file would be gone when the executors fetch it).
            spark.addArtifacts(str(path), file=True)

    def get(self):
        if self.key not in _SHIPPED:
            if self.broadcast is not None:
                payload = self.broadcast.value
            else:
                from pyspark import SparkFiles

                payload = Path(SparkFiles.get(self.file)).read_bytes()
            if len(_SHIPPED) >= _SHIPPED_KEEP:
                _SHIPPED.clear()
            _SHIPPED[self.key] = pickle.loads(payload)
        return _SHIPPED[self.key]


def local_rows(rows: pd.DataFrame) -> pd.DataFrame:
    """Rows of an Arrow batch (fields as text, ``T`` read, context computed by Spark) as the
    local engine holds them after ``add_context``: the frame ``score_rows`` takes."""
    stamps = rows[T].to_numpy(dtype="float64").astype(np.int64).astype("datetime64[us]")
    # Columns handed over as Series, never through NumPy object arrays: text converted to
    # pandas' Arrow strings once, times never as Timestamp objects (100× faster per batch).
    return pd.DataFrame(
        {
            **{name: rows[name].astype("str").reset_index(drop=True) for name in (UUID, RECIPIENT, SENDER, SUBJECT)},
            TIME: pd.Series(stamps, dtype="datetime64[us]").dt.tz_localize("UTC"),
            **{context: rows[column].to_numpy(dtype=float) for column, context in CONTEXT_NAMES.items()},
        }
    )


def mark_rows(marks, batch: pd.DataFrame) -> dict:
    """The workspace's ``MARK_COLUMNS`` for a batch's rows, by ``ScoringMarks.apply`` (the local
    ``detect``'s function) on the rows' fields and their read time (``T``; none: unreadable)."""
    from core.workspace.feedback import MARK_COLUMNS

    rows = pd.DataFrame(
        {
            **{name: batch[name].reset_index(drop=True) for name in (UUID, RECIPIENT, SENDER, SUBJECT)},
            TIME: pd.to_datetime(batch[T].reset_index(drop=True), unit="us", utc=True),
        }
    )
    marked = marks.apply(rows).set_axis(batch.index)
    return {name: marked[name] for name in MARK_COLUMNS}  # Int64 ids keep their missing values


def _score_batches(shipped: _Shipped, extra_columns: list[str], marks: _Shipped | None = None):
    def run(batches):
        detector = shipped.get()
        for batch in batches:
            n = len(batch)
            out = {name: batch[name] for name in (*FIELDS[:-1], *extra_columns, *ORDER_COLUMNS)}
            scorable = batch[SCORABLE].to_numpy(dtype=bool)
            result = {
                ERROR: np.full(n, np.nan),
                **{name: np.full(n, np.nan) for name in FIELD_ERRORS},
                TOP_FIELD: np.full(n, "", dtype=object),
                REASON: np.full(n, "", dtype=object),
                **{name: np.zeros(n, dtype=bool) for name in NEW_FLAGS},
            }
            at = np.flatnonzero(scorable)
            if len(at):
                for name, values in score_rows(detector, local_rows(batch.iloc[at])).items():
                    result[name][at] = values
            if len(at) < n:
                missing = np.flatnonzero(~scorable)
                result[REASON][missing] = unscored_reasons(batch[RAW_TIME].iloc[missing]).to_numpy()
            out.update({SCORED: scorable, T: batch[T]})
            out.update(result)
            if marks is not None:
                out.update(mark_rows(marks.get(), batch))
            yield pd.DataFrame(out)

    return run


def score_spark_log(spark, detector, log, marks=None, keep: list | None = None):
    """Scores of every row of ``log`` (a ``SparkLog``) as a Spark DataFrame, ``is_anomaly`` not
    yet set (it depends on the threshold). Given ``marks`` (the workspace's ``ScoringMarks``),
    with its ``MARK_COLUMNS``: ``suppressed_by``, ``known_event``, ``verdict``, ``carry_over``.
    Lazy: nothing runs until the result is used. ``keep``: see ``with_context``."""
    from pyspark.sql import functions as F
    from pyspark.sql import types as Ty

    if not hasattr(detector, "dense_layers_"):
        raise DataError("This detector has no dense weights to score with on Spark; save it as a bundle first.")
    context = with_context(log.frame, keep)
    in_fields = {f.name: f for f in context.schema.fields}
    text = Ty.StringType()
    schema = Ty.StructType(
        [Ty.StructField(name, text) for name in FIELDS[:-1]]
        + [in_fields[name] for name in (*log.extra_columns, *ORDER_COLUMNS)]
        + [Ty.StructField(SCORED, Ty.BooleanType()), Ty.StructField(T, Ty.LongType())]
        + [Ty.StructField(ERROR, Ty.DoubleType())]
        + [Ty.StructField(name, Ty.DoubleType()) for name in FIELD_ERRORS]
        + [Ty.StructField(TOP_FIELD, text), Ty.StructField(REASON, text)]
        + [Ty.StructField(name, Ty.BooleanType()) for name in NEW_FLAGS]
    )
    shipped_marks = None
    if marks is not None:
        from core.workspace.feedback import CARRY_OVER, KNOWN_EVENT, SUPPRESSED_BY, VERDICT

        schema = schema.add(SUPPRESSED_BY, Ty.LongType()).add(KNOWN_EVENT, Ty.LongType())
        schema = schema.add(VERDICT, text).add(CARRY_OVER, text)
        shipped_marks = _Shipped(spark, marks)
    batches = _score_batches(_Shipped(spark, shippable(detector)), log.extra_columns, shipped_marks)
    scored = context.mapInPandas(batches, schema)
    return scored.withColumn(TIME, F.timestamp_micros(F.col(T))).drop(T)


def score_columns(scored, extra_columns: list[str]) -> list[str]:
    """The local ``detect`` output layout: UUID, error, is_anomaly, reasons, then the rest, the
    workspace's marks last (when ``scored`` has them)."""
    from core.workspace.feedback import MARK_COLUMNS

    first = [UUID, ERROR, IS_ANOMALY, TOP_FIELD, REASON, SCORED]
    marks = [c for c in MARK_COLUMNS if c in scored.columns]
    rest = [*FIELDS[1:], *extra_columns, *FIELD_ERRORS, *NEW_FLAGS, *marks]
    return first + [c for c in rest if c not in first]


@dataclass
class SparkThreshold:
    value: float
    exact: bool
    note: str


def spark_threshold(
    scored,
    *,
    fitted: float,
    value: float | None = None,
    percentile: float | None = None,
    rate: float | None = None,
    top: int | None = None,
    exact_rows: int = EXACT_ROWS,
) -> SparkThreshold:
    """The threshold rule of ``core.scoring.resolve_threshold`` over a Spark column of errors."""
    from pyspark.sql import functions as F

    # Validation and the trivial rules exactly as locally (no errors needed for them).
    resolve_threshold(np.array([1.0]), fitted=fitted, value=value, percentile=percentile, rate=rate, top=top)
    if value is not None:
        return SparkThreshold(float(value), True, "given")
    if percentile is None and rate is None and top is None:
        return SparkThreshold(float(fitted), True, "the model's")
    errors = scored.where(F.col(ERROR).isNotNull() & ~F.isnan(ERROR)).select(ERROR)
    if top is not None:
        # The N highest errors: Spark keeps N values per partition, never the column.
        nth = errors.orderBy(F.col(ERROR).desc()).limit(top).agg(F.min(ERROR), F.count(F.lit(1))).first()
        if not nth[1]:
            return SparkThreshold(float(fitted), True, "the model's (no scored rows)")
        return SparkThreshold(float(np.nextafter(nth[0], -np.inf)), True, f"top {top}")
    n = errors.count()
    if n == 0:
        return SparkThreshold(float(fitted), True, "the model's (no scored rows)")
    q = percentile / 100 if percentile is not None else 1 - rate
    rule = f"percentile {percentile}" if percentile is not None else f"rate {rate}"
    if n <= exact_rows:
        # One float per scored row: exact, the local engine's own quantile.
        column = errors.toPandas()[ERROR].to_numpy(dtype=float)
        exact = resolve_threshold(column, fitted=fitted, percentile=percentile, rate=rate)
        return SparkThreshold(exact, True, f"{rule}, exact over {n:,} rows")
    (approx,) = errors.approxQuantile(ERROR, [q], QUANTILE_ERROR)
    bound = int(np.ceil(QUANTILE_ERROR * n))
    return SparkThreshold(float(approx), False, f"{rule}, approximate: rank within ±{bound:,} of {n:,} rows")


def check_some_scored(scored, log) -> None:
    """The local loader's error when no time at all could be read, judged over all rows."""
    from pyspark.sql import functions as F

    if scored.where(F.col(SCORED)).limit(1).count():
        return
    raw = [r[0] for r in log.frame.select(quoted(TIME)).limit(3).collect()]  # three examples
    shown = ", ".join(repr(v) for v in raw)
    raise DataError(
        f"{log.label}: no value in column {log.columns[TIME]!r} could be read as a time "
        f"(e.g. {shown}). Expected ISO 8601 (2026-11-24T17:05:00Z), RFC 2822, "
        "MM/DD/YYYY HH:MM:SS or epoch seconds; map the right column to Time Processed."
    )
