"""Scores pinned across refactors: a bundle saved by the code at 75ef8cf still loads and
scores the demo log and csdmc2010 exactly as it did then, and training the same tiny
detector today gives the scores pinned for today's training (tests/fixtures/make_pinned_scores.py
wrote both; ``--training-only`` re-pins the latter alone)."""

from __future__ import annotations

import shutil

import pandas as pd
import pytest

from core.artifacts import load_bundle
from core.loading import read_log
from core.scoring import score_log
from tests.conftest import shared_data_file
from tests.fixtures.make_pinned_scores import BUNDLE, SCORES, TRAINED_DEMO, pinned_columns


def _pinned(name: str) -> pd.DataFrame:
    path = SCORES / (name if name.endswith(".csv.gz") else f"{name}.csv.gz")
    return pd.read_csv(path, keep_default_na=False, na_values=[""])


def _assert_same_scores(scores: pd.DataFrame, pinned: pd.DataFrame, rtol: float) -> None:
    got = pinned_columns(scores).reset_index(drop=True)
    assert list(got.columns) == list(pinned.columns)
    for column in pinned.columns:
        if pd.api.types.is_float_dtype(pinned[column]):
            pd.testing.assert_series_equal(
                got[column].astype(float), pinned[column], rtol=rtol, atol=0, check_names=False
            )
        else:
            assert got[column].astype(str).fillna("").tolist() == pinned[column].astype(str).fillna("").tolist(), column


@pytest.fixture(scope="module")
def pinned_bundle(tmp_path_factory):
    root = tmp_path_factory.mktemp("artifacts")
    shutil.copytree(BUNDLE, root / BUNDLE.name)
    return load_bundle(BUNDLE.name, root)


def test_saved_format_2_bundle_scores_the_demo_log_as_pinned(pinned_bundle, demo_log):
    _assert_same_scores(score_log(pinned_bundle, demo_log), _pinned("demo"), rtol=1e-12)


def test_saved_format_2_bundle_scores_csdmc2010_as_pinned(pinned_bundle):
    log = read_log(shared_data_file("csdmc2010_labeled.csv"))
    _assert_same_scores(score_log(pinned_bundle, log), _pinned("csdmc2010"), rtol=1e-12)


def test_training_today_gives_the_pinned_scores(trained_detector, demo_log):
    """Same rows, seed and settings as the pinned bundle: training is deterministic on CPU.

    Pinned separately from the bundle (re-pinned when training changed on purpose: the
    novelty weights' pooled prior, see docs/quality.md); the bundle's pins never move."""
    _assert_same_scores(score_log(trained_detector, demo_log), _pinned(TRAINED_DEMO), rtol=1e-5)
