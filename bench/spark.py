"""Local engine vs Spark local[2]: wall time, rows/s and peak memory of scoring and training
on a demo log, and the Spark-trained detector's quality on csdmc2010.

    python -m bench.spark [--rows 1000000 10000000] [--master local[2]] [--compare]
    python -m bench.spark --train [--rows 1000000] [--epochs 5]
    python -m bench.spark --quality [--seeds 0 1 2]

Each run is a fresh ``python -m core detect`` (or ``train``) process on the same demo CSV,
scoring with the same bundle (``bench.speed.scoring_model``: trained on a sample of the same
demo organisation, so ~5% of rows are flagged and recorded as a user's would be), so start-up
(JVM, Python workers) is counted as a user would pay it. The local engine runs twice: in one
process (``--jobs 1``) and with a worker per core (the default). Memory: the driver's Python
process (VmHWM) and, polled every 0.2 s, the whole process tree (for Spark: the JVM with its
local executors and the Python workers). All runs of a size record into one fresh workspace;
``--compare`` reads the CSV outputs of the local run with a worker per core and of Spark back
and compares them column by column, and the two recorded runs (counts, stored rows and their
positions).

``--quality``: the shared csdmc2010 protocol (``core.evaluation.protocol_split``), per seed
the same detector trained locally and with ``--engine spark`` on the training half, both
scored locally on the test half: ROC-AUC of each and the difference.
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

from bench.speed import demo_csv, scoring_model
from bench.table import markdown_table

ROOT = Path(__file__).resolve().parents[1]


def _tree_usage(pid: int) -> tuple[float, dict[int, float]]:
    """Resident memory (MB) of ``pid`` and all its descendants, and each one's CPU seconds so
    far (user + system), from /proc (Linux)."""
    parents, rss, cpu = {}, {}, {}
    ticks = os.sysconf("SC_CLK_TCK")
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        child = int(stat.parent.name)
        parents[child] = int(fields[1])
        rss[child] = int(fields[21]) * os.sysconf("SC_PAGE_SIZE")
        cpu[child] = (int(fields[11]) + int(fields[12])) / ticks
    tree, frontier = {pid}, [pid]
    while frontier:
        current = frontier.pop()
        for child, parent in parents.items():
            if parent == current and child not in tree:
                tree.add(child)
                frontier.append(child)
    return sum(rss.get(p, 0) for p in tree) / 2**20, {p: cpu[p] for p in tree if p in cpu}


def run_detect(data: Path, out: Path, engine: str, master: str, model_dir: Path, db: str, jobs: int = -1) -> dict:
    """One ``detect`` run in a fresh process, recorded in workspace ``db``: seconds, CPU seconds,
    driver peak MB, tree peak MB."""
    argv = ["detect", str(data), "--out", str(out), "--artifacts", str(model_dir), "--name", "bench", "--db", db]
    if engine == "local":
        argv += ["--jobs", str(jobs)]
    return run_cli(argv, engine, master)


def run_train(data: Path, artifacts: Path, engine: str, master: str, epochs: int) -> dict:
    """One ``train`` run in a fresh process: seconds, driver peak MB, tree peak MB."""
    argv = ["train", str(data), "--artifacts", str(artifacts), "--name", engine, "--epochs", str(epochs)]
    return run_cli(argv, engine, master)


def run_cli(argv: list[str], engine: str, master: str) -> dict:
    argv = [sys.executable, "-c", _DRIVER, *argv]
    if engine == "spark":
        argv += ["--engine", "spark", "--master", master]
    started = time.perf_counter()
    proc = subprocess.Popen(argv, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    peak, cpu = [0.0], {}

    def poll():
        while proc.poll() is None:
            rss, seen = _tree_usage(proc.pid)
            peak[0] = max(peak[0], rss)
            cpu.update(seen)  # the last reading of every process of the tree, gone ones included
            time.sleep(0.2)

    watcher = threading.Thread(target=poll, daemon=True)
    watcher.start()
    stdout, stderr = proc.communicate()
    seconds = time.perf_counter() - started
    watcher.join()
    if proc.returncode != 0:
        raise RuntimeError(stderr[-2000:])
    driver_mb = int(stdout.strip().splitlines()[-1]) / 1024
    # CPU seconds of the whole tree (worker processes, the JVM, Spark's Python workers), read every
    # 0.2 s: on a shared machine this, unlike the wall time, doesn't grow with the neighbours' load.
    return {"seconds": seconds, "cpu": sum(cpu.values()), "driver_mb": driver_mb, "tree_mb": peak[0]}


# The CLI in-process, then the process's own peak resident memory (KiB) on the last line.
_DRIVER = """
import sys
from core.cli import main
code = main(sys.argv[1:])
print(next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmHWM:")))
sys.exit(code)
"""


def compare(local: Path, spark: Path, db: str) -> str:
    """The two CSVs column by column (the workspace's marks included), and the two runs they
    recorded in ``db``: their counts and their stored rows."""
    from core.workspace.store import Workspace

    a = pd.read_csv(local, keep_default_na=False, na_values=[""], dtype=str)
    b = pd.read_csv(spark, keep_default_na=False, na_values=[""], dtype=str)
    if list(a.columns) != list(b.columns) or len(a) != len(b):
        return f"different shape: {a.shape} vs {b.shape}"
    error = (a["reconstruction_error"].astype(float) - b["reconstruction_error"].astype(float)).abs().max()
    text = [c for c in a.columns if c != "reconstruction_error" and not c.startswith("error_")]
    differing = int((a[text].fillna("") != b[text].fillna("")).any(axis=1).sum())
    ws = Workspace.open(db)
    spark_run, local_run = ws.runs(limit=2)  # newest first: spark ran second
    counts = ("rows_total", "rows_scored", "n_flagged", "n_suppressed", "n_in_events")
    runs = "same" if all(getattr(local_run, c) == getattr(spark_run, c) for c in counts) else "DIFFERENT"
    rows = [ws.flagged(r.id, include_suppressed=True)[["UUID", "position"]] for r in (local_run, spark_run)]
    stored = "same" if rows[0].equals(rows[1]) else "DIFFERENT"
    return (
        f"max |error difference| {error:.2g}, rows with any other column different: {differing}; "
        f"runs {local_run.id} and {spark_run.id}: {runs} counts ({local_run.n_flagged:,} flagged), {stored} stored rows"
    )


def quality(seeds, master: str) -> pd.DataFrame:
    """ROC-AUC on csdmc2010's test half of the detector trained locally and on Spark."""
    from core.evaluation import SHARED_DATA, detection_metrics, protocol_split
    from core.loading import read_log
    from core.model import AutoencoderDetector
    from core.spark.io import read_spark_log
    from core.spark.session import get_session
    from core.spark.training import train_on_spark

    log = read_log(SHARED_DATA / "csdmc2010_labeled.csv")
    frame = log.frame[log.scorable].reset_index(drop=True)
    spark = get_session(master)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for seed in seeds:
            train, test, y = protocol_split(frame, seed)
            path = Path(tmp) / f"train-{seed}.csv"
            train.to_csv(path, index=False)
            started = time.perf_counter()
            local = AutoencoderDetector(seed=seed).fit(train)
            local_s = time.perf_counter() - started
            started = time.perf_counter()
            remote = AutoencoderDetector(seed=seed)
            train_on_spark(spark, read_spark_log(spark, str(path)), remote)
            spark_s = time.perf_counter() - started
            auc = {
                name: detection_metrics(y, d.decision_function(test), d.threshold_)["roc_auc"]
                for name, d in (("local", local), ("spark", remote))
            }
            rows.append(
                {
                    "seed": seed,
                    "ROC-AUC local": auc["local"],
                    "ROC-AUC spark": auc["spark"],
                    "difference": auc["spark"] - auc["local"],
                    "local train s": local_s,
                    f"spark {master} train s": spark_s,
                }
            )
            print(rows[-1], file=sys.stderr, flush=True)
    table = pd.DataFrame(rows)
    mean = table.mean(numeric_only=True).to_dict()
    return pd.concat([table, pd.DataFrame([{**mean, "seed": "mean"}])], ignore_index=True)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[1_000_000])
    parser.add_argument("--master", default="local[2]")
    parser.add_argument("--compare", action="store_true", help="compare the two outputs row by row")
    parser.add_argument("--engines", nargs="+", choices=("local", "spark"), default=["local", "spark"])
    parser.add_argument("--train", action="store_true", help="time training instead of scoring")
    parser.add_argument("--epochs", type=int, default=5, help="epochs of the final fit with --train (default 5)")
    parser.add_argument("--quality", action="store_true", help="csdmc2010 ROC-AUC, trained locally vs on Spark")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    args = parser.parse_args(argv)
    if args.quality:
        print(markdown_table(quality(args.seeds, args.master), float_format="{:.3f}"))
        return 0
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for n in args.rows:
            data = demo_csv(n)
            outputs = {}
            model_dir = None if args.train else scoring_model(n)
            # One workspace for all runs (rules, events and verdicts apply alike).
            db = f"sqlite:///{Path(tmp) / f'workspace-{n}.db'}"
            runs = [(engine, jobs) for engine in args.engines for jobs in ((1, -1) if engine == "local" else (-1,))]
            for engine, jobs in runs:
                out = Path(tmp) / f"{engine}-{jobs}-{n}.csv"
                if args.train:
                    if jobs == 1:
                        continue  # training has no --jobs
                    result = run_train(data, Path(tmp) / "artifacts", engine, args.master, args.epochs)
                else:
                    result = run_detect(data, out, engine, args.master, model_dir, db, jobs)
                    outputs[engine] = out  # the local run with a worker per core (the later one) is compared
                if engine == "spark":
                    label = f"spark {args.master}"
                else:
                    label = "local" if args.train else f"local, {'one process' if jobs == 1 else 'a worker per core'}"
                rows.append(
                    {
                        "rows": f"{n:,}",
                        "engine": label,
                        "wall s": result["seconds"],
                        "rows/s": f"{n / result['seconds']:,.0f}",
                        "CPU s (all processes)": result["cpu"],
                        "rows per CPU s": f"{n / result['cpu']:,.0f}",
                        "driver Python peak MB": f"{result['driver_mb']:,.0f}",
                        "all processes peak MB": f"{result['tree_mb']:,.0f}",
                    }
                )
                print(rows[-1], file=sys.stderr, flush=True)
            if args.compare and len(outputs) == 2:
                print(f"{n:,} rows: {compare(outputs['local'], outputs['spark'], db)}", flush=True)
    print(markdown_table(pd.DataFrame(rows), float_format="{:.1f}"))
    what = f"training ({args.epochs} epochs)" if args.train else "scoring"
    print(f"\nmachine: {os.cpu_count()} cores; {what}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
