"""The security page: enrol and remove second factors, and recovery codes."""

from __future__ import annotations

import base64
from typing import Any

import segno
from django.contrib import messages
from django.db import transaction
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST
from django_otp import login as otp_login
from django_otp.plugins.otp_totp.models import TOTPDevice
from django_otp_webauthn.models import WebAuthnCredential

from accounts.errors import ErrorCode
from accounts.models import Outcome, RecoveryCodeDevice
from accounts.staff import policy
from accounts.staff.events import record_staff_event
from accounts.staff.forms import CodeForm
from accounts.staff.reauth import fresh_auth_required
from accounts.views.base import console_view

_NEW_CODES = "karmo_new_recovery_codes"
_KINDS = {"totp": TOTPDevice, "passkey": WebAuthnCredential}


def _qr_data_uri(text: str) -> str:
    svg = segno.make(text, error="m").svg_inline(scale=4, dark="#111", light="#fff")
    return "data:image/svg+xml;base64," + base64.b64encode(svg.encode()).decode()


def _page(request: HttpRequest, form: CodeForm | None = None, status: int = 200) -> HttpResponse:
    user = request.user
    pending = TOTPDevice.objects.filter(user=user, confirmed=False).first()
    codes = RecoveryCodeDevice.objects.filter(user=user, confirmed=True).first()
    state = policy.factor_state(request)
    context: dict[str, Any] = {
        "apps": TOTPDevice.objects.filter(user=user, confirmed=True),
        "passkeys": WebAuthnCredential.objects.filter(user=user, confirmed=True),
        "recovery": codes,
        "recovery_left": codes.remaining() if codes else 0,
        "new_codes": request.session.pop(_NEW_CODES, None),
        "pending": pending,
        "form": form or CodeForm(),
        "required": state["required"],
        "has_factor": state["factor"],
    }
    if pending is not None:
        context["pending_qr"] = _qr_data_uri(pending.config_url)
        context["pending_secret"] = base64.b32encode(pending.bin_key).decode()
    return render(request, "console/security.html", context, status=status)


@require_GET
@never_cache
@console_view
def security(request: HttpRequest) -> HttpResponse:
    """The user's second factors, and the forms to add or remove them."""
    return _page(request)


@require_POST
@console_view
@fresh_auth_required("staff.mfa_enrolled")
def totp_start(request: HttpRequest) -> HttpResponse:
    """Begin adding an authenticator app: a new secret, confirmed by its first code."""
    with transaction.atomic():
        TOTPDevice.objects.filter(user=request.user, confirmed=False).delete()
        TOTPDevice.objects.create(user=request.user, name="Authenticator app", confirmed=False)
    return redirect("security")


def issue_recovery_codes(request: HttpRequest) -> None:
    """New recovery codes for the user, shown once on the next page."""
    device, _ = RecoveryCodeDevice.objects.get_or_create(
        user=request.user, defaults={"name": "Recovery codes", "confirmed": True}
    )
    request.session[_NEW_CODES] = device.regenerate()
    record_staff_event(
        "staff.recovery_codes_issued",
        Outcome.SUCCEEDED,
        target=request.user,
        data={"count": len(request.session[_NEW_CODES])},
    )


def after_enrolment(request: HttpRequest, method: str) -> None:
    """Audit a new factor; the first one also gets recovery codes."""
    record_staff_event(
        "staff.mfa_enrolled", Outcome.SUCCEEDED, target=request.user, data={"method": method}
    )
    if not RecoveryCodeDevice.objects.filter(user=request.user).exists():
        issue_recovery_codes(request)
    policy.factor_state(request, refresh=True)


@require_POST
@console_view
@fresh_auth_required("staff.mfa_enrolled")
def totp_confirm(request: HttpRequest) -> HttpResponse:
    """Confirm the new authenticator app with a code it shows."""
    device = TOTPDevice.objects.filter(user=request.user, confirmed=False).first()
    if device is None:
        return redirect("security")
    form = CodeForm(request.POST)
    if not form.is_valid() or not device.verify_token(form.cleaned_data["code"]):
        record_staff_event(
            "staff.mfa_enrolled",
            Outcome.DENIED,
            target=request.user,
            error_code=ErrorCode.SECOND_FACTOR_FAILED.code,
            data={"method": "totp"},
        )
        form.add_error("code", "That code does not match; check the app's clock and try again.")
        return _page(request, form, status=422)
    device.confirmed = True
    device.save(update_fields=["confirmed"])
    if not request.user.is_verified():
        otp_login(request, device)
    after_enrolment(request, "totp")
    messages.success(request, "Authenticator app added.")
    return redirect("security")


@require_POST
@console_view
@fresh_auth_required("staff.recovery_codes_issued")
def recovery_codes(request: HttpRequest) -> HttpResponse:
    """Replace the recovery codes (the old ones stop working)."""
    issue_recovery_codes(request)
    policy.factor_state(request, refresh=True)
    return redirect("security")


@require_POST
@console_view
@fresh_auth_required("staff.mfa_removed")
def remove_factor(request: HttpRequest, kind: str, pk: int) -> HttpResponse:
    """Remove an app or a passkey; with none left, the recovery codes go too."""
    model = _KINDS.get(kind)
    device = model.objects.filter(user=request.user, pk=pk).first() if model else None
    if device is None:
        raise Http404
    with transaction.atomic():
        device.delete()
        primaries = any(m.objects.filter(user=request.user).exists() for m in _KINDS.values())
        if not primaries:
            RecoveryCodeDevice.objects.filter(user=request.user).delete()
        record_staff_event(
            "staff.mfa_removed",
            Outcome.SUCCEEDED,
            target=request.user,
            data={"method": kind, "name": device.name, "recovery_codes_removed": not primaries},
        )
    policy.factor_state(request, refresh=True)
    messages.success(request, "Removed.")
    return redirect("security")
