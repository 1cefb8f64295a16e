"""Model bundles: one folder per trained detector under ``artifacts/``.

Layout of ``artifacts/<name>/``::

    model.keras          the Keras autoencoder (native format; a legacy model.h5 also loads)
    preprocessor.joblib  the fitted feature preprocessor (encoders + scaler)
    test_errors.npy      reconstruction errors of the held-out test rows (threshold source)
    metadata.json        threshold, percentile, feature set, parameters, column mapping,
                         training rows, SHA-256 of the training data, library versions,
                         created time, loss history, test-error histogram
    MANIFEST.sha256      SHA-256 of each file above, ``sha256sum`` format

Guarantees: a bundle is written into a hidden temporary folder beside its final place and
renamed into place in one step, so a crash mid-save leaves no half bundle and a reader never
sees one. Names are never overwritten: a taken name gets a ``-2``, ``-3``… suffix (the rename
itself refuses to replace an existing bundle, so two concurrent saves can't collide). Loading
checks every file against the manifest first and refuses a bundle that doesn't match —
joblib is pickle, so only bundles this tool wrote (and nobody changed) are unpickled; the
Keras model loads with ``safe_mode=True``.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import tempfile
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import metadata as importlib_metadata
from pathlib import Path

import joblib
import numpy as np
import pandas as pd

from core.errors import BundleError

FORMAT_VERSION = 2
# Format 1 (no per-feature training range) still loads for the seed feature set, whose
# preprocessing is unchanged; its email features predate today's and can't be recomputed.
READABLE_FORMATS = (1, 2)
MODEL_FILE = "model.keras"
LEGACY_MODEL_FILE = "model.h5"
PREPROCESSOR_FILE = "preprocessor.joblib"
METADATA_FILE = "metadata.json"
TEST_ERRORS_FILE = "test_errors.npy"
WEIGHTS_FILE = "dense_weights.npz"  # the model's weights as plain arrays: scoring needs no TensorFlow
MANIFEST_FILE = "MANIFEST.sha256"
DEFAULT_ARTIFACTS = Path(__file__).resolve().parent.parent / "artifacts"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,80}$")
_TEMP_PREFIX = ".tmp-"


@dataclass(frozen=True)
class BundleInfo:
    """A saved bundle as listed: its name, folder and metadata."""

    name: str
    path: Path
    metadata: dict

    @property
    def created(self) -> str:
        return self.metadata.get("created", "")


def sha256_of_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def sha256_of_frame(frame) -> str:
    """A fingerprint of the training rows (for metadata: which data made this model)."""
    hashed = pd.util.hash_pandas_object(frame.astype(str), index=False).to_numpy()
    return hashlib.sha256(hashed.tobytes()).hexdigest()


def library_versions() -> dict:
    versions = {}
    for package in ("keras", "tensorflow-cpu", "tensorflow", "scikit-learn", "pandas", "numpy", "joblib"):
        try:
            versions[package] = importlib_metadata.version(package)
        except importlib_metadata.PackageNotFoundError:
            continue
    return versions


def default_name() -> str:
    return "model-" + datetime.now(UTC).strftime("%Y%m%d-%H%M%S")


def check_name(name: str) -> str:
    if not _NAME.match(name or ""):
        raise BundleError(
            f"Invalid model name {name!r}: use letters, digits, '.', '_' or '-' "
            "(up to 80 characters, starting with a letter or digit)."
        )
    return name


def save_bundle(
    detector,
    artifacts_dir: str | os.PathLike = DEFAULT_ARTIFACTS,
    *,
    name: str | None = None,
    extra_metadata: dict | None = None,
    stale_after: float = 24 * 3600,
) -> BundleInfo:
    """Save a fitted detector as a new bundle and return where it went.

    The bundle is complete or absent: files go to a temporary folder, are flushed to disk,
    and the folder is renamed into place. A taken ``name`` gets a numeric suffix.
    Temporary folders older than ``stale_after`` seconds (left by a killed save) are removed.
    """
    root = Path(artifacts_dir)
    root.mkdir(parents=True, exist_ok=True)
    base = check_name(name or default_name())
    remove_stale_temporaries(root, stale_after)
    temp = Path(tempfile.mkdtemp(prefix=_TEMP_PREFIX, dir=root))
    try:
        detector.model_.save(temp / MODEL_FILE)
        joblib.dump(detector.preprocessor_, temp / PREPROCESSOR_FILE)
        np.save(temp / TEST_ERRORS_FILE, np.asarray(detector.test_errors_, dtype=np.float64))
        np.savez(
            temp / WEIGHTS_FILE,
            **{
                f"{part}_{i}": array
                for i, (kernel, bias, _) in enumerate(detector.dense_layers_)
                for part, array in (("kernel", kernel), ("bias", bias))
            },
        )
        meta = _metadata(detector, extra_metadata or {})
        (temp / METADATA_FILE).write_text(json.dumps(meta, indent=2, default=_json_default))
        _write_manifest(temp)
        _fsync_tree(temp)
        final = _rename_into_place(temp, root, base)
    except BaseException:
        shutil.rmtree(temp, ignore_errors=True)
        raise
    return BundleInfo(final.name, final, meta)


def remove_stale_temporaries(root: Path, older_than: float) -> None:
    """Delete temporary folders of saves that died (killed, power loss) long enough ago."""
    now = datetime.now(UTC).timestamp()
    for path in root.glob(_TEMP_PREFIX + "*"):
        try:
            if now - path.stat().st_mtime >= older_than:
                shutil.rmtree(path, ignore_errors=True)
        except OSError:
            continue


def _rename_into_place(temp: Path, root: Path, base: str) -> Path:
    for attempt in range(1, 1000):
        final = root / (base if attempt == 1 else f"{base}-{attempt}")
        if final.exists():
            continue
        try:
            # os.rename onto an existing non-empty folder fails, so a racing save can't clobber us.
            os.rename(temp, final)
        except OSError:
            continue
        _fsync_dir(root)
        return final
    raise BundleError(f"Could not find a free bundle name for {base!r} in {root}.")


def _metadata(detector, extra: dict) -> dict:
    errors = np.asarray(detector.test_errors_, dtype=float)
    counts, edges = np.histogram(errors, bins=50)
    params = detector.get_params()
    profile = getattr(detector, "health_profile_", None)
    return {
        "format_version": FORMAT_VERSION,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "threshold": float(detector.threshold_),
        "error_scale": np.asarray(detector.error_scale_, dtype=float).tolist(),
        "outside_scale": np.asarray(detector.outside_scale_, dtype=float).tolist(),
        "feature_range": np.asarray(detector.feature_range_, dtype=float).tolist(),
        "percentile": float(detector.percentile),
        "feature_set": detector.feature_set,
        "features": list(detector.preprocessor_.feature_names_out_),
        "dense_activations": [activation for *_, activation in detector.dense_layers_],
        "params": params,
        "training_rows": int(detector.n_train_rows_),
        "trimmed_rows": int(getattr(detector, "n_trimmed_rows_", 0)),
        "test_rows": int(detector.n_test_rows_),
        "epochs_run": int(detector.epochs_run_),
        "stopped_early": bool(detector.stopped_early_),
        "history": detector.history_,
        "test_error_histogram": {"counts": counts.tolist(), "edges": edges.tolist()},
        "test_error_quantiles": {str(q): float(np.percentile(errors, q)) for q in (50, 90, 95, 99)},
        "library_versions": library_versions(),
        "health_profile": None if profile is None else profile.to_dict(),
        **extra,
    }


def _json_default(value):
    if isinstance(value, (np.integer, np.floating)):
        return value.item()
    if isinstance(value, (tuple, set, frozenset)):
        return list(value)
    return str(value)


def _write_manifest(folder: Path) -> None:
    lines = [
        f"{sha256_of_file(path)}  {path.name}"
        for path in sorted(folder.iterdir())
        if path.is_file() and path.name != MANIFEST_FILE
    ]
    (folder / MANIFEST_FILE).write_text("\n".join(lines) + "\n")


def _fsync_tree(folder: Path) -> None:
    for path in folder.iterdir():
        if path.is_file():
            with open(path, "rb") as handle:
                os.fsync(handle.fileno())
    _fsync_dir(folder)


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def verify_bundle(path: Path) -> dict:
    """Check every file against the manifest; return the metadata, or raise BundleError."""
    name = path.name
    manifest = path / MANIFEST_FILE
    if not path.is_dir():
        raise BundleError(f"No model named {name!r} in {path.parent}. Train one or pick a saved model.")
    if not manifest.is_file():
        raise BundleError(
            f"Model {name!r} has no checksum manifest, so it can't be trusted; "
            "it was not written by this tool or is incomplete. Delete it and retrain."
        )
    expected = {}
    for line in manifest.read_text().splitlines():
        if line.strip():
            digest, _, filename = line.partition("  ")
            expected[filename.strip()] = digest.strip()
    if "/" in "".join(expected) or ".." in "".join(expected):
        raise BundleError(f"Model {name!r} has a malformed manifest. Delete it and retrain.")
    for filename, digest in expected.items():
        file = path / filename
        if not file.is_file():
            raise BundleError(f"Model {name!r} is missing {filename}. Delete it and retrain.")
        if sha256_of_file(file) != digest:
            raise BundleError(
                f"Model {name!r}: {filename} does not match its checksum (changed or corrupted); "
                "refusing to load it. Delete it and retrain."
            )
    for required in (METADATA_FILE, PREPROCESSOR_FILE, TEST_ERRORS_FILE):
        if required not in expected:
            raise BundleError(f"Model {name!r} is missing {required}. Delete it and retrain.")
    if MODEL_FILE not in expected and LEGACY_MODEL_FILE not in expected:
        raise BundleError(f"Model {name!r} has no {MODEL_FILE}. Delete it and retrain.")
    try:
        meta = json.loads((path / METADATA_FILE).read_text())
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise BundleError(f"Model {name!r} has unreadable metadata. Delete it and retrain.") from None
    version = meta.get("format_version")
    if version not in READABLE_FORMATS:
        raise BundleError(
            f"Model {name!r} uses bundle format {version!r}; this version reads formats "
            f"{', '.join(map(str, READABLE_FORMATS))}. Retrain it with this version."
        )
    if version == 1 and meta.get("feature_set") != "seed":
        raise BundleError(
            f"Model {name!r} was saved by an older version whose email features this version no longer "
            "computes; retrain it on the same data (Train page or python -m core train)."
        )
    return meta


def load_model_file(path: Path):
    """A Keras model from ``.keras`` (safe mode) or a legacy ``.h5`` file."""
    import keras

    return keras.models.load_model(path, compile=False, safe_mode=True)


def load_bundle(name: str | None = None, artifacts_dir: str | os.PathLike = DEFAULT_ARTIFACTS):
    """The detector saved as ``name`` (latest bundle when None), verified before unpickling."""
    from core.model import AutoencoderDetector

    root = Path(artifacts_dir)
    if name is None:
        bundles = list_bundles(root)
        if not bundles:
            raise BundleError(f"No saved models in {root}. Train one first (python -m core train DATA.csv).")
        name = bundles[0].name
    path = root / check_name(name)
    meta = verify_bundle(path)
    model_path = path / MODEL_FILE if (path / MODEL_FILE).is_file() else path / LEGACY_MODEL_FILE
    params = {k: (tuple(v) if isinstance(v, list) else v) for k, v in meta.get("params", {}).items()}
    detector = AutoencoderDetector(**params)
    detector.model_path_ = model_path  # the Keras model itself loads on first use of model_
    if (path / WEIGHTS_FILE).is_file() and "dense_activations" in meta:
        with np.load(path / WEIGHTS_FILE, allow_pickle=False) as weights:
            detector.dense_layers_ = [
                (weights[f"kernel_{i}"], weights[f"bias_{i}"], activation)
                for i, activation in enumerate(meta["dense_activations"])
            ]
    else:  # bundles of format 1 and legacy .h5 models: read the weights from the model
        from core.model import dense_layers

        detector.dense_layers_ = dense_layers(detector.model_)
    detector.preprocessor_ = joblib.load(path / PREPROCESSOR_FILE)
    detector.threshold_ = float(meta["threshold"])
    detector.error_scale_ = np.asarray(meta["error_scale"], dtype=np.float64)
    n_features = len(detector.error_scale_)
    detector.outside_scale_ = np.asarray(meta.get("outside_scale", detector.error_scale_), dtype=np.float64)
    detector.feature_range_ = np.asarray(
        meta.get("feature_range", [[-np.inf] * n_features, [np.inf] * n_features]), dtype=np.float64
    )
    detector.n_trimmed_rows_ = meta.get("trimmed_rows", 0)
    detector.history_ = meta.get("history", {})
    detector.n_train_rows_ = meta.get("training_rows", 0)
    detector.n_test_rows_ = meta.get("test_rows", 0)
    detector.epochs_run_ = meta.get("epochs_run", len(detector.history_.get("loss", [])))
    detector.stopped_early_ = meta.get("stopped_early", False)
    detector.test_errors_ = np.load(path / TEST_ERRORS_FILE, allow_pickle=False)
    detector.health_profile_ = None
    if meta.get("health_profile"):
        from core.health import HealthProfile

        detector.health_profile_ = HealthProfile.from_dict(meta["health_profile"])
    detector.bundle_name_ = path.name
    return detector


def list_bundles(artifacts_dir: str | os.PathLike = DEFAULT_ARTIFACTS) -> list[BundleInfo]:
    """Saved bundles, newest first. Unreadable folders are skipped (and temporary ones ignored)."""
    root = Path(artifacts_dir)
    if not root.is_dir():
        return []
    found = []
    for path in root.iterdir():
        if not path.is_dir() or path.name.startswith("."):
            continue
        try:
            meta = json.loads((path / METADATA_FILE).read_text())
        except (OSError, json.JSONDecodeError, UnicodeDecodeError):
            continue
        found.append(BundleInfo(path.name, path, meta))
    return sorted(found, key=lambda b: (b.created, b.name), reverse=True)


def delete_bundle(name: str, artifacts_dir: str | os.PathLike = DEFAULT_ARTIFACTS) -> None:
    """Remove a bundle: renamed out of sight first, so readers never see it half deleted."""
    root = Path(artifacts_dir)
    path = root / check_name(name)
    if not path.is_dir():
        raise BundleError(f"No model named {name!r} in {root}.")
    trash = root / f"{_TEMP_PREFIX}deleted-{uuid.uuid4().hex}"
    os.rename(path, trash)
    shutil.rmtree(trash, ignore_errors=True)
