"""Training on Spark: count tables over every row, the network on a sample, an ordinary bundle.

The email preprocessor learns two kinds of things. Its count tables (senders, domains,
pairs, recipients, subjects, words, 3-grams, hours…) are sums over rows: here Spark computes
them with group-bys over **all** training rows (``spark_count_tables``), and only the tables
travel to the driver. The scaling and the network need the rows themselves: they are
learned on the driver from a uniform sample of the training rows (``sample_rows``, default
one million), described with the full tables. ``EmailFeatures.fit_transform_from_counts``
joins the two, and ``AutoencoderDetector.fit_rows`` runs the screening fit, the trimming,
the final fit and the threshold exactly as the local ``fit`` does, through ``SparkRows``:

- the split into training and held-out rows is a hash of where each row came from (file,
  block, position) with the seed: uniform, and the same on every run over the same input;
- screening scores **every** training row in the executors (``score_rows``' path, the
  broadcast detector) and the least normal ``trim_fraction`` of them are left out of the
  final tables, as locally; the cut is the exact quantile up to ``EXACT_ROWS`` rows, then
  Spark's ``approxQuantile`` (rank within ``QUANTILE_ERROR`` of the exact one);
- the threshold is the percentile of the held-out rows' errors, over a sample of the held-out
  rows as large, relative to the training sample, as the held-out share is locally.

On a log no larger than the sample every row comes to the driver and the tables equal those
the local engine learns from the same rows (``tests/test_spark.py`` checks it).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np
import pandas as pd

from core.errors import DataError
from core.features.counting import PAIR_SEPARATOR
from core.features.email import CountTables, row_keys
from core.features.parsing import DistinctSubjects, ParsedLog, subject_ngrams
from core.schema import RECIPIENT, SENDER, SUBJECT, UUID
from core.spark.context import CONTEXT_NAMES, SCORABLE, T, with_context
from core.spark.io import ORDER_COLUMNS
from core.spark.scoring import EXACT_ROWS, QUANTILE_ERROR, _Shipped, local_rows, shippable
from core.spark.workspace import PROTECTED

DEFAULT_SAMPLE_ROWS = 1_000_000
# Per row: two uniform draws in [0, 1) from a hash of where the row came from.
SPLIT, DRAW = "_split", "_draw"
# Per row, the parts the count tables are keyed by (as ``ParsedLog`` parses them locally).
P_SENDER, P_SENDER_DOMAIN, P_NAME, P_SUBJECT, P_HOUR, P_RECIPIENTS, P_ADDRESSES, P_DOMAINS, P_KEY = (
    "_p_sender",
    "_p_sender_domain",
    "_p_name",
    "_p_subject",
    "_p_hour",
    "_p_recipients",
    "_p_addresses",
    "_p_domains",
    "_p_key",
)
SCREENING = "_screening_error"
# The rows' own columns: what the driver's sample needs to be the local frame again.
ROW_COLUMNS = (UUID, RECIPIENT, SENDER, SUBJECT, T, *CONTEXT_NAMES, *ORDER_COLUMNS)
# Tables whose keys ``count_tables`` builds as pandas text ("str"), not Python objects.
_TEXT_KEYED = ("pair", "sender_to_domain", "sender_name", "sender_hour", "domain_to_domain", "word")


# --------------------------------------------------------------------------- per row, in the executors


def _part_batches(batches):
    """Each batch's rows with the parts their counts are keyed by, parsed by ``ParsedLog``."""
    for batch in batches:
        if not len(batch):
            continue
        frame = local_rows(batch)
        parsed = ParsedLog(frame)
        recipients = parsed.recipients
        addresses = recipients.address.values[recipients.address.codes]
        domains = recipients.domain.values[recipients.domain.codes]
        # Every row has at least one entry ("" for no address), in row order.
        bounds = np.cumsum(np.bincount(recipients.row, minlength=parsed.n))[:-1]
        out = batch.assign(
            **{
                P_SENDER: parsed.sender.to_numpy(dtype=object),
                P_SENDER_DOMAIN: parsed.sender_domain.to_numpy(dtype=object),
                P_NAME: parsed.sender_name.to_numpy(dtype=object),
                P_SUBJECT: parsed.subject_key.to_numpy(dtype=object),
                P_HOUR: parsed.times.dt.hour.to_numpy(dtype=np.int32),
                P_RECIPIENTS: np.bincount(recipients.row, weights=recipients.present.astype(float), minlength=parsed.n),
                P_ADDRESSES: [part.tolist() for part in np.split(addresses, bounds)],
                P_DOMAINS: [part.tolist() for part in np.split(domains, bounds)],
                P_KEY: row_keys(frame).view(np.int64),
            }
        )
        yield out


def _subject_batches(batches):
    """Per distinct subject (with its row count): its words and hashed 3-grams, weighted by
    the count, summed within the batch — the partial sums of the word and 3-gram tables."""
    for batch in batches:
        if not len(batch):
            continue
        keys = batch[P_SUBJECT].astype(object).reset_index(drop=True)
        counts = batch["n"].to_numpy(dtype=np.float64)
        tokens = DistinctSubjects(pd.Series(keys, dtype=object)).tokens
        words = pd.Series(counts[tokens["row"].to_numpy()]).groupby(tokens["token"].to_numpy()).sum()
        grams = np.asarray(subject_ngrams(keys).T @ counts).ravel()
        at = np.flatnonzero(grams)
        yield pd.DataFrame(
            {
                "table": ["word"] * len(words) + ["ngram"] * len(at),
                "key": [*map(str, words.index), *map(str, at)],
                "n": np.concatenate([words.to_numpy(dtype=np.float64), grams[at]]),
            }
        )


def _screening_batches(shipped: _Shipped):
    def run(batches):
        detector = shipped.get()
        for batch in batches:
            if len(batch):
                yield batch.assign(**{SCREENING: detector.screening_errors(local_rows(batch))})

    return run


# --------------------------------------------------------------------------- the tables, by Spark


def parts_of(frame):
    """``frame`` (rows with their time read and context, ``ROW_COLUMNS``) with the parts the
    count tables are keyed by."""
    from pyspark.sql import types as Ty

    text = Ty.StringType()
    schema = Ty.StructType(
        list(frame.schema.fields)
        + [Ty.StructField(name, text) for name in (P_SENDER, P_SENDER_DOMAIN, P_NAME, P_SUBJECT)]
        + [
            Ty.StructField(P_HOUR, Ty.IntegerType()),
            Ty.StructField(P_RECIPIENTS, Ty.DoubleType()),
            Ty.StructField(P_ADDRESSES, Ty.ArrayType(text)),
            Ty.StructField(P_DOMAINS, Ty.ArrayType(text)),
            Ty.StructField(P_KEY, Ty.LongType()),
        ]
    )
    return frame.mapInPandas(_part_batches, schema)


def spark_count_tables(parts) -> CountTables:
    """``core.features.email.count_tables`` of the rows of ``parts`` (``parts_of``), counted by
    Spark: one union of keyed rows, one group-by; the driver receives the tables only."""
    from pyspark.sql import functions as F
    from pyspark.sql import types as Ty

    def keyed(name: str, frame, key, weight=None):
        n = F.lit(1.0) if weight is None else F.col(weight)
        return frame.select(F.lit(name).alias("table"), key.cast("string").alias("key"), n.alias("n"))

    def pair(left: str, right: str):
        return F.concat_ws(PAIR_SEPARATOR, F.col(left), F.col(right).cast("string"))

    entries = parts.select(P_SENDER, P_SENDER_DOMAIN, F.inline(F.arrays_zip(P_ADDRESSES, P_DOMAINS)))
    named = parts.where(F.col(P_NAME) != "")
    subjects = parts.groupBy(P_SUBJECT).agg(F.count(F.lit(1)).cast("double").alias("n"))
    schema = Ty.StructType(
        [Ty.StructField("table", Ty.StringType()), Ty.StructField("key", Ty.StringType())]
        + [Ty.StructField("n", Ty.DoubleType())]
    )
    pieces = [
        keyed("sender", parts, F.col(P_SENDER)),
        keyed("sender_recipients", parts, F.col(P_SENDER), P_RECIPIENTS),
        keyed("sender_domain", parts, F.col(P_SENDER_DOMAIN)),
        keyed("recipient", entries, F.col(P_ADDRESSES)),
        keyed("recipient_domain", entries, F.col(P_DOMAINS)),
        keyed("pair", entries, pair(P_SENDER, P_ADDRESSES)),
        keyed("sender_to_domain", entries, pair(P_SENDER, P_DOMAINS)),
        keyed("domain_to_domain", entries, pair(P_SENDER_DOMAIN, P_DOMAINS)),
        keyed("subject", subjects, F.col(P_SUBJECT), "n"),
        keyed("sender_name", named, pair(P_SENDER, P_NAME)),
        keyed("name", named, F.col(P_NAME)),
        keyed("sender_hour", parts, pair(P_SENDER, P_HOUR)),
        subjects.mapInPandas(_subject_batches, schema),
    ]
    union = pieces[0]
    for piece in pieces[1:]:
        union = union.unionByName(piece)
    summed = union.groupBy("table", "key").agg(F.sum("n").alias("n")).toPandas()
    keys = parts.select(P_KEY).distinct().toPandas()[P_KEY].to_numpy(dtype=np.int64)
    return tables_from_sums(summed, np.unique(keys.view(np.uint64)))


def tables_from_sums(summed: pd.DataFrame, train_keys: np.ndarray) -> CountTables:
    """``CountTables`` from (table, key, n) rows, in the types ``count_tables`` gives them."""
    from core.features.parsing import NGRAM_FEATURES

    by_table = {name: part for name, part in summed.groupby("table", sort=False)}

    def table(name: str) -> pd.Series:
        part = by_table.get(name, pd.DataFrame({"key": [], "n": []}))
        index = pd.Index(part["key"].to_numpy(dtype=object), dtype="str" if name in _TEXT_KEYED else object)
        values = part["n"].to_numpy(dtype=np.float64)
        return pd.Series(values if name == "sender_recipients" else values.astype(np.int64), index=index)

    names = ("sender", "sender_domain", "recipient", "recipient_domain", "pair", "sender_to_domain", "subject")
    names += ("sender_name", "name", "word", "sender_hour", "sender_recipients", "domain_to_domain")
    counts = {name: table(name) for name in names}
    ngram_df = np.zeros(NGRAM_FEATURES)
    grams = by_table.get("ngram")
    if grams is not None:
        ngram_df[grams["key"].astype(np.int64).to_numpy()] = grams["n"].to_numpy(dtype=np.float64)
    return CountTables(counts, ngram_df, int(counts["sender"].sum()), train_keys)


def collect_rows(frame) -> pd.DataFrame:
    """The rows of ``frame`` on the driver, in input order, as the local engine holds them."""
    from pyspark.sql import functions as F

    rows = frame.select(*[F.col(c) for c in ROW_COLUMNS]).toPandas()
    rows = rows.sort_values(list(ORDER_COLUMNS), kind="stable").reset_index(drop=True)
    return local_rows(rows)


# --------------------------------------------------------------------------- the rows fit_rows trains on


class SparkRows:
    """``core.model.TrainingRows`` whose rows stay in Spark: tables over all training rows,
    scaling and network on a uniform sample, held-out rows sampled in the same proportion."""

    def __init__(self, spark, parts, *, sample_rows: int, test_size: float):
        from pyspark.sql import functions as F

        self.spark, self.sample_rows = spark, sample_rows
        self.train = parts.where(F.col(SPLIT) >= test_size)
        held = parts.where(F.col(SPLIT) < test_size)
        n_train, n_held = parts.agg(
            F.sum((F.col(SPLIT) >= test_size).cast("long")), F.sum((F.col(SPLIT) < test_size).cast("long"))
        ).first()
        self._n_train, self._n_held_out = int(n_train or 0), int(n_held or 0)
        # Held-out rows in the proportion the local split keeps them to the training rows.
        fraction = min(1.0, sample_rows / max(self._n_train, 1))
        self.held_out = collect_rows(held.where(F.col(DRAW) < fraction))
        self.network_rows = 0
        self._cached = [parts]

    def fit_features(self, preprocessor) -> np.ndarray:
        from pyspark.sql import functions as F

        if not hasattr(preprocessor, "fit_transform_from_counts"):
            raise DataError("Training on Spark needs the email feature set (--features email).")
        tables = spark_count_tables(self.train)
        fraction = min(1.0, self.sample_rows / max(self._n_train, 1))
        sample = collect_rows(self.train.where(F.col(DRAW) < fraction))
        self.network_rows = len(sample)
        return preprocessor.fit_transform_from_counts(tables, sample)

    def trim(self, detector, fraction: float) -> int:
        from pyspark.sql import functions as F
        from pyspark.sql import types as Ty

        schema = Ty.StructType([*self.train.schema.fields, Ty.StructField(SCREENING, Ty.DoubleType())])
        screened = self.train.mapInPandas(
            _screening_batches(_Shipped(self.spark, shippable(detector))), schema
        ).persist()
        self._cached.append(screened)
        q = 1 - fraction
        if self._n_train <= EXACT_ROWS:
            errors = screened.select(SCREENING).toPandas()[SCREENING].to_numpy(dtype=np.float64)
            cut = float(np.quantile(errors, q))  # the local engine's cut, exactly
        else:
            (cut,) = screened.approxQuantile(SCREENING, [q], QUANTILE_ERROR)
        keep = F.col(SCREENING) <= cut
        if PROTECTED in screened.columns:  # rows an analyst marked benign are never trimmed, as locally
            keep = keep | F.col(PROTECTED)
        self.train = screened.where(keep).drop(SCREENING)
        before, self._n_train = self._n_train, self.train.count()
        return before - self._n_train

    @property
    def n_train(self) -> int:
        return self._n_train

    @property
    def n_held_out(self) -> int:
        return self._n_held_out

    def release(self) -> None:
        for frame in self._cached:
            frame.unpersist()


# --------------------------------------------------------------------------- the whole training


@dataclass
class SparkTraining:
    """What ``train_on_spark`` did, for the bundle's metadata and the command's summary."""

    rows: int
    rows_skipped: int
    network_rows: int
    held_out_sample: int
    training_data: dict


def _uniform(salt: str, seed: int):
    """A uniform draw in [0, 1) per row, from a hash of where the row came from."""
    from pyspark.sql import functions as F

    hashed = F.xxhash64(*[F.col(c) for c in ORDER_COLUMNS], F.lit(salt), F.lit(int(seed)))
    return F.pmod(hashed, F.lit(1 << 53)).cast("double") / float(1 << 53)


def train_on_spark(
    spark,
    log,
    detector,
    *,
    sample_rows: int = DEFAULT_SAMPLE_ROWS,
    callback=None,
    verdicts: dict[str, str] | None = None,
    events=None,
    report=None,
) -> SparkTraining:
    """Fit ``detector`` (an unfitted ``AutoencoderDetector``) on every scorable row of ``log``
    (a ``SparkLog``): count tables by Spark, network on at most ``sample_rows`` rows.

    ``verdicts`` ({uuid: verdict}, ``train --use-verdicts``) and ``events`` (active known
    events) choose the rows as the local ``training_selection`` does: confirmed rows and rows
    inside an event left out, benign ones never trimmed; ``report`` receives its summary line."""
    from pyspark.sql import functions as F

    from core.model import MIN_TRAIN_ROWS
    from core.spark.workspace import training_rows

    if sample_rows < MIN_TRAIN_ROWS:
        raise DataError(f"--sample-rows must be at least {MIN_TRAIN_ROWS}, got {sample_rows}.")
    if detector.feature_set != "email":
        raise DataError(f"Training on Spark learns the email feature set only, got --features {detector.feature_set}.")
    cached: list = []  # the parsed input, read once for the whole-file context
    context = with_context(log.frame, cached).persist()
    try:
        total, usable, first, last = context.agg(
            F.count(F.lit(1)),
            F.sum(F.col(SCORABLE).cast("long")),
            F.min(T),
            F.max(T),
        ).first()
        usable = int(usable or 0)
        if usable < MIN_TRAIN_ROWS:
            raise DataError(
                f"{log.label}: too few rows to train: {usable} with a readable time, need at least "
                f"{MIN_TRAIN_ROWS}. Load a longer log, or map the right column to Time Processed."
            )
        chosen = context.where(F.col(SCORABLE))
        keep = []
        if verdicts is not None or events:
            selection = training_rows(spark, chosen, verdicts or {}, events, time_column=T)
            if report is not None:
                report(selection.summary())
            if selection.n_kept == 0:
                what = "has a confirmed verdict or lies" if verdicts is not None else "lies"
                raise DataError(
                    f"Every training row {what} inside a known event: nothing is left to learn normal mail "
                    "from (`python -m core events list` shows the events)."
                )
            if selection.n_kept < MIN_TRAIN_ROWS:
                raise DataError(
                    f"Too few rows to train: {selection.n_kept} with a readable time, need at least "
                    f"{MIN_TRAIN_ROWS}. Load a longer log."
                )
            chosen, keep = selection.rows, [PROTECTED]
        rows = (
            chosen.select(*[F.col(c) for c in (*ROW_COLUMNS, *keep)])
            .withColumn(SPLIT, _uniform("split", detector.seed))
            .withColumn(DRAW, _uniform("sample", detector.seed))
        )
        parts = parts_of(rows).persist()
        training = SparkRows(spark, parts, sample_rows=sample_rows, test_size=detector.test_size)
        try:
            detector.fit_rows(training, callback=callback)
            keys = parts.select(P_KEY).distinct().toPandas()[P_KEY].to_numpy(dtype=np.int64)
        finally:
            training.release()
    finally:
        for frame in (context, *cached):
            frame.unpersist()
    stamp = lambda micros: str(pd.Timestamp(int(micros), unit="us", tz="UTC"))  # noqa: E731
    return SparkTraining(
        rows=int(total),
        rows_skipped=int(total) - usable,
        network_rows=training.network_rows,
        held_out_sample=len(training.held_out),
        training_data={
            "source": log.label,
            "rows": int(total),
            "rows_skipped": int(total) - usable,
            # The local fingerprint hashes the rows on one machine; here: SHA-256 of the sorted
            # distinct row fingerprints (``row_keys``), which no row order or partitioning changes.
            "sha256": hashlib.sha256(np.unique(keys.view(np.uint64)).tobytes()).hexdigest(),
            "time_range": [stamp(first), stamp(last)],
        },
    )
