"""The triage workspace: saved runs, analyst verdicts, allow-list rules, the audit trail, exports.

One database behind SQLAlchemy 2 (schema by Alembic, migrated on open): SQLite
``workspace.db`` in the artifacts folder by default, or a shared PostgreSQL for a team
(``--db URL`` / ``$EMAIL_AD_DB``). UI-free: the dashboard and ``python -m core`` both use it.

- :class:`Workspace` (``Workspace.open(db_url, artifacts_dir)``): record_run, runs, run,
  flagged, set_verdicts, verdicts_by_uuid / _by_sender, add_rule, rules, remove_rule,
  apply_rules, reapply_rules, add_event, events, remove_event, apply_events, audit; users and roles
  (`actor=`, ensure_user, user_role, set_role, users, require).
- :mod:`core.workspace.events`: known events (time windows scored but not flagged nor trained on).
- :mod:`core.workspace.feedback`: training_selection, precision_at, false_positives_by_reason,
  threshold_for_budget, threshold_for_precision, carry_over, carry_over_order.
- :mod:`core.workspace.export`: export_run (csv, ecs, hec, cef).
"""

import importlib

# Loaded on first use: ``python -m core --help`` registers the workspace commands without
# importing SQLAlchemy or pandas.
_LAZY = {
    **dict.fromkeys(("ENV_VAR", "dispose_engines", "head_revision", "resolve_url"), "core.workspace.db"),
    **dict.fromkeys(("FORMATS", "export_name", "export_run"), "core.workspace.export"),
    **dict.fromkeys(("KNOWN_EVENT", "EventSpec", "check_window", "match_events"), "core.workspace.events"),
    **dict.fromkeys(
        (
            "CARRY_OVER",
            "KNOWN_BENIGN",
            "KNOWN_CONFIRMED",
            "TrainingSelection",
            "VerdictStats",
            "carry_over",
            "carry_over_order",
            "false_positives_by_reason",
            "precision_at",
            "threshold_for_budget",
            "threshold_for_precision",
            "training_selection",
        ),
        "core.workspace.feedback",
    ),
    **dict.fromkeys(("RULE_KINDS", "VERDICTS"), "core.workspace.models"),
    **dict.fromkeys(("SUPPRESSED_BY", "RuleSpec", "match_rules"), "core.workspace.rules"),
    **dict.fromkeys(
        (
            "AuditInfo",
            "EventInfo",
            "RuleInfo",
            "RunInfo",
            "UserInfo",
            "Workspace",
            "bundle_checksum",
            "default_analyst",
            "normalize_email",
            "open_workspace",
            "sha256_of_bytes",
        ),
        "core.workspace.store",
    ),
}


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'core.workspace' has no attribute {name!r}")


__all__ = sorted(_LAZY)
