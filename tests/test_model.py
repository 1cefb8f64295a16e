import numpy as np
import pytest

from core.errors import DataError
from core.model import AutoencoderDetector, EpochProgress, build_autoencoder


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
    assert det.n_trimmed_rows_ == pytest.approx(0.2 * (everything - det.n_test_rows_), abs=1)


def test_same_data_and_seed_give_same_errors(demo_log):
    frame = demo_log.frame[demo_log.scorable].head(400)
    a = AutoencoderDetector(epochs=2, batch_size=64, seed=3).fit(frame).decision_function(frame)
    b = AutoencoderDetector(epochs=2, batch_size=64, seed=3).fit(frame).decision_function(frame)
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


def test_seed_feature_set_trains(demo_log):
    frame = demo_log.frame[demo_log.scorable].head(300)
    det = AutoencoderDetector(feature_set="seed", epochs=1, batch_size=64).fit(frame)
    assert det.transform(frame).shape == (300, 4)


def test_screening_fit_reports_its_epochs_before_the_final_fit(demo_log):
    frame = demo_log.frame[demo_log.scorable].head(300)
    seen: list[EpochProgress] = []
    AutoencoderDetector(epochs=3, screening_epochs=2, batch_size=64).fit(frame, callback=seen.append)
    assert [(p.stage, p.epoch, p.epochs) for p in seen] == [
        ("screening", 1, 2),
        ("screening", 2, 2),
        ("training", 1, 3),
        ("training", 2, 3),
        ("training", 3, 3),
    ]


def test_stopping_during_screening_keeps_a_usable_model(demo_log):
    frame = demo_log.frame[demo_log.scorable].head(300)
    det = AutoencoderDetector(epochs=5, screening_epochs=5, batch_size=64).fit(frame, callback=lambda p: True)
    assert det.epochs_run_ == 1 and det.stopped_early_ and det.n_trimmed_rows_ == 0
    assert np.isfinite(det.threshold_) and np.isfinite(det.decision_function(frame)).all()


def test_trimmed_fit_leaves_out_the_injected_anomalies():
    from core.demo import make_demo_log
    from tests.conftest import log_from_frame

    frame = make_demo_log(3000, seed=5)
    log = log_from_frame(frame)
    final_fit = {}
    original = AutoencoderDetector._fit_stage

    def spy(self, rows, held_out, epochs, callback, stage, **kwargs):
        final_fit.update(rows=set(rows["UUID"]), held_out=set(held_out["UUID"]))
        return original(self, rows, held_out, epochs, callback, stage, **kwargs)

    AutoencoderDetector._fit_stage = spy
    try:
        det = AutoencoderDetector(epochs=5, screening_epochs=10, seed=0).fit(log.frame)
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
    assert never == pytest.approx(1.0)  # full weight: as rare as the held-out rows can show
    assert always > 1e3  # ~no weight
    assert quarter == pytest.approx(np.log(1000) / -np.log(251 / 1000))
