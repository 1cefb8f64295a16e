"""The email features, each declared once: name, field, kind, computation and reason.

``EMAIL_FEATURES`` lists them in model-column order. Append a new feature at the end: a
saved model keeps the columns it was trained with (its ``feature_names_out_``), but moving a
feature changes the columns, and so the scores, of every model trained afterwards.

A ``compute`` function reads ``Measures`` (``m``): the parsed log (``m.parsed``), the learned
count tables (``m.counts``), each row's own occurrence (``m.own``) and the quantities shared
by several features. A ``reason`` function reads ``ReasonText`` (``r``): the feature's value
(``r.value``) and text pieces (``r.count``, ``r.domain``, ``r.hhmm``...).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from core.features.counting import counts_in, pair_counts
from core.features.measures import Measures
from core.features.registry import COUNT, HOUR, LOG, RATIO, WEEKDAY, Feature, ReasonText, by_name, whole
from core.schema import RECIPIENT, SENDER, SUBJECT, TIME

# --------------------------------------------------------------------------- computations used by one feature


def _lookalike(m: Measures) -> np.ndarray:
    """1 for a sender domain a few edits away from a far more familiar one (``paypa1.com``)."""
    domains = m.parsed.sender_domain
    targets = m.features.lookalike_targets(pd.unique(domains[domains.str.len() >= 4]))
    return domains.isin(list(targets)).to_numpy(float)


def _external_share(m: Measures) -> np.ndarray:
    """Share of the recipients outside the organisation's own domains."""
    domain = m.recipients.domain
    internal = np.isin(domain.values, list(m.features.internal_domains_))
    return m.share_of_recipients(~internal[domain.codes])


def _sender_to_domain_count(m: Measures) -> np.ndarray:
    """How often this sender wrote to the least familiar of the row's recipient domains."""
    learned = pair_counts(m.sender_per_recipient, m.recipients.domain, m.counts["sender_to_domain"])
    return m.per_row(learned - m.own_per_recipient, "min")


def _recipient_domain_count(m: Measures) -> np.ndarray:
    learned = counts_in(m.recipients.domain, m.counts["recipient_domain"])
    return m.per_row(np.where(m.has_recipient, learned - m.own_per_recipient, 0), "min")


def _domain_to_domain_count(m: Measures) -> np.ndarray:
    sender_domain = m.parsed.sender_domain_factors.take(m.recipients.row)
    learned = pair_counts(sender_domain, m.recipients.domain, m.counts["domain_to_domain"])
    return m.per_row(learned - m.own_per_recipient, "min")


def _sender_hour_share(m: Measures) -> np.ndarray:
    """The sender's usual hours: share of its training mail within an hour of this one (a
    one-hour bin would call 10:05 unusual for someone who writes at 9:55). An unseen sender
    has no usual hours: the share of all training mail in those hours stands in."""
    in_those_hours = (
        m.near_hour(lambda hours: pair_counts(m.parsed.sender_factors, hours, m.counts["sender_hour"])) - m.own
    )
    share = in_those_hours / np.maximum(m.sender_count, 1)
    return np.where(m.sender_count > 0, share, m.near_hour(lambda hours: m.training_hour_share[hours]))


def _recipients_above_usual(m: Measures) -> np.ndarray:
    """How many more recipients than this sender's usual (log ratio, 0 for a sender with no
    history): a colleague who writes to two people now mailing a hundred is a hijacked account
    or an exfiltration run, a newsletter to a hundred is Tuesday."""
    usual_total = counts_in(m.parsed.sender_factors, m.counts["sender_recipients"]) - m.own * m.recipient_n
    usual = np.where(m.sender_count > 0, usual_total / np.maximum(m.sender_count, 1), m.recipient_n)
    return np.maximum(np.log1p(m.recipient_n) - np.log1p(usual), 0)


def _subject_mentions_recipient(m: Measures) -> np.ndarray:
    """1 when the subject quotes a recipient's address local part (``"john, your invoice"``)."""
    local = m.recipients.local
    subject = m.parsed.subject_key.to_numpy(dtype=object)[m.recipients.row]
    mention = np.fromiter(
        (len(a) >= 3 and a in s for a, s in zip(local, subject, strict=True)), dtype=float, count=len(local)
    )
    return m.per_row(mention, "max")


def _sender_is_recipient(m: Measures) -> np.ndarray:
    """Mail "from" one of its own recipients: the spoofed-self trick of extortion and phishing
    runs (also notes-to-self, which the model learns as usual if they are)."""
    sender, address = m.sender_per_recipient, m.recipients.address
    same = (sender.values[sender.codes] == address.values[address.codes]) & m.has_recipient
    return (m.per_row(same.astype(float), "sum") > 0).astype(float)


# Display name vs address history: a known address under a name it never used (a spoofed From),
# and a name that so far came from other addresses (impersonation, or a campaign rotating
# throw-away addresses under one name).


def _sender_name_new(m: Measures) -> np.ndarray:
    name_with_address = m.name_with_address_total - m.own
    return (m.has_name & (m.sender_count > 0) & (name_with_address <= 0)).astype(float)


def _sender_name_elsewhere(m: Measures) -> np.ndarray:
    elsewhere = counts_in(m.parsed.sender_name, m.counts["name"]) - m.name_with_address_total
    return (m.has_name & (elsewhere > 0)).astype(float)


def _cold_contact(m: Measures) -> np.ndarray:
    """Unsolicited first contact: a stranger opening a new thread (a stranger answering a
    thread is how newcomers join a discussion)."""
    sender_new = (m.sender_count <= 0).astype(float)
    subject_new = (m.subject_count <= 0).astype(float)
    return sender_new * subject_new * (1 - m.subject_shape["subject_reply"].to_numpy())


# --------------------------------------------------------------------------- reasons used by one feature


def _lookalike_reason(r: ReasonText) -> pd.Series:
    targets = {d: r.features.lookalike_target(d) for d in pd.unique(r.domain[r.value > 0])}
    target = r.domain.map(targets).fillna("")
    return r.pick(
        (r.value > 0) & (target != ""),
        "sender domain " + r.domain + " looks like " + target,
        "sender domain " + r.domain + " unusual",
    )


def _recipients_above_usual_reason(r: ReasonText) -> pd.Series:
    recipient_n = r.other("recipient_n")
    usual = (recipient_n + 1) / np.exp(r.value) - 1
    return whole(recipient_n) + " recipients; this sender usually writes to " + whole(usual.clip(lower=1))


def _new_recipients(r: ReasonText) -> tuple[pd.Series, pd.Series]:
    """(recipients per row, "2 of 3") for a share of new recipients."""
    total = r.other("recipient_n").round().astype("int64")
    new = (r.value * total).round().astype("int64")
    return total, new.astype(str) + " of " + total.astype(str)


def _recipient_new_reason(r: ReasonText) -> pd.Series:
    total, some = _new_recipients(r)
    return r.pick(
        r.value >= 1,
        r.pick(total > 1, "no recipient ever seen in training", "recipient never seen in training"),
        some + " recipients never seen in training",
    )


def _pair_new_reason(r: ReasonText) -> pd.Series:
    total, some = _new_recipients(r)
    return r.pick(
        r.value >= 1,
        "first mail from this sender to " + r.pick(total > 1, "these recipients", "this recipient"),
        "sender never wrote to " + some + " recipients before",
    )


def _first_contact_reason(what: str):
    """Reason of a 0/1 first-contact flag: "first mail with this sender domain"."""
    return lambda r: r.pick(r.value > 0, f"first mail with this {what}", f"{what} seen before, unusual here")


# --------------------------------------------------------------------------- the features, in model-column order

EMAIL_FEATURES: tuple[Feature, ...] = (
    Feature(
        "sender_count",
        SENDER,
        COUNT,
        compute=lambda m: m.sender_count,
        reason=lambda r: r.pick(
            r.value == 0, "sender never seen in training", "sender seen only " + r.count + " times in training"
        ),
    ),
    Feature(
        "sender_domain_count",
        SENDER,
        COUNT,
        compute=lambda m: m.sender_domain_count,
        reason=lambda r: r.pick(
            r.value == 0,
            "sender domain " + r.domain + " never seen in training",
            "sender domain " + r.domain + " rare (" + r.count + " in training)",
        ),
    ),
    Feature("sender_domain_lookalike", SENDER, RATIO, compute=_lookalike, reason=_lookalike_reason),
    Feature(
        "sender_internal",
        SENDER,
        RATIO,
        compute=lambda m: m.parsed.sender_domain.isin(m.features.internal_domains_).to_numpy(float),
        reason=lambda r: r.pick(r.value > 0, "internal sender, unusual here", "external sender " + r.domain),
    ),
    Feature(
        "sender_name_mismatch",
        SENDER,
        RATIO,
        compute=lambda m: m.sender_shape["sender_name_mismatch"].to_numpy(),
        reason=lambda r: r.pick(r.value > 0, "display name shows a different address", "sender display name unusual"),
    ),
    Feature(
        "sender_local_digits",
        SENDER,
        RATIO,
        compute=lambda m: m.sender_shape["sender_local_digits"].to_numpy(),
        reason=lambda r: "sender address " + r.sender + " looks machine-made",
    ),
    Feature(
        "recipient_n",
        RECIPIENT,
        COUNT,
        compute=lambda m: m.recipient_n,
        reason=lambda r: r.pick(r.value == 1, "single recipient, unusual here", r.count + " recipients"),
    ),
    Feature(
        "recipient_count",
        RECIPIENT,
        COUNT,
        compute=lambda m: m.per_row(m.recipient_counts, "min"),
        reason=lambda r: r.pick(
            r.value == 0, "recipient never seen in training", "recipient rare (" + r.count + " in training)"
        ),
    ),
    Feature(
        "recipient_domain_count",
        RECIPIENT,
        COUNT,
        compute=_recipient_domain_count,
        reason=lambda r: r.pick(
            r.value == 0,
            "recipient domain never seen in training",
            "recipient domain rare (" + r.count + " in training)",
        ),
    ),
    Feature(
        "recipient_external_share",
        RECIPIENT,
        RATIO,
        compute=_external_share,
        reason=lambda r: r.percent + "% of recipients external",
    ),
    Feature(
        "pair_count",
        RECIPIENT,
        COUNT,
        compute=lambda m: m.per_row(m.pair_counts, "min"),
        reason=lambda r: r.pick(
            r.value == 0,
            "first mail from this sender to this recipient",
            "sender→recipient pair rare (" + r.count + " in training)",
        ),
    ),
    Feature(
        "sender_to_domain_count",
        RECIPIENT,
        COUNT,
        compute=_sender_to_domain_count,
        reason=lambda r: r.pick(
            r.value == 0, "sender never wrote to this recipient domain", "sender rarely writes to this recipient domain"
        ),
    ),
    Feature(
        "fanout_1h",
        RECIPIENT,
        COUNT,
        compute=lambda m: m.context["fanout_1h"],
        reason=lambda r: "sender reached " + r.count + " recipients within an hour",
    ),
    Feature(
        "subject_length",
        SUBJECT,
        COUNT,
        compute=lambda m: m.subject_shape["subject_length"].to_numpy(),
        reason=lambda r: r.pick(r.value == 0, "empty subject", "unusual subject length (" + r.count + ")"),
    ),
    Feature(
        "subject_caps",
        SUBJECT,
        RATIO,
        compute=lambda m: m.subject_shape["subject_caps"].to_numpy(),
        reason=lambda r: "subject " + r.percent + "% capitals",
    ),
    Feature(
        "subject_digits",
        SUBJECT,
        RATIO,
        compute=lambda m: m.subject_shape["subject_digits"].to_numpy(),
        reason=lambda r: "subject " + r.percent + "% digits",
    ),
    Feature(
        "subject_non_ascii",
        SUBJECT,
        RATIO,
        compute=lambda m: m.subject_shape["subject_non_ascii"].to_numpy(),
        reason=lambda r: r.always("subject has unusual non-ASCII characters"),
    ),
    Feature(
        "subject_marks",
        SUBJECT,
        COUNT,
        compute=lambda m: m.subject_shape["subject_marks"].to_numpy(),
        reason=lambda r: "subject has " + r.count + " '!'/'$' marks",
    ),
    Feature(
        "subject_reply",
        SUBJECT,
        RATIO,
        compute=lambda m: m.subject_shape["subject_reply"].to_numpy(),
        reason=lambda r: r.pick(r.value > 0, "reply/forward, unusual here", "new thread, unusual here"),
    ),
    Feature(
        "subject_count",
        SUBJECT,
        COUNT,
        compute=lambda m: m.subject_count,
        reason=lambda r: r.pick(
            r.value == 0,
            "subject never seen in training",
            r.pick(r.value == 1, "subject seen once", "subject seen " + r.count + " times"),
        ),
    ),
    Feature(
        "subject_word_rarity",
        SUBJECT,
        RATIO,
        compute=lambda m: m.word_rarity("mean"),
        reason=lambda r: r.always("rare words in subject"),
    ),
    Feature(
        "hour",
        TIME,
        HOUR,
        compute=lambda m: (m.parsed.times.dt.hour + m.parsed.times.dt.minute / 60.0).to_numpy(float),
        reason=lambda r: "sent " + r.hhmm + " UTC, unusual hour",
    ),
    Feature(
        "weekday",
        TIME,
        WEEKDAY,
        compute=lambda m: m.parsed.times.dt.weekday.to_numpy(float),
        reason=lambda r: "sent on a " + r.frame[TIME].dt.day_name() + ", unusual day",
    ),
    Feature(
        "sender_hour_share",
        TIME,
        RATIO,
        compute=_sender_hour_share,
        reason=lambda r: "sent " + r.hhmm + " UTC, outside this sender's usual hours",
    ),
    Feature(
        "recipients_above_usual",
        RECIPIENT,
        LOG,
        compute=_recipients_above_usual,
        reason=_recipients_above_usual_reason,
    ),
    Feature(
        "burst_5min",
        TIME,
        COUNT,
        compute=lambda m: m.context["burst_5min"],
        reason=lambda r: "burst: " + whole(r.value + 1) + " mails from this sender within 5 min",
    ),
    Feature(
        "subject_word_max_rarity",
        SUBJECT,
        RATIO,
        compute=lambda m: m.word_rarity("max"),
        reason=lambda r: r.always("a word in the subject is very rare here"),
    ),
    Feature(
        "subject_ngram_rarity",
        SUBJECT,
        RATIO,
        compute=lambda m: m.ngram_rarity[0],
        reason=lambda r: r.always("subject spelled unlike usual mail"),
    ),
    Feature(
        "subject_ngram_unseen",
        SUBJECT,
        RATIO,
        compute=lambda m: m.ngram_rarity[1],
        reason=lambda r: r.percent + "% of the subject's letter groups never seen",
    ),
    Feature(
        "subject_mentions_recipient",
        SUBJECT,
        RATIO,
        compute=_subject_mentions_recipient,
        reason=lambda r: r.pick(
            r.value > 0,
            "subject quotes the recipient's address/name",
            "subject doesn't name the recipient, unusual here",
        ),
    ),
    Feature(
        "subject_campaign",
        SUBJECT,
        COUNT,
        compute=lambda m: m.context["subject_campaign"],
        reason=lambda r: "same subject from " + whole(r.value + 1) + " sender domains in this log",
    ),
    Feature(
        "sender_name_address_similarity",
        SENDER,
        RATIO,
        compute=lambda m: m.sender_shape["sender_name_address_similarity"].to_numpy(),
        reason=lambda r: r.pick(
            r.value < 0.5, "display name unrelated to the sender address", "display name unusual for the address"
        ),
    ),
    Feature(
        "sender_has_name",
        SENDER,
        RATIO,
        compute=lambda m: m.sender_shape["sender_has_name"].to_numpy(),
        reason=lambda r: r.pick(
            r.value > 0, "sender shows a display name, unusual here", "sender without a display name"
        ),
    ),
    Feature(
        "sender_is_recipient",
        SENDER,
        RATIO,
        compute=_sender_is_recipient,
        reason=lambda r: r.pick(
            r.value > 0, "sender address is the recipient's own", "sender is not the recipient, unusual here"
        ),
    ),
    Feature(
        "sender_name_new",
        SENDER,
        RATIO,
        compute=_sender_name_new,
        reason=lambda r: r.pick(
            r.value > 0,
            "known sender address under a display name it never used",
            "sender's usual display name, unusual here",
        ),
    ),
    Feature(
        "sender_name_elsewhere",
        SENDER,
        RATIO,
        compute=_sender_name_elsewhere,
        reason=lambda r: r.pick(
            r.value > 0, "display name used before by a different address", "display name unusual here"
        ),
    ),
    Feature(
        "sender_domain_to_recipient_count",
        RECIPIENT,
        COUNT,
        compute=_domain_to_domain_count,
        reason=lambda r: r.pick(
            r.value == 0,
            "sender's domain never wrote to this recipient domain",
            "sender's domain rarely writes to this recipient domain (" + r.count + ")",
        ),
    ),
    # First contact, as explicit 0/1 flags (shares for the recipients): on a log1p count "never
    # seen" (0) sits right next to "seen once" (0.69) while familiar list traffic spreads to 6+,
    # so novelty barely registers.
    Feature(
        "sender_new",
        SENDER,
        RATIO,
        compute=lambda m: (m.sender_count <= 0).astype(float),
        reason=_first_contact_reason("sender"),
    ),
    Feature(
        "sender_domain_new",
        SENDER,
        RATIO,
        compute=lambda m: (m.sender_domain_count <= 0).astype(float),
        reason=_first_contact_reason("sender domain"),
    ),
    # Per recipient, the share that is new: a reply that also copies one new colleague is far
    # less of a first contact than mail to nobody the log has seen.
    Feature(
        "recipient_new",
        RECIPIENT,
        RATIO,
        compute=lambda m: m.share_of_recipients(m.recipient_counts <= 0),
        reason=_recipient_new_reason,
    ),
    Feature(
        "pair_new",
        RECIPIENT,
        RATIO,
        compute=lambda m: m.share_of_recipients(m.pair_counts <= 0),
        reason=_pair_new_reason,
    ),
    Feature(
        "subject_new",
        SUBJECT,
        RATIO,
        compute=lambda m: (m.subject_count <= 0).astype(float),
        reason=_first_contact_reason("subject"),
    ),
    Feature(
        "cold_contact",
        SENDER,
        RATIO,
        compute=_cold_contact,
        reason=lambda r: r.pick(
            r.value > 0, "unknown sender opening a new conversation", "known correspondent, unusual here"
        ),
    ),
)

EMAIL_FEATURES_BY_NAME = by_name(EMAIL_FEATURES)
