"""What the Train page offers (no Streamlit): feature sets and the detector's own defaults.

``core.model`` (scikit-learn, and the feature code) is imported on first use, not with this
module, so a Train page stopped for missing data doesn't wait for it.
"""

from __future__ import annotations

import functools

FEATURE_SET_LABELS = {"email": "email – mail-aware features", "seed": "seed – label codes + time"}


@functools.cache
def _defaults() -> dict:
    from core.model import AutoencoderDetector

    return AutoencoderDetector().get_params()


def detector_defaults() -> dict:
    """``AutoencoderDetector``'s default hyperparameters (a fresh dict: change it freely)."""
    return dict(_defaults())


def small_log_note(n_rows: int) -> str | None:
    """The detector's note for a log of ``n_rows`` usable rows (None: big enough)."""
    from core.model import small_log_note as note

    return note(n_rows)


def feature_sets() -> tuple[str, ...]:
    """The feature sets the detector accepts, its default first."""
    from core.features import DEFAULT_FEATURE_SET, FEATURE_SETS

    return (DEFAULT_FEATURE_SET, *(f for f in FEATURE_SETS if f != DEFAULT_FEATURE_SET))


def feature_set_label(name: str) -> str:
    return FEATURE_SET_LABELS.get(name, name)
