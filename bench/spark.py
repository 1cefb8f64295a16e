"""Local engine vs Spark local[2]: wall time, rows/s and peak memory of scoring a demo log.

    python -m bench.spark [--rows 1000000 10000000] [--master local[2]] [--compare]

Each run is a fresh ``python -m core detect`` process on the same demo CSV with the same
bundle (the test suite's pinned ``format2-email``), so start-up (JVM, Python workers) is
counted as a user would pay it. Memory: the driver's Python process (VmHWM) and, polled
every 0.2 s, the whole process tree (for Spark: the JVM with its local executors and the
Python workers). ``--compare`` reads both CSV outputs back and compares them row by row.
Training on Spark is not implemented yet (see docs/scale-out.md), so only scoring is timed.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import pandas as pd

from bench.speed import demo_csv
from bench.table import markdown_table

ROOT = Path(__file__).resolve().parents[1]
BUNDLE_DIR, BUNDLE = ROOT / "tests" / "fixtures", "format2-email"


def _tree_rss_mb(pid: int) -> float:
    """Resident memory of ``pid`` and all its descendants, from /proc (Linux)."""
    parents, rss = {}, {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        child = int(stat.parent.name)
        parents[child] = int(fields[1])
        rss[child] = int(fields[21]) * os.sysconf("SC_PAGE_SIZE")
    tree, frontier = {pid}, [pid]
    while frontier:
        current = frontier.pop()
        for child, parent in parents.items():
            if parent == current and child not in tree:
                tree.add(child)
                frontier.append(child)
    return sum(rss.get(p, 0) for p in tree) / 2**20


def run_detect(data: Path, out: Path, engine: str, master: str) -> dict:
    """One ``detect`` run in a fresh process: seconds, driver peak MB, tree peak MB."""
    argv = [sys.executable, "-c", _DRIVER, str(data), str(out), "--artifacts", str(BUNDLE_DIR), "--name", BUNDLE]
    if engine == "spark":
        argv += ["--engine", "spark", "--master", master]
    started = time.perf_counter()
    proc = subprocess.Popen(argv, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    peak = [0.0]

    def poll():
        while proc.poll() is None:
            peak[0] = max(peak[0], _tree_rss_mb(proc.pid))
            time.sleep(0.2)

    watcher = threading.Thread(target=poll, daemon=True)
    watcher.start()
    stdout, stderr = proc.communicate()
    seconds = time.perf_counter() - started
    watcher.join()
    if proc.returncode != 0:
        raise RuntimeError(stderr[-2000:])
    driver_mb = int(stdout.strip().splitlines()[-1]) / 1024
    return {"seconds": seconds, "driver_mb": driver_mb, "tree_mb": peak[0]}


# The CLI in-process, then the process's own peak resident memory (KiB) on the last line.
_DRIVER = """
import sys
from core.cli import main
code = main(["detect", sys.argv[1], "--out", sys.argv[2], *sys.argv[3:]])
print(next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmHWM:")))
sys.exit(code)
"""


def compare(local: Path, spark: Path) -> str:
    a = pd.read_csv(local, keep_default_na=False, na_values=[""], dtype=str)
    b = pd.read_csv(spark, keep_default_na=False, na_values=[""], dtype=str)
    if list(a.columns) != list(b.columns) or len(a) != len(b):
        return f"different shape: {a.shape} vs {b.shape}"
    error = (a["reconstruction_error"].astype(float) - b["reconstruction_error"].astype(float)).abs().max()
    text = [c for c in a.columns if c != "reconstruction_error" and not c.startswith("error_")]
    differing = int((a[text].fillna("") != b[text].fillna("")).any(axis=1).sum())
    return f"max |error difference| {error:.2g}, rows with any other column different: {differing}"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[1_000_000])
    parser.add_argument("--master", default="local[2]")
    parser.add_argument("--compare", action="store_true", help="compare the two outputs row by row")
    parser.add_argument("--engines", nargs="+", choices=("local", "spark"), default=["local", "spark"])
    args = parser.parse_args(argv)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for n in args.rows:
            data = demo_csv(n)
            outputs = {}
            for engine in args.engines:
                out = Path(tmp) / f"{engine}-{n}.csv"
                result = run_detect(data, out, engine, args.master)
                outputs[engine] = out
                rows.append(
                    {
                        "rows": f"{n:,}",
                        "engine": "local" if engine == "local" else f"spark {args.master}",
                        "wall s": result["seconds"],
                        "rows/s": f"{n / result['seconds']:,.0f}",
                        "driver Python peak MB": f"{result['driver_mb']:,.0f}",
                        "all processes peak MB": f"{result['tree_mb']:,.0f}",
                    }
                )
                print(rows[-1], file=sys.stderr, flush=True)
            if args.compare and len(outputs) == 2:
                print(f"{n:,} rows: {compare(outputs['local'], outputs['spark'])}", flush=True)
    print(markdown_table(pd.DataFrame(rows), float_format="{:.1f}"))
    print(f"\nmachine: {os.cpu_count()} cores; scoring only (Spark training is not implemented yet)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
