"""Roles on SQLite and PostgreSQL: who may do what, checked by the workspace itself, and every change audited."""

from __future__ import annotations

import json

import pytest

from core.access import ACTIONS, ROLES, PermissionDenied, allowed, permissions, require
from core.errors import DataError
from core.workspace import Workspace
from tests.workspace_helpers import sample_scores

ADMIN, ANA, VIC = "admin@example.org", "ana@example.org", "vic@example.org"


def test_the_matrix_each_role_may_do_what_the_one_below_may_and_more():
    assert permissions("viewer") == ["read"]
    assert set(permissions("analyst")) == {"read", "upload", "train", "score", "verdicts", "rules", "events", "export"}
    assert set(permissions("admin")) == set(ACTIONS)
    for action in ACTIONS:
        granted = [allowed(role, action) for role in ROLES]
        assert granted == sorted(granted)  # once a role may, every higher role may
    assert not allowed(None, "read") and not allowed("root", "read")


def test_a_refusal_is_one_line_naming_the_role_to_ask_for():
    with pytest.raises(PermissionDenied) as refused:
        require("viewer", "verdicts")
    assert str(refused.value) == "Your role viewer may not write verdicts; ask an administrator for the analyst role."
    assert isinstance(refused.value, DataError)  # the CLI and pages show DataErrors as one line
    with pytest.raises(PermissionDenied, match="Your role analyst may not delete models and runs; .* admin role"):
        require("analyst", "delete")
    with pytest.raises(DataError, match="Unknown action 'fly'"):
        require("admin", "fly")


def test_first_user_becomes_admin_everyone_else_starts_as_viewer(db_url):
    ws = Workspace(db_url)
    assert ws.user_role(ADMIN) is None and ws.users() == []
    assert ws.ensure_user(" Admin@Example.org ") == "admin"  # identities compare case-insensitively
    assert ws.ensure_user(ANA) == "viewer"
    assert ws.ensure_user(ADMIN) == "admin"  # signing in again changes nothing
    assert [(u.email, u.role) for u in ws.users()] == [(ADMIN, "admin"), (ANA, "viewer")]
    trail = [e for e in ws.audit() if e.action == "role"]
    assert [(e.entity_id, json.loads(e.new)["role"]) for e in trail] == [(ADMIN, "admin"), (ANA, "viewer")]


def test_an_admin_changes_roles_and_every_change_is_audited_old_to_new(db_url):
    ws = Workspace(db_url)
    ws.ensure_user(ADMIN)
    ws.ensure_user(ANA)
    info = ws.set_role(ANA, "analyst", by=ADMIN)
    assert (info.email, info.role, info.updated_by) == (ANA, "analyst", ADMIN)
    ws.set_role(VIC, "viewer", by=ADMIN)  # someone who never signed in can be given a role ahead
    assert ws.user_role(ANA) == "analyst" and ws.user_role(VIC) == "viewer"
    changes = [e for e in ws.audit() if e.action == "role" and e.analyst == ADMIN and e.entity_id != ADMIN]
    assert [(e.entity_id, json.loads(e.old), json.loads(e.new)) for e in changes] == [
        (ANA, {"role": "viewer"}, {"role": "analyst"}),
        (VIC, {"role": None}, {"role": "viewer"}),
    ]
    before = len(ws.audit())
    ws.set_role(ANA, "analyst", by=ADMIN)  # no change, no entry
    assert len(ws.audit()) == before


def test_only_an_admin_changes_roles_and_the_last_admin_stays(db_url):
    ws = Workspace(db_url)
    ws.ensure_user(ADMIN)
    ws.ensure_user(ANA)
    ws.set_role(ANA, "analyst", by=ADMIN)
    with pytest.raises(PermissionDenied, match="Your role analyst may not manage roles"):
        ws.set_role(ANA, "admin", by=ANA)
    with pytest.raises(PermissionDenied, match="Your role viewer may not manage roles"):
        ws.set_role(VIC, "admin", by=VIC)  # unknown people are viewers
    with pytest.raises(DataError, match="only admin; give someone else the admin role first"):
        ws.set_role(ADMIN, "viewer", by=ADMIN)
    with pytest.raises(DataError, match="Unknown role 'owner'"):
        ws.set_role(ANA, "owner", by=ADMIN)
    assert ws.user_role(ANA) == "analyst" and ws.user_role(ADMIN) == "admin" and ws.user_role(VIC) is None
    ws.set_role(ANA, "admin", by=ADMIN)
    ws.set_role(ADMIN, "viewer", by=ANA)  # with two admins one may step down
    assert ws.user_role(ADMIN) == "viewer"


def test_a_workspace_acting_for_a_viewer_refuses_every_write_and_writes_nothing(db_url):
    Workspace(db_url).ensure_user(ADMIN)
    admin = Workspace(db_url, actor=ADMIN)
    run = admin.record_run(sample_scores(), 1.0, model_name="demo", data_name="demo.csv")
    rule = admin.add_rule("sender_domain", "promo.example")
    event = admin.add_event("2026-11-01", "2026-11-02")
    viewer = Workspace(db_url, actor=VIC)  # never signed in: a viewer
    before = len(admin.audit())
    writes = {
        "write verdicts": lambda: viewer.set_verdicts(run.id, ["msg-005"], "benign"),
        "change allow-list rules": lambda: viewer.add_rule("sender", "x@y.org"),
        "change allow-list rules ": lambda: viewer.remove_rule(rule.id),
        "change allow-list rules  ": lambda: viewer.reapply_rules(),
        "score logs": lambda: viewer.record_run(sample_scores(), 1.0, model_name="demo", data_name="demo.csv"),
        "change known events": lambda: viewer.add_event("2026-11-03", "2026-11-04"),
        "change known events ": lambda: viewer.remove_event(event.id),
        "delete models and runs": lambda: viewer.require("delete"),
        "delete models and runs ": lambda: viewer.delete_run(run.id),
        "delete models and runs  ": lambda: viewer.record_model_deletion("demo"),
    }
    for phrase, write in writes.items():
        with pytest.raises(PermissionDenied) as refused:
            write()
        assert str(refused.value) == (
            f"Your role viewer may not {phrase.strip()}; ask an administrator for the "
            f"{'admin' if 'delete' in phrase else 'analyst'} role."
        )
    with pytest.raises(PermissionDenied, match="may not manage roles"):
        Workspace(db_url, actor=VIC).set_role(VIC, "admin", by=VIC)
    with pytest.raises(DataError, match="acts for vic@example.org; it cannot change roles as admin@example.org"):
        viewer.set_role(VIC, "admin", by=ADMIN)  # a session cannot borrow the admin's name
    assert len(admin.audit()) == before
    assert (admin.flagged(run.id)["verdict"].fillna("") == "").all() and len(admin.runs()) == 1
    assert viewer.flagged(run.id) is not None and viewer.role() == "viewer"  # reading stays open


def test_an_analyst_writes_under_their_own_name_and_a_role_taken_away_counts_at_once(db_url):
    Workspace(db_url).ensure_user(ADMIN)
    Workspace(db_url).set_role(ANA, "analyst", by=ADMIN)
    ana = Workspace(db_url, actor="Ana@Example.org")
    run = ana.record_run(sample_scores(), 1.0, model_name="demo", data_name="demo.csv", analyst="someone-else")
    assert ana.set_verdicts(run.id, ["msg-005"], "benign", analyst="someone-else") == 1
    assert ana.run(run.id).analyst == ANA  # the signed-in identity, not a name the caller made up
    assert ana.flagged(run.id).set_index("UUID").loc["msg-005", "verdict_analyst"] == ANA
    assert {e.analyst for e in ana.audit(run.id)} == {ANA}
    with pytest.raises(PermissionDenied, match="Your role analyst may not delete models and runs"):
        ana.require("delete")
    with pytest.raises(PermissionDenied, match="Your role analyst may not delete models and runs"):
        ana.delete_run(run.id)
    assert ana.run(run.id).id == run.id  # still there
    Workspace(db_url).set_role(ANA, "viewer", by=ADMIN)
    with pytest.raises(PermissionDenied, match="Your role viewer may not write verdicts"):
        ana.set_verdicts(run.id, ["msg-006"], "benign")


def test_without_an_actor_nothing_is_checked_and_the_local_user_is_admin(db_url, monkeypatch):
    monkeypatch.setenv("EMAIL_AD_ANALYST", "local-analyst")
    ws = Workspace(db_url)
    assert ws.role() == "admin"
    ws.require("delete")
    run = ws.record_run(sample_scores(), 1.0, model_name="demo", data_name="demo.csv")
    assert ws.run(run.id).analyst == "local-analyst"


def test_an_admin_deletes_a_run_and_the_trail_keeps_what_it_held(db_url):
    Workspace(db_url).ensure_user(ADMIN)
    admin = Workspace(db_url, actor=ADMIN)
    kept = admin.record_run(sample_scores(), 1.0, model_name="demo", data_name="kept.csv")
    gone = admin.record_run(sample_scores(), 1.0, model_name="demo", data_name="gone.csv")
    admin.set_verdicts(gone.id, ["msg-005"], "confirmed")
    deleted = admin.delete_run(gone.id)
    assert deleted.id == gone.id and [r.id for r in admin.runs()] == [kept.id]
    with pytest.raises(DataError, match=f"No run {gone.id}"):
        admin.flagged(gone.id)
    assert "msg-005" not in admin.verdicts_by_uuid()  # its verdicts went with it
    trail = admin.audit(gone.id)
    assert [e.action for e in trail] == ["run", "verdict", "run.delete"]
    assert trail[-1].analyst == ADMIN and json.loads(trail[-1].old)["verdicts"] == 1
    admin.record_model_deletion("demo", "abc")
    (entry,) = [e for e in admin.audit() if e.action == "model.delete"]
    assert (entry.entity_id, json.loads(entry.old), entry.analyst) == ("demo", {"checksum": "abc"}, ADMIN)
