"""Reading gateway logs into Spark and writing scores out, with the local loader's rules.

Input is a CSV file, a folder or glob of CSV files, or Parquet (a file or a folder). Headers
are matched by ``core.schema`` exactly as the local loader matches them (case, spaces and
underscores ignored; Microsoft 365 / Google Workspace presets; ``--map``), and each local CSV
file's first megabyte goes through ``core.loading.read_log`` first, so a wrong file (binary,
empty, missing columns, header only) fails with the same one-line message as locally before
any Spark job starts. Every field is read as text; times are parsed later, in the executors,
by the local parser (``core.spark.context``).

Each row keeps where it came from (file, block and position), so results can be written
back in input order without a row ever travelling to the driver.
"""

from __future__ import annotations

import glob
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from core.errors import DataError, MissingColumnsError
from core.loading import EXPECTED, _missing_message, read_log
from core.schema import FIELDS, PRESET_LABELS, TIME, detect_preset, resolve_columns

# Where each row came from: file, block within the file, position within the Spark partition.
ORDER_COLUMNS = ("_src", "_block", "_row")
RAW_TIME = "_raw_time"
# Bytes of each local CSV checked with the local loader before Spark reads it.
HEAD_BYTES = 1 << 20
# Bytes scanned at a time when checking a local CSV for line breaks inside quoted fields.
SCAN_BYTES = 64 << 20
# Encodings in which a quote and a line break are always single bytes of their own.
_BYTE_SAFE = ("utf-8", "utf_8", "utf-8-sig", "ascii", "latin-1", "latin_1", "iso-8859-1", "cp1252", "windows-1252")
_REMOTE = ("s3://", "s3a://", "gs://", "abfss://", "wasbs://", "hdfs://", "dbfs:/", "file:/")


@dataclass
class SparkLog:
    """A log as a Spark DataFrame: the five fields as text (``Time Processed`` still raw),
    extra columns, and the row-order columns. ``columns`` maps each field to its header."""

    frame: object  # pyspark.sql.DataFrame
    columns: dict[str, str]
    extra_columns: list[str]
    label: str
    warnings: list[str] = field(default_factory=list)


def quoted(name: str) -> str:
    """A column name as Spark SQL reads it whatever it contains (spaces, dots, colons)."""
    return "`" + name.replace("`", "``") + "`"


def _clean(header: str) -> str:
    return header.strip().lstrip("\ufeff").strip()


def list_inputs(source: str) -> tuple[list[str], str]:
    """(paths, "csv" | "parquet") for a file, a folder or a glob; remote URLs pass through."""
    text = str(source)
    if text.startswith(_REMOTE) and not text.startswith("file:/"):
        kind = "parquet" if text.rstrip("/").endswith(".parquet") or "parquet" in text.lower() else "csv"
        return [text], kind
    path = Path(text)
    if path.is_dir():
        parquet = sorted(str(p) for p in path.rglob("*.parquet"))
        if parquet:
            return parquet, "parquet"
        csvs = sorted(str(p) for p in path.rglob("*") if p.is_file() and p.suffix.lower() in (".csv", ".txt"))
        if not csvs:
            raise DataError(f"{path}: no .csv or .parquet files in this folder. Expected {EXPECTED}.")
        return csvs, "csv"
    if any(ch in text for ch in "*?["):
        found = sorted(p for p in glob.glob(text, recursive=True) if Path(p).is_file())
        if not found:
            raise DataError(f"No file matches {text}. Check the pattern and try again.")
        kinds = {"parquet" if p.lower().endswith(".parquet") else "csv" for p in found}
        if len(kinds) > 1:
            raise DataError(f"{text} matches both CSV and Parquet files; give one kind at a time.")
        return found, kinds.pop()
    if not path.is_file():
        raise DataError(f"No such file: {path}. Check the path and try again.")
    return [str(path)], "parquet" if path.suffix.lower() == ".parquet" else "csv"


def _check_head(path: str, columns, preset):
    """The local loader's verdict on the file's first megabyte: same errors, same mapping."""
    with open(path, "rb") as handle:
        data = handle.read(HEAD_BYTES + 1)
    truncated = len(data) > HEAD_BYTES
    if truncated:  # whole lines only
        data = data[: data.rfind(b"\n", 0, HEAD_BYTES) + 1] or data[:HEAD_BYTES]
    try:
        return read_log(data, columns=columns, preset=preset, name=Path(path).name).report
    except DataError as error:
        # A time column unreadable in the first megabyte may still hold times further on:
        # the whole file is judged after parsing (see core.spark.scoring).
        if truncated and "could be read as a time" in str(error):
            return None
        raise


def needs_whole_records(path: str, sep: str = ",", encoding: str = "utf-8") -> bool:
    """Whether a local CSV must be parsed whole-file (Spark's ``multiLine``, one task per file)
    rather than split into line-aligned blocks that tasks parse side by side.

    Split reading is safe when no line break sits inside a quoted field: before every line
    break the file holds an even number of quotes. Quotes that a parser might read otherwise
    (one in the middle of an unquoted field, neither next to a delimiter, a line edge nor another
    quote) and encodings where a quote may be part of a wider character keep the whole-file
    read. One pass over the bytes, ``SCAN_BYTES`` at a time (~0.15 s per 100 MB)."""
    import numpy as np

    if encoding.lower().replace(" ", "") not in _BYTE_SAFE or len(sep.encode()) != 1:
        return True
    quote, edge = ord('"'), np.zeros(256, dtype=bool)
    edge[list(b'\n\r"' + sep.encode())] = True
    parity, last = 0, ord("\n")  # quotes seen so far (mod 2); the byte before this chunk
    with open(path, "rb") as handle:
        chunk = handle.read(SCAN_BYTES)
        while chunk:
            following = handle.read(SCAN_BYTES)
            data = np.frombuffer(chunk, np.uint8)
            quotes = np.flatnonzero(data == quote)
            if len(quotes):
                before = data[np.maximum(quotes - 1, 0)]
                before[quotes == 0] = last
                after = data[np.minimum(quotes + 1, len(data) - 1)]
                after[quotes == len(data) - 1] = following[0] if following else ord("\n")
                if not (edge[before] | edge[after]).all():
                    return True
            breaks = np.flatnonzero((data == 10) | (data == 13))
            if ((parity + np.searchsorted(quotes, breaks)) % 2).any():
                return True
            parity = (parity + len(quotes)) % 2
            last, chunk = data[-1], following
    return parity != 0  # an unterminated quote: let the careful whole-file parse judge it


def read_spark_log(spark, source: str, *, columns: dict | None = None, preset: str | None = None) -> SparkLog:
    """Read ``source`` into Spark as text columns, mapped onto the five fields."""
    from pyspark.sql import functions as F

    paths, kind = list_inputs(source)
    label = Path(str(source)).name or str(source)
    warnings: list[str] = []
    found: dict[str, str] = {}  # field -> header, of the first file
    if kind == "parquet":
        frames = [_read_parquet(spark, paths, label, columns, preset, warnings, found)]
    else:
        # Files with the same header layout are read together; layouts are matched by name.
        groups: dict[tuple, list[str]] = {}
        options: dict[tuple, dict] = {}
        for path in paths:
            local = not path.startswith(_REMOTE)
            report = _check_head(path, columns, preset) if local else None
            if report is None:
                key = ("", ",", "utf-8", ())
            else:
                warnings += [f"{Path(path).name}: {w}" for w in report.warnings if "preset" in w]
                key = (
                    report.encoding,
                    report.delimiter,
                    report.preset or "",
                    tuple(sorted(report.columns.items())),
                )
            # Remote files can't be scanned here: read whole, as quoted line breaks may occur.
            whole = not local or needs_whole_records(path, key[1], key[0] or "utf-8")
            key = (*key, whole)
            groups.setdefault(key, []).append(path)
            options[key] = {"encoding": key[0] or "utf-8", "sep": key[1], "multiLine": whole}
        frames = []
        for key, group in groups.items():
            encoding = options[key]["encoding"]
            raw = (
                spark.read.option("header", True)
                # Quoted line breaks in subjects (the local reader allows them) need the whole
                # file in one task; files without any are split into blocks read side by side.
                .option("multiLine", options[key]["multiLine"])
                .option("escape", '"')
                .option("sep", options[key]["sep"])
                .option("encoding", "UTF-8" if encoding.startswith("utf-8") else encoding.upper())
                .option("mode", "PERMISSIVE")
                .csv(group)
            )
            frames.append(_canonical(raw, group[0], label, columns, preset, warnings, found))
    frame = frames[0]
    for other in frames[1:]:
        frame = frame.unionByName(other, allowMissingColumns=True)
    extras = [c for c in frame.columns if c not in FIELDS and c not in ORDER_COLUMNS]

    def extra(name: str):
        # Spark reads an empty CSV field as null; the local loader keeps it as "" (and writes "").
        column = F.col(quoted(name))
        return F.coalesce(column, F.lit("")).alias(name) if kind == "csv" else column

    frame = frame.select(
        *[F.coalesce(F.col(quoted(c)).cast("string"), F.lit("")).alias(c) for c in FIELDS],
        *[extra(c) for c in extras],
        *ORDER_COLUMNS,
    )
    return SparkLog(frame=frame, columns=found, extra_columns=extras, label=label, warnings=warnings)


def _canonical(raw, first_path, label, columns, preset, warnings, found):
    """``raw`` with its headers mapped onto the fields (as ``read_log`` maps them), extras
    kept, and the row-order columns added."""
    from pyspark.sql import functions as F

    cleaned = {c: _clean(c) for c in raw.columns}
    headers = list(cleaned.values())
    mapping = resolve_columns(headers, columns=columns, preset=preset)
    if preset is None and not columns and any(v is None for v in mapping.values()):
        detected = detect_preset(headers)
        if detected:
            mapping = resolve_columns(headers, preset=detected)
            message = f"Columns read with the {PRESET_LABELS[detected]} preset."
            if message not in warnings:
                warnings.append(message)
    missing = [f for f, h in mapping.items() if h is None]
    if missing:
        name = Path(first_path).name or label
        raise MissingColumnsError(_missing_message(name, missing, headers), missing=missing, headers=headers)
    for f, h in mapping.items():
        found.setdefault(f, h)
    by_clean = {v: k for k, v in cleaned.items()}
    used = {by_clean[h] for h in mapping.values()}
    selected = [F.col(quoted(by_clean[h])).alias(f) for f, h in mapping.items()]
    extras = [F.col(quoted(c)).alias(_clean(c)) for c in raw.columns if c not in used and _clean(c) not in FIELDS]
    return raw.select(
        *selected,
        *extras,
        F.col("_metadata.file_path").alias("_src"),
        F.col("_metadata.file_block_start").alias("_block"),
        F.monotonically_increasing_id().alias("_row"),
    )


def _read_parquet(spark, paths, label, columns, preset, warnings, found):
    from pyspark.sql import functions as F
    from pyspark.sql.types import StringType, TimestampNTZType, TimestampType

    raw = spark.read.parquet(*paths)
    frame = _canonical(raw, paths[0], label, columns, preset, warnings, found)
    # A Parquet time column may already be a timestamp: written as ISO 8601 UTC text, the
    # form the local parser reads back to the same instant.
    kind = frame.schema[TIME].dataType
    if isinstance(kind, (TimestampType, TimestampNTZType)):
        frame = frame.withColumn(TIME, F.date_format(F.col(quoted(TIME)), "yyyy-MM-dd'T'HH:mm:ss.SSSSSS'Z'"))
    elif not isinstance(kind, StringType):
        frame = frame.withColumn(TIME, F.col(quoted(TIME)).cast("string"))
    return frame


# --------------------------------------------------------------------------- output


def write_ordered_csv(frame, order: list, destination: str) -> None:
    """``frame`` sorted by ``order`` into one CSV file at ``destination``, formatted by the local
    engine's ``write_csv``. The executors format their sorted rows, one Arrow batch at a time,
    as header-less CSV text and Spark writes it as text parts; the driver writes the header and
    copies the parts in order. The driver never holds the result, nor formats it."""
    from pyspark.sql import types as Ty

    from core.scoring import to_csv_bytes

    target = Path(destination)
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = tempfile.mkdtemp(prefix=".spark-", dir=target.parent)
    try:
        hidden = [c for c in ORDER_COLUMNS if c in frame.columns]
        rows = frame.orderBy(*order).drop(*hidden)
        text = Ty.StructType([Ty.StructField("csv", Ty.StringType())])
        rows.mapInArrow(_csv_batches, text).write.mode("overwrite").text(staging)
        partial = target.with_name(f".{target.name}.part")
        with open(partial, "wb") as out:
            out.write(to_csv_bytes(rows.limit(0).toPandas()))  # the header line
            for part in sorted(Path(staging).glob("part-*")):  # part-00000-…: the sorted ranges in order
                with open(part, "rb") as block:
                    shutil.copyfileobj(block, out, 1 << 20)
        os.replace(partial, target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _csv_batches(batches):
    """For ``mapInArrow``: each Arrow batch of rows as one text value, its rows as CSV lines
    without the header (the text writer ends the value with the last line's line break)."""
    import pyarrow as pa

    from core.scoring import to_csv_bytes

    for batch in batches:
        if batch.num_rows:
            lines = to_csv_bytes(batch.to_pandas(), header=False)
            yield pa.RecordBatch.from_arrays([pa.array([lines[:-1].decode("utf-8")])], names=["csv"])
