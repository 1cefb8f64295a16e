"""Text and behaviour signals: what a sender field or a subject says on its own (shape,
display name vs address), look-alike domains, and behaviour within the file (bursts,
fan-out, campaigns).

Within-file behaviour is counted in fixed time windows over the file being processed, so it
means the same on a month of training mail and on one day. ``add_context`` stores it in the
``CONTEXT_COLUMNS`` before a file is split or chunked.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from core.features.counting import window_sums
from core.features.parsing import ADDRESS, REPLY_PREFIX, Codepoints, ParsedLog, factorize, sender_addresses

# Window sizes for behaviour within the file (seconds).
BURST_WINDOW = 5 * 60
FANOUT_WINDOW = 60 * 60
# Within-file behaviour, computed once over the whole file: name -> the column add_context writes.
CONTEXT_COLUMNS = {
    "burst_5min": "context:burst_5min",
    "fanout_1h": "context:fanout_1h",
    "subject_campaign": "context:subject_campaign",
}


# --------------------------------------------------------------------------- the text of one field


def sender_shape(raw: pd.Series) -> pd.DataFrame:
    """Features of the sender field's text alone: display name vs address, digits."""
    address = sender_addresses(raw)
    similarity, has_name = name_similarity(raw, address)
    return pd.DataFrame(
        {
            "sender_name_mismatch": name_mismatch(raw, address),
            "sender_local_digits": digit_share(address.str.split("@").str[0]),
            "sender_name_address_similarity": similarity,
            "sender_has_name": has_name,
        }
    )


def subject_shape(subject: pd.Series) -> pd.DataFrame:
    """Features of the subject's text alone: length, capitals, digits, non-ASCII, marks, reply."""
    text = Codepoints(subject)
    caps = text.count((text.points >= 65) & (text.points <= 90))
    letters = caps + text.count((text.points >= 97) & (text.points <= 122))
    length = text.lengths.astype(float)
    return pd.DataFrame(
        {
            "subject_length": length,
            "subject_caps": caps / np.maximum(letters, 1),
            "subject_digits": text.count(text.is_digit()) / np.maximum(length, 1),
            "subject_non_ascii": text.count(text.points > 0x7F) / np.maximum(length, 1),
            "subject_marks": text.count(np.isin(text.points, [ord(c) for c in "!$€£"])),
            "subject_reply": subject.str.contains(REPLY_PREFIX).to_numpy(float),
        }
    )


def digit_share(text: pd.Series) -> np.ndarray:
    """Share of each text's characters that are digits (0 for empty text)."""
    points = Codepoints(text)
    return points.count(points.is_digit()) / np.maximum(points.lengths, 1)


def name_mismatch(raw: pd.Series, address: pd.Series) -> np.ndarray:
    """1 when the display name carries an address other than the real one (spoofing trick)."""
    name = raw.str.split("<", n=1).str[0].str.lower()
    shown = name.str.extract(ADDRESS.pattern.join("()"), expand=False).fillna("")
    return ((shown != "") & (shown != address)).to_numpy(float)


def name_similarity(raw: pd.Series, address: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """(similarity of display name and address local part in [0, 1], has a display name).

    People's addresses usually echo their name (``Paul Lussier <lussier@…>``); bulk senders
    rotate a random address under a borrowed name (``Daily Top 10 <eenytnys@…>``). No display
    name counts as similarity 1.
    """
    from rapidfuzz import fuzz

    name = raw.str.split("<", n=1).str[0].str.lower().str.replace(r"[^a-z]", "", regex=True)
    has_name = (raw.str.contains("<", regex=False) & (name.str.len() > 0)).to_numpy()
    local = address.str.split("@").str[0].str.replace(r"[^a-z]", "", regex=True)
    similarity = np.array(
        [
            fuzz.partial_ratio(shown, part) / 100 if named and shown and part else 1.0
            for shown, part, named in zip(name, local, has_name, strict=True)
        ]
    )
    return similarity, has_name.astype(float)


# --------------------------------------------------------------------------- look-alike domains


def lookalike_targets(domains, familiar: list[str], seen: pd.Series, max_edits: int) -> dict[str, str]:
    """domain -> the ``familiar`` domain it imitates, for the ``domains`` that imitate one.

    A look-alike is a few edits from a familiar domain and at least ten times rarer than it
    (``seen``: training count per domain), so two real, similar and both common domains are
    not flagged. The edits must change the name, not just the ending (``linux.be`` next to
    ``linux.ie`` is a country site, not a trick), and short names are left alone: one edit
    turns a four-letter name into another real one. Names of 5-8 characters may differ by one
    edit, longer ones by ``max_edits``.
    """
    from rapidfuzz.distance import DamerauLevenshtein
    from rapidfuzz.process import cdist

    distinct = [d for d in domains if d]
    if not distinct or not familiar:
        return {}
    distance = cdist(distinct, familiar, scorer=DamerauLevenshtein.distance, workers=1)
    distance[distance == 0] = 255  # the domain itself
    nearest = distance.argmin(axis=1)
    names = [d.rsplit(".", 1)[0] for d in distinct]
    name_length = np.array([len(name) for name in names])
    limit = np.select([name_length < 5, name_length < 9], [0, 1], max_edits)
    close = distance[np.arange(len(distinct)), nearest] <= limit
    found = {}
    for domain, name, target, hit in zip(distinct, names, nearest, close, strict=True):
        imitated = familiar[target]
        if hit and name != imitated.rsplit(".", 1)[0] and seen.get(domain, 0) * 10 <= seen.get(imitated, 0):
            found[domain] = imitated
    return found


# --------------------------------------------------------------------------- behaviour within the file


def within_file_context(parsed: ParsedLog) -> dict[str, np.ndarray]:
    """Each row's behaviour within the file (the ``CONTEXT_COLUMNS``): the stored columns when
    ``add_context`` already wrote them, else computed over ``parsed``."""
    stored = parsed.stored_columns(CONTEXT_COLUMNS)
    if stored is not None:
        return stored
    burst, fanout = window_sums(
        parsed.sender, parsed.times, [(np.ones(parsed.n), BURST_WINDOW), (parsed.recipient_n, FANOUT_WINDOW)]
    )
    return {"burst_5min": burst - 1, "fanout_1h": fanout, "subject_campaign": campaign(parsed)}


def campaign(parsed: ParsedLog) -> np.ndarray:
    """How many other sender domains sent this exact new-thread subject within the file.

    A campaign sends one subject from many throw-away domains; a newsletter comes from one
    domain and a discussion thread carries a reply prefix.
    """
    subjects = factorize(parsed.subject)
    is_reply = pd.Series(subjects.values, dtype=object).str.contains(REPLY_PREFIX).to_numpy(bool)
    key_codes, keys = parsed.subject_key_factors
    new_thread = ~is_reply[subjects.codes] & (np.asarray(keys, dtype=object)[key_codes] != "")
    domain_codes = parsed.sender_domain_factors.codes
    # Distinct (subject, domain) pairs of new threads, then domains per subject.
    pairs = pd.DataFrame({"subject": key_codes[new_thread], "domain": domain_codes[new_thread]}).drop_duplicates()
    per_subject = np.bincount(pairs["subject"].to_numpy(), minlength=len(keys))
    return np.where(new_thread, per_subject[key_codes] - 1, 0).astype(float) if len(keys) else np.zeros(parsed.n)
