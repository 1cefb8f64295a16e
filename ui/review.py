"""The Detect page's review of flagged mail at a threshold: downloads, the flagged table, one
row's explanation, and precision/recall against the labels when the data has them."""

from __future__ import annotations

from typing import TYPE_CHECKING

import streamlit as st

from core.scoring import flagged_csv, to_csv_bytes
from core.workspace.feedback import carry_over
from ui import charts, state
from ui.common import table_columns
from ui.detect import TABLE_LIMIT, explanation, operating_point
from ui.selection import selected_table_row
from ui.triage import Suppression, marked_table

if TYPE_CHECKING:
    import pandas as pd

    from core.scoring import ThresholdView


def _all_scores_csv(scores: pd.DataFrame, suppression: Suppression, threshold: float, verdicts) -> bytes:
    """Every row with ``suppressed_by``, ``is_anomaly`` at ``threshold`` (false when suppressed),
    and the earlier ``verdict`` / ``carry_over`` marks, as ``python -m core detect`` writes them."""
    return to_csv_bytes(carry_over(suppression.apply(scores, threshold), *verdicts))


def downloads(scores: pd.DataFrame, threshold: float, suppression: Suppression, verdicts) -> None:
    """Download buttons for the flagged rows and for every scored row at ``threshold``.

    Rows an allow-list rule suppresses are not flagged, so they are not in the flagged file."""
    d1, d2, _ = st.columns([1, 1, 2])
    # Files are written when clicked (not on every slider move): a million rows take seconds.
    d1.download_button(
        "Download flagged CSV",
        lambda: flagged_csv(scores[suppression.rule == 0], threshold),
        "flagged.csv",
        "text/csv",
        on_click="ignore",
        type="primary",
        key=state.DETECT_DOWNLOAD_FLAGGED,
    )
    d2.download_button(
        "Download all scores CSV",
        lambda: _all_scores_csv(scores, suppression, threshold, verdicts),
        "scores.csv",
        "text/csv",
        on_click="ignore",
        key=state.DETECT_DOWNLOAD_ALL,
        help="Every row with its error, reason and suppressed_by; is_anomaly at this threshold.",
    )


def flagged_mail(
    scores: pd.DataFrame, view: ThresholdView, threshold: float, suppression: Suppression, verdicts
) -> None:
    """Downloads and the table of flagged rows (highest error first, known-bad senders ahead,
    known-good ones last) with their triage state; a picked row is explained. ``verdicts``:
    (by UUID, by sender) from the workspace."""
    st.subheader("Flagged mail")
    flagged = suppression.flagged_count(view, threshold)
    positions = suppression.positions(view, threshold, limit=TABLE_LIMIT)
    table = marked_table(scores, positions, *verdicts, suppression)
    if len(table) < flagged:
        st.caption(f"Showing the {len(table):,} highest of {flagged:,} flagged rows; the download has all.")
    downloads(scores, threshold, suppression, verdicts)
    suppressed = suppression.count_above(threshold)
    if suppressed:
        with st.expander(f"{suppressed:,} rows above the threshold are suppressed by allow-list rules (not flagged)"):
            hidden = suppression.positions(view, threshold, suppressed=True, limit=TABLE_LIMIT)
            st.dataframe(
                marked_table(scores, hidden, *verdicts, suppression, order=False),
                hide_index=True,
                width="stretch",
                key=state.DETECT_SUPPRESSED_TABLE,
                column_config=table_columns(),
            )
    if table.empty:
        st.info("No row is above this threshold. Lower it to flag mail.")
        return
    event = st.dataframe(
        table,
        hide_index=True,
        width="stretch",
        height=360,
        on_select="rerun",
        selection_mode="single-row",
        key=state.DETECT_TABLE,
        column_config=table_columns(),
    )
    position = selected_table_row(event, table.index)
    if position is None:
        st.caption("Select a row to see why it was flagged.")
    else:
        row_explanation(scores, position)


def row_explanation(scores: pd.DataFrame, position: int) -> None:
    """Per-field error chart, reason, main field and new values of one scored row."""
    info = explanation(scores, position)
    e1, e2 = st.columns([3, 2])
    with e1:
        st.plotly_chart(
            charts.field_errors_bar(
                info["fields"], f"Why row {info['uuid'][:36]} is flagged", highlight=info["top_field"]
            ),
            width="stretch",
            key=state.DETECT_EXPLAIN_CHART,
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


def against_labels(curves: dict | None, threshold: float) -> None:
    """Precision, recall, ROC and PR curves at ``threshold`` (nothing when there are no labels)."""
    if curves is None:
        return
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
        key=state.DETECT_ROC,
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
        key=state.DETECT_PR,
    )
