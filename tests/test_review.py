"""The dashboard's triage: Review page (runs, verdicts, rules from a row, audit, exports), Detect's
suppression and verdict marks and the run every scoring records, under AppTest, plus the pure
helpers in ui.triage."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from core.jobs import DONE, TrainingJob
from core.scoring import ERROR, ThresholdView, score_log
from core.workspace.store import Workspace
from tests.workspace_helpers import sample_scores
from ui import runs, state
from ui.data import demo_log
from ui.triage import Suppression, marked_table, sender_domain

ROOT = Path(__file__).resolve().parents[1]
REVIEW = str(ROOT / "pages/6_Review.py")
DETECT = str(ROOT / "pages/3_Detect.py")


@pytest.fixture
def workspace_env(tmp_path, monkeypatch):
    """An empty artifacts folder and a fresh SQLite workspace, as the pages find them (env vars)."""
    artifacts = tmp_path / "artifacts"
    artifacts.mkdir()
    url = f"sqlite:///{tmp_path / 'review.db'}"
    monkeypatch.setenv("EMAIL_AD_ARTIFACTS", str(artifacts))
    monkeypatch.setenv("EMAIL_AD_DB", url)
    monkeypatch.setenv("EMAIL_AD_ANALYST", "ana")
    return Workspace.open(url), artifacts


def no_exception(at: AppTest) -> None:
    assert not at.exception, [e.value for e in at.exception]


def by_key(widgets, key: str):
    return next(w for w in widgets if w.key == key)


# --------------------------------------------------------------------------- Review page


def test_review_without_runs_says_how_to_record_one(workspace_env):
    at = AppTest.from_file(REVIEW, default_timeout=60)
    at.run()
    no_exception(at)
    assert at.info and "No runs recorded yet" in at.info[0].value
    assert any(b.label == "Add rule" for b in at.button)  # the allow-list works before any run


def test_review_verdict_rule_from_row_audit_and_export(workspace_env):
    ws, _ = workspace_env
    run = ws.record_run(sample_scores(), 1.0, model_name="tiny", data_name="mail.csv", analyst="ana")
    at = AppTest.from_file(REVIEW, default_timeout=60)
    at.run()
    no_exception(at)
    queue = at.dataframe[1].value  # runs table first, then the run's queue
    assert at.dataframe[0].value["id"].tolist() == [run.id]
    assert queue["UUID"].tolist()[0] == "msg-011" and (queue["verdict"] == "").all()

    # Pick a row, give it a verdict with a category and a note.
    by_key(at.multiselect, state.REVIEW_PICK).set_value(["msg-004"]).run()
    by_key(at.selectbox, f"{state.REVIEW_VERDICT}.category").set_value("newsletter")
    by_key(at.text_input, f"{state.REVIEW_VERDICT}.note").set_value("monthly partner digest")
    by_key(at.button, f"{state.REVIEW_VERDICT}.benign").click().run()
    no_exception(at)
    assert at.success and "1 marked benign" in at.success[0].value
    stored = ws.flagged(run.id).set_index("UUID").loc["msg-004"]
    assert (stored["verdict"], stored["verdict_reason"], stored["verdict_note"]) == (
        "benign",
        "newsletter",
        "monthly partner digest",
    )
    assert stored["verdict_analyst"] == "ana"
    trail = [e for e in ws.audit(run.id) if e.action == "verdict"]
    assert [e.entity_id for e in trail] == [f"{run.id}/msg-004"]
    shown = next(d.value for d in at.dataframe if "action" in d.value)
    assert "verdict" in shown["action"].tolist()  # the page re-read the trail after writing
    assert at.dataframe[1].value.set_index("UUID").loc["msg-004", "verdict"] == "benign"

    # One click: allow the row's sender domain.
    domain = by_key(at.button, f"{state.REVIEW_ROW_RULE}.allow_domain")
    assert "partner.example" in domain.label
    domain.click().run()
    no_exception(at)
    rules = ws.rules()
    assert [(r.kind, r.value, r.state) for r in rules] == [("sender_domain", "partner.example", "active")]
    listed = next(d.value for d in at.dataframe if "rule" in d.value)
    assert listed["rule"].tolist() == ["sender_domain partner.example"]

    # Exports: four buttons; the ECS one's payload is one JSON document per line.
    labels = [b.proto.label for b in at.get("download_button")]
    assert labels == ["CSV", "ECS NDJSON", "Splunk HEC", "CEF"]
    lines = runs.export_bytes(ws, run.id, "ecs").decode().splitlines()
    docs = [json.loads(line) for line in lines]
    assert len(docs) == run.n_above
    benign = next(d for d in docs if d["email"]["local_id"] == "msg-004")
    assert benign["event"]["kind"] == "alert"
    assert (benign["labels"]["verdict"], benign["labels"]["verdict_note"]) == ("benign", "monthly partner digest")


def test_review_bulk_verdict_keeps_another_analysts_change(workspace_env, monkeypatch):
    """Two sessions on one run: each write lands, the page shows the other's on its next run."""
    ws, _ = workspace_env
    run = ws.record_run(sample_scores(), 1.0, model_name="tiny", data_name="mail.csv")
    first, second = AppTest.from_file(REVIEW, default_timeout=60), AppTest.from_file(REVIEW, default_timeout=60)
    first.run()
    second.run()
    by_key(first.multiselect, state.REVIEW_PICK).set_value(["msg-010", "msg-009"]).run()
    by_key(second.multiselect, state.REVIEW_PICK).set_value(["msg-009"]).run()
    by_key(first.button, f"{state.REVIEW_VERDICT}.confirmed").click().run()
    by_key(second.button, f"{state.REVIEW_VERDICT}.review").click().run()
    verdicts = ws.flagged(run.id).set_index("UUID")["verdict"]
    assert (verdicts["msg-010"], verdicts["msg-009"]) == ("confirmed", "review")
    changes = [json.loads(e.new)["verdict"] for e in ws.audit(run.id) if e.entity_id == f"{run.id}/msg-009"]
    assert changes == ["confirmed", "review"]
    first.run()  # no stale copy: the first analyst now sees the second's verdict
    assert first.dataframe[1].value.set_index("UUID").loc["msg-009", "verdict"] == "review"


def test_review_allow_list_add_with_expiry_and_remove(workspace_env):
    ws, _ = workspace_env
    at = AppTest.from_file(REVIEW, default_timeout=60)
    at.run()
    by_key(at.selectbox, state.REVIEW_RULE_KIND).set_value("subject_regex")
    by_key(at.text_input, state.REVIEW_RULE_VALUE).set_value("(?i)^newsletter")
    by_key(at.checkbox, state.REVIEW_RULE_USE_EXPIRY).check()
    by_key(at.text_input, state.REVIEW_RULE_NOTE).set_value("marketing")
    by_key(at.button, state.REVIEW_RULE_ADD).click().run()
    no_exception(at)
    (rule,) = ws.rules()
    assert (rule.kind, rule.value, rule.note, rule.state) == ("subject_regex", "(?i)^newsletter", "marketing", "active")
    assert rule.expires is not None
    by_key(at.button, state.REVIEW_RULE_REMOVE).click().run()
    no_exception(at)
    assert ws.rules(include_removed=True)[0].state == "removed"
    assert next(d.value for d in at.dataframe if "state" in d.value)["state"].tolist() == ["removed"]

    by_key(at.text_input, state.REVIEW_RULE_VALUE).set_value("not a domain")
    by_key(at.selectbox, state.REVIEW_RULE_KIND).set_value("sender_domain")
    by_key(at.button, state.REVIEW_RULE_ADD).click().run()
    no_exception(at)
    assert at.error and len(ws.rules(include_removed=True)) == 1  # one line, nothing written


# --------------------------------------------------------------------------- Detect


@pytest.fixture(scope="module")
def tiny_bundle(tmp_path_factory):
    artifacts = tmp_path_factory.mktemp("review-artifacts")
    log = demo_log(500, seed=3)
    job = TrainingJob(log.frame[log.scorable], dict(epochs=2, batch_size=64, seed=0), artifacts, name="tiny").start()
    assert job.wait(180), "training did not finish"
    assert job.status == DONE, job.error
    return log, artifacts, job.bundle


def test_detect_shows_suppression_and_verdicts_and_saves_the_run(tiny_bundle, tmp_path, monkeypatch):
    log, artifacts, bundle = tiny_bundle
    url = f"sqlite:///{tmp_path / 'detect.db'}"
    monkeypatch.setenv("EMAIL_AD_ARTIFACTS", str(artifacts))
    monkeypatch.setenv("EMAIL_AD_DB", url)
    from core.artifacts import load_bundle

    detector = load_bundle(bundle.name, artifacts)
    scores = score_log(detector, log)
    top = scores.sort_values(ERROR, ascending=False)
    top = top[top[ERROR] > detector.threshold_]
    domains = top["Sender"].map(sender_domain)
    allowed = domains.iloc[0]
    other = top[domains != allowed].iloc[0]
    ws = Workspace.open(url)
    earlier = ws.record_run(scores, detector.threshold_, model_name=bundle.name, data_name="earlier.csv")
    ws.set_verdicts(earlier.id, [other["UUID"]], "benign", note="known")
    ws.add_rule("sender_domain", allowed)

    at = AppTest.from_file(DETECT, default_timeout=120)
    at.session_state[state.DATA_LOG] = log
    at.session_state[state.DATA_TOKEN] = "tiny-500-3"
    at.session_state[state.MODEL_NAME] = bundle.name
    at.run()
    no_exception(at)
    flagged = by_key(at.dataframe, state.DETECT_TABLE).value
    (hidden,) = [d.value for d in at.dataframe if "suppressed_by" in d.value]
    n_allowed = int((domains == allowed).sum())
    assert len(hidden) == n_allowed and set(hidden["suppressed_by"]) == {1}
    assert not flagged["Sender"].map(sender_domain).eq(allowed).any()
    assert flagged.loc[flagged["UUID"] == other["UUID"], "verdict"].tolist() == ["benign"]
    # Known-good mail (its own benign verdict, or its sender's) goes last, whatever the errors.
    known_good = flagged["state"].isin(["benign", "known good sender"]).to_numpy()
    assert known_good[-1] and known_good[known_good.argmax() :].all()
    assert at.metric[0].value == f"{len(top) - n_allowed:,}"

    # Scoring the log recorded a run at the fitted threshold, once per model, data and rules.
    run = ws.runs()[0]
    assert len(ws.runs()) == 2 and run.id != earlier.id
    assert (run.origin, run.n_flagged, run.n_suppressed) == ("dashboard", len(top) - n_allowed, n_allowed)
    assert (run.threshold_rule, run.threshold) == ("fitted", pytest.approx(detector.threshold_))
    assert at.session_state[state.REVIEW_RUN] == run.id
    assert any(f"Recorded as run {run.id}" in c.value for c in at.caption)
    assert not [b for b in at.button if b.key == state.DETECT_RECORD]
    at.run()
    assert len(ws.runs()) == 2  # a rerun is not a new scoring

    # Another threshold: the analyst may save it as a run of its own.
    moved = float(top[ERROR].iloc[2])
    at.slider(key=state.DETECT_SLIDER).set_value(moved).run()
    no_exception(at)
    by_key(at.button, state.DETECT_RECORD).click().run()
    no_exception(at)
    newest = ws.runs()[0]
    assert len(ws.runs()) == 3 and newest.threshold_rule.startswith("threshold ")
    assert newest.n_flagged == int((top[ERROR] > moved).sum()) - int((top[ERROR] > moved)[domains == allowed].sum())
    assert not [b for b in at.button if b.key == state.DETECT_RECORD]


# --------------------------------------------------------------------------- helpers


def test_suppression_counts_and_positions_match_apply_rules(workspace_env):
    ws, _ = workspace_env
    scores = sample_scores(12)
    rule = ws.add_rule("sender_domain", "promo.example")
    suppression = Suppression.of(scores, ws.active_rules())
    view = ThresholdView.from_scores(scores)
    applied = ws.apply_rules(scores, 1.0)
    assert suppression.flagged_count(view, 1.0) == int(applied["is_anomaly"].sum())
    assert suppression.count_above(1.0) == int((applied["suppressed_by"].notna() & (scores[ERROR] > 1.0)).sum())
    flagged = suppression.positions(view, 1.0)
    assert set(flagged) == set(np.flatnonzero(applied["is_anomaly"]))
    assert (suppression.rule[suppression.positions(view, 1.0, suppressed=True)] == rule.id).all()
    pd.testing.assert_series_equal(suppression.apply(scores, 1.0)["is_anomaly"], applied["is_anomaly"])
    table = marked_table(scores, flagged, {"msg-010": "confirmed"}, {"user4@partner.example": "benign"}, suppression)
    assert table.index[0] == 10 and table["state"].iloc[0] == "confirmed"  # known bad first
    assert table["state"].iloc[-1] == "known good sender"


def _lasso_script(model: str, token: str, uuids: list) -> None:
    from ui.workspace import lasso_verdicts, show_notice

    show_notice()
    lasso_verdicts(model, token, uuids)


def test_explore_lasso_gives_the_selected_flagged_rows_a_verdict_on_the_recorded_run(workspace_env):
    """Explore's selection may hold rows the run did not flag: only its flagged ones get the verdict."""
    ws, _ = workspace_env
    run = ws.record_run(sample_scores(), 1.0, model_name="tiny", data_name="mail.csv")
    selection = ["msg-000", "msg-004", "msg-007"]  # msg-000's error 0.5 is below the threshold

    unrecorded = AppTest.from_function(_lasso_script, args=("tiny", "token-1", selection), default_timeout=30).run()
    assert "Score this log on the Detect page first" in unrecorded.caption[0].value

    at = AppTest.from_function(_lasso_script, args=("tiny", "token-1", selection), default_timeout=30)
    at.session_state[state.DETECT_LAST_RUN] = {("tiny", "token-1"): run.id}
    at.run()
    assert f"Verdict on run {run.id}** for the 2 selected row(s)" in at.markdown[0].value
    assert "1 selected row(s) were not flagged" in at.caption[0].value
    at.text_input(key=f"{state.EXPLORE_VERDICT}.note").input("lasso: same campaign")
    at.button(key=f"{state.EXPLORE_VERDICT}.confirmed").click().run()
    assert not at.exception and at.success[0].value == "2 marked confirmed."
    stored = ws.flagged(run.id).set_index("UUID")
    assert stored.loc[["msg-004", "msg-007"], "verdict"].tolist() == ["confirmed", "confirmed"]
    assert set(stored.loc[["msg-004", "msg-007"], "verdict_note"]) == {"lasso: same campaign"}
    assert (stored.drop(index=["msg-004", "msg-007"])["verdict"] == "").all()
