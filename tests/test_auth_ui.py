"""Sign-in and roles in the dashboard under AppTest: the gate on every page, controls by role,
and refusals made on the server even when the browser sends a click it should not have."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from core.artifacts import list_bundles
from core.jobs import DONE, TrainingJob
from core.workspace import Workspace
from ui import state
from ui.data import demo_log

ROOT = Path(__file__).resolve().parents[1]
PAGES = ["dashboard.py", *sorted(str(p.relative_to(ROOT)) for p in (ROOT / "pages").glob("*.py"))]
AUTH = {
    "redirect_uri": "http://127.0.0.1:8501/oauth2callback",
    "cookie_secret": "not-a-secret-test-only",
    "client_id": "dashboard",
    "client_secret": "test-only",
    "server_metadata_url": "http://127.0.0.1:9/.well-known/openid-configuration",
}
ADMIN, VIC = "admin@example.org", "vic@example.org"


@pytest.fixture(scope="module")
def artifacts(tmp_path_factory):
    """A temporary artifacts folder with one tiny model, used by the pages through EMAIL_AD_ARTIFACTS."""
    path = tmp_path_factory.mktemp("artifacts")
    old = os.environ.get("EMAIL_AD_ARTIFACTS")
    os.environ["EMAIL_AD_ARTIFACTS"] = str(path)
    log = demo_log(400, seed=5)
    job = TrainingJob(log.frame[log.scorable], {"epochs": 2, "batch_size": 64, "seed": 0}, path, name="tiny")
    assert job.start().wait(180) and job.status == DONE, job.error
    yield path
    if old is None:
        os.environ.pop("EMAIL_AD_ARTIFACTS", None)
    else:
        os.environ["EMAIL_AD_ARTIFACTS"] = old


@pytest.fixture
def db(tmp_path, monkeypatch):
    """A fresh workspace database per test (the first signed-in user becomes its admin)."""
    url = f"sqlite:///{tmp_path / 'workspace.db'}"
    monkeypatch.setenv("EMAIL_AD_DB", url)
    return url


def page(path: str, user: dict | None = None) -> AppTest:
    at = AppTest.from_file(str(ROOT / path), default_timeout=120)
    if user is not None:
        at.secrets["auth"] = AUTH
        at.user = user
    return at.run()


def signed_in(email: str) -> dict:
    return {"is_logged_in": True, "email": email}


def buttons(at: AppTest) -> list[str]:
    return [b.label for b in at.button] + [b.label for b in at.get("form_submit_button")]


@pytest.mark.parametrize("path", PAGES)
def test_signed_out_every_page_shows_only_the_sign_in_page(path, artifacts, db):
    at = page(path, {"is_logged_in": False})
    assert not at.exception
    assert buttons(at) == ["Sign in"]
    assert [t.value for t in at.title] == ["Email log anomaly detector"]
    assert not at.dataframe and not at.sidebar.markdown  # no data, no models, no session status
    assert Workspace(db).users() == []  # nobody recorded before signing in


def test_first_user_is_admin_and_sees_the_delete_control_and_the_role_form(artifacts, db):
    at = page("pages/5_Models.py", signed_in("Admin@Example.org"))
    assert not at.exception
    assert "Delete…" in buttons(at) and "Sign out" in buttons(at)
    assert f"{ADMIN} (admin)" in [t.value for t in at.sidebar.text]
    access = page("pages/8_Access.py", signed_in(ADMIN))
    assert "Save role" in buttons(access)
    assert Workspace(db).user_role(ADMIN) == "admin"


def test_a_viewer_sees_no_write_controls(artifacts, db):
    Workspace(db).ensure_user(ADMIN)
    models = page("pages/5_Models.py", signed_in(VIC))
    assert Workspace(db).user_role(VIC) == "viewer"
    assert not models.exception and models.dataframe  # reads the models…
    assert "Delete…" not in buttons(models)  # …but may not delete them
    data = page("pages/1_Data.py", signed_in(VIC))
    assert [i.value for i in data.info] == [
        "Your role viewer may not upload logs; ask an administrator for the analyst role."
    ]
    assert not data.get("file_uploader")
    train = page("pages/2_Train.py", signed_in(VIC))
    assert "Your role viewer may not train models" in train.info[0].value and not train.get("form_submit_button")
    access = page("pages/8_Access.py", signed_in(VIC))
    assert access.dataframe and "Save role" not in buttons(access)
    for path in ("pages/3_Detect.py", "pages/4_Explore.py", "pages/7_Health.py"):
        scoring = page(path, signed_in(VIC))
        assert [i.value for i in scoring.info] == [
            "Your role viewer may not score logs; ask an administrator for the analyst role."
        ]


def test_a_delete_clicked_after_the_role_was_taken_away_is_refused_on_the_server(artifacts, db):
    ws = Workspace(db)
    ws.ensure_user(ADMIN)
    ws.set_role(VIC, "admin", by=ADMIN)
    at = page("pages/5_Models.py", signed_in(VIC))
    at.selectbox(key=state.MODELS_DELETE_PICK).select("tiny").run()
    at.button(key=state.MODELS_DELETE).click().run()
    ws.set_role(VIC, "viewer", by=ADMIN)  # while the confirmation is on VIC's screen
    at.button(key=state.MODELS_CONFIRM).click().run()
    assert "tiny" in [b.name for b in list_bundles(artifacts)]
    assert [e.value for e in at.error] == [
        "Your role viewer may not delete models and runs; ask an administrator for the admin role."
    ]


def test_an_admin_changes_a_role_on_the_access_page_and_it_is_audited(artifacts, db):
    ws = Workspace(db)
    ws.ensure_user(ADMIN)
    ws.ensure_user(VIC)
    at = page("pages/8_Access.py", signed_in(ADMIN))
    at.selectbox(key=state.ACCESS_USER).select(VIC)
    at.selectbox(key=state.ACCESS_ROLE).select("analyst")
    at.get("form_submit_button")[0].click().run()
    assert not at.exception
    assert [s.value for s in at.success] == [f"{VIC} is now analyst."]
    assert ws.user_role(VIC) == "analyst"
    last = ws.audit()[-1]
    assert (last.analyst, last.action, last.entity_id) == (ADMIN, "role", VIC)


def test_without_auth_the_local_user_is_admin_as_before(artifacts, db, monkeypatch):
    monkeypatch.setenv("EMAIL_AD_ANALYST", "local-analyst")
    models = page("pages/5_Models.py")
    assert not models.exception and "Delete…" in buttons(models) and "Sign out" not in buttons(models)
    access = page("pages/8_Access.py")
    assert "Sign-in is not configured: you (local-analyst) work alone" in access.info[0].value
    assert not Path(db.removeprefix("sqlite:///")).exists()  # no database opened for nothing


def recorded_run(db: str):
    """A run of the demo log by the tiny model, recorded by the admin (the first user)."""
    from tests.workspace_helpers import sample_scores

    ws = Workspace(db)
    ws.ensure_user(ADMIN)
    return ws, ws.record_run(sample_scores(), 1.0, model_name="tiny", data_name="mail.csv", analyst=ADMIN)


def test_a_viewer_reads_a_run_but_gets_no_verdict_rule_export_or_delete_controls(artifacts, db):
    ws, run = recorded_run(db)
    at = page("pages/6_Review.py", signed_in(VIC))
    assert not at.exception
    assert at.dataframe  # the runs and the queue are readable
    assert not {"Confirmed", "Benign", "Review", "Add rule", "Remove rule", "Delete run"} & set(buttons(at))
    assert not at.get("download_button")
    assert any("verdicts and rules need the analyst role" in c.value for c in at.caption)


def test_a_verdict_clicked_after_the_role_was_taken_away_is_refused_on_the_server(artifacts, db):
    ws, run = recorded_run(db)
    ws.set_role(VIC, "analyst", by=ADMIN)
    at = page("pages/6_Review.py", signed_in(VIC))
    at.multiselect(key=state.REVIEW_PICK).select("msg-005").run()
    assert "Benign" in buttons(at) and at.get("download_button")
    ws.set_role(VIC, "viewer", by=ADMIN)  # while the verdict buttons are on VIC's screen
    at.button(key=f"{state.REVIEW_VERDICT}.benign").click().run()
    assert [e.value for e in at.error] == [
        "Your role viewer may not write verdicts; ask an administrator for the analyst role."
    ]
    assert (ws.flagged(run.id)["verdict"] == "").all()


def test_an_admin_deletes_a_run_and_a_model_and_both_are_audited(artifacts, db):
    import shutil

    ws, run = recorded_run(db)
    at = page("pages/6_Review.py", signed_in(ADMIN))
    at.checkbox(key=state.REVIEW_DELETE_SURE).check().run()
    at.button(key=state.REVIEW_DELETE).click().run()
    assert not at.exception and ws.runs() == []
    assert [s.value for s in at.success] == [f"Run {run.id} deleted ({run.n_flagged:,} flagged, 0 verdicts)."]
    (entry,) = [e for e in ws.audit() if e.action == "run.delete"]
    assert entry.analyst == ADMIN

    shutil.copytree(artifacts / "tiny", artifacts / "spare")
    models = page("pages/5_Models.py", signed_in(ADMIN))
    models.selectbox(key=state.MODELS_DELETE_PICK).select("spare").run()
    models.button(key=state.MODELS_DELETE).click().run()
    models.button(key=state.MODELS_CONFIRM).click().run()
    assert not models.exception and "spare" not in [b.name for b in list_bundles(artifacts)]
    (entry,) = [e for e in ws.audit() if e.action == "model.delete"]
    assert (entry.analyst, entry.entity_id) == (ADMIN, "spare")
