"""The preamble Detect and Explore share: pick a model and a dataset, load, score.

Anything missing stops the page with a message (``st.info`` + link, or ``st.warning``); a
model or data the scorer refuses (``DataError``, which includes ``BundleError``) shows its
one-line message with ``st.error`` and stops: never a traceback.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import streamlit as st

from core.errors import DataError
from ui import state
from ui.common import data_caption, load_detector, model_key, model_picker, require_data, require_models, scored_for

if TYPE_CHECKING:
    import pandas as pd
    from streamlit.delta_generator import DeltaGenerator

    from core.artifacts import BundleInfo
    from core.health import HealthReport
    from core.loading import EmailLog

LOADED = "Loaded data"
LAST_TRAINING = "Data of the last training"


@dataclass(frozen=True)
class Choice:
    """The model and the data a page works on; ``token`` is the data's cache key."""

    bundle: BundleInfo
    log: EmailLog
    token: str


@dataclass(frozen=True)
class Scored(Choice):
    """A choice with its loaded detector (shared: never mutate), scored rows and health report
    (read only; the report is None for a bundle saved before health profiles existed)."""

    detector: object
    key: tuple[str, str, str]
    scores: pd.DataFrame
    health: HealthReport | None = None


def datasets() -> dict[str, tuple[EmailLog, str]]:
    """Datasets to choose from: the loaded data, plus the last training's when it differs."""
    options = {LOADED: (st.session_state[state.DATA_LOG], st.session_state[state.DATA_TOKEN])}
    trained_on = st.session_state.get(state.TRAIN_DATA)
    if trained_on is not None and trained_on[1] != options[LOADED][1]:
        options[LAST_TRAINING] = trained_on
    return options


def choose_model_and_data(
    widths: Sequence[float], *, picker_key: str, dataset_key: str | None = None
) -> tuple[Choice, list[DeltaGenerator]]:
    """A row of columns: the model picker first, the data (radio when ``dataset_key`` is given and
    there is a choice) and its caption last; the middle columns are returned for the page to fill.

    Stops the page with a message when no data is loaded or no model is saved."""
    require_data()
    bundles = require_models()
    columns = st.columns(list(widths))
    with columns[0]:
        bundle = model_picker(bundles, key=picker_key)
    options = datasets() if dataset_key is not None else {LOADED: datasets()[LOADED]}
    with columns[-1]:
        if len(options) > 1:
            choice = st.radio("Dataset", list(options), horizontal=True, key=dataset_key)
        else:
            choice = LOADED
            st.write("")
        log, token = options[choice]
        st.caption(f"Data: {data_caption(log)}")
    return Choice(bundle, log, token), columns[1:-1]


def score_or_stop(choice: Choice) -> Scored:
    """Load the model and score the data (both cached), or show why not and stop the page."""
    log, bundle = choice.log, choice.bundle
    if not log.scorable.any():
        st.warning("No row could be scored: none has a readable time. Check the data on the Data page.")
        st.stop()
    key = model_key(bundle)
    try:
        with st.spinner(f"Loading model {bundle.name}…"):
            detector = load_detector(key)
        with st.spinner(f"Scoring {len(log):,} rows with {bundle.name}…"):
            scores, health = scored_for(key, choice.token, log)
    except DataError as error:
        st.error(str(error))
        st.stop()
    return Scored(bundle, log, choice.token, detector, key, scores, health)
