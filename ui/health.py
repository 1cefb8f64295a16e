"""Model health in the dashboard: the verdict (Detect and the Health page), the full view, and
the one-click path to retraining.

The report comes from the scoring pass (``ui.common.scored_for``): nothing here reads the log
again. Reasons can quote sender addresses, so they reach markdown escaped.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import streamlit as st
from streamlit.errors import StreamlitAPIException

from core.health import RETRAIN_TO_ENABLE, HealthMonitor
from ui import charts, state
from ui.common import link
from ui.formatting import markdown_text

if TYPE_CHECKING:
    from core.health import HealthReport
    from core.loading import EmailLog
    from ui.scored import Scored

_BOX = {"fits": st.success, "drifting": st.warning, "retrain": st.error}
# The flagged share reads as alarming from the ratio at which the monitor says "drifting".
_ALARMING_FLAG_RATIO = HealthMonitor.__init__.__kwdefaults__["drifting_flag_ratio"]
_FEATURE_COLUMNS = ["feature", "field", "drifted", "distance", "p_adjusted", "training", "now", "error_increase"]


def verdict_text(report: HealthReport) -> str:
    """The verdict as markdown: the label and its numbers, then the reasons as a list."""
    head = (
        f"**Model health: {report.label}** — {report.drift_share:.0%} of features drifted, "
        # The monitor counts at the model's threshold, whatever the slider shows above it.
        f"{report.flagged_share:.1%} of mail flagged at the model's threshold "
        f"({report.expected_flagged_share:.1%} expected)."
    )
    lines = [head, *(f"- {markdown_text(reason)}" for reason in report.reasons)]
    lines += [f"\n*{markdown_text(note)}*" for note in report.notes]
    return "\n".join(lines)


def verdict(report: HealthReport | None) -> None:
    """The verdict box: green fits, amber drifting, red retrain; the retrain note for old bundles."""
    if report is None:
        st.info(f"Model health: {RETRAIN_TO_ENABLE}.")
    else:
        _BOX[report.verdict](verdict_text(report))


def panel(scored: Scored) -> None:
    """Detect's compact health panel: the verdict, and a link to the full view."""
    verdict(scored.health)
    if scored.health is not None:
        link("health", "Why? Open the model health page (charts, drift per feature, retrain)")


def full_view(scored: Scored) -> None:
    """The Health page below the pickers: verdict first, retraining when advised, then the charts."""
    report = scored.health
    verdict(report)
    if report is None:
        retrain_buttons(scored)
        return
    if report.verdict != "fits":
        retrain_buttons(scored)

    st.subheader("In email terms")
    st.dataframe(
        report.indicators.drop(columns="distance"),
        hide_index=True,
        width="stretch",
        column_config={"indicator": st.column_config.TextColumn(width="large")},
    )
    left, right = st.columns(2)
    with left:
        st.plotly_chart(
            charts.health_error_histogram(
                report.error_edges,
                report.training_error_shares,
                report.error_shares,
                float(scored.detector.threshold_),
            ),
            width="stretch",
        )
    with right:
        if report.hour_training is None and report.hour_now is None:
            st.caption("This model's features have no hour of day: no hour-of-day mix to compare.")
        else:
            st.plotly_chart(charts.hour_mix_bar(report.hour_training, report.hour_now), width="stretch")
    alarming = report.flagged_share >= _ALARMING_FLAG_RATIO * report.expected_flagged_share
    st.plotly_chart(
        charts.flagged_share_bar(report.flagged_share, report.expected_flagged_share, alarming=alarming),
        width="stretch",
    )

    st.subheader("Drift per feature")
    st.caption(
        "Each model feature on this log against the training reference, drifted first. distance: "
        "Jensen–Shannon (0 = same mix, 1 = nothing in common); p_adjusted: chi-squared test, "
        "Benjamini–Hochberg corrected; error_increase: how much more this feature adds to the error per row."
    )
    st.dataframe(feature_table(report), hide_index=True, width="stretch", column_config=_feature_columns())


def feature_table(report: HealthReport):
    """The per-feature table, drifted features first (each group by distance, largest first)."""
    table = report.features[_FEATURE_COLUMNS]
    return table.sort_values(["drifted", "distance"], ascending=[False, False], kind="stable").reset_index(drop=True)


def _feature_columns() -> dict:
    col = st.column_config
    return {
        "drifted": col.CheckboxColumn(width="small"),
        "distance": col.NumberColumn(format="%.3f"),
        "p_adjusted": col.NumberColumn("p (adjusted)", format="%.2g"),
        "training": col.NumberColumn("mean in training", format="%.4g"),
        "now": col.NumberColumn("mean now", format="%.4g"),
        "error_increase": col.NumberColumn("error increase", format="%+.3f"),
    }


# --------------------------------------------------------------------------- retraining


def retrain_sources(scored: Scored) -> dict[str, str]:
    """What a retraining can start from: this log, and this log with the data of the session's
    last training when that is still loaded and is other data. Keys: the button keys."""
    options = {state.HEALTH_RETRAIN_NEW: "Retrain on this log"}
    trained_on = st.session_state.get(state.TRAIN_DATA)
    if trained_on is not None and trained_on[1] != scored.token:
        options[state.HEALTH_RETRAIN_BOTH] = "Retrain on the training data and this log"
    return options


def train_dataset(scored: Scored, button: str) -> tuple[EmailLog, str, str]:
    """The Train page's dataset for ``button``: (log, token, where it comes from)."""
    if button == state.HEALTH_RETRAIN_BOTH:
        from core.loading import concat_logs

        trained_log, trained_token = st.session_state[state.TRAIN_DATA]
        both = concat_logs([trained_log, scored.log])
        return both, f"{trained_token}+{scored.token}", "the last training's data and the log checked on Model health"
    return scored.log, scored.token, "the log checked on Model health"


def retrain_buttons(scored: Scored) -> None:
    """One click: the chosen data becomes the Train page's dataset, and the Train page opens."""
    options = retrain_sources(scored)
    columns = st.columns(len(options) + 1)
    for column, (key, label) in zip(columns, options.items(), strict=False):
        with column:
            clicked = st.button(label, key=key, type="primary" if key == state.HEALTH_RETRAIN_NEW else "secondary")
        if clicked:
            st.session_state[state.TRAIN_DATASET] = train_dataset(scored, key)
            try:
                st.switch_page(state.PAGES["train"][0])
            except StreamlitAPIException:  # a page run alone (tests) has no page registry
                st.success("Open the Train page: its dataset is set.")
