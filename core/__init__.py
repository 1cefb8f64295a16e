"""Email-log anomaly detection: load gateway exports, learn normal mail, flag the rest.

UI-free engine used by the dashboard, the command line (``python -m core``) and the
benchmarks. Importing it does not import TensorFlow; that happens when a model is trained
or loaded.
"""

from core.errors import BundleError, DataError
from core.loading import EmailLog, LoadReport, concat_logs, read_log
from core.model import AutoencoderDetector, EpochProgress
from core.schema import FIELDS, PRESETS

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
