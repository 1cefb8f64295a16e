"""Known events: time windows an analyst declares (maintenance, a marketing blast, a migration).

Rows whose ``Time Processed`` falls inside an active window are still scored, but marked with
the event's id and kept out of the flagged queue and out of retraining, as Elastic's calendar
events keep scheduled events out of anomaly results. A window includes its start and excludes
its end (``starts <= time < ends``), so back-to-back windows never both claim a row. Times are
UTC; text without a zone is read as UTC.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime

import numpy as np
import pandas as pd

from core.errors import DataError
from core.schema import TIME

KNOWN_EVENT = "known_event"
_EXAMPLE = "ISO 8601 such as 2026-11-02T09:00Z or 2026-11-02 09:00+01:00 (UTC unless a zone is given)"


@dataclass(frozen=True)
class EventSpec:
    """An event's window, detached from the database (what :func:`match_events` needs)."""

    id: int
    starts: datetime
    ends: datetime


def parse_time(value: datetime | date | str, what: str = "Time") -> datetime:
    """An aware UTC datetime from a datetime, a date (its midnight) or ISO text; DataError otherwise."""
    if isinstance(value, str):
        text = value.strip()
        try:
            value = datetime.fromisoformat(text[:-1] + "+00:00" if text[-1:] in "zZ" and text else text)
        except ValueError:
            raise DataError(f"{what} {text!r} is not a time: expected {_EXAMPLE}.") from None
    if isinstance(value, pd.Timestamp):
        value = value.to_pydatetime()
    if not isinstance(value, datetime):
        if isinstance(value, date):
            value = datetime(value.year, value.month, value.day)
        else:
            raise DataError(f"{what} {value!r} is not a time: expected {_EXAMPLE}.")
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def check_window(starts, ends) -> tuple[datetime, datetime]:
    """(starts, ends) as aware UTC datetimes, ends after starts; a one-line DataError otherwise."""
    start, end = parse_time(starts, "Start"), parse_time(ends, "End")
    if end <= start:
        raise DataError(
            f"The event ends ({end:%Y-%m-%d %H:%M:%SZ}) at or before it starts ({start:%Y-%m-%d %H:%M:%SZ}): "
            "give an end after the start."
        )
    return start, end


def match_events(frame: pd.DataFrame, events: list[EventSpec]) -> pd.Series:
    """The id of the first (lowest id) event whose window holds each row's time, else <NA> (Int64).

    Rows without a readable time match nothing.
    """
    result = np.zeros(len(frame), dtype=np.int64)
    if events and len(frame):
        times = pd.to_datetime(frame[TIME], errors="coerce", utc=True)
        for event in sorted(events, key=lambda e: e.id):
            inside = ((times >= pd.Timestamp(event.starts)) & (times < pd.Timestamp(event.ends))).to_numpy(dtype=bool)
            result[inside & (result == 0)] = event.id
    out = pd.Series(result, index=frame.index, dtype="Int64")
    return out.mask(out == 0)
