"""Plotly figures for the dashboard: plain functions returning ``go.Figure`` (no Streamlit).

Text from the log (subjects, addresses) only reaches figures as hover data through
``customdata``; Plotly escapes it, so it is never interpreted as HTML.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import plotly.graph_objects as go

NORMAL_COLOR = "#4C78A8"
ANOMALY_COLOR = "#E45756"
VAL_COLOR = "#F58518"
THRESHOLD_COLOR = "#B22222"
_MARGIN = dict(l=50, r=20, t=50, b=45)
_BOTTOM_LEGEND = dict(orientation="h", yanchor="top", y=-0.22, xanchor="left", x=0)


def _layout(fig: go.Figure, title: str, height: int = 360, **kwargs) -> go.Figure:
    kwargs.setdefault("legend", dict(orientation="h", yanchor="bottom", y=1.0, xanchor="right", x=1))
    margin = dict(_MARGIN, b=90) if kwargs["legend"] is _BOTTOM_LEGEND else _MARGIN
    fig.update_layout(
        title=dict(text=title, x=0, xanchor="left"),
        height=height,
        margin=margin,
        template="plotly_white",
        **kwargs,
    )
    return fig


def loss_curve(
    history: dict, title: str = "Training loss", epochs: int | None = None, height: int = 360, *, live: bool = False
) -> go.Figure:
    """Train and validation loss per epoch (1-based); ``live``: a training still running."""
    fig = go.Figure()
    loss = list(history.get("loss") or [])
    val = list(history.get("val_loss") or [])
    if loss:
        fig.add_trace(
            go.Scatter(
                x=list(range(1, len(loss) + 1)),
                y=loss,
                mode="lines+markers",
                name="training",
                line=dict(color=NORMAL_COLOR),
            )
        )
    if val:
        fig.add_trace(
            go.Scatter(
                x=list(range(1, len(val) + 1)),
                y=val,
                mode="lines+markers",
                name="validation",
                line=dict(color=VAL_COLOR),
            )
        )
    n = max(epochs or 0, len(loss), 1)
    _layout(fig, title, height=height)
    fig.update_xaxes(
        title="epoch", range=[0.5, n + 0.5], tickformat="d", dtick=max(1, round(n / 10)) if n <= 200 else None
    )
    fig.update_yaxes(title="loss (MSE)")
    if not loss and not val:  # an empty loss axis, not Plotly's -1 to 4, and why it is empty
        fig.update_yaxes(range=[0, 1])
        why = "waiting for the first epoch" if live else "no loss history saved with this model"
        fig.add_annotation(text=why, x=0.5, y=0.5, xref="paper", yref="paper", showarrow=False)
    return fig


def error_histogram(
    edges: Sequence[float],
    counts: Sequence[int],
    threshold: float | None = None,
    *,
    log_y: bool = False,
    title: str = "Reconstruction errors",
    height: int = 360,
) -> go.Figure:
    """Histogram from precomputed bins, bars above the threshold in red, threshold as a line."""
    edges = np.asarray(edges, dtype=float)
    counts = np.asarray(counts)
    centers = (edges[:-1] + edges[1:]) / 2
    widths = np.diff(edges)
    above = centers > threshold if threshold is not None else np.zeros(len(centers), bool)
    fig = go.Figure()
    for mask, name, color in ((~above, "below threshold", NORMAL_COLOR), (above, "above threshold", ANOMALY_COLOR)):
        if mask.any():
            fig.add_trace(
                go.Bar(
                    x=centers[mask],
                    y=counts[mask],
                    width=widths[mask],
                    name=name,
                    marker_color=color,
                    customdata=np.column_stack([edges[:-1][mask], edges[1:][mask]]),
                    hovertemplate="error %{customdata[0]:.4g} – %{customdata[1]:.4g}<br>%{y} rows<extra></extra>",
                )
            )
    if threshold is not None:
        fig.add_vline(
            x=threshold,
            line=dict(color=THRESHOLD_COLOR, width=2, dash="dash"),
            annotation_text=f"threshold {threshold:.4g}",
            annotation_position="top right",
        )
    _layout(fig, title, height=height, bargap=0.02, showlegend=False)
    fig.update_xaxes(title="reconstruction error")
    if log_y:
        fig.update_yaxes(title="rows (log scale)", type="log", dtick=1)
    else:
        # Rows come whole: a few rows (a small log's 20 test rows) would get ticks at 0.5.
        fig.update_yaxes(title="rows", type="linear", dtick=1 if counts.max(initial=0) <= 6 else None)
    return fig


def field_errors_bar(
    errors: dict[str, float], title: str = "Error per field", highlight: str | None = None
) -> go.Figure:
    """Horizontal bars: how much each field contributes to one row's error; ``highlight``
    (default: the largest) is drawn in the anomaly colour — the field the reason names."""
    names = list(errors)
    values = [float(errors[n]) for n in names]
    if highlight in names:
        top = names.index(highlight)
    else:
        top = int(np.nanargmax(values)) if values and not np.all(np.isnan(values)) else -1
    colors = [ANOMALY_COLOR if i == top else NORMAL_COLOR for i in range(len(names))]
    fig = go.Figure(
        go.Bar(x=values, y=names, orientation="h", marker_color=colors, hovertemplate="%{y}: %{x:.4g}<extra></extra>")
    )
    _layout(fig, title, height=260, showlegend=False)
    fig.update_xaxes(title="share of the reconstruction error")
    fig.update_yaxes(autorange="reversed")
    return fig


def roc_figure(fpr, tpr, auc: float | None, point: tuple[float, float] | None = None) -> go.Figure:
    """ROC curve with the diagonal and the current threshold's operating point."""
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=[0, 1], y=[0, 1], mode="lines", name="chance", line=dict(color="#999", dash="dot")))
    label = "ROC" if auc is None else f"ROC (AUC {auc:.3f})"
    fig.add_trace(go.Scatter(x=fpr, y=tpr, mode="lines", name=label, line=dict(color=NORMAL_COLOR)))
    return _curve_layout(fig, "ROC curve", "false positive rate", "true positive rate", point)


def pr_figure(
    precision, recall, ap: float | None, point: tuple[float, float] | None = None, base_rate: float | None = None
) -> go.Figure:
    """Precision-recall curve; ``point`` is (recall, precision) at the current threshold."""
    fig = go.Figure()
    label = "PR" if ap is None else f"PR (AP {ap:.3f})"
    fig.add_trace(go.Scatter(x=recall, y=precision, mode="lines", name=label, line=dict(color=NORMAL_COLOR)))
    if base_rate is not None:
        fig.add_trace(
            go.Scatter(
                x=[0, 1], y=[base_rate, base_rate], mode="lines", name="chance", line=dict(color="#999", dash="dot")
            )
        )
    return _curve_layout(fig, "Precision–recall curve", "recall", "precision", point)


def _curve_layout(
    fig: go.Figure, title: str, x_title: str, y_title: str, point: tuple[float, float] | None
) -> go.Figure:
    """Shared look of the ROC and PR charts, with the current threshold's point marked."""
    if point is not None:
        fig.add_trace(
            go.Scatter(
                x=[point[0]],
                y=[point[1]],
                mode="markers",
                name="current threshold",
                marker=dict(color=ANOMALY_COLOR, size=11),
            )
        )
    _layout(fig, title, height=380, legend=_BOTTOM_LEGEND)
    fig.update_xaxes(title=x_title, range=[-0.02, 1.02])
    fig.update_yaxes(title=y_title, range=[-0.02, 1.04])
    return fig


def tsne_scatter(
    points: pd.DataFrame, flagged: np.ndarray, hover: pd.DataFrame, title: str = "t-SNE map of scored mail"
) -> go.Figure:
    """Scattergl of the map, normal and anomalous as two traces.

    ``points`` has x, y; ``hover`` (same length) has UUID, Sender, Subject, error and optionally
    state (shown under the error; with it, rows with a verdict get a dark outline). Each
    point's ``customdata`` starts with its row number in ``points`` so selections map back.
    """
    flagged = np.asarray(flagged, dtype=bool)
    fig = go.Figure()
    # Triage state (verdict, known sender, suppression) rides along when the page gives it.
    state = hover["state"].astype(str).to_numpy() if "state" in hover else np.full(len(points), "", dtype=object)
    custom = (
        np.column_stack(
            [
                np.arange(len(points)),
                hover["UUID"].astype(str).to_numpy(),
                hover["Sender"].astype(str).to_numpy(),
                hover["Subject"].astype(str).str.slice(0, 80).to_numpy(),
                hover["error"].to_numpy(dtype=float),
                state,
            ]
        ).astype(object)
        if len(points)
        else np.empty((0, 6), dtype=object)
    )
    template = (
        "UUID %{customdata[1]}<br>Sender %{customdata[2]}<br>Subject %{customdata[3]}"
        "<br>error %{customdata[4]:.4g}<br>%{customdata[5]}<extra></extra>"
    )
    for mask, name, color, size in ((~flagged, "normal", NORMAL_COLOR, 5), (flagged, "anomalous", ANOMALY_COLOR, 8)):
        fig.add_trace(
            go.Scattergl(
                x=points["x"].to_numpy()[mask],
                y=points["y"].to_numpy()[mask],
                mode="markers",
                name=f"{name} ({int(mask.sum()):,})",
                marker=dict(
                    color=color,
                    size=size,
                    opacity=0.75,
                    line=dict(color="#222222", width=np.where(state[mask] != "", 1.5, 0.0)),
                ),
                customdata=custom[mask],
                hovertemplate=template,
            )
        )
    _layout(fig, title, height=560, dragmode="lasso")
    fig.update_xaxes(showticklabels=False, title=None, zeroline=False)
    fig.update_yaxes(showticklabels=False, title=None, zeroline=False)
    return fig


def hourly_bar(counts: pd.Series) -> go.Figure:
    fig = go.Figure(
        go.Bar(
            x=list(counts.index),
            y=counts.to_numpy(),
            marker_color=NORMAL_COLOR,
            hovertemplate="%{x}:00 UTC: %{y} messages<extra></extra>",
        )
    )
    _layout(fig, "Mail per hour of day (UTC)", height=320, showlegend=False)
    fig.update_xaxes(title="hour", dtick=2, range=[-0.5, 23.5])
    fig.update_yaxes(title="messages")
    return fig


# How each bin is named in the title, on hover and on the axis.
_BIN_HOVER = {"day": "%{x|%a %Y-%m-%d}", "week": "week of %{x|%a %Y-%m-%d}", "month": "%{x|%B %Y}"}
_BIN_TICKS = {"day": "%a %b %d", "week": "%b %d<br>%Y", "month": "%b %Y"}


def daily_bar(counts: pd.Series, unit: str = "day") -> go.Figure:
    """Messages per ``unit`` ("day", "week" starting Monday, "month"), one bar per bin."""
    fig = go.Figure(
        go.Bar(
            x=list(counts.index),
            y=counts.to_numpy(),
            marker_color=NORMAL_COLOR,
            hovertemplate=f"{_BIN_HOVER[unit]}: %{{y}} messages<extra></extra>",
        )
    )
    _layout(fig, f"Mail per {unit} (UTC)", height=320, showlegend=False)
    # Whole days on the axis (plotly would otherwise label noon/midnight for short ranges).
    few_days = unit == "day" and len(counts) <= 14
    fig.update_xaxes(title=unit, tickformat=_BIN_TICKS[unit], dtick=86_400_000 if few_days else None)
    fig.update_yaxes(title="messages")
    return fig


def domains_bar(counts: pd.Series, title: str = "Top sender domains") -> go.Figure:
    fig = go.Figure(
        go.Bar(
            x=counts.to_numpy(),
            y=list(counts.index),
            orientation="h",
            marker_color=NORMAL_COLOR,
            hovertemplate="%{y}: %{x} messages<extra></extra>",
        )
    )
    _layout(fig, title, height=max(200, 26 * len(counts) + 120), showlegend=False, bargap=0.25)
    fig.update_xaxes(title="messages")
    fig.update_yaxes(autorange="reversed", automargin=True)
    return fig


# --------------------------------------------------------------------------- model health

TRAINING_COLOR = "#9AA5B1"  # the reference (training) drawn in grey, the log being checked in colour


def health_error_histogram(
    edges: Sequence[float],
    training_shares: Sequence[float],
    shares: Sequence[float],
    threshold: float | None = None,
    *,
    title: str = "Errors of this log against the training test errors",
    height: int = 360,
) -> go.Figure:
    """Two overlaid histograms on the same bins (``edges``): the share of this log's rows and
    of the held-out training rows per error bin, with the model's threshold as a line."""
    edges = np.asarray(edges, dtype=float)
    centers = (edges[:-1] + edges[1:]) / 2
    widths = np.diff(edges)
    bounds = np.column_stack([edges[:-1], edges[1:]])
    fig = go.Figure()
    for values, name, color in (
        (training_shares, "training test errors", TRAINING_COLOR),
        (shares, "this log", NORMAL_COLOR),
    ):
        fig.add_trace(
            go.Bar(
                x=centers,
                y=np.asarray(values, dtype=float),
                width=widths,
                name=name,
                marker_color=color,
                opacity=0.6,
                customdata=bounds,
                hovertemplate=f"{name}<br>error %{{customdata[0]:.4g}} – %{{customdata[1]:.4g}}"
                "<br>%{y:.1%} of rows<extra></extra>",
            )
        )
    if threshold is not None:
        fig.add_vline(
            x=threshold,
            line=dict(color=THRESHOLD_COLOR, width=2, dash="dash"),
            annotation_text=f"threshold {threshold:.4g}",
            annotation_position="top right",
        )
    _layout(fig, title, height=height, barmode="overlay", bargap=0.02, legend=_BOTTOM_LEGEND)
    fig.update_xaxes(title="reconstruction error (last bin: everything above)")
    fig.update_yaxes(title="share of rows", tickformat=".0%")
    return fig


def hour_mix_bar(
    training: Sequence[float] | None,
    now: Sequence[float] | None,
    *,
    title: str = "Hour-of-day mix (UTC): training against this log",
    height: int = 340,
) -> go.Figure:
    """24 grouped bars per side: the share of mail per hour in training and in this log."""
    fig = go.Figure()
    hours = list(range(24))
    for values, name, color in ((training, "training", TRAINING_COLOR), (now, "this log", NORMAL_COLOR)):
        if values is None:
            continue
        fig.add_trace(
            go.Bar(
                x=hours,
                y=np.asarray(values, dtype=float),
                name=name,
                marker_color=color,
                hovertemplate=f"{name}: %{{x}}:00 UTC, %{{y:.1%}} of mail<extra></extra>",
            )
        )
    _layout(fig, title, height=height, barmode="group", bargap=0.15, legend=_BOTTOM_LEGEND)
    fig.update_xaxes(title="hour of day (UTC)", dtick=2, range=[-0.5, 23.5])
    fig.update_yaxes(title="share of mail", tickformat=".0%")
    return fig


def flagged_share_bar(
    flagged: float, expected: float, *, alarming: bool = False, title: str = "Flagged share", height: int = 260
) -> go.Figure:
    """This log's flagged share next to the share the threshold's percentile expects
    (``alarming``: drawn in the anomaly colour)."""
    color = ANOMALY_COLOR if alarming else NORMAL_COLOR
    fig = go.Figure(
        go.Bar(
            x=[expected, flagged],
            y=["expected (training)", "this log"],
            orientation="h",
            marker_color=[TRAINING_COLOR, color],
            text=[f"{expected:.1%}", f"{flagged:.1%}"],
            textposition="outside",
            cliponaxis=False,
            hovertemplate="%{y}: %{x:.1%} of mail flagged<extra></extra>",
        )
    )
    _layout(fig, title, height=height, showlegend=False, bargap=0.35)
    top = max(flagged, expected) * 1.3 or 0.1  # room for the labels outside the bars
    fig.update_xaxes(title="share of mail above the model's threshold", tickformat=".0%", range=[0, top])
    fig.update_yaxes(autorange="reversed", automargin=True)
    return fig
