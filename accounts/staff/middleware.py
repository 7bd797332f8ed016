"""Per request: session limits, the second-factor gate, and who acts for audited changes."""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import logout
from django.http import HttpRequest, HttpResponse
from django.urls import reverse

from accounts.errors import ErrorCode
from accounts.models import Outcome
from accounts.staff import policy
from accounts.staff.events import acting_as, record_staff_event
from accounts.staff.reauth import go_to, refuse_stale

# Paths a signed-in user may reach before the second factor: signing in and out, and enrolling.
_BEFORE_SECOND_FACTOR = ("/login/", "/logout/", "/webauthn/authentication/", "/webauthn/jsi18n/")
_ENROLMENT = ("/security/", "/webauthn/registration/", "/logout/", "/webauthn/jsi18n/")


class StaffSessionMiddleware:
    """Idle timeout and absolute lifetime, then enrolment and verification of a second factor."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        user = request.user
        skip = request.path.startswith(("/api/", f"/{settings.STATIC_URL.strip('/')}/"))
        if skip or not user.is_authenticated:
            return self.get_response(request)
        with acting_as(user):
            return self._signed_in(request)

    def _signed_in(self, request: HttpRequest) -> HttpResponse:
        session = request.session
        moment = policy.now()
        ended = self._ended(session, moment)
        if ended:
            record_staff_event(
                "staff.session_expired",
                Outcome.DENIED,
                target=request.user,
                error_code=ErrorCode.SESSION_EXPIRED.code,
                data={"why": ended},
            )
            request.karmo_session_expired = True  # type: ignore[attr-defined]
            logout(request)
            return go_to(request, reverse("login"), expired=True)
        if moment - session.get(policy.SEEN_AT, 0) >= 60:
            session[policy.SEEN_AT] = moment
        state = policy.factor_state(request)
        path = request.path
        if state["factor"] and not request.user.is_verified():
            if not path.startswith(_BEFORE_SECOND_FACTOR):
                return go_to(request, reverse("login-verify"))
        elif state["required"] and not state["factor"] and not path.startswith(_ENROLMENT):
            messages.info(request, "Your role needs a second factor: add one to continue.")
            return go_to(request, reverse("security"))
        if (
            request.method == "POST"
            and path.startswith("/admin/")
            and not path.startswith(("/admin/login/", "/admin/logout/"))
        ):
            # Every change in the admin (staff, groups, tokens, bulk actions) needs a recent proof.
            refused = refuse_stale(request, "staff.admin_change", back=path)
            if refused:
                return refused
        return self.get_response(request)

    @staticmethod
    def _ended(session: object, moment: int) -> str:
        signed_in = session.get(policy.SIGNED_IN_AT)  # type: ignore[attr-defined]
        seen = session.get(policy.SEEN_AT)  # type: ignore[attr-defined]
        if signed_in is None or seen is None:
            return "unknown"
        if moment - signed_in > settings.SESSION_COOKIE_AGE:
            return "lifetime"
        if moment - seen > settings.KARMO_SESSION_IDLE_MINUTES * 60:
            return "idle"
        return ""
