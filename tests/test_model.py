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
    assert det.n_test_rows_ == pytest.approx(0.2 * (det.n_train_rows_ + det.n_test_rows_), abs=1)


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

    det = AutoencoderDetector(epochs=10, batch_size=64).fit(frame, callback=stop_after_two)
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


def test_too_few_rows_to_train(demo_log):
    with pytest.raises(DataError, match="Too few rows to train: 5"):
        AutoencoderDetector(epochs=1).fit(demo_log.frame.head(5))


def test_seed_feature_set_trains(demo_log):
    frame = demo_log.frame[demo_log.scorable].head(300)
    det = AutoencoderDetector(feature_set="seed", epochs=1, batch_size=64).fit(frame)
    assert det.transform(frame).shape == (300, 4)
