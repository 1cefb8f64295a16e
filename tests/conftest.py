"""Shared fixtures: small demo logs, one tiny trained detector and its saved bundle per test session."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from core.demo import make_demo_log
from core.evaluation import SHARED_DATA
from core.loading import EmailLog, read_log


def log_from_frame(frame, name="demo data") -> EmailLog:
    return read_log(frame.to_csv(index=False).encode("utf-8"), name=name)


@pytest.fixture(scope="session")
def demo_frame():
    return make_demo_log(1500, seed=7)


@pytest.fixture(scope="session")
def demo_log(demo_frame) -> EmailLog:
    return log_from_frame(demo_frame)


@pytest.fixture(scope="session")
def trained_detector(demo_log):
    from core.model import AutoencoderDetector

    return AutoencoderDetector(epochs=3, batch_size=64, seed=0).fit(demo_log.frame[demo_log.scorable])


@pytest.fixture(scope="session")
def saved_bundle(tmp_path_factory, trained_detector):
    """``trained_detector`` saved once as bundle ``demo`` (a BundleInfo). Read only: tests
    that change, re-save or delete a bundle work on a copy (:func:`copy_bundle`)."""
    from core.artifacts import save_bundle

    return save_bundle(trained_detector, tmp_path_factory.mktemp("saved"), name="demo")


def copy_bundle(info, artifacts_dir: Path, name: str | None = None) -> Path:
    """A copy of a saved bundle in ``artifacts_dir`` (under ``name``, default its own)."""
    target = Path(artifacts_dir) / (name or info.name)
    shutil.copytree(info.path, target)
    return target


@pytest.fixture(scope="session")
def demo_csv(tmp_path_factory, demo_frame) -> Path:
    path = tmp_path_factory.mktemp("data") / "demo.csv"
    demo_frame.to_csv(path, index=False)
    return path


@pytest.fixture(scope="session")
def spark():
    """One local[2] SparkSession for every Spark test (starting a JVM costs seconds)."""
    from core.spark.session import get_session, spark_available

    missing = spark_available()
    if missing:
        if os.environ.get("CI") == "true":
            pytest.fail(f"Spark tests must run under CI: {missing}")
        pytest.skip(f"Spark tests skipped: {missing}")
    session = get_session("local[2]", config={"spark.sql.shuffle.partitions": "4"})
    yield session
    session.stop()


def shared_data_file(name: str) -> Path:
    path = SHARED_DATA / name
    if not path.is_file():
        pytest.skip(f"{path} not found: the shared labeled email logs are not available here")
    return path


# Workspace databases on SQLite and a throwaway PostgreSQL server (tests/postgres.py).
from tests.postgres import db_url, postgres_cluster  # noqa: E402, F401
