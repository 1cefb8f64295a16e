"""Explore page: t-SNE map of scored mail, coloured at the current threshold; select to list."""

from __future__ import annotations

import numpy as np
import streamlit as st

from core.scoring import ERROR, IS_ANOMALY, to_csv_bytes
from ui import auth, charts, state
from ui.common import link, page_setup, table_columns, tsne_for
from ui.detect import map_table
from ui.scored import choose_model_and_data, score_or_stop
from ui.selection import selected_map_rows
from ui.threshold import current_threshold
from ui.triage import STATE, row_states
from ui.workspace import active_suppression, lasso_verdicts, record_scoring, show_notice, verdict_maps

page_setup("Explore")
auth.page_requires("score")
st.title("Explore")

choice, (middle,) = choose_model_and_data([2, 1, 2], picker_key=state.EXPLORE_MODEL_PICKER)
with middle:
    max_points = st.selectbox(
        "Points on the map",
        [500, 1000, 2000, 3000],
        index=1,
        key=state.EXPLORE_POINTS,
        help="Every flagged row is kept; the rest is a random sample. More points take longer.",
    )
scored = score_or_stop(choice)

threshold, from_detect = current_threshold(scored.bundle.name, scored.detector.threshold_)
if from_detect:
    st.caption(f"Coloured at the threshold set on the Detect page: **{threshold:.4g}**.")
else:
    st.caption(f"Coloured at the model's threshold **{threshold:.4g}** (set another on the Detect page).")

# The map depends on model + data only (sampled around the model's own flags); the current
# threshold just recolours it.
scorable = np.flatnonzero(scored.log.scorable)
fitted_flags = scored.scores[IS_ANOMALY].to_numpy()[scorable]
with st.spinner(f"Computing the t-SNE map of up to {max_points:,} rows (this can take a minute)…"):
    points = tsne_for(scored.key, scored.token, int(max_points), scored.log, fitted_flags)

table = map_table(scored.scores, scorable, points)
suppression, rules = active_suppression(scored)
record_scoring(scored, suppression, float(scored.detector.threshold_), rules)  # every scoring is a run
table[STATE] = row_states(scored.scores, table.index.to_numpy(), *verdict_maps(), suppression)
# Rows an allow-list rule suppresses are scored but not flagged, as on Detect.
flagged = (table["error"].to_numpy(dtype=float) > threshold) & (suppression.rule[table.index.to_numpy()] == 0)
event = st.plotly_chart(
    charts.tsne_scatter(points, flagged, table),
    width="stretch",
    on_select="rerun",
    selection_mode=("box", "lasso"),
    key=state.EXPLORE_MAP,
)
st.caption(
    f"{len(points):,} rows on the map, {int(flagged.sum()):,} above the threshold. "
    "Draw a box or lasso to list those rows. Outlined points have a verdict or a known sender "
    "(hover shows which)."
)

selected_rows = selected_map_rows(event, flagged)
if selected_rows:
    chosen = table.iloc[selected_rows].sort_values("error", ascending=False)
    st.subheader(f"Selected rows ({len(chosen):,})")
else:
    chosen = table[flagged].sort_values("error", ascending=False)
    st.subheader(f"Rows above the threshold on the map ({len(chosen):,})")
    st.caption("No selection: showing the flagged rows.")
st.dataframe(chosen, hide_index=True, width="stretch", height=320, column_config=table_columns())
show_notice()
if selected_rows:
    lasso_verdicts(scored.bundle.name, scored.token, chosen["UUID"].astype(str).tolist())
st.download_button(
    "Download these rows (CSV)",
    to_csv_bytes(chosen.rename(columns={"error": ERROR})),  # times as ISO 8601 UTC, like every export
    "explore_selection.csv",
    "text/csv",
    on_click="ignore",
    key=state.EXPLORE_DOWNLOAD,
)
st.divider()
link("detect", "Back to Detect")
