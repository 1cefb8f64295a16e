"""Detect page: score the loaded data with a saved model, set the threshold, review, download."""

from __future__ import annotations

import streamlit as st

from core.errors import DataError
from core.scoring import flagged_csv, scores_csv
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
    view_for,
)
from ui.detect import QUICK_RULES, explanation, flagged_table, label_curves, operating_point, quick_threshold

page_setup("Detect")
st.title("Detect anomalies")

log = require_data()
bundles = require_models()
top = st.columns([2, 3])
with top[0]:
    bundle = model_picker(bundles, key="detect.model_picker")
token = st.session_state[state.DATA_TOKEN]
datasets = {"Loaded data": (log, token)}
trained_on = st.session_state.get(state.TRAIN_DATA)
if trained_on is not None and trained_on[1] != token:
    datasets["Data of the last training"] = trained_on
with top[1]:
    if len(datasets) > 1:
        choice = st.radio("Dataset", list(datasets), horizontal=True, key="detect.dataset")
        log, token = datasets[choice]
    else:
        st.write("")
    st.caption(f"Data: {data_caption(log)}")

detector = detector_or_stop(bundle)
key = model_key(bundle)
try:
    with st.spinner(f"Scoring {len(log):,} rows with {bundle.name}…"):
        scores = scores_for(key, token, log)
except DataError as error:
    st.error(str(error))
    st.stop()
view = view_for(key, token, scores)
errors = view.sorted_errors
n_scored = len(errors)
if n_scored == 0:
    st.warning("No row could be scored: none has a readable time. Check the data on the Data page.")
    st.stop()

fitted = float(detector.threshold_)
hi = float(max(errors.max(), fitted) * 1.02) or 1.0


@st.cache_data(max_entries=4, show_spinner=False)
def _curves(key, token, _scores):
    return label_curves(_scores)


def _set_threshold(value: float) -> None:
    value = float(min(max(value, 0.0), hi))
    st.session_state[state.DETECT_THRESHOLD] = value
    st.session_state[state.DETECT_SLIDER] = value
    st.session_state[state.DETECT_NUMBER] = value


# A new model (or first visit) starts at the model's fitted threshold; widget keys are
# re-created from the stored threshold after visiting another page.
if st.session_state.get(state.DETECT_MODEL) != bundle.name or state.DETECT_THRESHOLD not in st.session_state:
    st.session_state[state.DETECT_MODEL] = bundle.name
    _set_threshold(fitted)
for widget in (state.DETECT_SLIDER, state.DETECT_NUMBER):
    if widget not in st.session_state:
        st.session_state[widget] = float(min(st.session_state[state.DETECT_THRESHOLD], hi))


def _from_slider() -> None:
    _set_threshold(st.session_state[state.DETECT_SLIDER])


def _from_number() -> None:
    _set_threshold(st.session_state[state.DETECT_NUMBER])


def _apply_quick() -> None:
    rule = st.session_state["detect.quick_rule"]
    value = {
        "percentile": st.session_state.get("detect.quick_percentile"),
        "top": st.session_state.get("detect.quick_top"),
        "rate": st.session_state.get("detect.quick_rate"),
    }.get(rule)
    _set_threshold(quick_threshold(rule, value, errors, fitted))


@st.fragment
def threshold_panel() -> None:
    step = hi / 1000
    c_slider, c_number = st.columns([4, 1])
    with c_slider:
        st.slider(
            "Threshold (reconstruction error)",
            0.0,
            hi,
            step=step,
            format="%.4f",
            key=state.DETECT_SLIDER,
            on_change=_from_slider,
        )
    with c_number:
        st.number_input(
            "Exact value", 0.0, hi, step=step, format="%.4f", key=state.DETECT_NUMBER, on_change=_from_number
        )
    with st.expander("Quick settings", expanded=False):
        q = st.columns([2, 1, 1, 1, 1])
        q[0].radio("Rule", list(QUICK_RULES), format_func=QUICK_RULES.get, key="detect.quick_rule")
        q[1].number_input("Percentile", 50.0, 99.99, float(detector.percentile), 0.5, key="detect.quick_percentile")
        q[2].number_input("Top N", 1, n_scored, min(20, n_scored), key="detect.quick_top")
        q[3].number_input("Rate %", 0.01, 50.0, 2.0, 0.5, key="detect.quick_rate")
        q[4].write("")
        q[4].button("Apply", on_click=_apply_quick, type="primary", key="detect.quick_apply")

    threshold = st.session_state[state.DETECT_THRESHOLD]
    flagged = view.flagged_count(threshold)
    m = st.columns(4)
    m[0].metric("Flagged", f"{flagged:,}")
    m[1].metric("Flagged share", f"{flagged / n_scored:.2%}")
    m[2].metric("Threshold", f"{threshold:.4g}")
    m[3].metric("Model threshold", f"{fitted:.4g}", help=f"{detector.percentile:g}th percentile of test errors")

    log_y = st.toggle("Log scale", value=True, key="detect.log_y")
    st.plotly_chart(
        charts.error_histogram(
            view.bin_edges,
            view.bin_counts,
            threshold,
            log_y=log_y,
            title=f"Reconstruction errors of {n_scored:,} scored rows",
        ),
        width="stretch",
        key="detect.histogram",
    )

    st.subheader("Flagged mail")
    table = flagged_table(scores, view, threshold)
    if len(table) < flagged:
        st.caption(f"Showing the {len(table):,} highest of {flagged:,} flagged rows; the download has all.")
    d1, d2, _ = st.columns([1, 1, 2])
    # Files are written when clicked (not on every slider move): a million rows take seconds.
    d1.download_button(
        "Download flagged CSV",
        lambda: flagged_csv(scores, threshold),
        "flagged.csv",
        "text/csv",
        on_click="ignore",
        type="primary",
        key="detect.download_flagged",
    )
    d2.download_button(
        "Download all scores CSV",
        lambda: scores_csv(scores, threshold),
        "scores.csv",
        "text/csv",
        on_click="ignore",
        key="detect.download_all",
        help="Every row with its error and reason; is_anomaly at this threshold.",
    )
    if table.empty:
        st.info("No row is above this threshold. Lower it to flag mail.")
    else:
        event = st.dataframe(
            table,
            hide_index=True,
            width="stretch",
            height=360,
            on_select="rerun",
            selection_mode="single-row",
            key="detect.table",
            column_config=table_columns(),
        )
        rows = event.selection.rows if event is not None else []
        if rows:
            info = explanation(scores, int(table.index[rows[0]]))
            e1, e2 = st.columns([3, 2])
            with e1:
                st.plotly_chart(
                    charts.field_errors_bar(
                        info["fields"], f"Why row {info['uuid'][:36]} is flagged", highlight=info["top_field"]
                    ),
                    width="stretch",
                    key="detect.explain_chart",
                )
            with e2:
                # Log text is shown with st.text / st.code only: never interpreted as markdown or HTML.
                st.markdown("**Reason**")
                st.text(info["reason"] or "–")
                st.markdown("**Field of the main reason** · **error**")
                st.text(f"{info['top_field']} · {info['error']:.4g}")
                new = [f.lower() for f, is_new in info["new"].items() if is_new]
                st.markdown("**Never seen in training**")
                st.text(", ".join(new) if new else "nothing – all values were seen in training")
        else:
            st.caption("Select a row to see why it was flagged.")

    curves = _curves(key, token, scores)
    if curves is not None:
        st.subheader("Against the labels")
        point = operating_point(curves, threshold)
        k = st.columns(4)
        k[0].metric("Precision", f"{point['precision']:.1%}")
        k[1].metric("Recall", f"{point['recall']:.1%}")
        k[2].metric("ROC-AUC", f"{curves['roc_auc']:.3f}")
        k[3].metric("PR-AUC", f"{curves['pr_auc']:.3f}")
        r1, r2 = st.columns(2)
        r1.plotly_chart(
            charts.roc_figure(curves["fpr"], curves["tpr"], curves["roc_auc"], (point["fpr"], point["recall"])),
            width="stretch",
            key="detect.roc",
        )
        r2.plotly_chart(
            charts.pr_figure(
                curves["precision"],
                curves["recall"],
                curves["pr_auc"],
                (point["recall"], point["precision"]),
                curves["base_rate"],
            ),
            width="stretch",
            key="detect.pr",
        )


threshold_panel()
st.divider()
link("explore", "Next: explore the flagged mail on a map")
