"""Shared fixtures: small demo logs and one tiny trained detector per test session."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.demo import make_demo_log
from core.loading import EmailLog, read_log

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


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
def demo_csv(tmp_path_factory, demo_frame) -> Path:
    path = tmp_path_factory.mktemp("data") / "demo.csv"
    demo_frame.to_csv(path, index=False)
    return path


def shared_data_file(name: str) -> Path:
    path = SHARED_DATA / name
    if not path.is_file():
        pytest.skip(f"{path} not found: the shared labeled email logs are not available here")
    return path


# Workspace databases on SQLite and a throwaway PostgreSQL server (tests/postgres.py).
from tests.postgres import db_url, postgres_cluster  # noqa: E402, F401
