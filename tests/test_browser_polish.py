"""A new analyst's first minutes, in a real browser: the sidebar's page list says "Home"; an
18-month Microsoft 365 message trace (one row per recipient, every field quoted, US dates) is
uploaded, the sidebar agrees with the page, the export is read one row per message (and said
plainly when read as exported), mail is charted per week; "Use demo data" followed at once by a page
switch still loads the demo (or says it was interrupted). Screenshots go to ``test-results/``.
"""

from __future__ import annotations

import contextlib
import csv
import re

import numpy as np
import pandas as pd
import pytest

from tests.browser import chromium, metric, new_page, shot, sync_api, wait_idle
from tests.test_browser_e2e import server as server  # noqa: F401 - the same streamlit run fixture

N_MESSAGES = 500


def eighteen_month_trace(path) -> tuple[int, int]:
    """The demo log spread over 18 months as a message trace; (rows, messages)."""
    from core.demo import make_demo_log, message_trace

    log = make_demo_log(N_MESSAGES, seed=11)
    rng = np.random.default_rng(11)
    times = pd.to_datetime(log["Time Processed"], utc=True)
    days = pd.to_timedelta(np.sort(rng.integers(0, 548, len(log))), unit="D")
    log["Time Processed"] = (pd.Timestamp("2025-05-01", tz="UTC") + days + (times - times.dt.floor("D"))).dt.strftime(
        "%Y-%m-%dT%H:%M:%SZ"
    )
    trace = message_trace(log)
    trace.to_csv(path, index=False, quoting=csv.QUOTE_ALL)
    return len(trace), len(log)


@pytest.fixture(scope="module")
def page():
    with chromium() as browser:
        page = new_page(browser, timeout_ms=120_000)
        yield page
        page.context.close()


def sidebar_rows(page) -> str:
    text = page.locator('[data-testid="stSidebarUserContent"]').inner_text()
    found = re.search(r"Data:\s*([\d,]+) rows|Data:\s*none loaded", text)
    return found.group(1) if found and found.group(1) else "none"


def nav(page, label: str) -> None:
    page.locator('[data-testid="stSidebarNav"] a', has_text=re.compile(rf"^{label}$")).first.click()


def test_message_trace_upload_as_a_new_analyst(server, page, tmp_path):  # noqa: F811
    path = tmp_path / "MessageTrace_2025-05_2026-10.csv"
    rows, messages = eighteen_month_trace(path)
    page.goto(server["url"])
    page.get_by_role("button", name=re.compile("Load demo data")).wait_for()
    links = page.locator('[data-testid="stSidebarNav"] a').all_inner_texts()
    assert links[0] == "Home" and not any("dashboard" in t.lower() for t in links), links

    nav(page, "Data")
    uploader = page.locator('[data-testid="stFileUploader"] input[type="file"]')
    uploader.wait_for(state="attached")
    uploader.set_input_files(str(path))
    page.get_by_text("Validation report").wait_for()
    wait_idle(page)
    # A Microsoft 365 trace is read one row per message, and the page says why.
    page.get_by_text(re.compile(rf"{rows:,} rows are {messages:,} messages with their recipients")).wait_for()
    assert metric(page, "Rows") == f"{messages:,}"
    assert sidebar_rows(page) == f"{messages:,}"  # drawn before the upload was read, redrawn after
    page.locator(".js-plotly-plot").nth(1).wait_for()
    assert page.get_by_text("Mail per week (UTC)").count() == 1
    shot(page, "21_trace_one_row_per_message")

    page.get_by_text("Read one row per message, with all its recipients").click()  # back to the rows as exported
    page.get_by_text(re.compile("Microsoft 365 message trace lists one row per recipient")).wait_for()
    wait_idle(page)
    assert metric(page, "Rows") == f"{rows:,}" and metric(page, "Messages") == f"{messages:,}"
    assert sidebar_rows(page) == f"{rows:,}"
    shot(page, "22_trace_as_exported")


def test_demo_data_then_an_immediate_page_switch_is_not_lost(server, page):  # noqa: F811
    page.goto(server["url"] + "/Data")
    page.get_by_role("button", name="Use demo data").click()
    # Switch as soon as the server has the click (its run shows the status widget), before the
    # demo is generated; a switch that overtakes the click itself never reaches the app at all.
    with contextlib.suppress(sync_api.TimeoutError):  # else the load already finished: Train must show it
        page.locator('[data-testid="stStatusWidget"]').wait_for(timeout=10_000)
    nav(page, "Train")
    main = page.locator('[data-testid="stMain"]')
    outcome = main.get_by_text(re.compile("No data loaded|was interrupted|Training settings|Epochs"))
    outcome.first.wait_for()
    wait_idle(page)
    text = main.inner_text()
    assert "No data loaded" not in text or "was interrupted" in text, text[:500]  # not a silently lost click
    if "was interrupted" in text:
        page.get_by_role("button", name="Load the demo data again").click()
    page.locator('[data-testid="stSidebarUserContent"]').get_by_text("3,000 rows").wait_for()
    wait_idle(page)
    shot(page, "23_train_after_demo_and_switch")
