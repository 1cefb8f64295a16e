"""``FeatureSet``: what scoring and the model need from a feature set, and
``make_preprocessor``, which makes one by name."""

from __future__ import annotations

from typing import Protocol, Self, runtime_checkable

import numpy as np
import pandas as pd

from core.errors import DataError
from core.features.email import EmailFeatures
from core.features.seed import SeedFeatures

FEATURE_SETS = ("email", "seed")
DEFAULT_FEATURE_SET = "email"


@runtime_checkable
class FeatureSet(Protocol):
    """A scikit-learn transformer from log rows to model inputs that can say, in email terms,
    what its columns mean. ``EmailFeatures`` and ``SeedFeatures`` are interchangeable
    through it.

    Per model column (learned in ``fit``, or fixed by the class): ``feature_names_out_``
    its name, ``feature_fields_`` the log field it speaks about (errors add up per field),
    ``feature_sources_`` the ``describe()`` column it comes from.
    """

    feature_names_out_: tuple[str, ...]
    feature_fields_: tuple[str, ...]
    feature_sources_: tuple[str, ...]

    def fit(self, X: pd.DataFrame, y=None) -> Self: ...

    def fit_transform(self, X: pd.DataFrame, y=None) -> np.ndarray:
        """Fit, and return the training rows' model inputs."""
        ...

    def transform(self, X: pd.DataFrame) -> np.ndarray:
        """Model inputs, one row per row of ``X`` and one column per ``feature_names_out_``."""
        ...

    def describe(self, X: pd.DataFrame) -> pd.DataFrame:
        """Readable per-row values behind each feature source (what reasons are written from)."""
        ...

    def transform_and_describe(self, X: pd.DataFrame) -> tuple[np.ndarray, pd.DataFrame]:
        """``transform(X)`` and ``describe(X)`` together."""
        ...

    def add_context(self, X: pd.DataFrame) -> pd.DataFrame:
        """``X`` with its within-file behaviour stored, computed over all of ``X`` (call on a
        whole file before splitting or chunking it)."""
        ...

    def new_values(self, X: pd.DataFrame, *, described: pd.DataFrame | None = None) -> pd.DataFrame:
        """Per field (sender, recipient, subject): True where the value never occurred in training."""
        ...

    def reasons(
        self, feature: str, described: pd.DataFrame, frame: pd.DataFrame, rows: np.ndarray | None = None
    ) -> pd.Series:
        """Short reasons, indexed like ``described``, for the messages of ``frame`` at positions
        ``rows`` (all when None) whose top feature source is ``feature``."""
        ...

    def get_feature_names_out(self, input_features=None) -> np.ndarray: ...


def make_preprocessor(feature_set: str, **params) -> FeatureSet:
    """A fresh, unfitted preprocessor for ``"email"`` (default) or ``"seed"``."""
    if feature_set == "email":
        return EmailFeatures(**params)
    if feature_set == "seed":
        return SeedFeatures(**params)
    raise DataError(f"Unknown feature set {feature_set!r}: expected one of {', '.join(FEATURE_SETS)}.")
