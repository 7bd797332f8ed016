"""Staff sign-in in a real browser: enrolling and using an authenticator app, the lockout,
re-authentication before a direct reactivation, and a passkey through a virtual authenticator."""

from __future__ import annotations

import base64
import re
import time

import pytest
from django.contrib.sessions.backends.db import SessionStore
from django_otp.oath import TOTP
from playwright.sync_api import expect

from accounts.models import AuditEvent, MirrorStatus, OrganizationMembership, Outcome
from accounts.staff import policy
from tests.browser.conftest import PASSWORD

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def app_code(secret: str, steps_ahead: int = 0) -> str:
    """What an authenticator app shows for this base32 secret."""
    totp = TOTP(base64.b32decode(secret))
    totp.time = time.time() + 30 * steps_ahead
    return f"{totp.token():06d}"


def password_step(page, base: str, username: str, password: str = PASSWORD) -> None:
    page.goto(f"{base}/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()


def enrol_app(page, base: str) -> str:
    """Add an authenticator app on the security page; returns the secret the page showed."""
    page.goto(f"{base}/security/")
    page.get_by_role("button", name="Add an authenticator app").click()
    expect(page.get_by_role("img", name=re.compile("QR code"))).to_be_visible()
    secret = page.locator("#totp-secret").inner_text()
    page.get_by_label("Code from the app").fill(app_code(secret))
    page.get_by_role("button", name="Confirm the app").click()
    expect(page.locator("#recovery-codes li")).to_have_count(10)
    return secret


def test_manager_enrols_an_app_on_first_sign_in_then_signs_in_with_it(
    browser, sandbox_app, staff, settings, snap
):
    settings.KARMO_MFA_REQUIRED_FOR = ["manager", "auditor", "superuser"]
    context = browser.new_context()
    page = context.new_page()
    page.set_default_timeout(10_000)

    password_step(page, sandbox_app, "manager")
    expect(page).to_have_url(re.compile(r"/security/\?next="))
    expect(page.get_by_role("status").first).to_contain_text("needs a second factor")
    secret = enrol_app(page, sandbox_app)
    snap(page, "security-enrolled")
    page.get_by_role("button", name="Sign out").click()

    password_step(page, sandbox_app, "manager")
    expect(page).to_have_url(re.compile(r"/login/verify/"))
    expect(page.get_by_role("navigation", name="Main")).to_have_count(0)
    snap(page, "sign-in-second-factor")
    field = page.get_by_label(re.compile("Code from your authenticator app"))
    field.fill("000000")
    page.get_by_role("button", name="Verify").click()
    expect(page.locator("#code-error")).to_have_text("The code or passkey was not accepted.")
    time.sleep(1.1)  # django-otp's back-off after a wrong code
    page.get_by_label(re.compile("Code from your authenticator app")).fill(app_code(secret, 1))
    page.get_by_role("button", name="Verify").click()
    expect(page).to_have_url(f"{sandbox_app}/")
    expect(page.get_by_role("navigation", name="Main")).to_be_visible()
    verified = AuditEvent.objects.filter(event_type="staff.mfa_verified", actor_repr="manager")
    assert verified.count() == 1
    assert AuditEvent.objects.filter(event_type="staff.mfa_enrolled", outcome="succeeded").count()
    context.close()


def test_five_wrong_passwords_lock_the_browser_out(browser, sandbox_app, staff, snap):
    context = browser.new_context()
    page = context.new_page()
    page.set_default_timeout(10_000)
    for _ in range(4):
        password_step(page, sandbox_app, "helpdesk", "not-the-password")
        expect(page.get_by_role("alert")).to_contain_text("enter a correct username")
    password_step(page, sandbox_app, "helpdesk", "not-the-password")
    expect(page.get_by_role("heading", name="Sign-in locked")).to_be_visible()
    expect(page.get_by_role("alert")).to_contain_text("Try again in 15 minutes")
    snap(page, "sign-in-locked")
    password_step(page, sandbox_app, "helpdesk")
    expect(page.get_by_role("heading", name="Sign-in locked")).to_be_visible()
    assert AuditEvent.objects.filter(event_type="staff.locked_out").count() == 1
    assert AuditEvent.objects.filter(event_type="staff.sign_in_failed").count() == 6
    assert not AuditEvent.objects.filter(event_type="staff.signed_in").exists()
    context.close()


def age_proof(context, seconds: int) -> None:
    """Move the browser's last full proof of identity `seconds` into the past."""
    cookie = next(c for c in context.cookies() if c["name"] == "sessionid")
    session = SessionStore(session_key=cookie["value"])
    session[policy.AUTH_AT] -= seconds
    session[policy.PASSWORD_AT] -= seconds
    session.save()


def test_direct_reactivation_asks_for_password_and_code_again(
    browser, sandbox_app, staff, settings, snap
):
    membership = OrganizationMembership.objects.filter(status=MirrorStatus.INACTIVE).first()
    context = browser.new_context()
    page = context.new_page()
    page.set_default_timeout(10_000)
    password_step(page, sandbox_app, "manager")
    secret = enrol_app(page, sandbox_app)
    age_proof(context, settings.KARMO_REAUTH_MINUTES * 60 + 5)

    person = f"{sandbox_app}/people/{membership.user_id}/"
    page.goto(person)
    card = page.locator(f"#membership-{membership.pk}")
    card.get_by_role("button", name="Reactivate now").click()
    expect(page).to_have_url(re.compile(r"/reauth/\?next="))
    expect(page.get_by_role("heading", name="Confirm it is you")).to_be_visible()
    snap(page, "reauth")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Continue").click()
    page.get_by_label(re.compile("Code from your authenticator app")).fill(app_code(secret, 1))
    page.get_by_role("button", name="Verify").click()
    page.wait_for_url(person)
    membership.refresh_from_db()
    assert membership.status == MirrorStatus.INACTIVE

    page.locator(f"#membership-{membership.pk}").get_by_role(
        "button", name="Reactivate now"
    ).click()
    expect(page.locator(f"#membership-{membership.pk}").get_by_role("status")).to_contain_text(
        "reactivated"
    )
    membership.refresh_from_db()
    assert membership.status == MirrorStatus.ACTIVE
    refused = AuditEvent.objects.get(event_type="membership.reactivated", outcome=Outcome.DENIED)
    assert refused.error_code == "40101013"
    assert AuditEvent.objects.filter(event_type="staff.reauthenticated").count() == 1
    context.close()


def test_passkey_added_on_the_security_page_is_the_second_factor_at_sign_in(
    browser, sandbox_app, staff, settings, snap
):
    settings.OTP_WEBAUTHN_ALLOWED_ORIGINS = [sandbox_app]
    settings.OTP_WEBAUTHN_RP_ID = "localhost"
    context = browser.new_context()
    page = context.new_page()
    page.set_default_timeout(10_000)
    # Chromium's virtual authenticator stands in for a security key or a phone.
    cdp = context.new_cdp_session(page)
    cdp.send("WebAuthn.enable")
    cdp.send(
        "WebAuthn.addVirtualAuthenticator",
        {
            "options": {
                "protocol": "ctap2",
                "transport": "internal",
                "hasResidentKey": True,
                "hasUserVerification": True,
                "isUserVerified": True,
            }
        },
    )
    password_step(page, sandbox_app, "auditor")
    page.goto(f"{sandbox_app}/security/")
    page.get_by_role("button", name="Add a passkey").click()
    expect(page.locator("#passkey-register-status-message")).to_contain_text(
        re.compile("registered|success", re.IGNORECASE)
    )
    page.reload()
    expect(page.locator("#recovery-codes li")).to_have_count(10)
    snap(page, "security-passkey")
    assert AuditEvent.objects.filter(
        event_type="staff.mfa_enrolled", outcome="succeeded", data__method="passkey"
    ).exists()
    page.get_by_role("button", name="Sign out").click()

    password_step(page, sandbox_app, "auditor")
    expect(page).to_have_url(re.compile(r"/login/verify/"))
    page.get_by_role("button", name="Use a passkey").click()
    page.wait_for_url(f"{sandbox_app}/")
    expect(page.get_by_role("navigation", name="Main")).to_be_visible()
    event = AuditEvent.objects.get(event_type="staff.mfa_verified")
    assert event.data == {"method": "passkey", "purpose": "sign_in"}
    context.close()
