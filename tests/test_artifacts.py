import json
import shutil
import subprocess
import sys
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
from tests.conftest import copy_bundle

ROOT = Path(__file__).resolve().parents[1]
FORMAT_2_EMAIL = Path(__file__).parent / "fixtures" / "format2-email"  # saved before the detector owned its state


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


def test_tampered_bundle_is_refused(tmp_path, saved_bundle):
    path = copy_bundle(saved_bundle, tmp_path, "tampered")
    with open(path / PREPROCESSOR_FILE, "ab") as handle:
        handle.write(b"evil")
    with pytest.raises(BundleError, match="does not match its checksum"):
        load_bundle("tampered", tmp_path)


def test_missing_file_or_manifest_is_refused(tmp_path, saved_bundle):
    path = copy_bundle(saved_bundle, tmp_path, "partial")
    (path / MODEL_FILE).unlink()
    with pytest.raises(BundleError, match="missing model.keras"):
        load_bundle("partial", tmp_path)
    (path / MANIFEST_FILE).unlink()
    with pytest.raises(BundleError, match="no checksum manifest"):
        load_bundle("partial", tmp_path)


@pytest.mark.parametrize(
    "version, message",
    [
        (0, "bundle format 0"),
        (1, "older version.*retrain it"),  # format-1 email features predate today's columns
    ],
)
def test_unreadable_format_is_refused_with_a_retrain_message(tmp_path, saved_bundle, version, message):
    path = copy_bundle(saved_bundle, tmp_path, "old")
    meta = json.loads((path / METADATA_FILE).read_text())
    meta["format_version"] = version
    (path / METADATA_FILE).write_text(json.dumps(meta))
    artifacts._write_manifest(path)
    with pytest.raises(BundleError, match=message):
        load_bundle("old", tmp_path)
    assert [b.name for b in list_bundles(tmp_path)] == ["old"]  # still listed, so it can be deleted


def test_legacy_h5_model_loads(tmp_path, saved_bundle, trained_detector, demo_log):
    path = copy_bundle(saved_bundle, tmp_path, "legacy")
    (path / MODEL_FILE).unlink()
    (path / artifacts.WEIGHTS_FILE).unlink()  # the report's scripts saved the model only
    trained_detector.model_.save(path / "model.h5")
    artifacts._write_manifest(path)
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


def test_saved_bundle_has_the_files_and_metadata_keys_of_format_2(tmp_path, trained_detector):
    """The detector owning its state changed no file and no metadata key: a bundle saved
    today matches one saved before (tests/fixtures/format2-email, no extra metadata) but for
    the health profile, the one key added since (older bundles load without it)."""
    info = save_bundle(trained_detector, tmp_path, name="today")
    assert {p.name for p in info.path.iterdir()} == {p.name for p in FORMAT_2_EMAIL.iterdir()}
    before = json.loads((FORMAT_2_EMAIL / METADATA_FILE).read_text())
    assert set(info.metadata) == set(before) | {"health_profile"}
    assert set(json.loads((info.path / METADATA_FILE).read_text())) == set(before) | {"health_profile"}
    with np.load(info.path / artifacts.WEIGHTS_FILE) as now, np.load(FORMAT_2_EMAIL / artifacts.WEIGHTS_FILE) as then:
        assert sorted(now.files) == sorted(then.files)


def test_files_and_detector_modules_do_not_import_each_other():
    """core.artifacts handles files, core.model the detector: importing one doesn't import
    the other (load_bundle reaches for the detector class only when it is called)."""
    for module, other in (("core.artifacts", "core.model"), ("core.model", "core.artifacts")):
        code = f"import sys, {module}; print({other!r} in sys.modules)"
        result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
        assert result.stdout.strip() == "False", (module, result.stdout, result.stderr)
