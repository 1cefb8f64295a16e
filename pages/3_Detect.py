"""Detect page: score the loaded data with a saved model, set the threshold, review, download."""

from __future__ import annotations

import streamlit as st

from core.scoring import ThresholdView
from ui import auth, health, review, state, threshold
from ui.common import curves_for, link, page_setup, view_for
from ui.scored import Scored, choose_model_and_data, score_or_stop
from ui.triage import Suppression
from ui.workspace import active_suppression, record_button, record_scoring, verdict_maps

page_setup("Detect")
auth.page_requires("score")
st.title("Detect anomalies")

choice, _ = choose_model_and_data([2, 3], picker_key=state.DETECT_MODEL_PICKER, dataset_key=state.DETECT_DATASET)
scored = score_or_stop(choice)
health.panel(scored)
view = view_for(scored.key, scored.token, scored.scores)
fitted = float(scored.detector.threshold_)
hi = threshold.slider_max(view.sorted_errors, fitted)
threshold.start_threshold(scored.bundle.name, fitted, hi)
suppression, rules = active_suppression(scored)  # allow-list rules, read fresh on every run
record_scoring(scored, suppression, fitted, rules)


# A slider move reruns only this fragment: scoring and the page around it are not redone.
@st.fragment
def threshold_panel(
    scored: Scored, view: ThresholdView, fitted: float, hi: float, suppression: Suppression, rules: tuple
) -> None:
    percentile = float(scored.detector.percentile)
    current = threshold.threshold_inputs(hi)
    threshold.quick_rules(view.sorted_errors, fitted, percentile, hi)
    threshold.threshold_metrics(view, current, fitted, percentile, suppression.count_above(current))
    record_button(scored, suppression, current, rules, fitted)
    threshold.error_histogram(view, current)
    review.flagged_mail(scored.scores, view, current, suppression, verdict_maps())
    review.against_labels(curves_for(scored.key, scored.token, scored.scores), current)


threshold_panel(scored, view, fitted, hi, suppression, rules)
st.divider()
link("explore", "Next: explore the flagged mail on a map")
link("review", "Review saved runs: verdicts, allow-list, exports")
