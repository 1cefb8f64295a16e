"""The workspace loop from a shell: detect records runs, verdicts, rules, export, audit, train
with verdicts — each step a fresh `python -m core` process (a restart between every step)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from core.workspace import Workspace, dispose_engines
from tests.workspace_helpers import sample_scores

ROOT = Path(__file__).resolve().parents[1]


def run(*args, env=None):
    environment = {k: v for k, v in os.environ.items() if k != "EMAIL_AD_DB"}
    environment.update({"PYTHONPATH": str(ROOT), "EMAIL_AD_ANALYST": "ana", **(env or {})})
    return subprocess.run(
        [sys.executable, "-m", "core", *map(str, args)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        env=environment,
    )


def ok(*args, **options):
    result = run(*args, **options)
    assert result.returncode == 0, result.stderr
    return result.stdout


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    work = tmp_path_factory.mktemp("workspace-cli")
    ok("demo-data", work / "demo.csv", "--rows", 600, "--seed", 4)
    ok("train", work / "demo.csv", "--artifacts", work / "art", "--name", "demo", "--epochs", 2)
    return work


def detect(work, out, *extra):
    stdout = ok("detect", work / "demo.csv", "--artifacts", work / "art", "--out", out, "--top", 15, *extra)
    return int(re.search(r"^run (\d+)", stdout, re.M).group(1)), pd.read_csv(out, keep_default_na=False)


def test_the_loop_from_a_shell(trained, tmp_path):
    work = trained
    art = work / "art"
    first, scores = detect(work, tmp_path / "s1.csv")
    assert (art / "workspace.db").is_file()  # the default: beside the models
    assert {"suppressed_by", "verdict", "carry_over"} <= set(scores.columns)
    flagged = scores[scores["is_anomaly"] == 1].sort_values("reconstruction_error", ascending=False)
    assert len(flagged) == 15 and (scores["suppressed_by"] == "").all()
    listing = ok("runs", "--artifacts", art)
    assert re.search(rf"^\s+{first}\s.*demo\s+demo\.csv\s+600\s+15\s", listing, re.M), listing

    benign, bad = flagged.iloc[0], flagged.iloc[1]
    ok("verdict", first, benign["UUID"], "--as", "benign", "--note", "known partner", "--artifacts", art)
    ok("verdict", first, bad["UUID"], "--as", "confirmed", "--category", "phishing", "--artifacts", art)
    domain = benign["Sender"].rsplit("@", 1)[1].strip(">").lower()
    added = ok("rules", "add", "--sender-domain", domain, "--note", "partner", "--artifacts", art)
    rule_id = int(re.match(r"rule (\d+): sender_domain", added).group(1))
    assert f"{rule_id}  active   sender_domain {domain}" in ok("rules", "list", "--artifacts", art)

    second, again = detect(work, tmp_path / "s2.csv")
    assert second == first + 1
    same_domain = again["Sender"].str.lower().str.contains("@" + domain, regex=False)
    assert (again.loc[same_domain, "suppressed_by"] == str(rule_id)).all()
    assert (again.loc[same_domain, "is_anomaly"] == 0).all() and (again.loc[~same_domain, "suppressed_by"] == "").all()
    by_uuid = again.set_index("UUID")
    assert by_uuid.loc[benign["UUID"], "verdict"] == "benign"  # carried over from the first run
    assert by_uuid.loc[bad["UUID"], "carry_over"] == "known_confirmed_sender"

    ok("export", first, "--format", "ecs", "--out", tmp_path / "run.ndjson", "--artifacts", art)
    documents = [json.loads(line) for line in (tmp_path / "run.ndjson").read_text().splitlines()]
    assert len(documents) == 15
    mine = next(d for d in documents if d["email"]["local_id"] == benign["UUID"])
    assert mine["labels"]["verdict"] == "benign" and mine["labels"]["verdict_note"] == "known partner"

    trail = ok("audit", first, "--artifacts", art).splitlines()
    assert [line.split()[3] for line in trail] == ["run", "verdict", "verdict"]
    assert "ana" in trail[1] and '"verdict": null' in trail[1] and '"verdict": "benign"' in trail[1]
    everything = ok("audit", "--artifacts", art)
    assert "rule.add" in everything and everything.index("rule.add") < everything.rindex(f"run {second}")

    removed = ok("rules", "remove", rule_id, "--artifacts", art)
    assert f"rule {rule_id} removed" in removed and ok("rules", "list", "--artifacts", art).startswith("no allow-list")
    assert "removed" in ok("rules", "list", "--all", "--artifacts", art)

    trained_out = ok("train", work / "demo.csv", "--artifacts", art, "--name", "again", "--epochs", 1, "--use-verdicts")
    assert "verdicts: left out 1 confirmed, kept 1 benign" in trained_out

    deleted = ok("runs", "--delete", second, "--artifacts", art)
    assert f"run {second} deleted" in deleted
    assert not re.search(rf"^\s+{second}\s", ok("runs", "--artifacts", art), re.M)
    n_flagged = int((again["is_anomaly"] == 1).sum())  # the second run's queue, what its deletion records
    assert re.search(rf"run\.delete\s+run {second}\b.*\"flagged\": {n_flagged}\b", ok("audit", "--artifacts", art))
    assert "No run" in run("runs", "--delete", second, "--artifacts", art).stderr


@pytest.mark.parametrize(
    "args, message",
    [
        (["verdict", 1, "no-such-uuid", "--as", "benign"], "Not in run 1's flagged rows: no-such-uuid"),
        (["verdict", 99, "x", "--as", "benign"], "No run 99"),
        (["verdict", "one", "x", "--as", "benign"], "a run id is a whole number"),
        (["verdict", 1, "x", "--as", "spam"], "invalid choice"),
        (["rules", "remove", 999], "Rule 999 does not exist"),
        (["rules", "add", "--sender-domain", "not a domain"], "is not a mail domain"),
        (["rules", "add", "--subject-regex", "(unclosed"], "is not a valid regular expression"),
        (["rules", "add", "--sender", "a@b.example", "--expires", "2001-01-01"], "is in the past"),
        (["rules", "add", "--sender", "a@b.example", "--sender-domain", "b.example"], "not allowed with"),
        (["export", 99, "--format", "ecs", "--out", "x.ndjson"], "No run 99"),
        (["runs", "--db", "nonsense://"], "expected SQLite or PostgreSQL"),
        (["runs", "--db", "::"], "malformed"),
    ],
)
def test_bad_input_is_one_line_exit_2_and_writes_nothing(tmp_path, args, message):
    db = f"sqlite:///{tmp_path / 'ws.db'}"
    Workspace(db).record_run(sample_scores(), 1.0, model_name="demo", data_name="demo.csv")  # run 1
    dispose_engines()
    before = Workspace(db).audit()
    dispose_engines()
    result = run(*args, *([] if "--db" in args else ["--db", db]))
    assert result.returncode == 2, result.stdout
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0] and "Traceback" not in result.stderr, result.stderr
    assert Workspace(db).audit() == before and Workspace(db).rules() == []
    dispose_engines()
    assert not (ROOT / "x.ndjson").exists()


@pytest.mark.parametrize(
    "command", [["runs"], ["verdict"], ["rules"], ["rules", "add"], ["rules", "list"], ["export"], ["audit"]]
)
def test_help_for_each_workspace_command(command):
    result = run(*command, "--help")
    assert result.returncode == 0 and "usage:" in result.stdout
    if command != ["rules"]:
        assert "--db URL" in result.stdout


def test_a_team_database_from_the_environment(postgres_cluster):
    url = postgres_cluster.create_database("team_cli")
    env = {"EMAIL_AD_DB": url}
    assert ok("rules", "add", "--pair", "ceo@northwind.example", "cfo@northwind.example", env=env).startswith("rule 1:")
    listed = ok("rules", "list", env=env)
    assert "pair ceo@northwind.example → cfo@northwind.example" in listed
    assert ok("rules", "list", "--db", url).strip() == listed.strip()  # --db names the same database
    assert "rule.add" in ok("audit", env=env)


def test_detect_refuses_a_malformed_db_before_reading_the_log(tmp_path):
    # The run is recorded after scoring: a typo in --db must not cost a million-row scoring first.
    result = run("detect", tmp_path / "not-read-yet.csv", "--out", tmp_path / "s.csv", "--db", "::")
    assert result.returncode == 2 and "malformed" in result.stderr and "not-read-yet" not in result.stderr
    assert not (tmp_path / "s.csv").exists()
