import itertools
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.pipeline import Pipeline

from core.errors import DataError
from core.model import RARITY_PRIOR_ROWS, AutoencoderDetector, EpochProgress, build_autoencoder, small_log_note

ROOT = Path(__file__).resolve().parents[1]


def test_autoencoder_architecture_and_linear_output():
    model = build_autoencoder(12)
    dense = [layer for layer in model.layers if layer.__class__.__name__ == "Dense"]
    assert [layer.units for layer in dense] == [64, 32, 16, 32, 64, 12]
    assert all(layer.activation.__name__ == "relu" for layer in dense[:-1])
    assert dense[-1].activation.__name__ == "linear"
    assert model.loss == "mse"


def test_fit_learns_threshold_history_and_test_errors(trained_detector):
    det = trained_detector
    assert len(det.history_["loss"]) == 3 and len(det.history_["val_loss"]) == 3
    assert det.threshold_ == pytest.approx(np.percentile(det.test_errors_, 95))
    everything = det.n_train_rows_ + det.n_trimmed_rows_ + det.n_test_rows_
    assert det.n_test_rows_ == pytest.approx(0.2 * everything, abs=1)
    assert det.n_trimmed_rows_ == pytest.approx(det.trim_fraction * (everything - det.n_test_rows_), abs=1)


def test_a_row_scores_the_same_whatever_batch_it_is_scored_in(trained_detector, demo_log):
    """Spark scores a message in whatever Arrow batch its partition hands over, the local engine
    in fixed chunks: the error must not depend on the batch (a float32 matrix product rounds a
    row differently by batch size and position, ~1e-7, enough to flip a verdict at the threshold)."""
    X = trained_detector.transform(demo_log.frame[demo_log.scorable])
    whole = trained_detector.feature_squared_errors(X)
    cuts = [0, 1, 4, 37, 300, 301, 1000, len(X)]
    pieces = np.concatenate([trained_detector.feature_squared_errors(X[a:b]) for a, b in itertools.pairwise(cuts)])
    shifted = trained_detector.feature_squared_errors(X[7:])
    scale = np.maximum(np.abs(whole), 1e-3)
    assert (np.abs(pieces - whole) / scale).max() < 1e-12
    assert (np.abs(shifted - whole[7:]) / scale[7:]).max() < 1e-12


def test_same_data_and_seed_give_same_errors(demo_log):
    frame = demo_log.frame[demo_log.scorable].head(400)
    a = AutoencoderDetector(epochs=2, batch_size=64, seed=3, trim_fraction=0).fit(frame).decision_function(frame)
    b = AutoencoderDetector(epochs=2, batch_size=64, seed=3, trim_fraction=0).fit(frame).decision_function(frame)
    np.testing.assert_allclose(a, b, atol=1e-5)


def test_callback_receives_progress_and_can_stop_training(demo_log):
    frame = demo_log.frame[demo_log.scorable].head(300)
    seen: list[EpochProgress] = []

    def stop_after_two(progress):
        seen.append(progress)
        return progress.epoch == 2

    det = AutoencoderDetector(epochs=10, batch_size=64, trim_fraction=0).fit(frame, callback=stop_after_two)
    assert [p.epoch for p in seen] == [1, 2] and seen[0].epochs == 10
    assert seen[1].elapsed >= seen[0].elapsed and seen[0].val_loss is not None
    assert det.epochs_run_ == 2 and det.stopped_early_
    assert np.isfinite(det.threshold_)  # a stopped model is still usable


def test_predict_uses_given_threshold_without_mutating_fitted_one(trained_detector, demo_log):
    frame = demo_log.frame[demo_log.scorable]
    fitted = trained_detector.threshold_
    errors = trained_detector.decision_function(frame)
    assert trained_detector.predict(frame, threshold=errors.max()).sum() == 0
    assert trained_detector.predict(frame).sum() == (errors > fitted).sum()
    assert trained_detector.threshold_ == fitted


def test_scoring_no_rows_gives_empty_results(trained_detector, demo_log):
    empty = demo_log.frame.head(0)
    assert trained_detector.transform(empty).shape == (0, len(trained_detector.error_scale_))
    assert trained_detector.decision_function(empty).shape == trained_detector.predict(empty).shape == (0,)


def test_too_few_rows_to_train(demo_log):
    with pytest.raises(DataError, match="Too few rows to train: 5"):
        AutoencoderDetector(epochs=1).fit(demo_log.frame.head(5))


def test_twenty_rows_train_and_nineteen_are_refused(demo_log):
    frame = demo_log.frame[demo_log.scorable]
    det = AutoencoderDetector(epochs=2, screening_epochs=1).fit(frame.head(20))
    assert det.n_train_rows_ + det.n_trimmed_rows_ + det.n_test_rows_ == 20
    assert np.isfinite(det.threshold_) and np.isfinite(det.decision_function(frame.head(50))).all()
    with pytest.raises(DataError, match="Too few rows to train: 19 with a readable time, need at least 20"):
        AutoencoderDetector(epochs=1).fit(frame.head(19))


def test_small_log_note_names_the_rows_below_400():
    assert small_log_note(100) == (
        "100 rows: detection will be weaker below ~400 (fewer senders, recipients and subjects known as "
        "normal). Retrain when a longer log is available."
    )
    assert small_log_note(399).startswith("399 rows:") and small_log_note(400) is None


def test_seed_feature_set_trains(demo_log):
    frame = demo_log.frame[demo_log.scorable].head(300)
    det = AutoencoderDetector(feature_set="seed", epochs=1, batch_size=64, trim_fraction=0).fit(frame)
    assert det.transform(frame).shape == (300, 4)


def test_screening_fit_reports_its_epochs_before_the_final_fit(demo_log):
    frame = demo_log.frame[demo_log.scorable].head(300)
    seen: list[EpochProgress] = []
    AutoencoderDetector(epochs=2, screening_epochs=2, batch_size=64).fit(frame, callback=seen.append)
    assert [(p.stage, p.epoch, p.epochs) for p in seen] == [
        ("screening", 1, 2),
        ("screening", 2, 2),
        ("training", 1, 2),
        ("training", 2, 2),
    ]


def test_stopping_during_screening_keeps_a_usable_model(demo_log):
    frame = demo_log.frame[demo_log.scorable].head(300)
    det = AutoencoderDetector(epochs=5, screening_epochs=2, batch_size=64).fit(frame, callback=lambda p: True)
    assert det.epochs_run_ == 1 and det.stopped_early_ and det.n_trimmed_rows_ == 0
    assert np.isfinite(det.threshold_) and np.isfinite(det.decision_function(frame)).all()


def test_trimmed_fit_leaves_out_the_injected_anomalies():
    from core.demo import make_demo_log
    from tests.conftest import log_from_frame

    frame = make_demo_log(3000, seed=5)
    log = log_from_frame(frame)
    final_fit = {}
    original = AutoencoderDetector._fit_stage

    def spy(self, rows, epochs, callback, stage, **kwargs):  # rows: the local TrainingRows
        final_fit.update(rows=set(rows.train["UUID"]), held_out=set(rows.held_out["UUID"]))
        return original(self, rows, epochs, callback, stage, **kwargs)

    AutoencoderDetector._fit_stage = spy
    try:
        det = AutoencoderDetector(epochs=1, screening_epochs=10, seed=0).fit(log.frame)  # only screening counts
    finally:
        AutoencoderDetector._fit_stage = original
    training = set(frame["UUID"]) - final_fit["held_out"]
    left_out = training - final_fit["rows"]
    anomalies = set(frame.loc[frame["label"] == 1, "UUID"]) & training
    assert len(left_out) == det.n_trimmed_rows_
    assert len(anomalies & left_out) >= 0.7 * len(anomalies)


def test_reconstruction_stays_within_the_training_range(trained_detector, demo_log):
    X = trained_detector.transform(demo_log.frame[demo_log.scorable])
    far = X * 50
    rebuilt = trained_detector.reconstruct(far)
    lo, hi = trained_detector.feature_range_
    assert (rebuilt >= lo - 1e-6).all() and (rebuilt <= hi + 1e-6).all()


def test_values_outside_the_training_range_weigh_by_held_out_rarity():
    det = AutoencoderDetector()
    det.feature_range_ = np.array([[0.0, 0.0, 0.0], [1.0, 1.0, 1.0]])
    held_out = np.zeros((999, 3))
    held_out[:, 1] = 5.0  # every held-out row leaves the range: nothing unusual about it
    held_out[:250, 2] = 5.0  # one row in four leaves it
    det._weigh_outside_values(held_out)
    never, always, quarter = det.outside_scale_
    pooled = (999 + 250 + 1) / (3 * 999 + 1)  # the features' average rate, add-one smoothed

    def scale(k):
        return np.log(1000) / -np.log((k + RARITY_PRIOR_ROWS * pooled) / (999 + RARITY_PRIOR_ROWS))

    assert (never, always, quarter) == pytest.approx((scale(0), scale(999), scale(250)))
    assert never < quarter < always and always > 100  # ~no weight for what every new mail does
    assert quarter == pytest.approx(np.log(1000) / -np.log(1 / 4), rel=0.02)  # many rows: ~their own rate


def test_few_held_out_rows_lean_on_the_average_novelty_rate():
    """20 held-out rows can't tell a 1-in-20 novelty from a 1-in-1,000 one: weights stay close."""
    det = AutoencoderDetector()
    det.feature_range_ = np.zeros((2, 4))
    few = np.zeros((20, 4))
    few[:1, 1] = 1.0  # one row of 20 leaves the range
    few[:, 3] = 1.0
    det._weigh_outside_values(few)
    unseen, once = det.outside_scale_[:2]
    add_one_ratio = np.log(21 / 1) / np.log(21 / 2)  # weights taken at face value: unseen 1.29x once
    assert 1 < once / unseen < 0.5 * (1 + add_one_ratio)


INVALID_PARAMS = [
    ({"test_size": 1.5}, "test_size must be between 0 and 1"),
    ({"epochs": 0}, "epochs and batch_size must be at least 1"),
    ({"hidden_units": ()}, "hidden_units must be one or more positive whole numbers"),
    ({"learning_rate": 0}, "learning_rate must be above 0"),
    ({"error_weighting": "fancy"}, "error_weighting must be one of calibrated, plain"),
    ({"feature_set": "emial"}, "Unknown feature set 'emial'"),
]


def test_invalid_params_raise_before_tensorflow_is_imported():
    """A bad option fails at once, in a process that never pays TensorFlow's import."""
    code = f"""
import sys
from core.demo import make_demo_log
from core.errors import DataError
from core.loading import read_log
from core.model import AutoencoderDetector
log = read_log(make_demo_log(60, seed=1).to_csv(index=False).encode(), name="demo")
for params, _ in {INVALID_PARAMS!r}:
    try:
        AutoencoderDetector(**params).fit(log.frame)
    except DataError as error:
        print("DataError:", error)
    else:
        print("fitted")
print("imported:", sorted(m for m in ("tensorflow", "keras") if m in sys.modules))
"""
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    *raised, imported = result.stdout.splitlines()
    assert len(raised) == len(INVALID_PARAMS)
    for line, (_, message) in zip(raised, INVALID_PARAMS, strict=True):
        assert line.startswith("DataError:") and message in line, line
    assert imported == "imported: []"


def test_detector_works_as_the_last_step_of_a_pipeline(demo_log):
    """fit(X, y=None) and clone: a scikit-learn Pipeline fits it, passing fit parameters through."""
    frame = demo_log.frame[demo_log.scorable].head(300)
    detector = AutoencoderDetector(epochs=2, batch_size=64, trim_fraction=0)
    assert clone(detector).get_params() == detector.get_params()
    seen: list[EpochProgress] = []
    pipeline = Pipeline([("detector", detector)]).fit(frame, detector__callback=seen.append)
    assert [p.epoch for p in seen] == [1, 2]
    errors = pipeline.decision_function(frame)
    assert errors.shape == (300,) and np.isfinite(errors).all()
    np.testing.assert_array_equal(pipeline.predict(frame), (errors > detector.threshold_).astype(int))


def test_state_round_trip_restores_every_learned_attribute(trained_detector, demo_log):
    state = trained_detector.get_state()
    restored = AutoencoderDetector.from_state(state)
    assert restored.get_params() == trained_detector.get_params()
    for name in ("threshold_", "n_train_rows_", "n_trimmed_rows_", "n_test_rows_", "epochs_run_", "stopped_early_"):
        assert getattr(restored, name) == getattr(trained_detector, name), name
    for name in ("error_scale_", "outside_scale_", "feature_range_", "test_errors_"):
        np.testing.assert_array_equal(getattr(restored, name), getattr(trained_detector, name), err_msg=name)
    assert restored.history_ == trained_detector.history_
    frame = demo_log.frame[demo_log.scorable].head(100)
    # Scales go to JSON as float64 (the fitted ones are float32): the same numbers, rounded alike to 1e-6.
    np.testing.assert_allclose(restored.decision_function(frame), trained_detector.decision_function(frame), rtol=1e-6)
    json.dumps(state.metadata)  # JSON as it is: no NumPy types


def test_state_of_a_format_1_bundle_gets_the_old_defaults(trained_detector):
    """Keys format 1 lacked take the values that reproduce how it scored: no training range,
    values outside it weighed like inside, nothing trimmed; weights read from the model."""
    state = trained_detector.get_state()
    old = {k: v for k, v in state.metadata.items() if k not in ("outside_scale", "feature_range", "trimmed_rows")}
    restored = AutoencoderDetector.from_state(
        type(state)(old, state.preprocessor, state.test_errors, None, state.model)
    )
    n = len(trained_detector.error_scale_)
    np.testing.assert_array_equal(restored.outside_scale_, trained_detector.error_scale_)
    np.testing.assert_array_equal(restored.feature_range_, [[-np.inf] * n, [np.inf] * n])
    assert restored.n_trimmed_rows_ == 0
    for (k1, b1, a1), (k2, b2, a2) in zip(restored.dense_layers_, trained_detector.dense_layers_, strict=True):
        np.testing.assert_array_equal(k1, k2)
        np.testing.assert_array_equal(b1, b2)
        assert a1 == a2
