"""Model health in a real browser: Detect shows the verdict first, the Health page its charts,
and "Retrain on this log" opens the Train page with that log as its dataset.

The model is trained through the CLI beforehand (on the demo organisation with its clock moved
by seven hours, so the demo log the page loads reads as drifted). Screenshots go to
``test-results/``. Skipped without /usr/bin/chromium, like ``test_browser_e2e``.
"""

from __future__ import annotations

import re
import subprocess
import sys

import pandas as pd
import pytest

from tests.browser import ROOT, go, shot, sync_api, wait_idle
from tests.test_browser_e2e import browser_page, server  # noqa: F401 - fixtures

MODEL = "shifted-clock"


@pytest.fixture(scope="module")
def model(server, tmp_path_factory):  # noqa: F811 - the fixture imported above
    from core.demo import make_demo_log

    frame = make_demo_log(2000, seed=1)
    times = pd.to_datetime(frame["Time Processed"], utc=True) + pd.Timedelta(hours=7)
    frame["Time Processed"] = times.dt.strftime("%Y-%m-%dT%H:%M:%SZ")
    path = tmp_path_factory.mktemp("health-data") / "shifted.csv"
    frame.to_csv(path, index=False)
    command = [sys.executable, "-m", "core", "train", str(path), "--artifacts", str(server["artifacts"])]
    command += ["--name", MODEL, "--epochs", "3", "--batch-size", "256"]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    return MODEL


def plot_points(page, index: int) -> int:
    return page.evaluate(
        "(i) => { const gd = document.querySelectorAll('.js-plotly-plot')[i];"
        " return gd && gd._fullData ? gd._fullData.reduce((n, t) => n + (t._length || 0), 0) : 0; }",
        index,
    )


def test_health_verdict_charts_and_retrain(server, model, browser_page):  # noqa: F811
    page = browser_page
    step = "home"
    try:
        page.goto(server["url"])
        page.get_by_role("button", name=re.compile("Load demo data")).click()
        page.get_by_text(re.compile(r"demo data · 3,000 rows")).first.wait_for(timeout=60_000)
        wait_idle(page)

        step = "detect"
        go(page, "Detect")
        verdict = page.get_by_text(re.compile(r"^Model health: (drifting|retrain)")).first
        verdict.wait_for(timeout=180_000)
        page.get_by_text("Flagged mail", exact=True).wait_for(timeout=120_000)
        wait_idle(page)
        assert "hour-of-day mix" in page.locator('[data-testid="stAlert"]').first.inner_text()
        shot(page, "health_01_detect_verdict")

        step = "health"
        go(page, "Health")
        page.get_by_text("Drift per feature").wait_for(timeout=120_000)
        page.locator(".js-plotly-plot").nth(2).wait_for()
        wait_idle(page)
        assert plot_points(page, 0) == 2 * 40  # training and this log, 40 error bins each
        assert plot_points(page, 1) == 2 * 24  # hour mix: 24 bars per side
        shot(page, "health_02_page")

        step = "retrain"
        page.get_by_role("button", name="Retrain on this log").click()
        page.get_by_text(re.compile(r"Training on the log checked on Model health \(3,000 rows\)")).wait_for()
        wait_idle(page)
        sync_api.expect(page.get_by_role("button", name="Train", exact=True)).to_be_visible()
        shot(page, "health_03_train_with_new_log")
    except Exception:
        shot(page, f"failure_health_{step}")
        raise
