"""Reading mail-gateway CSV exports into a validated, canonical frame.

``read_log`` accepts a path, raw bytes or a file-like object (a Streamlit upload works) and
returns an :class:`EmailLog`: the five fields under their canonical names (text fields as
strings, ``Time Processed`` parsed to UTC), extra columns passed through untouched, and a
:class:`LoadReport` of everything the analyst should know (encoding, unparsable times,
duplicate UUIDs). Rows are never dropped: a row whose time can't be parsed keeps ``NaT``
and is reported, so scoring can list it as unscored.
"""

from __future__ import annotations

import csv
import email.utils
import io
import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import IO

import numpy as np
import pandas as pd

from core.errors import DataError, MissingColumnsError
from core.schema import (
    FIELDS,
    LABEL,
    PRESET_LABELS,
    RECIPIENT,
    TIME,
    UUID,
    detect_preset,
    resolve_columns,
    suggest_header,
)

TIME_DTYPE = "datetime64[us, UTC]"
EXPECTED = "a CSV export with a header row naming UUID, Recipient, Sender, Subject, Time Processed"
_N_EXAMPLES = 5

# Magic numbers of files people upload by mistake instead of a CSV.
_BINARY_SIGNATURES = {
    b"\x89PNG": "a PNG image",
    b"\xff\xd8\xff": "a JPEG image",
    b"GIF8": "a GIF image",
    b"%PDF": "a PDF document",
    b"PK\x03\x04": "a ZIP archive (or an .xlsx workbook)",
    b"\x1f\x8b": "a gzip archive",
    b"\xd0\xcf\x11\xe0": "an old Excel/Office file",
    b"MZ": "a Windows program",
    b"\x7fELF": "a Linux program",
}

Source = str | os.PathLike | bytes | IO[bytes]


@dataclass
class LoadReport:
    """What happened while reading one log; shown to the analyst on the Data page and CLI."""

    source: str
    rows: int = 0
    encoding: str = "utf-8"
    delimiter: str = ","
    columns: dict[str, str] = field(default_factory=dict)
    preset: str | None = None
    unparsed_times: int = 0
    unparsed_examples: list[tuple[int, str]] = field(default_factory=list)
    duplicate_uuids: int = 0
    #: Repeated UUIDs are the same message once per recipient (rows differ in Recipient only).
    per_recipient: bool = False
    #: Rows merged into the message they repeat by :func:`group_by_message` (0: read as exported).
    merged_rows: int = 0
    warnings: list[str] = field(default_factory=list)

    def summary(self) -> str:
        lines = [f"{self.source}: {self.rows:,} rows ({self.encoding}, delimiter {self.delimiter!r})"]
        lines += [f"warning: {w}" for w in self.warnings]
        return "\n".join(lines)


@dataclass
class EmailLog:
    """A validated log: canonical columns first, extras after, one row per input data row.

    ``frame.index`` is the 0-based position of the row in the input (after the header), so
    results can always be written back in input order.
    """

    frame: pd.DataFrame
    report: LoadReport
    raw_times: pd.Series = field(repr=False, default=None)

    @property
    def scorable(self) -> np.ndarray:
        """Boolean mask of rows with a parsed time (the rows the model can train on and score)."""
        return self.frame[TIME].notna().to_numpy()

    @property
    def extra_columns(self) -> list[str]:
        return [c for c in self.frame.columns if c not in FIELDS]

    def __len__(self) -> int:
        return len(self.frame)


def read_log(
    source: Source,
    *,
    columns: dict[str, str] | None = None,
    preset: str | None = None,
    name: str | None = None,
) -> EmailLog:
    """Read and validate one CSV log.

    Parameters
    ----------
    source : path, bytes or binary file-like
        The CSV export. UTF-8 (BOM optional) or UTF-16 with BOM; cp1252/latin-1 are read
        with a warning. Delimiter ``,``, ``;`` or tab is detected from the header.
    columns : dict, optional
        Explicit field -> header mapping, e.g. ``{"Time Processed": "date"}``.
    preset : {"microsoft365", "google_workspace"}, optional
        Header preset for a known export. Detected automatically when the canonical
        names are missing and a preset's headers are all present.
    name : str, optional
        Name used in messages (defaults to the file name).

    Raises
    ------
    DataError
        With a one-line message saying what was expected, what was found and what to do.
    """
    data, label = _read_bytes(source)
    label = name or label
    report = LoadReport(source=label)
    raw = _parse_utf8_fast(data, report)
    if raw is None:  # anything unusual: the careful path
        text = _decode(data, report)
        report.delimiter = _detect_delimiter(text)
        raw = _parse_csv(text, report)
    if raw.shape[1] == 0 or not any(str(c).strip() for c in raw.columns):
        raise DataError(f"{label}: no header row found. Expected {EXPECTED}.")
    if raw.columns.duplicated().any():
        report.warnings.append("Duplicate column names; later copies were renamed with a .1 suffix.")
    headers = [str(c) for c in raw.columns]
    mapping = resolve_columns(headers, columns=columns, preset=preset)
    if preset is None and not columns and any(v is None for v in mapping.values()):
        detected = detect_preset(headers)
        if detected:
            preset = detected
            mapping = resolve_columns(headers, preset=preset)
            report.warnings.append(f"Columns read with the {PRESET_LABELS[preset]} preset.")
    report.preset = preset
    missing = [f for f, h in mapping.items() if h is None]
    if missing:
        raise MissingColumnsError(_missing_message(label, missing, headers), missing=missing, headers=headers)
    if len(raw) == 0:
        raise DataError(f"{label}: the file has a header but no data rows. Export a log with at least one message.")
    report.columns = {f: h for f, h in mapping.items() if h is not None}
    frame = _canonical_frame(raw, report.columns)
    raw_times = frame[TIME]
    frame[TIME] = parse_times(raw_times)
    _check_times(frame, raw_times, report, label)
    report.rows = len(frame)
    _check_repeats(frame, report)
    unparsed = frame[TIME].isna().to_numpy()
    return EmailLog(frame=frame, report=report, raw_times=raw_times[unparsed])


def read_headers(source: Source) -> list[str]:
    """The header row of a CSV, decoded and split as ``read_log`` would (for mapping forms).

    Raises DataError for content that isn't a CSV at all (empty, binary).
    """
    data, label = _read_bytes(source)
    report = LoadReport(source=label)
    text = _decode(data[: 1 << 20], report)
    report.delimiter = _detect_delimiter(text)
    first = next(csv.reader(io.StringIO(text), delimiter=report.delimiter), [])
    return [h.strip().lstrip("\ufeff") for h in first if h.strip()]


def concat_logs(logs: list[EmailLog]) -> EmailLog:
    """Several uploads as one log (rows renumbered; reports merged)."""
    if len(logs) == 1:
        return logs[0]
    frame = pd.concat([log.frame for log in logs], ignore_index=True)
    offsets = np.cumsum([0] + [len(log) for log in logs[:-1]])
    raw_times = pd.concat(
        [log.raw_times.set_axis(log.raw_times.index + off) for log, off in zip(logs, offsets, strict=True)]
    )
    report = LoadReport(
        source=", ".join(log.report.source for log in logs),
        rows=len(frame),
        encoding=", ".join(sorted({log.report.encoding for log in logs})),
        delimiter=logs[0].report.delimiter,
        columns=logs[0].report.columns,
        preset=logs[0].report.preset,
        unparsed_times=sum(log.report.unparsed_times for log in logs),
        unparsed_examples=[
            (row + off, value)
            for log, off in zip(logs, offsets, strict=True)
            for row, value in log.report.unparsed_examples
        ][:_N_EXAMPLES],
        duplicate_uuids=int(frame[UUID].duplicated().sum()),
        per_recipient=_per_recipient(frame),
        warnings=[f"{log.report.source}: {w}" for log in logs for w in log.report.warnings],
    )
    return EmailLog(frame=frame, report=report, raw_times=raw_times)


#: Exports documented as one row per recipient: a message to five people is five rows with one MessageId.
PER_RECIPIENT_PRESETS = ("microsoft365", "google_workspace")
GROUP_HINT = "read one row per message with its recipients (Data page, or --group-by-message)"


def _per_recipient(frame: pd.DataFrame) -> bool:
    """Whether repeated UUIDs are one message listed per recipient: most repeated UUIDs carry
    more than one distinct Recipient (plain duplicates repeat the whole row)."""
    uuid = frame[UUID]
    repeated = uuid.duplicated(keep=False) & (uuid.str.strip() != "")
    if not repeated.any():
        return False
    distinct = frame.loc[repeated, RECIPIENT].str.strip().str.lower().groupby(uuid[repeated]).nunique()
    return bool((distinct > 1).mean() >= 0.5)


def _check_repeats(frame: pd.DataFrame, report: LoadReport) -> None:
    """Count repeated UUIDs and say plainly what they are: recipients of one message, or duplicates."""
    report.duplicate_uuids = len(frame) - frame[UUID].nunique(dropna=False)  # a hash count: ~2x duplicated()
    if not report.duplicate_uuids:
        return
    report.per_recipient = _per_recipient(frame)
    messages = len(frame) - report.duplicate_uuids
    if report.per_recipient:
        known = report.preset in PER_RECIPIENT_PRESETS
        what = f"This {PRESET_LABELS[report.preset]} lists" if known else "This export looks like it lists"
        report.warnings.append(
            f"{what} one row per recipient: {len(frame):,} rows are {messages:,} messages. As read, each row "
            f"is scored as a message to one recipient; to judge whole messages, {GROUP_HINT}."
        )
    else:
        report.warnings.append(
            f"Rows repeating a UUID seen earlier in the file: {report.duplicate_uuids:,}; "
            "they are kept and scored separately."
        )


def groups_by_default(report: LoadReport) -> bool:
    """Whether one row per message is the default reading: for an export documented to list a
    message once per recipient. Measured with ``python -m bench.grouping`` (docs/quality.md):
    per message scores whole messages better on a per-recipient demo trace and no worse on the
    expanded CSDMC2010 and CEAS 2008 logs."""
    return report.per_recipient and report.preset in PER_RECIPIENT_PRESETS


def _grouped_note(rows: int, messages: int, preset: str | None) -> str:
    note = f"Read one row per message: {rows:,} rows are {messages:,} messages with their recipients"
    if preset in PER_RECIPIENT_PRESETS:
        return f"{note} (the default for a {PRESET_LABELS[preset]}; --no-group-by-message reads the rows as exported)."
    return f"{note}."


def group_by_message(log: EmailLog) -> EmailLog:
    """One row per message: rows sharing a UUID (a per-recipient export) become one row.

    The Recipient field lists the message's distinct recipients in file order, joined with
    ``"; "`` (how a gateway writes a multi-recipient mail, so recipients-per-mail, external
    share and fan-out count the whole message). Sender, Subject and extra columns come from
    the message's first row, the time is its earliest readable one, and a ``label`` column
    keeps its largest value (a message is an anomaly if any of its rows is). Rows without a
    UUID are never merged. Rows come out in the order of each message's first row;
    ``frame.index`` is then the message's position.
    """
    frame = log.frame
    uuid = frame[UUID].astype(str)
    positions = np.arange(len(frame))
    key = uuid.where(uuid.str.strip() != "", pd.Series(positions, index=frame.index).map("\0{}".format))
    codes, uniques = pd.factorize(key)
    if len(uniques) == len(frame):
        return log
    _, first = np.unique(codes, return_index=True)  # factorize numbers keys in first-seen order
    out = frame.iloc[first].reset_index(drop=True)
    recipients = pd.DataFrame({"code": codes, "to": frame[RECIPIENT].astype(str).str.strip().to_numpy()})
    recipients = recipients[recipients["to"] != ""].drop_duplicates()
    joined = recipients.groupby("code", sort=True)["to"].agg("; ".join)
    out[RECIPIENT] = joined.reindex(range(len(uniques)), fill_value="").to_numpy()
    out[TIME] = frame[TIME].groupby(codes).min().to_numpy()
    if LABEL in frame:
        out[LABEL] = frame[LABEL].groupby(codes).max().to_numpy()
    unparsed = out[TIME].isna().to_numpy()
    raw_times = log.raw_times.reindex(frame.index[first[unparsed]]) if log.raw_times is not None else None
    if raw_times is not None:
        raw_times.index = np.flatnonzero(unparsed)
    merged = len(frame) - len(out)
    report = replace(
        log.report,
        rows=len(out),
        unparsed_times=int(unparsed.sum()),
        unparsed_examples=[(int(first[i]), str(v)) for i, v in raw_times.head(_N_EXAMPLES).items()]
        if raw_times is not None
        else [],
        duplicate_uuids=int(out[UUID].duplicated().sum()),
        merged_rows=merged,
        warnings=[w for w in log.report.warnings if "one row per recipient" not in w and "repeating a UUID" not in w]
        + [_grouped_note(len(frame), len(out), log.report.preset)],
    )
    return EmailLog(frame=out, report=report, raw_times=raw_times)


def parse_times(values: pd.Series) -> pd.Series:
    """Parse ``Time Processed`` values to UTC timestamps; ``NaT`` where nothing fits.

    Accepted: ISO 8601 with or without zone (naive values are taken as UTC), RFC 2822
    (``Tue, 05 Aug 2008 12:00:00 +0200``), ``MM/DD/YYYY HH:MM:SS`` (optionally AM/PM),
    and epoch seconds or milliseconds (13 digits). Zone-aware values are converted to UTC.
    """
    text = values.astype("string").str.strip().fillna("")
    # Microseconds since the epoch, filled format by format; NaT's integer marks "not yet".
    micros = np.full(len(text), np.iinfo(np.int64).min, dtype=np.int64)

    def fill(positions: np.ndarray, parsed: pd.Series) -> None:
        micros[positions] = parsed.astype(TIME_DTYPE).dt.tz_localize(None).to_numpy("datetime64[us]").view(np.int64)

    epoch = text.str.fullmatch(r"\d{9,13}(\.\d+)?").fillna(False).to_numpy(bool)
    if epoch.any():
        seconds = pd.to_numeric(text[epoch]).astype("float64")
        seconds = seconds.where(seconds < 1e11, seconds / 1000.0)  # 13 digits = milliseconds
        fill(np.flatnonzero(epoch), pd.to_datetime(seconds, unit="s", utc=True))
    todo = ~epoch & (text != "").to_numpy()
    for fmt in ("ISO8601", "%m/%d/%Y %H:%M:%S", "%m/%d/%Y %I:%M:%S %p", "%m/%d/%Y %H:%M"):
        if not todo.any():
            break
        positions = np.flatnonzero(todo)
        parsed = pd.to_datetime(text[todo], format=fmt, utc=True, errors="coerce")
        ok = parsed.notna().to_numpy()
        fill(positions[ok], parsed[ok])
        todo[positions[ok]] = False
    if todo.any():
        # Slow path, once per distinct value: RFC 2822 and whatever dateutil understands.
        positions = np.flatnonzero(todo)
        distinct = pd.unique(text[todo])
        lookup = {value: _parse_one(value) for value in distinct}
        parsed = pd.to_datetime(text[todo].map(lookup), utc=True)
        ok = parsed.notna().to_numpy()
        fill(positions[ok], parsed[ok])
    stamps = pd.to_datetime(micros.view("datetime64[us]")).tz_localize("UTC")
    return pd.Series(stamps, index=values.index, dtype=TIME_DTYPE)


def _parse_one(value: str) -> pd.Timestamp:
    try:
        stamp = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        stamp = None
    if stamp is None:
        try:
            stamp = pd.Timestamp(value)
        except (ValueError, OverflowError, TypeError):
            return pd.NaT
    try:
        stamp = pd.Timestamp(stamp)
        return stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")
    except (ValueError, OverflowError, TypeError):
        return pd.NaT


def _read_bytes(source: Source) -> tuple[bytes, str]:
    if isinstance(source, (bytes, bytearray)):
        return bytes(source), "uploaded data"
    if isinstance(source, (str, os.PathLike)):
        path = Path(source)
        if not path.is_file():
            raise DataError(f"No such file: {path}. Check the path and try again.")
        return path.read_bytes(), path.name
    data = source.getvalue() if hasattr(source, "getvalue") else source.read()
    if isinstance(data, str):
        data = data.encode("utf-8")
    return bytes(data), str(getattr(source, "name", "uploaded file"))


def _decode(data: bytes, report: LoadReport) -> str:
    label = report.source
    if not data.strip():
        raise DataError(f"{label} is empty. Expected {EXPECTED}, one row per message.")
    for magic, kind in _BINARY_SIGNATURES.items():
        if data.startswith(magic):
            raise DataError(f"{label} looks like {kind}, not a CSV. Expected {EXPECTED}; export the log as CSV.")
    if data[:2] in (b"\xff\xfe", b"\xfe\xff"):
        report.encoding = "utf-16"
        return data.decode("utf-16")
    head = data[:4096]
    if head.count(b"\x00") > len(head) // 4:
        # UTF-16 without a BOM interleaves NULs with ASCII.
        for codec in ("utf-16-le", "utf-16-be"):
            try:
                text = data.decode(codec)
            except UnicodeDecodeError:
                continue
            if text[:1].isprintable():
                report.encoding = codec
                return text
        raise DataError(f"{label} is binary data, not a CSV. Expected {EXPECTED}.")
    if b"\x00" in data:
        report.warnings.append("NUL bytes in the file were removed.")
        data = data.replace(b"\x00", b"")
    try:
        report.encoding = "utf-8-sig" if data.startswith(b"\xef\xbb\xbf") else "utf-8"
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    try:
        text, report.encoding = data.decode("cp1252"), "cp1252"
    except UnicodeDecodeError:
        text, report.encoding = data.decode("latin-1"), "latin-1"
    report.warnings.append(f"The file is not UTF-8; it was read as {report.encoding}. Check accented subjects.")
    if sum(not (c.isprintable() or c.isspace()) for c in text[:4096]) > 200:
        raise DataError(f"{label} is binary data, not a CSV. Expected {EXPECTED}.")
    return text


def _detect_delimiter(text: str) -> str:
    header = next((line for line in text.splitlines() if line.strip()), "")
    counts = {d: _count_outside_quotes(header, d) for d in (",", ";", "\t", "|")}
    best = max(counts, key=counts.get)
    return best if counts[best] else ","


def _count_outside_quotes(line: str, delimiter: str) -> int:
    count, quoted = 0, False
    for char in line:
        if char == '"':
            quoted = not quoted
        elif char == delimiter and not quoted:
            count += 1
    return count


def _parse_utf8_fast(data: bytes, report: LoadReport) -> pd.DataFrame | None:
    """Well-formed UTF-8 CSV straight from the bytes with Arrow's parser (several times faster
    than decoding to text and reading with pandas' C parser, and half the memory), or None
    when the file needs the careful path: another encoding, NUL bytes, binary content,
    duplicate header names or rows with more fields than the header."""
    import pyarrow as pa
    import pyarrow.csv as pa_csv

    bom = b"\xef\xbb\xbf"
    body = memoryview(data)[len(bom) :] if data.startswith(bom) else memoryview(data)
    first_line = bytes(body[: 1 << 16]).split(b"\n", 1)[0]
    if not first_line.strip() or b"\x00" in bytes(body[:4096]) or any(data.startswith(m) for m in _BINARY_SIGNATURES):
        return None
    try:
        header_text = first_line.decode("utf-8").rstrip("\r")
    except UnicodeDecodeError:
        return None
    delimiter = _detect_delimiter(header_text)
    names = next(csv.reader([header_text], delimiter=delimiter), [])
    if not names or len(set(names)) != len(names):
        return None
    try:
        table = pa_csv.read_csv(
            pa.py_buffer(body),
            parse_options=pa_csv.ParseOptions(delimiter=delimiter, newlines_in_values=True),
            convert_options=pa_csv.ConvertOptions(
                column_types={name: pa.string() for name in names},
                strings_can_be_null=False,
                quoted_strings_can_be_null=False,
            ),
        )
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, ValueError):
        return None
    if table.num_columns != len(names):
        return None
    report.encoding = "utf-8-sig" if data.startswith(bom) else "utf-8"
    report.delimiter = delimiter
    return table.to_pandas(self_destruct=True)  # frees each Arrow column as it is converted


def _parse_csv(text: str, report: LoadReport) -> pd.DataFrame:
    options = dict(sep=report.delimiter, dtype=str, keep_default_na=False, na_filter=False)
    try:
        frame = pd.read_csv(io.StringIO(text), engine="c", **options)
    except pd.errors.EmptyDataError:
        raise DataError(f"{report.source} has no header row. Expected {EXPECTED}.") from None
    except (pd.errors.ParserError, csv.Error, ValueError):
        frame = _parse_ragged(text, report)
    return frame.fillna("")


def _parse_ragged(text: str, report: LoadReport) -> pd.DataFrame:
    """Rows with more fields than the header: keep them, with the surplus in one extra column."""
    rows = list(csv.reader(io.StringIO(text), delimiter=report.delimiter))
    rows = [r for r in rows if r]
    if not rows:
        raise DataError(f"{report.source} has no header row. Expected {EXPECTED}.")
    header, body = rows[0], rows[1:]
    width = len(header)
    long_rows = sum(len(r) > width for r in body)
    fixed = [(r[:width] + [""] * (width - len(r))) + [report.delimiter.join(r[width:])] for r in body]
    frame = pd.DataFrame(fixed, columns=[*header, "extra_fields"], dtype=str)
    report.warnings.append(
        f"Rows with more fields than the header: {long_rows:,}; the surplus is kept in column "
        "'extra_fields'. Check the delimiter and quoting of the export."
    )
    return frame


def _canonical_frame(raw: pd.DataFrame, columns: dict[str, str]) -> pd.DataFrame:
    used = set(columns.values())
    extras = [c for c in raw.columns if c not in used and c not in FIELDS]
    frame = pd.DataFrame({f: raw[h].astype(str) for f, h in columns.items()}, index=raw.index)
    for column in extras:
        frame[column] = raw[column]
    frame.index = pd.RangeIndex(len(frame))
    return frame


def _check_times(frame: pd.DataFrame, raw_times: pd.Series, report: LoadReport, label: str):
    unparsed = frame[TIME].isna()
    report.unparsed_times = int(unparsed.sum())
    report.unparsed_examples = [(int(i), str(v)) for i, v in raw_times[unparsed].head(_N_EXAMPLES).items()]
    if report.unparsed_times == len(frame):
        examples = ", ".join(repr(v) for _, v in report.unparsed_examples[:3])
        raise DataError(
            f"{label}: no value in column {report.columns[TIME]!r} could be read as a time "
            f"(e.g. {examples}). Expected ISO 8601 (2026-11-24T17:05:00Z), RFC 2822, "
            "MM/DD/YYYY HH:MM:SS or epoch seconds; map the right column to Time Processed."
        )
    if report.unparsed_times:
        shown = "; ".join(f"row {i + 1}: {v!r}" for i, v in report.unparsed_examples[:3])
        report.warnings.append(
            f"Rows with a time that can't be read: {report.unparsed_times:,} ({shown}); "
            "they are left out of training and scoring and listed as unscored."
        )


def _missing_message(label: str, missing: list[str], headers: list[str]) -> str:
    found = ", ".join(headers[:20]) + (" …" if len(headers) > 20 else "")
    dated = [h for h in headers if any(ch.isdigit() for ch in h)]
    if any("@" in h for h in headers) or (dated and parse_times(pd.Series(dated, dtype=str)).notna().any()):
        return (
            f"{label}: the first line looks like data, not a header (found {found}). "
            f"Expected {EXPECTED}; add the header row."
        )
    hints = []
    for f in missing:
        guess = suggest_header(f, headers)
        if guess:
            hints.append(f"{guess!r} for {f!r}")
    names = ", ".join(repr(m) for m in missing)
    message = f"{label}: missing column(s) {names}. Found: {found}."
    if hints:
        message += f" Did you mean {', '.join(hints)}? Map them in the column form or with a preset."
    else:
        message += " Rename the columns or map them to the fields."
    return message
