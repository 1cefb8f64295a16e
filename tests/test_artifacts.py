import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from core import artifacts
from core.artifacts import (
    MANIFEST_FILE,
    METADATA_FILE,
    MODEL_FILE,
    PREPROCESSOR_FILE,
    delete_bundle,
    list_bundles,
    load_bundle,
    save_bundle,
)
from core.errors import BundleError


def test_round_trip_gives_identical_errors(tmp_path, trained_detector, demo_log):
    info = save_bundle(trained_detector, tmp_path, name="demo")
    assert {p.name for p in info.path.iterdir()} >= {MODEL_FILE, PREPROCESSOR_FILE, METADATA_FILE, MANIFEST_FILE}
    loaded = load_bundle("demo", tmp_path)
    frame = demo_log.frame[demo_log.scorable]
    np.testing.assert_allclose(loaded.decision_function(frame), trained_detector.decision_function(frame), rtol=1e-6)
    assert loaded.threshold_ == trained_detector.threshold_
    np.testing.assert_allclose(loaded.test_errors_, trained_detector.test_errors_)


def test_metadata_records_what_made_the_model(tmp_path, trained_detector):
    info = save_bundle(trained_detector, tmp_path, name="meta", extra_metadata={"column_mapping": {"UUID": "id"}})
    meta = json.loads((info.path / METADATA_FILE).read_text())
    for key in (
        "threshold",
        "percentile",
        "feature_set",
        "training_rows",
        "library_versions",
        "created",
        "history",
        "test_error_histogram",
        "format_version",
        "column_mapping",
    ):
        assert key in meta
    assert meta["library_versions"]["keras"].startswith("3.")


def test_taken_name_gets_suffix_never_overwritten(tmp_path, trained_detector):
    first = save_bundle(trained_detector, tmp_path, name="same")
    second = save_bundle(trained_detector, tmp_path, name="same")
    assert (first.name, second.name) == ("same", "same-2")
    assert {b.name for b in list_bundles(tmp_path)} == {"same", "same-2"}


def test_crash_mid_save_leaves_no_bundle(tmp_path, trained_detector, monkeypatch):
    def explode(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(artifacts.joblib, "dump", explode)
    with pytest.raises(RuntimeError):
        save_bundle(trained_detector, tmp_path, name="broken")
    assert list(tmp_path.iterdir()) == []


def test_tampered_bundle_is_refused(tmp_path, trained_detector):
    info = save_bundle(trained_detector, tmp_path, name="tampered")
    with open(info.path / PREPROCESSOR_FILE, "ab") as handle:
        handle.write(b"evil")
    with pytest.raises(BundleError, match="does not match its checksum"):
        load_bundle("tampered", tmp_path)


def test_missing_file_or_manifest_is_refused(tmp_path, trained_detector):
    info = save_bundle(trained_detector, tmp_path, name="partial")
    (info.path / MODEL_FILE).unlink()
    with pytest.raises(BundleError, match="missing model.keras"):
        load_bundle("partial", tmp_path)
    (info.path / MANIFEST_FILE).unlink()
    with pytest.raises(BundleError, match="no checksum manifest"):
        load_bundle("partial", tmp_path)


@pytest.mark.parametrize(
    "version, message",
    [
        (0, "bundle format 0"),
        (1, "older version.*retrain it"),  # format-1 email features predate today's columns
    ],
)
def test_unreadable_format_is_refused_with_a_retrain_message(tmp_path, trained_detector, version, message):
    info = save_bundle(trained_detector, tmp_path, name="old")
    meta = json.loads((info.path / METADATA_FILE).read_text())
    meta["format_version"] = version
    (info.path / METADATA_FILE).write_text(json.dumps(meta))
    artifacts._write_manifest(info.path)
    with pytest.raises(BundleError, match=message):
        load_bundle("old", tmp_path)
    assert [b.name for b in list_bundles(tmp_path)] == ["old"]  # still listed, so it can be deleted


def test_legacy_h5_model_loads(tmp_path, trained_detector, demo_log):
    info = save_bundle(trained_detector, tmp_path, name="legacy")
    (info.path / MODEL_FILE).unlink()
    trained_detector.model_.save(info.path / "model.h5")  # as the report's scripts saved it
    artifacts._write_manifest(info.path)
    loaded = load_bundle("legacy", tmp_path)
    frame = demo_log.frame[demo_log.scorable].head(50)
    np.testing.assert_allclose(loaded.decision_function(frame), trained_detector.decision_function(frame), rtol=1e-5)


def test_list_load_latest_and_delete(tmp_path, trained_detector):
    assert list_bundles(tmp_path) == []
    with pytest.raises(BundleError, match="No saved models"):
        load_bundle(None, tmp_path)
    save_bundle(trained_detector, tmp_path, name="a")
    save_bundle(trained_detector, tmp_path, name="b")
    (tmp_path / ".tmp-inflight").mkdir()  # a save in progress is never listed
    assert {b.name for b in list_bundles(tmp_path)} == {"a", "b"}
    assert load_bundle(None, tmp_path).bundle_name_ == list_bundles(tmp_path)[0].name
    delete_bundle("a", tmp_path)
    assert [b.name for b in list_bundles(tmp_path)] == ["b"]
    with pytest.raises(BundleError, match="No model named 'a'"):
        load_bundle("a", tmp_path)


@pytest.mark.parametrize("name", ["../escape", "a/b", ".hidden", "x" * 90])
def test_invalid_names_are_refused(tmp_path, trained_detector, name):
    with pytest.raises(BundleError, match="Invalid model name"):
        save_bundle(trained_detector, tmp_path, name=name)


FORMAT_1_SEED = Path(__file__).parent / "fixtures" / "format1-seed"  # saved by the code at 48bf68e


def test_format_1_seed_bundle_still_loads(tmp_path, demo_log):
    """A real bundle from before the training range and the plain-array weights: the Keras
    model is read for the weights and values are weighed as they were (no range)."""
    shutil.copytree(FORMAT_1_SEED, tmp_path / FORMAT_1_SEED.name)
    loaded = load_bundle(FORMAT_1_SEED.name, tmp_path)
    frame = demo_log.frame[demo_log.scorable].head(50)
    errors = loaded.decision_function(frame)
    assert np.isfinite(errors).all() and loaded.n_trimmed_rows_ == 0
    np.testing.assert_allclose(
        loaded.reconstruct(loaded.transform(frame)),
        loaded.model_.predict(loaded.transform(frame), verbose=0),
        rtol=1e-4,
        atol=1e-5,
    )
