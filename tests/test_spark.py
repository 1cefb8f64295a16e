"""The Spark engine (core/spark) on local[2]: same scores as the local engine, row by row.

One SparkSession for the whole test session. Without pyspark or Java the tests skip with the
reason; under CI=true they fail instead, so CI can never pass by skipping them.
"""

from __future__ import annotations

import hashlib
import json
import shutil

import numpy as np
import pandas as pd
import pytest

from core.artifacts import load_bundle
from core.cli import main
from core.demo import make_demo_log
from core.loading import read_log
from core.schema import SENDER, SUBJECT, TIME
from core.scoring import ERROR, IS_ANOMALY, REASON, TOP_FIELD, UUID, score_log
from core.workspace.rules import sender_address
from core.workspace.store import Workspace
from tests.conftest import shared_data_file
from tests.fixtures.make_pinned_scores import BUNDLE

# Rows every parser trips over: unreadable and empty times, empty fields, formula leads,
# quoted line breaks, non-ASCII, a very long subject. Scored (or not) exactly as locally.
HOSTILE = [
    ("h-1", "ann@northwind.example", "x@evil.example", '=HYPERLINK("http://x")', "not a time"),
    ("h-2", "", "", "", "2026-10-06T09:00:00Z"),
    ("h-3", "bob@northwind.example", "Ünïcødé <u@exämple.example>", "line one\nline two\r\nthree", "2026-10-06 09:01"),
    ("h-4", "a@b.c; d@e.f, g@h.i", "Chope <>", "+SUM(A1) -1 @x", ""),
    ("h-5", "ann@northwind.example", "spam@spam.example", "win $$$ !!! " * 40, "1791277200"),
]


@pytest.fixture(scope="module")
def artifacts(tmp_path_factory):
    root = tmp_path_factory.mktemp("artifacts")
    shutil.copytree(BUNDLE, root / BUNDLE.name)
    return root


@pytest.fixture(scope="module")
def bursty_csv(tmp_path_factory):
    """A demo log with bursts, fan-out and campaigns, plus the hostile rows, as one CSV."""
    frame = make_demo_log(3000, seed=11).drop(columns=["anomaly_kind"])
    hostile = pd.DataFrame(HOSTILE, columns=["UUID", "Recipient", "Sender", "Subject", "Time Processed"])
    hostile["label"] = 1
    frame = pd.concat([frame.iloc[:1000], hostile, frame.iloc[1000:]], ignore_index=True)
    path = tmp_path_factory.mktemp("logs") / "bursty.csv"
    frame.to_csv(path, index=False)
    return path


def _detect(engine, data, out, artifacts, *extra):
    argv = ["detect", str(data), "--out", str(out), "--artifacts", str(artifacts), "--name", BUNDLE.name]
    argv += [str(e) for e in extra]
    if engine == "spark":
        argv += ["--engine", "spark", "--master", "local[2]"]
    assert main(argv) == 0


def _read_scores(path):
    return pd.read_csv(path, keep_default_na=False, na_values=[""], dtype={UUID: str})


def _assert_same(local: pd.DataFrame, spark: pd.DataFrame, atol=1e-6):
    """Same columns in the same order (the workspace's marks included), same rows; errors within ``atol``."""
    assert list(spark.columns) == list(local.columns)
    assert len(spark) == len(local)
    for column in local.columns:
        if pd.api.types.is_float_dtype(local[column]):
            np.testing.assert_allclose(spark[column], local[column], atol=atol, rtol=0, err_msg=column)
        else:
            assert spark[column].astype(str).tolist() == local[column].astype(str).tolist(), column


def test_spark_detect_gives_the_local_scores_row_by_row(spark, bursty_csv, artifacts, tmp_path):
    _detect("local", bursty_csv, tmp_path / "local.csv", artifacts, "--flagged", tmp_path / "local-flagged.csv")
    _detect("spark", bursty_csv, tmp_path / "spark.csv", artifacts, "--flagged", tmp_path / "spark-flagged.csv")
    local, remote = _read_scores(tmp_path / "local.csv"), _read_scores(tmp_path / "spark.csv")
    _assert_same(local, remote)
    # The log has real context for the parity to mean something, and the hostile rows are there.
    assert local[REASON].str.contains("burst|campaign|recipients within", regex=True).any()
    assert local[REASON].str.startswith("not scored: time").sum() == 2
    assert (tmp_path / "spark-flagged.csv").read_bytes() == (tmp_path / "local-flagged.csv").read_bytes()


def test_spark_scores_equal_score_log_in_float64_with_parquet_output(spark, bursty_csv, artifacts, tmp_path):
    detector = load_bundle(BUNDLE.name, artifacts)
    local = score_log(detector, read_log(bursty_csv))
    _detect("spark", bursty_csv, tmp_path / "scores", artifacts)
    remote = pd.read_parquet(tmp_path / "scores").set_index(UUID).loc[local[UUID]]
    assert np.nanmax(np.abs(remote[ERROR].to_numpy() - local[ERROR].to_numpy())) <= 1e-6
    assert np.array_equal(np.isnan(remote[ERROR].to_numpy()), np.isnan(local[ERROR].to_numpy()))
    for column in (IS_ANOMALY, TOP_FIELD, REASON):
        assert remote[column].tolist() == local[column].tolist(), column
    days = sorted(p.name for p in (tmp_path / "scores").iterdir() if p.name.startswith("day="))
    assert days[0] == "day=2026-10-05" and days[-1] == "day=unscored"  # unreadable times: no day


def test_spark_context_equals_add_context(spark, bursty_csv, artifacts):
    from core.spark.context import CONTEXT_NAMES, SCORABLE, with_context
    from core.spark.io import read_spark_log

    detector = load_bundle(BUNDLE.name, artifacts)
    log = read_log(bursty_csv)
    expected = detector.preprocessor_.add_context(log.frame[log.scorable].reset_index(drop=True))
    got = (
        with_context(read_spark_log(spark, str(bursty_csv)).frame)
        .where(SCORABLE)
        .select(UUID, *CONTEXT_NAMES)
        .toPandas()
        .set_index(UUID)
        .loc[expected[UUID]]
    )
    for column, name in CONTEXT_NAMES.items():
        assert got[column].to_numpy().tolist() == expected[name].to_numpy().tolist(), name
    assert expected["context:subject_campaign"].max() > 0 and expected["context:burst_5min"].max() > 0


@pytest.mark.parametrize("rule", [["--top", "7"], ["--percentile", "90"], ["--rate", "0.05"], ["--threshold", "2"]])
def test_spark_threshold_rules_flag_what_local_flags(spark, bursty_csv, artifacts, tmp_path, rule):
    _detect("local", bursty_csv, tmp_path / "local.csv", artifacts, *rule)
    _detect("spark", bursty_csv, tmp_path / "spark.csv", artifacts, *rule)
    local, remote = _read_scores(tmp_path / "local.csv"), _read_scores(tmp_path / "spark.csv")
    assert remote[IS_ANOMALY].tolist() == local[IS_ANOMALY].tolist()
    if rule[0] == "--top":
        assert remote[IS_ANOMALY].sum() == 7


def test_spark_approximate_percentile_stays_within_its_stated_rank_bound(spark, bursty_csv, artifacts):
    from core.spark.io import read_spark_log
    from core.spark.scoring import QUANTILE_ERROR, score_spark_log, spark_threshold

    detector = load_bundle(BUNDLE.name, artifacts)
    scored = score_spark_log(spark, detector, read_spark_log(spark, str(bursty_csv))).cache()
    approx = spark_threshold(scored, fitted=1.0, percentile=90, exact_rows=0)
    exact = spark_threshold(scored, fitted=1.0, percentile=90)
    errors = np.sort(scored.select(ERROR).toPandas()[ERROR].dropna().to_numpy())
    assert not approx.exact and exact.exact and "approximate" in approx.note
    rank = np.searchsorted(errors, approx.value, side="right")
    assert abs(rank - 0.9 * len(errors)) <= np.ceil(QUANTILE_ERROR * len(errors)) + 1
    scored.unpersist()


def test_spark_reads_a_csv_folder_and_parquet_as_one_log(spark, bursty_csv, artifacts, tmp_path):
    frame = pd.read_csv(bursty_csv, dtype=str, keep_default_na=False)
    folder = tmp_path / "day"
    folder.mkdir()
    frame.iloc[:1500].to_csv(folder / "part-1.csv", index=False)
    # Another export of the same gateway: columns in another order, names in another style.
    second = frame.iloc[1500:][["Subject", "Time Processed", "UUID", "Sender", "Recipient", "label"]]
    second.rename(columns={"Time Processed": "time_processed"}).to_csv(folder / "part-2.csv", index=False)
    (tmp_path / "pq").mkdir()
    frame.to_parquet(tmp_path / "pq" / "log.parquet", index=False)
    _detect("local", bursty_csv, tmp_path / "local.csv", artifacts)
    local = _read_scores(tmp_path / "local.csv")
    ws = Workspace.open(None, artifacts)
    local_rows = ws.flagged(ws.runs()[0].id, include_suppressed=True)[[UUID, "position"]]
    for source in (folder, tmp_path / "pq", str(folder / "*.csv")):
        _detect("spark", source, tmp_path / "spark.csv", artifacts)
        _assert_same(local, _read_scores(tmp_path / "spark.csv"))
        # The run's rows keep their place in the input across files (position = row in the log).
        run = ws.runs()[0]
        pd.testing.assert_frame_equal(ws.flagged(run.id, include_suppressed=True)[[UUID, "position"]], local_rows)
    # Several files: the run records the SHA-256 of their listing (name, size), not of their bytes.
    listing = "".join(f"{p.name}\t{p.stat().st_size}\n" for p in sorted(folder.iterdir()))
    assert run.data_sha256 == hashlib.sha256(listing.encode()).hexdigest() and run.data_name == "*.csv"


@pytest.mark.parametrize(
    ("content", "whole"),
    [
        (b'a,b\n1,"x y"\n2,""\n', False),
        (b'a,b\r\n1,"say ""hi"" now"\r\n', False),
        (b'a,b\n1,"x\ny"\n', True),  # a quoted line break
        (b'a,b\n1,"x\ry"\n', True),  # a bare CR inside quotes
        # Quotes mid-field keep every line's count even, yet a parser reads "x\ny" as one field.
        (b'a,b,c\na"b,"x\ny",c"d\n', True),
        (b'a,b\n1,"never closed', True),  # no line break after it: only the count at the end tells
    ],
    ids=["plain", "doubled-quotes-crlf", "quoted-newline", "quoted-cr", "stray-quotes", "unterminated"],
)
@pytest.mark.parametrize("scan_bytes", [2, 3, 1 << 20])
def test_a_csv_is_split_for_spark_only_when_no_record_spans_lines(tmp_path, monkeypatch, content, whole, scan_bytes):
    """Spark reads a CSV in line-aligned blocks side by side only when that can't cut a record;
    tiny scan windows put every quote and line break at a window's edge."""
    from core.spark import io as spark_io

    monkeypatch.setattr(spark_io, "SCAN_BYTES", scan_bytes)
    path = tmp_path / "log.csv"
    path.write_bytes(content)
    assert spark_io.needs_whole_records(str(path)) is whole
    assert spark_io.needs_whole_records(str(path), encoding="utf-16") is True


def test_spark_detect_on_a_csv_read_in_blocks_gives_the_local_scores(spark, artifacts, tmp_path):
    """A log without quoted line breaks is parsed in many blocks (64 kB here) side by side;
    rows come back in input order with the local scores, context across blocks included."""
    from core.spark.io import read_spark_log

    path = tmp_path / "plain.csv"
    make_demo_log(3000, seed=5).to_csv(path, index=False)
    spark.conf.set("spark.sql.files.maxPartitionBytes", str(64 << 10))
    try:
        assert read_spark_log(spark, str(path)).frame.rdd.getNumPartitions() > 4
        _detect("local", path, tmp_path / "local.csv", artifacts)
        _detect("spark", path, tmp_path / "spark.csv", artifacts)
    finally:
        spark.conf.unset("spark.sql.files.maxPartitionBytes")
    local = _read_scores(tmp_path / "local.csv")
    _assert_same(local, _read_scores(tmp_path / "spark.csv"))
    assert local[REASON].str.contains("burst|campaign|recipients within", regex=True).any()
    # Byte for byte, the extra column's empty fields (anomaly_kind of normal mail) included.
    assert (local["anomaly_kind"].isna()).any()
    assert (tmp_path / "spark.csv").read_bytes() == (tmp_path / "local.csv").read_bytes()


@pytest.mark.parametrize(
    "content",
    [
        b"",
        b"\x89PNG\r\n\x1a\nrest",
        b"UUID,Recipient,Sender,Subject,Time Processed\n",
        b"id,to,from,subject,date\n1,a@b.c,d@e.f,hi,2026-10-05T10:00:00Z\n",
        b"UUID,Recipient,Sender,Subject,Time Processed\n1,a@b.c,d@e.f,hi,never\n",
    ],
    ids=["empty", "png", "header-only", "missing-columns", "no-readable-time"],
)
def test_spark_bad_files_fail_with_the_local_one_line_error(spark, artifacts, tmp_path, capsys, content):
    path = tmp_path / "bad.csv"
    path.write_bytes(content)
    messages = []
    for engine in ("local", "spark"):
        argv = ["detect", str(path), "--out", str(tmp_path / f"{engine}.csv"), "--artifacts", str(artifacts)]
        argv += ["--engine", engine, "--master", "local[2]"]
        assert main(argv) == 2
        messages.append(capsys.readouterr().err.strip())
    assert messages[0].startswith("error: ") and "\n" not in messages[0]
    assert messages[1] == messages[0]


def test_spark_parity_on_csdmc2010(spark, artifacts, tmp_path):
    data = shared_data_file("csdmc2010_labeled.csv")
    _detect("local", data, tmp_path / "local.csv", artifacts)
    _detect("spark", data, tmp_path / "spark.csv", artifacts)
    _assert_same(_read_scores(tmp_path / "local.csv"), _read_scores(tmp_path / "spark.csv"))


# --------------------------------------------------------------------------- training on Spark


def test_spark_count_tables_equal_the_local_ones(spark, bursty_csv):
    """Every count table Spark learns (over all rows, by group-bys) equals the local one, and with
    all rows on the driver the fitted preprocessor is the local one."""
    from core.features import EmailFeatures
    from core.features.email import count_tables, row_keys
    from core.features.parsing import ParsedLog
    from core.spark.context import SCORABLE, with_context
    from core.spark.io import read_spark_log
    from core.spark.training import ROW_COLUMNS, collect_rows, parts_of, spark_count_tables

    log = read_log(bursty_csv)
    frame = EmailFeatures().add_context(log.frame[log.scorable].reset_index(drop=True))
    local = count_tables(ParsedLog(frame), train_keys=np.unique(row_keys(frame)))
    rows = with_context(read_spark_log(spark, str(bursty_csv)).frame).where(SCORABLE).select(*ROW_COLUMNS)
    parts = parts_of(rows).persist()
    remote = spark_count_tables(parts)
    assert set(remote.counts) == set(local.counts)
    for name, table in local.counts.items():
        pd.testing.assert_series_equal(remote.counts[name].sort_index(), table.sort_index(), check_names=False)
    assert np.array_equal(remote.ngram_df, local.ngram_df) and remote.ngram_df.sum() > 0
    assert remote.n_train == local.n_train == len(frame)
    assert np.array_equal(remote.train_keys, local.train_keys)
    # The driver's rows are the local frame again, in input order: same scaling, same inputs.
    sample = collect_rows(rows)
    parts.unpersist()
    expected, got = EmailFeatures(), EmailFeatures()
    np.testing.assert_array_equal(got.fit_transform_from_counts(remote, sample), expected.fit_transform(frame))
    np.testing.assert_array_equal(got.scaler_.mean_, expected.scaler_.mean_)
    np.testing.assert_array_equal(got.scaler_.scale_, expected.scaler_.scale_)
    assert got.internal_domains_ == expected.internal_domains_
    assert got.familiar_domains_.tolist() == expected.familiar_domains_.tolist()


def test_spark_trained_bundle_loads_locally_and_scores(spark, bursty_csv, tmp_path, capsys):
    """``train --engine spark``: tables over every row, network on a sample; the bundle is an
    ordinary one that the local engine loads and scores with."""
    artifacts = tmp_path / "artifacts"
    argv = ["train", str(bursty_csv), "--artifacts", str(artifacts), "--name", "on-spark", "--epochs", "2"]
    argv += ["--engine", "spark", "--master", "local[2]", "--sample-rows", "1000"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "count tables over all" in out and "saved bundle on-spark" in out
    detector = load_bundle("on-spark", artifacts)
    log = read_log(bursty_csv)
    n_usable = int(log.scorable.sum())
    # Every usable row counted once: trained on, left out by screening, or held out.
    assert detector.n_train_rows_ + detector.n_trimmed_rows_ + detector.n_test_rows_ == n_usable
    assert detector.n_trimmed_rows_ > 0 and detector.preprocessor_.n_train_ == detector.n_train_rows_
    metadata = json.loads((artifacts / "on-spark" / "metadata.json").read_text())
    engine = metadata["training_engine"]
    assert engine["engine"] == "spark" and 0 < engine["network_rows"] < n_usable
    assert set(metadata["training_data"]) == {"source", "rows", "rows_skipped", "sha256", "time_range"}
    scores = score_log(detector, log)
    errors = scores[ERROR].to_numpy()[scores["scored"].to_numpy()]
    assert np.isfinite(errors).all() and errors.std() > 0
    # The injected anomalies score higher than the rest, even after two epochs.
    labels = log.frame["label"].astype(int).to_numpy()[scores["scored"].to_numpy()]
    assert errors[labels == 1].mean() > errors[labels == 0].mean()
    assert main(["detect", str(bursty_csv), "--out", str(tmp_path / "s.csv"), "--artifacts", str(artifacts)]) == 0


# --------------------------------------------------------------------------- the triage workspace


def _db(path) -> str:
    return f"sqlite:///{path}"


@pytest.fixture
def triage_db(bursty_csv, artifacts, tmp_path):
    """A workspace holding an allow-list rule, a known event and verdicts on an earlier run."""
    from core.workspace.store import Workspace

    url = _db(tmp_path / "triage.db")
    _detect("local", bursty_csv, tmp_path / "first.csv", artifacts, "--db", url)
    ws = Workspace.open(url)
    first = ws.flagged(ws.runs()[0].id)
    ws.set_verdicts(1, first[UUID].iloc[:3].tolist(), "confirmed", analyst="ana")
    ws.set_verdicts(1, first[UUID].iloc[3:6].tolist(), "benign", analyst="ana")
    # A rule on the sender of a flagged row not yet reviewed, an event around another one's time.
    senders = sender_address(first[SENDER].iloc[6:])
    ws.add_rule("sender", senders[senders.str.contains("@")].iloc[0], analyst="ana")
    moment = pd.Timestamp(first[TIME].iloc[12])
    ws.add_event(moment - pd.Timedelta(minutes=20), moment + pd.Timedelta(minutes=20), "blast", analyst="ana")
    return url


def test_spark_detect_applies_the_workspace_and_records_the_same_run(
    spark, bursty_csv, artifacts, tmp_path, triage_db, capsys
):
    from core.workspace.feedback import MARK_COLUMNS
    from core.workspace.store import Workspace

    extra = ("--db", triage_db, "--flagged")
    _detect("local", bursty_csv, tmp_path / "local.csv", artifacts, *extra, tmp_path / "local-flagged.csv")
    _detect("spark", bursty_csv, tmp_path / "spark.csv", artifacts, *extra, tmp_path / "spark-flagged.csv")
    printed = capsys.readouterr().out
    local, remote = _read_scores(tmp_path / "local.csv"), _read_scores(tmp_path / "spark.csv")
    assert list(local.columns[-4:]) == list(MARK_COLUMNS)
    _assert_same(local, remote)
    # Every kind of mark is there for the parity to mean something.
    assert local["suppressed_by"].notna().any() and local["known_event"].notna().any()
    assert (local["verdict"] == "confirmed").any() and (local["carry_over"] == "known_benign_sender").any()
    assert not local.loc[local["suppressed_by"].notna() | local["known_event"].notna(), IS_ANOMALY].any()
    assert (tmp_path / "spark-flagged.csv").read_bytes() == (tmp_path / "local-flagged.csv").read_bytes()

    ws = Workspace.open(triage_db)
    spark_run, local_run = ws.runs()[:2]  # newest first
    facts = ("rows_total", "rows_scored", "threshold", "threshold_rule", "n_above", "n_flagged", "n_suppressed")
    facts += ("n_in_events", "model_name", "model_checksum", "data_name", "data_sha256")
    assert {f: getattr(spark_run, f) for f in facts} == {f: getattr(local_run, f) for f in facts}
    assert local_run.n_suppressed > 0 and local_run.n_in_events > 0 and local_run.n_flagged > 0
    stored = [ws.flagged(run.id, include_suppressed=True) for run in (local_run, spark_run)]
    for column in (UUID, "position", "suppressed_by", SENDER, SUBJECT, TIME, TOP_FIELD, REASON):
        assert stored[1][column].astype(str).tolist() == stored[0][column].astype(str).tolist(), column
    np.testing.assert_allclose(stored[1][ERROR], stored[0][ERROR], atol=1e-6, rtol=0)
    assert f"run {spark_run.id} (suppressed by allow-list rules: {spark_run.n_suppressed:,})" in printed


def test_spark_training_selection_equals_the_local_one(spark, bursty_csv, triage_db):
    from pyspark.sql import functions as F

    from core.spark.context import SCORABLE, T, with_context
    from core.spark.io import read_spark_log
    from core.spark.workspace import PROTECTED, training_rows
    from core.workspace.feedback import training_selection
    from core.workspace.store import Workspace

    ws = Workspace.open(triage_db)
    verdicts, events = ws.verdicts_by_uuid(), ws.active_events()
    log = read_log(bursty_csv)
    expected = training_selection(log.frame[log.scorable], verdicts, events)
    assert expected.n_confirmed_left_out and expected.n_benign_kept and expected.n_in_events_left_out
    rows = with_context(read_spark_log(spark, str(bursty_csv)).frame).where(F.col(SCORABLE))
    got = training_rows(spark, rows, verdicts, events, time_column=T)
    assert got.summary() == expected.summary()
    kept = got.rows.select(UUID, PROTECTED).toPandas()
    assert sorted(kept[UUID]) == sorted(expected.frame[UUID])
    assert sorted(kept.loc[kept[PROTECTED], UUID]) == sorted(expected.frame.loc[expected.keep, UUID])


def test_spark_train_use_verdicts_never_trims_benign_rows(spark, bursty_csv, tmp_path, capsys):
    """``train --engine spark --use-verdicts``: confirmed rows and rows in a known event left out,
    rows marked benign never trimmed: with every other row benign, screening trims none."""
    from core.workspace.feedback import training_selection
    from core.workspace.store import Workspace

    artifacts = tmp_path / "artifacts"
    shutil.copytree(BUNDLE, artifacts / BUNDLE.name)
    url = _db(tmp_path / "all.db")
    _detect("local", bursty_csv, tmp_path / "all.csv", artifacts, "--db", url, "--threshold", "-1")
    ws = Workspace.open(url)
    every = ws.flagged(1)
    ws.set_verdicts(1, every[UUID].iloc[:40].tolist(), "confirmed", analyst="ana")
    ws.set_verdicts(1, every[UUID].iloc[40:].tolist(), "benign", analyst="ana")
    first = pd.Timestamp(every[TIME].min())
    ws.add_event(first, first + pd.Timedelta(hours=3), "maintenance", analyst="ana")
    log = read_log(bursty_csv)
    expected = training_selection(log.frame[log.scorable], ws.verdicts_by_uuid(), ws.active_events())
    capsys.readouterr()
    argv = ["train", str(bursty_csv), "--artifacts", str(artifacts), "--name", "judged", "--epochs", "1"]
    argv += ["--engine", "spark", "--master", "local[2]", "--use-verdicts", "--db", url]
    assert main(argv) == 0
    assert expected.summary() in capsys.readouterr().out
    assert expected.n_in_events_left_out > 0 and expected.n_benign_kept == len(expected.frame)
    detector = load_bundle("judged", artifacts)
    assert detector.n_trimmed_rows_ == 0
    assert detector.n_train_rows_ + detector.n_test_rows_ == len(expected.frame)


def test_a_classic_session_ships_by_broadcast_and_its_errors_surface(spark, monkeypatch):
    from core.spark.scoring import _Shipped, is_connect

    assert not is_connect(spark)
    value = {"weights": np.arange(1000.0)}
    shipped = _Shipped(spark, value)
    assert shipped.broadcast is not None and shipped.file is None

    def total(batches):
        for batch in batches:
            yield pd.DataFrame({"total": [float(shipped.get()["weights"].sum())] * len(batch)})

    assert set(spark.range(4).repartition(2).mapInPandas(total, "total double").toPandas()["total"]) == {499500.0}

    def fails(payload):
        raise RuntimeError("broadcast refused")

    monkeypatch.setattr(spark.sparkContext, "broadcast", fails)
    with pytest.raises(RuntimeError, match="broadcast refused"):  # not hidden behind another way of shipping
        _Shipped(spark, value)
