"""One SparkSession for the detector's jobs, set up so executors run the same Python.

The executors' Python must be the one that has this project's packages (pandas, pyarrow,
scikit-learn): ``PYSPARK_PYTHON`` is pointed at the running interpreter unless the caller
set it. Times are read and written in UTC whatever the machine's zone, as the local engine
does.
"""

from __future__ import annotations

import os
import shutil
import sys

from core.errors import DataError

DEFAULT_MASTER = "local[*]"
# Rows per Arrow batch handed to pandas in the executors: the local engine's chunk. A batch
# has a fixed cost (~0.3-0.6 CPU s of pandas calls over ~70 features and reasons): per 100k rows
# 2.62 CPU s in 50k-row batches, 2.18 s in 100k-row ones. Larger would bound memory less.
ARROW_BATCH_ROWS = 100_000


def spark_available() -> str | None:
    """None when pyspark and a Java runtime are present, else what is missing (for skips and errors)."""
    try:
        import pyspark  # noqa: F401
    except ImportError:
        return "pyspark is not installed (pip install -r requirements.txt)"
    if not (os.environ.get("JAVA_HOME") or shutil.which("java")):
        return "no Java runtime found (install openjdk-17-jre-headless, or set JAVA_HOME)"
    return None


def get_session(master: str | None = None, *, app_name: str = "email-anomaly", config: dict | None = None):
    """A SparkSession on ``master`` (``local[*]``, ``spark://…``, ``yarn``) or a Spark Connect
    URL (``sc://…``). An active session with the same master is reused."""
    missing = spark_available()
    if missing:
        raise DataError(f"--engine spark needs Spark: {missing}.")
    from pyspark.sql import SparkSession

    master = master or DEFAULT_MASTER
    # Executors on this machine (local mode, tests) start the same interpreter; on a
    # cluster the variable names the cluster's Python and must be set by the caller.
    if master.startswith("local"):
        os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
        os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
        os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")  # no network lookup of the host name
    builder = SparkSession.builder.appName(app_name)
    builder = builder.remote(master) if master.startswith("sc://") else builder.master(master)
    settings = {
        "spark.sql.session.timeZone": "UTC",
        "spark.sql.execution.arrow.pyspark.enabled": "true",
        "spark.sql.execution.arrow.maxRecordsPerBatch": str(ARROW_BATCH_ROWS),
        "spark.ui.showConsoleProgress": "false",
        "spark.sql.adaptive.enabled": "true",
    }
    if master.startswith("local"):
        settings["spark.driver.memory"] = os.environ.get("SPARK_DRIVER_MEMORY", "4g")
        settings["spark.sql.shuffle.partitions"] = os.environ.get("SPARK_SHUFFLE_PARTITIONS", "8")
    settings.update(config or {})
    for key, value in settings.items():
        builder = builder.config(key, value)
    spark = builder.getOrCreate()
    if master.startswith("sc://"):
        ship_code(spark)
    else:
        spark.sparkContext.setLogLevel("ERROR")
    return spark


def ship_code(spark) -> None:
    """Send this project's ``core`` package to a Spark Connect server as a Python artifact, so its
    Python workers import the same code the client runs (nothing to install on the server but the
    Python packages of requirements.txt)."""
    import tempfile
    import zipfile
    from pathlib import Path

    package = Path(__file__).resolve().parents[1]
    with tempfile.TemporaryDirectory(prefix="email-ad-code-") as folder:
        archive = Path(folder) / "email_ad_core.zip"
        with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zipped:
            for source in sorted(package.rglob("*.py")):
                zipped.write(source, Path(package.name) / source.relative_to(package))
        spark.addArtifacts(str(archive), pyfile=True)  # uploaded before it returns: the folder can go
