"""Session-state and widget keys (namespaced by the page that owns them) and shared settings.

Every key the app puts in ``st.session_state`` (directly or as a widget ``key``) is named
here once, so two pages never collide and a test can address a widget by its constant.
"""

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
DATA_MAPPING_FORM = "data.mapping_form"  # widgets of the column-mapping form
DATA_MAP_PRESET = "data.map.preset"
DATA_LOADING = "data.loading"  # what a load started but not yet finished is reading ("demo data")
DATA_LOAD_AGAIN = "data.load_again"  # button after an interrupted load
DATA_AS_READ = "data.as_read"  # (EmailLog, token) as the files were read, before grouping by message
DATA_GROUP = "data.group_by_message"  # checkbox: one row per message, recipients joined
SIDEBAR_SLOT = "common.sidebar"  # the sidebar's status placeholder of the current run


def data_map_field(field: str) -> str:
    """Key of the mapping form's selectbox for one canonical field."""
    return f"data.map.{field}"


# Train page
TRAIN_JOB = "train.job"  # core.jobs.TrainingJob
TRAIN_DATA = "train.data"  # (EmailLog, token) the last training in this session started from
TRAIN_ANNOUNCED = "train.announced"  # bundle name of the finished job already made current
TRAIN_FORM = "train.settings"  # widgets of the settings form
TRAIN_FEATURE_SET = "train.feature_set"
TRAIN_NAME = "train.name"
TRAIN_EPOCHS = "train.epochs"
TRAIN_BATCH_SIZE = "train.batch_size"
TRAIN_VALIDATION = "train.validation"
TRAIN_TEST_SIZE = "train.test_size"
TRAIN_PERCENTILE = "train.percentile"
TRAIN_TRIM = "train.trim"
TRAIN_SEED = "train.seed"
TRAIN_NORMAL_ONLY = "train.normal_only"
TRAIN_USE_VERDICTS = "train.use_verdicts"  # checkbox: analysts' verdicts and known events shape the rows
TRAIN_VERDICTS_USED = "train.verdicts_used"  # what the verdicts left out and kept, for the running job
TRAIN_LIVE_CURVE = "train.live_curve"
TRAIN_STOP = "train.stop"
TRAIN_DATASET = "train.dataset"  # (EmailLog, token, why) to train on instead of the loaded data (Health sets it)
TRAIN_USE_LOADED = "train.use_loaded"  # button: back to the loaded data

# Shared: the model chosen last (Train sets it after saving, Detect/Models change it)
MODEL_NAME = "models.selected"
# Models page
MODELS_CONFIRM_DELETE = "models.confirm_delete"  # name waiting for "Yes, delete"
MODELS_DELETED = "models.deleted"  # name just deleted (shown once)
MODELS_DELETE_ERROR = "models.delete_error"  # message of a failed delete (shown once)
MODELS_COMPARE = "models.compare"  # widgets
MODELS_DELETE_PICK = "models.delete_pick"
MODELS_DELETE = "models.delete"
MODELS_CONFIRM = "models.confirm"
MODELS_CANCEL = "models.cancel"


def models_curve(name: str) -> str:
    """Key of one model's loss-curve chart on the Models page."""
    return f"models.curve.{name}"


# Detect page -> Explore
DETECT_THRESHOLD = "detect.threshold"  # float, current threshold
DETECT_MODEL = "detect.model"  # bundle name the threshold belongs to
DETECT_SLIDER = "detect.slider"  # widget keys (kept in sync with DETECT_THRESHOLD)
DETECT_NUMBER = "detect.number"
DETECT_MODEL_PICKER = "detect.model_picker"  # widgets
DETECT_DATASET = "detect.dataset"
DETECT_QUICK_RULE = "detect.quick_rule"
DETECT_QUICK_PERCENTILE = "detect.quick_percentile"
DETECT_QUICK_TOP = "detect.quick_top"
DETECT_QUICK_RATE = "detect.quick_rate"
DETECT_QUICK_APPLY = "detect.quick_apply"
DETECT_LOG_Y = "detect.log_y"
DETECT_HISTOGRAM = "detect.histogram"
DETECT_DOWNLOAD_FLAGGED = "detect.download_flagged"
DETECT_DOWNLOAD_ALL = "detect.download_all"
DETECT_TABLE = "detect.table"
DETECT_EXPLAIN_CHART = "detect.explain_chart"
DETECT_ROC = "detect.roc"
DETECT_PR = "detect.pr"

DETECT_RECORD = "detect.record"  # "Save a run at this threshold" button
DETECT_RUNS = "detect.runs"  # {run identity: run id} recorded in this session (ui.workspace)
DETECT_LAST_RUN = "detect.last_run"  # {(model, data token): run id}: where Explore's verdicts go
DETECT_SUPPRESSED_TABLE = "detect.suppressed_table"

# Explore page
EXPLORE_MODEL_PICKER = "explore.model_picker"
EXPLORE_POINTS = "explore.points"
EXPLORE_MAP = "explore.map"
EXPLORE_DOWNLOAD = "explore.download"
EXPLORE_VERDICT = "explore.verdict"  # prefix of the lasso's verdict controls

# Review page (and the workspace notices every page shares)
WORKSPACE_NOTICE = "workspace.notice"  # (kind, text) of the last write, shown once
REVIEW_DELETE_SURE = "review.delete_sure"  # admin's "Yes, delete run N" checkbox
REVIEW_DELETE = "review.delete"  # the button
REVIEW_RUN = "review.run"  # run id chosen (Detect sets it after saving a run)
REVIEW_RUN_PICKER = "review.run_picker"
REVIEW_TABLE = "review.table"  # the queue, multi-row selection
REVIEW_PICK = "review.pick"  # multiselect of UUIDs (adds to the table selection)
REVIEW_SHOW_SUPPRESSED = "review.show_suppressed"
REVIEW_VERDICT = "review.verdict"  # prefix of the verdict controls
REVIEW_ROW_RULE = "review.row_rule"  # prefix of the one-click rule buttons
REVIEW_TARGET_PRECISION = "review.target_precision"
REVIEW_BUDGET = "review.budget"
REVIEW_AUDIT = "review.audit"
REVIEW_EXPORT = "review.export"  # prefix: review.export.ecs ...
REVIEW_RULE_KIND = "review.rule.kind"
REVIEW_RULE_VALUE = "review.rule.value"
REVIEW_RULE_RECIPIENT = "review.rule.recipient"
REVIEW_RULE_USE_EXPIRY = "review.rule.use_expiry"
REVIEW_RULE_EXPIRES = "review.rule.expires"
REVIEW_RULE_NOTE = "review.rule.note"
REVIEW_RULE_PAST = "review.rule.past"
REVIEW_RULE_ADD = "review.rule.add"
REVIEW_RULE_REMOVE_PICK = "review.rule.remove_pick"
REVIEW_RULE_REMOVE = "review.rule.remove"

# Health page
HEALTH_MODEL_PICKER = "health.model_picker"  # widgets
HEALTH_DATASET = "health.dataset"
HEALTH_RETRAIN_NEW = "health.retrain_new"
HEALTH_RETRAIN_BOTH = "health.retrain_both"

# Sign-in (ui/auth.py) and the Access page
AUTH_IDENTITY = "auth.identity"  # ui.auth.Identity of this session
AUTH_RECORDED = "auth.recorded"  # e-mail already recorded in the workspace this session
AUTH_SIGN_IN = "auth.sign_in"  # widgets
AUTH_SIGN_OUT = "auth.sign_out"
ACCESS_FORM = "access.form"
ACCESS_USER = "access.user"
ACCESS_ROLE = "access.role"
ACCESS_SAVE = "access.save"
ACCESS_MESSAGE = "access.message"  # (kind, text) of the last role change, shown once

DEMO_ROWS = 3000
DEMO_SEED = 0

PAGES = {
    "home": ("dashboard.py", "Home"),
    "data": ("pages/1_Data.py", "Data"),
    "train": ("pages/2_Train.py", "Train"),
    "detect": ("pages/3_Detect.py", "Detect"),
    "explore": ("pages/4_Explore.py", "Explore"),
    "models": ("pages/5_Models.py", "Models"),
    "review": ("pages/6_Review.py", "Review"),
    "health": ("pages/7_Health.py", "Model health"),
    "access": ("pages/8_Access.py", "Access"),
}


def artifacts_dir() -> Path:
    """Where bundles live: ``$EMAIL_AD_ARTIFACTS`` or the project's ``artifacts/``."""
    return Path(os.environ.get("EMAIL_AD_ARTIFACTS") or DEFAULT_ARTIFACTS)
