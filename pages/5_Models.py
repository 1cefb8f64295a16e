"""Models page: saved bundles with their metadata, loss curves side by side, delete."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import streamlit as st

from core.artifacts import delete_bundle, list_bundles
from core.errors import DataError
from core.provenance import data_source
from core.workspace.store import bundle_checksum
from ui import auth, charts, state
from ui.common import link, page_setup
from ui.formatting import time_text

page_setup("Models")
st.title("Saved models")

root = state.artifacts_dir()
bundles = list_bundles(root)
# Bundles by name only: the server's folder is not every visitor's business (README, `--artifacts`).
if state.MODELS_DELETED in st.session_state:
    st.success(f"Deleted model {st.session_state.pop(state.MODELS_DELETED)}.")
if state.MODELS_DELETE_ERROR in st.session_state:
    st.error(st.session_state.pop(state.MODELS_DELETE_ERROR))
if not bundles:
    st.info("No saved models yet. Train one on the Train page.")
    link("train", "Go to the Train page")
    st.stop()


def _row(b) -> dict:
    m = b.metadata
    return {
        "name": b.name,
        "created": time_text(b.created, seconds=True),
        "feature set": m.get("feature_set"),
        "training rows": m.get("training_rows"),
        "epochs": f"{m.get('epochs_run', '?')}/{m.get('params', {}).get('epochs', '?')}",
        "stopped early": bool(m.get("stopped_early")),
        "percentile": m.get("percentile"),
        "threshold": m.get("threshold"),
        "final val loss": (m.get("history", {}).get("val_loss") or [None])[-1],
        "data": data_source(m),
        "trained by": m.get("trained_by", ""),
    }


st.dataframe(
    pd.DataFrame([_row(b) for b in bundles]),
    hide_index=True,
    width="stretch",
    column_config={
        "threshold": st.column_config.NumberColumn(format="%.4f"),
        "final val loss": st.column_config.NumberColumn(format="%.4f"),
    },
)

names = [b.name for b in bundles]
current = st.session_state.get(state.MODEL_NAME)
chosen = st.multiselect(
    "Compare loss curves",
    names,
    default=([current] if current in names else []) + [n for n in names if n != current][:1]
    if current in names
    else names[:2],
    max_selections=4,
    key=state.MODELS_COMPARE,
)
if chosen:
    cols = st.columns(min(len(chosen), 2))
    for i, name in enumerate(chosen):
        bundle = bundles[names.index(name)]
        with cols[i % len(cols)]:
            st.plotly_chart(
                charts.loss_curve(bundle.metadata.get("history", {}), name, height=320),
                width="stretch",
                key=state.models_curve(name),
            )

auth.stop_unless("delete")  # deleting is for admins; _confirm checks again
st.subheader("Delete a model")
victim = st.selectbox("Model to delete", names, index=None, placeholder="Choose a model…", key=state.MODELS_DELETE_PICK)


def _ask() -> None:
    st.session_state[state.MODELS_CONFIRM_DELETE] = st.session_state.get(state.MODELS_DELETE_PICK)


def _cancel() -> None:
    st.session_state.pop(state.MODELS_CONFIRM_DELETE, None)


def _confirm() -> None:
    name = st.session_state.pop(state.MODELS_CONFIRM_DELETE, None)
    if name is None:
        return
    try:
        auth.require("delete")  # on the server, whatever the browser sent
        checksum = bundle_checksum(Path(root) / name)
        delete_bundle(name, root)
        auth.workspace().record_model_deletion(name, checksum, analyst=auth.identity().name)  # in the audit trail
    except DataError as error:
        st.session_state[state.MODELS_DELETE_ERROR] = str(error)
        return
    if st.session_state.get(state.MODEL_NAME) == name:
        st.session_state.pop(state.MODEL_NAME, None)
    st.session_state[state.MODELS_DELETED] = name
    st.session_state[state.MODELS_DELETE_PICK] = None


st.button("Delete…", disabled=victim is None, on_click=_ask, key=state.MODELS_DELETE)
pending = st.session_state.get(state.MODELS_CONFIRM_DELETE)
if pending:
    st.warning(f"Delete model **{pending}** for good? This can't be undone.")
    y, n, _ = st.columns([1, 1, 4])
    y.button("Yes, delete", type="primary", on_click=_confirm, key=state.MODELS_CONFIRM)
    n.button("Cancel", on_click=_cancel, key=state.MODELS_CANCEL)
