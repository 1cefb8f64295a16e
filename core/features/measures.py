"""``Measures``: the quantities several email features are computed from, for one log scored
against the learned count tables, each computed on first use and once.

A quantity used by one feature only belongs in that feature's ``compute`` (``catalog.py``);
one shared by several (the sender's training count, the per-recipient counts) lives here.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from core.features import counting
from core.features.counting import PairLookup, counts_in, pair_counts, right_totals
from core.features.parsing import Factors, ParsedLog, Recipients, per_distinct_frame
from core.features.signals import sender_shape, subject_shape, within_file_context

if TYPE_CHECKING:
    from core.features.email import EmailFeatures


class Measures:
    """What the email features of one log are computed from.

    Parameters
    ----------
    preprocessor : the fitted ``EmailFeatures`` (its count tables and learned domains)
    parsed : the log
    own : per row, the occurrences taken out of that row's counts (1 for a training row
        being scored, so a message is never familiar because of itself; else 0)
    """

    def __init__(self, preprocessor: EmailFeatures, parsed: ParsedLog, own: np.ndarray):
        self.preprocessor = preprocessor
        self.counts = preprocessor.counts_
        self.parsed = parsed
        self.n = parsed.n
        self.own = own

    def pair_lookup(self, table: str) -> PairLookup:
        """A learned pair table (``counts[table]``) ready for ``pair_counts``."""
        return self.preprocessor.pair_lookup(table)

    # -- recipients: one entry per (row, recipient address)

    @property
    def recipients(self) -> Recipients:
        return self.parsed.recipients

    @functools.cached_property
    def own_per_recipient(self) -> np.ndarray:
        return self.own[self.recipients.row]

    @functools.cached_property
    def sender_per_recipient(self) -> Factors:
        return self.parsed.sender_factors.take(self.recipients.row)

    @functools.cached_property
    def has_recipient(self) -> np.ndarray:
        """Per entry: an address is there (a row with none has one empty entry)."""
        return self.recipients.present

    def per_row(self, per_recipient: np.ndarray, how: str) -> np.ndarray:
        """Per-recipient values reduced to one per row (``how``: "min", "max", "sum")."""
        return counting.per_row(per_recipient, self.recipients.row, self.n, how)

    def share_of_recipients(self, per_recipient: np.ndarray) -> np.ndarray:
        """Per row, the share of its recipients for which ``per_recipient`` holds."""
        return self.per_row((per_recipient & self.has_recipient).astype(float), "sum") / np.maximum(self.recipient_n, 1)

    @functools.cached_property
    def recipient_n(self) -> np.ndarray:
        """Number of recipient addresses per row."""
        return self.per_row(self.has_recipient.astype(float), "sum")

    @functools.cached_property
    def recipient_counts(self) -> np.ndarray:
        """Per entry: how often the recipient address occurred in training."""
        learned = counts_in(self.recipients.address, self.counts["recipient"])
        return np.where(self.has_recipient, learned - self.own_per_recipient, 0)

    @functools.cached_property
    def pair_counts(self) -> np.ndarray:
        """Per entry: how often this sender wrote to this recipient in training."""
        learned = pair_counts(self.sender_per_recipient, self.recipients.address, self.pair_lookup("pair"))
        return learned - self.own_per_recipient

    # -- sender

    @functools.cached_property
    def sender_count(self) -> np.ndarray:
        """How often the sender occurred in training."""
        return counts_in(self.parsed.sender_factors, self.counts["sender"]) - self.own

    @functools.cached_property
    def sender_domain_count(self) -> np.ndarray:
        return counts_in(self.parsed.sender_domain_factors, self.counts["sender_domain"]) - self.own

    @functools.cached_property
    def sender_shape(self) -> pd.DataFrame:
        """``signals.sender_shape`` per row (computed once per distinct sender field)."""
        return per_distinct_frame(self.parsed.sender_raw, sender_shape)

    @functools.cached_property
    def has_name(self) -> np.ndarray:
        """The sender field shows a display name."""
        return (self.parsed.sender_name != "").to_numpy()

    @functools.cached_property
    def name_with_address_total(self) -> np.ndarray:
        """How often this display name came with this address in training (own occurrence included)."""
        return pair_counts(self.parsed.sender_factors, self.parsed.sender_name_factors, self.pair_lookup("sender_name"))

    # -- subject

    @functools.cached_property
    def subject_shape(self) -> pd.DataFrame:
        """``signals.subject_shape`` per row (computed once per distinct subject)."""
        return per_distinct_frame(self.parsed.subject, subject_shape)

    @functools.cached_property
    def subject_count(self) -> np.ndarray:
        """How often the normalized subject occurred in training."""
        return counts_in(self.parsed.subject_key, self.counts["subject"]) - self.own

    def with_own_left_out(self, per_subject: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
        """Per row, from (per distinct subject as counted, the same without one occurrence):
        the second for rows whose own occurrence is left out."""
        codes = self.parsed.subject_codes
        return np.where(self.own > 0, per_subject[1][codes], per_subject[0][codes])

    @functools.cached_property
    def _token_counts(self) -> np.ndarray:
        """Training document frequency of each (distinct subject, word) token."""
        return counts_in(self.parsed.distinct_subjects.tokens["token"], self.counts["word"])

    def word_rarity(self, how: str) -> np.ndarray:
        """Mean (``how="mean"``) or max surprise of the subject's words: -log of each word's
        training frequency."""
        distinct = self.parsed.distinct_subjects
        tokens = distinct.tokens
        if tokens.empty:
            return np.zeros(self.n)
        per_subject = []
        for leave_out in (0.0, 1.0):  # computed per distinct subject, with and without itself
            surprise = -np.log((np.maximum(self._token_counts - leave_out, 0) + 1) / (self.preprocessor.n_train_ + 1))
            agg = pd.Series(surprise).groupby(tokens["row"].to_numpy()).agg(how)
            per_subject.append(agg.reindex(range(len(distinct.keys)), fill_value=0).to_numpy())
        return self.with_own_left_out(per_subject)

    @functools.cached_property
    def ngram_rarity(self) -> tuple[np.ndarray, np.ndarray]:
        """Mean surprise of the subject's character 3-grams, and the share never seen in training.

        Character n-grams catch obfuscated and inflected words (``V1agra``, ``discounts``) that
        whole-word counts miss, in any language and script.
        """
        grams = self.parsed.distinct_subjects.grams
        per_subject = np.maximum(np.diff(grams.indptr), 1)
        surprise_of, unseen_of = [], []
        for leave_out in (0.0, 1.0):
            frequency = np.maximum(self.preprocessor.ngram_df_[grams.indices] - leave_out, 0)
            surprise, unseen = grams.copy(), grams.copy()
            surprise.data = -np.log((frequency + 1.0) / (self.preprocessor.n_train_ + 1.0))
            unseen.data = (frequency == 0).astype(float)
            surprise_of.append(np.asarray(surprise.sum(axis=1)).ravel() / per_subject)
            unseen_of.append(np.asarray(unseen.sum(axis=1)).ravel() / per_subject)
        return self.with_own_left_out(surprise_of), self.with_own_left_out(unseen_of)

    # -- time and within-file behaviour

    @functools.cached_property
    def hour_of_day(self) -> np.ndarray:
        return self.parsed.times.dt.hour.to_numpy()

    def near_hour(self, per_hour) -> np.ndarray:
        """Per row, ``per_hour(hours)`` summed over its hour and the hours either side."""
        return sum(per_hour((self.hour_of_day + shift) % 24) for shift in (-1, 0, 1))

    @functools.cached_property
    def training_hour_share(self) -> np.ndarray:
        """Share of all training mail in each hour of the day (index 0-23)."""
        per_hour = right_totals(self.counts["sender_hour"])
        share = np.zeros(24)
        share[per_hour.index.astype(int)] = per_hour.to_numpy() / max(self.preprocessor.n_train_, 1)
        return share

    @functools.cached_property
    def context(self) -> dict[str, np.ndarray]:
        """Bursts, fan-out and campaigns within the file (``signals.within_file_context``)."""
        return within_file_context(self.parsed)
