"""What a new analyst sees first: the sidebar agrees with the page, readable activity charts,
a demo load that survives a page switch, per-recipient exports read per message, "Home",
no server paths. AppTest, except the chart functions."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from streamlit.runtime.scriptrunner_utils.exceptions import StopException
from streamlit.testing.v1 import AppTest

from core.demo import make_demo_log, message_trace
from tests.conftest import copy_bundle, log_from_frame
from ui import charts, state
from ui.data import binned_counts, time_bin

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture()
def artifacts(tmp_path, monkeypatch):
    monkeypatch.setenv("EMAIL_AD_ARTIFACTS", str(tmp_path))
    return tmp_path


def no_exception(at: AppTest) -> None:
    assert not at.exception, [e.value for e in at.exception]


def sidebar_text(at: AppTest) -> str:
    return " ".join([m.value for m in at.sidebar.markdown] + [t.value for t in at.sidebar.text])


def trace_csv(n_messages: int = 200, seed: int = 2) -> bytes:
    """A Microsoft 365 message trace built from the demo log (quoted, US dates, one row per recipient)."""
    return message_trace(make_demo_log(n_messages, seed=seed)).to_csv(index=False, quoting=csv.QUOTE_ALL).encode()


# --------------------------------------------------------------------------- the sidebar


def _data_page_upload(files):
    """The Data page's order: page set-up (draws the sidebar), then the upload is read."""
    from ui.common import page_setup
    from ui.upload import handle_uploads

    page_setup("Data")
    handle_uploads(files)


def test_sidebar_shows_the_upload_read_after_it_was_drawn(artifacts):
    data = b"UUID,Recipient,Sender,Subject,Time Processed\n1,a@x.com,b@y.com,hi,2026-01-01T08:00:00Z\n"
    at = AppTest.from_function(_data_page_upload, args=([("mine.csv", data)],), default_timeout=30)
    at.run()
    no_exception(at)
    assert len(at.session_state[state.DATA_LOG]) == 1
    shown = sidebar_text(at)
    assert "**Data:** 1 rows" in shown and "mine.csv" in shown
    assert "none loaded" not in shown


def test_sidebar_names_the_model_and_threshold_detect_picked(artifacts, saved_bundle, demo_log):
    copy_bundle(saved_bundle, artifacts)
    at = AppTest.from_file(str(ROOT / "pages/3_Detect.py"), default_timeout=120)
    at.session_state[state.DATA_LOG] = demo_log
    at.session_state[state.DATA_TOKEN] = "demo-1500-7"
    at.run()
    no_exception(at)
    shown = sidebar_text(at)
    assert "none selected" not in shown
    assert saved_bundle.name in [t.value for t in at.sidebar.text]
    assert f"**Threshold:** {at.session_state[state.DETECT_THRESHOLD]:.4g}" in shown


# --------------------------------------------------------------------------- mail per day/week/month


def _spanning(days: int, rows: int = 2000):
    frame = make_demo_log(rows, seed=0)
    start = pd.Timestamp("2025-06-01", tz="UTC")
    frame["Time Processed"] = (start + pd.to_timedelta(np.linspace(0, days, rows), unit="D")).strftime(
        "%Y-%m-%dT%H:%M:%SZ"
    )
    return log_from_frame(frame)


@pytest.mark.parametrize("days, unit, bars", [(20, "day", 21), (548, "week", 80), (1100, "month", 37)])
def test_activity_chart_bins_by_day_week_or_month_from_the_span(days, unit, bars):
    log = _spanning(days)
    assert time_bin(log) == unit
    counts = binned_counts(log, unit)
    assert len(counts) == bars and counts.sum() == len(log)
    fig = charts.daily_bar(counts, unit)
    assert fig.layout.title.text == f"Mail per {unit} (UTC)"
    assert "%{y} messages" in fig.data[0].hovertemplate  # hover keeps the count


def test_weeks_start_on_monday_and_months_on_the_first():
    log = _spanning(548)
    assert set(binned_counts(log, "week").index.weekday) == {0}
    assert set(binned_counts(log, "month").index.day) == {1}


def test_data_page_draws_eighteen_months_by_week(artifacts):
    at = AppTest.from_file(str(ROOT / "pages/1_Data.py"), default_timeout=60)
    at.session_state[state.DATA_LOG] = _spanning(548)
    at.session_state[state.DATA_TOKEN] = "eighteen-months"
    at.run()
    no_exception(at)
    titles = [c.proto.spec for c in at.get("plotly_chart")]
    assert any('"Mail per week (UTC)"' in spec for spec in titles)


# --------------------------------------------------------------------------- a click lost under load


def test_demo_load_cut_off_by_a_page_switch_is_finished_by_the_next_page(artifacts, monkeypatch):
    """Under load, the page switch stops the callback at its first session-state write after
    the demo was generated (Streamlit's yield point); the next page must still have the data."""
    import ui.common

    real = ui.common.set_data
    calls = []

    def interrupted_once(log, token):
        calls.append(token)
        if len(calls) == 1:
            raise StopException()
        real(log, token)

    monkeypatch.setattr(ui.common, "set_data", interrupted_once)
    at = AppTest.from_file(str(ROOT / "dashboard.py"), default_timeout=60)
    at.run()
    at.button[0].click().run()
    assert state.DATA_LOG not in at.session_state  # the click's run was cut off
    at.switch_page("pages/2_Train.py").run()
    no_exception(at)
    assert len(at.session_state[state.DATA_LOG]) == state.DEMO_ROWS
    assert not any("No data loaded" in i.value for i in at.info)
    assert "3,000 rows" in sidebar_text(at)


def test_demo_load_cut_off_before_it_finished_says_so(artifacts, monkeypatch):
    import ui.data

    def cut_off(*args):
        raise StopException()

    monkeypatch.setattr(ui.data, "demo_log", cut_off)
    at = AppTest.from_file(str(ROOT / "dashboard.py"), default_timeout=60)
    at.run()
    at.button[0].click().run()
    monkeypatch.undo()
    at.switch_page("pages/2_Train.py").run()
    no_exception(at)
    assert "Loading the demo data was interrupted" in at.warning[0].value
    at.button(key=state.DATA_LOAD_AGAIN).click().run()
    no_exception(at)
    assert len(at.session_state[state.DATA_LOG]) == state.DEMO_ROWS
    assert not at.warning  # said once


# --------------------------------------------------------------------------- one message, many rows


def test_an_uploaded_message_trace_is_read_one_row_per_message_by_default(artifacts):
    data = trace_csv()
    at = AppTest.from_function(_data_page_upload, args=([("MessageTrace.csv", data)],), default_timeout=30)
    at.run()
    no_exception(at)
    shown, (as_read, _) = at.session_state[state.DATA_LOG], at.session_state[state.DATA_AS_READ]
    assert len(shown) == 200 and shown.frame["UUID"].is_unique and len(as_read) > 200
    assert at.session_state[state.DATA_TOKEN].endswith("-by-message")
    assert "**Data:** 200 rows" in sidebar_text(at)


def test_data_page_offers_one_row_per_message_for_a_message_trace(artifacts):
    from ui.data import fingerprint, load_sources

    files = [("MessageTrace.csv", trace_csv())]
    log = load_sources(files)
    at = AppTest.from_file(str(ROOT / "pages/1_Data.py"), default_timeout=60)
    at.session_state[state.DATA_AS_READ] = (log, fingerprint(files))
    at.session_state[state.DATA_LOG] = log
    at.session_state[state.DATA_TOKEN] = fingerprint(files)
    at.run()
    no_exception(at)
    warnings = " ".join(w.value for w in at.warning)
    assert "Microsoft 365 message trace lists one row per recipient" in warnings
    assert "Rows repeating a UUID" not in warnings
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Messages"] == "200" and int(metrics["Rows"].replace(",", "")) > 200
    at.checkbox(key=state.DATA_GROUP).check().run()
    no_exception(at)
    grouped = at.session_state[state.DATA_LOG]
    assert len(grouped) == 200 and grouped.frame["UUID"].is_unique
    assert {m.label: m.value for m in at.metric}["Rows"] == "200"
    assert at.session_state[state.DATA_TOKEN].endswith("-by-message")
    assert at.checkbox(key=state.DATA_GROUP).value
    at.checkbox(key=state.DATA_GROUP).uncheck().run()  # and back to the rows as exported
    assert len(at.session_state[state.DATA_LOG]) == len(log)


# --------------------------------------------------------------------------- names and paths


def test_home_page_is_listed_as_home_with_dashboard_py_as_entry_point(artifacts):
    at = AppTest.from_file(str(ROOT / "dashboard.py"), default_timeout=60)
    at.run()
    no_exception(at)
    pages = at._registered_pages.values()  # what st.navigation registered: the sidebar's list
    titles = [p.get("page_name") for p in pages]
    assert titles[0] == "Home" and "dashboard" not in titles
    assert {"Data", "Train", "Detect", "Explore", "Models", "Review", "Health"} <= set(titles)
    assert at.title[0].value == "Email log anomaly detector"


def test_models_page_shows_bundle_names_not_the_servers_folder(artifacts, saved_bundle):
    copy_bundle(saved_bundle, artifacts)
    at = AppTest.from_file(str(ROOT / "pages/5_Models.py"), default_timeout=60)
    at.run()
    no_exception(at)
    assert at.dataframe[0].value["name"].tolist() == [saved_bundle.name]
    shown = [e.value for kind in ("caption", "markdown", "text") for e in at.get(kind) if isinstance(e.value, str)]
    assert not any(str(artifacts) in text or "Folder" in text for text in shown), shown
