"""Sign-in and roles in the dashboard: one gate every page passes (``page_setup`` calls it).

With an ``[auth]`` section in ``.streamlit/secrets.toml`` (Streamlit's OpenID Connect sign-in:
Microsoft Entra, Google, Okta, …) a visitor who is not signed in sees only a sign-in page; a
signed-in user is known by ``st.user.email``, which becomes the analyst name on everything they
write, and gets their role from the workspace database (the first user becomes admin, anyone
else starts as viewer). Without ``[auth]`` one analyst works on their own machine as today: the
operating-system user, with every permission.

Hiding a control is a courtesy; the refusal that counts happens on the server: the workspace a
page gets from :func:`workspace` checks the role inside each write, and :func:`require` guards
what lives outside the database (deleting a model bundle), in the callback itself.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import streamlit as st

from core.access import PermissionDenied, allowed
from core.access import require as require_role
from ui import state

if TYPE_CHECKING:
    from core.workspace import Workspace

AUTH_SECTION = "auth"


@dataclass(frozen=True)
class Identity:
    """Who is using this session: ``email`` is ``None`` when sign-in is not configured."""

    name: str  # the analyst name written on verdicts, rules, runs and the audit trail
    role: str
    email: str | None = None


def auth_configured() -> bool:
    """Whether ``.streamlit/secrets.toml`` (or ``[secrets] files``) has an ``[auth]`` section."""
    try:
        return AUTH_SECTION in st.secrets
    except Exception:  # noqa: BLE001 - no secrets file at all: Streamlit raises rather than answering False
        return False


def workspace() -> Workspace:
    """The workspace, acting for the signed-in user (whose role every write checks)."""
    from core.workspace import Workspace

    identity = st.session_state.get(state.AUTH_IDENTITY)
    actor = identity.email if identity is not None else None
    return Workspace.open(artifacts_dir=state.artifacts_dir(), actor=actor)


def _sign_in_page() -> None:
    st.title("Email log anomaly detector")
    st.write("Mail logs are personal data: sign in with your organization's account to continue.")
    st.button("Sign in", type="primary", on_click=st.login, key=state.AUTH_SIGN_IN)


def signed_in_user() -> Identity:
    """The gate: the session's identity, or (sign-in configured, nobody signed in) the sign-in
    page and ``st.stop()``. Puts the identity in ``st.session_state`` and the sidebar."""
    if not auth_configured():
        from core.workspace import default_analyst

        identity = Identity(default_analyst(), "admin")
        st.session_state[state.AUTH_IDENTITY] = identity
        return identity
    if not st.user.is_logged_in:
        st.session_state.pop(state.AUTH_IDENTITY, None)
        _sign_in_page()
        st.stop()
    email = str(st.user.get("email") or "").strip().lower()
    if not email:
        st.error(
            "Your identity provider sent no e-mail address, which this tool uses as your name. "
            "Ask its administrator to include the `email` claim (scope `openid email`)."
        )
        st.button("Sign out", on_click=st.logout, key=state.AUTH_SIGN_OUT)
        st.stop()
    from core.workspace import Workspace

    ws = Workspace.open(artifacts_dir=state.artifacts_dir())
    # Recorded once per session (the first user of a workspace becomes admin); the role is read
    # again on every run, so a change by an admin shows without signing in again.
    if st.session_state.get(state.AUTH_RECORDED) != email:
        ws.ensure_user(email)
        st.session_state[state.AUTH_RECORDED] = email
    identity = Identity(email, ws.user_role(email) or "viewer", email)
    st.session_state[state.AUTH_IDENTITY] = identity
    with st.sidebar:
        st.caption("Signed in as")
        st.text(f"{email} ({identity.role})")
        st.button("Sign out", on_click=st.logout, key=state.AUTH_SIGN_OUT)
    return identity


def identity() -> Identity:
    found = st.session_state.get(state.AUTH_IDENTITY)
    return found if found is not None else signed_in_user()


def can(action: str) -> bool:
    """Whether the session's role allows ``action`` (for hiding controls; see :func:`require`)."""
    return allowed(identity().role, action)


def require(action: str) -> None:
    """Raise :class:`core.access.PermissionDenied` unless the signed-in user's role, read from the
    database now, allows ``action``. Call it in the callback that does the work."""
    if auth_configured():
        workspace().require(action)
    else:
        require_role(identity().role, action)


def stop_unless(action: str) -> None:
    """``st.stop()`` quietly when the role may not ``action`` (the rest of the page is its controls)."""
    if not can(action):
        st.stop()


def page_requires(action: str) -> None:
    """Show why and ``st.stop()`` when the role may not ``action`` (a page that only writes)."""
    try:
        require_role(identity().role, action)
    except PermissionDenied as refused:
        st.info(str(refused))
        st.stop()
