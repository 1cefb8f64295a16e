"""Known events on SQLite and PostgreSQL: declared windows are scored but not flagged nor trained on."""

from __future__ import annotations

from datetime import UTC, datetime

import pandas as pd
import pytest

from core.errors import DataError
from core.workspace import EventSpec, Workspace, check_window, db, match_events, training_selection
from tests.workspace_helpers import scores_frame

THRESHOLD = 1.0
# Blast window 09:00-10:00 UTC: rows 6..11 of timed_scores() (09:00, 09:10, ... 09:50) are inside.
BLAST = ("2026-11-02T09:00Z", "2026-11-02T10:00Z")


def timed_scores(n: int = 16) -> pd.DataFrame:
    """n rows ten minutes apart from 08:00 UTC; errors 0.5, 1.0, 1.5, …: rows 2.. above threshold 1.0."""
    start = pd.Timestamp("2026-11-02T08:00Z")
    return scores_frame(
        [
            {
                "UUID": f"msg-{i:03d}",
                "Sender": f"user{i}@partner.example",
                "Time": (start + pd.Timedelta(minutes=10 * i)).isoformat(),
                "error": 0.5 * (i + 1),
            }
            for i in range(n)
        ]
    )


def record(ws: Workspace, scores: pd.DataFrame):
    return ws.record_run(scores, THRESHOLD, model_name="demo", data_name="demo.csv", analyst="ana")


def test_rows_in_a_declared_window_are_scored_but_not_flagged(db_url):
    ws = Workspace(db_url)
    event = ws.add_event(*BLAST, "newsletter blast", analyst="ana")
    assert (event.id, event.state, event.note, event.created_by) == (1, "active", "newsletter blast", "ana")
    assert event.starts == datetime(2026, 11, 2, 9, tzinfo=UTC) and event.ends == datetime(2026, 11, 2, 10, tzinfo=UTC)

    scores = ws.apply_events(ws.apply_rules(timed_scores(), THRESHOLD))
    inside = [f"msg-{i:03d}" for i in range(6, 12)]
    assert scores.loc[scores["UUID"].isin(inside), "known_event"].tolist() == [1] * 6
    assert scores.loc[~scores["UUID"].isin(inside), "known_event"].isna().all()
    assert scores["reconstruction_error"].notna().all()  # still scored
    assert scores.loc[scores["is_anomaly"], "UUID"].tolist() == [f"msg-{i:03d}" for i in (2, 3, 4, 5, 12, 13, 14, 15)]

    run = record(ws, scores)
    assert (run.n_above, run.n_flagged, run.n_in_events) == (8, 8, 6)
    assert set(ws.flagged(run.id, include_suppressed=True)["UUID"]).isdisjoint(inside)
    assert ws.runs()[0].n_in_events == 6
    trail = ws.audit()
    assert [e.action for e in trail] == ["event.add", "run"]
    assert '"note": "newsletter blast"' in trail[0].new and '"in_events": 6' in trail[1].new


def test_recording_without_apply_events_matches_the_active_events(db_url):
    ws = Workspace(db_url)
    ws.add_event(*BLAST)
    run = record(ws, timed_scores())  # no known_event column: matched at recording
    assert (run.n_flagged, run.n_in_events) == (8, 6)


def test_removed_events_stop_matching_but_stay_listed(db_url):
    ws = Workspace(db_url)
    first = ws.add_event(*BLAST, analyst="ana")
    second = ws.add_event("2026-11-02T10:30", "2026-11-02T10:40")  # no zone: UTC; holds only 10:30
    assert ws.apply_events(timed_scores())["known_event"].notna().sum() == 7

    removed = ws.remove_event(first.id, analyst="bo")
    assert (removed.state, removed.removed_by) == ("removed", "bo") and removed.removed_at is not None
    assert [e.id for e in ws.events()] == [second.id]
    assert [(e.id, e.state) for e in ws.events(include_removed=True)] == [(1, "removed"), (2, "active")]
    scores = ws.apply_events(timed_scores())
    assert scores.loc[scores["known_event"].notna(), "UUID"].tolist() == ["msg-015"]
    assert record(ws, scores).n_in_events == 1

    (entry,) = [e for e in ws.audit() if e.action == "event.remove"]
    assert (entry.analyst, entry.entity_id, entry.new) == ("bo", "1", "removed")
    assert entry.old == "2026-11-02 09:00Z – 2026-11-02 10:00Z"
    with pytest.raises(DataError, match="Known event 1 was already removed"):
        ws.remove_event(first.id)
    with pytest.raises(DataError, match="Known event 99 does not exist"):
        ws.remove_event(99)


@pytest.mark.parametrize(
    "starts, ends, message",
    [
        ("2026-11-02T10:00Z", "2026-11-02T09:00Z", "ends .* at or before it starts"),
        ("2026-11-02T10:00Z", "2026-11-02T11:00+01:00", "ends .* at or before it starts"),  # same instant
        ("yesterday", "2026-11-02T09:00Z", "Start 'yesterday' is not a time: expected ISO 8601"),
        ("2026-11-02T09:00Z", "2026-13-02", "End '2026-13-02' is not a time"),
        ("", "2026-11-02", "Start '' is not a time"),
    ],
)
def test_bad_windows_are_refused_and_nothing_is_written(db_url, starts, ends, message):
    ws = Workspace(db_url)
    with pytest.raises(DataError, match=message) as raised:
        ws.add_event(starts, ends, "x")
    assert "\n" not in str(raised.value)
    assert ws.events(include_removed=True) == [] and ws.audit() == []


def test_windows_include_their_start_exclude_their_end_and_read_zones():
    start, end = check_window("2026-11-02T10:00+01:00", "2026-11-02 11:00+01:00")
    assert (start, end) == (datetime(2026, 11, 2, 9, tzinfo=UTC), datetime(2026, 11, 2, 10, tzinfo=UTC))
    assert check_window("2026-11-02", "2026-11-03")[0] == datetime(2026, 11, 2, tzinfo=UTC)  # a date: its midnight
    times = ["2026-11-02T08:59:59Z", "2026-11-02T09:00:00Z", "2026-11-02T09:59:59Z", "2026-11-02T10:00:00Z", None]
    frame = pd.DataFrame({"Time Processed": pd.to_datetime(times, utc=True)})
    matched = match_events(frame, [EventSpec(3, start, end)])
    assert matched.tolist() == [pd.NA, 3, 3, pd.NA, pd.NA]
    # Overlapping windows: the lowest id wins, as with rules.
    wide = EventSpec(2, datetime(2026, 11, 2, tzinfo=UTC), datetime(2026, 11, 3, tzinfo=UTC))
    assert match_events(frame, [EventSpec(3, start, end), wide]).tolist() == [2, 2, 2, 2, pd.NA]


def test_training_leaves_out_rows_inside_active_events():
    frame = timed_scores()
    blast = EventSpec(1, *check_window(*BLAST))
    verdicts = {"msg-007": "confirmed", "msg-001": "confirmed", "msg-013": "benign"}
    selection = training_selection(frame, verdicts, [blast])
    left = set(frame["UUID"]) - set(selection.frame["UUID"])
    assert left == {"msg-001"} | {f"msg-{i:03d}" for i in range(6, 12)}
    # A confirmed row inside the window counts once, as confirmed.
    assert (selection.n_confirmed_left_out, selection.n_in_events_left_out, selection.n_benign_kept) == (2, 5, 1)
    assert selection.keep.sum() == 1 and selection.frame["UUID"][selection.keep].tolist() == ["msg-013"]
    assert selection.summary() == (
        "verdicts: left out 2 confirmed, kept 1 benign (never trimmed); known events: left out 5 rows"
    )
    assert training_selection(frame, verdicts).n_in_events_left_out is None  # events not consulted
    assert "known events" not in training_selection(frame, verdicts).summary()


def test_a_workspace_at_revision_0002_is_migrated(db_url):
    engine = db.get_engine(db_url)
    db.migrate(engine, db_url, revision="0002")  # a workspace from before known events
    # No explicit ids: PostgreSQL's sequences must stay in step for the run recorded after upgrading.
    with engine.begin() as connection:
        connection.exec_driver_sql(
            "INSERT INTO runs (created, analyst, origin, model_name, model_checksum, data_name, data_sha256, "
            "rows_total, rows_scored, threshold, threshold_rule, n_above, n_flagged, n_suppressed) VALUES "
            "('2026-11-01 10:00:00+00:00', 'ana', 'cli', 'old-model', '', 'old.csv', '', 5, 5, 1.0, 'fitted', "
            "2, 1, 1)"
        )
        connection.exec_driver_sql(
            "INSERT INTO rules (kind, value, recipient, note, created, created_by, removed_by) VALUES "
            "('sender_domain', 'promo.example', '', '', '2026-11-01 10:00:00+00:00', 'ana', '')"
        )
        assert connection.exec_driver_sql("SELECT version_num FROM alembic_version").scalar() == "0002"
    db.dispose_engines()

    ws = Workspace(db_url)
    (run,) = ws.runs()
    assert (run.model_name, run.n_flagged, run.n_suppressed, run.n_in_events) == ("old-model", 1, 1, 0)
    assert [r.label for r in ws.rules()] == ["sender_domain promo.example"]
    assert ws.add_event(*BLAST).id == 1 and record(ws, timed_scores()).n_in_events == 6
    with db.get_engine(db_url).connect() as connection:
        assert connection.exec_driver_sql("SELECT version_num FROM alembic_version").scalar() == db.head_revision()
