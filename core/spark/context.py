"""Times and within-file context (bursts, fan-out, campaigns) computed by Spark.

The local engine computes a row's context over the whole file (``add_context``): how many
other mails its sender sent within ±2.5 minutes (burst), how many recipients that sender
wrote to within ±30 minutes (fan-out), and, for a new-thread subject, how many other sender
domains sent the same subject (campaign). Here the same numbers come from Spark itself:

1. ``mapInPandas`` parses each batch's times with the local parser (``core.loading.parse_times``)
   and derives the keys with the local feature helpers: the sender's identity and domain, the
   normalized subject, whether it opens a new thread, and the number of recipients.
2. Burst and fan-out are window aggregates over event time in microseconds,
   ``Window.partitionBy(sender).orderBy(t).rangeBetween(-w/2, +w/2)``: exact integers, so the
   same rows fall inside the window as in the local engine's sorted search. A sender's rows
   meet in one task but stream through the window (Spark spills), they need not fit in memory.
3. Campaigns are a group-by (distinct sender domains per new-thread subject) joined back.

Steps 2 and 3 both read the rows of step 1; a command keeps those cached while it runs
(``with_context(frame, keep)``), so the input is parsed once.

Rows whose time can't be read take no part in any context, as locally.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from core.schema import RECIPIENT, SENDER, SUBJECT, TIME

T = "_t"  # event time, microseconds since the epoch (null: unreadable)
SCORABLE = "_scorable"
SENDER_KEY, SENDER_DOMAIN, SUBJECT_KEY, NEW_THREAD, RECIPIENT_N = (
    "_sender_key",
    "_sender_domain",
    "_subject_key",
    "_new_thread",
    "_recipient_n",
)
BURST, FANOUT, CAMPAIGN = "_burst_5min", "_fanout_1h", "_subject_campaign"
# The preprocessor's own names for the context columns (what ``add_context`` writes).
CONTEXT_NAMES = {
    BURST: "context:burst_5min",
    FANOUT: "context:fanout_1h",
    CAMPAIGN: "context:subject_campaign",
}


def context_keys(frame: pd.DataFrame) -> pd.DataFrame:
    """Per row, the keys the context is computed over, from the local feature helpers."""
    from core.features import domain_of, normalized_subject, sender_identities
    from core.features.parsing import REPLY_PREFIX, recipient_counts

    sender = frame[SENDER].fillna("").astype(str)
    subject = frame[SUBJECT].fillna("").astype(str)
    identity = _per_distinct(sender, sender_identities)
    key = _per_distinct(subject, normalized_subject)
    is_reply = _per_distinct(subject, lambda s: s.str.contains(REPLY_PREFIX)).astype(bool)
    sizes = _per_distinct(frame[RECIPIENT].fillna("").astype(str), recipient_counts)
    return pd.DataFrame(
        {
            SENDER_KEY: identity.to_numpy(dtype=object),
            SENDER_DOMAIN: _per_distinct(identity, domain_of).to_numpy(dtype=object),
            SUBJECT_KEY: key.to_numpy(dtype=object),
            NEW_THREAD: (~is_reply.to_numpy(bool)) & (key.to_numpy(dtype=object) != ""),
            RECIPIENT_N: sizes.to_numpy(dtype=np.float64),
        },
        index=frame.index,
    )


def _per_distinct(values: pd.Series, parse) -> pd.Series:
    """``parse`` run once per distinct value and spread back (logs repeat their values)."""
    codes, distinct = pd.factorize(values)
    parsed = pd.Series(np.asarray(parse(pd.Series(distinct, dtype=object)), dtype=object))
    return pd.Series(parsed.to_numpy(dtype=object)[codes] if len(codes) else [], index=values.index, dtype=object)


def _prepare_batches(batches):
    from core.loading import parse_times

    for batch in batches:
        stamps = parse_times(batch[TIME].fillna("").astype(str))
        micros = stamps.to_numpy("datetime64[us]").view(np.int64)
        out = batch.rename(columns={TIME: "_raw_time"})
        out[T] = pd.array(np.where(stamps.isna().to_numpy(), None, micros), dtype="Int64")
        keys = context_keys(batch)
        for name in keys.columns:
            out[name] = keys[name].to_numpy()
        yield out


def with_context(frame, keep: list | None = None):
    """``frame`` (the five fields as text) with the parsed time, the keys and the context columns.

    The windows and the campaign counts are two branches over the parsed rows. Given a list
    ``keep``, the parsed rows are cached (memory, then disk) so that the input is read and
    parsed once for both, and appended to ``keep``: the caller unpersists them when done."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F
    from pyspark.sql import types as Ty

    from core.features import BURST_WINDOW, FANOUT_WINDOW

    schema = Ty.StructType(
        [f if f.name != TIME else Ty.StructField("_raw_time", Ty.StringType()) for f in frame.schema.fields]
        + [
            Ty.StructField(T, Ty.LongType()),
            Ty.StructField(SENDER_KEY, Ty.StringType()),
            Ty.StructField(SENDER_DOMAIN, Ty.StringType()),
            Ty.StructField(SUBJECT_KEY, Ty.StringType()),
            Ty.StructField(NEW_THREAD, Ty.BooleanType()),
            Ty.StructField(RECIPIENT_N, Ty.DoubleType()),
        ]
    )
    prepared = frame.mapInPandas(_prepare_batches, schema).withColumn(SCORABLE, F.col(T).isNotNull())
    if keep is not None:
        prepared = prepared.persist()
        keep.append(prepared)

    def around(seconds: float):
        half = int(round(seconds * 1e6 / 2))
        return Window.partitionBy(SENDER_KEY, SCORABLE).orderBy(T).rangeBetween(-half, half)

    # Distinct sender domains per new-thread subject: one small table, joined back.
    campaigns = (
        prepared.where(F.col(SCORABLE) & F.col(NEW_THREAD))
        .groupBy(SUBJECT_KEY)
        .agg(F.countDistinct(SENDER_DOMAIN).alias("_domains"))
    )
    scorable = F.col(SCORABLE)
    return (
        prepared.withColumn(BURST, F.when(scorable, F.count(F.lit(1)).over(around(BURST_WINDOW)) - 1))
        .withColumn(FANOUT, F.when(scorable, F.sum(RECIPIENT_N).over(around(FANOUT_WINDOW))))
        .join(campaigns, on=SUBJECT_KEY, how="left")
        .withColumn(
            CAMPAIGN,
            F.when(scorable, F.when(F.col(NEW_THREAD), F.col("_domains") - 1).otherwise(0)).cast("double"),
        )
        .withColumn(BURST, F.col(BURST).cast("double"))
        .drop("_domains", SENDER_KEY, SENDER_DOMAIN, SUBJECT_KEY, NEW_THREAD, RECIPIENT_N)
    )
