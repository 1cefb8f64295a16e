import io
import pickle

import numpy as np
import pandas as pd
import pytest
from sklearn.exceptions import NotFittedError

from core.errors import DataError
from core.features import (
    FEATURE_SETS,
    UNSEEN_CODE,
    EmailFeatures,
    FeatureSet,
    SeedFeatures,
    make_preprocessor,
    recipient_lists,
    sender_addresses,
)
from core.features import email as email_module
from core.features.catalog import EMAIL_FEATURES
from core.features.registry import HOUR, Feature, by_name
from core.schema import RECIPIENT, SENDER, SUBJECT, TIME


def _frame(rows):
    frame = pd.DataFrame(rows, columns=[RECIPIENT, SENDER, SUBJECT, TIME])
    frame[TIME] = pd.to_datetime(frame[TIME], utc=True)
    return frame


TRAIN = _frame(
    [
        ("bob@corp.com", "alice@corp.com", "Budget", "2026-11-02T09:00:00Z"),
        ("carol@corp.com", "dave@corp.com", "Lunch", "2026-11-02T10:00:00Z"),
        ("erin@corp.com", "alice@corp.com", "Report", "2026-11-02T11:00:00Z"),
    ]
)


def test_seed_features_use_one_encoder_per_column():
    pre = SeedFeatures().fit(TRAIN)
    assert set(pre.encoders_) == {RECIPIENT, SENDER, SUBJECT}
    assert pre.encoders_[SENDER] is not pre.encoders_[SUBJECT]
    # Each encoder keeps its own column's classes — the report's shared LabelEncoder kept only the last.
    assert list(pre.encoders_[SENDER].categories_[0]) == ["alice@corp.com", "dave@corp.com"]
    assert list(pre.encoders_[SUBJECT].categories_[0]) == ["Budget", "Lunch", "Report"]


def test_seed_features_match_the_report_recipe():
    pre = SeedFeatures().fit(TRAIN)
    raw = pre._encode(TRAIN)
    np.testing.assert_array_equal(raw[:, 1], [0, 1, 0])  # sender codes
    np.testing.assert_allclose(raw[:, 3], TRAIN[TIME].astype("int64") / 1e6)  # Unix seconds
    X = pre.transform(TRAIN)
    np.testing.assert_allclose(X.mean(axis=0), 0, atol=1e-6)  # StandardScaler


def test_seed_features_unseen_values_get_reserved_code_and_are_flagged():
    pre = SeedFeatures().fit(TRAIN)
    new = _frame([("zed@evil.biz", "mallory@evil.biz", "Wire now", "2026-11-03T03:00:00Z")])
    assert np.isfinite(pre.transform(new)).all()
    assert (pre._encode(new)[:, :3] == UNSEEN_CODE).all()
    flags = pre.new_values(new)
    assert flags.loc[0, SENDER] and flags.loc[0, RECIPIENT] and flags.loc[0, SUBJECT]


def test_transform_before_fit_raises_not_fitted():
    with pytest.raises(NotFittedError):
        SeedFeatures().transform(TRAIN)
    with pytest.raises(NotFittedError):
        EmailFeatures().transform(TRAIN)


def test_make_preprocessor_rejects_unknown_set():
    with pytest.raises(DataError, match="expected one of email, seed"):
        make_preprocessor("fancy")


def test_address_parsing_handles_display_names_and_lists():
    senders = pd.Series(['"Ben Green" <Ben@Mind.com>', "plain@x.org", "", "no address"])
    assert list(sender_addresses(senders)) == ["ben@mind.com", "plain@x.org", "", ""]
    lists = recipient_lists(pd.Series(["a@x.com; B@y.org, c@z.net", ""]))
    assert list(lists[0]) == ["a@x.com", "b@y.org", "c@z.net"] and list(lists[1]) == []


def test_recipient_counts_equal_the_parsed_lists_on_hostile_text():
    """Arrow's RE2 counts addresses as Python's ``re`` finds them: its ``\\s`` is ASCII only, so
    the pattern lists every Unicode space Python's ``\\s`` matches."""
    from core.features.parsing import UNICODE_SPACES, recipient_counts

    assert set(UNICODE_SPACES) == {c for c in map(chr, range(0x110000)) if c.isspace()}
    lists = pd.Series(
        ["a@x.com; B@y.org, c@z.net", "", "Name <A@B.C>", "a@b@c", "@@", "a@", "@b", "ü@ö.de;x@y", None]
        + [f"q@w{space}e@r" for space in UNICODE_SPACES]
        + ["x@y\u200bz@w", "İ@x.com", "<a@b>(c@d)[e@f]'g@h'\"i@j\":k@l"],
        dtype=object,
    )
    expected = recipient_lists(lists).str.len().to_numpy(float)
    np.testing.assert_array_equal(recipient_counts(lists), expected)
    assert expected[9] == 2 and expected[-1] == 6  # every space and separator splits addresses


@pytest.mark.parametrize("method", ["isdecimal", "isspace"])
def test_the_code_point_tables_are_pythons_own_answers(method):
    from core.features.parsing import _unicode_table

    python = np.array([getattr(chr(c), method)() for c in range(0x110000)])
    np.testing.assert_array_equal(_unicode_table(method), python)


def test_scoring_training_rows_leaves_their_own_occurrence_out(demo_log):
    frame = demo_log.frame[demo_log.scorable]
    pre = EmailFeatures().fit(frame)
    senders = sender_addresses(frame[SENDER])
    counts = senders.map(senders.value_counts()).to_numpy()
    assert pre.trained_on(frame).all()
    np.testing.assert_array_equal(pre.describe(frame)["sender_count"], counts - 1)
    later = frame.assign(**{TIME: frame[TIME] + pd.Timedelta(days=400)})  # new mail, same people
    assert not pre.trained_on(later).any()
    np.testing.assert_array_equal(pre.describe(later)["sender_count"], counts)


def test_leave_one_out_training_option(demo_log):
    once = _frame([("bob@corp.com", "only.once@nowhere.example", "Hello", "2026-11-02T09:00:00Z")])
    frame = pd.concat([demo_log.frame[demo_log.scorable], once], ignore_index=True)
    senders = sender_addresses(frame[SENDER])
    single = senders.isin(senders.value_counts()[lambda c: c == 1].index).to_numpy()
    assert single[-1]
    pre = EmailFeatures(leave_one_out=True)
    X = pre.fit_transform(frame)
    new_flag = list(pre.feature_names_out_).index("sender_new")
    # Counted without itself, a sender seen once in training is a first contact there.
    assert (X[single, new_flag] > X[~single, new_flag].mean()).all()


def test_email_features_are_finite_for_new_and_odd_rows(demo_log):
    pre = EmailFeatures().fit(demo_log.frame[demo_log.scorable])
    odd = _frame(
        [
            ("", "", "", "2026-11-03T03:00:00Z"),
            ("a@x.com;" * 300, "<script>@x", '=HYPERLINK("x") 💸 \u202e', "1999-01-01T00:00:00Z"),
        ]
    )
    X = pre.transform(odd)
    assert X.shape == (2, len(pre.feature_names_out_)) and np.isfinite(X).all()
    assert pre.new_values(odd).loc[0, SENDER]


@pytest.mark.parametrize("features", [EmailFeatures, SeedFeatures])
def test_missing_text_reads_as_an_empty_field_not_another_rows_value(features, demo_log):
    """A hand-built frame may hold None/NaN where read_log gives "": both mean an empty field."""
    rows = demo_log.frame[demo_log.scorable]
    pre = features().fit(rows)
    probe = rows.tail(4).reset_index(drop=True).astype({RECIPIENT: object, SENDER: object, SUBJECT: object})
    empty = probe.copy()
    for row, column, missing in ((0, SENDER, None), (1, RECIPIENT, None), (2, SUBJECT, np.nan)):
        probe.loc[row, column], empty.loc[row, column] = missing, ""
    pd.testing.assert_frame_equal(pre.describe(probe), pre.describe(empty))


def test_email_features_flag_lookalike_domain(demo_frame, demo_log):
    pre = EmailFeatures().fit(demo_log.frame[demo_log.scorable & (demo_frame["label"] == 0).to_numpy()])
    familiar = pre.familiar_domains_[0]
    fake = familiar[:2] + familiar[3] + familiar[2] + familiar[4:]  # swap two letters
    rows = _frame([("x@" + familiar, "ceo@" + fake, "Invoice", "2026-11-03T10:00:00Z")])
    described = pre.describe(rows)
    assert described.loc[0, "sender_domain_lookalike"] == 1
    reason = pre.reasons("sender_domain_lookalike", described, rows).iloc[0]
    assert fake in reason and familiar in reason


def test_email_features_cyclic_time():
    pre = EmailFeatures().fit(TRAIN)
    names = list(pre.feature_names_out_)
    assert {"hour_sin", "hour_cos", "weekday_sin", "weekday_cos"} <= set(names)
    assert "unix_time" not in names


# --------------------------------------------------------------------------- sender identity

HISTORY = _frame(
    [
        ("bob@corp.com", '"Alice Smith" <alice@corp.com>', "Budget", "2026-11-02T09:00:00Z"),
        ("bob@corp.com", '"Alice Smith" <alice@corp.com>', "Re: Budget", "2026-11-02T10:00:00Z"),
        ("alice@corp.com", '"Bob Jones" <bob@corp.com>', "Lunch", "2026-11-02T11:00:00Z"),
        ("carol@corp.com", '"Bob Jones" <bob@corp.com>', "Report", "2026-11-02T12:00:00Z"),
    ]
)


def test_known_address_under_a_new_display_name_is_flagged():
    pre = EmailFeatures().fit(HISTORY)
    rows = _frame(
        [
            ("bob@corp.com", '"Alice Smith" <alice@corp.com>', "Budget", "2026-11-03T09:00:00Z"),
            ("bob@corp.com", '"IT Helpdesk" <alice@corp.com>', "Password expiry", "2026-11-03T09:00:00Z"),
            ("bob@corp.com", "alice@corp.com", "Budget", "2026-11-03T09:00:00Z"),  # no name: nothing to compare
        ]
    )
    described = pre.describe(rows)
    assert list(described["sender_name_new"]) == [0, 1, 0]
    assert "display name it never used" in pre.reasons("sender_name_new", described.iloc[[1]], rows.iloc[[1]]).iloc[0]


def test_display_name_of_another_sender_is_flagged():
    pre = EmailFeatures().fit(HISTORY)
    rows = _frame(
        [("carol@corp.com", '"Bob Jones" <bob.jones@freemail.example>', "Urgent wire", "2026-11-03T09:00:00Z")]
    )
    described = pre.describe(rows)
    assert described.loc[0, "sender_name_elsewhere"] == 1 and described.loc[0, "sender_new"] == 1


def test_self_addressed_mail_and_cold_contact():
    pre = EmailFeatures().fit(HISTORY)
    rows = _frame(
        [
            ("carol@corp.com", '"Carol" <carol@corp.com>', "Your account was hacked", "2026-11-03T09:00:00Z"),
            ("bob@corp.com", "stranger@else.example", "Offer", "2026-11-03T09:00:00Z"),
            ("bob@corp.com", "stranger@else.example", "Re: Budget", "2026-11-03T09:00:00Z"),
        ]
    )
    described = pre.describe(rows)
    assert list(described["sender_is_recipient"]) == [1, 0, 0]
    # A sender never seen opening a new thread is a cold contact; one answering a known thread is not.
    assert list(described["cold_contact"]) == [1, 1, 0]


def test_senders_without_an_address_are_not_all_one_sender():
    pre = EmailFeatures().fit(
        _frame(
            [
                ("bob@corp.com", "Chope <>", "Pills", "2026-11-02T09:00:00Z"),
                ("bob@corp.com", "MAILER-DAEMON <>", "Undeliverable", "2026-11-02T10:00:00Z"),
            ]
        )
    )
    rows = _frame(
        [
            ("bob@corp.com", "Dufour <>", "Pills", "2026-11-03T09:00:00Z"),
            ("bob@corp.com", "MAILER-DAEMON <>", "Undeliverable", "2026-11-03T09:00:00Z"),
        ]
    )
    assert list(pre.describe(rows)["sender_new"]) == [1, 0]


def test_share_of_new_recipients():
    pre = EmailFeatures().fit(HISTORY)
    rows = _frame(
        [
            ("bob@corp.com; new1@corp.com", "alice@corp.com", "Budget", "2026-11-03T09:00:00Z"),
            ("new2@corp.com", "alice@corp.com", "Budget", "2026-11-03T09:00:00Z"),
        ]
    )
    described = pre.describe(rows)
    np.testing.assert_allclose(described["recipient_new"], [0.5, 1.0])
    reasons = pre.reasons("recipient_new", described, rows)
    assert list(reasons) == ["1 of 2 recipients never seen in training", "recipient never seen in training"]


def test_lookalike_ignores_country_endings_and_short_names():
    frame = pd.concat(
        [
            _frame([(f"u{i}@linux.ie", f"p{i}@linux.ie", "Hi", "2026-11-02T09:00:00Z") for i in range(40)]),
            _frame([(f"u{i}@corp.com", f"p{i}@newt.com", "Hi", "2026-11-02T09:00:00Z") for i in range(40)]),
            _frame([(f"u{i}@corp.com", f"p{i}@microsoft.com", "Hi", "2026-11-02T09:00:00Z") for i in range(40)]),
        ]
    )
    pre = EmailFeatures().fit(frame)
    rows = _frame(
        [
            ("u1@corp.com", "x@linux.be", "Hi", "2026-11-03T09:00:00Z"),  # same name, other country
            ("u1@corp.com", "x@next.com", "Hi", "2026-11-03T09:00:00Z"),  # four letters: a real other name
            ("u1@corp.com", "x@rnicrosoft.com", "Hi", "2026-11-03T09:00:00Z"),
        ]
    )
    assert list(pre.describe(rows)["sender_domain_lookalike"]) == [0, 0, 1]


def test_campaign_counts_other_sender_domains_of_a_new_thread_subject():
    pre = EmailFeatures().fit(HISTORY)
    rows = _frame(
        [
            ("bob@corp.com", "a@one.example", "Claim your prize", "2026-11-03T09:00:00Z"),
            ("bob@corp.com", "b@two.example", "Claim your prize", "2026-11-03T09:01:00Z"),
            ("bob@corp.com", "c@three.example", "claim your prize", "2026-11-03T09:02:00Z"),
            ("bob@corp.com", "d@three.example", "Re: Budget", "2026-11-03T09:03:00Z"),
            ("bob@corp.com", "e@four.example", "Re: Budget", "2026-11-03T09:04:00Z"),
        ]
    )
    assert list(pre.describe(rows)["subject_campaign"]) == [2, 2, 2, 0, 0]


# --------------------------------------------------------------------------- the registry


def test_model_columns_follow_the_catalog():
    pre = EmailFeatures().fit(TRAIN)
    expected = [
        (column, feature.field, feature.name, feature.kind) for feature in EMAIL_FEATURES for column in feature.columns
    ]
    got = zip(pre.feature_names_out_, pre.feature_fields_, pre.feature_sources_, pre.feature_kinds_, strict=True)
    assert list(got) == expected
    hour = next(feature for feature in EMAIL_FEATURES if feature.kind == HOUR)
    assert hour.columns == (hour.name + "_sin", hour.name + "_cos")
    assert list(pre.describe(TRAIN).columns) == [feature.name for feature in EMAIL_FEATURES]


def test_every_email_feature_has_a_reason(demo_log):
    frame = demo_log.frame[demo_log.scorable].reset_index(drop=True)
    pre = EmailFeatures().fit(frame.iloc[:1000])
    rows = pre.add_context(frame.iloc[1000:].reset_index(drop=True))
    described = pre.describe(rows)
    for feature in EMAIL_FEATURES:
        # What scoring passes: the feature's values and the recipient numbers some reasons quote.
        reasons = pre.reasons(feature.name, described[list({feature.name: 0, "recipient_n": 0})], rows)
        assert reasons.index.equals(rows.index), feature.name
        assert reasons.map(lambda text: isinstance(text, str) and len(text) > 5).all(), feature.name


def test_registry_refuses_a_duplicate_name_and_an_unknown_kind():
    feature = EMAIL_FEATURES[0]
    with pytest.raises(ValueError, match="Two features are named"):
        by_name((feature, feature))
    with pytest.raises(ValueError, match="kind must be one of"):
        Feature("odd", SENDER, "percent", compute=feature.compute, reason=feature.reason)


def test_a_fitted_preprocessor_keeps_its_own_column_order(monkeypatch):
    """A saved model computes the columns it was trained with, whatever the catalog's order today."""
    pre = EmailFeatures().fit(HISTORY)
    expected = pre.transform(TRAIN)
    monkeypatch.setattr(email_module, "EMAIL_FEATURES", EMAIL_FEATURES[::-1])
    np.testing.assert_array_equal(pre.transform(TRAIN), expected)
    assert list(EmailFeatures().fit(HISTORY).feature_names_out_) != list(pre.feature_names_out_)


def test_fit_transform_counts_training_rows_with_their_own_occurrence(demo_log):
    frame = demo_log.frame[demo_log.scorable]
    pre = EmailFeatures()
    sender_count = list(EmailFeatures().fit(TRAIN).feature_names_out_).index("sender_count")
    fitted = pre.fit_transform(frame)
    # The same rows scored afterwards are the trained-on rows: their own occurrence is left out.
    assert (fitted[:, sender_count] > pre.transform(frame)[:, sender_count]).all()
    # Left out at training too (leave_one_out), both agree.
    loo = EmailFeatures(leave_one_out=True)
    np.testing.assert_array_equal(loo.fit_transform(frame), loo.transform(frame))


@pytest.mark.parametrize("name", FEATURE_SETS)
def test_both_feature_sets_are_a_feature_set(name):
    pre = make_preprocessor(name).fit(HISTORY)
    assert isinstance(pre, FeatureSet)
    assert len(pre.feature_fields_) == len(pre.feature_sources_) == len(pre.get_feature_names_out())
    assert pre.transform(pre.add_context(TRAIN)).shape == (len(TRAIN), len(pre.feature_names_out_))


class _RecordingUnpickler(pickle.Unpickler):
    def __init__(self, data: bytes):
        super().__init__(io.BytesIO(data))
        self.found: set[tuple[str, str]] = set()

    def find_class(self, module, name):
        self.found.add((module, name))
        return super().find_class(module, name)


@pytest.mark.parametrize("features", [EmailFeatures, SeedFeatures])
def test_a_pickled_preprocessor_names_only_the_public_package(features):
    """Saved bundles refer to our classes as ``core.features.X``, so the modules inside may move."""
    unpickler = _RecordingUnpickler(pickle.dumps(features().fit(HISTORY)))
    unpickler.load()
    ours = {(module, name) for module, name in unpickler.found if module.split(".")[0] == "core"}
    assert ours == {("core.features", features.__name__)}


# Text that stresses the vectorized text kernels: every script width in UTF-8 (1-4 bytes),
# Unicode spaces and digits, combining marks, a lone surrogate, empty and missing values.
_HOSTILE_TEXTS = [
    "",
    " ",
    "a",
    "ab",
    "Hello WORLD 123",
    "  two  spaces ",
    "İstanbul ẞ straße",
    "emoji 😀😀 x",
    "日本語テキスト 42",
    "x\u00a0y\u2003z\u3000w",
    "tab\tsep\nline\x0bvt",
    "ЗАГЛАВНЫЕ буквы ١٢٣ 𝟘𝟙",
    "$$$ FREE €€ £ !!!",
    "e\u0301 combining",
    "lone \udcff surrogate",
    None,
]


def _random_texts(n: int, seed: int) -> list:
    rng = np.random.default_rng(seed)
    alphabet = list("abcXYZ019 !$€£ü١𝟘\t\n日本\u00a0\u2003éß\u0301") + ["\U0001f600", "İ"]
    return _HOSTILE_TEXTS + ["".join(rng.choice(alphabet, size=rng.integers(0, 40))) for _ in range(n)]


def test_subject_ngrams_equal_scikit_learns_hashing_vectorizer():
    # Saved models index their 3-gram frequencies by these hashes: the NumPy kernel must give
    # scikit-learn's HashingVectorizer's matrix exactly, or old bundles would read other grams.
    from sklearn.feature_extraction.text import HashingVectorizer

    from core.features.parsing import NGRAM_FEATURES, subject_ngrams

    texts = pd.Series(_random_texts(3000, seed=1), dtype=object)
    texts = texts.where(~texts.str.contains("\udcff", regex=False, na=False), "surrogate")  # sklearn can't encode it
    reference = HashingVectorizer(
        analyzer="char_wb",
        ngram_range=(3, 3),
        n_features=NGRAM_FEATURES,
        binary=True,
        alternate_sign=False,
        norm=None,
    ).transform(texts.fillna("").astype(str))
    reference.sort_indices()
    grams = subject_ngrams(texts)
    assert grams.shape == reference.shape
    assert np.array_equal(grams.indptr, reference.indptr)
    assert np.array_equal(grams.indices, reference.indices)
    assert np.array_equal(grams.data, reference.data)
    lone = subject_ngrams(pd.Series(["lone \udcff surrogate"], dtype=object))
    assert lone.nnz == 4 + 1 + 9  # a 3-gram per letter of each word, and no encoding error


def test_text_shape_counts_equal_pythons_regular_expressions():
    from core.features.parsing import REPLY_PREFIX
    from core.features.signals import digit_share, subject_shape

    texts = pd.Series([t if t is not None else "" for t in _random_texts(2000, seed=2)], dtype=object)
    letters = texts.str.count(r"[A-Za-z]").to_numpy(float)
    length = texts.str.len().to_numpy(float)
    expected = pd.DataFrame(
        {
            "subject_length": length,
            "subject_caps": texts.str.count(r"[A-Z]").to_numpy(float) / np.maximum(letters, 1),
            "subject_digits": texts.str.count(r"\d").to_numpy(float) / np.maximum(length, 1),
            "subject_non_ascii": texts.str.count(r"[^\x00-\x7f]").to_numpy(float) / np.maximum(length, 1),
            "subject_marks": texts.str.count(r"[!$€£]").to_numpy(float),
            "subject_reply": texts.str.contains(REPLY_PREFIX).to_numpy(float),
        }
    )
    pd.testing.assert_frame_equal(subject_shape(texts), expected)
    np.testing.assert_array_equal(digit_share(texts), texts.str.count(r"\d").to_numpy(float) / np.maximum(length, 1))


def test_a_burst_a_quiet_training_log_never_showed_is_graded_by_its_size():
    """HISTORY never shows two mails from one sender within five minutes, nor more than one
    recipient an hour: a burst of 2 is unusual, one of 26 far more so; neither is sent to the
    clip limit the way a never-seen flag is."""
    pre = EmailFeatures().fit(HISTORY)
    columns = list(pre.feature_names_out_)
    burst, fanout = columns.index("burst_5min"), columns.index("fanout_1h")
    assert pre.scaler_.var_[burst] == 0 and pre.scaler_.var_[fanout] == 0

    def run(size):
        return pre.transform(
            _frame([("bob@corp.com", "alice@corp.com", "Budget", f"2026-11-03T09:00:{i:02d}Z") for i in range(size)])
        )

    small, large = run(2)[0], run(26)[0]
    assert 0 < small[burst] < large[burst] < pre.clip
    assert 0 < small[fanout] < large[fanout] < pre.clip
    # A never-seen flag still goes straight to the limit.
    lookalike = columns.index("sender_domain_lookalike")
    assert pre.scaler_.var_[lookalike] == 0 and pre.scaler_.scale_[lookalike] == 1 / pre.clip


def test_pair_lookups_give_the_learned_string_tables_counts():
    """Scoring looks pairs up by integer codes; the counts must be the string table's, also for
    a sender whose text holds the key separator and for hours (integers in, text in the table)."""
    from core.features.counting import PAIR_SEPARATOR, PairLookup, pair_counts, pair_table

    left = pd.Series(["<>a\x1fb", "alice@corp.com", "alice@corp.com", "<>a", "bob@x.com", "", "日本@x.jp"])
    right = pd.Series(["c@d.com", "bob@corp.com", "carol@corp.com", "c@d.com", "bob@corp.com", "", "z@y.jp"])
    table = pair_table(left, right)
    assert (left[0] + PAIR_SEPARATOR + right[0]) in table.index
    scored_left = pd.Series(
        ["<>a\x1fb", "<>a", "alice@corp.com", "alice@corp.com", "new@x.com", "", "日本@x.jp", "bob@x.com"]
    )
    scored_right = pd.Series(["c@d.com", "c@d.com", "bob@corp.com", "dave@corp.com", "bob@corp.com", "", "z@y.jp", "x"])
    expected = [table.get(f"{a}{PAIR_SEPARATOR}{b}", 0) for a, b in zip(scored_left, scored_right, strict=True)]
    np.testing.assert_array_equal(pair_counts(scored_left, scored_right, table), expected)
    assert list(expected) == [1, 1, 1, 0, 0, 1, 1, 0]

    hours = pair_table(left, np.array([9, 9, 10, 23, 0, 9, 9]))
    lookup = PairLookup(hours)
    np.testing.assert_array_equal(lookup.counts_of(pd.Series(["alice@corp.com"] * 3), np.array([9, 10, 11])), [1, 1, 0])
    empty = PairLookup(pair_table(left.iloc[:0], right.iloc[:0]))
    np.testing.assert_array_equal(empty.counts_of(left, right), np.zeros(len(left)))


def test_pair_lookups_are_never_saved_with_the_preprocessor(demo_log):
    """Pair lookups are built on first use in each process (fitting, scoring) and kept there,
    never pickled into a bundle: a saved preprocessor is its learned tables and nothing else."""
    frame = demo_log.frame[demo_log.scorable]
    half = len(frame) // 2
    pre = EmailFeatures().fit(frame.iloc[:half])
    expected = pre.transform(frame.iloc[half:])
    assert pre.__dict__.get("_pair_lookups")
    saved = pickle.dumps(pre)
    assert b"_pair_lookups" not in saved and b"PairLookup" not in saved
    assert pre.__dict__.get("_pair_lookups")  # still kept for the next chunk
    np.testing.assert_array_equal(pickle.loads(saved).transform(frame.iloc[half:]), expected)
    # Refitted on other mail, the same object looks pairs up in its new tables, not the old ones.
    refitted = pre.fit(frame.iloc[half:]).describe(frame.iloc[half:])
    np.testing.assert_array_equal(refitted, EmailFeatures().fit(frame.iloc[half:]).describe(frame.iloc[half:]))


def test_seed_time_reason_of_a_missing_time_is_empty_not_an_error():
    pre = SeedFeatures()
    described = pd.DataFrame({"unix_time": [1.0, 0.0]}, index=[5, 7])
    frame = pd.DataFrame({TIME: pd.to_datetime(["2026-12-01T10:00Z", None], utc=True)}, index=[5, 7])
    reasons = pre.reasons("unix_time", described, frame)
    assert list(reasons.index) == [5, 7]
    assert reasons[5] == "sent 2026-12-01 10:00 UTC, outside the training period" and pd.isna(reasons[7])
    assert list(pre.reasons("unix_time", described.iloc[[1]], frame, np.array([1])).index) == [7]
