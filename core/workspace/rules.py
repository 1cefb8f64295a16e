"""Allow-list rules: checking what an analyst types, and matching rules against scored rows.

Four kinds, as mail gateways' allow lists have them: a sender address, a sender domain (and
its subdomains), a sender → recipient pair, a subject regular expression (Python ``re``,
searched anywhere in the subject; ``(?i)`` for any case). Addresses and domains compare in
lower case. A rule matches through its expiry date (the last day it applies), then stops.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime

import numpy as np
import pandas as pd

from core.errors import DataError
from core.schema import RECIPIENT, SENDER, SUBJECT

SUPPRESSED_BY = "suppressed_by"
MAX_PATTERN = 500

_DOMAIN = re.compile(r"^(?=.{1,253}$)(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+(?:[a-z]{2,63}|xn--[a-z0-9-]{1,59})$")
_LOCAL = re.compile(r"^[^\s@<>\"(),;:\[\]\\]{1,64}$")
# An address inside a header value: "Name <a@b.c>", "a@b.c", "<a@b.c>; d@e.f".
_ADDRESS = re.compile(r"[^\s<>\"',;:()\[\]]+@[^\s<>\"',;:()\[\]]+")


@dataclass(frozen=True)
class RuleSpec:
    """A rule's matching part, detached from the database (what :func:`match_rules` needs)."""

    id: int
    kind: str
    value: str
    recipient: str = ""
    expires: date | None = None


def today() -> date:
    return datetime.now(UTC).date()


def check_domain(text: str) -> str:
    domain = (text or "").strip().lower().lstrip("@").rstrip(".")
    if not _DOMAIN.match(domain):
        raise DataError(f"{text!r} is not a mail domain: expected something like example.com.")
    return domain


def check_address(text: str) -> str:
    address = (text or "").strip().lower().strip("<>")
    local, at, domain = address.rpartition("@")
    if not at or not _LOCAL.match(local) or not _DOMAIN.match(domain):
        raise DataError(f"{text!r} is not a mail address: expected something like someone@example.com.")
    return address


def check_pattern(text: str) -> str:
    if not text:
        raise DataError("The subject regular expression is empty: give a pattern such as '^Invoice [0-9]+$'.")
    if len(text) > MAX_PATTERN:
        raise DataError(f"The subject regular expression is {len(text)} characters long; keep it under {MAX_PATTERN}.")
    try:
        re.compile(text)
    except re.error as error:
        raise DataError(f"{text!r} is not a valid regular expression: {error}.") from None
    return text


def check_expiry(value: date | str | None, *, on: date | None = None) -> date | None:
    """An expiry date (the last day the rule matches), today or later; YYYY-MM-DD text accepted."""
    if value is None or value == "":
        return None
    if isinstance(value, str):
        try:
            value = date.fromisoformat(value.strip())
        except ValueError:
            raise DataError(f"Expiry {value!r} is not a date: expected YYYY-MM-DD.") from None
    if isinstance(value, datetime):
        value = value.date()
    if value < (on or today()):
        raise DataError(f"Expiry {value.isoformat()} is in the past: give today or a later date (YYYY-MM-DD).")
    return value


def check_rule(kind: str, value: str, recipient: str = "") -> tuple[str, str]:
    """(value, recipient) in the form they are stored and matched, or a DataError saying what's wrong."""
    if kind == "sender":
        return check_address(value), ""
    if kind == "sender_domain":
        return check_domain(value), ""
    if kind == "pair":
        return check_address(value), check_address(recipient)
    if kind == "subject_regex":
        return check_pattern(value), ""
    raise DataError(f"Unknown rule kind {kind!r}: expected sender, sender_domain, pair or subject_regex.")


def sender_address(values: pd.Series) -> pd.Series:
    """The (first) address in each Sender value, lower case; "" when there is none.

    Parsed once per distinct value (a log repeats its senders: a million rows hold thousands)."""
    text = values.fillna("").astype(str)
    codes, distinct = pd.factorize(text)
    found = pd.Series(distinct, dtype=text.dtype).str.extract("(" + _ADDRESS.pattern + ")", expand=False)
    parsed = found.fillna("").str.lower().str.strip(".<>")
    return pd.Series(parsed.to_numpy()[codes] if len(codes) else [], index=values.index, dtype=parsed.dtype)


def recipient_addresses(values: pd.Series) -> pd.Series:
    """All addresses in each Recipient value (``;`` or ``,`` separated lists), lower case."""
    found = values.fillna("").astype(str).str.lower().str.findall(_ADDRESS)
    return found.map(lambda addresses: {a.strip(".<>") for a in addresses})


def match_rules(frame: pd.DataFrame, rules: list[RuleSpec], *, on: date | None = None) -> pd.Series:
    """The id of the first (lowest id) active rule matching each row, else <NA> (nullable Int64).

    ``frame`` has the log's Sender, Recipient and Subject columns. Expired rules match nothing.
    """
    day = on or today()
    result = np.zeros(len(frame), dtype=np.int64)
    active = sorted((r for r in rules if r.expires is None or r.expires >= day), key=lambda r: r.id)
    if active and len(frame):
        senders = sender_address(frame[SENDER])
        domains = senders.str.rpartition("@")[2]
        recipients = None
        for rule in active:
            if rule.kind == "sender":
                hit = senders == rule.value
            elif rule.kind == "sender_domain":
                hit = (domains == rule.value) | domains.str.endswith("." + rule.value)
            elif rule.kind == "pair":
                if recipients is None:
                    recipients = recipient_addresses(frame[RECIPIENT])
                hit = (senders == rule.value) & recipients.map(lambda found, r=rule.recipient: r in found)
            elif rule.kind == "subject_regex":
                hit = frame[SUBJECT].fillna("").astype(str).str.contains(rule.value, regex=True)
            else:
                continue
            take = hit.to_numpy(dtype=bool) & (result == 0)
            result[take] = rule.id
    out = pd.Series(result, index=frame.index, dtype="Int64")
    return out.mask(out == 0)
