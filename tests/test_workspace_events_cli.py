"""Known events from a shell: `events add/list/remove`, `detect` keeps rows inside a window out of
the queue, `train --use-verdicts` leaves them out — each step a fresh `python -m core` process."""

from __future__ import annotations

import re

import pandas as pd
import pytest

from core.workspace import Workspace, dispose_engines
from tests.test_workspace_cli import detect, ok, run


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    work = tmp_path_factory.mktemp("events-cli")
    ok("demo-data", work / "demo.csv", "--rows", 600, "--seed", 4)
    ok("train", work / "demo.csv", "--artifacts", work / "art", "--name", "demo", "--epochs", 2)
    return work


def test_an_event_keeps_its_rows_out_of_the_queue_and_out_of_training(trained, tmp_path):
    work, art = trained, trained / "art"
    _, before = detect(work, tmp_path / "s1.csv")
    assert "known_event" in before.columns and (before["known_event"] == "").all()
    flagged = before[before["is_anomaly"] == 1].sort_values("reconstruction_error", ascending=False)
    top_time = pd.Timestamp(flagged["Time Processed"].iloc[0]).tz_convert("UTC")
    start = top_time.floor("h")
    end = start + pd.Timedelta(hours=1)
    window = pd.to_datetime(before["Time Processed"], utc=True).between(start, end, inclusive="left")
    n_flagged_inside = int((window & (before["is_anomaly"] == 1)).sum())
    assert n_flagged_inside >= 1

    added = ok(
        "events", "add", "--start", start.isoformat(), "--end", end.isoformat(), "--note", "blast", "--artifacts", art
    )
    assert added.startswith(f"event 1: {start:%Y-%m-%d %H:%M}Z – {end:%Y-%m-%d %H:%M}Z  # blast")
    assert re.search(r"^\s+1\s+active\s+.*\(by ana\)  # blast$", ok("events", "list", "--artifacts", art), re.M)

    out = ok("detect", work / "demo.csv", "--artifacts", art, "--out", tmp_path / "s2.csv", "--top", 15)
    assert f"known events: {n_flagged_inside} rows above the threshold kept out of the queue" in out
    after = pd.read_csv(tmp_path / "s2.csv", keep_default_na=False)
    assert (after.loc[window, "known_event"] == "1").all() and (after.loc[~window, "known_event"] == "").all()
    assert (after.loc[window, "is_anomaly"] == 0).all()
    assert int(after["is_anomaly"].sum()) == 15 - n_flagged_inside
    second = int(re.search(r"^run (\d+)", out, re.M).group(1))
    (recorded,) = [r for r in Workspace.open(artifacts_dir=art).runs() if r.id == second]
    assert (recorded.n_flagged, recorded.n_in_events) == (15 - n_flagged_inside, n_flagged_inside)
    dispose_engines()

    trained_out = ok("train", work / "demo.csv", "--artifacts", art, "--name", "again", "--epochs", 1, "--use-verdicts")
    assert f"known events: left out {int(window.sum())} rows" in trained_out
    plain_out = ok("train", work / "demo.csv", "--artifacts", art, "--name", "plain", "--epochs", 1)
    assert f"known events: left out {int(window.sum())} rows" in plain_out  # without --use-verdicts too

    assert ok("events", "remove", 1, "--artifacts", art).startswith("event 1 removed")
    assert ok("events", "list", "--artifacts", art).startswith("no known events")
    assert re.search(r"^\s+1\s+removed\s", ok("events", "list", "--all", "--artifacts", art), re.M)
    _, again = detect(work, tmp_path / "s3.csv")
    assert (again["known_event"] == "").all() and int(again["is_anomaly"].sum()) == 15
    trail = ok("audit", "--artifacts", art)
    assert "event.add" in trail and "event.remove" in trail


@pytest.mark.parametrize(
    "args, message",
    [
        (["events", "add", "--start", "2026-11-02T10:00Z", "--end", "2026-11-02T09:00Z"], "at or before it starts"),
        (["events", "add", "--start", "monday", "--end", "2026-11-02T09:00Z"], "Start 'monday' is not a time"),
        (["events", "add", "--start", "2026-11-02T09:00Z", "--end", "25:00"], "End '25:00' is not a time"),
        (["events", "add", "--end", "2026-11-02T09:00Z"], "the following arguments are required: --start"),
        (["events", "remove", 7], "Known event 7 does not exist"),
        (["events", "remove", "seven"], "an event id is a whole number"),
        (["events", "remove", 0], "an event id is a positive number"),
    ],
)
def test_bad_event_input_is_one_line_exit_2_and_writes_nothing(tmp_path, args, message):
    db = f"sqlite:///{tmp_path / 'ws.db'}"
    result = run(*args, "--db", db)
    assert result.returncode == 2, result.stdout
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0] and "Traceback" not in result.stderr, result.stderr
    if (tmp_path / "ws.db").exists():
        assert Workspace(db).events(include_removed=True) == [] and Workspace(db).audit() == []
        dispose_engines()


@pytest.mark.parametrize("command", [["events"], ["events", "add"], ["events", "list"], ["events", "remove"]])
def test_help_for_each_events_command(command):
    result = run(*command, "--help")
    assert result.returncode == 0 and "usage:" in result.stdout
    if command != ["events"]:
        assert "--db URL" in result.stdout
