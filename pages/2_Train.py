"""Train page: fit an autoencoder on the loaded data in a background job, watch it, stop it."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

import streamlit as st

from core.artifacts import check_name, default_name
from core.errors import DataError
from core.schema import LABEL
from ui import auth, charts, state
from ui.common import data_caption, link, page_setup, require_data
from ui.formatting import duration_text
from ui.train import detector_defaults, feature_set_label, feature_sets, small_log_note
from ui.workspace import training_rows_from_verdicts

if TYPE_CHECKING:
    from core.jobs import TrainingJob

_done = st.session_state.get(state.TRAIN_JOB)
if _done is not None and _done.bundle is not None and st.session_state.get(state.TRAIN_ANNOUNCED) != _done.bundle.name:
    # A finished job's model becomes the session's model (before the sidebar is drawn).
    st.session_state[state.MODEL_NAME] = _done.bundle.name
    st.session_state[state.TRAIN_ANNOUNCED] = _done.bundle.name
page_setup("Train")
auth.page_requires("train")
st.title("Train a model")

log = require_data()
token = st.session_state[state.DATA_TOKEN]
chosen = st.session_state.get(state.TRAIN_DATASET)
if chosen is not None:  # set by the Health page's retrain button
    log, token, origin = chosen
    st.info(f"Training on {origin} ({len(log):,} rows), not on the loaded data.")
    st.button(
        "Use the loaded data instead",
        on_click=st.session_state.pop,
        args=(state.TRAIN_DATASET, None),
        key=state.TRAIN_USE_LOADED,
    )
st.caption(f"Dataset: {data_caption(log)}")
_note = small_log_note(int(log.scorable.sum()))
if _note:
    st.warning(_note, icon=":material/info:")

job: TrainingJob | None = st.session_state.get(state.TRAIN_JOB)


def _start(params: dict, name: str | None, normal_only: bool, use_verdicts: bool) -> None:
    from core.evaluation import labels_of
    from core.jobs import TrainingJob  # imported on use, like the detector's defaults (ui.train)

    frame = log.frame[log.scorable]
    if normal_only and LABEL in frame:
        frame = frame[labels_of(frame) == 0]
    fit_options = None
    st.session_state.pop(state.TRAIN_VERDICTS_USED, None)
    if use_verdicts:
        frame, fit_options = training_rows_from_verdicts(frame)
    new = TrainingJob(
        frame=frame,
        params=params,
        artifacts_dir=state.artifacts_dir(),
        name=name,
        fit_options=fit_options,
        log=log,  # the job records the training data's source, size and fingerprint
        extra_metadata={"trained_by": auth.identity().name},
    )
    st.session_state[state.TRAIN_JOB] = new.start()
    st.session_state[state.TRAIN_DATA] = (log, token)


def _stop() -> None:
    current = st.session_state.get(state.TRAIN_JOB)
    if current is not None:
        current.stop()


DEFAULTS = detector_defaults()
busy = job is not None and job.running
with st.form(state.TRAIN_FORM):
    c1, c2, c3, c4 = st.columns(4)
    with c1:
        feature_set = st.selectbox(
            "Feature set",
            feature_sets(),
            key=state.TRAIN_FEATURE_SET,
            format_func=feature_set_label,
        )
        name = st.text_input(
            "Model name",
            value="",
            key=state.TRAIN_NAME,
            placeholder=default_name(),
            help="Letters, digits, '.', '_' or '-'. Empty: a timestamped name.",
        )
    with c2:
        epochs = st.number_input("Epochs", 1, 500, DEFAULTS["epochs"], key=state.TRAIN_EPOCHS)
        batch_size = st.number_input("Batch size", 8, 8192, DEFAULTS["batch_size"], step=32, key=state.TRAIN_BATCH_SIZE)
    with c3:
        validation = st.slider(
            "Validation share", 0.0, 0.5, DEFAULTS["validation_split"], 0.05, key=state.TRAIN_VALIDATION
        )
        test_size = st.slider(
            "Test share (threshold)", 0.05, 0.5, DEFAULTS["test_size"], 0.05, key=state.TRAIN_TEST_SIZE
        )
    with c4:
        percentile = st.number_input(
            "Threshold percentile", 50.0, 99.9, DEFAULTS["percentile"], 0.5, key=state.TRAIN_PERCENTILE
        )
        trim_fraction = st.slider(
            "Leave out least-normal share",
            0.0,
            0.5,
            DEFAULTS["trim_fraction"],
            0.05,
            key=state.TRAIN_TRIM,
            help="Training logs hold spam too. A quick screening fit first finds this share of the "
            "training mail that looks least normal; the model then learns from the rest, so "
            "last month's spam campaign doesn't make this month's copies look familiar. 0: one plain fit.",
        )
        seed = st.number_input("Seed", 0, 2**31 - 1, DEFAULTS["seed"], key=state.TRAIN_SEED)
    has_labels = LABEL in log.frame
    normal_only = st.checkbox(
        "Train only on rows labelled normal (label = 0)",
        value=False,
        disabled=not has_labels,
        key=state.TRAIN_NORMAL_ONLY,
        help="Only when the data has a 'label' column. Labels are never used as features.",
    )
    use_verdicts = st.checkbox(
        "Use analysts' verdicts and known events",
        value=True,
        key=state.TRAIN_USE_VERDICTS,
        help="Mail confirmed malicious on the Review page is left out of training, mail marked benign "
        "is always kept (screening never leaves it out), and mail inside a known event is left out.",
    )
    submitted = st.form_submit_button("Train", type="primary", disabled=busy)

if submitted and not busy:
    try:
        chosen = check_name(name.strip()) if name.strip() else None
        params = dict(
            feature_set=feature_set,
            epochs=int(epochs),
            batch_size=int(batch_size),
            validation_split=float(validation),
            test_size=float(test_size),
            percentile=float(percentile),
            trim_fraction=float(trim_fraction),
            seed=int(seed),
        )
        _start(params, chosen, normal_only, use_verdicts)
        job = st.session_state[state.TRAIN_JOB]
    except DataError as error:
        st.error(str(error))
if job is not None and st.session_state.get(state.TRAIN_VERDICTS_USED):
    st.caption(f"Training rows from analysts' work: {st.session_state[state.TRAIN_VERDICTS_USED]}")


def _progress_view(current: TrainingJob) -> None:
    steps = [p for p in current.progress if p.stage == current.stage]
    epoch = steps[-1].epoch if steps else 0
    total = current.screening_epochs if current.stage == "screening" else current.epochs
    elapsed = time.time() - (current.started_at or time.time())
    what = "Screening the training mail (finds mail to leave out)" if current.stage == "screening" else "Training"
    text = f"{what} · Epoch {epoch}/{total} · elapsed {duration_text(elapsed)} · ETA {duration_text(current.eta())}"
    if current.stop_requested and current.running:
        text += " · stopping after this epoch…"
    elif not steps:
        text = f"{what}: preparing features… · elapsed {duration_text(elapsed)}"
    st.progress(epoch / max(total, 1), text=text)
    shown = max(len(steps), min(total, 10))  # readable even for long runs
    title = "Screening fit: loss so far" if current.stage == "screening" else "Loss so far"
    st.plotly_chart(
        charts.loss_curve(current.history, title, epochs=shown, live=True), width="stretch", key=state.TRAIN_LIVE_CURVE
    )


@st.fragment(run_every=1.0)
def _live(current: TrainingJob) -> None:
    if current.finished:
        st.rerun()  # whole page: show the results
    _progress_view(current)
    st.button(
        "Stop",
        on_click=_stop,
        disabled=current.stop_requested,
        key=state.TRAIN_STOP,
        help="Ends training after the current epoch; the model so far is saved.",
    )


if job is None:
    st.info("Set the options and press **Train**. Training runs in the background; you can stop it any time.")
    st.stop()

if job.running:
    st.subheader("Training…")
    _live(job)
    st.stop()

if job.status == "failed":
    st.error(job.error or "Training failed.")
    st.stop()

# Finished: results of the last job in this session.
bundle = job.bundle
detector = job.detector
stopped = " (stopped early)" if detector.stopped_early_ else ""
st.success(f"Saved model **{bundle.name}** after {detector.epochs_run_} of {job.epochs} epochs{stopped}.")
meta = bundle.metadata
s = st.columns(6)
s[0].metric("Threshold", f"{detector.threshold_:.4g}")
s[1].metric("Percentile", f"{detector.percentile:g}")
s[2].metric("Training rows", f"{detector.n_train_rows_:,}")
s[3].metric("Left out", f"{detector.n_trimmed_rows_:,}", help="Training rows the screening fit found least normal")
s[4].metric("Test rows", f"{detector.n_test_rows_:,}")
s[5].metric("Training time", duration_text((job.finished_at or 0) - (job.started_at or 0)))
c1, c2 = st.columns(2)
with c1:
    st.plotly_chart(charts.loss_curve(detector.history_, "Loss curves"), width="stretch")
with c2:
    hist = meta["test_error_histogram"]
    st.plotly_chart(
        charts.error_histogram(
            hist["edges"], hist["counts"], detector.threshold_, title="Test-set errors and threshold"
        ),
        width="stretch",
    )
link("detect", "Next: detect anomalies with this model")
