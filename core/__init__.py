"""Email-log anomaly detection: load gateway exports, learn normal mail, flag the rest.

UI-free engine used by the dashboard, the command line (``python -m core``) and the
benchmarks. Importing it does not import TensorFlow; that happens when a model is trained
or loaded.
"""

import importlib

from core.errors import BundleError, DataError
from core.schema import FIELDS, PRESETS

# Heavier parts load on first use, so a page that only lists models starts fast.
_LAZY = {
    "AutoencoderDetector": "core.model",
    "EpochProgress": "core.model",
    "EmailLog": "core.loading",
    "LoadReport": "core.loading",
    "concat_logs": "core.loading",
    "read_log": "core.loading",
}


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'core' has no attribute {name!r}")


__all__ = [
    "AutoencoderDetector",
    "BundleError",
    "DataError",
    "EmailLog",
    "EpochProgress",
    "FIELDS",
    "LoadReport",
    "PRESETS",
    "concat_logs",
    "read_log",
]
