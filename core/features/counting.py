"""Count tables: learned in ``fit`` (how often each value or pair occurred in training) and
looked up at scoring, plus counts within the file being scored (time windows) and the
reduction of per-recipient values back to one value per row.

Lookups go once per distinct value, never per row: a log repeats its senders and pairs many
times over, and ``reindex`` on the distinct values is ten times faster than ``Series.map``
on a million Arrow strings.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from core.features.parsing import Factors, factorize

# Joins the two halves of a pair key; never part of an address, name or hour.
PAIR_SEPARATOR = "\x1f"


def value_counts(factors: Factors) -> pd.Series:
    """Learned counts of a factorized column: how often each distinct value occurs."""
    counts = np.bincount(factors.codes, minlength=len(factors.values))
    return pd.Series(counts, index=pd.Index(factors.values, dtype=object))[counts > 0]


def counts_in(values, table: pd.Series) -> np.ndarray:
    """How often each value (a Series, an array or ``Factors``) occurs in a learned table (0 for unseen)."""
    codes, distinct = factorize(values)
    counts = table.reindex(pd.Index(distinct, dtype=object)).fillna(0).to_numpy(dtype=np.float64)
    return np.where(codes >= 0, counts[np.maximum(codes, 0)], 0.0) if len(counts) else np.zeros(len(codes))


def _pair_keys(left, right) -> tuple[np.ndarray, pd.Index]:
    """(codes, keys): ``left + PAIR_SEPARATOR + right`` per row as codes into the distinct keys,
    each distinct pair's string built once."""
    left, right = factorize(left), factorize(right)
    width = len(right.values) + 1
    codes, distinct = pd.factorize(left.codes.astype(np.int64) * width + right.codes)
    left_part = pd.Series(left.values[distinct // width] if len(distinct) else [], dtype="str")
    right_part = pd.Series(right.values[distinct % width] if len(distinct) else [], dtype="str")
    return codes, pd.Index(left_part + PAIR_SEPARATOR + right_part)


def pair_table(left, right, rows: np.ndarray | None = None) -> pd.Series:
    """Learned pair counts: how often each (left, right) pair occurs (only ``rows`` if given)."""
    codes, keys = _pair_keys(left, right)
    counts = np.bincount(codes if rows is None else codes[rows], minlength=len(keys))
    return pd.Series(counts, index=keys)[counts > 0]


class PairLookup:
    """A learned pair table (``pair_table``) for lookups: each half's distinct values indexed
    once, the pairs as integer keys, so scoring looks up a pair by two integers instead of
    building and hashing ``left + PAIR_SEPARATOR + right`` for every distinct pair of a chunk.

    The right halves (addresses, domains, hours, display names) never hold the separator, so
    a key splits at its last one into exactly the pair it was built from.
    """

    def __init__(self, table: pd.Series):
        halves = pd.Series(table.index, dtype="str").str.rpartition(PAIR_SEPARATOR).reindex(columns=[0, 2])
        left_codes, self.left = pd.factorize(halves[0])
        right_codes, self.right = pd.factorize(halves[2])
        self.width = len(self.right) + 1
        self.keys = pd.Index(left_codes.astype(np.int64) * self.width + right_codes)
        self.counts = table.to_numpy(dtype=np.float64)

    def counts_of(self, left, right) -> np.ndarray:
        """How often each (left, right) pair occurs in the table (0 for unseen)."""
        left, right = factorize(left), factorize(right)
        width = len(right.values) + 1
        codes, distinct = pd.factorize(left.codes.astype(np.int64) * width + right.codes)
        # Each distinct pair's halves as codes into the table's halves (-1: not in the table).
        learned_left = self.left.get_indexer(pd.Series(left.values, dtype="str"))[distinct // width]
        learned_right = self.right.get_indexer(pd.Series(right.values, dtype="str"))[distinct % width]
        both = (learned_left >= 0) & (learned_right >= 0)
        at = self.keys.get_indexer(np.where(both, learned_left * self.width + learned_right, -1))
        counts = np.where(at >= 0, self.counts[np.maximum(at, 0)], 0.0) if len(self.counts) else np.zeros(len(at))
        return counts[codes] if len(counts) else np.zeros(len(codes))


def pair_counts(left, right, table: pd.Series | PairLookup) -> np.ndarray:
    """How often each (left, right) pair occurs in a learned pair table (0 for unseen)."""
    return (table if isinstance(table, PairLookup) else PairLookup(table)).counts_of(left, right)


def right_totals(table: pd.Series) -> pd.Series:
    """A pair table summed over its left halves: the count of each right-hand value."""
    return table.groupby(table.index.str.rsplit(PAIR_SEPARATOR, n=1).str[-1]).sum()


def window_sums(keys: pd.Series, times: pd.Series, sums: list[tuple[np.ndarray, float]]) -> list[np.ndarray]:
    """Per (weights, window) pair, for each row: the sum of ``weights`` over rows with the same
    key within ±window/2 seconds. The rows are factorized and sorted once for all pairs."""
    n = len(keys)
    if n == 0:
        return [np.zeros(0) for _ in sums]
    seconds = times.astype("int64").to_numpy() / 1e6
    codes = pd.factorize(keys)[0]
    order = np.lexsort((seconds, codes))
    key_sorted, t_sorted = codes[order], seconds[order]
    since_first, span = t_sorted - t_sorted.min(), t_sorted.max() - t_sorted.min()
    results = []
    for weights, window in sums:
        # Offsetting each key by a large gap turns "same key within the window" into one searchsorted.
        position = key_sorted * (4 * window + span + 1) + since_first
        cumulative = np.concatenate([[0.0], np.cumsum(weights[order])])
        lo = np.searchsorted(position, position - window / 2, side="left")
        hi = np.searchsorted(position, position + window / 2, side="right")
        result = np.empty(n)
        result[order] = cumulative[hi] - cumulative[lo]
        results.append(result)
    return results


def per_row(values: np.ndarray, rows: np.ndarray, n: int, how: str) -> np.ndarray:
    """Per-entry ``values`` (entry i belongs to row ``rows[i]``) reduced to one value per row
    with ``how`` ("min", "max", "sum"); 0 for a row with no entry."""
    return pd.Series(values).groupby(rows).agg(how).reindex(range(n), fill_value=0).to_numpy()
