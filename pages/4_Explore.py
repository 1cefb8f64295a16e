"""Explore page: t-SNE map of scored mail, coloured at the current threshold; select to list."""

from __future__ import annotations

import numpy as np
import streamlit as st

from core.scoring import ERROR, IS_ANOMALY, to_csv_bytes
from ui import charts, state
from ui.common import (
    data_caption,
    detector_or_stop,
    link,
    model_key,
    model_picker,
    page_setup,
    require_data,
    require_models,
    scores_for,
    table_columns,
    tsne_for,
)
from ui.detect import map_table

page_setup("Explore")
st.title("Explore")

log = require_data()
bundles = require_models()
top = st.columns([2, 1, 2])
with top[0]:
    bundle = model_picker(bundles, key="explore.model_picker")
with top[1]:
    max_points = st.selectbox(
        "Points on the map",
        [500, 1000, 2000, 3000],
        index=1,
        key="explore.points",
        help="Every flagged row is kept; the rest is a random sample. More points take longer.",
    )
with top[2]:
    st.write("")
    st.caption(f"Data: {data_caption(log)}")

detector = detector_or_stop(bundle)
key = model_key(bundle)
token = st.session_state[state.DATA_TOKEN]
with st.spinner("Scoring…"):
    scores = scores_for(key, token, log)
scorable = np.flatnonzero(log.scorable)
if not len(scorable):
    st.warning("No row could be scored: none has a readable time.")
    st.stop()

if st.session_state.get(state.DETECT_MODEL) == bundle.name and state.DETECT_THRESHOLD in st.session_state:
    threshold = float(st.session_state[state.DETECT_THRESHOLD])
    st.caption(f"Coloured at the threshold set on the Detect page: **{threshold:.4g}**.")
else:
    threshold = float(detector.threshold_)
    st.caption(f"Coloured at the model's threshold **{threshold:.4g}** (set another on the Detect page).")

# The map depends on model + data only (sampled around the model's own flags); the current
# threshold just recolours it.
fitted_flags = scores[IS_ANOMALY].to_numpy()[scorable]
with st.spinner(f"Computing the t-SNE map of up to {max_points:,} rows (this can take a minute)…"):
    points = tsne_for(key, token, int(max_points), log, fitted_flags)

table = map_table(scores, scorable, points)
flagged = table["error"].to_numpy(dtype=float) > threshold
fig = charts.tsne_scatter(points, flagged, table)
event = st.plotly_chart(fig, width="stretch", on_select="rerun", selection_mode=("box", "lasso"), key="explore.map")
st.caption(
    f"{len(points):,} rows on the map, {int(flagged.sum()):,} above the threshold. "
    "Draw a box or lasso to list those rows."
)

selected_rows = []
if event is not None:
    traces = [np.flatnonzero(~flagged), np.flatnonzero(flagged)]
    for point in event.selection.get("points", []):
        custom = point.get("customdata")
        if custom is not None and len(custom):
            selected_rows.append(int(float(custom[0])))
        elif point.get("curve_number") is not None and point.get("point_index") is not None:
            selected_rows.append(int(traces[point["curve_number"]][point["point_index"]]))
selected_rows = sorted(set(selected_rows))

if selected_rows:
    chosen = table.iloc[selected_rows].sort_values("error", ascending=False)
    st.subheader(f"Selected rows ({len(chosen):,})")
else:
    chosen = table[flagged].sort_values("error", ascending=False)
    st.subheader(f"Rows above the threshold on the map ({len(chosen):,})")
    st.caption("No selection: showing the flagged rows.")
st.dataframe(chosen, hide_index=True, width="stretch", height=320, column_config=table_columns())
export = chosen.rename(columns={"error": ERROR})
export["Time"] = export["Time"].dt.strftime("%Y-%m-%dT%H:%M:%SZ")
st.download_button(
    "Download these rows (CSV)",
    to_csv_bytes(export),
    "explore_selection.csv",
    "text/csv",
    on_click="ignore",
    key="explore.download",
)
st.divider()
link("detect", "Back to Detect")
