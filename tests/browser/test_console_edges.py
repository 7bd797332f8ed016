"""Small console edges found in a day of help-desk work: caching, HEAD, favicon, times."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from playwright.sync_api import expect

from accounts.models import MirrorStatus, OrganizationMembership

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_back_after_a_request_shows_the_fresh_page_not_the_old_form(sign_in, sandbox_app):
    membership = (
        OrganizationMembership.objects.filter(status=MirrorStatus.INACTIVE)
        .order_by("external_id")
        .first()
    )
    card = f"#membership-{membership.pk}"
    page = sign_in("helpdesk")
    response = page.goto(f"{sandbox_app}/people/{membership.user_id}/")
    assert "no-store" in response.headers["cache-control"]
    page.locator(card).get_by_label("Reason for reactivation").fill("Renewed")
    page.locator(card).get_by_role("button", name="Request reactivation").click()
    expect(page.locator(card).get_by_role("status")).to_contain_text("sent to the managers")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Find").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Find")
    page.go_back()
    expect(page.locator(card).locator(".request-note")).to_contain_text("requested by helpdesk")
    expect(page.locator(card).get_by_label("Reason for reactivation")).to_have_count(0)


def test_head_of_the_landing_page_and_just_now(sign_in, sandbox_app, snap):
    page = sign_in("helpdesk")
    assert page.request.head(f"{sandbox_app}/").status == 200
    expect(page.locator(".status-line time")).to_have_text("just now")
    snap(page, "home-just-now")


def test_admin_pages_name_an_icon_that_loads(sign_in, sandbox_app):
    # Playwright does not report the browser's own favicon fetch, so check what it would fetch.
    User.objects.create_superuser("root", "root@karmo.example", "pw-for-tests-1")
    page = sign_in(None)
    page.goto(f"{sandbox_app}/admin/login/")
    page.get_by_label("Username").fill("root")
    page.get_by_label("Password").fill("pw-for-tests-1")
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Back office")
    icon = page.locator("link[rel=icon]")
    expect(icon).to_have_count(1)
    assert page.request.get(icon.evaluate("link => link.href")).status == 200
    assert page.request.get(f"{sandbox_app}/favicon.ico").status == 200
