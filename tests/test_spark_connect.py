"""Spark Connect (``--master sc://…``): the client talks to a Spark Connect server over gRPC.

The test starts a real Connect server (``SparkConnectServer`` from pyspark's own jars, on
``local[2]`` and a free port) whose Python workers know nothing of this project: no
PYTHONPATH, another working folder. ``detect --engine spark --master sc://…`` must ship the
code itself (``addArtifacts``), ship the detector once as a file artifact (no broadcasts under
Connect) and give the local engine's scores row by row. Skips without pyspark or Java, fails
under CI=true.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from core.artifacts import load_bundle
from core.cli import main
from core.demo import make_demo_log
from core.loading import read_log
from core.scoring import ERROR, UUID, score_log
from core.spark.session import spark_available
from core.workspace.db import dispose_engines
from core.workspace.store import Workspace
from tests.browser import free_port
from tests.fixtures.make_pinned_scores import BUNDLE
from tests.test_spark import HOSTILE, _assert_same, _read_scores

ROOT = Path(__file__).resolve().parents[1]
SERVER_START_SECONDS = 240


@pytest.fixture(scope="module")
def connect_url(tmp_path_factory):
    missing = spark_available()
    if missing:
        if os.environ.get("CI") == "true":
            pytest.fail(f"Spark Connect tests must run under CI: {missing}")
        pytest.skip(f"Spark Connect tests skipped: {missing}")
    import pyspark

    spark_home = Path(pyspark.__file__).parent
    folder = tmp_path_factory.mktemp("connect-server")
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "SPARK_HOME")}
    env.update(SPARK_HOME=str(spark_home), PYSPARK_PYTHON=sys.executable, SPARK_LOCAL_IP="127.0.0.1")
    command = [
        str(spark_home / "bin" / "spark-submit"),
        "--class",
        "org.apache.spark.sql.connect.service.SparkConnectServer",
    ]
    command += ["--name", "email-ad-connect-test", "--master", "local[2]"]
    for setting in (
        f"spark.connect.grpc.binding.port={port}",
        "spark.connect.grpc.binding.address=127.0.0.1",
        "spark.ui.enabled=false",
        "spark.sql.shuffle.partitions=4",
        "spark.sql.session.timeZone=UTC",
    ):
        command += ["--conf", setting]
    log = (folder / "server.log").open("w")
    server = subprocess.Popen(
        command, cwd=folder, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )
    try:
        deadline = time.monotonic() + SERVER_START_SECONDS
        while True:
            if server.poll() is not None:
                pytest.fail(f"Spark Connect server exited: {(folder / 'server.log').read_text()[-2000:]}")
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    pytest.fail(f"Spark Connect server not listening after {SERVER_START_SECONDS} s")
                time.sleep(1)
        yield f"sc://127.0.0.1:{port}"
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(60)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
        log.close()


@pytest.fixture(scope="module")
def small_csv(tmp_path_factory):
    frame = make_demo_log(1200, seed=5).drop(columns=["anomaly_kind"])
    hostile = pd.DataFrame(HOSTILE, columns=["UUID", "Recipient", "Sender", "Subject", "Time Processed"])
    frame = pd.concat([frame.iloc[:600], hostile.assign(label=1), frame.iloc[600:]], ignore_index=True)
    path = tmp_path_factory.mktemp("connect-logs") / "small.csv"
    frame.to_csv(path, index=False)
    return path


def _detect(data, out, *extra) -> subprocess.CompletedProcess:
    argv = [sys.executable, "-m", "core", "detect", str(data), "--out", str(out)]
    argv += ["--artifacts", str(BUNDLE.parent), "--name", BUNDLE.name, *map(str, extra)]
    return subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=900)


def test_detect_through_spark_connect_gives_the_local_scores(connect_url, small_csv, tmp_path):
    local = _detect(small_csv, tmp_path / "local.csv", "--db", f"sqlite:///{tmp_path / 'local.db'}")
    assert local.returncode == 0, local.stderr[-2000:]
    db = f"sqlite:///{tmp_path / 'ws.db'}"
    remote = _detect(small_csv, tmp_path / "connect.csv", "--engine", "spark", "--master", connect_url, "--db", db)
    assert remote.returncode == 0, remote.stderr[-3000:]
    _assert_same(_read_scores(tmp_path / "local.csv"), _read_scores(tmp_path / "connect.csv"))
    # The run recorded through Connect (its flagged rows streamed back to the client) is the local one.
    urls = (f"sqlite:///{tmp_path / 'local.db'}", db)
    runs = [Workspace(url).runs()[0] for url in urls]
    assert runs[0].n_flagged == runs[1].n_flagged > 0
    stored = [Workspace(url).flagged(run.id)[[UUID, "position"]] for url, run in zip(urls, runs, strict=True)]
    pd.testing.assert_frame_equal(stored[1], stored[0])
    dispose_engines()


def test_train_through_spark_connect_gives_the_classic_spark_bundle(connect_url, small_csv, spark, tmp_path):
    """``train --engine spark --master sc://…``: the count tables are Spark group-bys on the
    server, the screening runs in its executors (the detector shipped as a file artifact), the network
    fits on the client. The bundle equals the one a classic Spark session trains from the same
    log: same split, same trimmed rows, same tables, same network and threshold."""
    artifacts = tmp_path / "artifacts"
    options = ["--artifacts", str(artifacts), "--epochs", "2", "--sample-rows", "1000"]
    argv = [sys.executable, "-m", "core", "train", str(small_csv), "--name", "via-connect", *options]
    remote = subprocess.run(
        [*argv, "--engine", "spark", "--master", connect_url], cwd=ROOT, capture_output=True, text=True, timeout=900
    )
    assert remote.returncode == 0, remote.stderr[-3000:]
    assert "count tables over all" in remote.stdout
    classic_argv = ["train", str(small_csv), "--name", "classic", *options, "--engine", "spark", "--master", "local[2]"]
    assert main(classic_argv) == 0
    connect, classic = (load_bundle(name, artifacts) for name in ("via-connect", "classic"))
    for attribute in ("n_train_rows_", "n_trimmed_rows_", "n_test_rows_"):
        assert getattr(connect, attribute) == getattr(classic, attribute) > 0
    tables = connect.preprocessor_.counts_
    assert set(tables) == set(classic.preprocessor_.counts_)
    for name, table in classic.preprocessor_.counts_.items():
        pd.testing.assert_series_equal(tables[name].sort_index(), table.sort_index(), check_names=False)
    for (w1, b1, _), (w2, b2, _) in zip(connect.dense_layers_, classic.dense_layers_, strict=True):
        np.testing.assert_allclose(w1, w2, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(b1, b2, rtol=1e-5, atol=1e-6)
    assert connect.threshold_ == pytest.approx(classic.threshold_, rel=1e-6)
    # And the local engine scores with it.
    log = read_log(small_csv)
    errors = score_log(connect, log)[ERROR].to_numpy()
    assert np.isfinite(errors[log.scorable]).all()


SHIP_THROUGH_CONNECT = """
import pickle, sys
import numpy as np
import pandas as pd
from pyspark.sql import SparkSession
from core.spark.scoring import _Shipped
from core.spark.session import ship_code

spark = SparkSession.builder.remote(sys.argv[1]).getOrCreate()
ship_code(spark)
value = {"weights": np.arange(500_000, dtype=np.float64)}  # 4 MB
shipped = _Shipped(spark, value)
again = _Shipped(spark, value)  # the same content shipped twice in a session


def sums(batches):
    for batch in batches:
        total = float(shipped.get()["weights"].sum() + again.get()["weights"].sum())
        yield pd.DataFrame({"total": [total] * len(batch)})


totals = spark.range(4).repartition(2).mapInPandas(sums, "total double").toPandas()["total"]
print(len(pickle.dumps(shipped)), totals.nunique(), totals.iloc[0])
"""


def test_a_shipped_detector_travels_once_as_a_file_not_in_every_task(connect_url, tmp_path):
    """Under Spark Connect the detector is uploaded once as a file artifact; what each task's
        closure carries is its name. Executors read the same value; shipping it again is allowed; the
    client keeps no copy of what it uploaded."""
    scratch = tmp_path / "client-tmp"
    scratch.mkdir()
    env = {**os.environ, "PYTHONPATH": str(ROOT), "TMPDIR": str(scratch)}
    run = subprocess.run(
        [sys.executable, "-c", SHIP_THROUGH_CONNECT, connect_url], capture_output=True, text=True, timeout=600, env=env
    )
    assert run.returncode == 0, run.stderr[-3000:]
    closure_bytes, distinct_totals, total = run.stdout.split()
    assert int(closure_bytes) < 2_000  # the 4 MB value is not in the closure
    assert int(distinct_totals) == 1 and float(total) == 2 * float(np.arange(500_000).sum())
    assert not list(scratch.glob("email-ad-*"))  # the uploaded code and value leave no files behind
