"""The Data page's upload handling: read uploads, show errors, offer the column-mapping form."""

from __future__ import annotations

import streamlit as st

from core.errors import DataError, MissingColumnsError
from core.schema import FIELDS, PRESET_LABELS
from ui import state
from ui.common import set_data, sidebar, use_data
from ui.data import fingerprint, load_sources, missing_fields, read_headers, suggested_mapping

NO_PRESET = "(none – map by hand)"


def _is_missing_columns(error: DataError) -> bool:
    """Whether a load failed only because fields aren't found by name (the form can fix that)."""
    return isinstance(error, MissingColumnsError) and bool(error.missing)


def try_load(files: list[tuple[str, bytes]], mapping: dict | None) -> bool:
    """Load ``files`` as the session's data; on bad input keep the message for display."""
    try:
        with st.spinner("Reading and checking the files…"):
            log = load_sources(files, mapping)
    except DataError as error:
        st.session_state[state.DATA_ERROR] = str(error)
        st.session_state[state.DATA_NEEDS_MAPPING] = _is_missing_columns(error)
        return False
    set_data(log, fingerprint(files, mapping))
    sidebar()  # drawn before the upload was read
    return True


def mapping_form(files: list[tuple[str, bytes]]) -> None:
    """Column-mapping form for files whose headers don't name the five fields."""
    headers = read_headers(files[0][1])
    if not headers or not missing_fields(headers):
        return
    suggested = suggested_mapping(headers)
    with st.form(state.DATA_MAPPING_FORM):
        st.markdown("**Map the columns** – pick a preset for a known export, or a column per field.")
        preset = st.selectbox(
            "Preset",
            [NO_PRESET, *PRESET_LABELS],
            key=state.DATA_MAP_PRESET,
            format_func=lambda p: PRESET_LABELS.get(p, p),
        )
        chosen = {}
        for col, field in zip(st.columns(len(FIELDS)), FIELDS, strict=True):
            with col:
                default = suggested[field]
                chosen[field] = st.selectbox(
                    field,
                    headers,
                    index=headers.index(default) if default in headers else 0,
                    key=state.data_map_field(field),
                )
        if st.form_submit_button("Read with this mapping", type="primary"):
            mapping = {"preset": preset} if preset in PRESET_LABELS else {"columns": chosen}
            st.session_state[state.DATA_MAPPING] = mapping
            try_load(files, mapping)
            st.rerun()


def handle_uploads(files: list[tuple[str, bytes]]) -> None:
    """New uploads are read as they are; if that fails, the error and (for missing columns)
    the mapping form are shown until a mapping works or other files are uploaded."""
    if not files:
        return
    token = fingerprint(files)
    if st.session_state.get(state.DATA_UPLOAD_TOKEN) != token:
        st.session_state[state.DATA_UPLOAD_TOKEN] = token
        st.session_state.pop(state.DATA_MAPPING, None)
        st.session_state.pop(state.DATA_ERROR, None)
        try_load(files, None)
    error = st.session_state.get(state.DATA_ERROR)
    if error:
        st.error(error)
        if st.session_state.get(state.DATA_LOG) is not None:
            st.caption("Still showing the data loaded before.")
        if st.session_state.get(state.DATA_NEEDS_MAPPING):
            mapping_form(files)


def group_messages() -> None:
    """Checkbox callback: read the loaded log one row per message, or back as the files list it."""
    from core.loading import group_by_message

    log, token = st.session_state[state.DATA_AS_READ]
    if st.session_state.get(state.DATA_GROUP):
        log, token = group_by_message(log), f"{token}-by-message"
    use_data(log, token)


def group_by_message_choice(log) -> None:
    """For a log listing a message once per recipient: say so, and offer one row per message."""
    report = log.report
    if not (report.per_recipient or report.merged_rows):
        return
    st.session_state[state.DATA_GROUP] = bool(report.merged_rows)  # the checkbox follows the data shown
    st.checkbox(
        "Read one row per message, with all its recipients",
        key=state.DATA_GROUP,
        on_change=group_messages,
        help="Rows sharing a UUID become one message whose Recipient lists every recipient, so "
        "recipients per mail and fan-out count the whole message (`--group-by-message` on the command "
        "line). Train and detect with the same choice.",
    )
