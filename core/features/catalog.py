"""The email features, each declared once: name, field, kind, computation and reason.

``EMAIL_FEATURES`` lists them in model-column order. Append a new feature at the end: a
saved model keeps the columns it was trained with (its ``feature_names_out_``), but moving a
feature changes the columns, and so the scores, of every model trained afterwards.

A ``compute`` function reads ``Measures`` (``log``): the parsed log (``log.parsed``), the
learned count tables (``log.counts``), each row's own occurrence (``log.own``) and the
quantities shared by several features. A ``reason`` function reads ``ReasonText`` (``rows``,
the rows whose top feature it is): the feature's value (``rows.value``) and text pieces
(``rows.count``, ``rows.domain``, ``rows.hhmm``...).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from core.features.counting import counts_in, pair_counts
from core.features.measures import Measures
from core.features.registry import COUNT, HOUR, LOG, RATIO, WEEKDAY, Feature, ReasonText, by_name, whole
from core.schema import RECIPIENT, SENDER, SUBJECT, TIME

# --------------------------------------------------------------------------- computations used by one feature


def _lookalike(log: Measures) -> np.ndarray:
    """1 for a sender domain a few edits away from a far more familiar one (``paypa1.com``)."""
    domains = log.parsed.sender_domain
    targets = log.preprocessor.lookalike_targets(pd.unique(domains[domains.str.len() >= 4]))
    return domains.isin(list(targets)).to_numpy(float)


def _external_share(log: Measures) -> np.ndarray:
    """Share of the recipients outside the organisation's own domains."""
    domain = log.recipients.domain
    internal = np.isin(domain.values, list(log.preprocessor.internal_domains_))
    return log.share_of_recipients(~internal[domain.codes])


def _sender_to_domain_count(log: Measures) -> np.ndarray:
    """How often this sender wrote to the least familiar of the row's recipient domains."""
    learned = pair_counts(log.sender_per_recipient, log.recipients.domain, log.pair_lookup("sender_to_domain"))
    return log.per_row(learned - log.own_per_recipient, "min")


def _recipient_domain_count(log: Measures) -> np.ndarray:
    learned = counts_in(log.recipients.domain, log.counts["recipient_domain"])
    return log.per_row(np.where(log.has_recipient, learned - log.own_per_recipient, 0), "min")


def _domain_to_domain_count(log: Measures) -> np.ndarray:
    sender_domain = log.parsed.sender_domain_factors.take(log.recipients.row)
    learned = pair_counts(sender_domain, log.recipients.domain, log.pair_lookup("domain_to_domain"))
    return log.per_row(learned - log.own_per_recipient, "min")


def _sender_hour_share(log: Measures) -> np.ndarray:
    """The sender's usual hours: share of its training mail within an hour of this one (a
    one-hour bin would call 10:05 unusual for someone who writes at 9:55). An unseen sender
    has no usual hours: the share of all training mail in those hours stands in."""
    sender_hour = log.pair_lookup("sender_hour")
    in_those_hours = log.near_hour(lambda hours: pair_counts(log.parsed.sender_factors, hours, sender_hour)) - log.own
    share = in_those_hours / np.maximum(log.sender_count, 1)
    return np.where(log.sender_count > 0, share, log.near_hour(lambda hours: log.training_hour_share[hours]))


def _recipients_above_usual(log: Measures) -> np.ndarray:
    """How many more recipients than this sender's usual (log ratio, 0 for a sender with no
    history): a colleague who writes to two people now mailing a hundred is a hijacked account
    or an exfiltration run, a newsletter to a hundred is Tuesday."""
    usual_total = counts_in(log.parsed.sender_factors, log.counts["sender_recipients"]) - log.own * log.recipient_n
    usual = np.where(log.sender_count > 0, usual_total / np.maximum(log.sender_count, 1), log.recipient_n)
    return np.maximum(np.log1p(log.recipient_n) - np.log1p(usual), 0)


def _subject_mentions_recipient(log: Measures) -> np.ndarray:
    """1 when the subject quotes a recipient's address local part (``"john, your invoice"``)."""
    local = log.recipients.local
    subject = log.parsed.subject_key.to_numpy(dtype=object)[log.recipients.row]
    mention = np.fromiter(
        (len(name) >= 3 and name in text for name, text in zip(local, subject, strict=True)),
        dtype=float,
        count=len(local),
    )
    return log.per_row(mention, "max")


def _sender_is_recipient(log: Measures) -> np.ndarray:
    """Mail "from" one of its own recipients: the spoofed-self trick of extortion and phishing
    runs (also notes-to-self, which the model learns as usual if they are)."""
    sender, address = log.sender_per_recipient, log.recipients.address
    same = (sender.values[sender.codes] == address.values[address.codes]) & log.has_recipient
    return (log.per_row(same.astype(float), "sum") > 0).astype(float)


# Display name vs address history: a known address under a name it never used (a spoofed From),
# and a name that so far came from other addresses (impersonation, or a campaign rotating
# throw-away addresses under one name).


def _sender_name_new(log: Measures) -> np.ndarray:
    name_with_address = log.name_with_address_total - log.own
    return (log.has_name & (log.sender_count > 0) & (name_with_address <= 0)).astype(float)


def _sender_name_elsewhere(log: Measures) -> np.ndarray:
    elsewhere = counts_in(log.parsed.sender_name, log.counts["name"]) - log.name_with_address_total
    return (log.has_name & (elsewhere > 0)).astype(float)


def _cold_contact(log: Measures) -> np.ndarray:
    """Unsolicited first contact: a stranger opening a new thread (a stranger answering a
    thread is how newcomers join a discussion)."""
    sender_new = (log.sender_count <= 0).astype(float)
    subject_new = (log.subject_count <= 0).astype(float)
    return sender_new * subject_new * (1 - log.subject_shape["subject_reply"].to_numpy())


# --------------------------------------------------------------------------- reasons used by one feature


def _lookalike_reason(rows: ReasonText) -> pd.Series:
    targets = {domain: rows.preprocessor.lookalike_target(domain) for domain in pd.unique(rows.domain[rows.value > 0])}
    target = rows.domain.map(targets).fillna("")
    return rows.pick(
        (rows.value > 0) & (target != ""),
        "sender domain " + rows.domain + " looks like " + target,
        "sender domain " + rows.domain + " unusual",
    )


def _recipients_above_usual_reason(rows: ReasonText) -> pd.Series:
    recipient_n = rows.other("recipient_n")
    usual = (recipient_n + 1) / np.exp(rows.value) - 1
    return whole(recipient_n) + " recipients; this sender usually writes to " + whole(usual.round().clip(lower=1))


def _new_recipients(rows: ReasonText) -> tuple[pd.Series, pd.Series]:
    """(recipients per row, "2 of 3") for a share of new recipients."""
    total = rows.other("recipient_n").round().astype("int64")
    new = (rows.value * total).round().astype("int64")
    return total, new.astype(str) + " of " + total.astype(str)


def _recipient_new_reason(rows: ReasonText) -> pd.Series:
    total, some = _new_recipients(rows)
    return rows.pick(
        rows.value >= 1,
        rows.pick(total > 1, "no recipient ever seen in training", "recipient never seen in training"),
        some + " recipients never seen in training",
    )


def _pair_new_reason(rows: ReasonText) -> pd.Series:
    total, some = _new_recipients(rows)
    return rows.pick(
        rows.value >= 1,
        "first mail from this sender to " + rows.pick(total > 1, "these recipients", "this recipient"),
        "sender never wrote to " + some + " recipients before",
    )


def _first_contact_reason(what: str):
    """Reason of a 0/1 first-contact flag: "first mail with this sender domain"."""
    return lambda rows: rows.pick(rows.value > 0, f"first mail with this {what}", f"{what} seen before, unusual here")


# --------------------------------------------------------------------------- the features, in model-column order

EMAIL_FEATURES: tuple[Feature, ...] = (
    Feature(
        "sender_count",
        SENDER,
        COUNT,
        compute=lambda log: log.sender_count,
        reason=lambda rows: rows.pick(
            rows.value == 0, "sender never seen in training", "sender seen only " + rows.count + " times in training"
        ),
    ),
    Feature(
        "sender_domain_count",
        SENDER,
        COUNT,
        compute=lambda log: log.sender_domain_count,
        reason=lambda rows: rows.pick(
            rows.value == 0,
            "sender domain " + rows.domain + " never seen in training",
            "sender domain " + rows.domain + " rare (" + rows.count + " in training)",
        ),
    ),
    Feature("sender_domain_lookalike", SENDER, RATIO, compute=_lookalike, reason=_lookalike_reason),
    Feature(
        "sender_internal",
        SENDER,
        RATIO,
        compute=lambda log: log.parsed.sender_domain.isin(log.preprocessor.internal_domains_).to_numpy(float),
        reason=lambda rows: rows.pick(
            rows.value > 0, "internal sender, unusual here", "external sender " + rows.domain
        ),
    ),
    Feature(
        "sender_name_mismatch",
        SENDER,
        RATIO,
        compute=lambda log: log.sender_shape["sender_name_mismatch"].to_numpy(),
        reason=lambda rows: rows.pick(
            rows.value > 0, "display name shows a different address", "sender display name unusual"
        ),
    ),
    Feature(
        "sender_local_digits",
        SENDER,
        RATIO,
        compute=lambda log: log.sender_shape["sender_local_digits"].to_numpy(),
        reason=lambda rows: "sender address " + rows.sender + " looks machine-made",
    ),
    Feature(
        "recipient_n",
        RECIPIENT,
        COUNT,
        compute=lambda log: log.recipient_n,
        reason=lambda rows: rows.pick(rows.value == 1, "single recipient, unusual here", rows.count + " recipients"),
    ),
    Feature(
        "recipient_count",
        RECIPIENT,
        COUNT,
        compute=lambda log: log.per_row(log.recipient_counts, "min"),
        reason=lambda rows: rows.pick(
            rows.value == 0, "recipient never seen in training", "recipient rare (" + rows.count + " in training)"
        ),
    ),
    Feature(
        "recipient_domain_count",
        RECIPIENT,
        COUNT,
        compute=_recipient_domain_count,
        reason=lambda rows: rows.pick(
            rows.value == 0,
            "recipient domain never seen in training",
            "recipient domain rare (" + rows.count + " in training)",
        ),
    ),
    Feature(
        "recipient_external_share",
        RECIPIENT,
        RATIO,
        compute=_external_share,
        reason=lambda rows: rows.percent + "% of recipients external",
    ),
    Feature(
        "pair_count",
        RECIPIENT,
        COUNT,
        compute=lambda log: log.per_row(log.pair_counts, "min"),
        reason=lambda rows: rows.pick(
            rows.value == 0,
            "first mail from this sender to this recipient",
            "sender→recipient pair rare (" + rows.count + " in training)",
        ),
    ),
    Feature(
        "sender_to_domain_count",
        RECIPIENT,
        COUNT,
        compute=_sender_to_domain_count,
        reason=lambda rows: rows.pick(
            rows.value == 0,
            "sender never wrote to this recipient domain",
            "sender rarely writes to this recipient domain",
        ),
    ),
    Feature(
        "fanout_1h",
        RECIPIENT,
        COUNT,
        compute=lambda log: log.context["fanout_1h"],
        reason=lambda rows: "sender reached " + rows.count + " recipients within an hour",
        grows_with_traffic=True,
    ),
    Feature(
        "subject_length",
        SUBJECT,
        COUNT,
        compute=lambda log: log.subject_shape["subject_length"].to_numpy(),
        reason=lambda rows: rows.pick(rows.value == 0, "empty subject", "unusual subject length (" + rows.count + ")"),
    ),
    Feature(
        "subject_caps",
        SUBJECT,
        RATIO,
        compute=lambda log: log.subject_shape["subject_caps"].to_numpy(),
        reason=lambda rows: "subject " + rows.percent + "% capitals",
    ),
    Feature(
        "subject_digits",
        SUBJECT,
        RATIO,
        compute=lambda log: log.subject_shape["subject_digits"].to_numpy(),
        reason=lambda rows: "subject " + rows.percent + "% digits",
    ),
    Feature(
        "subject_non_ascii",
        SUBJECT,
        RATIO,
        compute=lambda log: log.subject_shape["subject_non_ascii"].to_numpy(),
        reason=lambda rows: rows.always("subject has unusual non-ASCII characters"),
    ),
    Feature(
        "subject_marks",
        SUBJECT,
        COUNT,
        compute=lambda log: log.subject_shape["subject_marks"].to_numpy(),
        reason=lambda rows: "subject has " + rows.count + " '!'/'$' marks",
    ),
    Feature(
        "subject_reply",
        SUBJECT,
        RATIO,
        compute=lambda log: log.subject_shape["subject_reply"].to_numpy(),
        reason=lambda rows: rows.pick(rows.value > 0, "reply/forward, unusual here", "new thread, unusual here"),
    ),
    Feature(
        "subject_count",
        SUBJECT,
        COUNT,
        compute=lambda log: log.subject_count,
        reason=lambda rows: rows.pick(
            rows.value == 0,
            "subject never seen in training",
            rows.pick(rows.value == 1, "subject seen once", "subject seen " + rows.count + " times"),
        ),
    ),
    Feature(
        "subject_word_rarity",
        SUBJECT,
        RATIO,
        compute=lambda log: log.word_rarity("mean"),
        reason=lambda rows: rows.always("rare words in subject"),
    ),
    Feature(
        "hour",
        TIME,
        HOUR,
        compute=lambda log: (log.parsed.times.dt.hour + log.parsed.times.dt.minute / 60.0).to_numpy(float),
        reason=lambda rows: "sent " + rows.hhmm + " UTC, unusual hour",
    ),
    Feature(
        "weekday",
        TIME,
        WEEKDAY,
        compute=lambda log: log.parsed.times.dt.weekday.to_numpy(float),
        reason=lambda rows: "sent on a " + rows.frame[TIME].dt.day_name() + ", unusual day",
    ),
    Feature(
        "sender_hour_share",
        TIME,
        RATIO,
        compute=_sender_hour_share,
        reason=lambda rows: "sent " + rows.hhmm + " UTC, outside this sender's usual hours",
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
        compute=lambda log: log.context["burst_5min"],
        reason=lambda rows: "burst: " + whole(rows.value + 1) + " mails from this sender within 5 min",
        grows_with_traffic=True,
    ),
    Feature(
        "subject_word_max_rarity",
        SUBJECT,
        RATIO,
        compute=lambda log: log.word_rarity("max"),
        reason=lambda rows: rows.always("a word in the subject is very rare here"),
    ),
    Feature(
        "subject_ngram_rarity",
        SUBJECT,
        RATIO,
        compute=lambda log: log.ngram_rarity[0],
        reason=lambda rows: rows.always("subject spelled unlike usual mail"),
    ),
    Feature(
        "subject_ngram_unseen",
        SUBJECT,
        RATIO,
        compute=lambda log: log.ngram_rarity[1],
        reason=lambda rows: rows.percent + "% of the subject's letter groups never seen",
    ),
    Feature(
        "subject_mentions_recipient",
        SUBJECT,
        RATIO,
        compute=_subject_mentions_recipient,
        reason=lambda rows: rows.pick(
            rows.value > 0,
            "subject quotes the recipient's address/name",
            "subject doesn't name the recipient, unusual here",
        ),
    ),
    Feature(
        "subject_campaign",
        SUBJECT,
        COUNT,
        compute=lambda log: log.context["subject_campaign"],
        reason=lambda rows: "same subject from " + whole(rows.value + 1) + " sender domains in this log",
    ),
    Feature(
        "sender_name_address_similarity",
        SENDER,
        RATIO,
        compute=lambda log: log.sender_shape["sender_name_address_similarity"].to_numpy(),
        reason=lambda rows: rows.pick(
            rows.value < 0.5, "display name unrelated to the sender address", "display name unusual for the address"
        ),
    ),
    Feature(
        "sender_has_name",
        SENDER,
        RATIO,
        compute=lambda log: log.sender_shape["sender_has_name"].to_numpy(),
        reason=lambda rows: rows.pick(
            rows.value > 0, "sender shows a display name, unusual here", "sender without a display name"
        ),
    ),
    Feature(
        "sender_is_recipient",
        SENDER,
        RATIO,
        compute=_sender_is_recipient,
        reason=lambda rows: rows.pick(
            rows.value > 0, "sender address is the recipient's own", "sender is not the recipient, unusual here"
        ),
    ),
    Feature(
        "sender_name_new",
        SENDER,
        RATIO,
        compute=_sender_name_new,
        reason=lambda rows: rows.pick(
            rows.value > 0,
            "known sender address under a display name it never used",
            "sender's usual display name, unusual here",
        ),
    ),
    Feature(
        "sender_name_elsewhere",
        SENDER,
        RATIO,
        compute=_sender_name_elsewhere,
        reason=lambda rows: rows.pick(
            rows.value > 0, "display name used before by a different address", "display name unusual here"
        ),
    ),
    Feature(
        "sender_domain_to_recipient_count",
        RECIPIENT,
        COUNT,
        compute=_domain_to_domain_count,
        reason=lambda rows: rows.pick(
            rows.value == 0,
            "sender's domain never wrote to this recipient domain",
            "sender's domain rarely writes to this recipient domain (" + rows.count + ")",
        ),
    ),
    # First contact, as explicit 0/1 flags (shares for the recipients): on a log1p count "never
    # seen" (0) sits right next to "seen once" (0.69) while familiar list traffic spreads to 6+,
    # so novelty barely registers.
    Feature(
        "sender_new",
        SENDER,
        RATIO,
        compute=lambda log: (log.sender_count <= 0).astype(float),
        reason=_first_contact_reason("sender"),
    ),
    Feature(
        "sender_domain_new",
        SENDER,
        RATIO,
        compute=lambda log: (log.sender_domain_count <= 0).astype(float),
        reason=_first_contact_reason("sender domain"),
    ),
    # Per recipient, the share that is new: a reply that also copies one new colleague is far
    # less of a first contact than mail to nobody the log has seen.
    Feature(
        "recipient_new",
        RECIPIENT,
        RATIO,
        compute=lambda log: log.share_of_recipients(log.recipient_counts <= 0),
        reason=_recipient_new_reason,
    ),
    Feature(
        "pair_new",
        RECIPIENT,
        RATIO,
        compute=lambda log: log.share_of_recipients(log.pair_counts <= 0),
        reason=_pair_new_reason,
    ),
    Feature(
        "subject_new",
        SUBJECT,
        RATIO,
        compute=lambda log: (log.subject_count <= 0).astype(float),
        reason=_first_contact_reason("subject"),
    ),
    Feature(
        "cold_contact",
        SENDER,
        RATIO,
        compute=_cold_contact,
        reason=lambda rows: rows.pick(
            rows.value > 0, "unknown sender opening a new conversation", "known correspondent, unusual here"
        ),
    ),
)

EMAIL_FEATURES_BY_NAME = by_name(EMAIL_FEATURES)
