"""``SeedFeatures``, the report's recipe kept faithful for comparison: UUID dropped; Recipient,
Sender and Subject label-encoded with one encoder per column; Time Processed as Unix seconds;
StandardScaler."""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.preprocessing import OrdinalEncoder, StandardScaler
from sklearn.utils.validation import check_is_fitted

from core.schema import RECIPIENT, SENDER, SUBJECT, TIME

UNSEEN_CODE = -1  # reserved label code for values never seen in training
_TEXT_COLUMNS = (RECIPIENT, SENDER, SUBJECT)


class SeedFeatures(TransformerMixin, BaseEstimator):
    """The report's recipe: one ordinal encoder per text column, Unix time, StandardScaler.

    Learned attributes: ``encoders_`` (dict column -> fitted ``OrdinalEncoder``), ``scaler_``,
    ``time_range_`` (first and last training time, for explanations).
    Values never seen in training get the reserved code ``-1``.
    """

    # Bundles pickle this class by its module path: the public package, so the modules
    # inside it may move without breaking a saved model.
    __module__ = "core.features"

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
            for column in _TEXT_COLUMNS
        }
        unix = _unix_seconds(X[TIME])
        self.time_range_ = (float(unix.min()), float(unix.max()))
        self.scaler_ = StandardScaler().fit(self._encode(X))
        return self

    def transform(self, X: pd.DataFrame) -> np.ndarray:
        check_is_fitted(self, "scaler_")
        return self.scaler_.transform(self._encode(X)).astype(np.float32)

    def _encode(self, X: pd.DataFrame) -> np.ndarray:
        codes = [self.encoders_[c].transform(X[[c]].astype(str))[:, 0] for c in _TEXT_COLUMNS]
        return np.column_stack([*codes, _unix_seconds(X[TIME])])

    def get_feature_names_out(self, input_features=None):
        return np.array(self.feature_names_out_, dtype=object)

    def describe(self, X: pd.DataFrame) -> pd.DataFrame:
        """Per row and feature: True where the value is outside what training saw (a label
        never seen, a time outside the training period)."""
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
        described = self.describe(X) if described is None else described
        return pd.DataFrame(
            {
                SENDER: described["sender_code"],
                RECIPIENT: described["recipient_code"],
                SUBJECT: described["subject_code"],
            },
            index=X.index,
        )

    def reasons(
        self, feature: str, described: pd.DataFrame, frame: pd.DataFrame, rows: np.ndarray | None = None
    ) -> pd.Series:
        """Short reasons for rows whose top feature is ``feature`` (vectorized)."""
        is_new = described[feature].to_numpy(bool)
        if feature == "unix_time":
            times = frame[TIME] if rows is None else frame[TIME].iloc[rows]
            when = times.dt.strftime("%Y-%m-%d %H:%M UTC").set_axis(described.index)
            return pd.Series(
                np.where(is_new, "sent " + when + ", outside the training period", "sent " + when + ", unusual time"),
                index=described.index,
                dtype=object,
            )
        what = feature.split("_")[0]
        return pd.Series(
            np.where(is_new, f"{what} never seen in training", f"{what} unusual for the model"),
            index=described.index,
            dtype=object,
        )


def _unix_seconds(times: pd.Series) -> np.ndarray:
    return times.astype("datetime64[us, UTC]").astype("int64").to_numpy() / 1e6
