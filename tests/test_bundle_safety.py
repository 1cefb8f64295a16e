"""Process-level guarantees of model bundles: kills mid-save, concurrent saves, readers."""

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from core.artifacts import list_bundles, load_bundle, save_bundle

ROOT = Path(__file__).resolve().parents[1]


def _python(code: str, *args) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(code), *map(str, args)],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


# Re-save an existing bundle under a new name, pausing inside the save when asked to.
RESAVE = """
import sys, time
from core import artifacts
root, source, name, pause = sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4])
detector = artifacts.load_bundle(source, root)
if pause:
    real_dump = artifacts.joblib.dump
    def slow_dump(*args, **kwargs):
        real_dump(*args, **kwargs)
        print("inside save", flush=True)
        time.sleep(pause)
    artifacts.joblib.dump = slow_dump
print(artifacts.save_bundle(detector, root, name=name).name, flush=True)
"""


@pytest.fixture()
def bundle_root(tmp_path, trained_detector):
    save_bundle(trained_detector, tmp_path, name="base")
    return tmp_path


def test_sigkill_during_save_leaves_no_partial_bundle(bundle_root):
    process = _python(RESAVE, bundle_root, "base", "victim", 60)
    assert process.stdout.readline().strip() == "inside save"
    os.kill(process.pid, signal.SIGKILL)
    process.wait(timeout=30)
    assert [b.name for b in list_bundles(bundle_root)] == ["base"]
    assert not (bundle_root / "victim").exists()
    load_bundle("base", bundle_root)  # the previous bundle still loads
    # The killed save's temporary folder is cleaned up by the next save.
    save_bundle(load_bundle("base", bundle_root), bundle_root, name="after", stale_after=0)
    assert not [p for p in bundle_root.iterdir() if p.name.startswith(".tmp-")]


def test_sigkill_during_training_leaves_no_bundle(tmp_path, demo_csv):
    process = subprocess.Popen(
        [sys.executable, "-m", "core", "train", str(demo_csv), "--artifacts", str(tmp_path), "--epochs", "500"],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.time() + 120
    while time.time() < deadline and "epoch" not in process.stderr.read(64):
        pass
    os.kill(process.pid, signal.SIGKILL)
    process.wait(timeout=30)
    assert list_bundles(tmp_path) == []


def test_concurrent_saves_with_the_same_name_both_land(bundle_root):
    writers = [_python(RESAVE, bundle_root, "base", "shared", 0) for _ in range(2)]
    names = sorted(w.communicate(timeout=120)[0].strip().splitlines()[-1] for w in writers)
    assert all(w.returncode == 0 for w in writers)
    assert names == ["shared", "shared-2"]
    for name in names:
        load_bundle(name, bundle_root)


def test_reader_never_sees_a_half_bundle(bundle_root):
    writer = _python(RESAVE, bundle_root, "base", "fresh", 3)
    seen = set()
    while writer.poll() is None:
        for info in list_bundles(bundle_root):
            load_bundle(info.name, bundle_root)  # raises if anything listed is incomplete
            seen.add(info.name)
        time.sleep(0.2)
    assert writer.returncode == 0
    assert "fresh" in {b.name for b in list_bundles(bundle_root)}
