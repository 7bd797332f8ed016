"""Staff sign-in: the password step, the second-factor step, and re-authentication."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from django.conf import settings
from django.contrib.auth import authenticate
from django.contrib.auth.views import LoginView
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render, resolve_url
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods
from django_otp import login as otp_login
from django_otp.models import Device
from django_otp.plugins.otp_totp.models import TOTPDevice
from django_otp_webauthn.models import WebAuthnCredential

from accounts.errors import ErrorCode
from accounts.forms import StaffAuthenticationForm
from accounts.models import Outcome, RecoveryCodeDevice
from accounts.staff import policy
from accounts.staff.events import record_staff_event
from accounts.staff.forms import CodeForm, PasswordForm


class SignInView(LoginView):
    """The one sign-in page (the admin's sends people here); says when MFA is off."""

    authentication_form = StaffAuthenticationForm

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        return {
            **super().get_context_data(**kwargs),
            "mfa_off": policy.sandbox_without_mfa(),
            "session_expired": self.request.GET.get("expired") == "1",
        }


sign_in = SignInView.as_view()


def admin_sign_in(request: HttpRequest, extra_context: Any = None) -> HttpResponse:
    """The admin's login URL: the console's sign-in page, coming back to the admin."""
    target = request.GET.get("next") or reverse("admin:index")
    return redirect(f"{resolve_url(settings.LOGIN_URL)}?{urlencode({'next': target})}")


def safe_next(request: HttpRequest) -> str:
    """The `next` the request carries when it stays on this site, else the console's home."""
    target = request.POST.get("next") or request.GET.get("next") or ""
    allowed = url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    )
    return target if allowed else resolve_url(settings.LOGIN_REDIRECT_URL)


def method_of(device: Device) -> str:
    """How an audit event names a kind of second factor."""
    if isinstance(device, TOTPDevice):
        return "totp"
    if isinstance(device, RecoveryCodeDevice):
        return "recovery_code"
    return "passkey"


def check_code(request: HttpRequest, code: str, purpose: str) -> Device | None:
    """The user's confirmed app or recovery-code device that accepts `code`; audited either way."""
    user = request.user
    devices = [
        *TOTPDevice.objects.filter(user=user, confirmed=True),
        *RecoveryCodeDevice.objects.filter(user=user, confirmed=True),
    ]
    device = next((d for d in devices if d.verify_token(code)), None)
    if device is None:
        record_staff_event(
            "staff.mfa_failed",
            Outcome.DENIED,
            target=user,
            error_code=ErrorCode.SECOND_FACTOR_FAILED.code,
            data={"purpose": purpose},
        )
        return None
    data: dict[str, Any] = {"purpose": purpose, "method": method_of(device)}
    if isinstance(device, RecoveryCodeDevice):
        data["recovery_codes_left"] = device.remaining()
    record_staff_event("staff.mfa_verified", Outcome.SUCCEEDED, target=user, data=data)
    return device


def _factor_context(request: HttpRequest) -> dict[str, Any]:
    user = request.user
    return {
        "has_passkey": WebAuthnCredential.objects.filter(user=user, confirmed=True).exists(),
        "has_codes": TOTPDevice.objects.filter(user=user, confirmed=True).exists()
        or RecoveryCodeDevice.objects.filter(user=user, confirmed=True).exists(),
        "next": safe_next(request),
    }


@never_cache
@require_http_methods(["GET", "POST"])
def verify(request: HttpRequest) -> HttpResponse:
    """The second step of sign-in: a code from the app, a recovery code, or a passkey."""
    if not request.user.is_authenticated:
        return redirect("login")
    if request.user.is_verified() or not policy.factor_state(request, refresh=True)["factor"]:
        return redirect(safe_next(request))
    form = CodeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        device = check_code(request, form.cleaned_data["code"], "sign_in")
        if device is not None:
            otp_login(request, device)
            policy.note_second_factor(request.session)
            return redirect(safe_next(request))
        form.add_error("code", ErrorCode.SECOND_FACTOR_FAILED.message)
    context = {"form": form, "needs_second_factor": True, **_factor_context(request)}
    return render(request, "registration/verify.html", context, status=_status(form))


def _status(form: Any) -> int:
    return 422 if form.is_bound and form.errors else 200


@never_cache
@require_http_methods(["GET", "POST"])
def reauth(request: HttpRequest) -> HttpResponse:
    """Prove it is still you: the password, then (when enrolled) a second factor."""
    if not request.user.is_authenticated:
        return redirect("login")
    session = request.session
    has_factor = policy.factor_state(request, refresh=True)["factor"]
    second_step = has_factor and policy.password_pending(session)
    password_form = PasswordForm(request.POST if request.POST.get("step") == "password" else None)
    code_form = CodeForm(request.POST if request.POST.get("step") == "code" else None)
    if password_form.is_bound and password_form.is_valid():
        user = authenticate(
            request,
            username=request.user.get_username(),
            password=password_form.cleaned_data["password"],
        )
        if user is not None and user.pk == request.user.pk:
            policy.note_password(session, user)
            second_step = has_factor
        else:
            second_step = False
            password_form.add_error("password", ErrorCode.SIGN_IN_FAILED.message)
    elif code_form.is_bound and second_step and code_form.is_valid():
        device = check_code(request, code_form.cleaned_data["code"], "reauth")
        if device is None:
            code_form.add_error("code", ErrorCode.SECOND_FACTOR_FAILED.message)
        elif not policy.note_second_factor(session):
            second_step = False
    if (
        request.method == "POST"
        and policy.is_fresh(session)
        and not _has_errors(password_form, code_form)
    ):
        record_staff_event("staff.reauthenticated", Outcome.SUCCEEDED, target=request.user)
        return redirect(safe_next(request))
    context = {
        "password_form": password_form,
        "form": code_form,
        "second_step": second_step,
        "minutes": settings.KARMO_REAUTH_MINUTES,
        **_factor_context(request),
    }
    status = 422 if _has_errors(password_form, code_form) else 200
    return render(request, "registration/reauth.html", context, status=status)


def _has_errors(*forms: Any) -> bool:
    return any(form.is_bound and form.errors for form in forms)
