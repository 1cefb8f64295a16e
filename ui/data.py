"""Data-page logic without Streamlit: read uploads, fingerprint them, profile a log."""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pandas as pd

from core.errors import DataError
from core.features import domain_of, recipient_lists, sender_addresses
from core.loading import EmailLog, concat_logs, read_log
from core.loading import read_headers as core_read_headers
from core.schema import FIELDS, RECIPIENT, SENDER, TIME, resolve_columns, suggest_header
from ui import formatting


def fingerprint(files: list[tuple[str, bytes]], mapping: dict | None = None) -> str:
    """A short stable token for a set of uploads (+ column mapping): the cache key of the data."""
    digest = hashlib.sha256()
    for name, data in files:
        digest.update(name.encode("utf-8", "replace") + b"\0")
        digest.update(hashlib.sha256(data).digest())
    digest.update(json.dumps(mapping or {}, sort_keys=True).encode())
    return digest.hexdigest()[:16]


def load_sources(files: list[tuple[str, bytes]], mapping: dict | None = None) -> EmailLog:
    """Read one or more CSV uploads as one log. ``mapping``: {"columns": {...}} or {"preset": name}.

    Raises DataError (user-facing message) for any file that can't be used.
    """
    if not files:
        raise DataError("No file uploaded. Choose one or more CSV exports.")
    mapping = mapping or {}
    logs = [
        read_log(data, columns=mapping.get("columns"), preset=mapping.get("preset"), name=name) for name, data in files
    ]
    return concat_logs(logs)


def demo_log(n_rows: int, seed: int = 0) -> EmailLog:
    """The synthetic demo log (labelled), read through the normal loader."""
    from core.demo import make_demo_log

    frame = make_demo_log(n_rows, seed=seed)
    return read_log(frame.to_csv(index=False).encode("utf-8"), name="demo data")


def read_headers(data: bytes) -> list[str]:
    """The header row of a CSV (for the column-mapping form); [] if the file isn't a CSV."""
    try:
        return core_read_headers(data)
    except DataError:
        return []


def missing_fields(headers: list[str]) -> list[str]:
    """Fields that no header matches by name (what the mapping form must ask for)."""
    found = resolve_columns(headers)
    return [f for f in FIELDS if found[f] is None]


def suggested_mapping(headers: list[str]) -> dict[str, str | None]:
    """A header per field: the exact match, else a synonym or close spelling, else None."""
    found = resolve_columns(headers)
    return {f: found[f] or suggest_header(f, headers) for f in FIELDS}


def summary(log: EmailLog) -> dict:
    """Validation numbers for the Data page and the home page."""
    frame = log.frame
    times = frame[TIME].dropna()
    senders = sender_addresses(frame[SENDER])
    recipients = recipient_lists(frame[RECIPIENT]).explode().dropna()
    domains = domain_of(senders)
    return {
        "rows": len(frame),
        "scorable": int(log.scorable.sum()),
        "first": times.min() if len(times) else None,
        "last": times.max() if len(times) else None,
        "unparsed_times": log.report.unparsed_times,
        "unparsed_examples": log.report.unparsed_examples,
        "duplicate_uuids": log.report.duplicate_uuids,
        "senders": int(senders[senders != ""].nunique()),
        "recipients": int(recipients[recipients != ""].nunique()),
        "sender_domains": int(domains[domains != ""].nunique()),
    }


def time_range_text(log: EmailLog) -> str:
    times = log.frame[TIME]
    return formatting.time_range_text(times.min(), times.max())  # NaT when no time is readable


def new_value_counts(detector, log: EmailLog) -> dict[str, int]:
    """How many scorable rows have a sender/recipient/subject the model never saw in training."""
    rows = log.frame[log.scorable].reset_index(drop=True)
    if not len(rows):
        return {}
    pre = detector.preprocessor_
    new = pre.new_values(pre.add_context(rows))
    return {column: int(np.asarray(new[column]).sum()) for column in new.columns}


def hourly_counts(log: EmailLog) -> pd.Series:
    """Messages per hour of day (0–23, UTC), all hours present."""
    hours = log.frame[TIME].dropna().dt.hour
    return hours.value_counts().reindex(range(24), fill_value=0).sort_index()


def daily_counts(log: EmailLog) -> pd.Series:
    """Messages per calendar day (UTC), missing days as 0."""
    return binned_counts(log, "day")


#: Bars the "Mail per …" chart aims to stay under: past ~100 bars in half a page they turn to hairlines.
MAX_BARS = 100


def time_bin(log: EmailLog) -> str:
    """The bin for the activity chart from the log's span: "day", "week" or "month"."""
    times = log.frame[TIME].dropna()
    days = (times.max() - times.min()).days + 1 if len(times) else 0
    if days <= MAX_BARS:
        return "day"
    return "week" if days <= 7 * MAX_BARS else "month"


def binned_counts(log: EmailLog, unit: str) -> pd.Series:
    """Messages per day, week (starting Monday) or month (UTC), empty bins as 0, indexed by bin start."""
    times = log.frame[TIME].dropna()
    if not len(times):
        return pd.Series(dtype=int)
    days = times.dt.tz_localize(None).dt.floor("D")
    if unit == "week":
        starts, freq = days - pd.to_timedelta(days.dt.weekday, unit="D"), "W-MON"
    elif unit == "month":
        starts, freq = days.dt.to_period("M").dt.to_timestamp(), "MS"
    else:
        starts, freq = days, "D"
    counts = starts.value_counts().sort_index()
    full = pd.date_range(counts.index.min(), counts.index.max(), freq=freq)
    return counts.reindex(full, fill_value=0).tz_localize("UTC")


def top_sender_domains(log: EmailLog, n: int = 15) -> pd.Series:
    domains = domain_of(sender_addresses(log.frame[SENDER]))
    domains = domains[domains != ""]
    return domains.value_counts().head(n)
