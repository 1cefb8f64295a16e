"""Model health: the drift check says "fits" for more of the same mail and names the change otherwise."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from sklearn.model_selection import train_test_split

from core.demo import make_demo_log
from core.features import EmailFeatures
from core.health import VERDICTS, HealthMonitor, HealthProfile, build_profile, check_health
from tests.conftest import log_from_frame


def _rows(frame: pd.DataFrame) -> pd.DataFrame:
    log = log_from_frame(frame)
    return log.frame[log.scorable].reset_index(drop=True)


@pytest.fixture(scope="module")
def reference():
    """Features fitted on 80% of one organisation's log, profiled on the held-out 20%."""
    rows = EmailFeatures().add_context(_rows(make_demo_log(3000, seed=0)))
    train, test = train_test_split(np.arange(len(rows)), test_size=0.2, random_state=0)
    features = EmailFeatures().fit(rows.iloc[np.sort(train)])
    held_out = rows.iloc[np.sort(test)].reset_index(drop=True)
    described = features.describe(held_out)
    errors = np.random.default_rng(0).gamma(2.0, 1.0, len(described))
    fields = dict(zip(features.feature_sources_, features.feature_fields_, strict=True))
    profile = build_profile(described, fields, errors, 95.0, frame=held_out)
    return features, profile, float(np.percentile(errors, 95))


def _health(reference, frame: pd.DataFrame, *, errors=None):
    features, profile, threshold = reference
    rows = features.add_context(_rows(frame))
    described = features.describe(rows)
    if errors is None:  # errors like the reference's: the model itself is not what is tested here
        errors = np.random.default_rng(1).gamma(2.0, 1.0, len(described))
    return check_health(profile, described, errors, errors > threshold, frame=rows)


@pytest.fixture(scope="module")
def same_organisation():
    return make_demo_log(2500, seed=5)


def test_more_mail_of_the_same_organisation_fits(reference, same_organisation):
    report = _health(reference, same_organisation)
    assert report.verdict == "fits", report.reasons
    assert report.drift_share < 0.3


def test_another_organisation_is_retrain_because_of_unknown_domains(reference, same_organisation):
    other = same_organisation.copy()
    for column in ("Sender", "Recipient"):
        other[column] = other[column].str.replace(
            r"@([A-Za-z0-9-]+)\.[A-Za-z0-9.-]+", lambda m: "@contoso-" + m.group(1) + ".example", regex=True
        )
    report = _health(reference, other)
    assert report.verdict == "retrain"
    assert report.reasons[0].startswith("mail from sender domains never seen in training: 100% of mail")


def test_shifted_time_zone_names_the_hour_mix_first(reference, same_organisation):
    shifted = same_organisation.copy()
    times = pd.to_datetime(shifted["Time Processed"], utc=True) + pd.Timedelta(hours=7)
    shifted["Time Processed"] = times.dt.strftime("%Y-%m-%dT%H:%M:%SZ")
    report = _health(reference, shifted)
    assert report.verdict in ("drifting", "retrain")
    assert report.reasons[0].startswith("hour-of-day mix shifted")


def test_changed_export_with_empty_subjects_names_the_subject(reference, same_organisation):
    changed = same_organisation.assign(Subject="")
    report = _health(reference, changed)
    assert report.verdict in ("drifting", "retrain")
    assert report.reasons[0] == "Subject empty in 100% of mail, 0% in training"


def test_new_bulk_sender_is_named(reference, same_organisation):
    bulk = same_organisation.sample(700, random_state=1).assign(
        Sender="Deals <news@mailer.bulkplatform.example>", Subject="Weekly deals"
    )
    bulk["UUID"] = bulk["UUID"] + "-bulk"
    log = pd.concat([same_organisation, bulk]).sort_values("Time Processed")
    report = _health(reference, log)
    assert report.verdict in ("drifting", "retrain")
    assert report.reasons[0].startswith("new bulk sender news@mailer.bulkplatform.example: 22% of mail")


def test_flagged_share_far_above_expected_advises_retraining(reference, same_organisation):
    _, _, threshold = reference
    report = _health(reference, same_organisation, errors=np.full(len(same_organisation), threshold * 2))
    assert report.verdict == "retrain"
    assert "100.0% of mail flagged, 20.0x the 5% expected" in report.reasons


def test_chunks_add_up_to_the_whole(reference, same_organisation):
    """Scoring feeds the monitor chunk by chunk: the report is the same as in one go."""
    features, profile, threshold = reference
    rows = features.add_context(_rows(same_organisation))
    described = features.describe(rows)
    errors = np.random.default_rng(2).gamma(2.0, 1.0, len(rows))
    whole = check_health(profile, described, errors, errors > threshold, frame=rows)
    monitor = HealthMonitor(profile)
    for start in range(0, len(rows), 700):
        part = slice(start, start + 700)
        monitor.update(described.iloc[part], errors[part], errors[part] > threshold, frame=rows.iloc[part])
    chunked = monitor.report()
    assert chunked.verdict == whole.verdict and chunked.reasons == whole.reasons
    pd.testing.assert_frame_equal(chunked.features, whole.features)


def test_profile_is_json_and_round_trips(reference, same_organisation):
    _, profile, _ = reference
    restored = HealthProfile.from_dict(json.loads(json.dumps(profile.to_dict())))
    assert restored == profile
    report = _health((reference[0], restored, reference[2]), same_organisation)
    payload = json.loads(json.dumps(report.to_dict()))
    assert payload["verdict"] in VERDICTS and payload["features"] and payload["indicators"]


def test_a_handful_of_rows_is_not_judged(reference, same_organisation):
    report = _health(reference, same_organisation.head(20))
    assert report.verdict == "fits" and report.reasons == []
    assert "too few to judge" in report.notes[0]


# -- wired into training, bundles, scoring and the command line ---------------------------


@pytest.fixture(scope="module")
def saved_model(tmp_path_factory, trained_detector):
    from core.artifacts import save_bundle

    root = tmp_path_factory.mktemp("health-artifacts")
    save_bundle(trained_detector, root, name="current")
    return root


def test_training_profiles_the_held_out_rows_and_the_bundle_keeps_it(trained_detector, saved_model):
    from core.artifacts import load_bundle

    profile = trained_detector.health_profile_
    assert profile.n_reference == trained_detector.n_test_rows_
    assert {f.name for f in profile.features} >= {"sender_new", "hour", "subject_length"}
    assert load_bundle("current", saved_model).health_profile_ == profile


def test_health_command_json_has_a_verdict_and_per_feature_rows(saved_model, demo_csv, capsys):
    from core.cli import main

    assert main(["health", str(demo_csv), "--artifacts", str(saved_model), "--json"]) == 0
    payload = json.loads(capsys.readouterr().out)
    assert payload["verdict"] in VERDICTS and payload["model"] == "current"
    assert {"feature", "field", "distance", "p_adjusted", "drifted"} <= set(payload["features"][0])


def test_detect_prints_a_one_line_health_verdict(saved_model, demo_csv, tmp_path, capsys):
    from core.cli import main

    assert main(["detect", str(demo_csv), "--artifacts", str(saved_model), "--out", str(tmp_path / "s.csv")]) == 0
    assert capsys.readouterr().out.startswith("health: ")


def test_bundle_without_a_profile_says_retrain_to_enable(tmp_path, demo_csv, capsys):
    """Bundles saved before health checks (the pinned format-2 fixture) still score; health asks to retrain."""
    import shutil

    from core.cli import main
    from tests.fixtures.make_pinned_scores import BUNDLE

    shutil.copytree(BUNDLE, tmp_path / BUNDLE.name)
    assert main(["health", str(demo_csv), "--artifacts", str(tmp_path), "--json"]) == 0
    payload = json.loads(capsys.readouterr().out)
    assert payload["verdict"] is None and "retrain" in payload["note"]
