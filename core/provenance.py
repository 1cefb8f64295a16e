"""Which data made a model: the training metadata every bundle records, in one shape.

The command line, the dashboard's training jobs and anything else that saves a bundle call
:func:`training_metadata` and pass its result to ``save_bundle(extra_metadata=...)``, so
the Models page reads one shape whoever trained the model. Bundles saved before this shape
kept only ``data_source`` (dashboard) — :func:`data_source` reads both.
"""

from __future__ import annotations

import getpass
import hashlib
import os

import pandas as pd

from core.loading import EmailLog
from core.schema import TIME

ANALYST_ENV = "EMAIL_AD_ANALYST"


def default_analyst() -> str:
    """Who is acting without sign-in: ``$EMAIL_AD_ANALYST``, else the login name."""
    name = os.environ.get(ANALYST_ENV, "").strip()
    if name:
        return name
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


def sha256_of_frame(frame: pd.DataFrame) -> str:
    """A fingerprint of the training rows (which data made this model)."""
    hashed = pd.util.hash_pandas_object(frame.astype(str), index=False).to_numpy()
    return hashlib.sha256(hashed.tobytes()).hexdigest()


def training_metadata(log: EmailLog | None, used_rows: pd.DataFrame, trained_by: str | None = None) -> dict:
    """Bundle metadata describing the training data.

    ``log`` is the log as loaded (None when the rows didn't come from one); ``used_rows``
    the rows given to ``fit`` (e.g. ``log.frame[log.scorable]``, or only the rows labelled
    normal). Returns::

        {"training_data": {"source": file name or None, "rows": rows in the log,
                           "rows_skipped": rows without a readable time,
                           "sha256": fingerprint of used_rows,
                           "time_range": [first, last time in used_rows] (str) or None},
         "column_mapping": {field: header in the file}, "preset": preset name or None,
         "trained_by": who trained it (the signed-in e-mail, else :func:`default_analyst`)}
    """
    times = used_rows[TIME].dropna() if TIME in used_rows else pd.Series(dtype=object)
    if log is None:
        rows, skipped = len(used_rows), len(used_rows) - len(times)
    else:
        rows, skipped = len(log), int((~log.scorable).sum())
    return {
        "training_data": {
            "source": log.report.source if log is not None else None,
            "rows": int(rows),
            "rows_skipped": int(skipped),
            "sha256": sha256_of_frame(used_rows),
            "time_range": [str(times.min()), str(times.max())] if len(times) else None,
        },
        "column_mapping": dict(log.report.columns) if log is not None else {},
        "preset": log.report.preset if log is not None else None,
        "trained_by": trained_by or default_analyst(),
    }


def data_source(metadata: dict) -> str:
    """Where a bundle's training data came from ("" when it doesn't say)."""
    source = (metadata.get("training_data") or {}).get("source")
    return source or metadata.get("data_source") or ""
