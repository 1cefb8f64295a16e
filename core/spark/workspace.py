"""The triage workspace for the Spark engine: runs recorded and training rows chosen as locally.

The workspace's rules, known events and verdicts are small: the driver reads them once
(``core.workspace.feedback.ScoringMarks``) and the executors apply them to every Arrow batch
with the local engine's functions (``core.spark.scoring.mark_rows``). What goes back into the
database is what the local ``detect`` stores: the run's counts (Spark aggregates) and the rows
above the threshold outside known events, streamed to the driver a partition at a time and
inserted in batches (``record_spark_run``), so the driver never holds the log.

Training (``training_rows``): rows with a confirmed verdict are left out and benign ones marked
never to trim by a join with a broadcast table of the verdicts; rows inside an active known event
are left out by their time (``starts <= time < ends``, as ``match_events``).
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from core.schema import RECIPIENT, SENDER, SUBJECT, TIME, UUID
from core.scoring import ERROR, REASON, TOP_FIELD
from core.spark.io import _REMOTE, ORDER_COLUMNS, list_inputs, quoted
from core.workspace.events import KNOWN_EVENT
from core.workspace.rules import SUPPRESSED_BY

# Column of the training rows: True for rows an analyst marked benign (never trimmed).
PROTECTED = "_protected"
POSITION = "position"
BATCH_ROWS = 5000  # stored rows per insert


def data_fingerprint(source: str) -> str:
    """What the run records as ``data_sha256``.

    One local file: its SHA-256, as the local ``detect`` records. A folder, a glob or a Parquet
    dataset: the SHA-256 of its listing (each file's path relative to the common folder, a tab,
    its size in bytes, a newline; sorted by path): it changes when a file is added, removed,
    renamed or changes size, and costs no read of the data. A remote source: empty (its files
    are not on this machine)."""
    from core.artifacts import sha256_of_file

    text = str(source)
    if text.startswith(_REMOTE):
        return ""
    if Path(text).is_file():
        return sha256_of_file(Path(text))
    paths, _ = list_inputs(text)
    root = Path(text) if Path(text).is_dir() else Path(os.path.commonpath([os.path.dirname(p) for p in paths]))
    listing = "".join(f"{Path(p).relative_to(root).as_posix()}\t{os.path.getsize(p)}\n" for p in sorted(paths, key=str))
    return hashlib.sha256(listing.encode("utf-8")).hexdigest()


@dataclass
class SparkRunCounts:
    rows_total: int
    rows_scored: int
    n_in_events: int


def _offsets(scored) -> dict:
    """{(file, block): first input position - first row id}: a row's input position is its
    ``_row`` plus its block's offset (row ids run unbroken within a file block; blocks follow
    one another in input order). One small row per file block comes to the driver."""
    from pyspark.sql import functions as F

    src, block, row = ORDER_COLUMNS
    blocks = (
        scored.groupBy(src, block).agg(F.min(row).alias("first"), F.count(F.lit(1)).alias("n")).toPandas()
    ).sort_values([src, block], kind="stable")
    starts = blocks["n"].cumsum() - blocks["n"]
    return {
        (s, b): int(start - first)
        for s, b, first, start in zip(blocks[src], blocks[block], blocks["first"], starts, strict=True)
    }


def record_spark_run(ws, result, above, counts: SparkRunCounts, **facts):
    """Record ``result`` (the scored Spark DataFrame with the marks; ``above``: the column
    "error above the threshold") in ``ws`` as ``Workspace.record_run`` records a local scoring.
    ``facts``: ``record_run_batches``' threshold and naming arguments.

    The stored rows are sorted and cached by Spark before the transaction starts (the database
    waits for no Spark job), then streamed to the driver partition by partition
    (``toLocalIterator``) and inserted ``BATCH_ROWS`` at a time: no shared file system needed
    between driver and executors."""
    from pyspark.sql import functions as F

    offsets = _offsets(result)
    src, block, row = ORDER_COLUMNS
    columns = [UUID, ERROR, TOP_FIELD, REASON, SENDER, RECIPIENT, SUBJECT, SUPPRESSED_BY]
    stored = (
        result.where(above & F.col(KNOWN_EVENT).isNull())
        # Times as microseconds: Python datetimes from Spark would be in the driver's local zone.
        .select(*[F.col(quoted(c)) for c in columns], F.unix_micros(F.col(quoted(TIME))).alias(TIME), src, block, row)
        .orderBy(src, block, row)
        .persist()
    )
    try:
        stored.count()

        def batches():
            names = stored.columns
            rows = []
            for record in stored.toLocalIterator(prefetchPartitions=True):
                rows.append(tuple(record))
                if len(rows) == BATCH_ROWS:
                    yield _stored_frame(rows, names, offsets)
                    rows = []
            if rows:
                yield _stored_frame(rows, names, offsets)

        return ws.record_run_batches(
            batches,
            rows_total=counts.rows_total,
            rows_scored=counts.rows_scored,
            n_in_events=counts.n_in_events,
            **facts,
        )
    finally:
        stored.unpersist()


def _stored_frame(rows: list[tuple], names: list[str], offsets: dict) -> pd.DataFrame:
    """A batch of stored rows as ``record_run_batches`` takes them: times read, positions set."""
    src, block, row = ORDER_COLUMNS
    frame = pd.DataFrame(rows, columns=names)
    shift = np.array([offsets[key] for key in zip(frame[src], frame[block], strict=True)], dtype=np.int64)
    return frame.assign(
        **{
            TIME: pd.to_datetime(frame[TIME], unit="us", utc=True),
            SUPPRESSED_BY: frame[SUPPRESSED_BY].astype("Int64"),
            POSITION: frame[row].to_numpy(dtype=np.int64) + shift,
        }
    )


# --------------------------------------------------------------------------- training


@dataclass
class SparkSelection:
    """Training rows with verdicts and known events applied (``training_selection``'s counts)."""

    rows: object  # pyspark.sql.DataFrame, with PROTECTED
    n_confirmed_left_out: int
    n_benign_kept: int
    n_in_events_left_out: int | None

    n_kept: int

    def summary(self) -> str:
        from core.workspace.feedback import selection_summary

        return selection_summary(self.n_confirmed_left_out, self.n_benign_kept, self.n_in_events_left_out)


def training_rows(spark, rows, verdicts: dict[str, str], events, *, time_column: str) -> SparkSelection:
    """``core.workspace.feedback.training_selection`` on Spark rows (with ``UUID`` and the read
    time in microseconds, ``time_column``): confirmed rows and rows inside an active event
    (``events``; None: not consulted) left out, benign ones marked ``PROTECTED``. Counted by
    one Spark aggregate; the rows stay in Spark."""
    from pyspark.sql import functions as F

    table = pd.DataFrame({"_v_uuid": list(verdicts), "_verdict": list(verdicts.values())}, dtype=str)
    if len(table):
        known = spark.createDataFrame(table)
        rows = rows.join(F.broadcast(known), rows[UUID] == known["_v_uuid"], "left").drop("_v_uuid")
    else:
        rows = rows.withColumn("_verdict", F.lit(None).cast("string"))
    confirmed = F.coalesce(F.col("_verdict") == "confirmed", F.lit(False))
    in_event = F.lit(False)
    for event in events or ():
        starts, ends = (int(pd.Timestamp(t).value // 1000) for t in (event.starts, event.ends))
        in_event = in_event | ((F.col(time_column) >= starts) & (F.col(time_column) < ends))
    in_event = F.coalesce(in_event, F.lit(False)) & ~confirmed
    benign = F.coalesce(F.col("_verdict") == "benign", F.lit(False))
    marked = rows.withColumn("_confirmed", confirmed).withColumn("_in_event", in_event)
    left_out = F.col("_confirmed") | F.col("_in_event")
    n_confirmed, n_in_event, n_benign, n_kept = marked.agg(
        F.sum(F.col("_confirmed").cast("long")),
        F.sum(F.col("_in_event").cast("long")),
        F.sum((benign & ~left_out).cast("long")),
        F.sum((~left_out).cast("long")),
    ).first()
    kept = marked.where(~left_out).withColumn(PROTECTED, benign).drop("_verdict", "_confirmed", "_in_event")
    n_events = None if events is None else int(n_in_event or 0)
    return SparkSelection(kept, int(n_confirmed or 0), int(n_benign or 0), n_events, int(n_kept or 0))
