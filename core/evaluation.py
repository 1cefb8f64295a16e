"""Measuring detection quality against labels (never used as features).

``protocol_split`` is the fixed protocol of ``shared/data/README.md``: a stratified 50/50
split per seed; the training half keeps every legitimate row plus positives subsampled to
5% of it; the test half keeps its natural mix. Scores are compared by ROC-AUC and PR-AUC on
the test half, and by precision/recall when flagging above the 95th percentile of the
training-half scores.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.metrics import average_precision_score, precision_recall_fscore_support, roc_auc_score
from sklearn.model_selection import train_test_split

from core.errors import DataError
from core.schema import LABEL

TRAIN_POSITIVE_SHARE = 0.05
# The shared labeled logs (csdmc2010, ceas08), beside the project folder; read only. Used by
# the benchmarks and the tests, which skip when it is absent.
SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


def labels_of(frame: pd.DataFrame) -> np.ndarray:
    """The 0/1 ``label`` column as ints, with a clear error when it is missing or malformed."""
    if LABEL not in frame:
        raise DataError(
            "This needs a 'label' column (1 = anomalous, 0 = normal) to evaluate against. "
            "Add one, or use detect instead."
        )
    values = pd.to_numeric(frame[LABEL].astype(str).str.strip(), errors="coerce")
    if values.isna().any() or not values.isin([0, 1]).all():
        raise DataError("The 'label' column must hold only 0 (normal) and 1 (anomalous).")
    return values.to_numpy(dtype=int)


def protocol_split(frame: pd.DataFrame, seed: int) -> tuple[pd.DataFrame, pd.DataFrame, np.ndarray]:
    """(training half, test half, test labels) for one seed of the fixed protocol."""
    y = labels_of(frame)
    train_idx, test_idx = train_test_split(np.arange(len(frame)), test_size=0.5, stratify=y, random_state=seed)
    rng = np.random.default_rng(seed)
    legit = train_idx[y[train_idx] == 0]
    positives = train_idx[y[train_idx] == 1]
    n_pos = int(round(len(legit) * TRAIN_POSITIVE_SHARE / (1 - TRAIN_POSITIVE_SHARE)))
    kept = np.sort(np.concatenate([legit, rng.choice(positives, min(n_pos, len(positives)), replace=False)]))
    test_idx = np.sort(test_idx)
    return frame.iloc[kept], frame.iloc[test_idx], y[test_idx]


def detection_metrics(y_true, scores, threshold: float, top_k: int | None = None) -> dict:
    """ROC-AUC, PR-AUC, precision/recall/F1 when flagging ``scores > threshold``, precision@k."""
    y_true = np.asarray(y_true)
    scores = np.asarray(scores, dtype=float)
    flagged = scores > threshold
    precision, recall, f1, _ = precision_recall_fscore_support(y_true, flagged, average="binary", zero_division=0)
    k = top_k or max(int(y_true.sum()), 1)
    top = np.argsort(-scores, kind="stable")[:k]
    both = len(np.unique(y_true)) == 2
    return {
        "rows": int(len(y_true)),
        "positives": int(y_true.sum()),
        "roc_auc": float(roc_auc_score(y_true, scores)) if both else None,
        "pr_auc": float(average_precision_score(y_true, scores)) if both else None,
        "threshold": float(threshold),
        "flagged": int(flagged.sum()),
        "precision": float(precision),
        "recall": float(recall),
        "f1": float(f1),
        "k": int(k),
        "precision_at_k": float(y_true[top].mean()) if len(top) else 0.0,
    }
