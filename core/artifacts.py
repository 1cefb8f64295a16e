"""Model bundles: one folder per trained detector under ``artifacts/``.

Layout of ``artifacts/<name>/``::

    model.keras          the Keras autoencoder (native format; a legacy model.h5 also loads)
    preprocessor.joblib  the fitted feature preprocessor (encoders + scaler)
    dense_weights.npz    the same network's weights as plain arrays (kernel_0, bias_0, …):
                         scoring runs them with NumPy and never imports TensorFlow
    test_errors.npy      reconstruction errors of the held-out test rows (threshold source)
    metadata.json        the detector's own metadata (threshold, percentile, feature set,
                         parameters, per-feature error scales and training range, row
                         counts, loss history, test-error histogram), the caller's (training
                         data and column mapping: ``core.provenance.training_metadata``),
                         format version, library versions and created time
    MANIFEST.sha256      SHA-256 of each file above, ``sha256sum`` format

What goes in the files is the detector's business (``AutoencoderDetector.get_state`` and
``from_state``); this module only writes them, checks them and moves them into place.

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
    """Save a fitted detector (anything with ``get_state()``) as a new bundle and return where it went.

    ``extra_metadata`` joins the detector's own metadata (e.g. ``training_metadata(...)``).
    The bundle is complete or absent: files go to a temporary folder, are flushed to disk,
    and the folder is renamed into place. A taken ``name`` gets a numeric suffix.
    Temporary folders older than ``stale_after`` seconds (left by a killed save) are removed.
    """
    root = Path(artifacts_dir)
    root.mkdir(parents=True, exist_ok=True)
    base = check_name(name or default_name())
    remove_stale_temporaries(root, stale_after)
    state = detector.get_state()
    temp = Path(tempfile.mkdtemp(prefix=_TEMP_PREFIX, dir=root))
    try:
        state.model.save(temp / MODEL_FILE)
        joblib.dump(state.preprocessor, temp / PREPROCESSOR_FILE)
        np.save(temp / TEST_ERRORS_FILE, np.asarray(state.test_errors, dtype=np.float64))
        np.savez(temp / WEIGHTS_FILE, **state.dense_weights)
        meta = {
            "format_version": FORMAT_VERSION,
            "created": datetime.now(UTC).isoformat(timespec="seconds"),
            **state.metadata,
            "library_versions": library_versions(),
            **(extra_metadata or {}),
        }
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


def load_bundle(name: str | None = None, artifacts_dir: str | os.PathLike = DEFAULT_ARTIFACTS):
    """The detector saved as ``name`` (latest bundle when None), verified before unpickling.

    The files are read here; ``AutoencoderDetector.from_state`` makes the detector of them
    (format-1 bundles and legacy ``.h5`` models included). The Keras model itself loads on
    first use of ``model_``: scoring never needs it.
    """
    # The one place files meet the detector class (imported here, never at module level:
    # core.model doesn't import this module, so there is no cycle, and listing or deleting
    # bundles never loads the model code).
    from core.model import AutoencoderDetector, DetectorState

    root = Path(artifacts_dir)
    if name is None:
        bundles = list_bundles(root)
        if not bundles:
            raise BundleError(f"No saved models in {root}. Train one first (python -m core train DATA.csv).")
        name = bundles[0].name
    path = root / check_name(name)
    meta = verify_bundle(path)
    weights = None
    if (path / WEIGHTS_FILE).is_file():  # absent in format 1
        with np.load(path / WEIGHTS_FILE, allow_pickle=False) as stored:
            weights = dict(stored)
    state = DetectorState(
        metadata=meta,
        preprocessor=joblib.load(path / PREPROCESSOR_FILE),
        test_errors=np.load(path / TEST_ERRORS_FILE, allow_pickle=False),
        dense_weights=weights,
        model=path / MODEL_FILE if (path / MODEL_FILE).is_file() else path / LEGACY_MODEL_FILE,
    )
    try:
        detector = AutoencoderDetector.from_state(state)
    except KeyError as missing:
        raise BundleError(f"Model {path.name!r} has no {missing} in its metadata. Delete it and retrain.") from None
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
