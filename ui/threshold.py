"""The Detect page's threshold: one value in the session, set by a slider, an exact number
or a quick rule, shown as metrics and on the error histogram; Explore reads it back.

The value lives in ``state.DETECT_THRESHOLD`` for the model ``state.DETECT_MODEL``; the
slider's and number input's own keys are kept equal to it by the callbacks, so moving one
moves the other. Callbacks get what they need as arguments (``args=``), not from the page.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import streamlit as st

from ui import charts, state
from ui.detect import QUICK_RULES, quick_threshold

if TYPE_CHECKING:
    from core.scoring import ThresholdView

_QUICK_VALUES = {
    "percentile": state.DETECT_QUICK_PERCENTILE,
    "top": state.DETECT_QUICK_TOP,
    "rate": state.DETECT_QUICK_RATE,
}


def slider_max(errors: np.ndarray, fitted: float) -> float:
    """Top of the slider: a little above the largest error or the fitted threshold."""
    return float(max(np.max(errors), fitted) * 1.02) or 1.0


def set_threshold(value: float, hi: float) -> None:
    """Store ``value`` (clipped to [0, hi]) as the threshold and move both inputs to it."""
    value = float(min(max(value, 0.0), hi))
    st.session_state[state.DETECT_THRESHOLD] = value
    st.session_state[state.DETECT_SLIDER] = value
    st.session_state[state.DETECT_NUMBER] = value


def start_threshold(model: str, fitted: float, hi: float) -> float:
    """The session's threshold for ``model``: its fitted one on a first visit or a model change.

    Widget keys are dropped by Streamlit when another page is shown; they are re-created from
    the stored threshold."""
    if st.session_state.get(state.DETECT_MODEL) != model or state.DETECT_THRESHOLD not in st.session_state:
        st.session_state[state.DETECT_MODEL] = model
        set_threshold(fitted, hi)
    for widget in (state.DETECT_SLIDER, state.DETECT_NUMBER):
        if widget not in st.session_state:
            st.session_state[widget] = float(min(st.session_state[state.DETECT_THRESHOLD], hi))
    return float(st.session_state[state.DETECT_THRESHOLD])


def current_threshold(model: str, fitted: float) -> tuple[float, bool]:
    """(threshold, set on Detect?): the Detect page's threshold when it belongs to ``model``,
    else the model's fitted one."""
    if st.session_state.get(state.DETECT_MODEL) == model and state.DETECT_THRESHOLD in st.session_state:
        return float(st.session_state[state.DETECT_THRESHOLD]), True
    return float(fitted), False


def _from_widget(key: str, hi: float) -> None:
    set_threshold(st.session_state[key], hi)


def _apply_quick(errors: np.ndarray, fitted: float, hi: float) -> None:
    rule = st.session_state[state.DETECT_QUICK_RULE]
    value = st.session_state.get(_QUICK_VALUES[rule]) if rule in _QUICK_VALUES else None
    set_threshold(quick_threshold(rule, value, errors, fitted), hi)


def threshold_inputs(hi: float) -> float:
    """Slider and exact-value input over [0, hi]; returns the current threshold."""
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
            on_change=_from_widget,
            args=(state.DETECT_SLIDER, hi),
        )
    with c_number:
        st.number_input(
            "Exact value",
            0.0,
            hi,
            step=step,
            format="%.4f",
            key=state.DETECT_NUMBER,
            on_change=_from_widget,
            args=(state.DETECT_NUMBER, hi),
        )
    from ui.common import sidebar  # it shows the threshold: redraw it (in a fragment rerun too)

    sidebar()
    return float(st.session_state[state.DETECT_THRESHOLD])


def quick_rules(errors: np.ndarray, fitted: float, percentile: float, hi: float) -> None:
    """Expander with the quick rules (model threshold, percentile, top N, rate) and Apply.

    ``errors``: the scored rows' errors (sorted or not); ``percentile``: the model's own."""
    n_scored = len(errors)
    with st.expander("Quick settings", expanded=False):
        q = st.columns([2, 1, 1, 1, 1])
        q[0].radio("Rule", list(QUICK_RULES), format_func=QUICK_RULES.get, key=state.DETECT_QUICK_RULE)
        q[1].number_input("Percentile", 50.0, 99.99, float(percentile), 0.5, key=state.DETECT_QUICK_PERCENTILE)
        q[2].number_input("Top N", 1, n_scored, min(20, n_scored), key=state.DETECT_QUICK_TOP)
        q[3].number_input("Rate %", 0.01, 50.0, 2.0, 0.5, key=state.DETECT_QUICK_RATE)
        q[4].write("")
        q[4].button(
            "Apply", on_click=_apply_quick, args=(errors, fitted, hi), type="primary", key=state.DETECT_QUICK_APPLY
        )


def threshold_metrics(
    view: ThresholdView, threshold: float, fitted: float, percentile: float, suppressed: int = 0
) -> None:
    """Flagged count and share at ``threshold``, the threshold and the model's own.

    ``suppressed``: rows above the threshold an allow-list rule matched (not counted as flagged)."""
    flagged = view.flagged_count(threshold) - suppressed
    m = st.columns(4)
    m[0].metric(
        "Flagged",
        f"{flagged:,}",
        help=f"{suppressed:,} more above the threshold are suppressed by allow-list rules" if suppressed else None,
    )
    m[1].metric("Flagged share", f"{flagged / len(view.sorted_errors):.2%}")
    m[2].metric("Threshold", f"{threshold:.4g}")
    m[3].metric("Model threshold", f"{fitted:.4g}", help=f"{percentile:g}th percentile of test errors")


def error_histogram(view: ThresholdView, threshold: float) -> None:
    """The scored errors' histogram with the threshold line (log scale toggle above it)."""
    log_y = st.toggle("Log scale", value=True, key=state.DETECT_LOG_Y)
    st.plotly_chart(
        charts.error_histogram(
            view.bin_edges,
            view.bin_counts,
            threshold,
            log_y=log_y,
            title=f"Reconstruction errors of {len(view.sorted_errors):,} scored rows",
        ),
        width="stretch",
        key=state.DETECT_HISTOGRAM,
    )
