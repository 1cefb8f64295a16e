"""Dashboard tests: every page under AppTest, page behaviour, chart functions, TrainingJob."""

from __future__ import annotations

import io
import os
from pathlib import Path

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import pytest
from streamlit.testing.v1 import AppTest

from core.artifacts import list_bundles, load_bundle
from core.errors import DataError
from core.jobs import DONE, FAILED, TrainingJob
from core.scoring import ERROR, UUID, ThresholdView, flagged_csv, score_log
from ui import charts, state
from ui.data import (
    daily_counts,
    demo_log,
    fingerprint,
    hourly_counts,
    load_sources,
    missing_fields,
    read_headers,
    suggested_mapping,
    summary,
    top_sender_domains,
)
from ui.detect import explanation, flagged_table, label_curves, operating_point, quick_threshold
from ui.formatting import duration_text, time_range_text, time_text
from ui.selection import selected_map_rows, selected_table_row

ROOT = Path(__file__).resolve().parents[1]
PAGES = [
    "dashboard.py",
    "pages/1_Data.py",
    "pages/2_Train.py",
    "pages/3_Detect.py",
    "pages/4_Explore.py",
    "pages/5_Models.py",
    "pages/6_Review.py",
    "pages/7_Health.py",
]
TINY = dict(epochs=2, batch_size=64, seed=0)


# --------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def tiny_log():
    return demo_log(500, seed=3)


@pytest.fixture(scope="module")
def artifacts(tmp_path_factory):
    """A temporary artifacts folder, used by the pages through EMAIL_AD_ARTIFACTS."""
    path = tmp_path_factory.mktemp("artifacts")
    old = os.environ.get("EMAIL_AD_ARTIFACTS")
    os.environ["EMAIL_AD_ARTIFACTS"] = str(path)
    yield path
    if old is None:
        os.environ.pop("EMAIL_AD_ARTIFACTS", None)
    else:
        os.environ["EMAIL_AD_ARTIFACTS"] = old


@pytest.fixture(scope="module")
def bundle(tiny_log, artifacts):
    job = TrainingJob(tiny_log.frame[tiny_log.scorable], dict(TINY), artifacts, name="tiny").start()
    assert job.wait(120), "training did not finish"
    assert job.status == DONE, job.error
    return job.bundle


@pytest.fixture(scope="module")
def tiny_scores(bundle, tiny_log, artifacts):
    return score_log(load_bundle(bundle.name, artifacts), tiny_log)


def app(page: str, **session) -> AppTest:
    at = AppTest.from_file(str(ROOT / page), default_timeout=90)
    for key, value in session.items():
        at.session_state[key] = value
    return at


def seeded(page: str, log, **extra) -> AppTest:
    """A page with the session state the Data page leaves (plus ``extra``)."""
    return app(page, **{state.DATA_LOG: log, state.DATA_TOKEN: "tiny-500-3", **extra})


def no_exception(at: AppTest) -> None:
    assert not at.exception, [e.value for e in at.exception]


# --------------------------------------------------------------------------- every page


@pytest.mark.parametrize("page", PAGES)
def test_page_runs_with_empty_state(page, artifacts, tmp_path, monkeypatch):
    monkeypatch.setenv("EMAIL_AD_ARTIFACTS", str(tmp_path))  # no models either
    at = app(page)
    at.run()
    no_exception(at)
    if page != "dashboard.py":
        assert at.info, "a page without its input should say what is missing"
        assert "No " in at.info[0].value


@pytest.mark.parametrize("page", PAGES)
def test_page_runs_with_data_and_model(page, tiny_log, bundle):
    at = seeded(page, tiny_log, **{state.MODEL_NAME: bundle.name})
    at.run()
    no_exception(at)
    assert not at.error, [e.value for e in at.error]


def test_home_lists_saved_model_and_links_pages(bundle, artifacts):
    at = app("dashboard.py")
    at.run()
    no_exception(at)
    assert bundle.name in at.dataframe[0].value["name"].tolist()
    assert len(at.get("page_link")) >= 5


def test_home_load_demo_data_button_loads_the_demo_log(artifacts):
    at = app("dashboard.py")
    at.run()
    at.button[0].click().run()
    no_exception(at)
    log = at.session_state[state.DATA_LOG]
    assert len(log) == state.DEMO_ROWS
    assert "label" in log.frame


def test_pages_reachable_from_home_with_switch_page(tiny_log, bundle):
    at = seeded("dashboard.py", tiny_log, **{state.MODEL_NAME: bundle.name})
    at.run()
    at.switch_page("pages/3_Detect.py").run()
    no_exception(at)
    assert at.slider(key=state.DETECT_SLIDER) is not None


# --------------------------------------------------------------------------- data


def test_data_loader_reads_and_concatenates_uploads(tiny_log):
    csv = tiny_log.frame.head(100).to_csv(index=False).encode()
    log = load_sources([("a.csv", csv), ("b.csv", csv)])
    assert len(log) == 200
    assert "a.csv" in log.report.source and "b.csv" in log.report.source


@pytest.mark.parametrize(
    "data, message",
    [
        (b"", "empty"),
        (b"\x89PNG\r\n\x1a\n....", "PNG image"),
        (b"id,to,from,title,date\n1,a@x.com,b@y.com,hi,2026-01-01T00:00:00Z\n", "missing column"),
    ],
)
def test_data_loader_bad_file_raises_user_message(data, message):
    with pytest.raises(DataError, match=message):
        load_sources([("bad.csv", data)])


def _upload_script(files):
    """What the Data page does with the uploader's files (AppTest can't drive st.file_uploader)."""
    from ui.upload import handle_uploads

    handle_uploads(files)


def test_data_upload_bad_file_shows_its_message(artifacts):
    at = AppTest.from_function(_upload_script, args=([("photo.csv", b"\x89PNG\r\n\x1a\n....")],), default_timeout=30)
    at.run()
    no_exception(at)
    assert "looks like a PNG image" in at.error[0].value
    assert not at.selectbox  # no column-mapping form for a file that isn't a CSV
    assert state.DATA_LOG not in at.session_state


def test_data_upload_with_other_headers_uses_mapping_form(artifacts):
    data = (
        b"MessageId,To,From,Title,Date\n"
        b"1,a@x.com,b@y.com,hello,2026-01-01T08:00:00Z\n2,c@x.com,b@y.com,hi,2026-01-01T09:00:00Z\n"
    )
    at = AppTest.from_function(_upload_script, args=([("m365.csv", data)],), default_timeout=30)
    at.run()
    no_exception(at)
    assert "missing column" in at.error[0].value
    assert at.selectbox(key=state.data_map_field("Sender")).value == "From"
    at.selectbox(key=state.data_map_field("Subject")).set_value("Title")
    at.selectbox(key=state.data_map_field("UUID")).set_value("MessageId")
    at.button[0].click().run()  # the form's submit button
    no_exception(at)
    log = at.session_state[state.DATA_LOG]
    assert len(log) == 2 and log.frame["Subject"].tolist() == ["hello", "hi"]
    assert not at.error


def test_data_page_without_data_says_so(artifacts):
    at = app("pages/1_Data.py")
    at.run()
    assert "No data loaded yet" in at.info[0].value


def test_column_mapping_helpers_suggest_headers():
    data = b"MessageId,To,From,Title,Date\n1,a@x.com,b@y.com,hi,2026-01-01T00:00:00Z\n"
    headers = read_headers(data)
    assert headers == ["MessageId", "To", "From", "Title", "Date"]
    assert read_headers(b"\x89PNG\r\n\x1a\n\x00\x00") == []
    assert set(missing_fields(headers)) == {"UUID", "Recipient", "Sender", "Subject", "Time Processed"}
    mapping = suggested_mapping(headers)
    assert mapping["Recipient"] == "To" and mapping["Sender"] == "From" and mapping["Time Processed"] == "Date"
    log = load_sources([("m.csv", data)], {"columns": {**mapping, "Subject": "Title"}})
    assert log.frame["Sender"].iloc[0] == "b@y.com"


def test_data_page_shows_validation_report(tiny_log):
    at = seeded("pages/1_Data.py", tiny_log)
    at.run()
    no_exception(at)
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Rows"] == "500"
    assert len(at.get("plotly_chart")) == 3


def test_data_summary_and_profile(tiny_log):
    facts = summary(tiny_log)
    assert facts["rows"] == 500 and facts["senders"] > 1 and facts["sender_domains"] > 1
    assert hourly_counts(tiny_log).sum() == 500 and len(hourly_counts(tiny_log)) == 24
    assert daily_counts(tiny_log).sum() == 500
    assert top_sender_domains(tiny_log, 5).size <= 5
    assert fingerprint([("a", b"1")]) != fingerprint([("a", b"2")])


# --------------------------------------------------------------------------- train


def test_train_page_trains_two_epochs_and_saves_a_bundle(tiny_log, tmp_path, monkeypatch):
    monkeypatch.setenv("EMAIL_AD_ARTIFACTS", str(tmp_path))
    at = seeded("pages/2_Train.py", tiny_log)
    at.run()
    at.number_input(key=state.TRAIN_EPOCHS).set_value(2)
    at.number_input(key=state.TRAIN_BATCH_SIZE).set_value(64)
    at.text_input(key=state.TRAIN_NAME).input("page-test")
    at.button[0].click().run()  # the form's Train button
    no_exception(at)
    job = at.session_state[state.TRAIN_JOB]
    assert job.wait(120) and job.status == DONE, job.error
    at.run()
    no_exception(at)
    assert [b.name for b in list_bundles(tmp_path)] == ["page-test"]
    assert "page-test" in at.success[0].value
    assert at.session_state[state.MODEL_NAME] == "page-test"
    assert len(at.get("plotly_chart")) == 2  # loss curves + test-error histogram


def test_train_page_says_when_a_log_is_small_and_still_trains_it(tmp_path, monkeypatch):
    monkeypatch.setenv("EMAIL_AD_ARTIFACTS", str(tmp_path))
    at = seeded("pages/2_Train.py", demo_log(100, seed=3))
    at.run()
    no_exception(at)
    assert [w.value for w in at.warning] == [
        "100 rows: detection will be weaker below ~400 (fewer senders, recipients and subjects known as "
        "normal). Retrain when a longer log is available."
    ]
    at.number_input(key=state.TRAIN_EPOCHS).set_value(2)
    at.button[0].click().run()
    job = at.session_state[state.TRAIN_JOB]
    assert job.wait(120) and job.status == DONE, job.error
    assert job.detector.n_train_rows_ + job.detector.n_trimmed_rows_ + job.detector.n_test_rows_ == 100
    at.run()
    no_exception(at)
    assert len(at.get("plotly_chart")) == 2  # loss curves + test-error histogram


def test_train_page_has_no_small_log_note_for_a_long_enough_log(tiny_log):
    at = seeded("pages/2_Train.py", tiny_log)
    at.run()
    no_exception(at)
    assert not at.warning


def test_train_page_stop_button_saves_a_usable_model(tiny_log, tmp_path, monkeypatch):
    monkeypatch.setenv("EMAIL_AD_ARTIFACTS", str(tmp_path))
    at = seeded("pages/2_Train.py", tiny_log)
    at.run()
    at.number_input(key=state.TRAIN_EPOCHS).set_value(300)
    at.number_input(key=state.TRAIN_BATCH_SIZE).set_value(64)
    at.button[0].click().run()
    job = at.session_state[state.TRAIN_JOB]
    for _ in range(600):  # until the first epoch is reported
        if job.progress:
            break
        job.wait(0.1)
    at.run()
    no_exception(at)
    assert len(at.get("progress")) == 1
    at.button(key=state.TRAIN_STOP).click().run()
    assert job.wait(120) and job.status == DONE, job.error
    at.run()
    no_exception(at)
    assert "stopped early" in at.success[0].value
    assert job.detector.epochs_run_ < 300
    bundles = list_bundles(tmp_path)
    assert len(bundles) == 1 and bundles[0].metadata["stopped_by_user"] is True


def test_train_page_bad_model_name_shows_message(tiny_log, tmp_path, monkeypatch):
    monkeypatch.setenv("EMAIL_AD_ARTIFACTS", str(tmp_path))
    at = seeded("pages/2_Train.py", tiny_log)
    at.run()
    at.text_input(key=state.TRAIN_NAME).input("no spaces allowed")
    at.button[0].click().run()
    assert "Invalid model name" in at.error[0].value
    assert state.TRAIN_JOB not in at.session_state


def test_train_page_offers_the_detectors_defaults(tiny_log, artifacts):
    from core.model import AutoencoderDetector

    defaults = AutoencoderDetector()
    at = seeded("pages/2_Train.py", tiny_log)
    at.run()
    no_exception(at)
    assert at.number_input(key=state.TRAIN_EPOCHS).value == defaults.epochs
    assert at.number_input(key=state.TRAIN_BATCH_SIZE).value == defaults.batch_size
    assert at.number_input(key=state.TRAIN_PERCENTILE).value == defaults.percentile
    assert at.slider(key=state.TRAIN_TRIM).value == defaults.trim_fraction
    assert at.selectbox(key=state.TRAIN_FEATURE_SET).value == defaults.feature_set


def test_train_page_normal_only_refuses_a_malformed_label_column(tiny_log, tmp_path, monkeypatch):
    import dataclasses

    monkeypatch.setenv("EMAIL_AD_ARTIFACTS", str(tmp_path))
    frame = tiny_log.frame.copy()
    frame["label"] = frame["label"].astype(str).replace({"1": "spam"})
    at = seeded("pages/2_Train.py", dataclasses.replace(tiny_log, frame=frame))
    at.run()
    at.checkbox(key=state.TRAIN_NORMAL_ONLY).check()
    at.button[0].click().run()
    no_exception(at)
    assert "must hold only 0 (normal) and 1" in at.error[0].value
    assert state.TRAIN_JOB not in at.session_state


def test_train_page_normal_only_trains_on_label_0_rows(tiny_log, tmp_path, monkeypatch):
    monkeypatch.setenv("EMAIL_AD_ARTIFACTS", str(tmp_path))
    at = seeded("pages/2_Train.py", tiny_log)
    at.run()
    at.number_input(key=state.TRAIN_EPOCHS).set_value(2)
    at.number_input(key=state.TRAIN_BATCH_SIZE).set_value(64)
    at.checkbox(key=state.TRAIN_NORMAL_ONLY).check()
    at.button[0].click().run()
    no_exception(at)
    job = at.session_state[state.TRAIN_JOB]
    labels = tiny_log.frame.loc[tiny_log.scorable, "label"].astype(int)
    assert (labels == 1).any()  # the demo log has anomalies to leave out
    assert len(job.frame) == int((labels == 0).sum()) and set(job.frame["label"].astype(int)) == {0}
    assert job.wait(120) and job.status == DONE, job.error


def test_training_job_stop_ends_cleanly_and_saves(tiny_log, tmp_path):
    job = TrainingJob(tiny_log.frame[tiny_log.scorable], dict(TINY, epochs=200), tmp_path, name="stopped")
    job.start()
    for _ in range(600):
        if job.progress:
            break
        job.wait(0.1)
    job.stop()
    assert job.wait(120) and job.status == DONE, job.error
    assert job.detector.epochs_run_ < 200 and job.detector.stopped_early_
    assert job.bundle.metadata["stopped_by_user"] is True
    reloaded = load_bundle("stopped", tmp_path)
    assert np.isfinite(reloaded.threshold_)
    assert len(job.history["loss"]) == job.detector.epochs_run_


def test_training_job_eta_ignores_the_slow_first_epoch(tiny_log, tmp_path):
    from core.model import EpochProgress

    job = TrainingJob(tiny_log.frame, dict(TINY, epochs=10), tmp_path)
    assert job.eta() is None
    job._on_epoch(EpochProgress(1, 10, 1.0, 1.0, elapsed=10.0))
    assert job.eta() == pytest.approx(90.0)
    job._on_epoch(EpochProgress(2, 10, 1.0, 1.0, elapsed=11.0))
    job._on_epoch(EpochProgress(3, 10, 1.0, 1.0, elapsed=12.0))
    assert job.eta() == pytest.approx(7.0)


def test_training_job_eta_during_screening_counts_the_larger_final_fit(tmp_path):
    from core.model import EpochProgress

    frame = pd.DataFrame(index=range(100_000))  # only its length matters here
    params = dict(epochs=10, test_size=0.2, trim_fraction=0.25, screening_epochs=5, screening_rows=20_000)
    job = TrainingJob(frame, params, tmp_path)
    job._on_epoch(EpochProgress(1, 5, 1.0, 1.0, elapsed=1.0, stage="screening"))
    job._on_epoch(EpochProgress(2, 5, 1.0, 1.0, elapsed=2.0, stage="screening"))
    # 3 screening epochs of 1 s left, then 10 epochs over 60k rows instead of 20k: 3 s each.
    assert job.eta() == pytest.approx(3 + 10 * 3)


def test_training_job_reports_data_errors(tmp_path, tiny_log):
    job = TrainingJob(tiny_log.frame.head(5), dict(TINY), tmp_path).start()
    assert job.wait(60)
    assert job.status == FAILED and "Too few rows" in job.error
    assert list_bundles(tmp_path) == []


# --------------------------------------------------------------------------- detect


def detect_app(log, bundle) -> AppTest:
    at = seeded("pages/3_Detect.py", log, **{state.MODEL_NAME: bundle.name})
    at.run()
    no_exception(at)
    return at


def flagged_metric(at: AppTest) -> int:
    return int(next(m.value for m in at.metric if m.label == "Flagged").replace(",", ""))


def test_detect_slider_changes_flagged_count_and_stores_threshold(tiny_log, bundle, tiny_scores):
    at = detect_app(tiny_log, bundle)
    before = flagged_metric(at)
    assert at.session_state[state.DETECT_THRESHOLD] == pytest.approx(bundle.metadata["threshold"])
    lower = float(np.nanpercentile(tiny_scores[ERROR], 50))
    at.slider(key=state.DETECT_SLIDER).set_value(lower).run()
    no_exception(at)
    after = flagged_metric(at)
    assert after > before
    assert after == int((tiny_scores[ERROR] > at.session_state[state.DETECT_THRESHOLD]).sum())
    assert at.session_state[state.DETECT_THRESHOLD] == pytest.approx(lower, rel=1e-6)
    assert at.number_input(key=state.DETECT_NUMBER).value == pytest.approx(lower, rel=1e-6)


def test_detect_number_input_moves_slider(tiny_log, bundle, tiny_scores):
    at = detect_app(tiny_log, bundle)
    high = float(np.nanmax(tiny_scores[ERROR])) * 0.9
    at.number_input(key=state.DETECT_NUMBER).set_value(high).run()
    assert at.slider(key=state.DETECT_SLIDER).value == pytest.approx(high, rel=1e-6)
    assert flagged_metric(at) == int((tiny_scores[ERROR] > high).sum())


def test_detect_quick_setting_top_n(tiny_log, bundle):
    at = detect_app(tiny_log, bundle)
    at.radio(key=state.DETECT_QUICK_RULE).set_value("top")
    at.number_input(key=state.DETECT_QUICK_TOP).set_value(7)
    at.button(key=state.DETECT_QUICK_APPLY).click().run()
    no_exception(at)
    assert flagged_metric(at) == 7


def test_detect_has_downloads_and_label_metrics(tiny_log, bundle):
    at = detect_app(tiny_log, bundle)
    downloads = at.get("download_button")
    assert len(downloads) == 2
    labels = {m.label for m in at.metric}
    assert {"Precision", "Recall", "ROC-AUC"} <= labels
    assert len(at.dataframe) == 1  # flagged table


def test_flagged_download_payload_holds_the_top_error_uuids(tiny_scores):
    threshold = float(np.nanpercentile(tiny_scores[ERROR], 90))
    payload = pd.read_csv(io.BytesIO(flagged_csv(tiny_scores, threshold)))
    expected = tiny_scores[tiny_scores[ERROR] > threshold]
    assert sorted(payload[UUID]) == sorted(expected[UUID])
    assert payload[ERROR].is_monotonic_decreasing
    assert list(payload.columns) == [UUID, ERROR, "top_field", "reason"]


def test_detect_helpers(tiny_scores, bundle):
    view = ThresholdView.from_scores(tiny_scores)
    errors = tiny_scores[ERROR].to_numpy()
    t = quick_threshold("top", 10, errors, 1.0)
    table = flagged_table(tiny_scores, view, t)
    assert len(table) == 10 and table["error"].is_monotonic_decreasing
    assert quick_threshold("model", None, errors, 0.5) == 0.5
    assert view.flagged_count(quick_threshold("rate", 10, errors, 1.0)) == pytest.approx(50, abs=2)
    info = explanation(tiny_scores, int(table.index[0]))
    assert sum(info["fields"].values()) == pytest.approx(info["error"], rel=1e-4)
    curves = label_curves(tiny_scores)
    assert curves is not None and 0 <= curves["roc_auc"] <= 1
    point = operating_point(curves, t)
    assert point["flagged"] == 10
    assert label_curves(tiny_scores.drop(columns=["label"])) is None


# --------------------------------------------------------------------------- explore & models


def test_explore_uses_detect_threshold_and_draws_map(tiny_log, bundle, tiny_scores):
    t = float(np.nanpercentile(tiny_scores[ERROR], 80))
    at = seeded(
        "pages/4_Explore.py",
        tiny_log,
        **{state.MODEL_NAME: bundle.name, state.DETECT_MODEL: bundle.name, state.DETECT_THRESHOLD: t},
    )
    at.run()
    no_exception(at)
    assert f"{t:.4g}" in " ".join(m.value for m in at.markdown)
    assert len(at.get("plotly_chart")) == 1
    assert len(at.get("download_button")) == 1


@pytest.mark.parametrize("page", ["pages/3_Detect.py", "pages/4_Explore.py"])
def test_detect_and_explore_show_a_refused_model_as_one_error(page, tiny_log, bundle, artifacts, tmp_path, monkeypatch):
    import shutil

    monkeypatch.setenv("EMAIL_AD_ARTIFACTS", str(tmp_path))
    shutil.copytree(artifacts / bundle.name, tmp_path / "tampered")
    metadata = tmp_path / "tampered" / "metadata.json"
    metadata.write_text(metadata.read_text() + " ")  # still JSON, no longer what the manifest says
    at = seeded(page, tiny_log, **{state.MODEL_NAME: "tampered"})
    at.run()
    no_exception(at)
    assert len(at.error) == 1 and "tampered" in at.error[0].value
    assert not at.get("plotly_chart") and not at.dataframe


@pytest.mark.parametrize("page", ["pages/3_Detect.py", "pages/4_Explore.py"])
def test_detect_and_explore_show_refused_data_as_one_error(page, tiny_log, bundle, monkeypatch):
    import core.scoring

    def refuse(detector, log, **kwargs):
        raise DataError("This log can't be scored with this model.")

    monkeypatch.setattr(core.scoring, "score_log", refuse)
    # A data token of its own: the scores cache must not answer for the real data.
    at = app(page, **{state.DATA_LOG: tiny_log, state.DATA_TOKEN: f"refused-{page}", state.MODEL_NAME: bundle.name})
    at.run()
    no_exception(at)
    assert [e.value for e in at.error] == ["This log can't be scored with this model."]
    assert not at.get("plotly_chart") and not at.dataframe


def test_models_page_deletes_after_confirmation(tiny_log, tmp_path, monkeypatch):
    monkeypatch.setenv("EMAIL_AD_ARTIFACTS", str(tmp_path))
    job = TrainingJob(tiny_log.frame[tiny_log.scorable], dict(TINY), tmp_path, name="doomed").start()
    assert job.wait(120) and job.status == DONE
    at = app("pages/5_Models.py")
    at.run()
    no_exception(at)
    assert at.dataframe[0].value["name"].tolist() == ["doomed"]
    at.selectbox(key=state.MODELS_DELETE_PICK).set_value("doomed").run()
    at.button(key=state.MODELS_DELETE).click().run()
    assert list_bundles(tmp_path)  # not yet: needs confirmation
    at.button(key=state.MODELS_CONFIRM).click().run()
    no_exception(at)
    assert list_bundles(tmp_path) == []
    assert "Deleted model doomed" in at.success[0].value


def test_models_page_shows_the_data_source_of_a_cli_trained_model(tmp_path, monkeypatch, capsys):
    import json
    import shutil

    from core.cli import main
    from core.demo import make_demo_log

    monkeypatch.setenv("EMAIL_AD_ARTIFACTS", str(tmp_path / "art"))
    make_demo_log(300, seed=2).to_csv(tmp_path / "gateway.csv", index=False)
    trained = main(
        ["train", str(tmp_path / "gateway.csv"), "--artifacts", str(tmp_path / "art"), "--name", "from-cli"]
        + ["--epochs", "1", "--batch-size", "64", "--trim-fraction", "0"]
    )
    assert trained == 0, capsys.readouterr().err
    # A bundle saved before training metadata had one shape: the Train page's data_source key.
    old = shutil.copytree(tmp_path / "art" / "from-cli", tmp_path / "art" / "from-page")
    meta = json.loads((old / "metadata.json").read_text())
    del meta["training_data"]
    (old / "metadata.json").write_text(json.dumps({**meta, "data_source": "old-upload.csv"}))
    at = app("pages/5_Models.py")
    at.run()
    no_exception(at)
    table = at.dataframe[0].value.set_index("name")
    assert table.loc["from-cli", "data"] == "gateway.csv"
    assert table.loc["from-page", "data"] == "old-upload.csv"


def test_detect_can_score_the_training_data_after_new_data_was_loaded(tiny_log, bundle):
    other = demo_log(300, seed=9)
    at = seeded(
        "pages/3_Detect.py",
        other,
        **{state.MODEL_NAME: bundle.name, state.TRAIN_DATA: (tiny_log, "tiny-training-data")},
    )
    at.run()
    no_exception(at)
    radio = at.radio(key=state.DETECT_DATASET)
    assert radio.options == ["Loaded data", "Data of the last training"]
    assert "300 rows" in " ".join(c.value for c in at.caption)
    radio.set_value("Data of the last training").run()
    no_exception(at)
    assert f"{len(tiny_log):,} rows" in " ".join(c.value for c in at.caption)


def test_detect_keeps_working_when_another_session_deletes_the_model(tiny_log, tmp_path, monkeypatch):
    from core.artifacts import delete_bundle

    monkeypatch.setenv("EMAIL_AD_ARTIFACTS", str(tmp_path))
    for name in ("kept", "gone"):
        job = TrainingJob(tiny_log.frame[tiny_log.scorable], dict(TINY), tmp_path, name=name).start()
        assert job.wait(120) and job.status == DONE
    at = seeded("pages/3_Detect.py", tiny_log, **{state.MODEL_NAME: "gone"})
    at.run()
    no_exception(at)
    delete_bundle("gone", tmp_path)  # meanwhile, on the Models page of another browser
    at.run()
    no_exception(at)
    assert at.session_state[state.MODEL_NAME] == "kept"
    delete_bundle("kept", tmp_path)
    at.run()
    no_exception(at)
    assert any("No saved models" in info.value for info in at.info)


# --------------------------------------------------------------------------- selections, threshold, formatting


def test_selected_map_rows_reads_customdata_and_falls_back_to_trace_index():
    flagged = np.array([False, True, False, True, False])  # trace 0: rows 0, 2, 4; trace 1: rows 1, 3
    event = {
        "selection": {
            "points": [
                {"customdata": ["4", "uuid", "s", "subj", 0.1], "curve_number": 0, "point_index": 2},
                {"curve_number": 1, "point_index": 1},  # no customdata: row 3
                {"customdata": [4.0], "curve_number": 0, "point_index": 2},  # the same row twice
                {"curve_number": 0, "point_index": 0},  # row 0
            ]
        }
    }
    assert selected_map_rows(event, flagged) == [0, 3, 4]
    assert selected_map_rows(None, flagged) == []
    assert selected_map_rows({"selection": {"points": []}}, flagged) == []


def test_selected_table_row_maps_the_picked_row_to_its_index():
    index = pd.Index([42, 7, 13])  # the flagged table's index: row positions in the scores
    assert selected_table_row({"selection": {"rows": [1], "columns": []}}, index) == 7
    assert selected_table_row({"selection": {"rows": [], "columns": []}}, index) is None
    assert selected_table_row(None, index) is None


def _threshold_script(errors, fitted, model):
    """The Detect page's threshold controls on their own, over given errors."""
    import pandas as pd
    import streamlit as st

    from core.scoring import ERROR, ThresholdView
    from ui import threshold

    view = ThresholdView.from_scores(pd.DataFrame({ERROR: errors}))
    hi = threshold.slider_max(view.sorted_errors, fitted)
    threshold.start_threshold(model, fitted, hi)
    current = threshold.threshold_inputs(hi)
    threshold.quick_rules(view.sorted_errors, fitted, 90.0, hi)
    threshold.threshold_metrics(view, current, fitted, 90.0)
    threshold.error_histogram(view, current)
    st.write(f"current={current}")


def threshold_app(errors, fitted=0.5, model="m") -> AppTest:
    at = AppTest.from_function(_threshold_script, args=(errors, fitted, model), default_timeout=30)
    at.run()
    no_exception(at)
    return at


def test_threshold_controls_start_at_the_fitted_threshold_and_stay_in_sync():
    errors = np.linspace(0.0, 1.0, 101)
    at = threshold_app(errors, fitted=0.5)
    assert at.session_state[state.DETECT_THRESHOLD] == 0.5 and at.session_state[state.DETECT_MODEL] == "m"
    assert flagged_metric(at) == 50
    at.slider(key=state.DETECT_SLIDER).set_value(0.895).run()
    assert at.number_input(key=state.DETECT_NUMBER).value == pytest.approx(0.895)
    assert flagged_metric(at) == 11  # 0.90, 0.91, …, 1.00
    at.number_input(key=state.DETECT_NUMBER).set_value(0.195).run()
    assert at.slider(key=state.DETECT_SLIDER).value == pytest.approx(0.195)
    assert at.session_state[state.DETECT_THRESHOLD] == pytest.approx(0.195)
    assert flagged_metric(at) == 81
    assert len(at.get("plotly_chart")) == 1


@pytest.mark.parametrize(
    "rule, key, value, flagged",
    [
        ("top", state.DETECT_QUICK_TOP, 7, 7),
        ("rate", state.DETECT_QUICK_RATE, 20.0, 20),
        ("percentile", state.DETECT_QUICK_PERCENTILE, 75.0, 25),
        ("model", None, None, 50),
    ],
)
def test_threshold_quick_rules_set_the_threshold(rule, key, value, flagged):
    at = threshold_app(np.linspace(0.0, 1.0, 101), fitted=0.5)
    at.slider(key=state.DETECT_SLIDER).set_value(0.0).run()  # somewhere else first
    at.radio(key=state.DETECT_QUICK_RULE).set_value(rule)
    if key is not None:
        at.number_input(key=key).set_value(value)
    at.button(key=state.DETECT_QUICK_APPLY).click().run()
    no_exception(at)
    assert flagged_metric(at) == flagged
    assert at.slider(key=state.DETECT_SLIDER).value == pytest.approx(at.session_state[state.DETECT_THRESHOLD])


def test_threshold_resets_to_the_fitted_one_for_another_model():
    at = threshold_app(np.linspace(0.0, 1.0, 101), fitted=0.5, model="m")
    at.slider(key=state.DETECT_SLIDER).set_value(0.9).run()
    other = AppTest.from_function(
        _threshold_script, args=(np.linspace(0.0, 1.0, 101), 0.3, "other"), default_timeout=30
    )
    other.session_state[state.DETECT_THRESHOLD] = 0.9
    other.session_state[state.DETECT_MODEL] = "m"
    other.run()
    no_exception(other)
    assert other.session_state[state.DETECT_THRESHOLD] == 0.3 and other.session_state[state.DETECT_MODEL] == "other"


def test_time_formatting_is_utc_in_one_shape():
    assert time_text("2026-12-01T23:35:56+00:00", seconds=True) == "2026-12-01 23:35:56"
    assert time_text("2026-12-01T23:35:56+01:00", seconds=True, zone=True) == "2026-12-01 22:35:56 UTC"
    assert time_text(pd.Timestamp("2026-03-02 14:05:09", tz="UTC")) == "2026-03-02 14:05"
    assert time_text("") == "" and time_text(None) == "" and time_text(pd.NaT) == ""
    assert time_text("not a time") == "not a time"
    first, last = pd.Timestamp("2026-01-01 10:00", tz="UTC"), pd.Timestamp("2026-01-02 11:30", tz="UTC")
    assert time_range_text(first, last) == "2026-01-01 10:00 – 2026-01-02 11:30 UTC"
    assert time_range_text(pd.NaT, pd.NaT) == "no readable times"
    assert duration_text(125.4) == "2:05" and duration_text(None) == "–"


# --------------------------------------------------------------------------- charts


def test_loss_curve_has_train_and_validation():
    fig = charts.loss_curve({"loss": [1.0, 0.5, 0.4], "val_loss": [1.1, 0.6, 0.5]}, epochs=10)
    assert isinstance(fig, go.Figure)
    assert [t.name for t in fig.data] == ["training", "validation"]
    assert list(fig.data[0].x) == [1, 2, 3]
    assert fig.layout.xaxis.range[1] == pytest.approx(10.5)
    assert fig.layout.yaxis.range is None  # the curves set the loss axis


def test_an_empty_loss_curve_says_why():
    fig = charts.loss_curve({}, epochs=50, live=True)
    assert not fig.data
    assert list(fig.layout.yaxis.range) == [0, 1]  # a loss is never negative
    assert fig.layout.annotations[0].text == "waiting for the first epoch"
    # A finished model saved without its history (older bundles) is not "waiting".
    assert charts.loss_curve({}).layout.annotations[0].text == "no loss history saved with this model"


def test_error_histogram_splits_at_threshold_and_draws_line():
    edges = np.linspace(0, 1, 11)
    counts = np.arange(10)
    fig = charts.error_histogram(edges, counts, 0.5, log_y=True)
    below, above = fig.data
    assert sum(below.y) + sum(above.y) == counts.sum()
    assert min(above.x) > 0.5 > max(below.x)
    assert fig.layout.yaxis.type == "log"
    assert fig.layout.shapes[0].x0 == 0.5


def test_error_histogram_of_a_few_rows_ticks_whole_rows():
    edges = np.linspace(0, 5, 6)
    assert charts.error_histogram(edges, [1, 2, 0, 1, 1], 4.0).layout.yaxis.dtick == 1
    assert charts.error_histogram(edges, [10, 200, 0, 1, 1], 4.0).layout.yaxis.dtick is None  # Plotly's own


def test_tsne_scatter_two_traces_with_escaped_hover():
    points = pd.DataFrame({"x": [0.0, 1.0, 2.0], "y": [0.0, 1.0, 0.5]})
    hover = pd.DataFrame(
        {
            "UUID": ["a", "b", "c"],
            "Sender": ["<script>x</script>", "s", "t"],
            "Subject": ["hi", "there", "you"],
            "error": [0.1, 0.2, 3.0],
        }
    )
    fig = charts.tsne_scatter(points, np.array([False, False, True]), hover)
    assert [type(t).__name__ for t in fig.data] == ["Scattergl", "Scattergl"]
    assert len(fig.data[0].x) == 2 and len(fig.data[1].x) == 1
    assert fig.data[1].customdata[0][1] == "c"
    assert "customdata" in fig.data[0].hovertemplate


def test_other_charts_build():
    assert len(charts.field_errors_bar({"Sender": 1.0, "Subject": 0.1}).data) == 1
    # The field the reason names is the one drawn in the anomaly colour, even if not the largest sum.
    colors = charts.field_errors_bar({"Sender": 1.0, "Subject": 0.8}, highlight="Subject").data[0].marker.color
    assert colors[1] == charts.ANOMALY_COLOR and colors[0] == charts.NORMAL_COLOR
    roc = charts.roc_figure([0, 0.5, 1], [0, 0.8, 1], 0.8, (0.1, 0.5))
    assert len(roc.data) == 3
    pr = charts.pr_figure([1, 0.5], [0, 1], 0.6, (0.5, 0.5), 0.02)
    assert len(pr.data) == 3
    assert len(charts.hourly_bar(pd.Series([1] * 24, index=range(24))).data[0].x) == 24
    assert charts.domains_bar(pd.Series([3, 1], index=["a.com", "b.com"])).data[0].orientation == "h"
    days = pd.Series([1, 2], index=pd.date_range("2026-01-01", periods=2, tz="UTC"))
    assert len(charts.daily_bar(days).data[0].y) == 2


def test_train_page_leaves_out_confirmed_mail_and_keeps_benign_mail(tiny_log, tmp_path, monkeypatch):
    """The Review page's verdicts reach training: confirmed rows are not learned as normal,
    benign rows are never trimmed by screening, and the page says how many of each."""
    from core.workspace.store import Workspace
    from tests.workspace_helpers import scores_frame

    monkeypatch.setenv("EMAIL_AD_ARTIFACTS", str(tmp_path))
    rows = tiny_log.frame[tiny_log.scorable].head(5)
    ws = Workspace.open(None, tmp_path)
    run = ws.record_run(
        scores_frame(
            [{"UUID": u, "Sender": s, "error": 2.0} for u, s in zip(rows["UUID"], rows["Sender"], strict=True)]
        ),
        1.0,
        model_name="earlier",
        data_name="earlier.csv",
    )
    confirmed, benign = list(rows["UUID"][:3]), list(rows["UUID"][3:])
    ws.set_verdicts(run.id, confirmed, "confirmed")
    ws.set_verdicts(run.id, benign, "benign")

    at = seeded("pages/2_Train.py", tiny_log)
    at.run()
    at.number_input(key=state.TRAIN_EPOCHS).set_value(2)
    at.number_input(key=state.TRAIN_BATCH_SIZE).set_value(64)
    assert at.checkbox(key=state.TRAIN_USE_VERDICTS).value  # on by default
    at.button[0].click().run()
    no_exception(at)
    job = at.session_state[state.TRAIN_JOB]
    assert not set(confirmed) & set(job.frame["UUID"]) and len(job.frame) == int(tiny_log.scorable.sum()) - 3
    keep = job.fit_options["always_keep"]
    assert set(job.frame["UUID"][keep]) == set(benign)
    assert any("left out 3 confirmed, kept 2 benign" in c.value for c in at.caption)
    assert job.wait(120) and job.status == DONE, job.error


def test_a_rerun_does_not_clear_keras_state_under_a_training_thread():
    """Streamlit clears Keras' session after every script run unless the pages stop it; that
    reset Keras under the Train page's job once a second and made training 10-20x slower."""
    import keras
    from streamlit.runtime.scriptrunner import script_runner

    at = AppTest.from_file(str(ROOT / "pages" / "5_Models.py"), default_timeout=90).run()
    assert not at.exception
    before = keras.backend.get_uid("rerun-probe")
    script_runner._clean_problem_modules()  # what Streamlit calls after every script run
    assert keras.backend.get_uid("rerun-probe") == before + 1  # clear_session would restart at 1
