import pandas as pd
import pytest

from core.errors import DataError
from core.loading import concat_logs, parse_times, read_log
from core.schema import FIELDS, TIME

HEADER = "UUID,Recipient,Sender,Subject,Time Processed\n"
ROW = "u1,bob@corp.com,alice@corp.com,Hello,2026-11-02T09:15:00Z\n"


def test_read_log_canonical_columns_and_extra_passthrough():
    data = (HEADER.strip() + ",label,Size\n" + ROW.strip() + ",0,1234\n").encode()
    log = read_log(data)
    assert list(log.frame.columns[:5]) == list(FIELDS)
    assert log.extra_columns == ["label", "Size"]
    assert log.frame.loc[0, "Size"] == "1234"
    assert log.frame.loc[0, TIME] == pd.Timestamp("2026-11-02 09:15:00", tz="UTC")


@pytest.mark.parametrize(
    "header",
    [
        "uuid,recipient,sender,subject,time_processed",
        "UUID,RECIPIENT,SENDER,SUBJECT,TimeProcessed",
        " Uuid , Recipient , Sender , Subject , Time-Processed ",
    ],
)
def test_read_log_header_matching_tolerates_case_spaces_underscores(header):
    log = read_log((header + "\n" + ROW).encode())
    assert log.report.rows == 1 and log.report.columns[TIME] == header.split(",")[-1]


@pytest.mark.parametrize("delimiter", [";", "\t"])
def test_read_log_detects_delimiter(delimiter):
    text = (HEADER + ROW).replace(",", delimiter)
    log = read_log(text.encode())
    assert log.report.delimiter == delimiter and len(log) == 1


def test_read_log_utf8_bom_and_cp1252_fallback():
    bom = read_log(b"\xef\xbb\xbf" + (HEADER + ROW).encode())
    assert bom.report.encoding == "utf-8-sig" and bom.frame.columns[0] == "UUID"
    latin = read_log((HEADER + "u1,b@x.de,a@x.de,Gr\xfc\xdfe caf\xe9,2026-11-02T09:15:00Z\n").encode("cp1252"))
    assert latin.frame.loc[0, "Subject"] == "Grüße café"
    assert any("cp1252" in w for w in latin.report.warnings)


def test_read_log_utf16():
    log = read_log((HEADER + ROW).encode("utf-16"))
    assert log.report.encoding == "utf-16" and log.frame.loc[0, "Sender"] == "alice@corp.com"


def test_parse_times_accepts_documented_formats():
    values = pd.Series(
        [
            "2026-11-02T09:15:00Z",
            "2026-11-02T10:15:00+01:00",
            "2026-11-02 09:15:00",
            "Mon, 02 Nov 2026 09:15:00 +0000",
            "11/02/2026 09:15:00",
            "1793610900",
            "1793610900000",
        ]
    )
    parsed = parse_times(values)
    assert parsed.notna().all()
    assert (parsed == pd.Timestamp("2026-11-02 09:15:00", tz="UTC")).all()


def test_unparsable_times_are_reported_not_dropped():
    text = HEADER + ROW + "u2,b@c.com,a@c.com,Hi,not a date\n" + "u3,b@c.com,a@c.com,Hi,\n"
    log = read_log(text.encode())
    assert len(log) == 3
    assert log.report.unparsed_times == 2
    assert log.report.unparsed_examples[0] == (1, "not a date")
    assert list(log.scorable) == [True, False, False]


def test_empty_fields_and_multiple_recipients_are_valid():
    text = HEADER + 'u1,"a@x.com; b@y.org, c@z.net",,,2026-11-02T09:15:00Z\n'
    log = read_log(text.encode())
    assert log.frame.loc[0, "Sender"] == "" and log.frame.loc[0, "Subject"] == ""


def test_duplicate_uuids_warn_not_fail():
    log = read_log((HEADER + ROW + ROW).encode())
    assert log.report.duplicate_uuids == 1 and len(log) == 2
    assert any("repeating a UUID" in w for w in log.report.warnings)


@pytest.mark.parametrize(
    "data, message",
    [
        (b"", "is empty"),
        (b"   \n\n", "is empty"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00IHDR", "PNG image"),
        (b"PK\x03\x04rest-of-zip", "ZIP archive"),
        (HEADER.encode(), "no data rows"),
        (ROW.encode(), "looks like data, not a header"),
        (b"id,to,from,subject,date\n1,a@b.c,d@e.f,hi,2026-01-01\n", "Did you mean .*'date' for 'Time Processed'"),
        ((HEADER + "u1,a@b.c,d@e.f,hi,yesterday-ish\n").encode(), "could be read as a time"),
    ],
)
def test_bad_input_raises_one_clear_error(data, message):
    with pytest.raises(DataError, match=message) as caught:
        read_log(data, name="log.csv")
    assert "\n" not in str(caught.value)


def test_missing_column_message_lists_found_columns():
    with pytest.raises(
        DataError,
        match=r"missing column\(s\) 'UUID', 'Recipient', 'Sender', 'Time Processed'\. "
        r"Found: id, to, from, subject, date",
    ):
        read_log(b"id,to,from,subject,date\n1,a@b.c,d@e.f,hi,2026-01-01\n")


def test_explicit_column_mapping():
    data = b"id,to,from,title,date\n1,a@b.c,d@e.f,hi,2026-01-01T00:00:00Z\n"
    log = read_log(
        data, columns={"UUID": "id", "Recipient": "to", "Sender": "from", "subject": "title", "time_processed": "date"}
    )
    assert log.frame.loc[0, "Subject"] == "hi"


def test_microsoft365_preset_detected_automatically():
    data = (
        b"Received,SenderAddress,RecipientAddress,Subject,Status,ToIP,FromIP,Size,MessageId,MessageTraceId\n"
        b"11/24/2026 5:03:12 PM,a@x.com,b@corp.com,Hi,Delivered,,1.2.3.4,2000,<m1@x.com>,abc\n"
    )
    log = read_log(data)
    assert log.report.preset == "microsoft365"
    assert log.frame.loc[0, "UUID"] == "<m1@x.com>"
    assert log.frame.loc[0, TIME] == pd.Timestamp("2026-11-24 17:03:12", tz="UTC")
    assert "Status" in log.extra_columns


def test_google_workspace_preset():
    data = b"Date,Message ID,Subject,Sender,Recipient,Status\n2026-11-24T10:00:00Z,<m@g>,Hi,a@x.com,b@y.com,Delivered\n"
    log = read_log(data, preset="google_workspace")
    assert log.frame.loc[0, "UUID"] == "<m@g>"


def test_concat_logs_renumbers_rows():
    a = read_log((HEADER + ROW).encode(), name="a.csv")
    b = read_log((HEADER + ROW.replace("u1", "u2")).encode(), name="b.csv")
    both = concat_logs([a, b])
    assert list(both.frame["UUID"]) == ["u1", "u2"] and both.report.rows == 2


def test_missing_columns_error_is_structured():
    from core.errors import MissingColumnsError

    with pytest.raises(MissingColumnsError) as caught:
        read_log(b"id,to,from,subject,date\n1,a@b.c,d@e.f,hi,2026-01-01\n")
    assert caught.value.missing == ["UUID", "Recipient", "Sender", "Time Processed"]
    assert caught.value.headers == ["id", "to", "from", "subject", "date"]


def test_read_headers_decodes_and_splits_like_read_log():
    from core.loading import read_headers

    assert read_headers("\ufeffid;to;Sender\n1;2;3\n".encode("utf-8")) == ["id", "to", "Sender"]
    assert read_headers("a\tb\n".encode("utf-16")) == ["a", "b"]
    with pytest.raises(DataError, match="PNG image"):
        read_headers(b"\x89PNG\r\n\x1a\n")


def _trace_bytes(n_messages: int = 300, seed: int = 1) -> tuple[bytes, pd.DataFrame]:
    """A Microsoft 365 message trace of the demo log: one row per recipient, every field quoted, US dates."""
    import csv

    from core.demo import make_demo_log, message_trace

    messages = make_demo_log(n_messages, seed=seed)
    return message_trace(messages).to_csv(index=False, quoting=csv.QUOTE_ALL).encode(), messages


def test_message_trace_export_is_said_to_list_one_row_per_recipient():
    data, messages = _trace_bytes()
    log = read_log(data, name="trace.csv")
    assert log.report.preset == "microsoft365" and log.report.per_recipient
    assert len(log) > len(messages) and log.report.duplicate_uuids == len(log) - len(messages)
    text = " ".join(log.report.warnings)
    assert "Microsoft 365 message trace lists one row per recipient" in text
    assert f"{len(log):,} rows are {len(messages):,} messages" in text
    assert "--group-by-message" in text and "repeating a UUID" not in text


def test_group_by_message_reads_each_message_once_with_its_recipients():
    from core.features import recipient_lists
    from core.loading import group_by_message

    data, messages = _trace_bytes()
    read = read_log(data, name="trace.csv")
    grouped = group_by_message(read)
    frame = grouped.frame
    assert len(grouped) == len(messages) and frame["UUID"].is_unique
    assert grouped.report.merged_rows == len(read) - len(messages) > 0
    assert not any("one row per recipient" in w for w in grouped.report.warnings)
    # Every message gets back exactly the recipients the demo log gave it, in a form the features parse.
    expected = recipient_lists(messages["Recipient"]).map(lambda r: sorted(set(r)))
    got = recipient_lists(frame["Recipient"]).map(sorted)
    assert got.tolist() == expected.tolist()
    assert (got.map(len) > 1).any()
    assert frame["label"].astype(int).sum() == messages["label"].sum()
    times = pd.to_datetime(messages["Time Processed"], utc=True).dt.floor("s")
    assert (frame[TIME].to_numpy() == times.to_numpy()).all()


def test_group_by_message_keeps_rows_without_uuid_and_plain_duplicates_keep_the_old_warning():
    from core.loading import group_by_message

    rows = (
        "u1,bob@corp.com,alice@corp.com,Hello,2026-11-02T09:15:00Z\n"
        "u1,carol@corp.com,alice@corp.com,Hello,2026-11-02T09:15:01Z\n"
        ",dave@corp.com,eve@corp.com,No id,2026-11-02T10:00:00Z\n"
        ",frank@corp.com,eve@corp.com,No id,2026-11-02T10:00:00Z\n"
        "u2,gina@corp.com,hal@corp.com,Late,not a time\n"
    )
    log = read_log((HEADER + rows).encode())
    grouped = group_by_message(log)
    assert grouped.frame["Recipient"].tolist() == [
        "bob@corp.com; carol@corp.com",
        "dave@corp.com",
        "frank@corp.com",
        "gina@corp.com",
    ]
    assert grouped.frame[TIME].iloc[0] == pd.Timestamp("2026-11-02T09:15:00Z")
    # The unreadable time stays reported, at its row in the file.
    assert grouped.report.unparsed_times == 1 and grouped.report.unparsed_examples == [(4, "not a time")]
    assert grouped.raw_times.to_dict() == {3: "not a time"}
    plain = read_log((HEADER + ROW + ROW).encode())
    assert not plain.report.per_recipient
    assert any("repeating a UUID" in w for w in plain.report.warnings)
