import io

import numpy as np
import pandas as pd
import pytest

from core.errors import DataError
from core.loading import read_log
from core.schema import TIME
from core.scoring import (
    ERROR,
    IS_ANOMALY,
    REASON,
    SCORED,
    TOP_FIELD,
    ThresholdView,
    explain,
    flagged_csv,
    resolve_threshold,
    score_log,
    scores_csv,
    to_csv_bytes,
    write_csv,
)


@pytest.fixture(scope="module")
def scores(trained_detector, demo_log):
    return score_log(trained_detector, demo_log)


def test_score_log_one_row_per_input_row_in_order(scores, demo_log):
    assert len(scores) == len(demo_log)
    assert list(scores["UUID"]) == list(demo_log.frame["UUID"])
    assert scores[SCORED].all() and np.isfinite(scores[ERROR]).all()
    field_sum = scores[["error_sender", "error_recipient", "error_subject", "error_time_processed"]].sum(axis=1)
    np.testing.assert_allclose(field_sum, scores[ERROR], rtol=1e-4)
    assert set(scores[TOP_FIELD]) <= {"Sender", "Recipient", "Subject", "Time Processed"}
    assert (scores[REASON].str.len() > 0).all()


def test_unscored_rows_appear_with_reason(trained_detector):
    text = (
        "UUID,Recipient,Sender,Subject,Time Processed\n"
        "a,x@corp.com,y@corp.com,Hi,2026-11-02T09:00:00Z\n"
        "b,x@corp.com,y@corp.com,Hi,someday\n"
    )
    result = score_log(trained_detector, read_log(text.encode()))
    assert list(result[SCORED]) == [True, False]
    assert np.isnan(result.loc[1, ERROR]) and not result.loc[1, IS_ANOMALY]
    assert "someday" in result.loc[1, REASON]


def test_scoring_file_of_only_new_senders(trained_detector):
    rows = [
        f"n{i},someone{i}@elsewhere{i}.example,stranger{i}@never-seen{i}.test,Hello {i},2026-12-01T1{i % 10}:00:00Z"
        for i in range(30)
    ]
    log = read_log(("UUID,Recipient,Sender,Subject,Time Processed\n" + "\n".join(rows)).encode())
    result = score_log(trained_detector, log)
    assert result["new_sender"].all() and np.isfinite(result[ERROR]).all()


def test_a_row_without_error_gets_one_reason_not_two(trained_detector, demo_log):
    frame = demo_log.frame[demo_log.scorable].head(3).reset_index(drop=True)
    pre = trained_detector.preprocessor_
    _, reasons = explain(pre, frame, np.zeros((3, len(pre.get_feature_names_out()))))
    assert not reasons.str.contains(";").any()


def test_resolve_threshold_rules():
    errors = np.arange(1, 101, dtype=float)
    assert resolve_threshold(errors, fitted=7.0) == 7.0
    assert resolve_threshold(errors, fitted=7.0, value=3.5) == 3.5
    assert resolve_threshold(errors, fitted=7.0, percentile=90) == pytest.approx(np.percentile(errors, 90))
    assert (errors > resolve_threshold(errors, fitted=7.0, rate=0.05)).sum() == 5
    assert (errors > resolve_threshold(errors, fitted=7.0, top=10)).sum() == 10
    with pytest.raises(DataError, match="one threshold rule"):
        resolve_threshold(errors, fitted=7.0, top=3, rate=0.1)
    with pytest.raises(DataError, match="between 0 and 1"):
        resolve_threshold(errors, fitted=7.0, rate=5)


def test_threshold_view_counts_match_scan(scores):
    view = ThresholdView.from_scores(scores)
    errors = scores[ERROR].to_numpy()
    for t in np.quantile(errors, [0.1, 0.5, 0.95, 0.999]):
        assert view.flagged_count(t) == (errors > t).sum()
        top = view.flagged_positions(t, limit=5)
        assert list(errors[top]) == sorted(errors[errors > t], reverse=True)[:5]
    assert view.bin_counts.sum() == len(errors)


def test_flagged_csv_sorted_and_injection_safe(scores):
    scores = scores.copy()
    threshold = float(np.quantile(scores[ERROR], 0.9))
    top = scores[ERROR].idxmax()
    scores.loc[top, "UUID"] = '=HYPERLINK("http://evil")'
    out = pd.read_csv(io.BytesIO(flagged_csv(scores, threshold)), dtype=str, keep_default_na=False)
    assert list(out.columns) == ["UUID", ERROR, TOP_FIELD, REASON]
    assert len(out) == (scores[ERROR] > threshold).sum()
    assert out.loc[0, "UUID"] == '\'=HYPERLINK("http://evil")'
    assert (np.diff(out[ERROR].astype(float)) <= 0).all()


@pytest.mark.parametrize("value", ["=1+1", "+1", "-1", "@SUM(A1)", "\tx", "\rx"])
def test_exports_escape_formula_leads(value):
    written = to_csv_bytes(pd.DataFrame({"s": [value, "fine"]}))
    read = pd.read_csv(io.BytesIO(written), dtype=str, keep_default_na=False)
    assert read["s"].tolist() == ["'" + value, "fine"]


def test_scores_csv_round_trips(scores):
    out = pd.read_csv(io.BytesIO(scores_csv(scores)))
    assert len(out) == len(scores) and set(out[IS_ANOMALY]) <= {0, 1}
    assert out[IS_ANOMALY].sum() == scores[IS_ANOMALY].sum()


def test_csv_written_in_blocks_is_one_file_with_one_header(scores, tmp_path):
    """Blocks formatted side by side come out in row order with the header once: a path
    written in 7-row blocks holds the same bytes as one buffer written whole."""
    whole = to_csv_bytes(scores)
    written = tmp_path / "scores.csv"
    write_csv(scores, written, block_rows=7)
    assert written.read_bytes() == whole
    read = pd.read_csv(written, keep_default_na=False, dtype=str)
    assert read["UUID"].tolist() == scores["UUID"].tolist()
    # Rows only (the Spark engine's pieces): the same lines without the header.
    assert to_csv_bytes(scores, header=False) == whole.split(b"\n", 1)[1]


def test_csv_times_are_iso_utc_seconds_and_missing_times_empty():
    times = pd.to_datetime(
        ["2026-01-01 10:00:00.9", None, "1969-12-31 23:59:59", "2026-06-01 12:00:00+02:00"], format="mixed", utc=True
    )
    written = to_csv_bytes(pd.DataFrame({"t": times}))
    assert written.decode().splitlines() == [
        '"t"',
        '"2026-01-01T10:00:00Z"',
        "",
        '"1969-12-31T23:59:59Z"',
        '"2026-06-01T10:00:00Z"',
    ]


def test_scores_csv_flags_at_the_analysts_threshold(scores):
    threshold = float(np.quantile(scores[ERROR], 0.5))
    out = pd.read_csv(io.BytesIO(scores_csv(scores, threshold)))
    assert out[IS_ANOMALY].sum() == (scores[ERROR] > threshold).sum() != scores[IS_ANOMALY].sum()


def test_explanations_name_the_injected_cause():
    """Trained on last month's normal mail of the demo organisation, scoring this month's:
    each injected kind is explained by what was injected."""
    from core.demo import make_demo_log
    from core.model import AutoencoderDetector
    from tests.conftest import log_from_frame

    past, new = make_demo_log(4000, seed=7), make_demo_log(2500, seed=8)
    normal = past[past["label"] == 0]
    det = AutoencoderDetector(epochs=30, batch_size=64, seed=0).fit(log_from_frame(normal).frame)
    result = score_log(det, log_from_frame(new))
    kind = new["anomaly_kind"].fillna("").to_numpy()

    def share(kind_name, condition):
        rows = result[kind == kind_name]
        assert len(rows) >= 5
        return condition(rows).mean()

    assert share("lookalike_domain", lambda r: (r[TOP_FIELD] == "Sender") & r[REASON].str.contains("looks like")) >= 0.8
    assert share("sender_burst", lambda r: r[REASON].str.contains("burst:")) >= 0.8
    assert share("first_time_sender_to_exec", lambda r: r[TOP_FIELD] == "Sender") >= 0.8
    assert share("phishing_subject", lambda r: r[REASON].str.contains("subject")) >= 0.5
    assert share("after_hours_bulk", lambda r: r[REASON].str.contains("recipients")) >= 0.5


def test_scoring_in_worker_processes_gives_the_same_scores_and_health(trained_detector, demo_log):
    from core.health import monitor_for
    from core.scoring import workers_for

    assert workers_for(2, n_chunks=len(demo_log.frame) // 500) == 2  # this test really forks
    alone, forked = monitor_for(trained_detector), monitor_for(trained_detector)
    done = []
    one = score_log(trained_detector, demo_log, chunk_rows=500, monitor=alone)
    many = score_log(
        trained_detector, demo_log, chunk_rows=500, monitor=forked, n_jobs=2, progress=lambda d, n: done.append((d, n))
    )
    pd.testing.assert_frame_equal(many, one)
    assert forked.report().to_dict() == alone.report().to_dict()
    assert [d for d, _ in done] == sorted(d for d, _ in done) and done[-1][0] == done[-1][1] == one["scored"].sum()


def test_unscored_rows_keep_their_place_among_chunks_scored_in_workers(trained_detector, demo_log):
    """Rows with unreadable times between chunks scored in forked workers: every row's top field
    and reason (Arrow text built in the workers) lands on its own row, as in one process."""
    frame = demo_log.frame.head(1200).copy()
    frame[TIME] = frame[TIME].dt.strftime("%Y-%m-%dT%H:%M:%SZ")
    unreadable = [0, 299, 300, 301, 777, 1199]
    frame.loc[unreadable, TIME] = [f"never-{i}" for i in unreadable]
    log = read_log(frame.to_csv(index=False).encode())
    one = score_log(trained_detector, log, chunk_rows=300)
    many = score_log(trained_detector, log, chunk_rows=300, n_jobs=2)
    pd.testing.assert_frame_equal(many, one)
    assert many[REASON].dtype == "str" and (~many[SCORED]).sum() == len(unreadable)
    for i in unreadable:
        assert many.loc[i, REASON] == f"not scored: time 'never-{i}' can't be read" and many.loc[i, TOP_FIELD] == ""
    assert (many.loc[many[SCORED], REASON].str.len() > 0).all()
