"""Staff sign-in: lockout, second factors, re-authentication, session limits, and their audit."""

from __future__ import annotations

import re
import time
from datetime import timedelta
from http import HTTPStatus

import pytest
from axes.models import AccessAttempt
from django.template import Context, Template
from django.urls import reverse
from django.utils import timezone
from django_otp.oath import TOTP
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts.errors import ErrorCode
from accounts.models import (
    AuditEvent,
    MirrorStatus,
    OrganizationMembership,
    Outcome,
    RecoveryCode,
    RecoveryCodeDevice,
)
from accounts.staff import policy
from tests.fixtures.audit import assert_audited

pytestmark = pytest.mark.django_db

PASSWORD = "pw-for-tests-1"
HX = {"HX-Request": "true"}


def code_for(device: TOTPDevice, steps_ahead: int = 0) -> str:
    """The app's code now (or `steps_ahead` periods later: a code is accepted only once)."""
    totp = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift)
    totp.time = time.time() + steps_ahead * device.step
    return f"{totp.token():0{device.digits}d}"


def after_backoff(device: TOTPDevice) -> None:
    """django-otp makes a device wait after a wrong code (1 s, then doubling); let it pass."""
    TOTPDevice.objects.filter(pk=device.pk).update(
        throttling_failure_timestamp=timezone.now() - timedelta(minutes=1)
    )


def enrol_app(user) -> TOTPDevice:
    return TOTPDevice.objects.create(user=user, name="Authenticator app", confirmed=True)


def sign_in(client, username: str, password: str = PASSWORD, next_url: str = ""):
    return client.post(
        reverse("login"), {"username": username, "password": password, "next": next_url}
    )


def test_fifty_wrong_passwords_lock_the_account_and_are_all_audited(client, manager, settings):
    answers = [sign_in(client, manager.username, "wrong-password").status_code for _ in range(50)]

    # Django's form answers the first four; from the fifth on django-axes' lockout page does.
    assert answers[:4] == [HTTPStatus.OK] * 4
    assert answers[4:] == [HTTPStatus.TOO_MANY_REQUESTS] * 46
    right = sign_in(client, manager.username)
    assert right.status_code == HTTPStatus.TOO_MANY_REQUESTS
    assert b"Sign-in locked" in right.content
    assert "_auth_user_id" not in client.session
    failed = AuditEvent.objects.filter(event_type="staff.sign_in_failed")
    assert failed.count() == 51
    first = failed.order_by("sequence").first()
    assert first.data == {"username": manager.username, "failures": 1, "locked": False}
    assert (first.client_ip, first.error_code) == ("127.0.0.1", ErrorCode.SIGN_IN_FAILED.code)
    assert failed.filter(error_code=ErrorCode.SIGN_IN_LOCKED.code).count() == 47
    locked = assert_audited("staff.locked_out", outcome=Outcome.DENIED, count=1)
    assert locked.data["username"] == manager.username
    assert locked.data["minutes"] == settings.KARMO_LOCKOUT_MINUTES
    assert not AuditEvent.objects.filter(event_type="staff.signed_in").exists()


def test_lockout_by_address_covers_other_usernames(client, manager):
    for n in range(5):
        sign_in(client, f"guess{n}", "wrong-password")
    assert sign_in(client, manager.username).status_code == HTTPStatus.TOO_MANY_REQUESTS


def test_admin_login_is_the_console_sign_in_page(client):
    response = client.get(reverse("admin:login"), {"next": "/admin/auth/user/"})
    assert response.status_code == HTTPStatus.FOUND
    assert response["Location"] == f"{reverse('login')}?next=%2Fadmin%2Fauth%2Fuser%2F"


def test_superuser_unlocks_from_the_admin_and_it_is_audited(client, admin_client, manager):
    for _ in range(5):
        sign_in(client, manager.username, "wrong-password")
    attempt = AccessAttempt.objects.get(username=manager.username)
    url = reverse("admin:axes_accessattempt_delete", args=[attempt.pk])
    assert admin_client.post(url, {"post": "yes"}).status_code == HTTPStatus.FOUND
    event = assert_audited("staff.lockout_cleared", count=1)
    assert event.actor_repr == "admin"
    assert sign_in(client, manager.username).status_code == HTTPStatus.FOUND


def test_sign_in_and_out_are_audited(client, help_desk):
    response = sign_in(client, help_desk.username)
    assert response.status_code == HTTPStatus.FOUND
    assert_audited("staff.signed_in", target=help_desk, outcome=Outcome.SUCCEEDED, count=1)
    client.post(reverse("logout"))
    assert_audited("staff.signed_out", target=help_desk, count=1)


def test_sandbox_sign_in_page_says_mfa_is_off(client, settings):
    settings.KARMO_PROVIDER = "sandbox"
    settings.KARMO_MFA_REQUIRED_FOR = []
    assert b'id="mfa-off"' in client.get(reverse("login")).content
    settings.KARMO_MFA_REQUIRED_FOR = ["manager"]
    assert b'id="mfa-off"' not in client.get(reverse("login")).content


def test_enrolled_user_must_give_a_code_after_the_password(client, help_desk):
    device = enrol_app(help_desk)
    response = sign_in(client, help_desk.username, next_url="/find/")
    assert response["Location"] == "/find/"
    gated = client.get("/find/")
    assert gated.status_code == HTTPStatus.FOUND
    assert gated["Location"] == f"{reverse('login-verify')}?next=%2Ffind%2F"
    assert client.get(reverse("admin:index"))["Location"].startswith(reverse("login-verify"))

    wrong = client.post(reverse("login-verify"), {"code": "000000", "next": "/find/"})
    assert wrong.status_code == HTTPStatus.UNPROCESSABLE_ENTITY
    assert_audited("staff.mfa_failed", target=help_desk, outcome=Outcome.DENIED, count=1)
    # django-otp's back-off refuses even the right code straight after a wrong one.
    throttled = client.post(reverse("login-verify"), {"code": code_for(device), "next": "/find/"})
    assert throttled.status_code == HTTPStatus.UNPROCESSABLE_ENTITY
    after_backoff(device)
    right = client.post(reverse("login-verify"), {"code": code_for(device), "next": "/find/"})
    assert right["Location"] == "/find/"
    assert client.get("/find/").status_code == HTTPStatus.OK
    event = assert_audited("staff.mfa_verified", target=help_desk, count=1)
    assert event.data == {"purpose": "sign_in", "method": "totp"}


def test_manager_without_a_factor_is_sent_to_enrol_when_required(client, manager, settings):
    settings.KARMO_MFA_REQUIRED_FOR = ["manager", "auditor", "superuser"]
    sign_in(client, manager.username)
    gated = client.get(reverse("console:find"))
    assert gated["Location"].startswith(reverse("security"))
    assert client.get(reverse("security")).status_code == HTTPStatus.OK

    client.post(reverse("security-totp"))
    device = TOTPDevice.objects.get(user=manager, confirmed=False)
    page = client.get(reverse("security")).content.decode()
    assert "data:image/svg+xml;base64," in page
    assert client.post(reverse("security-totp-confirm"), {"code": "123"}).status_code == 422
    after_backoff(device)
    done = client.post(reverse("security-totp-confirm"), {"code": code_for(device)})
    assert done["Location"] == reverse("security")
    device.refresh_from_db()
    assert device.confirmed
    codes_page = client.get(reverse("security")).content.decode()
    assert codes_page.count("<li>") >= 10
    assert client.get(reverse("console:find")).status_code == HTTPStatus.OK
    assert_audited("staff.mfa_enrolled", target=manager, outcome=Outcome.SUCCEEDED, count=1)
    assert_audited("staff.recovery_codes_issued", target=manager, count=1)


def test_help_desk_is_not_required_by_default_outside_the_sandbox(client, help_desk, settings):
    settings.KARMO_MFA_REQUIRED_FOR = ["manager", "auditor", "superuser"]
    sign_in(client, help_desk.username)
    assert client.get(reverse("console:find")).status_code == HTTPStatus.OK


def test_recovery_codes_are_hashed_and_work_once(client, help_desk):
    enrol_app(help_desk)
    device = RecoveryCodeDevice.objects.create(user=help_desk, name="Recovery codes")
    codes = device.regenerate()
    assert len(codes) == 10
    stored = set(RecoveryCode.objects.values_list("digest", flat=True))
    assert not stored & set(codes)
    assert all(len(digest) == 64 for digest in stored)

    sign_in(client, help_desk.username)
    used = client.post(reverse("login-verify"), {"code": codes[0].upper()})
    assert used.status_code == HTTPStatus.FOUND
    event = assert_audited("staff.mfa_verified", count=1)
    assert event.data["recovery_codes_left"] == 9
    client.post(reverse("logout"))
    sign_in(client, help_desk.username)
    again = client.post(reverse("login-verify"), {"code": codes[0]})
    assert again.status_code == HTTPStatus.UNPROCESSABLE_ENTITY


def inactive_membership() -> OrganizationMembership:
    return OrganizationMembership.objects.filter(status=MirrorStatus.INACTIVE).first()


def age_session(client, seconds: int, *keys: str) -> None:
    session = client.session
    for key in keys:
        session[key] = session[key] - seconds
    session.save()


def test_direct_reactivation_needs_a_recent_password_and_code(client, mirrored, manager, settings):
    device = enrol_app(manager)
    membership = inactive_membership()
    sign_in(client, manager.username)
    client.post(reverse("login-verify"), {"code": code_for(device)})
    url = reverse("console:membership-reactivate", args=[membership.pk])
    age_session(client, settings.KARMO_REAUTH_MINUTES * 60 + 1, policy.AUTH_AT, policy.PASSWORD_AT)

    refused = client.post(url, {"reason": "verified"}, headers=HX)
    assert refused["HX-Redirect"].startswith(reverse("reauth"))
    membership.refresh_from_db()
    assert membership.status == MirrorStatus.INACTIVE
    event = assert_audited("membership.reactivated", target=membership, outcome=Outcome.DENIED)
    assert event.error_code == ErrorCode.REAUTH_REQUIRED.code

    wrong = client.post(reverse("reauth"), {"step": "password", "password": "nope"})
    assert wrong.status_code == HTTPStatus.UNPROCESSABLE_ENTITY
    second = client.post(reverse("reauth"), {"step": "password", "password": PASSWORD})
    assert b'name="code"' in second.content
    assert client.post(url, {"reason": "verified"}, headers=HX)["HX-Redirect"]
    done = client.post(
        reverse("reauth"), {"step": "code", "code": code_for(device, 1), "next": "/find/"}
    )
    assert done["Location"] == "/find/"
    assert_audited("staff.reauthenticated", target=manager, count=1)

    client.post(url, {"reason": "verified"}, headers=HX)
    membership.refresh_from_db()
    assert membership.status == MirrorStatus.ACTIVE


def test_admin_changes_need_a_recent_proof(admin_client, admin_user, help_desk, settings):
    age_session(admin_client, settings.KARMO_REAUTH_MINUTES * 60 + 1, policy.AUTH_AT)
    url = reverse("admin:auth_user_change", args=[help_desk.pk])
    refused = admin_client.post(url, {"username": "renamed"})
    assert refused["Location"].startswith(reverse("reauth"))
    help_desk.refresh_from_db()
    assert help_desk.username == "hana.helpdesk"
    assert_audited("staff.admin_change", outcome=Outcome.DENIED, count=1)


def test_idle_session_ends(client, help_desk, settings):
    sign_in(client, help_desk.username)
    age_session(client, settings.KARMO_SESSION_IDLE_MINUTES * 60 + 1, policy.SEEN_AT)
    response = client.get(reverse("console:find"))
    assert response["Location"] == f"{reverse('login')}?next=%2Ffind%2F&expired=1"
    assert "_auth_user_id" not in client.session
    event = assert_audited("staff.session_expired", target=help_desk, count=1)
    assert event.data == {"why": "idle"}
    assert not AuditEvent.objects.filter(event_type="staff.signed_out").exists()


def test_session_ends_after_its_lifetime_even_when_busy(client, help_desk, settings):
    sign_in(client, help_desk.username)
    age_session(client, settings.SESSION_COOKIE_AGE + 1, policy.SIGNED_IN_AT)
    response = client.get(reverse("console:find"), headers=HX)
    assert response["HX-Redirect"].endswith("&expired=1")
    assert assert_audited("staff.session_expired", count=1).data == {"why": "lifetime"}


def test_staff_account_and_group_changes_in_the_admin_are_audited(
    admin_client, help_desk, settings
):
    from django.contrib.auth.models import Group

    managers = Group.objects.get(name="Manager")
    url = reverse("admin:auth_user_change", args=[help_desk.pk])
    form = {
        "username": help_desk.username,
        "email": help_desk.email,
        "is_active": "on",
        "is_staff": "on",
        "groups": [g.pk for g in help_desk.groups.all()] + [managers.pk],
        "date_joined_0": "2026-01-01",
        "date_joined_1": "00:00:00",
    }
    response = admin_client.post(url, form)
    assert response.status_code == HTTPStatus.FOUND, response.content[:2000]
    # The first event is the fixture's own groups.add(Help desk).
    event = assert_audited("staff.groups_changed", target=help_desk, count=2)
    assert event.data == {"added": ["Manager"]}
    assert event.actor_repr == "admin"
    assert event.via == "admin"

    help_desk.is_active = False
    help_desk.save()
    deactivated = assert_audited("staff.user_deactivated", target=help_desk, count=1)
    assert deactivated.data == {"fields": ["is_active"]}
    assert_audited("staff.user_created", target=help_desk, count=1)


def test_someone_elses_factor_cannot_be_removed(client, help_desk, manager):
    device = enrol_app(manager)
    sign_in(client, help_desk.username)
    response = client.post(reverse("security-remove", args=["totp", device.pk]))
    assert response.status_code == HTTPStatus.NOT_FOUND
    assert TOTPDevice.objects.filter(pk=device.pk).exists()
    assert not AuditEvent.objects.filter(event_type="staff.mfa_removed").exists()


def test_sign_in_settings_are_checked(settings):
    from django.core.checks import run_checks

    settings.KARMO_MFA_REQUIRED_FOR = ["manager", "managers"]
    assert "staff.E001" in {m.id for m in run_checks()}
    settings.KARMO_PROVIDER = "workos"
    settings.OTP_WEBAUTHN_ALLOWED_ORIGINS = ["http://localhost:8000"]
    found = {m.id for m in run_checks(include_deployment_checks=True)}
    assert {"staff.W001", "staff.W002"} <= found
    settings.KARMO_MFA_REQUIRED_FOR = ["manager", "auditor", "superuser"]
    settings.OTP_WEBAUTHN_ALLOWED_ORIGINS = ["https://karmo.example.com"]
    found = {m.id for m in run_checks(include_deployment_checks=True)}
    assert not {"staff.E001", "staff.W001", "staff.W002"} & found


@pytest.mark.parametrize("kind", ["auth", "register"])
def test_passkey_scripts_run_after_their_translations(rf, kind):
    """The passkey button works once it shows: an "async" catalogue could run after the
    module that wires the button, and a click in between was lost."""
    template = "{% load otp_webauthn %}{% render_otp_webauthn_" + kind + "_scripts %}"
    html = Template(template).render(Context({"request": rf.get("/login/verify/")}))
    scripts = re.findall(r"<script[^>]*src=[^>]*>", html)
    assert len(scripts) == 2
    catalogue, module = scripts
    assert "jsi18n" in catalogue
    assert "async" not in catalogue
    assert " defer" in catalogue
    assert 'type="module"' in module
