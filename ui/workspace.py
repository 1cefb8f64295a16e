"""Streamlit wiring of the triage workspace: the cached Workspace, who is acting, recording a
Detect run, verdict and allow-rule controls shared by the Review and Explore pages.

Writes happen in button callbacks, before the script reruns; pages read runs, verdicts and
rules fresh from the database on every run (never from the session), so two analysts on one
run see each other's verdicts on their next rerun and nothing is lost.
"""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING

import pandas as pd
import streamlit as st

from core.errors import DataError
from core.schema import UUID
from core.workspace.store import Workspace, bundle_checksum
from ui import auth, state
from ui.triage import REASON_CATEGORIES, Suppression, rules_signature, run_identity

if TYPE_CHECKING:
    from ui.scored import Scored


def analyst() -> str:
    """Who is acting: the signed-in e-mail, or the operating-system user without sign-in."""
    return auth.identity().name


def workspace() -> Workspace:
    """The CLI's database (``$EMAIL_AD_DB``, else ``workspace.db`` in the artifacts folder), acting
    for the signed-in user: every write checks their role. Cheap: engines are shared per URL."""
    return auth.workspace()


def workspace_or_stop() -> Workspace:
    try:
        return workspace()
    except DataError as error:  # e.g. a database from a newer version, or unreachable
        st.error(str(error))
        st.stop()


def notify(kind: str, text: str) -> None:
    """Remember a callback's outcome; :func:`show_notice` shows it once on the next run."""
    st.session_state[state.WORKSPACE_NOTICE] = (kind, text)


def show_notice() -> None:
    notice = st.session_state.pop(state.WORKSPACE_NOTICE, None)
    if notice is not None:
        (st.success if notice[0] == "success" else st.error)(notice[1])


# --------------------------------------------------------------------------- Detect


@st.cache_resource(max_entries=4, show_spinner=False)
def suppression_for(key: tuple, data_token: str, rules: tuple, _scores: pd.DataFrame, _specs: list) -> Suppression:
    """Which rows of a scored log today's active rules suppress (per model + data + rules)."""
    return Suppression.of(_scores, _specs)


def active_suppression(scored: Scored) -> tuple[Suppression, tuple]:
    """Suppression of the scored rows by the active allow-list rules, and the rules' signature."""
    specs = workspace_or_stop().active_rules()
    signature = rules_signature(specs)
    return suppression_for(scored.key, scored.token, signature, scored.scores, specs), signature


def verdict_maps() -> tuple[dict[str, str], dict[str, str]]:
    """Earlier verdicts by UUID and by sender (read fresh: another analyst may just have decided)."""
    ws = workspace_or_stop()
    return ws.verdicts_by_uuid(), ws.verdicts_by_sender()


def _identity(scored: Scored, threshold: float, rules: tuple) -> str:
    bundle = scored.bundle
    return run_identity(bundle.name, bundle.created, scored.log.report.source, scored.token, threshold, rules)


def recorded_run(model: str, data_token: str) -> int | None:
    """The run this session last recorded for a model and data (Explore's lasso verdicts go there)."""
    return st.session_state.get(state.DETECT_LAST_RUN, {}).get((model, data_token))


@st.cache_resource(max_entries=4, show_spinner=False)
def data_digest(data_token: str, _frame: pd.DataFrame) -> str:
    """SHA-256 of the loaded rows (uploads may be several files): once per data, not per run."""
    return hashlib.sha256(pd.util.hash_pandas_object(_frame, index=True).to_numpy().tobytes()).hexdigest()


def _record(scored: Scored, suppression: Suppression, threshold: float, rules: tuple, rule_text: str) -> int | None:
    """Store the scoring at ``threshold`` as a run; its id (or None, with the error noted)."""
    digest = data_digest(scored.token, scored.log.frame)
    try:
        run = workspace().record_run(
            suppression.apply(scored.scores, threshold),
            threshold,
            model_name=scored.bundle.name,
            model_checksum=bundle_checksum(scored.bundle.path),
            data_name=scored.log.report.source,
            data_sha256=digest,  # of the loaded rows (uploads may be several files)
            threshold_rule=rule_text,
            analyst=analyst(),
            origin="dashboard",
        )
    except DataError as error:
        notify("error", str(error))
        return None
    st.session_state.setdefault(state.DETECT_RUNS, {})[_identity(scored, threshold, rules)] = run.id
    st.session_state.setdefault(state.DETECT_LAST_RUN, {})[(scored.bundle.name, scored.token)] = run.id
    st.session_state[state.REVIEW_RUN] = run.id
    return run.id


def _save_at(scored: Scored, suppression: Suppression, threshold: float, rules: tuple, rule_text: str) -> None:
    run_id = _record(scored, suppression, threshold, rules, rule_text)
    if run_id is not None:
        run = workspace().run(run_id)
        notify("success", f"Saved as run {run.id}: {run.n_flagged:,} flagged, {run.n_suppressed:,} suppressed.")


def record_scoring(scored: Scored, suppression: Suppression, fitted: float, rules: tuple) -> None:
    """Every scoring is a run: the first time this session scores a model, data and active rules,
    it is recorded at the model's fitted threshold (a rerun or a slider move records nothing)."""
    if _identity(scored, fitted, rules) in st.session_state.get(state.DETECT_RUNS, {}):
        return
    with st.spinner("Recording this scoring in the workspace…"):
        _record(scored, suppression, fitted, rules, "fitted")


def record_button(scored: Scored, suppression: Suppression, threshold: float, rules: tuple, fitted: float) -> None:
    """Which run holds this scoring at ``threshold``; a button saving another run when the analyst
    moved the threshold away from every recorded one."""
    show_notice()
    run_id = st.session_state.get(state.DETECT_RUNS, {}).get(_identity(scored, threshold, rules))
    if run_id is not None:
        st.caption(f"Recorded as run {run_id}: give verdicts and export it on the Review page.")
        return
    rule_text = "fitted" if threshold == fitted else f"threshold {threshold:.6g}"
    st.button(
        "Save a run at this threshold",
        on_click=_save_at,
        args=(scored, suppression, threshold, rules, rule_text),
        key=state.DETECT_RECORD,
        help="Stores the rows flagged at this threshold as a new run in the workspace: verdicts, "
        "allow-list rules and exports live on the Review page.",
    )


# --------------------------------------------------------------------------- verdicts and rules


def _set_verdicts(run_id: int, uuids: list[str], verdict: str, category_key: str, note_key: str) -> None:
    try:
        changed = workspace().set_verdicts(
            run_id,
            uuids,
            verdict,
            reason=st.session_state.get(category_key) or "",
            note=st.session_state.get(note_key) or "",
            analyst=analyst(),
        )
    except DataError as error:
        notify("error", str(error))
        return
    same = len(uuids) - changed
    notify("success", f"{changed:,} marked {verdict}" + (f", {same:,} already were" if same else "") + ".")


def verdict_controls(run_id: int, uuids: list[str], prefix: str) -> None:
    """Reason category, note and one button per verdict for ``uuids`` of run ``run_id``."""
    c = st.columns([1, 3])
    category, note = f"{prefix}.category", f"{prefix}.note"
    c[0].selectbox("Reason category", REASON_CATEGORIES, key=category, format_func=lambda v: v or "(none)")
    c[1].text_input("Note", key=note, placeholder="why (kept in the audit trail)")
    buttons = st.columns([1, 1, 1, 3])
    verdicts = ("confirmed", "benign", "review")
    for col, verdict, kind in zip(buttons[:3], verdicts, ("primary", "secondary", "secondary"), strict=True):
        col.button(
            verdict.capitalize(),
            on_click=_set_verdicts,
            args=(run_id, list(uuids), verdict, category, note),
            key=f"{prefix}.{verdict}",
            type=kind,
            disabled=not uuids,
            width="stretch",
            help=f"Mark the {len(uuids):,} selected message(s) {verdict}",
        )


def _add_rule(kind: str, value: str, recipient: str = "", *, keys: dict | None = None, note: str = "") -> None:
    """Callback: add a rule (from a row, or from the allow-list form whose widget ``keys`` are given)."""
    expires, past = None, False
    if keys is not None:
        get = st.session_state.get
        kind, value, recipient = get(keys["kind"]), get(keys["value"]) or "", get(keys["recipient"]) or ""
        expires = get(keys["expires"]) if get(keys["use_expiry"]) else None
        note, past = get(keys["note"]) or "", bool(get(keys["past"]))
    try:
        rule = workspace().add_rule(
            kind, value, recipient, expires=expires, note=note, analyst=analyst(), apply_to_past=past
        )
    except DataError as error:
        notify("error", str(error))
        return
    notify("success", f"Rule {rule.id} added: {rule.label}. Matching mail is scored but no longer flagged.")


def rule_buttons(sender_domain: str, sender: str, origin: str, prefix: str) -> None:
    """One-click allow rules for a row's sender domain and sender."""
    c = st.columns(2)
    c[0].button(
        f"Allow this sender domain ({sender_domain})",
        on_click=_add_rule,
        args=("sender_domain", sender_domain),
        kwargs={"note": origin},
        key=f"{prefix}.allow_domain",
        disabled=not sender_domain,
    )
    c[1].button(
        f"Allow this sender ({sender})",
        on_click=_add_rule,
        args=("sender", sender),
        kwargs={"note": origin},
        key=f"{prefix}.allow_sender",
        disabled=not sender,
    )


def _remove_rule(key: str) -> None:
    rule_id = st.session_state.get(key)
    if rule_id is None:
        return
    try:
        rule = workspace().remove_rule(int(rule_id), analyst=analyst())
    except DataError as error:
        notify("error", str(error))
        return
    notify("success", f"Rule {rule.id} removed: {rule.label}.")


def _delete_run(run_id: int) -> None:
    try:
        run = workspace().delete_run(run_id, analyst=analyst())  # checks the admin role itself
    except DataError as error:
        notify("error", str(error))
        return
    st.session_state.pop(state.REVIEW_RUN, None)
    st.session_state.pop(state.REVIEW_DELETE_SURE, None)
    notify("success", f"Run {run.id} deleted ({run.n_flagged:,} flagged, {run.n_reviewed:,} verdicts).")


def lasso_verdicts(model: str, data_token: str, uuids: list[str]) -> None:
    """Verdict controls for Explore's selection, on the run this session saved for this model and
    data; only the selected rows that run stored as flagged can get one."""
    run_id = recorded_run(model, data_token)
    if run_id is None:
        st.caption("Score this log on the Detect page first: its run is where the selected rows' verdicts go.")
        return
    try:
        stored = set(workspace().flagged(run_id)[UUID].astype(str))
    except DataError as error:
        st.error(str(error))
        return
    in_run = [u for u in uuids if u in stored]
    st.markdown(f"**Verdict on run {run_id}** for the {len(in_run):,} selected row(s) it flagged")
    if len(in_run) < len(uuids):
        st.caption(f"{len(uuids) - len(in_run):,} selected row(s) were not flagged in run {run_id} and are left out.")
    verdict_controls(run_id, in_run, state.EXPLORE_VERDICT)


def training_rows_from_verdicts(frame: pd.DataFrame) -> tuple[pd.DataFrame, dict | None]:
    """The rows to train on with the workspace's verdicts and known events, and the fit options.

    Says on the page how many were left out and kept (the same line ``train --use-verdicts``
    prints); raises DataError when nothing would be left.
    """
    from core.workspace.feedback import training_selection

    ws = workspace()
    selection = training_selection(frame, ws.verdicts_by_uuid(), ws.active_events())
    st.session_state[state.TRAIN_VERDICTS_USED] = selection.summary()
    if len(selection.frame) == 0:
        raise DataError(
            "Every training row has a confirmed verdict or lies inside a known event: nothing is left to "
            "learn normal mail from."
        )
    return selection.frame, {"always_keep": selection.keep}
