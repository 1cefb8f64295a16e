"""The autoencoder detector: preprocessing + a dense Keras autoencoder + a fitted threshold.

Shaped like a PyOD detector: ``fit(frame)``, ``decision_function(frame)`` (reconstruction
error, higher = more anomalous), ``predict(frame, threshold=None)``; ``threshold_`` is fitted
once (a percentile of the held-out test errors) and never changed by a caller's threshold.

TensorFlow is imported when a model is built or loaded, not when this module is imported,
so the dashboard's first page and the CLI's ``--help`` stay fast; parameters and data are
checked before it is imported, so a bad option fails fast too.

The detector describes its own learned state (:meth:`AutoencoderDetector.get_state`) and
restores from it (:meth:`AutoencoderDetector.from_state`); :mod:`core.artifacts` only puts
that state into files and back.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator
from sklearn.model_selection import train_test_split
from sklearn.utils.validation import check_is_fitted

from core.errors import DataError
from core.features import DEFAULT_FEATURE_SET, make_preprocessor
from core.schema import FEATURE_FIELDS, TIME

MIN_TRAIN_ROWS = 20
SMALL_LOG_ROWS = 400  # below this many usable rows, detection is measurably weaker (docs/quality.md)
RARITY_PRIOR_ROWS = 20  # pseudo-rows of the pooled novelty rate in each feature's rarity (docs/quality.md)
ERROR_WEIGHTINGS = ("calibrated", "plain")
_RANGE_TOLERANCE = 1e-6  # standardized units; float32 round-off is not "outside the range"

# TensorFlow's C++ start-up chatter (CPU flags, tf.data attribute notes) means nothing to an
# analyst; keep it off the terminal unless the user asks for it.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
# Keras re-traces its predict function for each new input length (one per scored file);
# TensorFlow's Python logger calls that a warning, which is noise here.
logging.getLogger("tensorflow").setLevel(logging.ERROR)


@dataclass(frozen=True)
class EpochProgress:
    """What a training callback receives after every epoch."""

    epoch: int  # 1-based, within the stage
    epochs: int
    loss: float
    val_loss: float | None
    elapsed: float  # seconds since the stage started
    stage: str = "training"  # "screening" (first fit, finds mail to leave out) or "training"


#: Called after each epoch; return True to stop training (the model so far is kept).
TrainingCallback = Callable[[EpochProgress], "bool | None"]


def build_autoencoder(
    n_features: int, hidden_units=(64, 32, 16), learning_rate: float = 1e-3, steps_per_execution: int = 1
):
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
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate=learning_rate),
        loss="mse",
        steps_per_execution=steps_per_execution,
    )
    return model


def small_log_note(n_rows: int) -> str | None:
    """What to tell the analyst about a log of ``n_rows`` usable rows, or None when it is big enough.

    Small logs still train (down to ``MIN_TRAIN_ROWS``); they just know less of the
    organisation's mail, so more of it looks new.
    """
    if n_rows >= SMALL_LOG_ROWS:
        return None
    return (
        f"{n_rows:,} rows: detection will be weaker below ~{SMALL_LOG_ROWS} "
        "(fewer senders, recipients and subjects known as normal). Retrain when a longer log is available."
    )


def dense_layers(model) -> list[tuple[np.ndarray, np.ndarray, str]]:
    """The model's Dense layers as (kernel, bias, activation name), input to output."""
    return [
        (
            np.asarray(layer.kernel, dtype=np.float32),
            np.asarray(layer.bias, dtype=np.float32),
            layer.activation.__name__,
        )
        for layer in model.layers
        if layer.__class__.__name__ == "Dense"
    ]


def load_model_file(path: str | os.PathLike):
    """A Keras model from ``.keras`` (safe mode) or a legacy ``.h5`` file, without its optimizer."""
    import keras

    return keras.models.load_model(path, compile=False, safe_mode=True)


def forward(layers, X: np.ndarray, batch_rows: int = 65_536) -> np.ndarray:
    """The network's output computed with NumPy: for a dense ReLU stack this is Keras' predict,
    without TensorFlow (whose import alone is ~0.5 GB and 3 s) and without its per-call graph
    tracing.

    In float64, not Keras' float32: a float32 matrix product rounds each row differently
    depending on how many rows share the call and where the row sits among them (BLAS picks
    kernels and blocks by the matrix's size), so the same message scored in another batch (a
    Spark partition, a chunk) would get an error a few 1e-7 apart and, near the threshold,
    another verdict. In float64 those differences stay ~1e-16, far below anything a score shows.
    """
    from threadpoolctl import threadpool_limits

    out = np.empty((len(X), layers[-1][0].shape[1]), dtype=np.float64)
    weights = [(np.asarray(k, np.float64), np.asarray(b, np.float64), a) for k, b, a in layers]
    # One BLAS thread: how a product is split over threads changes its last bits too, and the
    # same rows must score the same in one process, in forked workers and in Spark's executors.
    with threadpool_limits(1, user_api="blas"):
        for start in range(0, len(X), batch_rows):
            h = np.asarray(X[start : start + batch_rows], dtype=np.float64)
            for kernel, bias, activation in weights:
                h = h @ kernel + bias
                if activation == "relu":
                    np.maximum(h, 0, out=h)
                elif activation != "linear":
                    raise ValueError(f"Unsupported activation {activation!r} in a dense autoencoder.")
            out[start : start + batch_rows] = h
    return out


def _callback_adapter(callback: TrainingCallback | None, epochs: int, stage: str):
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
                stage=stage,
            )
            if callback is not None and callback(progress):
                self.model.stop_training = True
                self.stopped = True

    reporter = _Reporter()
    reporter.stopped = False
    return reporter


def _ignore_constant_inputs(model, X: np.ndarray) -> None:
    """Zero the first layer's weights from inputs that never vary in ``X``.

    Such an input (a first-contact flag when every training sender was seen) carries no
    gradient, so its weights would keep their random initial values and, when the input
    finally moves at scoring time, push every reconstruction in a direction set by chance.
    With zero weights (which stay zero: no gradient, no decay) the network ignores it and
    its error is simply its distance from the training constant, the same for every seed.
    """
    constant = np.ptp(X, axis=0) < 1e-9 if len(X) else np.zeros(X.shape[1], bool)
    first = next(layer for layer in model.layers if layer.weights)
    kernel, bias = first.get_weights()
    kernel[constant] = 0.0
    first.set_weights([kernel, bias])


@dataclass(frozen=True)
class DetectorState:
    """A fitted detector's learned state: what a bundle keeps, before it is put in files.

    ``metadata`` is JSON-able (hyperparameters under ``"params"``, threshold, per-feature
    scales and training range, row counts, loss history, and summaries for display); the
    other fields are the objects a bundle keeps in files of their own.
    """

    metadata: dict
    preprocessor: object  # the fitted feature preprocessor
    test_errors: np.ndarray  # errors of the held-out test rows: the threshold's source
    dense_weights: dict[str, np.ndarray] | None  # "kernel_0", "bias_0", …; None: read them from the model
    model: object  # the Keras model, or the path of its file (then loaded on first use of model_)


def _floats(value) -> np.ndarray:
    return np.asarray(value, dtype=np.float64)


def _health_profile(value):
    from core.health import HealthProfile

    return None if not value else HealthProfile.from_dict(value)


def _jsonable(value):
    if hasattr(value, "to_dict"):  # a HealthProfile
        return value.to_dict()
    if isinstance(value, np.ndarray):
        return value.astype(float).tolist()
    if isinstance(value, np.generic):
        return value.item()
    return value


@dataclass(frozen=True)
class _Saved:
    """A learned attribute kept in the metadata: its key, how it is read back, and its value
    for bundles saved before the key existed (None: every bundle has it)."""

    attribute: str
    key: str
    restore: Callable
    default: Callable[[dict], object] | None = None


# The learned attributes a bundle's metadata holds; a new one is one more line here.
_SAVED = (
    _Saved("threshold_", "threshold", float),
    _Saved("error_scale_", "error_scale", _floats),
    # Format 1 had no training range: every value counts as inside it, at its usual error.
    _Saved("outside_scale_", "outside_scale", _floats, lambda meta: meta["error_scale"]),
    _Saved(
        "feature_range_",
        "feature_range",
        _floats,
        lambda meta: [[-np.inf] * len(meta["error_scale"]), [np.inf] * len(meta["error_scale"])],
    ),
    _Saved("n_train_rows_", "training_rows", int, lambda meta: 0),
    _Saved("n_trimmed_rows_", "trimmed_rows", int, lambda meta: 0),
    _Saved("n_test_rows_", "test_rows", int, lambda meta: 0),
    _Saved("history_", "history", dict, lambda meta: {}),
    _Saved("epochs_run_", "epochs_run", int, lambda meta: len(meta.get("history", {}).get("loss", []))),
    _Saved("stopped_early_", "stopped_early", bool, lambda meta: False),
    # Bundles saved before health checks: None, and the health check asks for a retrain.
    _Saved("health_profile_", "health_profile", _health_profile, lambda meta: None),
)


class TrainingRows(Protocol):
    """Training mail split into rows to learn from and held-out rows, as ``fit_rows`` uses it.

    ``fit_features(preprocessor)`` fits the preprocessor on the current training rows and
    returns the model inputs of the rows the network fits on; ``held_out`` are the rows the
    threshold and the feature weights are measured on (with their within-file context);
    ``trim(detector, fraction)`` leaves out the ``fraction`` of the training rows the
    screening fit finds least normal (``detector.screening_errors``) and returns how many;
    ``n_train`` and ``n_held_out`` count the rows.
    """

    held_out: pd.DataFrame

    def fit_features(self, preprocessor) -> np.ndarray: ...

    def trim(self, detector: AutoencoderDetector, fraction: float) -> int: ...

    @property
    def n_train(self) -> int: ...

    @property
    def n_held_out(self) -> int: ...


class _LocalRows:
    """``TrainingRows`` of one frame in memory: the network fits on every training row."""

    def __init__(self, train: pd.DataFrame, held_out: pd.DataFrame, protected: np.ndarray):
        self.train, self.held_out, self.protected = train, held_out, protected

    def fit_features(self, preprocessor) -> np.ndarray:
        return preprocessor.fit_transform(self.train)

    def trim(self, detector: AutoencoderDetector, fraction: float) -> int:
        screening = detector.screening_errors(self.train)
        keep = (screening <= np.quantile(screening, 1 - fraction)) | self.protected
        self.train, self.protected = self.train[keep], self.protected[keep]
        return int((~keep).sum())

    @property
    def n_train(self) -> int:
        return len(self.train)

    @property
    def n_held_out(self) -> int:
        return len(self.held_out)


class AutoencoderDetector(BaseEstimator):
    """Email-log anomaly detector: rows the autoencoder reconstructs badly are anomalies.

    Training mail is never clean: last month's log holds last month's spam, and a detector
    that learns it as normal lets this month's copies through (on the labeled logs, 5%
    spam in training costs as much as every feature we added gains). So by default the
    detector fits twice: a *screening* fit scores every training row as if it were new
    mail, and the final fit learns from all but the ``trim_fraction`` least normal of them
    — a trimmed fit, as a trimmed mean drops its extremes. The threshold and the feature
    weights below are measured on held-out rows that were split off before any trimming,
    so they describe new mail as it comes, unusual-but-legitimate mail included.

    Features that never varied in the final fit's rows (first contact with a sender, a
    look-alike domain, a spoofed display name: training mail is by definition not new to
    itself) can't be reconstructed from anything; the network ignores them as inputs and
    their error counts with the weight of how rare they are in held-out mail, in nats: a
    first contact that one message in four has weighs less than a display-name change
    that one in a thousand has.

    Parameters
    ----------
    feature_set : {"email", "seed"}, default="email"
        ``"email"``: mail-aware features (see :mod:`core.features`); ``"seed"``: the report's
        recipe (label codes + Unix time).
    hidden_units : tuple of int, default=(64, 32, 16)
        Encoder widths; the decoder mirrors them.
    epochs : int, default=50
    batch_size : int, default=1024
        Also the default for small logs: one full-batch step per epoch there ranks mail better
        than many small steps (docs/quality.md, "Small logs").
    learning_rate : float, default=3e-3
        Larger batches with a proportionally higher rate: same quality, ~2x faster.
    steps_per_execution : int, default=8
        Batches per call into TensorFlow (the network is tiny, so per-call overhead is a good
        share of an epoch; same arithmetic). 1 is Keras' default, as in the report.
    validation_split : float, default=0.1
        Share of the training rows held out for the validation loss curve.
    test_size : float, default=0.2
        Share of all rows held out; the threshold is a percentile of their errors.
    percentile : float, default=95.0
    error_weighting : {"calibrated", "plain"}, default="calibrated"
        ``"calibrated"``: each feature's squared error in units of its usual error, values
        outside the training range weighed by their held-out rarity, reconstructions kept in
        the training range (see above). ``"plain"``: the report's mean squared error.
    trim_fraction : float, default=0.3
        Share of the training rows the screening fit finds least normal, left out of the
        final fit. 0: one plain fit. 0.3 rather than 0.2: on a few hundred rows the screening
        ranks noisily and a wider cut still catches the hidden spam (docs/quality.md, "Small logs").
    screening_epochs : int, default=5
        Epochs of the screening fit (it only has to rank rows, not reconstruct them well).
    screening_rows : int, default=20000
        The screening network learns from at most this many training rows (a random
        sample; its counts and scaling still see every row), which keeps screening a large
        log cheap.
    early_stopping : bool, default=False
        Stop when the validation loss hasn't improved for ``patience`` epochs (best weights kept).
    patience : int, default=5
    seed : int, default=0
        Same data + same seed → the same errors on CPU.
    preprocessor_params : dict, optional
        Passed to the feature set's preprocessor (e.g. ``internal_domains``).

    Learned attributes
    ------------------
    preprocessor_, model_ (the Keras network), threshold_, history_ (per-epoch "loss" and
    "val_loss" of the last fit), dense_layers_ (the network's weights as arrays: scoring runs
    them with NumPy), feature_range_ (each feature's min and max in the last fit's rows),
    error_scale_ (inside that range a feature's squared error is divided by it),
    outside_scale_ (outside it), test_errors_, n_train_rows_ (rows of the final fit),
    n_trimmed_rows_ (left out by screening), n_test_rows_, epochs_run_ (epochs of the last
    fit), stopped_early_ (the last fit ended before its epochs, or training stopped during
    screening), health_profile_ (the held-out rows' feature and error summaries that
    :mod:`core.health` compares new logs with; None for bundles saved before it existed).
    A detector loaded from a bundle also has bundle_name_, and model_path_ until model_ is
    first used.
    """

    def __init__(
        self,
        *,
        feature_set: str = DEFAULT_FEATURE_SET,
        hidden_units: tuple[int, ...] = (64, 32, 16),
        epochs: int = 50,
        batch_size: int = 1024,
        learning_rate: float = 3e-3,
        steps_per_execution: int = 8,
        validation_split: float = 0.1,
        test_size: float = 0.2,
        percentile: float = 95.0,
        error_weighting: str = "calibrated",
        trim_fraction: float = 0.3,
        screening_epochs: int = 5,
        screening_rows: int = 20_000,
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
        self.steps_per_execution = steps_per_execution
        self.validation_split = validation_split
        self.test_size = test_size
        self.percentile = percentile
        self.error_weighting = error_weighting
        self.trim_fraction = trim_fraction
        self.screening_epochs = screening_epochs
        self.screening_rows = screening_rows
        self.early_stopping = early_stopping
        self.patience = patience
        self.seed = seed
        self.preprocessor_params = preprocessor_params

    # -- training -------------------------------------------------------------------------

    def fit(self, X: pd.DataFrame, y=None, *, callback: TrainingCallback | None = None, always_keep=None):
        """Train on the rows of a loaded log (``EmailLog.frame``); rows without a parsed time are skipped.

        ``y`` is ignored (unsupervised; the argument lets a scikit-learn ``Pipeline`` call
        ``fit(X, y)``). Parameters and the number of usable rows are checked, raising
        :class:`~core.errors.DataError`, before TensorFlow is imported.

        ``callback`` receives an :class:`EpochProgress` after every epoch of both stages and
        may return True to stop; the model trained so far is kept and a threshold is still
        fitted (stopping during screening keeps the screening model: features learned from every
        training row, network from a sample of at most ``screening_rows``). ``always_keep``:
        boolean per row of ``X``, rows the screening fit must not leave out (mail an analyst
        marked benign). Returns ``self``.
        """
        self._check_params()
        context = make_preprocessor(self.feature_set, **(self.preprocessor_params or {}))
        readable = X[TIME].notna().to_numpy()
        protected = np.zeros(len(X), bool) if always_keep is None else np.asarray(always_keep, bool)
        protected = protected[readable]
        frame = X[readable]
        if len(frame) < MIN_TRAIN_ROWS:
            raise DataError(
                f"Too few rows to train: {len(frame)} with a readable time, need at least "
                f"{MIN_TRAIN_ROWS}. Load a longer log."
            )
        frame = context.add_context(frame.reset_index(drop=True))
        train_rows, test_rows = train_test_split(
            np.arange(len(frame)), test_size=self.test_size, random_state=self.seed, shuffle=True
        )
        rows = _LocalRows(
            frame.iloc[np.sort(train_rows)], frame.iloc[np.sort(test_rows)], protected[np.sort(train_rows)]
        )
        return self.fit_rows(rows, callback=callback)

    def fit_rows(self, rows: TrainingRows, *, callback: TrainingCallback | None = None):
        """Train on ``rows`` already split into training and held-out mail (``TrainingRows``):
        the screening fit, the trimming, the final fit and the threshold, wherever the rows
        live. ``fit`` calls it with the rows of a frame; ``core.spark.training`` with rows
        counted by Spark and sampled to this machine. Returns ``self``."""
        self._check_params()
        self._seed_training()
        n_trimmed = 0
        stopped = False
        if self.trim_fraction > 0:
            stopped = self._fit_stage(rows, self.screening_epochs, callback, "screening", max_rows=self.screening_rows)
            if not stopped:
                n_trimmed = rows.trim(self, self.trim_fraction)
        if not stopped:
            self._fit_stage(rows, self.epochs, callback, "training")

        self.threshold_ = float(np.percentile(self.test_errors_, self.percentile))
        self.n_train_rows_ = rows.n_train
        self.n_trimmed_rows_ = n_trimmed
        self.n_test_rows_ = rows.n_held_out
        return self

    def _seed_training(self) -> None:
        import keras
        import tensorflow as tf

        keras.utils.set_random_seed(self.seed)
        tf.config.experimental.enable_op_determinism()

    def screening_errors(self, frame: pd.DataFrame) -> np.ndarray:
        """Errors of training rows as the current (screening) fit sees them: each scored as new
        mail, its own occurrence left out. Needs no threshold yet."""
        return self._errors(self.preprocessor_.transform(frame.reset_index(drop=True)))

    def _fit_stage(self, rows: TrainingRows, epochs: int, callback, stage: str, max_rows: int | None = None) -> bool:
        """Fit preprocessor and network on the training ``rows``, weigh and score the held-out rows.

        Returns True when the callback asked to stop.
        """
        import keras

        preprocessor = make_preprocessor(self.feature_set, **(self.preprocessor_params or {}))
        X_train = rows.fit_features(preprocessor)
        held_out = rows.held_out
        rng = np.random.default_rng(self.seed)
        order = rng.permutation(len(X_train))[:max_rows]
        n_val = int(round(self.validation_split * len(order)))
        X_val, X_fit = X_train[order[:n_val]], X_train[order[n_val:]]

        model = build_autoencoder(X_train.shape[1], self.hidden_units, self.learning_rate, self.steps_per_execution)
        _ignore_constant_inputs(model, X_train)
        reporter = _callback_adapter(callback, epochs, stage)
        callbacks = [reporter]
        if self.early_stopping and n_val:
            callbacks.append(
                keras.callbacks.EarlyStopping(monitor="val_loss", patience=self.patience, restore_best_weights=True)
            )
        history = model.fit(
            X_fit,
            X_fit,
            epochs=epochs,
            batch_size=self.batch_size,
            validation_data=(X_val, X_val) if n_val else None,
            shuffle=True,
            callbacks=callbacks,
            verbose=0,
        )
        self.preprocessor_ = preprocessor
        self.model_ = model
        self.dense_layers_ = dense_layers(model)
        self.feature_range_ = np.stack([X_train.min(axis=0), X_train.max(axis=0)])
        # Inside the training range, each feature's error counts in units of its typical
        # squared error on the validation rows: a feature the model reconstructs worse than
        # its own variance (hour, subject length: noise it can't predict) can't drown the
        # precise ones. Never more than its plain standardized error (floor 1).
        reference = X_val if n_val else X_fit
        plain = ((reference - self.reconstruct(reference)) ** 2).mean(axis=0)
        self.error_scale_ = np.maximum(plain, 1.0)
        # Held-out rows (split off before any screening: new mail as it comes) weigh values
        # outside that range and give the errors the threshold is taken from.
        if len(held_out):
            X_held_out, described_held_out = preprocessor.transform_and_describe(held_out)
        else:
            X_held_out, described_held_out = X_train, None
        self._weigh_outside_values(X_held_out)
        squared = self.feature_squared_errors(X_held_out)
        self.test_errors_ = squared.mean(axis=1)
        # What the health check compares new logs with: the held-out rows' features and errors
        # (summaries only, never the rows).
        self.health_profile_ = None
        if described_held_out is not None:
            from core.health import build_profile

            fields = dict(zip(preprocessor.feature_sources_, preprocessor.feature_fields_, strict=True))
            self.health_profile_ = build_profile(
                described_held_out,
                fields,
                self.test_errors_,
                self.percentile,
                squared=squared,
                sources=preprocessor.feature_sources_,
                frame=held_out,
            )
        self.history_ = {
            "loss": [float(v) for v in history.history.get("loss", [])],
            "val_loss": [float(v) for v in history.history.get("val_loss", [])],
        }
        self.epochs_run_ = len(self.history_["loss"])
        self.stopped_early_ = self.epochs_run_ < epochs or stage == "screening"
        return reporter.stopped

    def _weigh_outside_values(self, X_held_out: np.ndarray) -> None:
        """Weigh values outside the training range by how rare they are in held-out mail.

        Inside the range a feature's error counts in units of its usual error
        (``error_scale_``). A value outside it is something training mail never had: a first
        contact (the feature was constant), a campaign from 60 domains. Its squared error is
        divided by ``outside_scale_ = log(n + 1) / surprise``, where ``surprise`` is -log of
        the share of the n held-out rows that left the range on that feature — so a first
        contact that one new message in four makes weighs about a fifth of a display-name
        change that one in a thousand makes. The share is ``(k + a * pooled) / (n + a)``: k rows
        of its own plus ``a = RARITY_PRIOR_ROWS`` pseudo-rows at the rate all features leave
        their range on average, so a small log's few held-out rows don't claim precision they
        lack, and a large log's rows speak for themselves.
        """
        lo, hi = self.feature_range_
        outside = (X_held_out < lo - _RANGE_TOLERANCE) | (X_held_out > hi + _RANGE_TOLERANCE)
        n = len(X_held_out)
        counts = outside.sum(axis=0)
        # Shrunk toward the average feature's rate with the weight of RARITY_PRIOR_ROWS rows
        # (empirical Bayes): 20 held-out rows can't tell one in 20 from one in 1,000, and
        # taken at face value they make every novelty they happened not to see the loudest.
        pooled = (counts.sum() + 1.0) / (n * counts.size + 1.0)
        share = (counts + RARITY_PRIOR_ROWS * pooled) / (n + RARITY_PRIOR_ROWS)
        surprise = -np.log(share)
        self.outside_scale_ = np.log(n + 1.0) / np.maximum(surprise, 1e-3)

    def _check_params(self) -> None:
        """Raise DataError for a hyperparameter fit can't use (cheap: no TensorFlow needed)."""
        units = self.hidden_units
        if not units or any(not isinstance(u, (int, np.integer)) or isinstance(u, bool) or u < 1 for u in units):
            raise DataError(f"hidden_units must be one or more positive whole numbers, got {units!r}.")
        if not self.learning_rate > 0:
            raise DataError(f"learning_rate must be above 0, got {self.learning_rate}.")
        if self.steps_per_execution < 1:
            raise DataError(f"steps_per_execution must be at least 1, got {self.steps_per_execution}.")
        if self.early_stopping and self.patience < 1:
            raise DataError(f"patience must be at least 1 with early_stopping, got {self.patience}.")
        if not 0 < self.test_size < 1:
            raise DataError(f"test_size must be between 0 and 1, got {self.test_size}.")
        if not 0 <= self.validation_split < 1:
            raise DataError(f"validation_split must be in [0, 1), got {self.validation_split}.")
        if not 0 < self.percentile < 100:
            raise DataError(f"percentile must be between 0 and 100, got {self.percentile}.")
        if self.epochs < 1 or self.batch_size < 1:
            raise DataError("epochs and batch_size must be at least 1.")
        if self.error_weighting not in ERROR_WEIGHTINGS:
            raise DataError(
                f"error_weighting must be one of {', '.join(ERROR_WEIGHTINGS)}, got {self.error_weighting!r}."
            )
        if not 0 <= self.trim_fraction < 0.9:
            raise DataError(f"trim_fraction must be in [0, 0.9), got {self.trim_fraction}.")
        if self.trim_fraction > 0 and (self.screening_epochs < 1 or self.screening_rows < 1):
            raise DataError("screening_epochs and screening_rows must be at least 1 when trim_fraction is above 0.")

    # -- saved state ----------------------------------------------------------------------

    def get_state(self) -> DetectorState:
        """The learned state a bundle keeps: JSON-able metadata, preprocessor, test errors,
        the network's weights as arrays, and the Keras model (loaded first if need be)."""
        check_is_fitted(self, "threshold_")
        errors = np.asarray(self.test_errors_, dtype=np.float64)
        counts, edges = np.histogram(errors, bins=50)
        metadata = {saved.key: _jsonable(getattr(self, saved.attribute)) for saved in _SAVED}
        metadata.update(
            percentile=float(self.percentile),
            feature_set=self.feature_set,
            features=list(self.preprocessor_.feature_names_out_),
            dense_activations=[activation for *_, activation in self.dense_layers_],
            params=self.get_params(),
            # For display (Models and Train pages): never read back.
            test_error_histogram={"counts": counts.tolist(), "edges": edges.tolist()},
            test_error_quantiles={str(q): float(np.percentile(errors, q)) for q in (50, 90, 95, 99)},
        )
        weights = {
            f"{part}_{i}": array
            for i, (kernel, bias, _) in enumerate(self.dense_layers_)
            for part, array in (("kernel", kernel), ("bias", bias))
        }
        return DetectorState(metadata, self.preprocessor_, errors, weights, self.model_)

    @classmethod
    def from_state(cls, state: DetectorState) -> AutoencoderDetector:
        """A fitted detector from :meth:`get_state`'s output, or from an older bundle's.

        Metadata keys an older bundle lacks take the value that reproduces how it scored
        then (format 1: no training range, no trimming). Without ``dense_weights`` (format 1,
        legacy ``.h5``) the weights are read from the Keras model, which then loads at once;
        otherwise a model given as a path loads on first use of ``model_`` only.
        """
        meta = state.metadata
        params = {k: (tuple(v) if isinstance(v, list) else v) for k, v in meta.get("params", {}).items()}
        detector = cls(**params)
        if isinstance(state.model, (str, os.PathLike)):
            detector.model_path_ = Path(state.model)
        else:
            detector.model_ = state.model
        if state.dense_weights is not None and "dense_activations" in meta:
            detector.dense_layers_ = [
                (state.dense_weights[f"kernel_{i}"], state.dense_weights[f"bias_{i}"], activation)
                for i, activation in enumerate(meta["dense_activations"])
            ]
        else:
            detector.dense_layers_ = dense_layers(detector.model_)
        detector.preprocessor_ = state.preprocessor
        for saved in _SAVED:
            value = meta[saved.key] if saved.key in meta or saved.default is None else saved.default(meta)
            setattr(detector, saved.attribute, saved.restore(value))
        detector.test_errors_ = np.asarray(state.test_errors)
        return detector

    # -- scoring --------------------------------------------------------------------------

    @property
    def model_(self):
        """The Keras autoencoder; a loaded bundle reads it from disk on first use only
        (scoring runs on ``dense_layers_`` and never needs it)."""
        model = self.__dict__.get("_model")
        if model is None and "model_path_" in self.__dict__:
            model = self._model = load_model_file(self.model_path_)
        if model is None:
            raise AttributeError("model_")
        return model

    @model_.setter
    def model_(self, model) -> None:
        self._model = model

    def transform(self, frame: pd.DataFrame) -> np.ndarray:
        """Model inputs for the rows of ``frame``. Within-file context (bursts, campaigns) is
        computed over ``frame`` unless it already carries the columns of ``add_context``, as
        a slice of a whole processed file does."""
        check_is_fitted(self, "threshold_")
        if len(frame) == 0:  # a filter that matched nothing: no rows, not an error
            return np.zeros((0, len(self.preprocessor_.get_feature_names_out())))
        return self.preprocessor_.transform(frame.reset_index(drop=True))

    def reconstruct(self, X: np.ndarray) -> np.ndarray:
        """The network's reconstruction, each feature kept within the range it had in training.

        A network that learned to pass a feature through would otherwise "reconstruct" a
        value far beyond anything it trained on (a campaign from 60 domains when training
        mail had at most 2) and hide exactly the novelty we look for.
        """
        if len(X) == 0:
            return np.zeros_like(X)
        out = forward(self.dense_layers_, X)
        if self.error_weighting == "plain":
            return out
        return np.clip(out, self.feature_range_[0], self.feature_range_[1])

    def feature_squared_errors(self, X: np.ndarray) -> np.ndarray:
        """Squared error per row and model feature, in units of the feature's usual error."""
        squared = (X - self.reconstruct(X)) ** 2
        if self.error_weighting == "plain":
            return squared
        lo, hi = self.feature_range_
        outside = (lo - _RANGE_TOLERANCE > X) | (hi + _RANGE_TOLERANCE < X)
        return squared / np.where(outside, self.outside_scale_, self.error_scale_)

    def _errors(self, X: np.ndarray) -> np.ndarray:
        return self.feature_squared_errors(X).mean(axis=1)

    def decision_function(self, frame: pd.DataFrame) -> np.ndarray:
        """Reconstruction error (mean scaled squared error over features) per row: higher = more anomalous."""
        return self._errors(self.transform(frame))

    def field_errors(self, squared_errors: np.ndarray) -> pd.DataFrame:
        """Squared errors summed back to the log fields, scaled so a row's fields add up to its error."""
        fields = np.asarray(self.preprocessor_.feature_fields_)
        n = squared_errors.shape[1]
        return pd.DataFrame({f: squared_errors[:, fields == f].sum(axis=1) / n for f in FEATURE_FIELDS})

    def predict(self, frame: pd.DataFrame, threshold: float | None = None) -> np.ndarray:
        """1 for anomalies (error above ``threshold``, default the fitted ``threshold_``), else 0."""
        check_is_fitted(self, "threshold_")
        limit = self.threshold_ if threshold is None else threshold
        return (self.decision_function(frame) > limit).astype(int)
