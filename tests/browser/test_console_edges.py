"""Small console edges found in a day of help-desk work: caching, HEAD, favicon, times."""

from __future__ import annotations

import re

import pytest
from django.contrib.auth.models import User
from playwright.sync_api import expect

from accounts.approvals import request_reactivation
from accounts.models import MirrorStatus, OrganizationMembership
from tests.fixtures.app_provider import membership_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_back_after_a_request_shows_the_fresh_page_not_the_old_form(sign_in, sandbox_app):
    membership = membership_in(MirrorStatus.INACTIVE)
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
    # The admin's login sends people to the one sign-in page, then back to the admin.
    page.goto(f"{sandbox_app}/admin/login/")
    expect(page).to_have_url(re.compile(r"/login/\?next=%2Fadmin%2F"))
    page.get_by_label("Username").fill("root")
    page.get_by_label("Password").fill("pw-for-tests-1")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Back office")
    icon = page.locator("link[rel=icon]")
    expect(icon).to_have_count(1)
    assert page.request.get(icon.evaluate("link => link.href")).status == 200
    assert page.request.get(f"{sandbox_app}/favicon.ico").status == 200


def test_badge_counts_only_requests_the_manager_may_decide(sign_in, staff):
    mine, theirs = OrganizationMembership.objects.filter(status=MirrorStatus.INACTIVE)[:2]
    request_reactivation(actor=staff["manager"], target=mine, reason="Asked by the owner")
    page = sign_in("manager")
    expect(page.locator("#approvals-link .count")).to_have_text("0")
    request_reactivation(actor=staff["helpdesk"], target=theirs, reason="Renewed contract")
    page.reload()
    expect(page.locator("#approvals-link .count")).to_have_text("1")


def test_admin_offers_only_what_the_provider_can_do(sign_in, sandbox_app, staff):
    # The sandbox speaks WorkOS: users have no status, organizations cannot be switched off.
    page = sign_in("manager")
    page.goto(f"{sandbox_app}/admin/accounts/provideruser/")
    offered = page.locator("select[name=action] option").all_inner_texts()
    assert "Sync selected users from the provider" in offered
    assert not [o for o in offered if "ctivate" in o]
    page.goto(f"{sandbox_app}/admin/accounts/organization/")
    offered = page.locator("select[name=action] option").all_inner_texts()
    assert not [o for o in offered if "ctivate" in o]
    page.goto(f"{sandbox_app}/admin/accounts/organizationmembership/")
    offered = page.locator("select[name=action] option").all_inner_texts()
    assert "Reactivate selected memberships" in offered


def test_help_desk_sees_only_its_own_requests_in_the_admin(sign_in, sandbox_app, staff):
    mine, theirs = OrganizationMembership.objects.filter(status=MirrorStatus.INACTIVE)[:2]
    own = request_reactivation(actor=staff["helpdesk"], target=mine, reason="Renewed")
    other = request_reactivation(actor=staff["manager"], target=theirs, reason="Owner asked")
    page = sign_in("helpdesk")
    page.goto(f"{sandbox_app}/admin/accounts/reactivationrequest/")
    rows = page.locator("#result_list tbody tr")
    expect(rows).to_have_count(1)
    expect(rows).to_contain_text(mine.user.email)
    response = page.goto(f"{sandbox_app}/admin/accounts/reactivationrequest/{other.pk}/change/")
    assert response.status in (302, 404) or "doesn’t exist" in page.content()
    assert own.pk != other.pk
