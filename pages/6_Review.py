"""Review page: recorded runs, a run's flagged queue with verdicts, allow-list, exports, audit trail."""

from __future__ import annotations

import streamlit as st

from ui import runs
from ui.common import page_setup
from ui.workspace import show_notice, workspace_or_stop

page_setup("Review")
st.title("Review flagged mail")

ws = workspace_or_stop()
show_notice()
run = runs.choose_run(ws)
if run is not None:
    flagged = runs.flagged_or_stop(ws, run)
    runs.queue(ws, run, flagged)
    runs.feedback(run, flagged)
    runs.exports(ws, run)
    runs.audit(ws, run)
    runs.delete_section(run)
st.divider()
runs.allow_list(ws)
