"""Session-state keys (namespaced by the page that writes them) and shared settings."""

from __future__ import annotations

import os
from pathlib import Path

from core.artifacts import DEFAULT_ARTIFACTS

# Data page -> every page
DATA_LOG = "data.log"  # EmailLog
DATA_TOKEN = "data.token"  # str fingerprint of the loaded data (cache key)
DATA_MAPPING = "data.mapping"  # {"columns": {...}} or {"preset": name} for the upload form
DATA_UPLOAD_TOKEN = "data.upload_token"  # fingerprint of the uploads last tried
DATA_ERROR = "data.error"  # message of the last failed load
DATA_NEEDS_MAPPING = "data.needs_mapping"  # that failure was missing columns → show the form
# Train page
TRAIN_JOB = "train.job"  # core.jobs.TrainingJob
TRAIN_DATA = "train.data"  # (EmailLog, token) the last training in this session started from
TRAIN_ANNOUNCED = "train.announced"  # bundle name of the finished job already made current
# Shared: the model chosen last (Train sets it after saving, Detect/Models change it)
MODEL_NAME = "models.selected"
MODELS_CONFIRM_DELETE = "models.confirm_delete"
# Detect page -> Explore
DETECT_THRESHOLD = "detect.threshold"  # float, current threshold
DETECT_MODEL = "detect.model"  # bundle name the threshold belongs to
DETECT_SLIDER = "detect.slider"  # widget keys (kept in sync with DETECT_THRESHOLD)
DETECT_NUMBER = "detect.number"

DEMO_ROWS = 3000
DEMO_SEED = 0

PAGES = {
    "home": ("dashboard.py", "Home"),
    "data": ("pages/1_Data.py", "Data"),
    "train": ("pages/2_Train.py", "Train"),
    "detect": ("pages/3_Detect.py", "Detect"),
    "explore": ("pages/4_Explore.py", "Explore"),
    "models": ("pages/5_Models.py", "Models"),
}


def artifacts_dir() -> Path:
    """Where bundles live: ``$EMAIL_AD_ARTIFACTS`` or the project's ``artifacts/``."""
    return Path(os.environ.get("EMAIL_AD_ARTIFACTS") or DEFAULT_ARTIFACTS)
