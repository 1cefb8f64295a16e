"""The workspace store on SQLite and PostgreSQL: runs, verdicts, rules, audit, feeding back."""

from __future__ import annotations

import json
from datetime import date, timedelta

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from core.errors import DataError
from core.workspace import (
    KNOWN_BENIGN,
    KNOWN_CONFIRMED,
    RuleSpec,
    Workspace,
    carry_over,
    carry_over_order,
    db,
    false_positives_by_reason,
    match_rules,
    precision_at,
    threshold_for_budget,
    threshold_for_precision,
    training_selection,
)
from core.workspace.models import FlaggedRow
from tests.workspace_helpers import sample_scores, scores_frame

THRESHOLD = 1.0


def record(ws: Workspace, scores=None, **options):
    scores = sample_scores() if scores is None else scores
    defaults = {"model_name": "demo", "model_checksum": "ab" * 32, "data_name": "demo.csv", "data_sha256": "cd" * 32}
    return ws.record_run(scores, THRESHOLD, **{**defaults, **options})


def test_a_run_reopens_without_the_model(db_url):
    run = record(Workspace(db_url), threshold_rule="top 10", analyst="ana")
    db.dispose_engines()  # as after a restart: new engine, new connections

    ws = Workspace(db_url)
    (listed,) = ws.runs()
    assert listed.id == run.id and listed.threshold_rule == "top 10" and listed.analyst == "ana"
    assert (listed.rows_total, listed.rows_scored, listed.n_above, listed.n_flagged) == (12, 12, 10, 10)
    assert listed.model_checksum == "ab" * 32 and listed.data_sha256 == "cd" * 32
    flagged = ws.flagged(run.id)
    assert list(flagged["UUID"]) == [f"msg-{i:03d}" for i in range(11, 1, -1)]  # highest error first
    first = flagged.iloc[0]
    assert first["Sender"] == "user11@partner.example" and first["reason"] == "burst of mail"
    assert first["Time Processed"] == pd.Timestamp("2026-11-02T09:00:00Z")
    assert first["position"] == 11 and first["verdict"] == ""


def test_bulk_verdicts_are_audited_old_to_new(db_url):
    ws = Workspace(db_url)
    run = record(ws)
    assert ws.set_verdicts(run.id, ["msg-005", "msg-007"], "benign", reason="newsletter", note="ok", analyst="ana") == 2
    assert ws.set_verdicts(run.id, ["msg-005"], "benign", reason="newsletter", note="ok", analyst="ana") == 0
    assert ws.set_verdicts(run.id, ["msg-005"], "confirmed", reason="phishing", analyst="bo") == 1

    flagged = ws.flagged(run.id).set_index("UUID")
    assert flagged.loc["msg-005", "verdict"] == "confirmed" and flagged.loc["msg-005", "verdict_analyst"] == "bo"
    assert flagged.loc["msg-007", ["verdict", "verdict_note"]].tolist() == ["benign", "ok"]
    assert ws.runs()[0].n_reviewed == 2
    trail = [e for e in ws.audit(run.id) if e.action == "verdict"]
    assert [(e.entity_id, e.analyst) for e in trail] == [(f"{run.id}/msg-005", "ana"), (f"{run.id}/msg-007", "ana")] + [
        (f"{run.id}/msg-005", "bo")
    ]
    assert json.loads(trail[0].old)["verdict"] is None and json.loads(trail[0].new)["verdict"] == "benign"
    assert json.loads(trail[2].old)["verdict"] == "benign" and json.loads(trail[2].new)["verdict"] == "confirmed"
    assert ws.verdicts_by_uuid() == {"msg-005": "confirmed", "msg-007": "benign"}


def test_a_run_stores_each_flagged_row_as_scored(db_url):
    # Values that look like SQL parameters or quoting, non-ASCII text, a row without a readable
    # time and an error that must come back to the last bit: the rows go in through the driver.
    hostile = ["%(run_id)s and ? and :uuid", 'O\'Brien "quoted" ; DROP TABLE runs', "Größe 件名 \U0001f4e7"]
    scores = scores_frame(
        [
            {"UUID": f"m-{i}", "Sender": f"s{i}@else.example", "error": 1.0 + i / 3, "Subject": hostile[i % 3]}
            for i in range(7)
        ]
    ).set_axis([40, 41, 42, 7, 8, 9, 3])
    scores.loc[8, "Time Processed"] = pd.NaT
    ws = Workspace(db_url)
    rule = ws.add_rule("sender", "s5@else.example")
    run = record(ws, ws.apply_rules(scores, THRESHOLD))
    stored = ws.flagged(run.id, include_suppressed=True).sort_values("position", ignore_index=True)
    above = scores.iloc[1:].reset_index(drop=True)  # the first row's error is at the threshold
    assert stored["position"].tolist() == list(range(1, 7))
    for column in ["UUID", "Sender", "Recipient", "Subject", "top_field", "reason"]:
        assert stored[column].tolist() == above[column].tolist(), column
    assert stored["reconstruction_error"].tolist() == above["reconstruction_error"].tolist()
    pd.testing.assert_series_equal(stored["Time Processed"], above["Time Processed"], check_dtype=False)
    assert stored["suppressed_by"].tolist() == [pd.NA] * 4 + [rule.id, pd.NA]
    assert (stored["verdict"] == "").all() and stored["verdict_at"].isna().all()
    # Stored as SQLAlchemy stores a value of the column's type: a query binding the same time finds the rows.
    with Session(ws.engine) as session:
        at = above["Time Processed"].iloc[2].to_pydatetime()
        found = session.scalars(select(FlaggedRow.uuid).where(FlaggedRow.time_processed == at)).all()
    assert sorted(found) == sorted(above.loc[above["Time Processed"] == at, "UUID"])


def test_a_uuid_not_in_the_run_writes_nothing(db_url):
    ws = Workspace(db_url)
    run = record(ws)
    audit_before = len(ws.audit())
    with pytest.raises(DataError, match="Not in run .*msg-999"):
        ws.set_verdicts(run.id, ["msg-005", "msg-999"], "benign")
    with pytest.raises(DataError, match="Not in run"):
        ws.set_verdicts(run.id, ["msg-000"], "benign")  # below the threshold: not stored
    with pytest.raises(DataError, match="No run 99"):
        ws.set_verdicts(99, ["msg-005"], "benign")
    with pytest.raises(DataError, match="Unknown verdict"):
        ws.set_verdicts(run.id, ["msg-005"], "spam")
    assert (ws.flagged(run.id)["verdict"] == "").all() and len(ws.audit()) == audit_before


@pytest.mark.parametrize(
    "kind, value, recipient, expires, message",
    [
        ("sender_domain", "not a domain", "", None, "not a mail domain"),
        ("sender_domain", "example", "", None, "not a mail domain"),
        ("sender", "nobody", "", None, "not a mail address"),
        ("pair", "a@example.com", "b@", None, "not a mail address"),
        ("subject_regex", "(unclosed", "", None, "not a valid regular expression"),
        ("subject_regex", "", "", None, "is empty"),
        ("sender_domain", "example.com", "", "2000-01-01", "in the past"),
        ("sender_domain", "example.com", "", "next week", "not a date"),
        ("everything", "x", "", None, "Unknown rule kind"),
    ],
)
def test_bad_rules_are_refused_and_nothing_is_written(db_url, kind, value, recipient, expires, message):
    ws = Workspace(db_url)
    with pytest.raises(DataError, match=message):
        ws.add_rule(kind, value, recipient, expires=expires)
    assert ws.rules(include_removed=True) == [] and ws.audit() == []


def test_rules_suppress_matching_rows_until_they_expire(db_url, monkeypatch):
    ws = Workspace(db_url)
    rule = ws.add_rule("sender_domain", "@Promo.Example", expires=date.today() + timedelta(days=1), note="vendor")
    assert rule.value == "promo.example" and rule.state == "active"

    scores = ws.apply_rules(sample_scores(), THRESHOLD)
    promo = scores["Sender"].str.contains("promo.example")
    assert (scores.loc[promo, "suppressed_by"] == rule.id).all() and scores.loc[~promo, "suppressed_by"].isna().all()
    assert not scores.loc[promo, "is_anomaly"].any()  # still scored, not flagged
    assert scores.loc[promo, "reconstruction_error"].notna().all()
    run = record(ws, scores)
    assert (run.n_above, run.n_suppressed, run.n_flagged) == (10, 3, 7)
    assert set(ws.flagged(run.id)["UUID"]) == {f"msg-{i:03d}" for i in (2, 4, 5, 7, 8, 10, 11)}
    suppressed = ws.flagged(run.id, include_suppressed=True).dropna(subset=["suppressed_by"])
    assert set(suppressed["suppressed_rule"]) == {"sender_domain promo.example"}

    later = date.today() + timedelta(days=2)
    monkeypatch.setattr("core.workspace.rules.today", lambda: later)
    monkeypatch.setattr("core.workspace.store.today", lambda: later)
    assert [r.state for r in ws.rules()] == ["expired"]  # still listed
    assert ws.apply_rules(sample_scores(), THRESHOLD)["suppressed_by"].isna().all()


def test_removing_a_rule_is_audited_and_unknown_ids_refused(db_url):
    ws = Workspace(db_url)
    rule = ws.add_rule("sender", "Deals3@promo.example", analyst="ana")
    removed = ws.remove_rule(rule.id, analyst="bo")
    assert removed.state == "removed" and removed.removed_by == "bo"
    assert ws.rules() == [] and [r.id for r in ws.rules(include_removed=True)] == [rule.id]
    assert ws.apply_rules(sample_scores())["suppressed_by"].isna().all()
    assert [(e.action, e.analyst) for e in ws.audit()] == [("rule.add", "ana"), ("rule.remove", "bo")]
    for rule_id in (rule.id, 999):
        with pytest.raises(DataError, match=f"Rule {rule_id} "):
            ws.remove_rule(rule_id)
    assert len(ws.audit()) == 2


def test_rules_reapplied_to_past_runs(db_url):
    ws = Workspace(db_url)
    first, second = record(ws), record(ws)
    ws.set_verdicts(first.id, ["msg-003"], "benign")
    ws.add_rule("sender_domain", "promo.example", apply_to_past=True, analyst="ana")
    for run in (first, second):
        assert ws.run(run.id).n_suppressed == 3 and ws.run(run.id).n_flagged == 7
        assert not ws.flagged(run.id)["Sender"].str.contains("promo").any()
    # The verdict survives suppression; the rows are still there, marked.
    kept = ws.flagged(first.id, include_suppressed=True).set_index("UUID")
    assert kept.loc["msg-003", "verdict"] == "benign" and not pd.isna(kept.loc["msg-003", "suppressed_by"])
    applied = [e for e in ws.audit() if e.action == "rule.apply"]
    assert [e.run_id for e in applied] == [first.id, second.id]
    assert json.loads(applied[0].new)["flagged"] == 7 and json.loads(applied[0].old)["flagged"] == 10
    ws.add_rule("subject_regex", "^Weekly")
    assert ws.reapply_rules(second.id) == 7 and ws.run(second.id).n_flagged == 0
    assert ws.run(first.id).n_flagged == 7


def test_pair_sender_and_subject_rules_match_what_they_say():
    frame = scores_frame(
        [
            {"UUID": "a", "Sender": "Ana <ana@x.example>", "Recipient": "bo@y.example; cy@y.example", "error": 2},
            {"UUID": "b", "Sender": "ana@x.example", "Recipient": "dee@y.example", "error": 2},
            {"UUID": "c", "Sender": "eve@mail.x.example", "Subject": "Invoice 42", "error": 2},
            {"UUID": "d", "Sender": "eve@notx.example", "Subject": "invoice 42", "error": 2},
        ]
    )
    rules = [
        RuleSpec(1, "pair", "ana@x.example", "cy@y.example"),
        RuleSpec(2, "subject_regex", "^Invoice [0-9]+$"),
        RuleSpec(3, "sender_domain", "x.example"),
        RuleSpec(4, "sender", "eve@notx.example", expires=date(2020, 1, 1)),
    ]
    assert match_rules(frame, rules).tolist() == [1, 3, 2, pd.NA]


# --------------------------------------------------------------------------- reliability


def test_concurrent_verdicts_lose_nothing(db_url):
    import threading

    ws = Workspace(db_url)
    run = record(ws)
    uuids = ["msg-004", "msg-005", "msg-006"]
    rounds = 12
    start = threading.Barrier(2)
    failures = []

    def analyst(name: str, verdict: str):
        session = Workspace(db_url)
        start.wait()
        try:
            for i in range(rounds):
                session.set_verdicts(run.id, uuids, verdict, note=f"{name} {i}", analyst=name)
        except Exception as error:  # reported below; a thread's exception would vanish
            failures.append(error)

    threads = [threading.Thread(target=analyst, args=a) for a in (("ana", "benign"), ("bo", "confirmed"))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert not failures
    current = ws.flagged(run.id).set_index("UUID")
    for uuid in uuids:
        trail = [e for e in ws.audit(run.id) if e.entity_id == f"{run.id}/{uuid}"]
        assert len(trail) == 2 * rounds  # every change of both analysts
        assert sum(e.analyst == "ana" for e in trail) == rounds
        # Each change saw the one before it: no write went unseen.
        for before, after in zip(trail, trail[1:], strict=False):
            assert json.loads(after.old) == json.loads(before.new)
        last = json.loads(trail[-1].new)
        assert current.loc[uuid, "verdict"] == last["verdict"] and current.loc[uuid, "verdict_note"] == last["note"]


def test_the_head_constant_is_alembics_head():
    assert db.head_revision() == db.HEAD


def test_newer_schema_is_refused(db_url):
    Workspace(db_url)
    engine = db.get_engine(db_url)
    with engine.begin() as connection:
        connection.exec_driver_sql("UPDATE alembic_version SET version_num = '9999_from_the_future'")
    db.dispose_engines()
    with pytest.raises(DataError, match="schema revision 9999_from_the_future, newer than this version knows"):
        Workspace(db_url)


def test_older_schema_is_migrated(db_url):
    engine = db.get_engine(db_url)
    db.migrate(engine, db_url, revision="0001")  # a workspace from before allow-list rules
    with engine.begin() as connection:
        connection.exec_driver_sql(
            "INSERT INTO runs (id, created, analyst, origin, model_name, model_checksum, data_name, data_sha256, "
            "rows_total, rows_scored, threshold, threshold_rule, n_above, n_flagged) VALUES "
            "(1, '2026-11-01 10:00:00+00:00', 'ana', 'cli', 'old-model', '', 'old.csv', '', 5, 5, 1.0, 'fitted', 0, 0)"
        )
        assert connection.exec_driver_sql("SELECT version_num FROM alembic_version").scalar() == "0001"
    db.dispose_engines()

    ws = Workspace(db_url)
    (run,) = ws.runs()
    assert (run.model_name, run.n_suppressed) == ("old-model", 0)
    assert ws.add_rule("sender_domain", "promo.example").id == 1
    with db.get_engine(db_url).connect() as connection:
        assert connection.exec_driver_sql("SELECT version_num FROM alembic_version").scalar() == db.head_revision()


@pytest.fixture
def sqlite_url(tmp_path):
    yield f"sqlite:///{tmp_path / 'workspace.db'}"
    db.dispose_engines()


def test_a_locked_sqlite_database_is_retried(sqlite_url, tmp_path):
    import sqlite3
    import threading

    ws = Workspace(sqlite_url, busy_timeout=0.1, attempts=5)
    run = record(ws)
    blocker = sqlite3.connect(tmp_path / "workspace.db", isolation_level=None, check_same_thread=False)
    blocker.execute("BEGIN EXCLUSIVE")
    threading.Timer(0.6, blocker.rollback).start()  # another process lets go after a while
    assert ws.set_verdicts(run.id, ["msg-005"], "benign") == 1

    blocker.execute("BEGIN EXCLUSIVE")  # and now it never does
    try:
        with pytest.raises(DataError, match="stayed locked by another process; nothing was written"):
            ws.set_verdicts(run.id, ["msg-006"], "benign")
    finally:
        blocker.rollback()
        blocker.close()
    assert ws.flagged(run.id).set_index("UUID").loc["msg-006", "verdict"] == ""


_WRITER = """
import sys
import numpy as np
from core.workspace import Workspace
from tests.workspace_helpers import scores_frame

ws = Workspace(sys.argv[1])
scores = scores_frame([{"UUID": f"m{i}", "Sender": f"u{i}@x.example", "error": 2.0} for i in range(4000)])
ws.record_run(scores, 1.0, model_name="m", data_name="d")
print("ready", flush=True)
while True:
    ws.record_run(scores, 1.0, model_name="m", data_name="d")
"""


def test_kill_9_during_writes_leaves_a_consistent_database(sqlite_url, tmp_path):
    import os
    import signal
    import sqlite3
    import subprocess
    import sys
    import time
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    for delay in (0.05, 0.4):
        writer = subprocess.Popen(
            [sys.executable, "-c", _WRITER, sqlite_url],
            cwd=root,
            stdout=subprocess.PIPE,
            env={**os.environ, "PYTHONPATH": str(root)},
        )
        assert writer.stdout.readline().strip() == b"ready"
        time.sleep(delay)
        writer.send_signal(signal.SIGKILL)
        writer.wait(30)

    check = sqlite3.connect(tmp_path / "workspace.db")
    assert check.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    check.close()
    ws = Workspace(sqlite_url)
    runs = ws.runs()
    assert len(runs) >= 2
    stored = {run.id: len(ws.flagged(run.id)) for run in runs}
    assert all(count == 4000 for count in stored.values()), stored  # each run whole or absent
    assert sorted(e.run_id for e in ws.audit() if e.action == "run") == sorted(stored)
    assert record(ws).id > max(stored)  # and it takes new writes


# --------------------------------------------------------------------------- feeding back


def test_training_selection_leaves_out_confirmed_and_keeps_benign():
    frame = sample_scores(6)
    selection = training_selection(frame, {"msg-001": "confirmed", "msg-002": "benign", "msg-003": "review"})
    assert "msg-001" not in set(selection.frame["UUID"]) and len(selection.frame) == 5
    assert selection.keep.tolist() == [False, True, False, False, False]
    assert (selection.n_confirmed_left_out, selection.n_benign_kept) == (1, 1)
    assert "left out 1 confirmed, kept 1 benign" in selection.summary()


def test_benign_rows_survive_the_screening_trim(demo_log):
    from core.model import AutoencoderDetector

    frame = demo_log.frame[demo_log.scorable].iloc[:300]
    options = {"epochs": 1, "screening_epochs": 1, "trim_fraction": 0.3, "batch_size": 128, "hidden_units": (8, 4)}
    # Without protection the screening fit leaves out 30% of the training rows (a quantile cut).
    fitted = AutoencoderDetector(**options).fit(frame, always_keep=np.ones(len(frame), bool))
    assert fitted.n_trimmed_rows_ == 0 and fitted.n_train_rows_ + fitted.n_test_rows_ == len(frame)


def test_thresholds_from_verdicts():
    flagged = pd.DataFrame(
        {
            "reconstruction_error": [9.0, 8.0, 7.0, 6.0, 5.0, 4.0],
            "verdict": ["confirmed", "confirmed", "benign", "confirmed", "benign", ""],
            "reason": ["burst", "new domain", "burst", "burst", "new domain", "burst"],
        }
    )
    stats = precision_at(flagged, 4.5)
    assert (stats.reviewed, stats.confirmed, stats.benign) == (5, 3, 2) and stats.precision == pytest.approx(0.6)
    assert precision_at(flagged, 100).precision is None
    assert false_positives_by_reason(flagged).to_dict() == {"burst": 1, "new domain": 1}
    assert threshold_for_precision(flagged, 1.0) == pytest.approx(8.0)  # only the top two are sure
    assert 6.0 > threshold_for_precision(flagged, 0.75) >= 5.0  # top four: 3 of 4
    assert threshold_for_precision(flagged.assign(verdict="benign"), 0.5) is None
    errors = np.array([1.0, 5.0, 3.0, np.nan, 4.0])
    assert (errors > threshold_for_budget(errors, 2)).sum() == 2
    assert (errors > threshold_for_budget(errors, 10)).sum() == 4


def test_carry_over_marks_known_senders_and_orders_them():
    scores = scores_frame(
        [
            {"UUID": "new-1", "Sender": "Eve <eve@bad.example>", "error": 1.5},
            {"UUID": "new-2", "Sender": "news@vendor.example", "error": 3.0},
            {"UUID": "old-1", "Sender": "stranger@else.example", "error": 2.0},
            {"UUID": "new-3", "Sender": "stranger@else.example", "error": 2.5},
        ]
    )
    marked = carry_over(
        scores, {"old-1": "confirmed"}, {"eve@bad.example": "confirmed", "news@vendor.example": "benign"}
    )
    assert marked["verdict"].tolist() == ["", "", "confirmed", ""]
    assert marked["carry_over"].tolist() == [KNOWN_CONFIRMED, KNOWN_BENIGN, KNOWN_CONFIRMED, ""]
    assert carry_over_order(marked)["UUID"].tolist() == ["old-1", "new-1", "new-3", "new-2"]


def test_carry_over_without_verdicts_gives_the_columns_a_lookup_that_finds_nothing_gives():
    scores = scores_frame(
        [{"UUID": f"u-{i}", "Sender": f"s{i}@else.example", "error": float(i)} for i in range(5)]
    ).set_axis([10, 3, 7, 0, 1])
    nothing_found = carry_over(scores, {"elsewhere": "confirmed"}, {"nobody@else.example": "benign"})
    pd.testing.assert_frame_equal(carry_over(scores, {}, {}), nothing_found)


def test_sender_verdicts_across_runs(db_url):
    ws = Workspace(db_url)
    run = record(ws)
    ws.set_verdicts(run.id, ["msg-003"], "benign")  # Promo <deals3@promo.example>
    ws.set_verdicts(run.id, ["msg-004", "msg-005"], "confirmed")
    ws.set_verdicts(run.id, ["msg-007"], "review")
    assert ws.verdicts_by_sender() == {
        "deals3@promo.example": "benign",
        "user4@partner.example": "confirmed",
        "user5@partner.example": "confirmed",
    }
