"""How times and durations read on every page (no Streamlit).

Times are shown in UTC, as the loader stores them: ``2026-03-02 14:05`` (minutes for mail,
seconds for when a model was saved). Files keep ISO 8601 (``core.scoring.write_csv``).
"""

from __future__ import annotations

import re
from datetime import datetime

import pandas as pd

TIME_FORMAT = "%Y-%m-%d %H:%M"


def time_text(value: str | datetime | pd.Timestamp | None, *, seconds: bool = False, zone: bool = False) -> str:
    """``value`` (ISO string, datetime or Timestamp; naive = UTC) as ``YYYY-MM-DD HH:MM[:SS][ UTC]``.

    Missing values give ``""``; a string that isn't a time is returned unchanged."""
    if value is None or value == "" or (not isinstance(value, str) and pd.isna(value)):
        return ""
    try:
        stamp = pd.Timestamp(value)
    except ValueError:
        return str(value)
    if stamp.tzinfo is not None:
        stamp = stamp.tz_convert("UTC")
    text = stamp.strftime(TIME_FORMAT + (":%S" if seconds else ""))
    return f"{text} UTC" if zone else text


def time_range_text(first, last) -> str:
    """``first – last UTC``, or a note when the log has no readable time."""
    if first is None or pd.isna(first):
        return "no readable times"
    return f"{time_text(first)} – {time_text(last)} UTC"


def duration_text(seconds: float | None) -> str:
    """Elapsed or remaining time as ``M:SS`` (``–`` when unknown)."""
    if seconds is None:
        return "–"
    seconds = int(round(seconds))
    return f"{seconds // 60}:{seconds % 60:02d}"


_MARKDOWN_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!<>|~$@:&])")
# What GitHub-flavoured markdown turns into a link even with every character escaped (it links
# addresses and URLs in the text after escapes are read): an address, a URL, a www. name.
_LINKABLE = re.compile(r"[^\s,;]*(?:@|://|www\.)[^\s,;]*", re.IGNORECASE)
_TRAILING = ".:!?)]'\""


def markdown_text(text: str) -> str:
    """Text from the log (addresses, subjects) made literal inside ``st.markdown`` / ``st.success``:
    every markdown, LaTeX (``$``) and entity (``&``) character escaped, and addresses and URLs set as code, which
    markdown never turns into a link (a sender's address must not become a ``mailto:`` link)."""
    text, parts, done = str(text), [], 0
    for found in _LINKABLE.finditer(text):
        linkable = found.group().rstrip(_TRAILING)  # never empty: its "@", "/" or "www" is not stripped
        parts += [_MARKDOWN_SPECIAL.sub(r"\\\1", text[done : found.start()]), _code_span(linkable)]
        done = found.start() + len(linkable)
    return "".join([*parts, _MARKDOWN_SPECIAL.sub(r"\\\1", text[done:])])


def _code_span(text: str) -> str:
    """``text`` as inline code: fenced by one backtick more than its longest run of them."""
    fence = "`" * (max((len(run) for run in re.findall("`+", text)), default=0) + 1)
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{fence}{pad}{text}{pad}{fence}"
