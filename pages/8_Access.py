"""Access page: who may do what. Everyone sees the roles; an admin changes them (audited)."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from core.access import ROLES, permissions
from core.errors import DataError
from ui import auth, state
from ui.common import page_setup
from ui.formatting import time_text

page_setup("Access")
st.title("Access")
me = auth.identity()
st.markdown(
    "**viewer** sees runs, flagged mail and charts · **analyst** also uploads, trains, scores, "
    "writes verdicts and rules, exports · **admin** also deletes models and runs and manages roles."
)
if me.email is None:
    st.info(
        f"Sign-in is not configured: you ({me.name}) work alone with every permission. "
        "To share the dashboard with a team, add an `[auth]` section to `.streamlit/secrets.toml` (see the README)."
    )
    st.stop()
st.write(f"You are **{me.role}**: you may {', '.join(permissions(me.role))}.")

users = auth.workspace().users()
st.dataframe(
    pd.DataFrame(
        {
            "e-mail": [u.email for u in users],
            "role": [u.role for u in users],
            "since": [time_text(u.updated, seconds=True) for u in users],
            "given by": [u.updated_by or "(first sign-in)" for u in users],
        }
    ),
    hide_index=True,
    width="stretch",
)

if not auth.can("roles"):
    st.stop()
if state.ACCESS_MESSAGE in st.session_state:
    kind, text = st.session_state.pop(state.ACCESS_MESSAGE)
    (st.success if kind == "ok" else st.error)(text)


def _save() -> None:
    email, role = st.session_state.get(state.ACCESS_USER), st.session_state.get(state.ACCESS_ROLE)
    if not email:
        return
    try:
        # The workspace checks, inside the transaction, that the signed-in user is an admin.
        auth.workspace().set_role(email, role, by=auth.identity().email)
    except DataError as error:
        st.session_state[state.ACCESS_MESSAGE] = ("error", str(error))
        return
    st.session_state[state.ACCESS_MESSAGE] = ("ok", f"{email} is now {role}.")


st.subheader("Change a role")
with st.form(state.ACCESS_FORM, border=False):
    left, right = st.columns(2)
    left.selectbox("User", [u.email for u in users], index=None, placeholder="Choose a user…", key=state.ACCESS_USER)
    right.selectbox("Role", ROLES, index=1, key=state.ACCESS_ROLE)
    st.form_submit_button("Save role", on_click=_save, key=state.ACCESS_SAVE)
st.caption("Every change is written to the workspace's audit trail (`python -m core audit`).")
