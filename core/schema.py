"""The log schema: the five fields the detector reads, header matching and export presets.

Header matching ignores case, spaces, underscores, hyphens and dots, so ``Time Processed``,
``time_processed`` and ``TimeProcessed`` all name the same field.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Mapping

from core.errors import DataError

UUID = "UUID"
RECIPIENT = "Recipient"
SENDER = "Sender"
SUBJECT = "Subject"
TIME = "Time Processed"
LABEL = "label"

FIELDS = (UUID, RECIPIENT, SENDER, SUBJECT, TIME)
#: The fields that carry features; UUID only identifies the message.
FEATURE_FIELDS = (SENDER, RECIPIENT, SUBJECT, TIME)

#: Column presets for common gateway exports: field -> candidate headers, first present wins.
#: Matching is as tolerant as for the canonical names (case, spaces, underscores ignored).
PRESETS: dict[str, dict[str, tuple[str, ...]]] = {
    # Exchange Online / Microsoft 365 message trace ("Get-MessageTrace | Export-Csv", or the
    # Exchange admin center's message trace download): Received, SenderAddress,
    # RecipientAddress, Subject, Status, ToIP, FromIP, Size, MessageId, MessageTraceId.
    "microsoft365": {
        UUID: ("MessageId", "MessageTraceId", "message_id", "network_message_id"),
        RECIPIENT: ("RecipientAddress", "recipient_status", "Recipient"),
        SENDER: ("SenderAddress", "sender_address"),
        SUBJECT: ("Subject", "message_subject"),
        TIME: ("Received", "origin_timestamp_utc", "Date"),
    },
    # Google Workspace admin console, Reporting > Email log search > Download (CSV):
    # Date, Sender, Recipient, Subject, Message ID (plus status/IP columns that pass through).
    "google_workspace": {
        UUID: ("Message ID", "RFC 822 message ID", "rfc2822_message_id"),
        RECIPIENT: ("Recipient", "Recipient address", "destination.address"),
        SENDER: ("Sender", "Sender address", "source.address"),
        SUBJECT: ("Subject", "message_info.subject"),
        TIME: ("Date", "Event date", "Time", "timestamp"),
    },
}

PRESET_LABELS = {
    "microsoft365": "Microsoft 365 message trace",
    "google_workspace": "Google Workspace email log search",
}

# Everyday names people give the fields; used only to suggest a mapping in error messages.
_SYNONYMS = {
    UUID: ("id", "messageid", "msgid", "internetmessageid", "guid", "uid"),
    RECIPIENT: ("to", "rcpt", "recipients", "recipientaddress", "destination", "toaddress"),
    SENDER: ("from", "mailfrom", "senderaddress", "source", "fromaddress", "envelopefrom"),
    SUBJECT: ("title", "messagesubject", "topic"),
    TIME: ("date", "time", "timestamp", "received", "datetime", "sent", "processed", "eventdate"),
}


def normalize_header(name: object) -> str:
    """Header key used for matching: lower case without spaces, underscores, hyphens or dots."""
    return re.sub(r"[\s_\-.]+", "", str(name)).lower().lstrip("\ufeff")


def resolve_columns(
    headers: Iterable[str],
    *,
    columns: Mapping[str, str] | None = None,
    preset: str | None = None,
) -> dict[str, str | None]:
    """Map each field to the header that holds it (``None`` where nothing matches).

    ``columns`` maps field -> header explicitly and wins; then the preset's candidates;
    then the canonical field names. Matching tolerates case, spaces and underscores.
    """
    headers = [str(h) for h in headers]
    by_key: dict[str, str] = {}
    for header in headers:
        by_key.setdefault(normalize_header(header), header)
    if preset is not None and preset not in PRESETS:
        raise_unknown_preset(preset)
    explicit = {canonical_field(k): v for k, v in (columns or {}).items() if v}
    found: dict[str, str | None] = {}
    for field in FIELDS:
        candidates: list[str] = []
        if field in explicit:
            candidates.append(explicit[field])
        if preset:
            candidates.extend(PRESETS[preset][field])
        candidates.append(field)
        found[field] = next(
            (by_key[normalize_header(c)] for c in candidates if normalize_header(c) in by_key),
            None,
        )
        if field in explicit and found[field] != by_key.get(normalize_header(explicit[field])):
            raise DataError(
                f"Column {explicit[field]!r} mapped to {field!r} is not in the file. "
                f"Found: {', '.join(headers)}. Pick one of the file's columns."
            )
    return found


def detect_preset(headers: Iterable[str]) -> str | None:
    """The preset whose headers all appear in the file, when the canonical names don't."""
    keys = {normalize_header(h) for h in headers}
    for name, fields in PRESETS.items():
        if all(any(normalize_header(c) in keys for c in cands) for cands in fields.values()):
            return name
    return None


def suggest_header(field: str, headers: Iterable[str]) -> str | None:
    """A header that probably holds ``field``: a synonym, else the closest spelling."""
    headers = list(headers)
    keys = {normalize_header(h): h for h in headers}
    for synonym in _SYNONYMS[field]:
        if synonym in keys:
            return keys[synonym]
    close = difflib.get_close_matches(normalize_header(field), list(keys), n=1, cutoff=0.6)
    return keys[close[0]] if close else None


def canonical_field(name: str) -> str:
    """The canonical field for a user-given field name (``time_processed`` -> ``Time Processed``)."""
    for field in FIELDS:
        if normalize_header(name) == normalize_header(field):
            return field
    raise DataError(f"Unknown field {name!r}: expected one of {', '.join(FIELDS)}.")


def raise_unknown_preset(preset: str) -> None:
    raise DataError(f"Unknown column preset {preset!r}: expected one of {', '.join(PRESETS)}.")
