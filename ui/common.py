"""Shared Streamlit wiring: page setup, sidebar, links, cached loaders, "missing input" stops."""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import streamlit as st
from streamlit.runtime.scriptrunner_utils.exceptions import ScriptControlException

from core.artifacts import BundleInfo, list_bundles, load_bundle
from ui import state
from ui.auth import signed_in_user
from ui.formatting import time_text

if TYPE_CHECKING:
    from core.health import HealthReport
    from core.loading import EmailLog
    from core.scoring import ThresholdView

# Scoring, features and the demo generator are imported where first needed: the home page
# shouldn't wait for scikit-learn.


def keep_keras_state_across_reruns() -> None:
    """Stop Streamlit from calling ``keras.backend.clear_session()`` after every script run.

    Streamlit does that whenever Keras is imported (a habit from TensorFlow 1 graphs). Keras 3's
    clear_session resets its global state and collects garbage over TensorFlow's heap, holding
    the GIL for about a second, under a training job's thread: with the Train page's progress
    rerunning every second, training ran 10-20x slower in the dashboard than on the command
    line. Models here live in bundles and training jobs, never in Keras' global session.
    """
    from streamlit.runtime.scriptrunner import script_runner

    script_runner._clean_problem_modules = _no_cleanup


def _no_cleanup() -> None:
    """Nothing to clean: see :func:`keep_keras_state_across_reruns`."""


def page_setup(title: str) -> None:
    keep_keras_state_across_reruns()
    st.set_page_config(page_title=f"{title} · Email anomaly detector", layout="wide")
    signed_in_user()  # the gate: with sign-in configured, nothing below runs for a visitor
    # The sidebar is a slot drawn now and redrawn by whatever changes the data or the model
    # later in the run (an upload read, a model picked), so it never lags behind the page.
    st.session_state[state.SIDEBAR_SLOT] = st.sidebar.empty()
    finish_pending_load()
    sidebar()


def link(page: str, label: str | None = None, icon: str | None = None) -> None:
    """``st.page_link`` to one of the app's pages (key of ``state.PAGES``)."""
    path, default = state.PAGES[page]
    try:
        st.page_link(path, label=label or default, icon=icon)
    except Exception:  # noqa: BLE001 - a page run alone (tests) has no page registry
        st.markdown(f"→ **{label or default}** page (sidebar)")


def sidebar() -> None:
    """Draw (or redraw in place) the session status: data, model, threshold.

    Call it after changing what it shows; outside a page (no slot yet) it does nothing."""
    slot = st.session_state.get(state.SIDEBAR_SLOT)
    if slot is None:
        return
    log = st.session_state.get(state.DATA_LOG)
    with slot.container():
        st.caption("Session")
        # File names and model names are shown as plain text, never as markdown/HTML.
        if log is None:
            st.markdown("**Data:** none loaded")
        else:
            st.markdown(f"**Data:** {len(log):,} rows")
            st.text(log.report.source[:80])
        model = st.session_state.get(state.MODEL_NAME)
        if model is None:
            st.markdown("**Model:** none selected")
        else:
            st.markdown("**Model:**")
            st.text(model)
        threshold = st.session_state.get(state.DETECT_THRESHOLD)
        if threshold is not None and st.session_state.get(state.DETECT_MODEL) == model:
            st.markdown(f"**Threshold:** {threshold:.4g}")


def set_data(log: EmailLog, token: str) -> None:
    """Make ``log`` (as read) the session's data; results tied to the previous data are dropped.

    An export known to list one row per recipient is shown one row per message (the default
    of ``core.loading.groups_by_default``)."""
    from core.loading import group_by_message, groups_by_default

    st.session_state[state.DATA_AS_READ] = (log, token)
    if groups_by_default(log.report):  # the Data page's checkbox reads it back as exported
        log, token = group_by_message(log), f"{token}-by-message"
    use_data(log, token)


def use_data(log: EmailLog, token: str) -> None:
    """Show ``log`` as the session's data: as read, or a reading of it (one row per message)."""
    st.session_state[state.DATA_LOG] = log
    st.session_state[state.DATA_TOKEN] = token
    st.session_state.pop(state.DATA_ERROR, None)
    st.session_state.pop(state.TRAIN_DATASET, None)  # chosen on the Health page for the old data


def load_demo() -> None:
    """Button callback: the demo log becomes the session's data.

    Under load the demo takes seconds to generate, and a page switch meanwhile makes Streamlit
    stop this run at its next yield point: any ``st`` output and any ``st.session_state``
    access. Left alone, the click would be lost without a word. So the log is made anyway (no
    output on that path) into a plain dict the session holds, and whichever page runs next
    stores it (:func:`finish_pending_load`), or says the load was interrupted."""
    pending = {"what": "demo data"}
    try:
        st.session_state[state.DATA_LOADING] = pending
        with st.spinner("Generating demo data…"):
            _make_demo(pending)
    except ScriptControlException:
        try:
            _make_demo(pending)
        finally:
            # The interruption was handed over at the yield point that raised it: this write
            # does not raise it again (a stop request would; then the load is dropped, as asked).
            with contextlib.suppress(ScriptControlException):
                st.session_state[state.DATA_LOADING] = pending
        raise
    finish_pending_load()


def _make_demo(pending: dict) -> None:
    if "log" not in pending:
        from ui.data import demo_log

        pending["log"] = demo_log(state.DEMO_ROWS, state.DEMO_SEED)  # a dict write: no yield point
        pending["token"] = f"demo-{state.DEMO_ROWS}-{state.DEMO_SEED}"


def finish_pending_load() -> None:
    """Store a load the previous run finished but could not store; warn about one it never finished."""
    pending = st.session_state.get(state.DATA_LOADING)
    if pending is None:
        return
    if "log" in pending:
        set_data(pending["log"], pending["token"])
        st.session_state.pop(state.DATA_LOADING, None)  # last: an interruption before this only repeats the work
        return
    st.session_state.pop(state.DATA_LOADING, None)
    st.warning(
        f"Loading the {pending['what']} was interrupted before it finished, so nothing new was loaded. "
        "Press the button again."
    )
    st.button(f"Load the {pending['what']} again", key=state.DATA_LOAD_AGAIN, on_click=load_demo)


def require_data() -> EmailLog:
    """The loaded log, or an info message with a link to the Data page and ``st.stop()``."""
    log = st.session_state.get(state.DATA_LOG)
    if log is None:
        st.info("No data loaded yet. Load a CSV export or the demo data on the Data page.")
        link("data", "Go to the Data page")
        st.stop()
    return log


def require_models() -> list[BundleInfo]:
    bundles = list_bundles(state.artifacts_dir())
    if not bundles:
        st.info("No saved models yet. Train one on the Train page.")
        link("train", "Go to the Train page")
        st.stop()
    return bundles


def model_picker(bundles: list[BundleInfo], label: str = "Model", key: str | None = None) -> BundleInfo:
    """Selectbox over saved bundles; defaults to (and remembers) the session's model."""
    names = [b.name for b in bundles]
    current = st.session_state.get(state.MODEL_NAME)
    index = names.index(current) if current in names else 0
    name = st.selectbox(
        label, names, index=index, key=key, format_func=lambda n: f"{n}  ({_created(bundles[names.index(n)])})"
    )
    st.session_state[state.MODEL_NAME] = name
    sidebar()
    return bundles[names.index(name)]


def _created(bundle: BundleInfo) -> str:
    return time_text(bundle.created, seconds=True, zone=True) or "unknown date"


def model_key(bundle: BundleInfo) -> tuple[str, str, str]:
    """Cache key of a bundle: name, created time and folder (a re-used name is a new key)."""
    return bundle.name, bundle.created, str(bundle.path)


# --------------------------------------------------------------------------- cached work


@st.cache_resource(max_entries=4, show_spinner=False)
def load_detector(key: tuple[str, str, str]):
    """The fitted detector of a bundle (shared across sessions: never mutate it)."""
    name, _, path = key
    from pathlib import Path

    return load_bundle(name, Path(path).parent)


@st.cache_resource(max_entries=2, show_spinner=False)  # a million scored rows hold hundreds of MB
def scored_for(key: tuple[str, str, str], data_token: str, _log: EmailLog) -> tuple[pd.DataFrame, HealthReport | None]:
    """Scored rows of the session's log with a bundle and its health report (cached per model + data).

    One pass: the health monitor sees each chunk as ``score_log`` computes it. The report is
    None for a bundle saved before health profiles existed. A resource, not data: a million
    scored rows pickle to ~370 MB, which ``cache_data`` would hold and copy back on every
    rerun. Pages only read both; never mutate them."""
    from core.health import monitor_for
    from core.scoring import score_log

    detector = load_detector(key)
    monitor = monitor_for(detector)
    scores = score_log(detector, _log, monitor=monitor)
    return scores, None if monitor is None else monitor.report()


def scores_for(key: tuple[str, str, str], data_token: str, _log: EmailLog) -> pd.DataFrame:
    """Scored rows of the session's log with a bundle (see :func:`scored_for`)."""
    return scored_for(key, data_token, _log)[0]


@st.cache_data(max_entries=6, show_spinner=False)
def view_for(key: tuple[str, str, str], data_token: str, _scores: pd.DataFrame) -> ThresholdView:
    from core.scoring import ThresholdView

    return ThresholdView.from_scores(_scores, bins=60)


@st.cache_data(max_entries=4, show_spinner=False)
def curves_for(key: tuple[str, str, str], data_token: str, _scores: pd.DataFrame) -> dict | None:
    """ROC/PR curves of the scored rows against their labels (None without a valid label column)."""
    from ui.detect import label_curves

    return label_curves(_scores)


@st.cache_data(max_entries=6, show_spinner=False)
def new_values_for(key: tuple[str, str, str], data_token: str, _log: EmailLog) -> dict[str, int]:
    from ui.data import new_value_counts

    return new_value_counts(load_detector(key), _log)


@st.cache_data(max_entries=4, show_spinner=False)
def tsne_for(
    key: tuple[str, str, str], data_token: str, max_points: int, _log: EmailLog, _flagged: np.ndarray
) -> pd.DataFrame:
    """t-SNE map (positions into the scorable rows); flagged = the model's fitted threshold,
    so the map (and its sample) depends only on model + data, not the current threshold."""
    from core.projection import tsne_map

    features = load_detector(key).transform(_log.frame[_log.scorable])
    return tsne_map(features, _flagged, max_points=max_points, seed=0)


def table_columns() -> dict:
    """Column widths/formats for tables of scored mail (Detect, Explore)."""
    col = st.column_config
    return {
        "UUID": col.TextColumn(width="small"),
        "Sender": col.TextColumn(width="medium"),
        "Recipient": col.TextColumn(width="medium"),
        "Subject": col.TextColumn(width="medium"),
        "Time": col.DatetimeColumn(format="YYYY-MM-DD HH:mm", width="small"),
        "error": col.NumberColumn(format="%.4f", width="small"),
        "reason": col.TextColumn(width="large"),
    }


@st.cache_data(max_entries=4, show_spinner=False)
def profile_for(data_token: str, _log: EmailLog) -> dict:
    """Validation numbers and profile series of the loaded log (computed once per data)."""
    from ui import data

    unit = data.time_bin(_log)  # day, week or month: about a hundred bars at most
    return {
        "summary": data.summary(_log),
        "hourly": data.hourly_counts(_log),
        "activity": data.binned_counts(_log, unit),
        "activity_unit": unit,
        "domains": data.top_sender_domains(_log),
    }


def data_caption(log: EmailLog) -> str:
    from ui.data import time_range_text

    return f"{log.report.source} · {len(log):,} rows · {time_range_text(log)}"
