"""django-otp-webauthn's ceremonies, with Karmo's re-authentication rule and audit events."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponse
from django.urls import path
from django.views.i18n import JavaScriptCatalog
from django_otp_webauthn import exceptions, views

from accounts.errors import ErrorCode
from accounts.models import Outcome
from accounts.staff import policy
from accounts.staff.events import record_staff_event


class StaleAuthentication(exceptions.OTPWebAuthnApiError):
    """Adding a passkey needs a recent password and second factor, like any change of access."""

    status_code = 403
    default_detail = ErrorCode.REAUTH_REQUIRED.message
    default_code = "reauth_required"


class BeginRegistration(views.BeginCredentialRegistrationView):
    def check_can_register(self) -> None:
        super().check_can_register()
        if not policy.is_fresh(self.request.session):
            record_staff_event(
                "staff.mfa_enrolled",
                Outcome.DENIED,
                target=self.request.user,
                error_code=ErrorCode.REAUTH_REQUIRED.code,
                data={"method": "passkey"},
            )
            raise StaleAuthentication()


class CompleteRegistration(views.CompleteCredentialRegistrationView):
    def post(self, *args: Any, **kwargs: Any) -> HttpResponse:
        response = super().post(*args, **kwargs)
        from accounts.views.security import after_enrolment

        after_enrolment(self.request, "passkey")
        return response


class CompleteAuthentication(views.CompleteCredentialAuthenticationView):
    """A passkey as the second step of sign-in or of re-authentication."""

    def complete_auth(self, device: Any) -> Any:
        purpose = "reauth" if self.request.user.is_verified() else "sign_in"
        super().complete_auth(device)
        policy.note_second_factor(self.request.session)
        record_staff_event(
            "staff.mfa_verified",
            Outcome.SUCCEEDED,
            target=self.request.user,
            data={"method": "passkey", "purpose": purpose},
        )

    def handle_exception(self, exc: Exception) -> HttpResponse:
        request: HttpRequest = self.request
        if isinstance(exc, exceptions.OTPWebAuthnApiError) and request.user.is_authenticated:
            record_staff_event(
                "staff.mfa_failed",
                Outcome.DENIED,
                target=request.user,
                error_code=ErrorCode.SECOND_FACTOR_FAILED.code,
                data={"method": "passkey", "why": exc.code},
            )
        return super().handle_exception(exc)


app_name = "otp_webauthn"
urlpatterns = [
    path(
        "registration/begin/",
        BeginRegistration.as_view(),
        name="credential-registration-begin",
    ),
    path(
        "registration/complete/",
        CompleteRegistration.as_view(),
        name="credential-registration-complete",
    ),
    path(
        "authentication/begin/",
        views.BeginCredentialAuthenticationView.as_view(),
        name="credential-authentication-begin",
    ),
    path(
        "authentication/complete/",
        CompleteAuthentication.as_view(),
        name="credential-authentication-complete",
    ),
    path(
        "jsi18n/",
        JavaScriptCatalog.as_view(packages=["django_otp_webauthn"]),
        name="js-i18n-catalog",
    ),
]
