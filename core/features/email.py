"""``EmailFeatures``, the default feature set: what each message looks like to an analyst,
standardized for the autoencoder. Which features, and how each is computed and explained, is
declared in ``core.features.catalog``; this module learns the count tables they read, and
turns their readable values into model columns.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.preprocessing import StandardScaler
from sklearn.utils.validation import check_is_fitted

from core.features import signals
from core.features.catalog import EMAIL_FEATURES, EMAIL_FEATURES_BY_NAME
from core.features.counting import PairLookup, pair_table, value_counts
from core.features.measures import Measures
from core.features.parsing import ParsedLog
from core.features.registry import SCALE_FLOOR, ReasonText, encode
from core.schema import RECIPIENT, SENDER, SUBJECT, TIME


class EmailFeatures(TransformerMixin, BaseEstimator):
    """Mail-aware features, standardized. See ``core.features`` for what and why.

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
        Count training rows without their own occurrence (see ``core.features``).

    Learned attributes
    ------------------
    counts_ : dict of pandas.Series — training frequencies (senders, domains, pairs, subjects, words)
    ngram_df_ : numpy array — training document frequency of each hashed subject 3-gram
    internal_domains_ : frozenset
    familiar_domains_ : numpy array of the frequent domains look-alikes are measured against
    n_train_ : int
    train_keys_ : numpy array — fingerprints of the training rows (see ``trained_on``)
    scaler_ : StandardScaler
    feature_names_out_, feature_fields_, feature_sources_, feature_kinds_ : per model column,
        its name, log field, feature (``describe()`` column) and kind
    """

    # Bundles pickle this class by its module path: the public package, so the modules
    # inside it may move without breaking a saved model.
    __module__ = "core.features"

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

    def __getstate__(self):
        # Lookups built from the count tables are this process's, never part of a saved bundle.
        state = dict(super().__getstate__())  # a copy: the lookups stay in this object
        state.pop("_pair_lookups", None)
        return state

    def pair_lookup(self, table: str) -> PairLookup:
        """The learned pair table ``counts_[table]`` indexed for lookups (built once per process)."""
        lookups = self.__dict__.setdefault("_pair_lookups", {})
        if table not in lookups:
            lookups[table] = PairLookup(self.counts_[table])
        return lookups[table]

    # -- fitting ------------------------------------------------------------------------

    def fit(self, X: pd.DataFrame, y=None):
        self.fit_transform(X)
        return self

    def fit_transform(self, X: pd.DataFrame, y=None) -> np.ndarray:
        """Learn the count tables and the scaling; return the training rows' model inputs.

        Not the same as ``fit(X).transform(X)``: here each training row is counted *with*
        its own occurrence (unless ``leave_one_out``), so the autoencoder learns what
        familiar mail looks like and a first contact at scoring time lies off that manifold.
        ``transform`` of a row the model trained on (``trained_on``) leaves its own
        occurrence out, so scoring the training file judges it like new mail.
        """
        parsed = ParsedLog(X)
        return self._fit_scaling(count_tables(parsed, train_keys=np.unique(row_keys(X))), parsed)

    def fit_from_counts(self, tables: CountTables, X: pd.DataFrame, y=None):
        """``fit`` with the count tables given (computed elsewhere, e.g. by Spark over a log
        too large for one machine) and the scaling learned from the rows of ``X``."""
        self.fit_transform_from_counts(tables, X)
        return self

    def fit_transform_from_counts(self, tables: CountTables, X: pd.DataFrame) -> np.ndarray:
        """Take the count ``tables`` of the training mail as learned; learn the scaling from
        ``X`` and return its model inputs, as ``fit_transform`` does.

        ``X`` must be training rows counted in ``tables`` (a uniform sample of them, or all):
        each is described with its own occurrence counted, as in ``fit_transform``. With
        ``tables = count_tables(ParsedLog(X), ...)`` this *is* ``fit_transform(X)``.
        """
        return self._fit_scaling(tables, ParsedLog(X))

    def _fit_scaling(self, tables: CountTables, parsed: ParsedLog) -> np.ndarray:
        self._set_counts(tables)
        columns = [(column, feature) for feature in EMAIL_FEATURES for column in feature.columns]
        self.feature_names_out_ = tuple(column for column, _ in columns)
        self.feature_fields_ = tuple(feature.field for _, feature in columns)
        self.feature_sources_ = tuple(feature.name for _, feature in columns)
        self.feature_kinds_ = tuple(feature.kind for _, feature in columns)

        described = self._describe(parsed, own=np.full(parsed.n, float(self.leave_one_out)))
        model_inputs = self._model_inputs(described)
        self.scaler_ = StandardScaler().fit(model_inputs)
        # A feature that never varied in training (no look-alike domain) must stand out when
        # it finally does: any change from the constant maps to the clip limit, instead of
        # sklearn's zero-variance rule (scale 1) that would hide it among the rest. A feature
        # that varied only a little is scaled by at least its kind's smallest meaningful
        # change, so a burst of 50 mails and one of 5 don't both hit the clip limit. So is a
        # count that grows with traffic and never varied: a 100-row log that never saw two
        # mails from one sender within five minutes finds such a pair unusual, not alarming.
        floors = np.array([SCALE_FLOOR[kind] for kind in self.feature_kinds_])
        graded = np.array([EMAIL_FEATURES_BY_NAME[name].grows_with_traffic for name in self.feature_sources_])
        varied = self.scaler_.var_ > 1e-12
        never_varied_scale = np.where(graded, floors, 1.0 / self.clip)
        self.scaler_.scale_ = np.where(varied, np.maximum(self.scaler_.scale_, floors), never_varied_scale)
        return self._scale(model_inputs)

    def _set_counts(self, tables: CountTables) -> None:
        """Take ``tables`` as the learned counts; derive the organisation's and the familiar domains."""
        self.counts_ = dict(tables.counts)
        self.__dict__.pop("_pair_lookups", None)  # built from the previous counts, if refitted
        self.n_train_ = int(tables.n_train)
        self.ngram_df_ = np.asarray(tables.ngram_df, dtype=np.float64)
        self.train_keys_ = np.asarray(tables.train_keys)
        n = self.n_train_
        if self.internal_domains:
            self.internal_domains_ = frozenset(d.lower() for d in self.internal_domains)
        else:
            threshold = self.internal_min_share * n
            sends = self.counts_["sender_domain"]
            receives = self.counts_["recipient_domain"]
            both = sends[sends >= threshold].index.intersection(receives[receives >= threshold].index)
            self.internal_domains_ = frozenset(d for d in both if d)
        domains = pd.concat([self.counts_["sender_domain"], self.counts_["recipient_domain"]])
        domains = domains.groupby(level=0).sum()
        familiar = domains[(domains >= max(3, 0.001 * n)) & (domains.index.str.len() >= 4)]
        self.familiar_domains_ = familiar.sort_values(ascending=False).index[:1000].to_numpy(dtype=object)

    # -- transforming ---------------------------------------------------------------------

    def transform(self, X: pd.DataFrame) -> np.ndarray:
        check_is_fitted(self, "scaler_")
        return self._scale(self._model_inputs(self.describe(X)))

    def describe(self, X: pd.DataFrame) -> pd.DataFrame:
        """Readable per-row values behind each feature (counts, shares, hour), as scored."""
        check_is_fitted(self, "scaler_")
        return self._describe(ParsedLog(X), own=self.trained_on(X).astype(float))

    def transform_and_describe(self, X: pd.DataFrame) -> tuple[np.ndarray, pd.DataFrame]:
        """``transform(X)`` and ``describe(X)`` from one pass over the rows (what scoring needs)."""
        check_is_fitted(self, "scaler_")
        described = self.describe(X)
        return self._scale(self._model_inputs(described)), described

    def trained_on(self, X: pd.DataFrame) -> np.ndarray:
        """True for rows that were part of the training data.

        When such a row is scored, its own occurrence is taken out of the counts: a message
        is never "familiar" merely because the model saw that very message, so scoring the
        training file itself gives the same picture as scoring new mail.
        """
        return np.isin(row_keys(X), self.train_keys_)

    def add_context(self, X: pd.DataFrame) -> pd.DataFrame:
        """``X`` with each row's within-file behaviour (bursts, fan-out) computed over all of ``X``.

        Call this on the whole file before splitting it, so a random sample of the rows
        doesn't look quieter than the file it came from.
        """
        context = signals.within_file_context(
            ParsedLog(X.drop(columns=list(signals.CONTEXT_COLUMNS.values()), errors="ignore"))
        )
        out = X.copy()
        for name, column in signals.CONTEXT_COLUMNS.items():
            out[column] = context[name]
        return out

    def new_values(self, X: pd.DataFrame, *, described: pd.DataFrame | None = None) -> pd.DataFrame:
        """Per field: True where the value never occurred in training."""
        described = self.describe(X) if described is None else described
        return pd.DataFrame(
            {
                SENDER: described["sender_count"].to_numpy() == 0,
                RECIPIENT: described["recipient_count"].to_numpy() == 0,
                SUBJECT: described["subject_count"].to_numpy() == 0,
            },
            index=X.index,
        )

    def get_feature_names_out(self, input_features=None):
        check_is_fitted(self, "scaler_")
        return np.array(self.feature_names_out_, dtype=object)

    def _describe(self, parsed: ParsedLog, *, own: np.ndarray) -> pd.DataFrame:
        """Every feature's readable value; ``own`` (per row, 0 or 1) is taken out of that row's counts."""
        measures = Measures(self, parsed, own)
        described = pd.DataFrame({feature.name: feature.compute(measures) for feature in EMAIL_FEATURES})
        return described.clip(lower=0)

    def _model_inputs(self, described: pd.DataFrame) -> np.ndarray:
        """The model columns, in the order this preprocessor was fitted with (a saved model's
        own order, whatever the catalog's today)."""
        kinds = dict(zip(self.feature_sources_, self.feature_kinds_, strict=True))
        columns = [column for name, kind in kinds.items() for column in encode(kind, described[name].to_numpy(float))]
        # Stacked column by column as pandas lays out a frame, so the fitted scaling is the same to the last bit.
        return np.stack(columns).T if columns else np.zeros((len(described), 0))

    def _scale(self, model_inputs: np.ndarray) -> np.ndarray:
        scaled = self.scaler_.transform(model_inputs)
        return np.clip(scaled, -self.clip, self.clip).astype(np.float32)

    # -- look-alike domains ---------------------------------------------------------------

    def lookalike_targets(self, domains) -> dict[str, str]:
        """domain -> the familiar training domain it imitates, for the ``domains`` that imitate
        one (``signals.lookalike_targets``)."""
        if not len(self.familiar_domains_):
            return {}
        seen = self.counts_["sender_domain"].add(self.counts_["recipient_domain"], fill_value=0)
        return signals.lookalike_targets(domains, list(self.familiar_domains_), seen, self.lookalike_max_edits)

    def lookalike_target(self, domain: str) -> str | None:
        """The familiar training domain that ``domain`` imitates, if any."""
        return self.lookalike_targets([domain]).get(domain)

    # -- explanations ---------------------------------------------------------------------

    def reasons(
        self, feature: str, described: pd.DataFrame, frame: pd.DataFrame, rows: np.ndarray | None = None
    ) -> pd.Series:
        """Short reasons in email terms for rows whose top feature is ``feature`` (vectorized).

        ``described`` holds at least that feature and ``recipient_n`` for the messages of
        ``frame`` at positions ``rows`` (all of them when None), and gives the reasons' index.
        """
        return EMAIL_FEATURES_BY_NAME[feature].reason(ReasonText(feature, described, frame, self, rows))


class CountTables(NamedTuple):
    """What ``EmailFeatures`` learns by counting the training mail (see ``count_tables``).

    ``counts``: name -> pandas.Series of training frequencies (the ``counts_`` tables);
    ``ngram_df``: document frequency of each hashed subject 3-gram; ``n_train``: rows
    counted; ``train_keys``: sorted distinct fingerprints of those rows (``row_keys``).
    """

    counts: dict
    ngram_df: np.ndarray
    n_train: int
    train_keys: np.ndarray


def count_tables(parsed: ParsedLog, *, train_keys: np.ndarray) -> CountTables:
    """The count tables of a training log, counted on this machine (``core.spark.training``
    counts the same tables with Spark group-bys; a test keeps the two equal)."""
    recipients = parsed.recipients
    senders = parsed.sender_factors
    recipients_per_row = np.bincount(recipients.row, weights=recipients.present.astype(float), minlength=parsed.n)
    sender_per_recipient = senders.take(recipients.row)
    named = np.flatnonzero((parsed.sender_name != "").to_numpy())
    counts = {
        "sender": value_counts(senders),
        "sender_domain": value_counts(parsed.sender_domain_factors),
        "recipient": value_counts(recipients.address),
        "recipient_domain": value_counts(recipients.domain),
        "pair": pair_table(sender_per_recipient, recipients.address),
        "sender_to_domain": pair_table(sender_per_recipient, recipients.domain),
        "subject": parsed.subject_key.value_counts(),
        "sender_name": pair_table(senders, parsed.sender_name_factors, named),
        "name": parsed.sender_name[parsed.sender_name != ""].value_counts(),
        "word": _word_counts(parsed),
        "sender_hour": pair_table(senders, parsed.times.dt.hour.to_numpy()),
        "sender_recipients": pd.Series(
            np.bincount(senders.codes, weights=recipients_per_row, minlength=len(senders.values)),
            index=pd.Index(senders.values, dtype=object),
        ),
        "domain_to_domain": pair_table(parsed.sender_domain_factors.take(recipients.row), recipients.domain),
    }
    # Document frequency of each hashed character 3-gram of the training subjects.
    distinct = parsed.distinct_subjects
    multiplicity = np.bincount(parsed.subject_codes, minlength=len(distinct.keys))
    ngram_df = np.asarray(distinct.grams.T @ multiplicity).ravel()
    return CountTables(counts, ngram_df, parsed.n, train_keys)


def row_keys(X: pd.DataFrame) -> np.ndarray:
    """A 64-bit fingerprint of each message (recipient, sender, subject, time)."""
    return pd.util.hash_pandas_object(X[[RECIPIENT, SENDER, SUBJECT, TIME]], index=False).to_numpy()


def _word_counts(parsed: ParsedLog) -> pd.Series:
    """Training document frequency of each subject word."""
    distinct = parsed.distinct_subjects
    multiplicity = np.bincount(parsed.subject_codes, minlength=len(distinct.keys))
    tokens = distinct.tokens
    return pd.Series(multiplicity[tokens["row"].to_numpy()]).groupby(tokens["token"].to_numpy()).sum()
