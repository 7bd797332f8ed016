"""Who needs a second factor, and how recently a session proved who is behind it."""

from __future__ import annotations

import time
from typing import Any

from django.conf import settings
from django.contrib.sessions.backends.base import SessionBase
from django_otp import devices_for_user

from accounts.permissions import AUDITOR, HELP_DESK, MANAGER

# Session keys (seconds since the epoch).
SIGNED_IN_AT = "karmo_signed_in_at"  # the password step of sign-in: the absolute lifetime
SEEN_AT = "karmo_seen_at"  # last request: the idle timeout
PASSWORD_AT = "karmo_password_at"  # last password check (sign-in or re-authentication)
AUTH_AT = "karmo_auth_at"  # last full proof: password and, when enrolled, a second factor

# How long a password check waits for its second factor before it must be repeated.
SECOND_STEP_SECONDS = 300

_ROLE_GROUPS = {"helpdesk": HELP_DESK, "manager": MANAGER, "auditor": AUDITOR}


def now() -> int:
    """Seconds since the epoch (sessions store plain numbers)."""
    return int(time.time())


def mfa_required(user: Any) -> bool:
    """Whether KARMO_MFA_REQUIRED_FOR names one of this user's roles."""
    required = {name.strip().lower() for name in settings.KARMO_MFA_REQUIRED_FOR}
    if not required or not user.is_authenticated:
        return False
    if user.is_superuser and "superuser" in required:
        return True
    groups = {_ROLE_GROUPS[name] for name in required if name in _ROLE_GROUPS}
    return bool(groups) and user.groups.filter(name__in=groups).exists()


def has_second_factor(user: Any) -> bool:
    """The user has at least one confirmed device (TOTP, passkey or recovery codes)."""
    return any(True for _ in devices_for_user(user, confirmed=True))


def note_password(session: SessionBase, user: Any) -> None:
    """A password check passed: without a second factor enrolled, that is the full proof."""
    moment = now()
    session[PASSWORD_AT] = moment
    if not has_second_factor(user):
        session[AUTH_AT] = moment


def note_second_factor(session: SessionBase) -> bool:
    """A second factor passed; it completes a proof only right after a password check."""
    moment = now()
    if moment - session.get(PASSWORD_AT, 0) > SECOND_STEP_SECONDS:
        return False
    session[AUTH_AT] = moment
    return True


def is_fresh(session: SessionBase) -> bool:
    """The full proof is younger than KARMO_REAUTH_MINUTES."""
    return now() - session.get(AUTH_AT, 0) <= settings.KARMO_REAUTH_MINUTES * 60


def password_pending(session: SessionBase) -> bool:
    """A password check passed recently and waits for its second factor."""
    return now() - session.get(PASSWORD_AT, 0) <= SECOND_STEP_SECONDS


def sandbox_without_mfa() -> bool:
    """The sandbox demo, where nobody is asked for a second factor (the sign-in page says so)."""
    return settings.KARMO_PROVIDER == "sandbox" and not settings.KARMO_MFA_REQUIRED_FOR


_FACTOR_STATE = "karmo_factor_state"


def factor_state(request: Any, *, refresh: bool = False) -> dict[str, Any]:
    """Whether the user has a second factor and whether their role needs one.

    Worked out at sign-in and after every enrolment or removal, and kept in the session so that
    it costs no query per request; a new role's requirement applies from the next sign-in.
    """
    session = request.session
    state = session.get(_FACTOR_STATE)
    if refresh or not state:
        user = request.user
        state = {"factor": has_second_factor(user), "required": mfa_required(user)}
        session[_FACTOR_STATE] = state
    return state


def start_session(request: Any, user: Any) -> None:
    """After the password step of sign-in: stamp the session's clocks."""
    session = request.session
    moment = now()
    session[SIGNED_IN_AT] = moment
    session[SEEN_AT] = moment
    session[_FACTOR_STATE] = {"factor": has_second_factor(user), "required": mfa_required(user)}
    if not session[_FACTOR_STATE]["factor"]:
        session[AUTH_AT] = moment
    session[PASSWORD_AT] = moment
