"""The help-desk console in a real browser: find, request, approve, audit, roles."""

from __future__ import annotations

import csv
import io
import re

import pytest
from django.contrib.sessions.models import Session
from playwright.sync_api import expect

from accounts.approvals import request_reactivation
from accounts.models import (
    AuditEvent,
    MirrorStatus,
    OrganizationMembership,
    Outcome,
    ReactivationRequest,
    SyncRun,
)
from accounts.sync import run_sync
from tests.fixtures.app_provider import membership_in, memberships_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def deactivated_member() -> OrganizationMembership:
    """An inactive membership of a person whose email prefix finds only them."""
    for membership in memberships_in(MirrorStatus.INACTIVE):
        prefix = membership.user.email[:7]
        if (
            OrganizationMembership.objects.filter(user__email__startswith=prefix)
            .values("user")
            .distinct()
            .count()
            == 1
        ):
            return membership
    raise AssertionError("the demo data has no inactive membership")


def test_help_desk_request_manager_approval_and_auditor_trail(sign_in, snap, sandbox_app):
    membership = deactivated_member()
    person = membership.user
    card = f"#membership-{membership.pk}"

    desk = sign_in("helpdesk")
    snap(desk, "home")
    desk.get_by_role("link", name="Find", exact=True).click()
    search = desk.get_by_label("Email, name, provider id or organization")
    search.press_sequentially(person.email[:7], delay=40)
    result = desk.locator("#results a.result-link", has_text=person.email)
    expect(result).to_be_visible()
    expect(desk).to_have_url(re.compile(r"/find/\?q="))
    snap(desk, "find")
    search.press("ArrowDown")
    expect(result.first).to_be_focused()
    result.first.press("Enter")
    expect(desk.get_by_role("heading", level=1)).to_have_text(person.full_name)

    desk.locator(card).get_by_role("button", name="Request reactivation").click()
    expect(desk.locator(card).locator(".field-error")).to_have_text("A reason is required.")
    desk.locator(card).get_by_label("Reason for reactivation").fill("Customer renewed the contract")
    desk.locator(card).get_by_role("button", name="Request reactivation").dblclick()
    expect(desk.locator(card).get_by_role("status")).to_contain_text("sent to the managers")
    expect(desk.locator("#history")).to_contain_text(
        f"Reactivation of {person.full_name}'s access to {membership.organization.name} was "
        "requested by helpdesk"
    )
    expect(desk.locator("#approvals-link .count")).to_have_text("1")
    assert ReactivationRequest.objects.filter(membership=membership).count() == 1
    snap(desk, "person-requested")

    boss = sign_in("manager")
    expect(boss.locator("#approvals-link .count")).to_have_text("1")
    boss.locator("#approvals-link").click()
    request = ReactivationRequest.objects.get(membership=membership)
    row = boss.locator(f"#request-{request.pk}")
    expect(row).to_contain_text("Customer renewed the contract")
    expect(row).to_contain_text("helpdesk")
    snap(boss, "approvals")
    row.get_by_role("button", name="Approve and reactivate").click()
    expect(row.get_by_role("status")).to_have_text("Approved.")
    expect(row).to_contain_text("executed")
    expect(boss.locator("#approvals-link .count")).to_have_text("0")
    boss.goto(f"{sandbox_app}/people/{person.pk}/")
    expect(boss.locator(card).locator(".badge").first).to_have_text("active")
    snap(boss, "person-manager")

    auditor = sign_in("auditor")
    auditor.get_by_role("link", name="Audit log", exact=True).click()
    auditor.get_by_label("Person", exact=True).fill(person.email)
    auditor.get_by_role("button", name="Apply filters").click()
    results = auditor.locator("#results")
    for action in ["request.created", "request.approved", "membership.reactivated"]:
        expect(results).to_contain_text(action)
    expect(auditor).to_have_url(re.compile(r"person="))
    snap(auditor, "audit")
    auditor.locator("#results tbody a").first.click()
    expect(auditor.locator(".side-by-side")).to_be_visible()
    snap(auditor, "audit-event")
    auditor.go_back()
    with auditor.expect_download() as download:
        auditor.get_by_role("link", name="Export CSV").click()
    rows = list(csv.DictReader(io.StringIO(download.value.path().read_text())))
    actions = {(r["event_type"], r["outcome"]) for r in rows}
    assert ("request.created", "requested") in actions
    assert ("request.approved", "succeeded") in actions or (
        "request.approved",
        "attempted",
    ) in actions
    assert ("membership.reactivated", "succeeded") in actions
    assert {r["user_external_id"] for r in rows} == {person.external_id}


def test_manager_creates_a_role_and_assigns_it(sign_in, snap, sandbox_app):
    membership = membership_in(MirrorStatus.ACTIVE)
    org, person = membership.organization, membership.user
    page = sign_in("manager")
    page.goto(f"{sandbox_app}/orgs/{org.pk}/")
    form = page.locator("#role-form")
    form.get_by_label("Slug").fill("org-support")
    form.get_by_label("Name", exact=True).fill("Support")
    form.get_by_label("Description").fill("First-line support staff")
    expect(page.locator("#slug-field")).to_contain_text("Looks good")
    form.get_by_role("button", name="Save role").click()
    expect(page.locator("#roles").get_by_role("status")).to_have_text("Role org-support saved.")
    expect(page.locator("#roles table")).to_contain_text("org-support")
    snap(page, "organization")

    page.goto(f"{sandbox_app}/people/{person.pk}/")
    card = page.locator(f"#membership-{membership.pk}")
    card.get_by_text("Edit roles…").click()
    card.get_by_role("checkbox", name=re.compile("org-support")).check()
    card.get_by_role("button", name="Save roles").click()
    expect(card.get_by_role("status")).to_have_text("Roles saved.")
    expect(card.locator(".chip", has_text="org-support")).to_be_visible()
    page.reload()
    expect(
        page.locator(f"#membership-{membership.pk} .chip", has_text="org-support")
    ).to_be_visible()

    page.get_by_role("link", name="Sync", exact=True).click()
    page.get_by_role("button", name="Start a full sync").dblclick()
    expect(page.locator("#progress")).to_contain_text("the background worker is free")
    run = SyncRun.objects.get(state=SyncRun.State.QUEUED)
    run_sync(run=run)  # what the task worker does
    expect(page.locator("#progress .badge").first).to_have_text("succeeded")
    assert SyncRun.objects.count() == 2  # the fixture's sync and one from the double click
    snap(page, "sync")


def test_help_desk_cannot_approve_even_with_a_forged_post(sign_in, snap, sandbox_app, staff):
    membership = deactivated_member()
    request = request_reactivation(
        actor=staff["manager"], target=membership, reason="Asked by the account owner"
    )
    visitor = sign_in(None)
    visitor.goto(f"{sandbox_app}/")
    expect(visitor.get_by_role("heading", level=1)).to_have_text("Welcome to Karmo Admin")
    snap(visitor, "landing")
    visitor.get_by_role("link", name="Sign in").first.click()
    visitor.get_by_label("Username").fill("helpdesk")
    visitor.get_by_label("Password").fill("wrong password")
    visitor.get_by_role("button", name="Sign in").click()
    expect(visitor.get_by_role("alert")).to_contain_text("correct username and password")
    snap(visitor, "login-error")

    page = sign_in("helpdesk")
    page.goto(f"{sandbox_app}/approvals/")
    expect(page.locator("#request-list")).not_to_contain_text("Asked by the account owner")
    expect(page.get_by_role("button", name=re.compile("Approve"))).to_have_count(0)
    snap(page, "approvals-help-desk")
    token = next(c["value"] for c in page.context.cookies() if c["name"] == "csrftoken")
    response = page.request.post(
        f"{sandbox_app}/approvals/{request.pk}/approve/",
        headers={"X-CSRFToken": token, "HX-Request": "true", "Referer": f"{sandbox_app}/"},
    )
    assert response.status == 403
    denial = AuditEvent.objects.get(event_type="request.approved", outcome=Outcome.DENIED)
    assert denial.actor_repr == "helpdesk"
    assert denial.target_id == str(request.pk)
    request.refresh_from_db()
    assert request.status == "pending"

    page.get_by_role("link", name="Find", exact=True).click()
    Session.objects.all().delete()  # the session expires while the page is open
    page.get_by_label("Email, name, provider id or organization").press_sequentially("am")
    expect(page).to_have_url(re.compile(r"/login/\?next=%2Ffind%2F"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Sign in")


def test_invalid_role_slug_shows_the_inline_error(sign_in, snap, sandbox_app):
    org = OrganizationMembership.objects.select_related("organization").first().organization
    page = sign_in("manager", viewport={"width": 390, "height": 844})
    page.goto(f"{sandbox_app}/orgs/{org.pk}/")
    slug = page.get_by_label("Slug")
    slug.press_sequentially("Support Team", delay=20)
    error = page.locator("#slug-field .field-error")
    expect(error).to_contain_text("Role slug must start with 'org-'")
    expect(page.get_by_label("Slug")).to_have_attribute("aria-invalid", "true")
    snap(page, "role-slug-error")
    page.get_by_label("Name", exact=True).fill("Support")
    page.get_by_role("button", name="Save role").click()
    expect(page.locator("#roles .error")).to_contain_text("42203001")
