"""The Review page's sections: recorded runs, a run's flagged queue with verdicts and one-click
allow rules, what the verdicts say about the threshold, exports, the audit trail, the allow-list.

Every section reads from the database when it renders (no copy kept in the session), so a
verdict another analyst just gave shows up on this analyst's next rerun.
"""

from __future__ import annotations

from datetime import timedelta

import streamlit as st

from core.errors import DataError
from core.schema import SENDER, UUID
from core.workspace.export import export_name, export_run
from core.workspace.feedback import (
    false_positives_by_reason,
    precision_at,
    threshold_for_budget,
    threshold_for_precision,
)
from core.workspace.models import RULE_KINDS
from core.workspace.rules import SUPPRESSED_BY, today
from core.workspace.store import ERROR, VERDICT, RunInfo, Workspace
from ui import auth, state
from ui.common import link
from ui.triage import audit_table, queue_table, rules_table, run_label, runs_table, sender_domain, sender_only
from ui.workspace import _add_rule, _delete_run, _remove_rule, rule_buttons, verdict_controls

EXPORTS = {"csv": ("CSV", "text/csv"), "ecs": ("ECS NDJSON", "application/x-ndjson")}
EXPORTS |= {"hec": ("Splunk HEC", "application/json"), "cef": ("CEF", "text/plain")}
RULE_KIND_TEXT = {
    "sender": "Sender address",
    "sender_domain": "Sender domain",
    "pair": "Sender → recipient",
    "subject_regex": "Subject regular expression",
}


def choose_run(ws: Workspace) -> RunInfo | None:
    """The runs table (newest first) and a picker; None (with a message) when none is recorded."""
    runs = ws.runs()
    st.subheader("Recorded runs")
    if not runs:
        st.info(
            "No runs recorded yet. Every scoring is recorded: score a log on the Detect page, "
            "or run `python -m core detect DATA.csv --out scores.csv`."
        )
        link("detect", "Go to the Detect page")
        return None
    st.dataframe(
        runs_table(runs),
        hide_index=True,
        width="stretch",
        height=min(38 + 35 * len(runs), 260),
        column_config={
            "created": st.column_config.DatetimeColumn(format="YYYY-MM-DD HH:mm"),
            "threshold": st.column_config.NumberColumn(format="%.4g"),
        },
    )
    ids = [r.id for r in runs]
    wanted = st.session_state.get(state.REVIEW_RUN)
    if st.session_state.get(state.REVIEW_RUN_PICKER) not in ids:
        st.session_state[state.REVIEW_RUN_PICKER] = wanted if wanted in ids else ids[0]
    by_id = {r.id: r for r in runs}
    run_id = st.selectbox("Run to review", ids, format_func=lambda i: run_label(by_id[i]), key=state.REVIEW_RUN_PICKER)
    st.session_state[state.REVIEW_RUN] = run_id
    return by_id[run_id]


def queue(ws: Workspace, run: RunInfo, flagged) -> None:
    """The run's flagged rows with their verdicts; verdicts and allow rules for the selected rows."""
    active = flagged[flagged[SUPPRESSED_BY].isna()].reset_index(drop=True)
    suppressed = flagged[flagged[SUPPRESSED_BY].notna()].reset_index(drop=True)
    st.subheader(f"Flagged queue of run {run.id}")
    done = int((active[VERDICT] != "").sum())
    st.caption(
        f"{len(active):,} flagged, {done:,} with a verdict · threshold {run.threshold:.4g} ({run.threshold_rule}) · "
        f"model {run.model_name} · {len(suppressed):,} suppressed by allow-list rules. "
        "Select rows (left-hand boxes) to give them a verdict."
    )
    if active.empty:
        st.info("Nothing is flagged in this run.")
        chosen = []
    else:
        table = queue_table(active)
        event = st.dataframe(
            table,
            hide_index=True,
            width="stretch",
            height=min(38 + 35 * len(table), 420),
            on_select="rerun",
            selection_mode="multi-row",
            key=state.REVIEW_TABLE,
            column_config={
                "Time": st.column_config.DatetimeColumn(format="YYYY-MM-DD HH:mm"),
                "error": st.column_config.NumberColumn(format="%.4f"),
                "Subject": st.column_config.TextColumn(width="medium"),
            },
        )
        rows = (event or {}).get("selection", {}).get("rows", []) if event is not None else []
        picked = st.multiselect(
            "Or pick messages by UUID",
            active[UUID].tolist(),
            key=state.REVIEW_PICK,
            help="Added to the rows selected in the table.",
        )
        chosen = list(dict.fromkeys([active[UUID].iloc[i] for i in rows] + picked))
    if not auth.can("verdicts"):
        st.caption(f"Your role ({auth.identity().role}) reads this queue; verdicts and rules need the analyst role.")
    else:
        st.markdown(f"**Verdict for the {len(chosen):,} selected message(s)**")
        verdict_controls(run.id, chosen, state.REVIEW_VERDICT)
    if chosen and auth.can("rules"):
        first = active.loc[active[UUID] == chosen[0]].iloc[0]
        sender = str(first[SENDER])
        st.markdown("**Allow-list from the first selected row** — scored from now on, but not flagged")
        st.text(f"{chosen[0]} from {sender}")
        rule_buttons(
            sender_domain(sender), sender_only(sender), f"from run {run.id}, {chosen[0]}", state.REVIEW_ROW_RULE
        )
    if not suppressed.empty:
        with st.expander(f"Suppressed rows ({len(suppressed):,}): above the threshold, matched an allow-list rule"):
            st.dataframe(queue_table(suppressed), hide_index=True, width="stretch")


def feedback(run: RunInfo, flagged) -> None:
    """Precision among reviewed rows, false positives per reason, thresholds from verdicts."""
    st.subheader("What the verdicts say")
    active = flagged[flagged[SUPPRESSED_BY].isna()]
    stats = precision_at(active, run.threshold)
    m = st.columns(4)
    m[0].metric("Reviewed", f"{stats.reviewed:,}", help="Flagged rows marked confirmed or benign")
    m[1].metric("Confirmed", f"{stats.confirmed:,}")
    m[2].metric("Benign (false positives)", f"{stats.benign:,}")
    m[3].metric(
        "Precision among reviewed",
        "–" if stats.precision is None else f"{stats.precision:.0%}",
        help=f"Confirmed share of the reviewed rows above the run's threshold {run.threshold:.4g}",
    )
    left, right = st.columns(2)
    with left:
        fps = false_positives_by_reason(active)
        st.markdown("**False positives per reason**")
        if fps.empty:
            st.caption("No benign verdict yet.")
        else:
            st.dataframe(
                fps.rename("benign").rename_axis("reason").reset_index(),
                hide_index=True,
                width="stretch",
                column_config={"reason": st.column_config.TextColumn(width="large")},
            )
    with right:
        target = st.slider("Target precision", 0.5, 1.0, 0.9, 0.05, key=state.REVIEW_TARGET_PRECISION)
        found = threshold_for_precision(active, target)
        st.caption(
            "Not reachable with the reviewed rows."
            if found is None
            else f"Threshold that reaches {target:.0%} among reviewed rows: **{found:.4g}**"
        )
        if len(active):
            budget = st.number_input(
                "Alert budget (rows)", 1, len(active), min(20, len(active)), key=state.REVIEW_BUDGET
            )
            errors = active[ERROR].to_numpy(dtype=float)
            cut = threshold_for_budget(errors, int(budget))
            st.caption(f"Threshold that flags at most {int(budget):,} of these rows: **{cut:.4g}**")


def export_bytes(ws: Workspace, run_id: int, fmt: str) -> bytes:
    """What an export button downloads: the run as stored when clicked, suppressed rows included."""
    return export_run(ws, run_id, fmt, include_suppressed=True)


def exports(ws: Workspace, run: RunInfo) -> None:
    """One download per format; the file is written when clicked (from the database, with verdicts)."""
    st.subheader("Export for the SOC's tools")
    if not auth.can("export"):
        st.caption(f"Exports need the analyst role (yours: {auth.identity().role}).")
        return
    st.caption("Flagged and suppressed rows with their verdicts, reasons and rules, as stored now.")
    cols = st.columns(len(EXPORTS))
    for col, (fmt, (label, mime)) in zip(cols, EXPORTS.items(), strict=True):
        col.download_button(
            label,
            lambda fmt=fmt: export_bytes(ws, run.id, fmt),
            export_name(run.id, fmt),
            mime,
            on_click="ignore",
            key=f"{state.REVIEW_EXPORT}.{fmt}",
        )


def audit(ws: Workspace, run: RunInfo) -> None:
    st.subheader(f"Audit trail of run {run.id}")
    entries = ws.audit(run.id)
    st.dataframe(
        audit_table(entries),
        hide_index=True,
        width="stretch",
        key=state.REVIEW_AUDIT,
        column_config={"at": st.column_config.DatetimeColumn(format="YYYY-MM-DD HH:mm:ss")},
    )


_RULE_KEYS = {
    "kind": state.REVIEW_RULE_KIND,
    "value": state.REVIEW_RULE_VALUE,
    "recipient": state.REVIEW_RULE_RECIPIENT,
    "use_expiry": state.REVIEW_RULE_USE_EXPIRY,
    "expires": state.REVIEW_RULE_EXPIRES,
    "note": state.REVIEW_RULE_NOTE,
    "past": state.REVIEW_RULE_PAST,
}


def allow_list(ws: Workspace) -> None:
    """The rules with their state; for analysts, a form to add one and a picker to remove one."""
    st.subheader("Allow-list")
    st.caption("Mail matching an active rule is still scored but not flagged. Expired and removed rules stay listed.")
    may_change = auth.can("rules")
    if may_change:
        _rule_form()
    else:
        st.caption(f"Adding and removing rules needs the analyst role (yours: {auth.identity().role}).")
    rules = ws.rules(include_removed=True)
    if not rules:
        st.caption("No rules yet.")
        return
    st.dataframe(
        rules_table(rules),
        hide_index=True,
        width="stretch",
        column_config={"created": st.column_config.DatetimeColumn(format="YYYY-MM-DD HH:mm")},
    )
    removable = [r for r in rules if r.state != "removed"]
    if removable and may_change:
        labels = {r.id: f"rule {r.id}: {r.label} ({r.state})" for r in removable}
        r = st.columns([3, 1])
        r[0].selectbox("Rule to remove", list(labels), format_func=labels.get, key=state.REVIEW_RULE_REMOVE_PICK)
        r[1].write("")
        r[1].button(
            "Remove rule", on_click=_remove_rule, args=(state.REVIEW_RULE_REMOVE_PICK,), key=state.REVIEW_RULE_REMOVE
        )


def _rule_form() -> None:
    """Kind, value, optional recipient and expiry, note, "apply to past runs"; the Add button."""
    with st.container(border=True):
        c = st.columns([2, 3, 3])
        kind = c[0].selectbox("Kind", RULE_KINDS, format_func=RULE_KIND_TEXT.get, key=state.REVIEW_RULE_KIND)
        c[1].text_input(
            "Value", key=state.REVIEW_RULE_VALUE, placeholder="sender address, domain or regular expression"
        )
        c[2].text_input(
            "Recipient (sender → recipient rules)", key=state.REVIEW_RULE_RECIPIENT, disabled=kind != "pair"
        )
        d = st.columns([1, 2, 3, 2])
        use_expiry = d[0].checkbox("Expires", key=state.REVIEW_RULE_USE_EXPIRY)
        d[1].date_input(
            "Last day it applies",
            value=today() + timedelta(days=30),
            min_value=today(),
            key=state.REVIEW_RULE_EXPIRES,
            disabled=not use_expiry,
        )
        d[2].text_input("Note", key=state.REVIEW_RULE_NOTE)
        d[3].checkbox(
            "Apply to past runs",
            key=state.REVIEW_RULE_PAST,
            help="Also suppress matching rows of the runs recorded so far (audited per run).",
        )
        st.button("Add rule", on_click=_add_rule, args=("", ""), kwargs={"keys": _RULE_KEYS}, key=state.REVIEW_RULE_ADD)


def delete_section(run: RunInfo) -> None:
    """For admins: delete this run (its rows and verdicts; the audit trail keeps what it held)."""
    if not auth.can("delete"):
        return
    with st.expander(f"Delete run {run.id}"):
        st.caption(
            f"Removes the run's {run.n_flagged + run.n_suppressed:,} stored rows and {run.n_reviewed:,} verdicts "
            "(carry-over and retraining stop using them). The audit trail keeps who deleted it and what it held."
        )
        sure = st.checkbox(f"Yes, delete run {run.id}", key=state.REVIEW_DELETE_SURE)
        st.button(
            "Delete run",
            type="primary",
            disabled=not sure,
            on_click=_delete_run,
            args=(run.id,),
            key=state.REVIEW_DELETE,
        )


def flagged_or_stop(ws: Workspace, run: RunInfo):
    try:
        return ws.flagged(run.id, include_suppressed=True)
    except DataError as error:
        st.error(str(error))
        st.stop()
