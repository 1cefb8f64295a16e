"""The synthetic demo log: shape, determinism, realism of normal mail, and the injected anomalies."""

from __future__ import annotations

import re

import pandas as pd
import pytest
from rapidfuzz.distance import Levenshtein

from core.demo import ANOMALY_KINDS, COLUMNS, INTERNAL_DOMAINS, make_demo_log

ADDRESS_IN_SENDER = re.compile(r"<([^<>@\s]+@[^<>@\s]+)>$")
PLAIN_ADDRESS = re.compile(r"^[^<>@\s;]+@[a-z0-9.-]+\.[a-z]+$")
ISO_UTC = r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z"


@pytest.fixture(scope="module")
def log() -> pd.DataFrame:
    return make_demo_log(5000, seed=11)


def sender_address(sender: str) -> str:
    match = ADDRESS_IN_SENDER.search(sender)
    return match.group(1) if match else sender


def domain_of(address: str) -> str:
    return address.rsplit("@", 1)[1].lower()


def times(frame: pd.DataFrame) -> pd.Series:
    return pd.to_datetime(frame["Time Processed"], format="%Y-%m-%dT%H:%M:%SZ", utc=True)


def test_demo_log_is_deterministic_per_seed():
    first = make_demo_log(2000, seed=3)
    again = make_demo_log(2000, seed=3)
    other = make_demo_log(2000, seed=4)

    pd.testing.assert_frame_equal(first, again)
    assert not first["UUID"].equals(other["UUID"])
    assert not first["Subject"].equals(other["Subject"])


def test_demo_log_has_expected_columns_and_labels(log):
    assert list(log.columns) == list(COLUMNS)
    assert list(COLUMNS) == ["UUID", "Recipient", "Sender", "Subject", "Time Processed", "label", "anomaly_kind"]
    assert len(log) == 5000
    assert set(log["label"].unique()) == {0, 1}
    assert ((log["label"] == 1) == (log["anomaly_kind"] != "")).all()
    assert set(log["anomaly_kind"]) == {""} | set(ANOMALY_KINDS)
    assert 0.015 <= log["label"].mean() <= 0.03
    assert log["UUID"].is_unique
    assert log["UUID"].str.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}").all()
    assert log[["UUID", "Recipient", "Sender", "Subject", "Time Processed"]].notna().all().all()


@pytest.mark.parametrize("n_rows", [0, 1, 37, 499, 5000])
def test_demo_log_returns_exactly_the_requested_rows(n_rows):
    frame = make_demo_log(n_rows, seed=1)

    assert len(frame) == n_rows
    assert list(frame.columns) == list(COLUMNS)


def test_demo_log_contains_every_anomaly_kind(log):
    counts = log["anomaly_kind"].value_counts()
    for kind in ANOMALY_KINDS:
        assert counts.get(kind, 0) >= 1, kind
    # A burst is dozens of messages, not a handful.
    assert counts["sender_burst"] >= 20
    smallest = make_demo_log(500, seed=2)
    assert set(ANOMALY_KINDS) <= set(smallest["anomaly_kind"])


def test_demo_log_respects_the_anomaly_rate():
    assert make_demo_log(3000, seed=5, anomaly_rate=0.0)["label"].sum() == 0
    assert make_demo_log(4000, seed=5, anomaly_rate=0.05)["label"].sum() == 200
    with pytest.raises(ValueError):
        make_demo_log(100, anomaly_rate=0.9)


def test_demo_lookalike_domains_are_close_to_real_ones(log):
    normal = log[log["label"] == 0]
    normal_domains = set(normal["Sender"].map(sender_address).map(domain_of))
    lookalikes = set(log.loc[log["anomaly_kind"] == "lookalike_domain", "Sender"].map(sender_address).map(domain_of))

    assert lookalikes
    for lookalike in lookalikes:
        assert lookalike not in normal_domains
        assert min(Levenshtein.distance(lookalike, real) for real in normal_domains) in (1, 2), lookalike


def test_demo_times_are_iso_utc_and_sorted(log):
    assert log["Time Processed"].str.fullmatch(ISO_UTC).all()
    parsed = times(log)
    assert parsed.is_monotonic_increasing
    assert parsed.iloc[0] >= pd.Timestamp("2026-10-05", tz="UTC")

    later = make_demo_log(200, seed=0, start="2027-03-01")
    assert times(later).iloc[0] >= pd.Timestamp("2027-03-01", tz="UTC")


def test_demo_addresses_are_well_formed(log):
    senders = log["Sender"].map(sender_address)
    assert senders.str.fullmatch(PLAIN_ADDRESS).all()
    # Gateways show a mix of bare addresses and "Display Name <address>".
    named = log["Sender"].str.contains("<", regex=False)
    assert 0.2 < named.mean() < 0.95
    recipients = log["Recipient"].str.split("; ").explode()
    assert recipients.str.fullmatch(PLAIN_ADDRESS).all()
    assert (log["Recipient"].str.count("; ") >= 1).any()


def test_demo_normal_mail_follows_working_hours_and_habits(log):
    normal = log[log["label"] == 0]
    when = times(normal)
    people = normal["Sender"].map(sender_address)
    internal = people.map(domain_of).isin(INTERNAL_DOMAINS)

    # Colleagues write on weekdays, mostly 07:00-19:00, and (almost) never deep in the night.
    office = when.dt.hour.between(7, 18) & (when.dt.weekday < 5)
    assert office[internal].mean() > 0.85
    assert not (internal & when.dt.hour.between(1, 3)).any()
    # Both internal and external senders, replies/forwards reusing subjects.
    assert 0.4 < internal.mean() < 0.8
    assert normal["Subject"].str.match(r"(Re|RE|Fwd|FW): ").mean() > 0.1
    # People keep mailing the same contacts: pairs repeat far more than under random pairing.
    first_recipient = normal["Recipient"].str.split("; ").str[0]
    pairs = people + " -> " + first_recipient
    shuffled = people + " -> " + first_recipient.sample(frac=1, random_state=0).to_numpy()
    assert pairs.duplicated(keep=False).mean() > 4 * shuffled.duplicated(keep=False).mean()


def test_demo_anomalies_look_like_their_kind(log):
    def rows(kind):
        frame = log[log["anomaly_kind"] == kind]
        return frame, frame["Sender"].map(sender_address), times(frame)

    normal_senders = set(log.loc[log["label"] == 0, "Sender"].map(sender_address))

    bulk, bulk_senders, bulk_times = rows("after_hours_bulk")
    assert bulk_senders.map(domain_of).isin(INTERNAL_DOMAINS).all()
    minutes = bulk_times.dt.hour * 60 + bulk_times.dt.minute
    assert minutes.between(30, 4 * 60 + 30).all()
    assert (bulk["Recipient"].str.count("; ") + 1 >= 10).all()

    exec_mail, exec_senders, exec_times = rows("first_time_sender_to_exec")
    assert not exec_senders.isin(normal_senders).any()
    assert exec_senders.is_unique
    assert not exec_senders.map(domain_of).isin(INTERNAL_DOMAINS).any()
    assert exec_times.dt.hour.between(8, 18).all()

    phishing, phishing_senders, _ = rows("phishing_subject")
    assert not phishing_senders.map(domain_of).isin(INTERNAL_DOMAINS).any()
    assert phishing["Subject"].str.contains(r"[!$]|[^\x00-\x7f]|[A-Z]{4,}").all()

    burst, burst_senders, burst_times = rows("sender_burst")
    for _, group in burst.groupby(burst_senders):
        span = times(group).max() - times(group).min()
        assert len(group) >= 8
        assert span <= pd.Timedelta(minutes=10)
        assert group["Recipient"].nunique() >= len(group) * 0.8
