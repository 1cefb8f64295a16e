"""Data page: upload CSV exports (or the demo data), map columns, validate, preview, profile."""

from __future__ import annotations

import streamlit as st

from core.artifacts import list_bundles
from core.errors import DataError
from ui import auth, charts, state
from ui.common import link, load_demo, model_key, new_values_for, page_setup, profile_for
from ui.formatting import time_text
from ui.upload import group_by_message_choice, handle_uploads

page_setup("Data")
auth.page_requires("upload")
st.title("Data")
st.caption("Upload one or more CSV exports of your mail gateway log; several files are read as one log.")

upload_col, demo_col = st.columns([3, 1], gap="large")
with upload_col:
    uploads = st.file_uploader(
        "CSV exports",
        type=["csv", "txt", "tsv"],
        accept_multiple_files=True,
        help="Columns UUID, Recipient, Sender, Subject, Time Processed (other names can be mapped).",
    )
    st.caption(
        f"CSV, TXT or TSV, up to {st.get_option('server.maxUploadSize'):,} MB per file. A file marked "
        "red was refused (too large or not a CSV type): split the export, or raise "
        "server.maxUploadSize in .streamlit/config.toml."
    )
with demo_col:
    st.write("")
    st.button(
        "Use demo data",
        width="stretch",
        on_click=load_demo,
        help=f"A synthetic log of {state.DEMO_ROWS:,} messages with about 2% labelled anomalies.",
    )


handle_uploads([(f.name, f.getvalue()) for f in uploads or []])

log = st.session_state.get(state.DATA_LOG)
if log is None:
    st.info("No data loaded yet. Upload CSV exports above, or use the demo data.")
    st.stop()

with st.spinner("Profiling the data…"):
    profile = profile_for(st.session_state[state.DATA_TOKEN], log)
facts = profile["summary"]
st.subheader("Validation report")
st.caption(f"Source: {log.report.source} · encoding {log.report.encoding} · delimiter {log.report.delimiter!r}")
m = st.columns(6)
m[0].metric("Rows", f"{facts['rows']:,}")
m[1].metric("Unreadable times", f"{facts['unparsed_times']:,}")
if log.report.per_recipient:  # a per-recipient export: repeated UUIDs are recipients, not duplicates
    m[2].metric("Messages", f"{facts['rows'] - facts['duplicate_uuids']:,}", help="distinct UUIDs")
else:
    m[2].metric("Duplicate UUIDs", f"{facts['duplicate_uuids']:,}")
m[3].metric("Senders", f"{facts['senders']:,}")
m[4].metric("Recipients", f"{facts['recipients']:,}")
m[5].metric("Sender domains", f"{facts['sender_domains']:,}")
if facts["first"] is not None:
    st.write(
        f"Time range: **{time_text(facts['first'])}** to **{time_text(facts['last'])}** UTC "
        f"({facts['scorable']:,} rows with a readable time)."
    )
for warning in log.report.warnings:
    st.warning(warning)
group_by_message_choice(log)
if facts["unparsed_examples"]:
    with st.expander("Examples of unreadable times"):
        st.dataframe(
            {
                "row": [r + 1 for r, _ in facts["unparsed_examples"]],
                "value": [v for _, v in facts["unparsed_examples"]],
            },
            hide_index=True,
        )

bundles = list_bundles(state.artifacts_dir())
selected = st.session_state.get(state.MODEL_NAME)
bundle = next((b for b in bundles if b.name == selected), None)
if bundle is not None:
    try:
        with st.spinner(f"Comparing with model {bundle.name}…"):
            new = new_values_for(model_key(bundle), st.session_state[state.DATA_TOKEN], log)
        if new:
            parts = ", ".join(f"{count:,} {field.lower()}s" for field, count in new.items())
            st.write(f"Values model **{bundle.name}** never saw in training: {parts} (rows with a new value).")
    except DataError as error:
        st.warning(f"Could not compare with model {bundle.name}: {error}")
elif bundles:
    st.caption("Select a model on the Detect page to count values it never saw in training.")

st.subheader("Preview")
st.dataframe(log.frame.head(200), hide_index=True, width="stretch", height=300)

st.subheader("Profile")
c1, c2 = st.columns(2)
with c1:
    st.plotly_chart(charts.hourly_bar(profile["hourly"]), width="stretch")
with c2:
    st.plotly_chart(charts.daily_bar(profile["activity"], profile["activity_unit"]), width="stretch")
st.plotly_chart(charts.domains_bar(profile["domains"]), width="stretch")

st.divider()
link("train", "Next: train a model")
