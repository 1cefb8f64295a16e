"""Model health in the dashboard: the figures, the verdict on Detect and the Health page, retraining."""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from core.artifacts import save_bundle
from core.demo import make_demo_log
from core.health import RETRAIN_TO_ENABLE, monitor_for
from core.scoring import score_log
from tests.conftest import log_from_frame
from ui import charts, state
from ui.formatting import markdown_text
from ui.health import feature_table, verdict_text

ROOT = Path(__file__).resolve().parents[1]
HEALTH = "pages/7_Health.py"
DETECT = "pages/3_Detect.py"


@pytest.fixture(scope="module")
def artifacts(tmp_path_factory, trained_detector):
    """An artifacts folder with the tiny detector ("tiny", with a health profile) and the
    format-2 fixture bundle saved before health profiles existed ("old")."""
    from tests.fixtures.make_pinned_scores import BUNDLE

    path = tmp_path_factory.mktemp("health-artifacts")
    save_bundle(trained_detector, path, name="tiny")
    shutil.copytree(BUNDLE, path / "old")
    return path


@pytest.fixture(scope="module")
def shifted_log():
    """Another organisation's mail (unknown domains), as a merger or a new gateway brings."""
    frame = make_demo_log(600, seed=11)
    for column in ("Sender", "Recipient"):
        frame[column] = frame[column].str.replace(
            r"@([A-Za-z0-9-]+)\.[A-Za-z0-9.-]+", lambda m: "@contoso-" + m.group(1) + ".example", regex=True
        )
    return log_from_frame(frame, name="merged.csv")


@pytest.fixture(scope="module")
def shifted_report(trained_detector, shifted_log):
    monitor = monitor_for(trained_detector)
    score_log(trained_detector, shifted_log, monitor=monitor)
    return monitor.report()


def app(page: str, artifacts: Path, monkeypatch, **session) -> AppTest:
    monkeypatch.setenv("EMAIL_AD_ARTIFACTS", str(artifacts))
    at = AppTest.from_file(str(ROOT / page), default_timeout=90)
    for key, value in session.items():
        at.session_state[key] = value
    return at


def _in_order(at: AppTest) -> list:
    def walk(node):
        yield node
        for child in getattr(node, "children", {}).values():
            yield from walk(child)

    return list(walk(at.main))


def _verdict_box(at: AppTest):
    boxes = [e for e in [*at.success, *at.warning, *at.error, *at.info] if "Model health" in e.value]
    assert len(boxes) == 1, [e.value for e in [*at.success, *at.warning, *at.error, *at.info]]
    return boxes[0]


# --------------------------------------------------------------------------- figures


def test_health_error_histogram_overlays_shares_on_the_same_bins_with_the_threshold(shifted_report):
    report = shifted_report
    fig = charts.health_error_histogram(
        report.error_edges, report.training_error_shares, report.error_shares, threshold=0.42
    )
    assert [t.name for t in fig.data] == ["training test errors", "this log"]
    centers = (report.error_edges[:-1] + report.error_edges[1:]) / 2
    for trace, shares in zip(fig.data, (report.training_error_shares, report.error_shares), strict=True):
        np.testing.assert_allclose(trace.x, centers)
        np.testing.assert_allclose(trace.y, shares)
    assert fig.layout.barmode == "overlay"
    lines = [s for s in fig.layout.shapes if s.type == "line"]
    assert len(lines) == 1 and lines[0].x0 == pytest.approx(0.42)
    assert fig.layout.title.text and fig.layout.xaxis.title.text and fig.layout.yaxis.title.text


def test_hour_mix_bar_has_24_bars_per_side(shifted_report):
    fig = charts.hour_mix_bar(shifted_report.hour_training, shifted_report.hour_now)
    assert [t.name for t in fig.data] == ["training", "this log"]
    assert all(list(t.x) == list(range(24)) for t in fig.data)
    np.testing.assert_allclose(fig.data[1].y, shifted_report.hour_now)
    assert fig.layout.xaxis.title.text == "hour of day (UTC)"
    assert len(charts.hour_mix_bar(None, shifted_report.hour_now).data) == 1


def test_flagged_share_bar_puts_this_log_beside_the_expected_share():
    fig = charts.flagged_share_bar(0.2, 0.05, alarming=True)
    (bar,) = fig.data
    assert list(bar.x) == [0.05, 0.2] and list(bar.text) == ["5.0%", "20.0%"]
    assert bar.marker.color[1] == charts.ANOMALY_COLOR
    assert fig.layout.xaxis.range[1] > 0.2  # the label outside the longest bar is not cut off
    assert charts.flagged_share_bar(0.04, 0.05).data[0].marker.color[1] == charts.NORMAL_COLOR


def test_feature_table_lists_drifted_features_first(shifted_report):
    table = feature_table(shifted_report)
    assert table["drifted"].any() and not table["drifted"].all()
    drifted = table["drifted"].to_numpy()
    assert (np.diff(drifted.astype(int)) <= 0).all()  # True… then False…
    assert {"feature", "field", "distance", "p_adjusted"} <= set(table.columns)


def test_verdict_text_escapes_addresses_in_the_reasons(shifted_report):
    report = dataclasses.replace(shifted_report, reasons=["new bulk sender *promo_1*@x.example: 40% of mail"])
    text = verdict_text(report)
    assert text.startswith("**Model health: retrain advised**")
    assert "of mail flagged at the model's threshold (5.0% expected)" in text  # not the slider's
    # The address is inline code: literal, and never a mailto: link (markdown links an address
    # even with its every character escaped; a browser showed five links before this change).
    assert "new bulk sender `*promo_1*@x.example`\\: 40% of mail" in text


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("new bulk sender, a_b@x.com, sends", r"new bulk sender, `a_b@x.com`, sends"),
        ("see http://evil.example/x?a=1. now", r"see `http://evil.example/x?a=1`\. now"),
        ("www.evil.example is *odd*", r"`www.evil.example` is \*odd\*"),
        ("tick`s@x.com costs $5", r"``tick`s@x.com`` costs \$5"),
        ("`s@x.com", r"`` `s@x.com ``"),
        ("no address here: #1 [x](y)", r"no address here\: \#1 \[x\]\(y\)"),
        ("visit WWW.EVIL.EXAMPLE now", r"visit `WWW.EVIL.EXAMPLE` now"),
        ("a&commat;evil.example and AT&amp;T", r"a\&commat;evil\.example and AT\&amp;T"),
    ],
)
def test_markdown_text_sets_addresses_and_urls_as_code(text, expected):
    assert markdown_text(text) == expected


# --------------------------------------------------------------------------- pages


def test_health_page_shows_the_verdict_first_then_the_charts(artifacts, shifted_log, monkeypatch):
    at = app(HEALTH, artifacts, monkeypatch, **{state.DATA_LOG: shifted_log, state.DATA_TOKEN: "merged-600"})
    at.session_state[state.MODEL_NAME] = "tiny"
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    box = _verdict_box(at)
    assert box in at.error and "retrain advised" in box.value  # another organisation: retrain
    assert "sender domains never seen in training" in box.value
    order = _in_order(at)
    first_chart = min(i for i, e in enumerate(order) if getattr(e, "type", "") in ("plotly_chart", "arrow_data_frame"))
    assert order.index(box) < first_chart
    assert len(at.get("plotly_chart")) == 3
    indicators, features = at.dataframe
    assert "flagged share" in indicators.value["indicator"].tolist()
    assert features.value["drifted"].iloc[0]


def test_detect_shows_the_verdict_above_the_threshold_with_a_link(artifacts, demo_log, monkeypatch):
    at = app(DETECT, artifacts, monkeypatch, **{state.DATA_LOG: demo_log, state.DATA_TOKEN: "demo-1500-7"})
    at.session_state[state.MODEL_NAME] = "tiny"
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    box = _verdict_box(at)
    assert box.value.startswith("**Model health: ")
    order = _in_order(at)
    assert order.index(box) < order.index(at.slider(key=state.DETECT_SLIDER))
    # A page run alone has no page registry: the link reads as markdown (ui.common.link).
    assert any("model health page" in m.value for m in at.markdown)


@pytest.mark.parametrize("page", [HEALTH, DETECT])
def test_an_old_bundle_shows_the_retrain_note_not_an_error(page, artifacts, demo_log, monkeypatch):
    at = app(page, artifacts, monkeypatch, **{state.DATA_LOG: demo_log, state.DATA_TOKEN: "demo-1500-7"})
    at.session_state[state.MODEL_NAME] = "old"
    at.run()
    assert not at.exception and not at.error, [e.value for e in [*at.exception, *at.error]]
    assert RETRAIN_TO_ENABLE in _verdict_box(at).value


def test_retrain_buttons_set_the_train_pages_dataset(artifacts, shifted_log, demo_log, monkeypatch):
    at = app(
        HEALTH,
        artifacts,
        monkeypatch,
        **{
            state.DATA_LOG: shifted_log,
            state.DATA_TOKEN: "merged-600",
            state.TRAIN_DATA: (demo_log, "demo-1500-7"),
            state.MODEL_NAME: "tiny",
        },
    )
    at.run()
    at.button(key=state.HEALTH_RETRAIN_NEW).click().run()
    assert not at.exception, [e.value for e in at.exception]
    log, token, _ = at.session_state[state.TRAIN_DATASET]
    assert log is shifted_log and token == "merged-600"

    at.button(key=state.HEALTH_RETRAIN_BOTH).click().run()
    log, token, origin = at.session_state[state.TRAIN_DATASET]
    assert len(log) == len(demo_log) + len(shifted_log) and token == "demo-1500-7+merged-600"
    assert "training" in origin

    train = app(
        "pages/2_Train.py",
        artifacts,
        monkeypatch,
        **{k: at.session_state[k] for k in (state.DATA_LOG, state.DATA_TOKEN, state.TRAIN_DATASET)},
    )
    train.run()
    assert not train.exception
    assert f"{len(log):,} rows" in train.info[0].value
    train.button(key=state.TRAIN_USE_LOADED).click().run()
    assert state.TRAIN_DATASET not in train.session_state


def test_health_comes_from_the_scoring_pass(artifacts, shifted_log, monkeypatch):
    """One pass over the log: score_log is called once, with a monitor, for Detect and Health alike."""
    import core.scoring

    calls = []
    real = core.scoring.score_log

    def counting(detector, log, **kwargs):
        calls.append(kwargs.get("monitor"))
        return real(detector, log, **kwargs)

    monkeypatch.setattr(core.scoring, "score_log", counting)
    session = {state.DATA_LOG: shifted_log, state.DATA_TOKEN: "merged-600-once", state.MODEL_NAME: "tiny"}
    for page in (DETECT, HEALTH):
        at = app(page, artifacts, monkeypatch, **session)
        at.run()
        assert not at.exception, [e.value for e in at.exception]
    assert len(calls) == 1 and calls[0] is not None


def test_health_page_without_data_says_what_is_missing(artifacts, monkeypatch):
    at = app(HEALTH, artifacts, monkeypatch)
    at.run()
    assert not at.exception
    assert "No data loaded yet" in at.info[0].value
