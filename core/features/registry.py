"""How a feature is declared: ``Feature`` (name, field, kind, computation, reason), the kinds
a feature may have and the model columns each kind becomes, and ``ReasonText``, what a
reason is written from.

The email feature set's declarations are in ``core.features.catalog``; everything the
estimator needs per feature (model columns, their fields, reasons) is derived from them.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from core.features.parsing import domain_of, sender_addresses
from core.schema import SENDER, TIME

if TYPE_CHECKING:
    from core.features.email import EmailFeatures
    from core.features.measures import Measures

# How a feature's readable value enters the model.
COUNT = "count"  # log1p: 0, 1, 10 and 1000 occurrences spread evenly
LOG = "log"  # already a logarithm: as is
RATIO = "ratio"  # a share or a 0/1 flag: as is
HOUR = "hour"  # hour of day: sine and cosine, so 23:00 sits next to 00:00
WEEKDAY = "weekday"  # day of week (0 = Monday): sine and cosine
_PERIODS = {HOUR: 24.0, WEEKDAY: 7.0}
KINDS = (COUNT, LOG, RATIO, HOUR, WEEKDAY)

# The smallest change per feature kind that counts as one standard unit, so a feature almost
# constant in training (bursts: nearly always 0) doesn't turn 5 mails and 50 mails alike into
# the clip limit: half an e-fold of a count, a tenth of a share, a tenth of the unit circle.
SCALE_FLOOR = {COUNT: 0.5, LOG: 0.5, RATIO: 0.1, HOUR: 0.1, WEEKDAY: 0.1}


def model_column_names(name: str, kind: str) -> tuple[str, ...]:
    """The model columns of a feature: ``name``, or ``name_sin`` and ``name_cos`` for a cycle."""
    return (f"{name}_sin", f"{name}_cos") if kind in _PERIODS else (name,)


def encode(kind: str, values: np.ndarray) -> tuple[np.ndarray, ...]:
    """A feature's readable values as its model columns (see ``model_column_names``)."""
    if kind in _PERIODS:
        angle = 2 * np.pi * values / _PERIODS[kind]
        return np.sin(angle), np.cos(angle)
    if kind == COUNT:
        return (np.log1p(values),)
    return (values,)


@dataclass(frozen=True)
class Feature:
    """One feature of a message, declared once.

    name
        The readable value's name in ``describe()`` and the model column's name (with
        ``_sin``/``_cos`` for a cycle).
    field
        The log field it speaks about (``SENDER``, ``RECIPIENT``, ``SUBJECT``, ``TIME``):
        errors add up per field and the top field names a flagged row's main reason.
    kind
        How the value enters the model, one of ``KINDS``.
    compute
        ``Measures -> array``: the readable value per row (a count, a share, an hour),
        negative values are clipped to 0 afterwards.
    reason
        ``ReasonText -> Series of str``: why a row whose top feature this is stands out.
    grows_with_traffic
        True for a count of the sender's own mail within a time window (bursts, fan-out):
        everyday mail in a busy log, possibly never seen in a quiet one. If it never varied
        in training, a change is measured in its kind's smallest meaningful unit
        (``SCALE_FLOOR``), not sent to the clip limit as a never-seen flag is.
    """

    name: str
    field: str
    kind: str
    compute: Callable[[Measures], np.ndarray]
    reason: Callable[[ReasonText], pd.Series]
    grows_with_traffic: bool = False

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ValueError(f"Feature {self.name!r}: kind must be one of {', '.join(KINDS)}, got {self.kind!r}.")

    @property
    def columns(self) -> tuple[str, ...]:
        return model_column_names(self.name, self.kind)


def by_name(features: tuple[Feature, ...]) -> dict[str, Feature]:
    """``{name: feature}``, refusing two features of one name."""
    found: dict[str, Feature] = {}
    for feature in features:
        if feature.name in found:
            raise ValueError(f"Two features are named {feature.name!r}: names must be unique.")
        found[feature.name] = feature
    return found


class ReasonText:
    """What a reason is written from, for the rows whose top feature is one ``Feature``.

    ``value`` is that feature's readable value (indexed like ``described``); the text pieces
    below are computed only if a reason uses them. The messages are ``frame``'s rows at
    positions ``rows`` (all of them when None), taken only when a reason reads the sender or
    the time: most reasons never do, and taking text rows costs more than writing the reason.
    """

    def __init__(
        self,
        name: str,
        described: pd.DataFrame,
        frame: pd.DataFrame,
        preprocessor: EmailFeatures,
        rows: np.ndarray | None = None,
    ):
        self.described, self.preprocessor = described, preprocessor
        self._messages, self._rows = frame, rows
        self.index = described.index
        self.value = self.other(name)

    @functools.cached_property
    def frame(self) -> pd.DataFrame:
        """The messages these reasons are for (sender, time), indexed like ``described``."""
        frame = self._messages if self._rows is None else self._messages.iloc[self._rows]
        return frame.set_axis(self.index)

    def other(self, name: str) -> pd.Series:
        """Another feature's readable value for these rows (``recipient_n`` is always there)."""
        return self.described[name]

    def pick(self, condition, if_true, if_false) -> pd.Series:
        """Per row, ``if_true`` where ``condition`` holds, else ``if_false`` (texts or Series)."""
        return pd.Series(np.where(condition, if_true, if_false), index=self.index, dtype=object)

    def always(self, text: str) -> pd.Series:
        return pd.Series(text, index=self.index, dtype=object)

    @functools.cached_property
    def count(self) -> pd.Series:
        """The value as a whole number."""
        return whole(self.value)

    @functools.cached_property
    def percent(self) -> pd.Series:
        """The value (a share) in whole percent, without the sign."""
        return whole(self.value * 100)

    @functools.cached_property
    def sender(self) -> pd.Series:
        return sender_addresses(self.frame[SENDER])

    @functools.cached_property
    def domain(self) -> pd.Series:
        return domain_of(self.sender).replace("", "(no domain)")

    @functools.cached_property
    def hhmm(self) -> pd.Series:
        return self.frame[TIME].dt.strftime("%H:%M")


def whole(values: pd.Series) -> pd.Series:
    """Values rounded to whole numbers, as text."""
    return values.round().astype("int64").astype(str)
