"""The autoencoder detector: preprocessing + a dense Keras autoencoder + a fitted threshold.

Shaped like a PyOD detector: ``fit(frame)``, ``decision_function(frame)`` (reconstruction
error, higher = more anomalous), ``predict(frame, threshold=None)``; ``threshold_`` is fitted
once (a percentile of the held-out test errors) and never changed by a caller's threshold.

TensorFlow is imported when a model is built or loaded, not when this module is imported,
so the dashboard's first page and the CLI's ``--help`` stay fast.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator
from sklearn.model_selection import train_test_split
from sklearn.utils.validation import check_is_fitted

from core.errors import DataError
from core.features import DEFAULT_FEATURE_SET, make_preprocessor
from core.schema import FEATURE_FIELDS, TIME

MIN_TRAIN_ROWS = 20

# TensorFlow's C++ start-up chatter (CPU flags, tf.data attribute notes) means nothing to an
# analyst; keep it off the terminal unless the user asks for it.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
# Keras re-traces its predict function for each new input length (one per scored file);
# TensorFlow's Python logger calls that a warning, which is noise here.
logging.getLogger("tensorflow").setLevel(logging.ERROR)


@dataclass(frozen=True)
class EpochProgress:
    """What a training callback receives after every epoch."""

    epoch: int  # 1-based
    epochs: int
    loss: float
    val_loss: float | None
    elapsed: float  # seconds since training started


#: Called after each epoch; return True to stop training (the model so far is kept).
TrainingCallback = Callable[[EpochProgress], "bool | None"]


def build_autoencoder(n_features: int, hidden_units=(64, 32, 16), learning_rate: float = 1e-3):
    """Dense autoencoder: input → 64 → 32 → 16 → 32 → 64 → input, ReLU, linear output, Adam, MSE.

    The output is linear because standardized features are unbounded; a sigmoid could not
    reconstruct them.
    """
    import keras

    inputs = keras.Input(shape=(n_features,), name="features")
    x = inputs
    for i, units in enumerate(hidden_units):
        name = "latent" if i == len(hidden_units) - 1 else f"encoder_{i + 1}"
        x = keras.layers.Dense(units, activation="relu", name=name)(x)
    for i, units in enumerate(reversed(hidden_units[:-1])):
        x = keras.layers.Dense(units, activation="relu", name=f"decoder_{i + 1}")(x)
    outputs = keras.layers.Dense(n_features, activation="linear", name="reconstruction")(x)
    model = keras.Model(inputs, outputs, name="email_autoencoder")
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=learning_rate), loss="mse")
    return model


def _callback_adapter(callback: TrainingCallback | None, epochs: int):
    import keras

    class _Reporter(keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
            self.started = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            logs = logs or {}
            progress = EpochProgress(
                epoch=epoch + 1,
                epochs=epochs,
                loss=float(logs.get("loss", np.nan)),
                val_loss=float(logs["val_loss"]) if "val_loss" in logs else None,
                elapsed=time.perf_counter() - self.started,
            )
            if callback is not None and callback(progress):
                self.model.stop_training = True

    return _Reporter()


class AutoencoderDetector(BaseEstimator):
    """Email-log anomaly detector: rows the autoencoder reconstructs badly are anomalies.

    Parameters
    ----------
    feature_set : {"email", "seed"}, default="email"
        ``"email"``: mail-aware features (see :mod:`core.features`); ``"seed"``: the report's
        recipe (label codes + Unix time).
    hidden_units : tuple of int, default=(64, 32, 16)
        Encoder widths; the decoder mirrors them.
    epochs : int, default=50
    batch_size : int, default=1024
    learning_rate : float, default=3e-3
        Larger batches with a proportionally higher rate: same quality, ~2x faster.
    validation_split : float, default=0.1
        Share of the training rows held out for the validation loss curve.
    test_size : float, default=0.2
        Share of all rows held out; the threshold is a percentile of their errors.
    percentile : float, default=95.0
    early_stopping : bool, default=False
        Stop when the validation loss hasn't improved for ``patience`` epochs (best weights kept).
    patience : int, default=5
    seed : int, default=0
        Same data + same seed → the same errors on CPU.
    preprocessor_params : dict, optional
        Passed to the feature set's preprocessor (e.g. ``internal_domains``).

    Learned attributes
    ------------------
    preprocessor_, model_, threshold_, history_ (dict of per-epoch "loss"/"val_loss"),
    error_scale_ (per-feature squared error on the validation rows; errors are divided by it),
    test_errors_, n_train_rows_, n_test_rows_, epochs_run_, stopped_early_
    """

    def __init__(
        self,
        *,
        feature_set: str = DEFAULT_FEATURE_SET,
        hidden_units: tuple[int, ...] = (64, 32, 16),
        epochs: int = 50,
        batch_size: int = 1024,
        learning_rate: float = 3e-3,
        validation_split: float = 0.1,
        test_size: float = 0.2,
        percentile: float = 95.0,
        early_stopping: bool = False,
        patience: int = 5,
        seed: int = 0,
        preprocessor_params: dict | None = None,
    ):
        self.feature_set = feature_set
        self.hidden_units = hidden_units
        self.epochs = epochs
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.validation_split = validation_split
        self.test_size = test_size
        self.percentile = percentile
        self.early_stopping = early_stopping
        self.patience = patience
        self.seed = seed
        self.preprocessor_params = preprocessor_params

    # -- training -------------------------------------------------------------------------

    def fit(self, frame: pd.DataFrame, *, callback: TrainingCallback | None = None):
        """Train on the rows of a loaded log (rows without a parsed time are skipped).

        ``callback`` receives an :class:`EpochProgress` after every epoch and may return True
        to stop; the model trained so far is kept and a threshold is still fitted.
        """
        import keras
        import tensorflow as tf

        self._check_params()
        frame = frame[frame[TIME].notna()]
        if len(frame) < MIN_TRAIN_ROWS:
            raise DataError(
                f"Too few rows to train: {len(frame)} with a readable time, need at least "
                f"{MIN_TRAIN_ROWS}. Load a longer log."
            )
        keras.utils.set_random_seed(self.seed)
        tf.config.experimental.enable_op_determinism()

        preprocessor = make_preprocessor(self.feature_set, **(self.preprocessor_params or {}))
        frame = preprocessor.add_context(frame.reset_index(drop=True))
        train_rows, test_rows = train_test_split(
            np.arange(len(frame)), test_size=self.test_size, random_state=self.seed, shuffle=True
        )
        train_rows = np.sort(train_rows)
        X_train = preprocessor.fit_transform(frame.iloc[train_rows])
        X_test = preprocessor.transform(frame.iloc[np.sort(test_rows)])

        rng = np.random.default_rng(self.seed)
        n_val = int(round(self.validation_split * len(X_train)))
        order = rng.permutation(len(X_train))
        X_val, X_fit = X_train[order[:n_val]], X_train[order[n_val:]]

        model = build_autoencoder(X_train.shape[1], self.hidden_units, self.learning_rate)
        callbacks = [_callback_adapter(callback, self.epochs)]
        if self.early_stopping and n_val:
            callbacks.append(
                keras.callbacks.EarlyStopping(
                    monitor="val_loss", patience=self.patience, restore_best_weights=True
                )
            )
        history = model.fit(
            X_fit,
            X_fit,
            epochs=self.epochs,
            batch_size=self.batch_size,
            validation_data=(X_val, X_val) if n_val else None,
            shuffle=True,
            callbacks=callbacks,
            verbose=0,
        )
        self.preprocessor_ = preprocessor
        self.model_ = model
        # Each feature's typical squared error on held-out normal mail: a feature the model
        # reconstructs worse than its own variance (hour, subject length: noise it can't
        # predict) is divided by that error, so it can't drown the precise ones (sender and
        # pair novelty). Features never weigh more than their plain standardized error (floor 1).
        reference = X_val if n_val else X_fit
        plain = ((reference - self.reconstruct(reference)) ** 2).mean(axis=0)
        self.error_scale_ = np.maximum(plain, 1.0)
        self.history_ = {
            "loss": [float(v) for v in history.history.get("loss", [])],
            "val_loss": [float(v) for v in history.history.get("val_loss", [])],
        }
        self.epochs_run_ = len(self.history_["loss"])
        self.stopped_early_ = self.epochs_run_ < self.epochs
        self.test_errors_ = self._errors(X_test) if len(X_test) else self._errors(X_train)
        self.threshold_ = float(np.percentile(self.test_errors_, self.percentile))
        self.n_train_rows_ = len(train_rows)
        self.n_test_rows_ = len(test_rows)
        return self

    def _check_params(self) -> None:
        if not 0 < self.test_size < 1:
            raise DataError(f"test_size must be between 0 and 1, got {self.test_size}.")
        if not 0 <= self.validation_split < 1:
            raise DataError(f"validation_split must be in [0, 1), got {self.validation_split}.")
        if not 0 < self.percentile < 100:
            raise DataError(f"percentile must be between 0 and 100, got {self.percentile}.")
        if self.epochs < 1 or self.batch_size < 1:
            raise DataError("epochs and batch_size must be at least 1.")

    # -- scoring --------------------------------------------------------------------------

    def transform(self, frame: pd.DataFrame) -> np.ndarray:
        """Model inputs for the rows of ``frame`` (within-file context computed over ``frame``)."""
        check_is_fitted(self, "threshold_")
        return self.preprocessor_.transform(self.preprocessor_.add_context(frame.reset_index(drop=True)))

    def reconstruct(self, X: np.ndarray) -> np.ndarray:
        if len(X) == 0:
            return np.zeros_like(X)
        return np.asarray(self.model_.predict(X, batch_size=8192, verbose=0))

    def feature_squared_errors(self, X: np.ndarray) -> np.ndarray:
        """Squared error per row and model feature, in units of the feature's usual error."""
        return (X - self.reconstruct(X)) ** 2 / self.error_scale_

    def _errors(self, X: np.ndarray) -> np.ndarray:
        return self.feature_squared_errors(X).mean(axis=1)

    def decision_function(self, frame: pd.DataFrame) -> np.ndarray:
        """Reconstruction error (mean scaled squared error over features) per row: higher = more anomalous."""
        return self._errors(self.transform(frame))

    def field_errors(self, squared_errors: np.ndarray) -> pd.DataFrame:
        """Squared errors summed back to the log fields, scaled so a row's fields add up to its error."""
        fields = np.asarray(self.preprocessor_.feature_fields_)
        n = squared_errors.shape[1]
        return pd.DataFrame(
            {f: squared_errors[:, fields == f].sum(axis=1) / n for f in FEATURE_FIELDS}
        )

    def predict(self, frame: pd.DataFrame, threshold: float | None = None) -> np.ndarray:
        """1 for anomalies (error above ``threshold``, default the fitted ``threshold_``), else 0."""
        check_is_fitted(self, "threshold_")
        limit = self.threshold_ if threshold is None else threshold
        return (self.decision_function(frame) > limit).astype(int)
