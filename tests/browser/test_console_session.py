"""Session expiry in the middle of work, and signing out: say what happened, lose nothing."""

from __future__ import annotations

import re

import pytest
from django.contrib.sessions.models import Session
from playwright.sync_api import expect

from accounts.models import MirrorStatus
from tests.browser.conftest import PASSWORD
from tests.fixtures.app_provider import membership_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_an_expired_session_keeps_the_typed_reason(sign_in, sandbox_app, snap):
    membership = membership_in(MirrorStatus.INACTIVE)
    card = f"#membership-{membership.pk}"
    page = sign_in("helpdesk")
    page.goto(f"{sandbox_app}/people/{membership.user_id}/")
    reason = page.locator(card).get_by_label("Reason for reactivation")
    reason.fill("Customer renewed; ticket 4411")
    Session.objects.all().delete()  # the session ends while the page is open
    page.locator(card).get_by_role("button", name="Request reactivation").click()
    expect(page).to_have_url(re.compile(r"/login/\?next=%2Fpeople%2F.*expired=1"))
    expect(page.get_by_role("status")).to_contain_text("Your session expired")
    snap(page, "login-expired")
    page.get_by_label("Username").fill("helpdesk")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(f"{sandbox_app}/people/{membership.user_id}/")
    expect(reason).to_have_value("Customer renewed; ticket 4411")
    expect(page.locator("#toasts")).to_contain_text("before your session expired")


def test_signing_out_says_so(sign_in, sandbox_app):
    page = sign_in("auditor")
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Sign in")
    expect(page.get_by_role("status")).to_have_text("You are signed out.")
    expect(page.get_by_text("Your session expired")).to_have_count(0)
