"""Detect/Explore logic without Streamlit: tables, label curves, quick threshold rules."""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.metrics import precision_recall_curve, roc_curve

from core.errors import DataError
from core.evaluation import detection_metrics, labels_of
from core.schema import FEATURE_FIELDS, RECIPIENT, SENDER, SUBJECT, TIME, UUID
from core.scoring import (
    ERROR,
    FIELD_ERROR_PREFIX,
    NEW_PREFIX,
    REASON,
    SCORED,
    TOP_FIELD,
    ThresholdView,
    field_column,
    resolve_threshold,
)

TABLE_LIMIT = 1000
TABLE_COLUMNS = {
    UUID: "UUID",
    SENDER: "Sender",
    RECIPIENT: "Recipient",
    SUBJECT: "Subject",
    TIME: "Time",
    ERROR: "error",
    REASON: "reason",
}

QUICK_RULES = {
    "model": "Model threshold (fitted percentile)",
    "percentile": "Percentile of these errors",
    "top": "Top N rows",
    "rate": "Expected anomaly rate %",
}


def flagged_table(
    scores: pd.DataFrame, view: ThresholdView, threshold: float, limit: int = TABLE_LIMIT
) -> pd.DataFrame:
    """Flagged rows for display, highest error first (first ``limit``); index = row position."""
    positions = view.flagged_positions(threshold, limit)
    table = scores.iloc[positions][list(TABLE_COLUMNS)].rename(columns=TABLE_COLUMNS)
    table.index = positions
    return table


def quick_threshold(rule: str, value: float | None, errors: np.ndarray, fitted: float) -> float:
    """Threshold for one of QUICK_RULES (value: percentile, N, or rate in percent)."""
    if rule == "model" or value is None:
        return float(fitted)
    if rule == "percentile":
        return resolve_threshold(errors, fitted=fitted, percentile=float(value))
    if rule == "top":
        return resolve_threshold(errors, fitted=fitted, top=int(value))
    if rule == "rate":
        return resolve_threshold(errors, fitted=fitted, rate=float(value) / 100.0)
    raise DataError(f"Unknown threshold rule {rule!r}.")


def explanation(scores: pd.DataFrame, position: int) -> dict:
    """Per-field error, reason, top field and new-value flags of one scored row."""
    row = scores.iloc[position]
    return {
        "uuid": row[UUID],
        "error": float(row[ERROR]),
        "fields": {f: float(row[field_column(FIELD_ERROR_PREFIX, f)]) for f in FEATURE_FIELDS},
        "top_field": row[TOP_FIELD],
        "reason": row[REASON],
        "new": {f: bool(row[field_column(NEW_PREFIX, f)]) for f in (SENDER, RECIPIENT, SUBJECT)},
    }


def label_curves(scores: pd.DataFrame) -> dict | None:
    """ROC and PR curves of the scored rows when the data has a valid label column, else None."""
    scored = scores[scores[SCORED]]
    try:
        y = labels_of(scored)
    except DataError:
        return None
    if len(np.unique(y)) < 2:
        return None
    errors = scored[ERROR].to_numpy(dtype=float)
    fpr, tpr, _ = roc_curve(y, errors)
    precision, recall, _ = precision_recall_curve(y, errors)
    base = detection_metrics(y, errors, np.inf)
    return {
        "y": y,
        "errors": errors,
        "fpr": fpr,
        "tpr": tpr,
        "precision": precision,
        "recall": recall,
        "roc_auc": base["roc_auc"],
        "pr_auc": base["pr_auc"],
        "base_rate": float(y.mean()),
    }


def operating_point(curves: dict, threshold: float) -> dict:
    """Precision, recall, false-positive rate and counts when flagging errors above ``threshold``."""
    metrics = detection_metrics(curves["y"], curves["errors"], threshold)
    y, flagged = curves["y"], curves["errors"] > threshold
    negatives = max(int((y == 0).sum()), 1)
    metrics["fpr"] = float((flagged & (y == 0)).sum() / negatives)
    return metrics


def map_table(scores: pd.DataFrame, scorable_positions: np.ndarray, map_frame: pd.DataFrame) -> pd.DataFrame:
    """Rows of the t-SNE map with their log fields: ``map_frame.position`` indexes scorable rows."""
    rows = scorable_positions[map_frame["position"].to_numpy()]
    table = scores.iloc[rows][[UUID, SENDER, RECIPIENT, SUBJECT, TIME, ERROR, REASON]]
    table = table.rename(columns={TIME: "Time", ERROR: "error", REASON: "reason"})
    table.index = rows
    return table
