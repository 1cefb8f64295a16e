"""Whatever a gateway exports — or an attacker writes into a subject — loads correctly or
gets the tool's own one-line error; features stay finite."""

import csv
import io

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.errors import DataError
from core.features import EmailFeatures, SeedFeatures
from core.loading import parse_times, read_log
from core.schema import TIME

H = "UUID,Recipient,Sender,Subject,Time Processed\n"
R = "u1,bob@corp.com,alice@corp.com,Hello,2026-11-02T09:15:00Z\n"


@pytest.mark.parametrize(
    "name, data, rows",
    [
        ("one data row", (H + R).encode(), 1),
        ("UTF-8 with BOM", b"\xef\xbb\xbf" + (H + R).encode(), 1),
        ("UTF-16 with BOM", (H + R).encode("utf-16"), 1),
        ("UTF-16 without BOM", (H + R).encode("utf-16-le"), 1),
        ("cp1252", (H + "u1,b@c.de,a@c.de,R\xe9sum\xe9 \u20ac,2026-11-02T09:15:00Z\n").encode("cp1252"), 1),
        ("NUL bytes", (H + R).replace("Hello", "He\x00llo").encode(), 1),
        ("quoted newline in subject", (H + 'u1,b@c.com,a@c.com,"line1\nline2",2026-11-02T09:15:00Z\n').encode(), 1),
        ("1 MB field", (H + 'u1,b@c.com,a@c.com,"' + "x" * 1_000_000 + '",2026-11-02T09:15:00Z\n').encode(), 1),
        (
            "duplicate header names",
            ("UUID,Recipient,Sender,Subject,Time Processed,Subject\n" + R.strip() + ",dup\n").encode(),
            1,
        ),
        ("ragged rows", (H + R + "u2,b@c.com,a@c.com,Hi,2026-11-02T09:15:00Z,extra,more\nu3,b@c.com\n").encode(), 3),
        ("trailing empty lines", (H + R + "\n\n\n").encode(), 1),
        (
            "120 extra columns",
            (H.strip() + "," + ",".join(f"c{i}" for i in range(120)) + "\n" + R.strip() + "," * 120 + "\n").encode(),
            1,
        ),
        ("semicolon delimiter", (H + R).replace(",", ";").encode(), 1),
        ("whitespace-only fields", (H + "u1,  ,   , ,2026-11-02T09:15:00Z\n").encode(), 1),
    ],
)
def test_odd_files_load(name, data, rows):
    log = read_log(data, name="export.csv")
    assert len(log) == rows
    assert list(log.frame.columns[:5]) == ["UUID", "Recipient", "Sender", "Subject", "Time Processed"]


def test_ragged_rows_keep_their_surplus():
    log = read_log((H + R + "u2,b@c.com,a@c.com,Hi,2026-11-02T09:15:00Z,extra,more\n").encode())
    assert log.frame.loc[1, "extra_fields"] == "extra,more"
    assert any("more fields than the header" in w for w in log.report.warnings)


@pytest.mark.parametrize(
    "data, message",
    [
        (b"", "is empty"),
        (b"\x89PNG\r\n\x1a\n" + bytes(range(256)), "PNG image"),
        (b"PK\x03\x04\x14\x00\x00\x00", "ZIP archive"),
        (b"%PDF-1.7\n", "PDF document"),
        (bytes(range(256)) * 50, "binary data"),
        (H.encode(), "no data rows"),
        ((H + "u1,b,a,s,yesterday\nu2,b,a,s,soon\n").encode(), "no value in column 'Time Processed'"),
    ],
)
def test_unusable_files_get_one_line_error(data, message):
    with pytest.raises(DataError, match=message) as caught:
        read_log(data, name="export.csv")
    assert "\n" not in str(caught.value)


def test_mixed_zones_and_epoch_units_become_utc():
    values = pd.Series(
        [
            "2026-11-02T09:15:00Z",
            "2026-11-02T14:15:00+05:00",
            "Mon, 02 Nov 2026 01:15:00 -0800",
            "1793610900",
            "1793610900000",
        ]
    )
    assert (parse_times(values) == pd.Timestamp("2026-11-02 09:15:00", tz="UTC")).all()


def test_far_past_and_future_dates_are_kept():
    times = parse_times(pd.Series(["1970-01-01T00:00:00Z", "2100-01-01T00:00:00Z", "1900-06-01T00:00:00Z"]))
    assert times.notna().all()


@pytest.fixture(scope="module")
def fitted_features(demo_log):
    frame = demo_log.frame[demo_log.scorable]
    return EmailFeatures().fit(frame), SeedFeatures().fit(frame)


HOSTILE_TEXT = [
    "<script>alert(1)</script>",
    '<img src=x onerror="alert(1)">',
    "=cmd|' /C calc'!A0",
    "+1+1",
    "-2",
    "@SUM(A1)",
    "\u202egnp.exe",
    "zero\u200bwidth",
    "emoji 💸🎁",
    "",
    "   ",
    "a@b.c;" * 2000,
    "\t=1",
    "Ω≈ç√∫",
]


@pytest.mark.parametrize("text", HOSTILE_TEXT)
def test_hostile_values_give_finite_features(fitted_features, text):
    frame = pd.DataFrame(
        {
            "Recipient": [text],
            "Sender": [text],
            "Subject": [text],
            TIME: [pd.Timestamp("2026-11-02 03:00", tz="UTC")],
        }
    )
    for pre in fitted_features:
        assert np.isfinite(pre.transform(frame)).all()


_printable = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=60)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    rows=st.lists(
        st.tuples(_printable, _printable, _printable, _printable, st.one_of(_printable, st.datetimes().map(str))),
        min_size=1,
        max_size=6,
    )
)
def test_loader_property_any_text_loads_or_raises_data_error(rows):
    buffer = io.StringIO()
    csv.writer(buffer).writerows([("UUID", "Recipient", "Sender", "Subject", "Time Processed"), *rows])
    data = buffer.getvalue().encode("utf-8")
    try:
        log = read_log(data)
    except DataError as error:
        assert "\n" not in str(error)
        return
    assert len(log) == len(rows)
    assert log.frame[TIME].isna().sum() == log.report.unparsed_times


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    texts=st.lists(st.tuples(_printable, _printable, _printable), min_size=1, max_size=5),
    stamps=st.lists(
        st.datetimes(
            min_value=pd.Timestamp("1900-01-01").to_pydatetime(), max_value=pd.Timestamp("2200-01-01").to_pydatetime()
        ),
        min_size=5,
        max_size=5,
    ),
)
def test_features_property_finite_for_any_strings_and_times(fitted_features, texts, stamps):
    frame = pd.DataFrame(texts, columns=["Recipient", "Sender", "Subject"])
    frame[TIME] = pd.to_datetime(stamps[: len(frame)], utc=True).astype("datetime64[us, UTC]")
    for pre in fitted_features:
        assert np.isfinite(pre.transform(frame)).all()
