"""Exports of a run round-trip through a parser of each format, and hostile text stays inert."""

from __future__ import annotations

import io
import json
import re

import pandas as pd
import pytest

from core.workspace import Workspace, export_run
from core.workspace.export import cef_header, cef_value
from tests.workspace_helpers import scores_frame

HOSTILE = [
    "=cmd|' /C calc'!A0",
    "<script>alert(1)</script>",
    "a | b | c",
    "back\\slash \\= and \\| escapes",
    "key=value other=thing",
    "line one\nline two\r\nline three\rend",
    '"quoted", comma',
    "+SUM(1,2)",
    "@import",
    "-1+1",
]


@pytest.fixture
def hostile_run(db_url):
    ws = Workspace(db_url)
    rows = [
        {
            "UUID": f"<{i}.hostile@mail.example>" if i % 2 else f"h-{i}",
            "Sender": f"Mallory <m{i}@evil.example>",
            "Recipient": "ana@northwind-traders.com; bo@northwind-traders.com",
            "Subject": subject,
            "error": 2.0 + i,
            "reason": f"subject has {i} odd marks | =x",
            "Time": f"2026-11-02T09:{i:02d}:00Z",
        }
        for i, subject in enumerate(HOSTILE)
    ]
    rows.append(
        {
            "UUID": "allowed-1",
            "Sender": "news@vendor.example",
            "Recipient": "ana@northwind-traders.com; bo@northwind-traders.com",
            "Subject": "=HYPERLINK()",
            "error": 1.5,
            "reason": "burst of mail",
            "Time": "2026-11-02T10:00:00Z",
        }
    )
    ws.add_rule("sender_domain", "vendor.example", note="our newsletter")
    scores = ws.apply_rules(scores_frame(rows), 1.0)
    run = ws.record_run(scores, 1.0, model_name="demo", data_name="hostile.csv")
    ws.set_verdicts(run.id, ["h-0"], "benign", reason="test", note="=evil()|note\nsecond line", analyst="ana")
    ws.set_verdicts(run.id, ["<1.hostile@mail.example>"], "confirmed", reason="phishing", analyst="bo")
    return ws, run, rows


def expected(rows, uuid: str) -> dict:
    return next(r for r in rows if r["UUID"] == uuid)


def test_csv_round_trips_with_formulas_escaped(hostile_run):
    ws, run, rows = hostile_run
    frame = pd.read_csv(io.BytesIO(export_run(ws, run.id, "csv")), keep_default_na=False, dtype=str)
    assert len(frame) == len(rows)
    for _, line in frame.iterrows():
        subject = expected(rows, line["UUID"])["Subject"]
        formula = re.match(r"^[=+\-@\t\r]", subject)
        assert line["Subject"] == ("'" + subject if formula else subject)
        assert not re.match(r"^[=+\-@]", line["verdict_note"])
    assert frame.set_index("UUID").loc["h-0", "verdict_note"] == "'=evil()|note\nsecond line"
    allowed = frame.set_index("UUID").loc["allowed-1"]
    assert allowed["suppressed_rule"] == "sender_domain vendor.example" and allowed["Subject"] == "'=HYPERLINK()"
    flagged_only = pd.read_csv(io.BytesIO(export_run(ws, run.id, "csv", include_suppressed=False)), dtype=str)
    assert "allowed-1" not in set(flagged_only["UUID"])


def test_ecs_ndjson_round_trips(hostile_run):
    ws, run, rows = hostile_run
    data = export_run(ws, run.id, "ecs")
    lines = data.decode("utf-8").splitlines()
    assert len(lines) == len(rows)  # a newline in a subject never splits a document
    documents = {doc["email"]["local_id"]: doc for doc in map(json.loads, lines)}
    for row in rows:
        doc = documents[row["UUID"]]
        assert doc["email"]["subject"] == row["Subject"]
        assert doc["event"]["kind"] == "alert" and doc["event"]["reason"] == row["reason"]
        assert doc["event"]["risk_score"] == pytest.approx(row["error"])
        assert 0 <= doc["event"]["risk_score_norm"] <= 100
        assert doc["email"]["to"]["address"] == ["ana@northwind-traders.com", "bo@northwind-traders.com"]
        assert doc["@timestamp"] == doc["email"]["delivery_timestamp"]
    first = documents["<1.hostile@mail.example>"]
    assert first["email"]["message_id"] == "<1.hostile@mail.example>"  # looks like a Message-ID
    assert first["email"]["from"]["address"] == ["m1@evil.example"] and first["labels"]["verdict"] == "confirmed"
    assert first["@timestamp"] == "2026-11-02T09:01:00.000Z"
    assert "message_id" not in documents["h-0"]["email"]
    assert documents["h-0"]["labels"]["verdict_note"] == "=evil()|note\nsecond line"
    assert documents["allowed-1"]["rule"]["name"] == "sender_domain vendor.example"
    assert documents["allowed-1"]["tags"] == ["suppressed"] and "rule" not in documents["h-0"]


def test_hec_events_are_concatenated_json_objects(hostile_run):
    ws, run, rows = hostile_run
    text = export_run(ws, run.id, "hec").decode("utf-8")
    decoder, events, at = json.JSONDecoder(), [], 0
    while at < len(text):
        event, at = decoder.raw_decode(text, at)
        events.append(event)
        while at < len(text) and text[at].isspace():
            at += 1
    assert len(events) == len(rows)
    for event in events:
        assert set(event) == {"time", "source", "sourcetype", "event"} and event["sourcetype"] == "email_ad:flagged"
        row = expected(rows, event["event"]["email"]["local_id"])
        assert event["event"]["email"]["subject"] == row["Subject"]
        stamp = pd.Timestamp(row["Time"])
        assert event["time"] == pytest.approx(stamp.timestamp())


# --------------------------------------------------------------------------- CEF


def parse_cef(line: str) -> tuple[list[str], dict[str, str]]:
    """A CEF line → (7 header fields, extension dict), per the ArcSight CEF spec's escaping."""
    assert line.startswith("CEF:")
    header, at = [], 0
    for _ in range(7):
        field = []
        while line[at] != "|":
            if line[at] == "\\":
                at += 1
            field.append(line[at])
            at += 1
        header.append("".join(field))
        at += 1
    extension = line[at:]
    # A key starts where an unescaped '=' follows a word that follows a space (or the start).
    starts = [m for m in re.finditer(r"(?:^| )([A-Za-z0-9_]+)=", extension) if not _escaped(extension, m.end() - 1)]
    values = {}
    for m, following in zip(starts, starts[1:] + [None], strict=True):
        raw = extension[m.end() : following.start() if following else len(extension)]
        values[m.group(1)] = re.sub(r"\\(.)", lambda e: {"n": "\n", "r": "\r"}.get(e.group(1), e.group(1)), raw)
    return header, values


def _escaped(text: str, at: int) -> bool:
    slashes = 0
    while at - 1 - slashes >= 0 and text[at - 1 - slashes] == "\\":
        slashes += 1
    return slashes % 2 == 1


def test_cef_lines_escape_header_and_extension(hostile_run):
    ws, run, rows = hostile_run
    lines = export_run(ws, run.id, "cef").decode("utf-8").split("\n")
    assert lines[-1] == "" and len(lines) - 1 == len(rows)  # one event per line, newlines escaped
    for line in lines[:-1]:
        header, values = parse_cef(line)
        assert header[:4] == ["CEF:0", "Email Log Anomaly Detection", "email-ad", "1"] and 0 <= int(header[6]) <= 10
        row = expected(rows, values["externalId"])
        assert values["msg"] == row["Subject"] and values["reason"] == row["reason"]
        assert values["suser"] == row["Sender"] and values["cfp1Label"] == "reconstruction_error"
        assert int(values["rt"]) == int(pd.Timestamp(row["Time"]).timestamp() * 1000)
    by_uuid = {parse_cef(line)[1]["externalId"]: parse_cef(line) for line in lines[:-1]}
    assert by_uuid["h-0"][1]["cs2"] == "=evil()|note\nsecond line" and by_uuid["h-0"][1]["cs1"] == "benign"
    assert by_uuid["allowed-1"][0][4] == "email-suppressed" and by_uuid["allowed-1"][1]["cs5"] == "1"


@pytest.mark.parametrize("text", HOSTILE)
def test_cef_escaping_functions(text):
    value = cef_value(text)
    assert "\n" not in value and "\r" not in value
    assert not re.search(r"(?<!\\)=", value.replace("\\\\", ""))  # every '=' escaped
    header = cef_header(text)
    assert not re.search(r"(?<!\\)\|", header.replace("\\\\", "")) and "\n" not in header
    _, parsed = parse_cef("CEF:0|v|p|1|s|n|1|msg=" + value + " cs1=after")
    assert parsed == {"msg": text, "cs1": "after"}
