"""Who may do what: the three roles, the permission matrix, and the check every write makes.

>>> require("analyst", "verdicts")          # allowed: returns None
>>> require("viewer", "verdicts")
Traceback (most recent call last):
PermissionDenied: Your role viewer may not write verdicts; ask an administrator for the analyst role.

Roles are ordered: each one may do everything the one before it may. The roles themselves are
kept in the workspace database (:meth:`core.workspace.Workspace.user_role`); this module knows
nothing of storage or of the dashboard, so the CLI, the pages and the workspace share one matrix.
"""

from __future__ import annotations

from core.errors import DataError

ROLES = ("viewer", "analyst", "admin")  # least to most: each role may do what the previous may

# Action → (the least role allowed, how the refusal names it).
ACTIONS: dict[str, tuple[str, str]] = {
    "read": ("viewer", "read the workspace"),
    "upload": ("analyst", "upload logs"),
    "train": ("analyst", "train models"),
    "score": ("analyst", "score logs"),
    "verdicts": ("analyst", "write verdicts"),
    "rules": ("analyst", "change allow-list rules"),
    "events": ("analyst", "change known events"),
    "export": ("analyst", "export runs"),
    "delete": ("admin", "delete models and runs"),
    "roles": ("admin", "manage roles"),
}


class PermissionDenied(DataError):
    """The acting user's role does not allow the action; the message names the role to ask for."""


def check_role(role: str) -> str:
    if role not in ROLES:
        raise DataError(f"Unknown role {role!r}: expected one of {', '.join(ROLES)}.")
    return role


def allowed(role: str | None, action: str) -> bool:
    """Whether ``role`` may do ``action`` (an unknown or missing role may do nothing)."""
    if action not in ACTIONS:
        raise DataError(f"Unknown action {action!r}: expected one of {', '.join(ACTIONS)}.")
    if role not in ROLES:
        return False
    return ROLES.index(role) >= ROLES.index(ACTIONS[action][0])


def require(role: str | None, action: str) -> None:
    """Raise :class:`PermissionDenied` unless ``role`` may do ``action``."""
    if not allowed(role, action):
        needed, phrase = ACTIONS[action]
        raise PermissionDenied(
            f"Your role {role or 'none'} may not {phrase}; ask an administrator for the {needed} role."
        )


def permissions(role: str) -> list[str]:
    """The actions ``role`` may do, in the matrix's order."""
    return [action for action in ACTIONS if allowed(check_role(role), action)]
