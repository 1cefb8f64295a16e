"""Process-level guarantees of model bundles: kills mid-save, concurrent saves, readers."""

import fcntl
import os
import pty
import re
import select
import signal
import struct
import subprocess
import sys
import termios
import textwrap
import time
from pathlib import Path

import pytest

from core.artifacts import list_bundles, load_bundle, save_bundle
from tests.conftest import copy_bundle

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
def bundle_root(tmp_path, saved_bundle):
    copy_bundle(saved_bundle, tmp_path, "base")
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
    # stderr is a terminal (100 columns), so the CLI draws its progress bar: proof that epochs are running.
    terminal, process_side = pty.openpty()
    fcntl.ioctl(process_side, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))
    process = subprocess.Popen(
        [sys.executable, "-m", "core", "train", str(demo_csv), "--artifacts", str(tmp_path)]
        + ["--epochs", "500", "--trim-fraction", "0"],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.DEVNULL,
        stderr=process_side,
    )
    os.close(process_side)
    shown, under_way = "", None
    deadline = time.time() + 120
    while under_way is None and time.time() < deadline and process.poll() is None:
        if select.select([terminal], [], [], 0.5)[0]:
            shown += os.read(terminal, 4096).decode(errors="replace")
        under_way = re.search(r"training\s*:.*?\b([1-9]\d*)/500\b", shown)
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=30)
    os.close(terminal)
    assert under_way, f"no training epoch was reported before the kill; the terminal showed {shown[-300:]!r}"
    assert process.returncode == -signal.SIGKILL  # killed mid-training, not finished or failed
    assert list_bundles(tmp_path) == []
    assert not any(tmp_path.iterdir())  # not even a temporary folder: training never reached the save


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
    reads_during_save = 0  # polls while the writer's temporary folder was on disk
    while writer.poll() is None:
        saving = any(p.name.startswith(".tmp-") for p in bundle_root.iterdir())
        listed = list_bundles(bundle_root)
        for info in listed:
            load_bundle(info.name, bundle_root)  # raises if anything listed is incomplete
            seen.add(info.name)
        if saving and "fresh" not in {info.name for info in listed}:
            reads_during_save += 1
        time.sleep(0.2)
    assert writer.returncode == 0, writer.stderr.read()
    assert reads_during_save >= 2  # the reader really ran while the half-written bundle existed
    assert seen <= {"base", "fresh"} and "base" in seen  # only whole bundles, never the temporary folder
    assert "fresh" in {b.name for b in list_bundles(bundle_root)}
