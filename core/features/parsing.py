"""Reading the fields of a log: addresses, display names, domains, subjects, times.

Logs repeat the same senders, recipient lists and subjects many times over, so every parser
here works on each distinct value once and spreads the result back to the rows
(``Factors``, ``per_distinct``). ``ParsedLog`` holds the parsed parts of one log, each
parsed on first use.
"""

from __future__ import annotations

import functools
import re
from typing import NamedTuple

import numpy as np
import pandas as pd

from core.schema import RECIPIENT, SENDER, SUBJECT, TIME

ADDRESS = re.compile(r"[^\s<>\"',;:()\[\]]+@[^\s<>\"',;:()\[\]]+")
# Every character Python's ``\s`` matches in text (``str.isspace``), for the same pattern in
# Arrow's RE2, whose ``\s`` is ASCII only (a test checks the list against all of Unicode).
UNICODE_SPACES = (
    "\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f \x85\xa0\u1680"
    + "".join(map(chr, range(0x2000, 0x200B)))
    + ("\u2028\u2029\u202f\u205f\u3000")
)
_NOT_IN_ADDRESS = "".join(f"\\x{{{ord(c):x}}}" for c in UNICODE_SPACES) + r"<>\"',;:()\[\]"
ARROW_ADDRESS = f"[^{_NOT_IN_ADDRESS}]+@[^{_NOT_IN_ADDRESS}]+"
REPLY_PREFIX = re.compile(r"^\s*(?:re|fw|fwd|aw|wg|tr|sv|vs|antw)\s*(?:\[\d+\])?\s*:", re.IGNORECASE)
TOKEN = re.compile(r"[^\W_]{2,}")


# --------------------------------------------------------------------------- one field at a time


def sender_addresses(senders: pd.Series) -> pd.Series:
    """The sender's e-mail address, lower case ("" when the field holds none)."""
    found = senders.astype(str).str.extract(ADDRESS.pattern.join("()"), expand=False)
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
    return recipients.astype(str).str.lower().str.findall(ADDRESS)


def recipient_counts(recipients: pd.Series) -> np.ndarray:
    """Per row, how many addresses ``recipient_lists`` finds (as floats), counted by Arrow's
    regular expressions without building the lists (~4x faster); case can't change a count."""
    import pyarrow as pa
    import pyarrow.compute as pc

    text = pa.array(recipients.astype(str), type=pa.large_string(), from_pandas=True)
    return pc.count_substring_regex(text, ARROW_ADDRESS).to_numpy(zero_copy_only=False).astype(float)


def domain_of(addresses: pd.Series) -> pd.Series:
    """The part after the last ``@`` ("" for no address)."""
    return addresses.str.replace(r"^[^@]*$|^.*@", "", regex=True).str.strip(".>")


def normalized_subject(subjects: pd.Series) -> pd.Series:
    """Subject without reply/forward prefixes, case and surrounding space."""
    text = subjects.astype(str)
    for _ in range(3):  # "Re: Fwd: Re:" chains
        text = text.str.replace(REPLY_PREFIX, "", regex=True)
    return text.str.strip().str.lower()


NGRAM_FEATURES = 2**18  # hashed 3-gram space: a saved model's ``ngram_df_`` is indexed by it


def subject_ngrams(subject_keys: pd.Series):
    """Binary bag of hashed character 3-grams (within words) per subject, CSR with sorted indices.

    Exactly scikit-learn's ``HashingVectorizer(analyzer="char_wb", ngram_range=(3, 3),
    n_features=2**18, binary=True, alternate_sign=False, norm=None)`` — the 3-grams of each
    space-padded word, MurmurHash3 of their UTF-8 bytes — computed for all subjects at once with
    NumPy instead of a Python loop per subject (~10x faster; a test keeps the two equal).
    """
    from scipy import sparse

    texts = [value.lower() if isinstance(value, str) else "" for value in subject_keys.to_numpy(dtype=object)]
    text = Codepoints(pd.Series(texts, dtype=object))
    in_word = ~_unicode_table("isspace")[text.points]
    word_start = in_word & ~np.concatenate([[False], in_word[:-1]])
    word_start[1:] |= in_word[1:] & (text.text_of[1:] != text.text_of[:-1])
    # Each word padded with a space either side, one after the other: " w1  w2 ".
    letters, subject_of = text.points[in_word], text.text_of[in_word]
    word_of = np.cumsum(word_start)[in_word] - 1
    position = np.arange(len(letters)) + 2 * word_of + 1
    padded = np.full(len(letters) + 2 * (word_of[-1] + 1 if len(word_of) else 0) + 2, ord(" "), dtype=np.uint32)
    padded[position] = letters
    start = position - 1  # one 3-gram starts before each letter of a padded word
    first, second, third = padded[start], padded[start + 1], padded[start + 2]
    # Most 3-grams are three ASCII bytes: MurmurHash3 of 3 bytes is one tail step and the finish.
    ascii = (first | second | third) < 0x80
    hashed = np.empty(len(start), dtype=np.uint32)
    hashed[ascii] = _murmur3_finish(_murmur3_tail(first[ascii] | (second[ascii] << 8) | (third[ascii] << 16)), 3)
    hashed[~ascii] = _murmur3_utf8(first[~ascii], second[~ascii], third[~ascii])
    signed = hashed.view(np.int32).astype(np.int64)
    index = np.where(
        signed == -(2**31), (2**31 - 1 - (NGRAM_FEATURES - 1)) % NGRAM_FEATURES, np.abs(signed) % NGRAM_FEATURES
    )
    grams = sparse.csr_matrix(
        (np.ones(len(index)), (subject_of, index)), shape=(len(texts), NGRAM_FEATURES), dtype=np.float64
    )
    grams.sum_duplicates()
    grams.data[:] = 1.0
    grams.sort_indices()
    return grams


def _utf8(points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """UTF-8 bytes (n x 4, left-aligned) and byte length of each code point (surrogates as 3 bytes)."""
    points = points.astype(np.uint32)
    length = 1 + (points >= 0x80) + (points >= 0x800) + (points >= 0x10000)
    out = np.zeros((len(points), 4), dtype=np.uint32)
    lead = np.array([0, 0, 0xC0, 0xE0, 0xF0], dtype=np.uint32)[length]
    shift = 6 * (length - 1).astype(np.uint32)
    out[:, 0] = np.where(length == 1, points, lead | (points >> shift))
    for byte in (1, 2, 3):
        shift = 6 * (length - 1 - byte).clip(min=0).astype(np.uint32)
        out[:, byte] = np.where(length > byte, 0x80 | ((points >> shift) & 0x3F), 0)
    return out, length


def _murmur3_utf8(*characters: np.ndarray) -> np.ndarray:
    """MurmurHash3 (x86, 32-bit, seed 0) of the UTF-8 bytes of each row's characters joined."""
    rows = len(characters[0])
    buffer = np.zeros((rows, 4 * len(characters) + 4), dtype=np.uint32)
    size = np.zeros(rows, dtype=np.int64)
    line = np.arange(rows)
    for points in characters:
        encoded, length = _utf8(points)
        for byte in range(4):
            has = length > byte
            buffer[line[has], (size + byte)[has]] = encoded[has, byte]
        size += length

    def word(at):
        return (
            buffer[line, at] | (buffer[line, at + 1] << 8) | (buffer[line, at + 2] << 16) | (buffer[line, at + 3] << 24)
        )

    h = np.zeros(rows, dtype=np.uint32)
    blocks = size // 4
    for block in range(len(characters)):
        mixed = _rotl(h ^ _murmur3_tail(word(np.full(rows, 4 * block))), 13) * np.uint32(5) + np.uint32(0xE6546B64)
        h = np.where(blocks > block, mixed, h)
    tail, left = 4 * blocks, size % 4
    k = np.zeros(rows, dtype=np.uint32)
    for byte in (2, 1, 0):
        k ^= np.where(left > byte, buffer[line, tail + byte] << np.uint32(8 * byte), 0).astype(np.uint32)
    return _murmur3_finish(np.where(left > 0, h ^ _murmur3_tail(k), h), size)


def _rotl(x: np.ndarray, r: int) -> np.ndarray:
    return (x << np.uint32(r)) | (x >> np.uint32(32 - r))


def _murmur3_tail(k: np.ndarray) -> np.ndarray:
    """MurmurHash3's scrambling of one 32-bit block (the state is xor-ed with it)."""
    return _rotl(k.astype(np.uint32) * np.uint32(0xCC9E2D51), 15) * np.uint32(0x1B873593)


def _murmur3_finish(h: np.ndarray, size) -> np.ndarray:
    """MurmurHash3's length step and final avalanche."""
    h = h ^ np.asarray(size).astype(np.uint32)
    h ^= h >> np.uint32(16)
    h *= np.uint32(0x85EBCA6B)
    h ^= h >> np.uint32(13)
    h *= np.uint32(0xC2B2AE35)
    h ^= h >> np.uint32(16)
    return h


class Codepoints:
    """Texts as one array of Unicode code points, so character classes are counted with NumPy
    for all texts at once instead of a regular expression per text.

    ``points`` holds every text's characters one after the other; ``lengths`` (per text, in
    characters, as Python's ``len``) says where each text ends.
    """

    def __init__(self, texts: pd.Series):
        values = [value if isinstance(value, str) else "" for value in texts.to_numpy(dtype=object)]
        # surrogatepass: a lone surrogate (undecodable input kept as is) is a character too.
        encoded = "".join(values).encode("utf-32-le", "surrogatepass")
        self.points = np.frombuffer(encoded, dtype=np.uint32)
        self.lengths = np.fromiter(map(len, values), dtype=np.int64, count=len(values))
        self.text_of = np.repeat(np.arange(len(values)), self.lengths)

    def count(self, where: np.ndarray) -> np.ndarray:
        """Per text, how many of its characters ``where`` (a mask over ``points``) marks."""
        return np.bincount(self.text_of, weights=where, minlength=len(self.lengths))

    def is_digit(self) -> np.ndarray:
        """Unicode decimal digits (category Nd, what ``\\d`` matches in Python's ``re``)."""
        return _unicode_table("isdecimal")[self.points]


@functools.cache
def _unicode_table(method: str) -> np.ndarray:
    """Per code point, ``chr(c).<method>()`` (``isdecimal``, ``isspace``): built once, 1.1 MB.

    NumPy's string functions over every code point at once (0.03 s; a loop over ``chr`` took
    0.6 s in every process and Spark worker). Code point 0 reads as NumPy's empty string, for
    which both methods are false, as for ``chr(0)``."""
    every_character = np.arange(0x110000, dtype=np.uint32).view("U1")  # both in native byte order
    return getattr(np.strings, method)(every_character)


# --------------------------------------------------------------------------- each distinct value once


class Factors(NamedTuple):
    """A text column as codes into its distinct values (each distinct value once)."""

    codes: np.ndarray  # per row, index into values
    values: np.ndarray  # object array of distinct strings

    def take(self, rows: np.ndarray) -> Factors:
        return Factors(self.codes[rows], self.values)

    def strings(self) -> pd.Series:
        return pd.Series(
            self.values[self.codes] if len(self.values) else np.array([""] * len(self.codes), dtype=object),
            dtype=object,
        )

    def map(self, parse) -> Factors:
        """``parse`` applied to each distinct value (results factorized again)."""
        codes, unique = pd.factorize(np.asarray(parse(pd.Series(self.values, dtype=object)), dtype=object))
        return Factors(codes[self.codes] if len(codes) else self.codes, np.asarray(unique, dtype=object))


def factorize(values) -> Factors:
    """``values`` (a Series, an array or already ``Factors``) as ``Factors``."""
    if isinstance(values, Factors):
        return values
    codes, unique = pd.factorize(values if isinstance(values, pd.Series) else np.asarray(values, dtype=object))
    return Factors(codes, np.asarray(unique, dtype=object))


def per_distinct(values: pd.Series, parse) -> pd.Series:
    """``parse`` applied to each distinct value once, spread back to every row."""
    codes, distinct = pd.factorize(values)
    parsed = parse(pd.Series(distinct, dtype=values.dtype)).to_numpy()
    return pd.Series(parsed[codes], index=values.index, dtype=object)


def per_distinct_frame(values: pd.Series, describe) -> pd.DataFrame:
    """``describe`` (a frame of per-value columns) computed once per distinct value."""
    codes, distinct = pd.factorize(values)
    return describe(pd.Series(distinct, dtype=object)).iloc[codes].reset_index(drop=True)


class Recipients(NamedTuple):
    """One entry per (row, recipient address); rows with no address get one "" entry."""

    row: np.ndarray
    address: Factors
    domain: Factors
    local: np.ndarray  # the address's part before "@"

    @property
    def present(self) -> np.ndarray:
        return (
            self.address.values[self.address.codes] != "" if len(self.address.values) else np.zeros(len(self.row), bool)
        )


def exploded_recipients(frame: pd.DataFrame) -> Recipients:
    """Each row's recipients, parsed once per distinct recipient list and per distinct address."""
    codes, distinct = pd.factorize(frame[RECIPIENT].astype(str))
    lists = recipient_lists(pd.Series(distinct, dtype=object))
    sizes = lists.str.len().clip(lower=1).to_numpy()
    address = factorize(lists.explode().fillna("").to_numpy(dtype=object))
    domain = address.map(domain_of)
    local = pd.Series(address.values, dtype=object).str.split("@", n=1).str[0].to_numpy(dtype=object)
    # Spread each distinct list back to every row that carries it.
    row_sizes = sizes[codes]
    rows = np.repeat(np.arange(len(frame)), row_sizes)
    first = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    within = np.arange(len(rows)) - np.repeat(np.cumsum(row_sizes) - row_sizes, row_sizes)
    picked = np.repeat(first[codes], row_sizes) + within
    return Recipients(
        rows, address.take(picked), domain.take(picked), local[address.codes[picked]] if len(picked) else local
    )


class DistinctSubjects:
    """The distinct normalized subjects of a log, with their words and character 3-grams
    computed lazily, once."""

    def __init__(self, keys: pd.Series):
        self.keys = keys

    @functools.cached_property
    def tokens(self) -> pd.DataFrame:
        """Long table (row = distinct subject, token), one line per distinct word."""
        tokens = self.keys.str.findall(TOKEN).explode().dropna().rename("token").to_frame()
        tokens["row"] = tokens.index.to_numpy()
        return tokens.drop_duplicates(["row", "token"]).reset_index(drop=True)

    @functools.cached_property
    def grams(self):
        return subject_ngrams(self.keys)


# --------------------------------------------------------------------------- a whole log


class ParsedLog:
    """The parts of a log the email features are computed from, each parsed on first use.

    Lazy, so the within-file context of a million rows parses only senders, subjects and
    times. Attributes named ``*_factors`` are ``Factors`` (codes into distinct values); the
    same name without the suffix is the per-row text.
    """

    def __init__(self, X: pd.DataFrame):
        frame = X.reset_index(drop=True)
        # read_log gives "" for an empty field; a hand-built frame may hold None/NaN, which
        # factorizing would send to another row's value.
        missing = [c for c in (RECIPIENT, SENDER, SUBJECT) if c in frame and frame[c].isna().any()]
        self.frame = frame.assign(**{c: frame[c].fillna("") for c in missing}) if missing else frame
        self.n = len(self.frame)

    # -- sender

    @functools.cached_property
    def sender_raw(self) -> pd.Series:
        """The sender field as written (display name and address)."""
        return self.frame[SENDER].astype(str)

    @functools.cached_property
    def sender_raw_factors(self) -> Factors:
        return factorize(self.sender_raw)

    @functools.cached_property
    def sender_factors(self) -> Factors:
        """Who sent each row (``sender_identities``)."""
        return self.sender_raw_factors.map(sender_identities)

    @functools.cached_property
    def sender(self) -> pd.Series:
        return self.sender_factors.strings()

    @functools.cached_property
    def sender_name_factors(self) -> Factors:
        """The sender's display name (``display_names``; "" for none)."""
        return self.sender_raw_factors.map(display_names)

    @functools.cached_property
    def sender_name(self) -> pd.Series:
        return self.sender_name_factors.strings()

    @functools.cached_property
    def sender_domain_factors(self) -> Factors:
        return self.sender_factors.map(domain_of)

    @functools.cached_property
    def sender_domain(self) -> pd.Series:
        return self.sender_domain_factors.strings()

    # -- recipients

    @functools.cached_property
    def recipients(self) -> Recipients:
        """One entry per (row, recipient address)."""
        return exploded_recipients(self.frame)

    @functools.cached_property
    def recipient_n(self) -> np.ndarray:
        """Number of recipient addresses per row (without exploding the lists)."""
        codes, distinct = pd.factorize(self.frame[RECIPIENT].astype(str))
        sizes = recipient_counts(pd.Series(distinct, dtype=object))
        return sizes[codes] if len(codes) else np.zeros(0)

    # -- subject

    @functools.cached_property
    def subject(self) -> pd.Series:
        """The subject as written."""
        return self.frame[SUBJECT].astype(str)

    @functools.cached_property
    def subject_key(self) -> pd.Series:
        """The subject without reply prefixes and case (``normalized_subject``)."""
        return per_distinct(self.subject, normalized_subject)

    @functools.cached_property
    def subject_key_factors(self) -> tuple[np.ndarray, np.ndarray]:
        """(codes, distinct keys) of ``subject_key``, as ``pandas.factorize`` gives them."""
        return pd.factorize(self.subject_key)

    @property
    def subject_codes(self) -> np.ndarray:
        """Per row, the index of its subject key in ``distinct_subjects``."""
        return self.subject_key_factors[0]

    @functools.cached_property
    def distinct_subjects(self) -> DistinctSubjects:
        return DistinctSubjects(pd.Series(self.subject_key_factors[1], dtype=object))

    # -- time and within-file context

    @functools.cached_property
    def times(self) -> pd.Series:
        return self.frame[TIME].astype("datetime64[us, UTC]")

    def stored_columns(self, columns: dict[str, str]) -> dict[str, np.ndarray] | None:
        """``{name: values}`` of the frame's ``columns`` (name -> column), None unless all are there."""
        if all(column in self.frame for column in columns.values()):
            return {name: self.frame[column].to_numpy(float) for name, column in columns.items()}
        return None
