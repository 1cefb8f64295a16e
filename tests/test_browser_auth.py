"""Sign-in end to end: the real app under ``streamlit run`` with ``[auth]`` pointing at a local
OpenID Connect provider (``oidc-provider-mock``, started here on a free port), driven by headless
Chromium. Each person has their own browser context (their own sign-in cookie).

Walk: signed out → only the sign-in page; the first user signs in → admin; a second user →
viewer without write controls; a delete that viewer clicks on a confirmation left on screen is
refused on the server; the admin makes them an analyst on the Access page (audited); the analyst
sees the upload controls. Screenshots go to ``test-results/auth_*.png``. Skipped when Chromium is
missing, unless CI=true (then it fails).
"""

from __future__ import annotations

import json
import os
import re

import pytest

from core.artifacts import list_bundles
from core.jobs import DONE, TrainingJob
from core.workspace import Workspace
from tests.browser import RESULTS, ROOT, chromium, dashboard, free_port, new_page, shot, wait_idle
from ui.data import demo_log

ADMIN, VIC = "admin@example.org", "vic@example.org"
oidc_provider_mock = pytest.importorskip("oidc_provider_mock")


@pytest.fixture(scope="module")
def provider():
    """A local OIDC provider that lets anyone in under the ``sub`` typed on its form (email = sub)."""
    with oidc_provider_mock.run_server_in_thread(port=free_port()) as server:
        yield f"http://127.0.0.1:{server.server_port}"


@pytest.fixture(scope="module")
def server(tmp_path_factory, provider):
    base = tmp_path_factory.mktemp("auth-e2e")
    artifacts, db_url = base / "artifacts", f"sqlite:///{base / 'workspace.db'}"
    log = demo_log(400, seed=5)
    job = TrainingJob(log.frame[log.scorable], {"epochs": 2, "batch_size": 64, "seed": 0}, artifacts, name="tiny")
    assert job.start().wait(300) and job.status == DONE, job.error
    port = free_port()
    secrets = base / "secrets.toml"
    secrets.write_text(
        "[auth]\n"
        f'redirect_uri = "http://127.0.0.1:{port}/oauth2callback"\n'
        'cookie_secret = "browser-test-only-cookie-secret"\n'
        'client_id = "email-ad-dashboard"\n'
        'client_secret = "browser-test-only"\n'
        f'server_metadata_url = "{provider}/.well-known/openid-configuration"\n'
    )
    env = {
        **os.environ,
        "EMAIL_AD_ARTIFACTS": str(artifacts),
        "EMAIL_AD_DB": db_url,
        "PYTHONPATH": str(ROOT),
    }
    log_path = base / "streamlit.log"
    with dashboard(env, log_path, "--secrets.files", str(secrets), port=port) as url:
        yield {"url": url, "artifacts": artifacts, "db": db_url, "log": log_path}


@pytest.fixture(scope="module")
def browser():
    with chromium() as browser:
        yield browser


def sign_in(page, url: str, email: str) -> None:
    page.goto(url)
    page.get_by_role("button", name="Sign in").click()
    page.locator('input[name="sub"]').first.fill(email)  # the provider's authorize form
    page.get_by_role("button", name="Authorize").click()
    page.get_by_text(re.compile(re.escape(email) + r" \((viewer|analyst|admin)\)")).wait_for()
    wait_idle(page)


def open_page(page, url: str, path: str) -> None:
    page.goto(f"{url}/{path}")
    page.get_by_role("button", name="Sign out").wait_for()
    wait_idle(page)


def set_role(page, url: str, email: str, role: str) -> None:
    open_page(page, url, "Access")
    page.get_by_role("combobox", name="User", exact=True).click()
    page.get_by_role("option", name=email).click()
    page.get_by_role("combobox", name="Role", exact=True).click()
    page.get_by_role("option", name=role, exact=True).click()
    page.get_by_role("button", name="Save role").click()
    page.get_by_text(f"{email} is now {role}.").wait_for()
    wait_idle(page)


def test_sign_in_and_roles_in_a_real_browser(server, browser):
    url, ws = server["url"], Workspace(server["db"])
    admin, vic = new_page(browser), new_page(browser)
    step = "signed out"
    try:
        admin.goto(url)
        admin.get_by_role("button", name="Sign in").wait_for()
        wait_idle(admin)
        shot(admin, "auth_01_signed_out")
        assert admin.get_by_role("button").all_inner_texts() == ["Sign in"]
        assert admin.get_by_text("Saved models").count() == 0 and admin.get_by_text("Load demo data").count() == 0
        admin.goto(f"{url}/Models")  # every page, not only Home
        admin.get_by_role("button", name="Sign in").wait_for()
        assert admin.get_by_text("Saved models").count() == 0

        step = "first user"
        sign_in(admin, url, ADMIN)
        assert admin.get_by_text(f"{ADMIN} (admin)").is_visible()
        shot(admin, "auth_02_admin_home")

        step = "second user"
        sign_in(vic, url, VIC)
        assert ws.user_role(VIC) == "viewer"
        open_page(vic, url, "Models")
        vic.locator('[data-testid="stDataFrame"]').first.wait_for()  # the models table (a canvas)
        assert vic.get_by_role("button", name="Delete…").count() == 0
        shot(vic, "auth_03_viewer_models")
        open_page(vic, url, "Data")
        vic.get_by_text("Your role viewer may not upload logs; ask an administrator for the analyst role.").wait_for()
        assert vic.locator('[data-testid="stFileUploader"]').count() == 0
        shot(vic, "auth_04_viewer_data")

        step = "forced write"
        # VIC is an admin for a moment, opens the delete confirmation, loses the role, then clicks.
        set_role(admin, url, VIC, "admin")
        open_page(vic, url, "Models")
        pick = vic.get_by_role("combobox", name="Model to delete")
        pick.click()
        pick.fill("tiny")  # filters the open list down to the one model
        vic.get_by_role("option", name="tiny", exact=True).click()
        wait_idle(vic)
        vic.get_by_role("button", name="Delete…").click()
        vic.get_by_role("button", name="Yes, delete").wait_for()
        set_role(admin, url, VIC, "viewer")
        vic.get_by_role("button", name="Yes, delete").click()
        vic.get_by_text(
            "Your role viewer may not delete models and runs; ask an administrator for the admin role."
        ).wait_for()
        wait_idle(vic)
        shot(vic, "auth_05_viewer_delete_refused")
        assert "tiny" in [b.name for b in list_bundles(server["artifacts"])]

        step = "analyst"
        set_role(admin, url, VIC, "analyst")
        shot(admin, "auth_06_admin_access")
        changes = [(e.analyst, json.loads(e.old)["role"], json.loads(e.new)["role"]) for e in ws.audit()]
        assert changes[-3:] == [(ADMIN, "viewer", "admin"), (ADMIN, "admin", "viewer"), (ADMIN, "viewer", "analyst")]
        open_page(vic, url, "Data")
        vic.locator('[data-testid="stFileUploader"]').first.wait_for()
        assert vic.get_by_text(f"{VIC} (analyst)").is_visible()
        shot(vic, "auth_07_analyst_data")

        step = "analyst verdict"
        from tests.workspace_helpers import sample_scores

        run = Workspace(server["db"], actor=ADMIN).record_run(
            sample_scores(), 1.0, model_name="tiny", data_name="m.csv"
        )
        open_page(vic, url, "Review")
        vic.get_by_text(f"Flagged queue of run {run.id}").wait_for()
        pick = vic.locator('[data-testid="stMultiSelect"]', has_text="Or pick messages by UUID").locator("input")
        pick.click()
        pick.fill("msg-005")  # type to filter, Enter picks the match
        pick.press("Enter")
        pick.press("Escape")
        vic.get_by_text("Verdict for the 1 selected message(s)").wait_for()
        wait_idle(vic)
        vic.get_by_role("button", name="Benign", exact=True).click()
        vic.get_by_text("1 marked benign.").wait_for()
        wait_idle(vic)
        shot(vic, "auth_08_analyst_verdict")
        stored = ws.flagged(run.id).set_index("UUID").loc["msg-005"]
        assert (stored["verdict"], stored["verdict_analyst"]) == ("benign", VIC)
        assert [(e.analyst, e.action) for e in ws.audit(run.id)] == [(ADMIN, "run"), (VIC, "verdict")]

        step = "sign out"
        vic.get_by_role("button", name="Sign out").click()
        # The provider may ask to confirm ending its own session (RP-initiated logout).
        vic.get_by_role("button", name=re.compile("^(End session|Sign in)$")).first.wait_for()
        if vic.get_by_role("button", name="End session").count():
            vic.get_by_role("button", name="End session").click()
        vic.goto(f"{url}/Models")
        vic.get_by_role("button", name="Sign in").wait_for()
        assert vic.get_by_role("button", name="Sign out").count() == 0
        shot(vic, "auth_09_signed_out_again")
    except Exception:
        for name, page in (("admin", admin), ("vic", vic)):
            page.screenshot(path=str(RESULTS / f"auth_failed_{step.replace(' ', '_')}_{name}.png"))
        print(server["log"].read_text()[-3000:])
        raise
