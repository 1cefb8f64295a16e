"""The home page: what the tool does, session status, demo data, links (drawn by ``dashboard.py``)."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from core.artifacts import list_bundles
from ui import state
from ui.common import data_caption, link, load_demo, page_setup
from ui.formatting import time_text

INTRO = """
Learns what **normal mail** looks like in your gateway's log (who writes to whom, which
subjects, at what hours) with an autoencoder, then flags the messages it can't reconstruct
well: new senders writing to many people, look-alike domains, odd hours, unusual subjects.

1. **Data** – upload CSV exports (or try the demo data) and check them.
2. **Train** – fit a model on normal traffic and save it.
3. **Detect** – score a log, set the threshold, review and download the flagged mail, save the run.
4. **Explore** – see flagged mail on a 2-D map and pick groups of messages.
5. **Models** – compare and delete saved models.
6. **Review** – saved runs: verdicts, allow-list rules, audit trail, exports for the SOC's tools.
7. **Model health** – does a new log still look like the model's training mail? Drift, reasons, retrain.
"""


def home() -> None:
    page_setup("Home")

    st.title("Email log anomaly detector")
    st.markdown(INTRO)

    left, right = st.columns(2, gap="large")
    with left:
        st.subheader("Data")
        log = st.session_state.get(state.DATA_LOG)
        if log is None:
            st.write("No data loaded in this session.")
        else:
            st.write(data_caption(log))
        st.button(
            f"Load demo data ({state.DEMO_ROWS:,} messages)",
            on_click=load_demo,
            type="primary",
            help="A synthetic company mail log with about 2% labelled anomalies.",
        )
        link("data", "Upload your own CSV exports")

    with right:
        st.subheader("Saved models")
        bundles = list_bundles(state.artifacts_dir())
        if not bundles:
            st.write("No saved models yet.")
            link("train", "Train a model")
        else:
            st.dataframe(
                pd.DataFrame(
                    {
                        "name": [b.name for b in bundles],
                        "created": [time_text(b.created, seconds=True) for b in bundles],
                        "training rows": [b.metadata.get("training_rows") for b in bundles],
                        "threshold": [b.metadata.get("threshold") for b in bundles],
                    }
                ),
                hide_index=True,
                width="stretch",
                column_config={"threshold": st.column_config.NumberColumn(format="%.4f")},
            )

    st.divider()
    pages = ("data", "train", "detect", "explore", "models", "review", "health")
    for col, page in zip(st.columns(len(pages)), pages, strict=True):
        with col:
            link(page)
