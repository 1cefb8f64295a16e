"""Feature sets: turning log rows into numbers the autoencoder reconstructs.

Two preprocessors, both scikit-learn transformers saved with joblib:

``SeedFeatures`` — the report's recipe, kept faithful for comparison: UUID dropped;
Recipient, Sender and Subject label-encoded with one encoder per column; Time Processed as
Unix seconds; StandardScaler.

``EmailFeatures`` — the default. Features that mean something for mail in any organisation:
how rare the sender, its domain, the recipients, their domains and the sender→recipient
pairs are; look-alikes of familiar domains; number of recipients and how many are external;
the subject's shape and how rare its words are; hour and weekday as cycles; the sender's
usual hours; bursts and fan-out of one sender within a few minutes. It is the default
because the seed recipe's absolute Unix time makes every new day look anomalous when a
model trained on last month scores today, and its label codes are arbitrary integers whose
distances mean nothing.

Training rows are counted *with* their own occurrence (``leave_one_out=False``, the default):
the autoencoder then learns what familiar mail looks like, and a first-contact sender, pair or
subject at scoring time lies off that manifold. Counting leave-one-out (the option) makes
"never seen before" an everyday value in training — a third of legitimate mail is first
contact — and the reconstruction error can no longer see novelty, the strongest spam signal.
Burst and fan-out features are counted within the file being processed, in fixed time windows,
so they mean the same on a month of training mail and on one day.
"""

from __future__ import annotations

import functools
import re
from typing import NamedTuple

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.preprocessing import OrdinalEncoder, StandardScaler
from sklearn.utils.validation import check_is_fitted

from core.errors import DataError
from core.schema import RECIPIENT, SENDER, SUBJECT, TIME

FEATURE_SETS = ("email", "seed")
DEFAULT_FEATURE_SET = "email"
UNSEEN_CODE = -1  # reserved label code for values never seen in training

_ADDRESS = re.compile(r"[^\s<>\"',;:()\[\]]+@[^\s<>\"',;:()\[\]]+")
_REPLY_PREFIX = re.compile(r"^\s*(?:re|fw|fwd|aw|wg|tr|sv|vs|antw)\s*(?:\[\d+\])?\s*:", re.IGNORECASE)
_TOKEN = re.compile(r"[^\W_]{2,}")
_NEW_VALUE_FIELDS = (SENDER, RECIPIENT, SUBJECT)

# Columns add_context() writes: within-file behaviour, computed once over the whole file.
_CONTEXT_COLUMNS = {
    "burst_5min": "context:burst_5min",
    "fanout_1h": "context:fanout_1h",
    "subject_campaign": "context:subject_campaign",
}
# Window sizes for behaviour within the file (seconds).
BURST_WINDOW = 5 * 60
FANOUT_WINDOW = 60 * 60


def make_preprocessor(feature_set: str, **params):
    """A fresh, unfitted preprocessor for ``"email"`` (default) or ``"seed"``."""
    if feature_set == "email":
        return EmailFeatures(**params)
    if feature_set == "seed":
        return SeedFeatures(**params)
    raise DataError(f"Unknown feature set {feature_set!r}: expected one of {', '.join(FEATURE_SETS)}.")


# --------------------------------------------------------------------------- parsing helpers


def sender_addresses(senders: pd.Series) -> pd.Series:
    """The sender's e-mail address, lower case ("" when the field holds none)."""
    found = senders.astype(str).str.extract(_ADDRESS.pattern.join("()"), expand=False)
    return found.fillna("").str.lower().str.rstrip(".>")


def sender_identities(senders: pd.Series) -> pd.Series:
    """Who sent each message: the address, or for a field with no address (``Chope <>``, a
    null sender) the field's own text, so nameless-address senders don't all look alike."""
    address = sender_addresses(senders)
    text = senders.astype(str).str.strip().str.lower()
    return address.where(address != "", text.where(text == "", "<>" + text))


def display_names(senders: pd.Series) -> pd.Series:
    """The display name in front of ``<address>``, lower case letters and digits only ("" if none)."""
    raw = senders.astype(str)
    name = raw.str.split("<", n=1).str[0].str.lower().str.replace(r"[^\w]|_", "", regex=True)
    return name.where(raw.str.contains("<", regex=False), "")


def recipient_lists(recipients: pd.Series) -> pd.Series:
    """Each row's recipient addresses (``;`` or ``,`` separated), lower case."""
    return recipients.astype(str).str.lower().str.findall(_ADDRESS)


def domain_of(addresses: pd.Series) -> pd.Series:
    """The part after the last ``@`` ("" for no address)."""
    return addresses.str.replace(r"^[^@]*$|^.*@", "", regex=True).str.strip(".>")


def normalized_subject(subjects: pd.Series) -> pd.Series:
    """Subject without reply/forward prefixes, case and surrounding space."""
    text = subjects.astype(str)
    for _ in range(3):  # "Re: Fwd: Re:" chains
        text = text.str.replace(_REPLY_PREFIX, "", regex=True)
    return text.str.strip().str.lower()


class _Factors(NamedTuple):
    """A text column as codes into its distinct values (each distinct value once)."""

    codes: np.ndarray  # per row, index into values
    values: np.ndarray  # object array of distinct strings

    def take(self, rows: np.ndarray) -> _Factors:
        return _Factors(self.codes[rows], self.values)

    def strings(self) -> pd.Series:
        return pd.Series(
            self.values[self.codes] if len(self.values) else np.array([""] * len(self.codes), dtype=object),
            dtype=object,
        )

    def map(self, parse) -> _Factors:
        """``parse`` applied to each distinct value (results factorized again)."""
        codes, unique = pd.factorize(np.asarray(parse(pd.Series(self.values, dtype=object)), dtype=object))
        return _Factors(codes[self.codes] if len(codes) else self.codes, np.asarray(unique, dtype=object))


def _factors(values) -> _Factors:
    if isinstance(values, _Factors):
        return values
    codes, unique = pd.factorize(values if isinstance(values, pd.Series) else np.asarray(values, dtype=object))
    return _Factors(codes, np.asarray(unique, dtype=object))


def _per_distinct(values: pd.Series, parse) -> pd.Series:
    """``parse`` applied to each distinct value once, spread back to every row."""
    codes, distinct = pd.factorize(values)
    parsed = parse(pd.Series(distinct, dtype=values.dtype)).to_numpy()
    return pd.Series(parsed[codes], index=values.index, dtype=object)


class _DistinctSubjects:
    """The distinct normalized subjects of a log, with their words and character 3-grams
    computed lazily, once."""

    def __init__(self, keys: pd.Series):
        self.keys = keys

    @functools.cached_property
    def tokens(self) -> pd.DataFrame:
        """Long table (row = distinct subject, token), one line per distinct word."""
        tokens = self.keys.str.findall(_TOKEN).explode().dropna().rename("token").to_frame()
        tokens["row"] = tokens.index.to_numpy()
        return tokens.drop_duplicates(["row", "token"]).reset_index(drop=True)

    @functools.cached_property
    def grams(self):
        return _subject_ngrams(self.keys)


class _ParsedLog:
    """The parts of a log the features are computed from, each parsed on first use.

    Logs repeat the same senders, recipient lists and subjects many times over: each
    distinct value is parsed once and the result spread back to the rows. Lazy, so the
    within-file context of a million rows parses only senders, subjects and times.
    Read like a dict: ``p["sender"]``.
    """

    def __init__(self, X: pd.DataFrame):
        frame = X.reset_index(drop=True)
        # read_log gives "" for an empty field; a hand-built frame may hold None/NaN, which
        # factorizing would send to another row's value.
        missing = [c for c in (RECIPIENT, SENDER, SUBJECT) if c in frame and frame[c].isna().any()]
        self.frame = frame.assign(**{c: frame[c].fillna("") for c in missing}) if missing else frame
        self.n = len(self.frame)
        self._cache: dict = {"n": self.n}

    def __getitem__(self, key: str):
        if key not in self._cache:
            self._cache[key] = getattr(self, "_" + key)()
        return self._cache[key]

    def _sender_raw(self) -> pd.Series:
        return self.frame[SENDER].astype(str)

    def _sender_raw_factors(self) -> _Factors:
        return _factors(self["sender_raw"])

    def _sender_factors(self) -> _Factors:
        return self["sender_raw_factors"].map(sender_identities)

    def _sender(self) -> pd.Series:
        return self["sender_factors"].strings()

    def _sender_name_factors(self) -> _Factors:
        return self["sender_raw_factors"].map(display_names)

    def _sender_name(self) -> pd.Series:
        return self["sender_name_factors"].strings()

    def _sender_domain_factors(self) -> _Factors:
        return self["sender_factors"].map(domain_of)

    def _sender_domain(self) -> pd.Series:
        return self["sender_domain_factors"].strings()

    def _recipients(self) -> pd.DataFrame:
        return _exploded_recipients(self.frame)

    def _recipient_n(self) -> np.ndarray:
        """Number of recipient addresses per row (without exploding the lists)."""
        codes, distinct = pd.factorize(self.frame[RECIPIENT].astype(str))
        sizes = recipient_lists(pd.Series(distinct, dtype=object)).str.len().to_numpy(float)
        return sizes[codes] if len(codes) else np.zeros(0)

    def _subject(self) -> pd.Series:
        return self.frame[SUBJECT].astype(str)

    def _subject_key(self) -> pd.Series:
        return _per_distinct(self["subject"], normalized_subject)

    def _subject_factors(self):
        return pd.factorize(self["subject_key"])

    def _subject_codes(self) -> np.ndarray:
        return self["subject_factors"][0]

    def _distinct_subjects(self) -> _DistinctSubjects:
        return _DistinctSubjects(pd.Series(self["subject_factors"][1], dtype=object))

    def _times(self) -> pd.Series:
        return self.frame[TIME].astype("datetime64[us, UTC]")

    def _context(self) -> dict | None:
        frame = self.frame
        if all(column in frame for column in _CONTEXT_COLUMNS.values()):
            return {name: frame[column].to_numpy(float) for name, column in _CONTEXT_COLUMNS.items()}
        return None


class _Recipients(NamedTuple):
    """One entry per (row, recipient address); rows with no address get one "" entry."""

    row: np.ndarray
    address: _Factors
    domain: _Factors
    local: np.ndarray  # the address's part before "@"

    @property
    def present(self) -> np.ndarray:
        return (
            self.address.values[self.address.codes] != "" if len(self.address.values) else np.zeros(len(self.row), bool)
        )


def _exploded_recipients(frame: pd.DataFrame) -> _Recipients:
    """Each row's recipients, parsed once per distinct recipient list and per distinct address."""
    codes, distinct = pd.factorize(frame[RECIPIENT].astype(str))
    lists = recipient_lists(pd.Series(distinct, dtype=object))
    sizes = lists.str.len().clip(lower=1).to_numpy()
    address = _factors(lists.explode().fillna("").to_numpy(dtype=object))
    domain = address.map(domain_of)
    local = pd.Series(address.values, dtype=object).str.split("@", n=1).str[0].to_numpy(dtype=object)
    # Spread each distinct list back to every row that carries it.
    row_sizes = sizes[codes]
    rows = np.repeat(np.arange(len(frame)), row_sizes)
    first = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    within = np.arange(len(rows)) - np.repeat(np.cumsum(row_sizes) - row_sizes, row_sizes)
    picked = np.repeat(first[codes], row_sizes) + within
    return _Recipients(
        rows, address.take(picked), domain.take(picked), local[address.codes[picked]] if len(picked) else local
    )


def _pair_keys(left, right) -> tuple[np.ndarray, pd.Index]:
    """(codes, keys): ``left + "\\x1f" + right`` per row as codes into the distinct keys,
    each distinct pair's string built once (a log repeats its pairs many times over)."""
    left, right = _factors(left), _factors(right)
    width = len(right.values) + 1
    codes, distinct = pd.factorize(left.codes.astype(np.int64) * width + right.codes)
    left_part = pd.Series(left.values[distinct // width] if len(distinct) else [], dtype="str")
    right_part = pd.Series(right.values[distinct % width] if len(distinct) else [], dtype="str")
    return codes, pd.Index(left_part + "\x1f" + right_part)


def _value_counts(factors: _Factors) -> pd.Series:
    """Learned counts of a factorized column: how often each distinct value occurs."""
    counts = np.bincount(factors.codes, minlength=len(factors.values))
    return pd.Series(counts, index=pd.Index(factors.values, dtype=object))[counts > 0]


def _pair_table(left, right, rows: np.ndarray | None = None) -> pd.Series:
    """Learned pair counts: how often each (left, right) pair occurs (only ``rows`` if given)."""
    codes, keys = _pair_keys(left, right)
    counts = np.bincount(codes if rows is None else codes[rows], minlength=len(keys))
    return pd.Series(counts, index=keys)[counts > 0]


def _pair_counts(left, right, table: pd.Series) -> np.ndarray:
    """How often each (left, right) pair occurs in a learned pair table (0 for unseen)."""
    codes, keys = _pair_keys(left, right)
    counts = table.reindex(keys).fillna(0).to_numpy(dtype=np.float64)
    return counts[codes] if len(counts) else np.zeros(len(codes))


def _counts_in(values: pd.Series, table: pd.Series) -> np.ndarray:
    """How often each value occurs in the learned count table (0 for unseen).

    Looked up once per distinct value (a log repeats its senders and pairs many times
    over): ten times faster than ``Series.map`` on a million Arrow strings.
    """
    codes, distinct = _factors(values)
    counts = table.reindex(pd.Index(distinct, dtype=object)).fillna(0).to_numpy(dtype=np.float64)
    return np.where(codes >= 0, counts[np.maximum(codes, 0)], 0.0) if len(counts) else np.zeros(len(codes))


# --------------------------------------------------------------------------- seed recipe


class SeedFeatures(TransformerMixin, BaseEstimator):
    """The report's recipe: one ordinal encoder per text column, Unix time, StandardScaler.

    Learned attributes: ``encoders_`` (dict column -> fitted ``OrdinalEncoder``), ``scaler_``,
    ``time_range_`` (first and last training time, for explanations).
    Values never seen in training get the reserved code ``-1``.
    """

    feature_fields_ = (RECIPIENT, SENDER, SUBJECT, TIME)
    feature_sources_ = ("recipient_code", "sender_code", "subject_code", "unix_time")
    feature_names_out_ = feature_sources_

    def add_context(self, X: pd.DataFrame) -> pd.DataFrame:
        """No within-file context in the seed recipe."""
        return X

    def fit(self, X: pd.DataFrame, y=None):
        self.encoders_ = {
            column: OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=UNSEEN_CODE, dtype=np.float64).fit(
                X[[column]].astype(str)
            )
            for column in (RECIPIENT, SENDER, SUBJECT)
        }
        unix = _unix_seconds(X[TIME])
        self.time_range_ = (float(unix.min()), float(unix.max()))
        self.scaler_ = StandardScaler().fit(self._encode(X))
        return self

    def transform(self, X: pd.DataFrame) -> np.ndarray:
        check_is_fitted(self, "scaler_")
        return self.scaler_.transform(self._encode(X)).astype(np.float32)

    def _encode(self, X: pd.DataFrame) -> np.ndarray:
        codes = [self.encoders_[c].transform(X[[c]].astype(str))[:, 0] for c in (RECIPIENT, SENDER, SUBJECT)]
        return np.column_stack([*codes, _unix_seconds(X[TIME])])

    def get_feature_names_out(self, input_features=None):
        return np.array(self.feature_names_out_, dtype=object)

    def describe(self, X: pd.DataFrame) -> pd.DataFrame:
        """Readable per-row values behind each feature (used for explanations)."""
        check_is_fitted(self, "scaler_")
        codes = self._encode(X)
        new = codes[:, :3] == UNSEEN_CODE
        unix = codes[:, 3]
        return pd.DataFrame(
            {
                "recipient_code": new[:, 0],
                "sender_code": new[:, 1],
                "subject_code": new[:, 2],
                "unix_time": (unix < self.time_range_[0]) | (unix > self.time_range_[1]),
            },
            index=X.index,
        )

    def transform_and_describe(self, X: pd.DataFrame) -> tuple[np.ndarray, pd.DataFrame]:
        """``transform(X)`` and ``describe(X)`` together (what scoring needs)."""
        return self.transform(X), self.describe(X)

    def new_values(self, X: pd.DataFrame, *, described: pd.DataFrame | None = None) -> pd.DataFrame:
        """Per field: True where the value never occurred in training."""
        d = self.describe(X) if described is None else described
        return pd.DataFrame(
            {SENDER: d["sender_code"], RECIPIENT: d["recipient_code"], SUBJECT: d["subject_code"]},
            index=X.index,
        )

    def reasons(self, feature: str, described: pd.DataFrame, frame: pd.DataFrame) -> pd.Series:
        """Short reasons for rows whose top feature is ``feature`` (vectorized)."""
        is_new = described[feature].to_numpy(bool)
        if feature == "unix_time":
            when = frame[TIME].dt.strftime("%Y-%m-%d %H:%M UTC")
            return pd.Series(
                np.where(is_new, "sent " + when + ", outside the training period", "sent " + when + ", unusual time"),
                index=frame.index,
                dtype=object,
            )
        what = feature.split("_")[0]
        return pd.Series(
            np.where(is_new, f"{what} never seen in training", f"{what} unusual for the model"),
            index=frame.index,
            dtype=object,
        )


def _unix_seconds(times: pd.Series) -> np.ndarray:
    return times.astype("datetime64[us, UTC]").astype("int64").to_numpy() / 1e6


# --------------------------------------------------------------------------- email features

# name -> (field, how it enters the model). Kinds: "count" -> log1p, "ratio" as is,
# "hour"/"weekday" -> sine and cosine so 23:00 sits next to 00:00.
_EMAIL_FEATURES: dict[str, tuple[str, str]] = {
    "sender_count": (SENDER, "count"),
    "sender_domain_count": (SENDER, "count"),
    "sender_domain_lookalike": (SENDER, "ratio"),
    "sender_internal": (SENDER, "ratio"),
    "sender_name_mismatch": (SENDER, "ratio"),
    "sender_local_digits": (SENDER, "ratio"),
    "recipient_n": (RECIPIENT, "count"),
    "recipient_count": (RECIPIENT, "count"),
    "recipient_domain_count": (RECIPIENT, "count"),
    "recipient_external_share": (RECIPIENT, "ratio"),
    "pair_count": (RECIPIENT, "count"),
    "sender_to_domain_count": (RECIPIENT, "count"),
    "fanout_1h": (RECIPIENT, "count"),
    "subject_length": (SUBJECT, "count"),
    "subject_caps": (SUBJECT, "ratio"),
    "subject_digits": (SUBJECT, "ratio"),
    "subject_non_ascii": (SUBJECT, "ratio"),
    "subject_marks": (SUBJECT, "count"),
    "subject_reply": (SUBJECT, "ratio"),
    "subject_count": (SUBJECT, "count"),
    "subject_word_rarity": (SUBJECT, "ratio"),
    "hour": (TIME, "hour"),
    "weekday": (TIME, "weekday"),
    "sender_hour_share": (TIME, "ratio"),
    "recipients_above_usual": (RECIPIENT, "log"),
    "burst_5min": (TIME, "count"),
    "subject_word_max_rarity": (SUBJECT, "ratio"),
    "subject_ngram_rarity": (SUBJECT, "ratio"),
    "subject_ngram_unseen": (SUBJECT, "ratio"),
    "subject_mentions_recipient": (SUBJECT, "ratio"),
    "subject_campaign": (SUBJECT, "count"),
    "sender_name_address_similarity": (SENDER, "ratio"),
    "sender_has_name": (SENDER, "ratio"),
    "sender_is_recipient": (SENDER, "ratio"),
    "sender_name_new": (SENDER, "ratio"),
    "sender_name_elsewhere": (SENDER, "ratio"),
    "sender_domain_to_recipient_count": (RECIPIENT, "count"),
    "sender_new": (SENDER, "ratio"),
    "sender_domain_new": (SENDER, "ratio"),
    "recipient_new": (RECIPIENT, "ratio"),
    "pair_new": (RECIPIENT, "ratio"),
    "subject_new": (SUBJECT, "ratio"),
    "cold_contact": (SENDER, "ratio"),
}
# The smallest change per feature kind that counts as one standard unit, so a feature almost
# constant in training (bursts: nearly always 0) doesn't turn 5 mails and 50 mails alike into
# the clip limit: half an e-fold of a count, a tenth of a share, a tenth of the unit circle.
_SCALE_FLOOR = {"count": 0.5, "log": 0.5, "ratio": 0.1, "hour": 0.1, "weekday": 0.1}

# First contact, as explicit 0/1 flags: on a log1p count "never seen" (0) sits right next to
# "seen once" (0.69) while familiar list traffic spreads to 6+, so novelty barely registers.
_NEW_FLAGS = {
    "sender_new": "sender_count",
    "sender_domain_new": "sender_domain_count",
    "recipient_new": "recipient_count",
    "pair_new": "pair_count",
    "subject_new": "subject_count",
}


class EmailFeatures(TransformerMixin, BaseEstimator):
    """Mail-aware features, standardized. See the module docstring for what and why.

    Parameters
    ----------
    internal_domains : tuple of str, default=()
        The organisation's own domains. Empty: learned in ``fit`` as the domains that both
        send and receive at least ``internal_min_share`` of the training mail.
    internal_min_share : float, default=0.01
    lookalike_max_edits : int, default=2
        A sender domain within this many edits of a familiar training domain (but not equal
        to it, and itself rare) is a look-alike.
    clip : float, default=10.0
        Standardized values are clipped to ``[-clip, clip]`` so one extreme field can't
        swamp the reconstruction error of a whole batch.
    leave_one_out : bool, default=False
        Count training rows without their own occurrence (see the module docstring).

    Learned attributes
    ------------------
    counts_ : dict of pandas.Series — training frequencies (senders, domains, pairs, subjects, words)
    internal_domains_ : frozenset
    familiar_domains_ : numpy array of the frequent domains look-alikes are measured against
    n_train_ : int
    scaler_ : StandardScaler
    feature_names_out_, feature_fields_, feature_sources_ : per model column
    """

    def __init__(
        self,
        *,
        internal_domains: tuple[str, ...] = (),
        internal_min_share: float = 0.01,
        lookalike_max_edits: int = 2,
        clip: float = 10.0,
        leave_one_out: bool = False,
    ):
        self.leave_one_out = leave_one_out
        self.internal_domains = internal_domains
        self.internal_min_share = internal_min_share
        self.lookalike_max_edits = lookalike_max_edits
        self.clip = clip

    # -- fitting ------------------------------------------------------------------------

    def fit(self, X: pd.DataFrame, y=None):
        self.fit_transform(X)
        return self

    def fit_transform(self, X: pd.DataFrame, y=None) -> np.ndarray:
        """Learn frequencies and scaling (own occurrences left out only with ``leave_one_out``)."""
        parsed = self._parse(X)
        self._learn_counts(parsed)
        self.train_keys_ = np.unique(_row_keys(X))
        raw = self._raw_features(parsed, own=np.full(parsed["n"], float(self.leave_one_out)))
        model_inputs = self._model_inputs(raw)
        self.scaler_ = StandardScaler().fit(model_inputs.to_numpy(np.float64))
        # A feature that never varied in training (no look-alike domain, no burst) must stand
        # out when it finally does: any change from the constant maps to the clip limit,
        # instead of sklearn's zero-variance rule (scale 1) that would hide it among the rest.
        # A feature that varied only a little is scaled by at least its kind's smallest
        # meaningful change, so a burst of 50 mails and one of 5 don't both hit the clip limit.
        floors = np.array([_SCALE_FLOOR[kind] for kind in self.feature_kinds_])
        varied = self.scaler_.var_ > 1e-12
        self.scaler_.scale_ = np.where(varied, np.maximum(self.scaler_.scale_, floors), 1.0 / self.clip)
        return self._scale(model_inputs)

    def transform(self, X: pd.DataFrame) -> np.ndarray:
        check_is_fitted(self, "scaler_")
        return self._scale(self._model_inputs(self.describe(X)))

    def describe(self, X: pd.DataFrame) -> pd.DataFrame:
        """Readable per-row values behind each feature (counts, shares, hour), as scored."""
        check_is_fitted(self, "scaler_")
        return self._raw_features(self._parse(X), own=self.trained_on(X).astype(float))

    def trained_on(self, X: pd.DataFrame) -> np.ndarray:
        """True for rows that were part of the training data.

        When such a row is scored, its own occurrence is taken out of the counts: a message
        is never "familiar" merely because the model saw that very message, so scoring the
        training file itself gives the same picture as scoring new mail.
        """
        return np.isin(_row_keys(X), self.train_keys_)

    def add_context(self, X: pd.DataFrame) -> pd.DataFrame:
        """``X`` with each row's within-file behaviour (bursts, fan-out) computed over all of ``X``.

        Call this on the whole file before splitting it, so a random sample of the rows
        doesn't look quieter than the file it came from.
        """
        p = self._parse(X.drop(columns=list(_CONTEXT_COLUMNS.values()), errors="ignore"))
        context = self._context(p)
        out = X.copy()
        for name, column in _CONTEXT_COLUMNS.items():
            out[column] = context[name]
        return out

    def _context(self, p: dict) -> dict[str, np.ndarray]:
        if p["context"] is not None:
            return p["context"]
        n_rcpt = p["recipient_n"]
        return {
            "burst_5min": _window_sum(p["sender"], p["times"], np.ones(p["n"]), BURST_WINDOW) - 1,
            "fanout_1h": _window_sum(p["sender"], p["times"], n_rcpt, FANOUT_WINDOW),
            "subject_campaign": _campaign(p),
        }

    def transform_and_describe(self, X: pd.DataFrame) -> tuple[np.ndarray, pd.DataFrame]:
        """``transform(X)`` and ``describe(X)`` from one pass over the rows (what scoring needs)."""
        check_is_fitted(self, "scaler_")
        described = self.describe(X)
        return self._scale(self._model_inputs(described)), described

    def new_values(self, X: pd.DataFrame, *, described: pd.DataFrame | None = None) -> pd.DataFrame:
        """Per field: True where the value never occurred in training."""
        d = self.describe(X) if described is None else described
        return pd.DataFrame(
            {
                SENDER: d["sender_count"].to_numpy() == 0,
                RECIPIENT: d["recipient_count"].to_numpy() == 0,
                SUBJECT: d["subject_count"].to_numpy() == 0,
            },
            index=X.index,
        )

    def get_feature_names_out(self, input_features=None):
        check_is_fitted(self, "scaler_")
        return np.array(self.feature_names_out_, dtype=object)

    def _scale(self, model_inputs: pd.DataFrame) -> np.ndarray:
        scaled = self.scaler_.transform(model_inputs.to_numpy(np.float64))
        return np.clip(scaled, -self.clip, self.clip).astype(np.float32)

    # -- parsing ------------------------------------------------------------------------

    @staticmethod
    def _parse(X: pd.DataFrame) -> _ParsedLog:
        return _ParsedLog(X)

    def _learn_counts(self, p: dict) -> None:
        rcpt = p["recipients"]
        rows_recipients = np.bincount(rcpt.row, weights=rcpt.present.astype(float), minlength=p["n"])
        sender_of_rcpt = p["sender_factors"].take(rcpt.row)
        self.counts_ = {
            "sender": _value_counts(p["sender_factors"]),
            "sender_domain": _value_counts(p["sender_domain_factors"]),
            "recipient": _value_counts(rcpt.address),
            "recipient_domain": _value_counts(rcpt.domain),
            "pair": _pair_table(sender_of_rcpt, rcpt.address),
            "sender_to_domain": _pair_table(sender_of_rcpt, rcpt.domain),
            "subject": p["subject_key"].value_counts(),
            "sender_name": _pair_table(
                p["sender_factors"], p["sender_name_factors"], np.flatnonzero((p["sender_name"] != "").to_numpy())
            ),
            "name": p["sender_name"][p["sender_name"] != ""].value_counts(),
            "word": self._word_counts(p),
            "sender_hour": _pair_table(p["sender_factors"], p["times"].dt.hour.to_numpy()),
            "sender_recipients": pd.Series(
                np.bincount(
                    p["sender_factors"].codes, weights=rows_recipients, minlength=len(p["sender_factors"].values)
                ),
                index=pd.Index(p["sender_factors"].values, dtype=object),
            ),
            "domain_to_domain": _pair_table(p["sender_domain_factors"].take(rcpt.row), rcpt.domain),
        }
        self.n_train_ = p["n"]
        # Document frequency of each hashed character 3-gram of the training subjects.
        multiplicity = np.bincount(p["subject_codes"], minlength=len(p["distinct_subjects"].keys))
        self.ngram_df_ = np.asarray(p["distinct_subjects"].grams.T @ multiplicity).ravel()
        if self.internal_domains:
            self.internal_domains_ = frozenset(d.lower() for d in self.internal_domains)
        else:
            threshold = self.internal_min_share * p["n"]
            sends = self.counts_["sender_domain"]
            receives = self.counts_["recipient_domain"]
            both = sends[sends >= threshold].index.intersection(receives[receives >= threshold].index)
            self.internal_domains_ = frozenset(d for d in both if d)
        domains = pd.concat([self.counts_["sender_domain"], self.counts_["recipient_domain"]])
        domains = domains.groupby(level=0).sum()
        familiar = domains[(domains >= max(3, 0.001 * p["n"])) & (domains.index.str.len() >= 4)]
        self.familiar_domains_ = familiar.sort_values(ascending=False).index[:1000].to_numpy(dtype=object)

    # -- features -----------------------------------------------------------------------

    def _raw_features(self, p: dict, *, own: np.ndarray) -> pd.DataFrame:
        """Readable features; ``own`` (per row, 0 or 1) is taken out of that row's counts."""
        c = self.counts_
        n = p["n"]
        rcpt = p["recipients"]
        rows = rcpt.row
        own_rcpt = own[rows]
        sender_of_rcpt = p["sender_factors"].take(rows)

        def per_row_min(values: np.ndarray) -> np.ndarray:
            return pd.Series(values).groupby(rows).min().reindex(range(n), fill_value=0).to_numpy()

        def per_row_sum(values: np.ndarray) -> np.ndarray:
            return pd.Series(values).groupby(rows).sum().reindex(range(n), fill_value=0).to_numpy()

        has_rcpt = rcpt.present
        rcpt_count = np.where(has_rcpt, _counts_in(rcpt.address, c["recipient"]) - own_rcpt, 0)
        rcpt_domain_count = np.where(has_rcpt, _counts_in(rcpt.domain, c["recipient_domain"]) - own_rcpt, 0)
        pair_count = _pair_counts(sender_of_rcpt, rcpt.address, c["pair"]) - own_rcpt
        to_domain = _pair_counts(sender_of_rcpt, rcpt.domain, c["sender_to_domain"]) - own_rcpt
        internal_domain = np.isin(rcpt.domain.values, list(self.internal_domains_))
        external = pd.Series((~internal_domain[rcpt.domain.codes] & has_rcpt).astype(float))
        n_rcpt = pd.Series(has_rcpt.astype(float)).groupby(rows).sum().reindex(range(n), fill_value=0)
        external_share = pd.Series(external.to_numpy()).groupby(rows).sum().reindex(
            range(n), fill_value=0
        ) / n_rcpt.clip(lower=1)

        sender_count = _counts_in(p["sender_factors"], c["sender"]) - own
        sender_domain_count = _counts_in(p["sender_domain_factors"], c["sender_domain"]) - own

        times = p["times"]
        context = self._context(p)
        hour = (times.dt.hour + times.dt.minute / 60.0).to_numpy(float)
        # The sender's usual hours: share of its training mail within an hour of this one
        # (a one-hour bin would call 10:05 unusual for someone who writes at 9:55).
        hour_of_day = times.dt.hour.to_numpy()
        sender_hour_count = (
            sum(_pair_counts(p["sender_factors"], (hour_of_day + shift) % 24, c["sender_hour"]) for shift in (-1, 0, 1))
            - own
        )
        sender_hour_share = np.where(sender_count > 0, sender_hour_count / np.maximum(sender_count, 1), np.nan)
        # How many more recipients than this sender's usual (log ratio, 0 for a sender with no
        # history): a colleague who writes to two people now mailing a hundred is a hijacked
        # account or an exfiltration run, a newsletter to a hundred is Tuesday.
        usual_total = _counts_in(p["sender_factors"], c["sender_recipients"]) - own * n_rcpt.to_numpy()
        usual = np.where(sender_count > 0, usual_total / np.maximum(sender_count, 1), n_rcpt.to_numpy())
        recipients_above_usual = np.maximum(np.log1p(n_rcpt.to_numpy()) - np.log1p(usual), 0)

        raw = pd.DataFrame(
            {
                "sender_count": sender_count,
                "sender_domain_count": sender_domain_count,
                "sender_domain_lookalike": self._lookalike(p["sender_domain"], sender_domain_count),
                "sender_internal": p["sender_domain"].isin(self.internal_domains_).to_numpy(float),
                "recipient_n": n_rcpt.to_numpy(),
                "recipient_count": per_row_min(rcpt_count),
                "recipient_domain_count": per_row_min(rcpt_domain_count),
                "recipient_external_share": external_share.to_numpy(),
                "pair_count": per_row_min(pair_count),
                "sender_to_domain_count": per_row_min(to_domain),
                "fanout_1h": context["fanout_1h"],
                "subject_count": _counts_in(p["subject_key"], c["subject"]) - own,
                "subject_word_rarity": self._word_rarity(p, own),
                "hour": hour,
                "weekday": times.dt.weekday.to_numpy(float),
                "sender_hour_share": sender_hour_share,
                "recipients_above_usual": recipients_above_usual,
                "burst_5min": context["burst_5min"],
                "subject_word_max_rarity": self._word_rarity(p, own, how="max"),
                "subject_campaign": context["subject_campaign"],
            }
        )
        raw["subject_ngram_rarity"], raw["subject_ngram_unseen"] = self._ngram_rarity(p, own)
        local = rcpt.local
        subject_lower = p["subject_key"].to_numpy(dtype=object)[rows]
        mention = np.fromiter(
            (len(a) >= 3 and a in s for a, s in zip(local, subject_lower, strict=True)), dtype=float, count=len(local)
        )
        raw["subject_mentions_recipient"] = (
            pd.Series(mention).groupby(rows).max().reindex(range(n), fill_value=0).to_numpy()
        )
        for shape in (
            _per_distinct_frame(p["sender_raw"], _sender_shape),
            _per_distinct_frame(p["subject"], _subject_shape),
        ):
            for column in shape:
                raw[column] = shape[column].to_numpy()
        sender_domain_of_rcpt = p["sender_domain_factors"].take(rows)
        domain_pair = _pair_counts(sender_domain_of_rcpt, rcpt.domain, c["domain_to_domain"]) - own_rcpt
        raw["sender_domain_to_recipient_count"] = per_row_min(domain_pair)
        # Display name vs address history: a known address under a name it never used (a
        # spoofed From), and a name that so far came from other addresses (impersonation,
        # or a campaign rotating throw-away addresses under one name).
        name = p["sender_name"]
        has_name = (name != "").to_numpy()
        name_with_address_total = _pair_counts(p["sender_factors"], p["sender_name_factors"], c["sender_name"])
        name_with_address = name_with_address_total - own
        raw["sender_name_new"] = (has_name & (sender_count > 0) & (name_with_address <= 0)).astype(float)
        name_elsewhere = _counts_in(name, c["name"]) - name_with_address_total
        raw["sender_name_elsewhere"] = (has_name & (name_elsewhere > 0)).astype(float)
        # Mail "from" one of its own recipients: the spoofed-self trick of extortion and
        # phishing runs (also notes-to-self, which the model learns as usual if they are).
        self_addressed = (
            sender_of_rcpt.values[sender_of_rcpt.codes] == rcpt.address.values[rcpt.address.codes]
        ) & has_rcpt
        raw["sender_is_recipient"] = (per_row_sum(self_addressed.astype(float)) > 0).astype(float)
        for flag, count_name in _NEW_FLAGS.items():
            raw[flag] = (raw[count_name] <= 0).astype(float)

        # Per recipient, the share that is new: a reply that also copies one new colleague is
        # far less of a first contact than mail to nobody the log has seen.
        def share_new(values: np.ndarray) -> np.ndarray:
            new = ((values <= 0) & has_rcpt).astype(float)
            return per_row_sum(new) / np.maximum(n_rcpt.to_numpy(), 1)

        raw["recipient_new"] = share_new(rcpt_count)
        raw["pair_new"] = share_new(pair_count)
        # Unsolicited first contact: a stranger opening a new thread (a stranger answering a
        # thread is how newcomers join a discussion).
        raw["cold_contact"] = raw["sender_new"] * raw["subject_new"] * (1 - raw["subject_reply"])
        # An unseen sender has no usual hours: use the share of all training mail in that hour.
        global_hour = c["sender_hour"].groupby(c["sender_hour"].index.str.rsplit("\x1f", n=1).str[-1]).sum()
        hour_share = np.zeros(24)
        hour_share[global_hour.index.astype(int)] = global_hour.to_numpy() / max(self.n_train_, 1)
        fallback = sum(hour_share[(hour_of_day + shift) % 24] for shift in (-1, 0, 1))
        raw["sender_hour_share"] = raw["sender_hour_share"].fillna(pd.Series(fallback))
        return raw.clip(lower=0)

    def _model_inputs(self, raw: pd.DataFrame) -> pd.DataFrame:
        columns, fields, sources, kinds = {}, [], [], []
        for name, (field, kind) in _EMAIL_FEATURES.items():
            values = raw[name].to_numpy(float)
            if kind in ("hour", "weekday"):
                period = 24.0 if kind == "hour" else 7.0
                angle = 2 * np.pi * values / period
                parts = {f"{name}_sin": np.sin(angle), f"{name}_cos": np.cos(angle)}
            elif kind == "count":
                parts = {name: np.log1p(values)}
            else:
                parts = {name: values}
            for key, column in parts.items():
                columns[key] = column
                fields.append(field)
                sources.append(name)
                kinds.append(kind)
        if not hasattr(self, "feature_names_out_"):
            self.feature_names_out_ = tuple(columns)
            self.feature_fields_ = tuple(fields)
            self.feature_sources_ = tuple(sources)
            self.feature_kinds_ = tuple(kinds)
        return pd.DataFrame(columns)

    def _lookalike(self, domains: pd.Series, domain_count: np.ndarray) -> np.ndarray:
        """1 for a sender domain a few edits away from a far more familiar one (``paypa1.com``)."""
        targets = self._lookalike_targets(pd.unique(domains[domains.str.len() >= 4]))
        return domains.isin(list(targets)).to_numpy(float)

    def _lookalike_targets(self, domains) -> dict[str, str]:
        """domain -> the familiar training domain it imitates, for the domains that imitate one.

        A look-alike is a few edits from a familiar domain and at least ten times rarer than
        it in training, so two real, similar and both common domains are not flagged. The
        edits must change the name, not just the ending (``linux.be`` next to ``linux.ie`` is
        a country site, not a trick), and short names are left alone: one edit turns a
        four-letter name into another real one. Names of 5-8 characters may differ by one
        edit, longer ones by ``lookalike_max_edits``.
        """
        from rapidfuzz.distance import DamerauLevenshtein
        from rapidfuzz.process import cdist

        familiar = list(self.familiar_domains_)
        distinct = [d for d in domains if d]
        if not distinct or not familiar:
            return {}
        distance = cdist(distinct, familiar, scorer=DamerauLevenshtein.distance, workers=1)
        distance[distance == 0] = 255  # the domain itself
        nearest = distance.argmin(axis=1)
        names = [d.rsplit(".", 1)[0] for d in distinct]
        name_length = np.array([len(name) for name in names])
        limit = np.select([name_length < 5, name_length < 9], [0, 1], self.lookalike_max_edits)
        close = distance[np.arange(len(distinct)), nearest] <= limit
        seen = self.counts_["sender_domain"].add(self.counts_["recipient_domain"], fill_value=0)
        found = {}
        for domain, name, target, hit in zip(distinct, names, nearest, close, strict=True):
            imitated = familiar[target]
            if hit and name != imitated.rsplit(".", 1)[0] and seen.get(domain, 0) * 10 <= seen.get(imitated, 0):
                found[domain] = imitated
        return found

    def lookalike_target(self, domain: str) -> str | None:
        """The familiar training domain that ``domain`` imitates, if any."""
        return self._lookalike_targets([domain]).get(domain)

    def _word_counts(self, p: dict) -> pd.Series:
        """Training document frequency of each subject word."""
        distinct = p["distinct_subjects"]
        multiplicity = np.bincount(p["subject_codes"], minlength=len(distinct.keys))
        tokens = distinct.tokens
        return pd.Series(multiplicity[tokens["row"].to_numpy()]).groupby(tokens["token"].to_numpy()).sum()

    def _word_rarity(self, p: dict, own: np.ndarray, how: str = "mean") -> np.ndarray:
        """Mean (or max) surprise of the subject's words: -log of each word's training frequency."""
        distinct = p["distinct_subjects"]
        tokens = distinct.tokens
        if tokens.empty:
            return np.zeros(p["n"])
        counts = _counts_in(tokens["token"], self.counts_["word"])
        per_subject = []
        for leave_out in (0.0, 1.0):  # computed per distinct subject, with and without itself
            surprise = -np.log((np.maximum(counts - leave_out, 0) + 1) / (self.n_train_ + 1))
            agg = pd.Series(surprise).groupby(tokens["row"].to_numpy()).agg(how)
            per_subject.append(agg.reindex(range(len(distinct.keys)), fill_value=0).to_numpy())
        codes = p["subject_codes"]
        return np.where(own > 0, per_subject[1][codes], per_subject[0][codes])

    def _ngram_rarity(self, p: dict, own: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Mean surprise of the subject's character 3-grams, and the share never seen in training.

        Character n-grams catch obfuscated and inflected words (``V1agra``, ``discounts``) that
        whole-word counts miss, in any language and script.
        """
        grams = p["distinct_subjects"].grams
        per_subject = np.maximum(np.diff(grams.indptr), 1)
        results = []
        for leave_out in (0.0, 1.0):
            df = np.maximum(self.ngram_df_[grams.indices] - leave_out, 0)
            surprise, unseen = grams.copy(), grams.copy()
            surprise.data = -np.log((df + 1.0) / (self.n_train_ + 1.0))
            unseen.data = (df == 0).astype(float)
            results.append(
                (
                    np.asarray(surprise.sum(axis=1)).ravel() / per_subject,
                    np.asarray(unseen.sum(axis=1)).ravel() / per_subject,
                )
            )
        codes = p["subject_codes"]
        mine = own > 0
        return (
            np.where(mine, results[1][0][codes], results[0][0][codes]),
            np.where(mine, results[1][1][codes], results[0][1][codes]),
        )

    # -- explanations ---------------------------------------------------------------------

    def reasons(self, feature: str, described: pd.DataFrame, frame: pd.DataFrame) -> pd.Series:
        """Short reasons in email terms for rows whose top feature is ``feature`` (vectorized)."""
        v = described[feature].set_axis(frame.index)
        parts = _ReasonParts(v, frame)  # pieces of text, each computed only if a reason uses it

        def pick(condition, if_true, if_false) -> pd.Series:
            return pd.Series(np.where(condition, if_true, if_false), index=frame.index, dtype=object)

        if feature == "sender_count":
            return pick(
                v == 0, "sender never seen in training", "sender seen only " + parts.count + " times in training"
            )
        if feature == "sender_domain_count":
            return pick(
                v == 0,
                "sender domain " + parts.domain + " never seen in training",
                "sender domain " + parts.domain + " rare (" + parts.count + " in training)",
            )
        if feature == "sender_domain_lookalike":
            targets = {d: self.lookalike_target(d) for d in pd.unique(parts.domain[v > 0])}
            target = parts.domain.map(targets).fillna("")
            return pick(
                (v > 0) & (target != ""),
                "sender domain " + parts.domain + " looks like " + target,
                "sender domain " + parts.domain + " unusual",
            )
        if feature == "sender_internal":
            return pick(v > 0, "internal sender, unusual here", "external sender " + parts.domain)
        if feature == "sender_name_mismatch":
            return pick(v > 0, "display name shows a different address", "sender display name unusual")
        if feature == "sender_local_digits":
            return "sender address " + parts.sender + " looks machine-made"
        if feature == "recipient_n":
            return pick(v == 1, "single recipient, unusual here", parts.count + " recipients")
        if feature == "recipient_count":
            return pick(v == 0, "recipient never seen in training", "recipient rare (" + parts.count + " in training)")
        if feature == "recipient_domain_count":
            return pick(
                v == 0,
                "recipient domain never seen in training",
                "recipient domain rare (" + parts.count + " in training)",
            )
        if feature == "recipient_external_share":
            return (v * 100).round().astype("int64").astype(str) + "% of recipients external"
        if feature == "pair_count":
            return pick(
                v == 0,
                "first mail from this sender to this recipient",
                "sender→recipient pair rare (" + parts.count + " in training)",
            )
        if feature == "sender_to_domain_count":
            return pick(
                v == 0, "sender never wrote to this recipient domain", "sender rarely writes to this recipient domain"
            )
        if feature == "fanout_1h":
            return "sender reached " + parts.count + " recipients within an hour"
        if feature == "subject_length":
            return pick(v == 0, "empty subject", "unusual subject length (" + parts.count + ")")
        if feature == "subject_caps":
            return "subject " + (v * 100).round().astype("int64").astype(str) + "% capitals"
        if feature == "subject_digits":
            return "subject " + (v * 100).round().astype("int64").astype(str) + "% digits"
        if feature == "subject_non_ascii":
            return pd.Series("subject has unusual non-ASCII characters", index=frame.index, dtype=object)
        if feature == "subject_marks":
            return "subject has " + parts.count + " '!'/'$' marks"
        if feature == "subject_reply":
            return pick(v > 0, "reply/forward, unusual here", "new thread, unusual here")
        if feature == "subject_count":
            return pick(
                v == 0,
                "subject never seen in training",
                pick(v == 1, "subject seen once", "subject seen " + parts.count + " times"),
            )
        if feature == "subject_word_rarity":
            return pd.Series("rare words in subject", index=frame.index, dtype=object)
        if feature == "hour":
            return "sent " + parts.hhmm + " UTC, unusual hour"
        if feature == "weekday":
            return "sent on a " + frame[TIME].dt.day_name() + ", unusual day"
        if feature == "sender_hour_share":
            return "sent " + parts.hhmm + " UTC, outside this sender's usual hours"
        if feature == "recipients_above_usual":
            recipients = described["recipient_n"].set_axis(frame.index).round().astype("int64").astype(str)
            usual = (described["recipient_n"].set_axis(frame.index) + 1) / np.exp(v) - 1
            return (
                recipients
                + " recipients; this sender usually writes to "
                + usual.round().clip(lower=1).astype("int64").astype(str)
            )
        if feature == "subject_word_max_rarity":
            return pd.Series("a word in the subject is very rare here", index=frame.index, dtype=object)
        if feature == "subject_ngram_rarity":
            return pd.Series("subject spelled unlike usual mail", index=frame.index, dtype=object)
        if feature == "subject_ngram_unseen":
            return (v * 100).round().astype("int64").astype(str) + "% of the subject's letter groups never seen"
        if feature == "subject_mentions_recipient":
            return pick(
                v > 0, "subject quotes the recipient's address/name", "subject doesn't name the recipient, unusual here"
            )
        if feature == "subject_campaign":
            return "same subject from " + (v + 1).round().astype("int64").astype(str) + " sender domains in this log"
        if feature == "sender_name_address_similarity":
            return pick(v < 0.5, "display name unrelated to the sender address", "display name unusual for the address")
        if feature == "sender_name_new":
            return pick(
                v > 0,
                "known sender address under a display name it never used",
                "sender's usual display name, unusual here",
            )
        if feature == "sender_name_elsewhere":
            return pick(v > 0, "display name used before by a different address", "display name unusual here")
        if feature == "sender_is_recipient":
            return pick(v > 0, "sender address is the recipient's own", "sender is not the recipient, unusual here")
        if feature == "sender_has_name":
            return pick(v > 0, "sender shows a display name, unusual here", "sender without a display name")
        if feature == "sender_domain_to_recipient_count":
            return pick(
                v == 0,
                "sender's domain never wrote to this recipient domain",
                "sender's domain rarely writes to this recipient domain (" + parts.count + ")",
            )
        if feature == "cold_contact":
            return pick(v > 0, "unknown sender opening a new conversation", "known correspondent, unusual here")
        if feature in ("recipient_new", "pair_new"):
            # Shares of the recipients: "2 of 3 recipients never seen".
            total = described["recipient_n"].set_axis(frame.index).round().astype("int64")
            new = (v * total).round().astype("int64")
            some = new.astype(str) + " of " + total.astype(str)
            if feature == "recipient_new":
                return pick(
                    v >= 1,
                    pick(total > 1, "no recipient ever seen in training", "recipient never seen in training"),
                    some + " recipients never seen in training",
                )
            return pick(
                v >= 1,
                "first mail from this sender to " + pick(total > 1, "these recipients", "this recipient"),
                "sender never wrote to " + some + " recipients before",
            )
        if feature in _NEW_FLAGS:
            what = feature.removesuffix("_new").replace("_", " ")
            return pick(v > 0, "first mail with this " + what, what + " seen before, unusual here")
        if feature == "burst_5min":
            return "burst: " + (v + 1).round().astype("int64").astype(str) + " mails from this sender within 5 min"
        raise KeyError(feature)


class _ReasonParts:
    """Text pieces reasons are built from, each computed on first use only."""

    def __init__(self, values: pd.Series, frame: pd.DataFrame):
        self.values, self.frame = values, frame

    @functools.cached_property
    def count(self) -> pd.Series:
        return self.values.round().astype("int64").astype(str)

    @functools.cached_property
    def sender(self) -> pd.Series:
        return sender_addresses(self.frame[SENDER])

    @functools.cached_property
    def domain(self) -> pd.Series:
        return domain_of(self.sender).replace("", "(no domain)")

    @functools.cached_property
    def hhmm(self) -> pd.Series:
        return self.frame[TIME].dt.strftime("%H:%M")


def _row_keys(X: pd.DataFrame) -> np.ndarray:
    """A 64-bit fingerprint of each message (recipient, sender, subject, time)."""
    return pd.util.hash_pandas_object(X[[RECIPIENT, SENDER, SUBJECT, TIME]], index=False).to_numpy()


def _per_distinct_frame(values: pd.Series, describe) -> pd.DataFrame:
    """``describe`` (a frame of per-value features) computed once per distinct value."""
    codes, distinct = pd.factorize(values)
    return describe(pd.Series(distinct, dtype=object)).iloc[codes].reset_index(drop=True)


def _sender_shape(raw: pd.Series) -> pd.DataFrame:
    """Features of the sender field's text alone: display name vs address, digits."""
    address = sender_addresses(raw)
    similarity, has_name = _name_similarity(raw, address)
    return pd.DataFrame(
        {
            "sender_name_mismatch": _name_mismatch(raw, address),
            "sender_local_digits": _digit_share(address.str.split("@").str[0]),
            "sender_name_address_similarity": similarity,
            "sender_has_name": has_name,
        }
    )


def _subject_shape(subject: pd.Series) -> pd.DataFrame:
    """Features of the subject's text alone: length, capitals, digits, non-ASCII, marks, reply."""
    letters = subject.str.count(r"[A-Za-z]").to_numpy(float)
    length = subject.str.len().to_numpy(float)
    return pd.DataFrame(
        {
            "subject_length": length,
            "subject_caps": subject.str.count(r"[A-Z]").to_numpy(float) / np.maximum(letters, 1),
            "subject_digits": subject.str.count(r"\d").to_numpy(float) / np.maximum(length, 1),
            "subject_non_ascii": subject.str.count(r"[^\x00-\x7f]").to_numpy(float) / np.maximum(length, 1),
            "subject_marks": subject.str.count(r"[!$€£]").to_numpy(float),
            "subject_reply": subject.str.contains(_REPLY_PREFIX).to_numpy(float),
        }
    )


def _digit_share(text: pd.Series) -> np.ndarray:
    length = text.str.len().to_numpy(float)
    return text.str.count(r"\d").to_numpy(float) / np.maximum(length, 1)


def _name_mismatch(raw: pd.Series, address: pd.Series) -> np.ndarray:
    """1 when the display name carries an address other than the real one (spoofing trick)."""
    name = raw.str.split("<", n=1).str[0].str.lower()
    shown = name.str.extract(_ADDRESS.pattern.join("()"), expand=False).fillna("")
    return ((shown != "") & (shown != address)).to_numpy(float)


def _window_sum(keys: pd.Series, times: pd.Series, weights: np.ndarray, window: float) -> np.ndarray:
    """For each row: sum of ``weights`` over rows with the same key within ±window/2 seconds."""
    n = len(keys)
    if n == 0:
        return np.zeros(0)
    seconds = times.astype("int64").to_numpy() / 1e6
    codes = pd.factorize(keys)[0]
    order = np.lexsort((seconds, codes))
    key_sorted, t_sorted = codes[order], seconds[order]
    # Offsetting each key by a large gap turns "same key within the window" into one searchsorted.
    position = key_sorted * (4 * window + (t_sorted.max() - t_sorted.min()) + 1) + (t_sorted - t_sorted.min())
    cumulative = np.concatenate([[0.0], np.cumsum(weights[order])])
    lo = np.searchsorted(position, position - window / 2, side="left")
    hi = np.searchsorted(position, position + window / 2, side="right")
    result = np.empty(n)
    result[order] = cumulative[hi] - cumulative[lo]
    return result


@functools.cache
def _ngram_vectorizer():
    from sklearn.feature_extraction.text import HashingVectorizer

    # Stateless (hashing), so one shared instance is safe across threads and sessions.
    return HashingVectorizer(
        analyzer="char_wb",
        ngram_range=(3, 3),
        n_features=2**18,
        binary=True,
        alternate_sign=False,
        norm=None,
        lowercase=True,
    )


def _subject_ngrams(subject_key: pd.Series):
    """Binary bag of hashed character 3-grams (within words) per subject, CSR with sorted indices."""
    grams = _ngram_vectorizer().transform(subject_key.fillna("").astype(str)).tocsr()
    grams.sort_indices()
    return grams


def _campaign(p: dict) -> np.ndarray:
    """How many other sender domains sent this exact new-thread subject within the file.

    A campaign sends one subject from many throw-away domains; a newsletter comes from one
    domain and a discussion thread carries a reply prefix.
    """
    subjects = _factors(p["subject"])
    is_reply = pd.Series(subjects.values, dtype=object).str.contains(_REPLY_PREFIX).to_numpy(bool)
    key = p["subject_factors"]
    new_thread = ~is_reply[subjects.codes] & (np.asarray(key[1], dtype=object)[key[0]] != "")
    domain_codes = p["sender_domain_factors"].codes
    # Distinct (subject, domain) pairs of new threads, then domains per subject.
    pairs = pd.DataFrame({"subject": key[0][new_thread], "domain": domain_codes[new_thread]}).drop_duplicates()
    per_subject = np.bincount(pairs["subject"].to_numpy(), minlength=len(key[1]))
    return np.where(new_thread, per_subject[key[0]] - 1, 0).astype(float) if len(key[1]) else np.zeros(p["n"])


def _name_similarity(raw: pd.Series, address: pd.Series) -> tuple[np.ndarray, np.ndarray]:
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
            fuzz.partial_ratio(a, b) / 100 if h and a and b else 1.0
            for a, b, h in zip(name, local, has_name, strict=True)
        ]
    )
    return similarity, has_name.astype(float)
