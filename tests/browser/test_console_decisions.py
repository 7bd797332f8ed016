"""What a manager and an auditor expected to find: decision history, an audit event's diff with
links and neighbours, and CSV exports of Find's results and of an organization's members."""

from __future__ import annotations

import csv
import io
import re
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from playwright.sync_api import expect

from accounts import selectors
from accounts.approvals import (
    approve_request,
    cancel_request,
    expire_requests,
    reject_request,
    request_reactivation,
)
from accounts.models import (
    AuditEvent,
    MirrorStatus,
    OrganizationMembership,
    ReactivationRequest,
    StaffScope,
)
from tests.factories import MembershipFactory, OrganizationFactory, ProviderUserFactory
from tests.fixtures.app_provider import memberships_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def decided(staff):
    """One request per way of ending, in different organizations, and one still pending."""
    inactive = list(memberships_in(MirrorStatus.INACTIVE))
    by_org: dict[int, OrganizationMembership] = {}
    for membership in inactive:
        by_org.setdefault(membership.organization_id, membership)
    targets = list(by_org.values())[:4] + [m for m in inactive if m not in by_org.values()][:1]
    desk, boss = staff["helpdesk"], staff["manager"]
    made = [
        request_reactivation(actor=desk, target=t, reason=f"Ask {n}") for n, t in enumerate(targets)
    ]
    approve_request(actor=boss, request=made[0])
    reject_request(actor=boss, request=made[1], comment="No contract")
    cancel_request(actor=desk, request=made[2])
    ReactivationRequest.objects.filter(pk=made[3].pk).update(
        expires_at=timezone.now() - timedelta(minutes=1)
    )
    expire_requests()
    return {r.pk: r for r in ReactivationRequest.objects.filter(pk__in=[m.pk for m in made])}


def test_decision_history_lists_each_ending_filters_and_scopes(
    sign_in, sandbox_app, staff, decided, snap
):
    closed = [r for r in decided.values() if r.status != "pending"]
    assert {r.status for r in closed} >= {"executed", "rejected", "cancelled", "expired"}
    pending = [r for r in decided.values() if r.status == "pending"]

    auditor = sign_in("auditor")
    auditor.goto(f"{sandbox_app}/approvals/")
    auditor.get_by_role("link", name="Decision history").click()
    rows = auditor.locator("#decision-list tbody tr")
    expect(rows).to_have_count(len(closed))
    for request in pending:
        expect(auditor.locator(f"#decision-{request.pk}")).to_have_count(0)
    rejected = next(r for r in closed if r.status == "rejected")
    expect(auditor.locator(f"#decision-{rejected.pk}")).to_contain_text("No contract")
    expect(auditor.locator(f"#decision-{rejected.pk}")).to_contain_text("manager")
    snap(auditor, "decision-history")

    auditor.get_by_label("Status", exact=True).select_option("rejected")
    auditor.get_by_role("button", name="Apply filters").click()
    expect(rows).to_have_count(1)
    expect(auditor).to_have_url(re.compile(r"/approvals/decisions/\?status=rejected"))
    auditor.get_by_label("Status", exact=True).select_option("")
    organization = rejected.membership.organization.name
    auditor.get_by_label("Organization", exact=True).fill(organization[:6].lower())
    auditor.get_by_role("button", name="Apply filters").click()
    expect(auditor.locator(f"#decision-{rejected.pk}")).to_be_visible()

    # A manager scoped to one organization sees only its decisions.
    StaffScope.objects.create(user=staff["manager"]).organizations.add(
        rejected.membership.organization
    )
    boss = sign_in("manager")
    boss.goto(f"{sandbox_app}/approvals/decisions/")
    shown = boss.locator("#decision-list tbody tr")
    in_scope = [
        r for r in closed if r.membership.organization_id == rejected.membership.organization_id
    ]
    expect(shown).to_have_count(len(in_scope))

    # Help desk may not read the decision history.
    desk = sign_in("helpdesk")
    assert desk.request.get(f"{sandbox_app}/approvals/decisions/").status == 403


def test_decision_history_query_count_does_not_grow_with_rows(staff, decided):
    selectors.decided_requests(staff["auditor"], size=1)  # the viewer's scope, read once
    with CaptureQueriesContext(connection) as few:
        selectors.decided_requests(staff["auditor"], size=1)
    with CaptureQueriesContext(connection) as many:
        rows, _ = selectors.decided_requests(staff["auditor"])
    assert len(rows) >= 4
    assert len(many) == len(few) == 1


def test_event_detail_diff_links_and_neighbours(sign_in, sandbox_app, staff, decided, snap):
    request = next(r for r in decided.values() if r.status == "executed")
    approved = AuditEvent.objects.filter(
        event_type="membership.reactivated", outcome="succeeded"
    ).latest("sequence")
    assert approved.before["status"] == "inactive"
    page = sign_in("auditor")
    page.goto(f"{sandbox_app}/audit/{approved.sequence}/")
    status = page.get_by_role("row", name="status (changed)", exact=False).filter(
        has=page.get_by_role("rowheader", name="status (changed)", exact=True)
    )
    expect(status).to_have_class("diff-changed")
    expect(status.locator("del")).to_have_text("inactive")
    expect(status.locator("ins")).to_have_text("active")
    snap(page, "audit-event-diff")

    page.get_by_role("link", name="Next event").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text(f"#{approved.sequence + 1}")
    page.get_by_role("link", name="Previous event").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text(f"#{approved.sequence}")

    person = request.membership.user
    page.locator(".facts").get_by_role("link", name=person.full_name).click()
    expect(page.get_by_role("heading", level=1)).to_have_text(person.full_name)
    page.go_back()
    org = request.membership.organization
    page.locator(".facts").get_by_role("link", name=org.name).click()
    expect(page.get_by_role("heading", level=1)).to_contain_text(org.name)


def test_exports_of_find_and_members_are_escaped_and_scoped(sign_in, sandbox_app, staff):
    org = OrganizationFactory(name="Formula Freight")
    sly = ProviderUserFactory(email="sly.cell@formula.example", first_name="=HYPERLINK(1)")
    MembershipFactory(organization=org, user=sly)
    MembershipFactory(
        organization=org,
        user=ProviderUserFactory(email="off.cell@formula.example"),
        inactive=True,
    )
    elsewhere = OrganizationFactory(name="Elsewhere Inc")
    MembershipFactory(organization=elsewhere, user=ProviderUserFactory(email="x.cell@else.example"))

    page = sign_in("helpdesk")
    page.goto(f"{sandbox_app}/find/")
    page.get_by_label("Email, name, provider id or organization").fill("cell@")
    expect(page.locator("#results a.result-link", has_text="sly.cell")).to_be_visible()
    with page.expect_download() as download:
        page.locator("#results").get_by_role("link", name="Export CSV").click()
    assert "find-cell" in download.value.suggested_filename
    rows = list(csv.DictReader(io.StringIO(download.value.path().read_text())))
    by_email = {row["email"]: row for row in rows}
    assert set(by_email) >= {"sly.cell@formula.example", "off.cell@formula.example"}
    assert by_email["sly.cell@formula.example"]["name"].startswith("'=HYPERLINK(1)")
    assert by_email["sly.cell@formula.example"]["memberships"] == "Formula Freight: active"

    page.goto(f"{sandbox_app}/orgs/{org.pk}/?status=inactive")
    with page.expect_download() as download:
        page.locator("#members").get_by_role("link", name="Export CSV").click()
    rows = list(csv.DictReader(io.StringIO(download.value.path().read_text())))
    assert [row["email"] for row in rows] == ["off.cell@formula.example"]
    assert rows[0]["status"] == "inactive"

    # Scoped to Formula Freight: the other organization's members and people stay out.
    StaffScope.objects.create(user=staff["helpdesk"]).organizations.add(org)
    assert page.request.get(f"{sandbox_app}/orgs/{elsewhere.pk}/members.csv").status == 404
    found = page.request.get(f"{sandbox_app}/find/export.csv?q=cell@").text()
    assert "x.cell@else.example" not in found
    assert "sly.cell@formula.example" in found
