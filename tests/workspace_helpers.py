"""Scores frames shaped like core.scoring.score_log's, for workspace tests that need no model."""

from __future__ import annotations

import numpy as np
import pandas as pd


def scores_frame(rows: list[dict]) -> pd.DataFrame:
    """A scores frame: each row gives at least UUID, Sender and error; the rest defaults."""
    frame = pd.DataFrame(
        {
            "UUID": [r["UUID"] for r in rows],
            "Recipient": [r.get("Recipient", "ana@northwind-traders.com") for r in rows],
            "Sender": [r["Sender"] for r in rows],
            "Subject": [r.get("Subject", "Weekly report") for r in rows],
            "Time Processed": pd.to_datetime([r.get("Time", "2026-11-02T09:00:00Z") for r in rows], utc=True),
            "scored": True,
            "reconstruction_error": np.array([r["error"] for r in rows], dtype=float),
            "top_field": [r.get("top_field", "Sender") for r in rows],
            "reason": [r.get("reason", "first mail with this sender domain") for r in rows],
        }
    )
    frame["is_anomaly"] = frame["reconstruction_error"] > 1.0
    return frame


def sample_scores(n: int = 12) -> pd.DataFrame:
    """n rows, errors 0.5, 1.0, 1.5, …: rows 2.. are above threshold 1.0; every third from a promo domain."""
    return scores_frame(
        [
            {
                "UUID": f"msg-{i:03d}",
                "Sender": f"Promo <deals{i}@promo.example>" if i % 3 == 0 else f"user{i}@partner.example",
                "error": 0.5 * (i + 1),
                "reason": "burst of mail" if i % 2 else "first mail with this sender domain",
            }
            for i in range(n)
        ]
    )
