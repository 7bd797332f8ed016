"""Names where people expect them (defect 7): admin confirmations, audit data and history read
as names captured when each event was recorded, in plain language, and stay true after renames."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from accounts.approvals import approve_request, request_reactivation
from accounts.models import (
    AuditEvent,
    MirrorStatus,
    Organization,
    ProviderUser,
)
from tests.fixtures.app_provider import membership_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_history_audit_data_and_admin_name_people_and_organizations(
    sign_in, sandbox_app, staff, snap
):
    membership = membership_in(MirrorStatus.INACTIVE)
    person, org = membership.user, membership.organization
    name, org_name = person.full_name, org.name
    request = request_reactivation(actor=staff["helpdesk"], target=membership, reason="Renewed")
    approve_request(actor=staff["manager"], request=request)
    # Renamed later: the log keeps the names of the day.
    ProviderUser.objects.filter(pk=person.pk).update(first_name="Renamed", last_name="Person")
    Organization.objects.filter(pk=org.pk).update(name="Renamed Org")

    page = sign_in("manager")
    page.goto(f"{sandbox_app}/people/{person.pk}/")
    history = page.locator("#history")
    expect(history).to_contain_text(f"{name}'s access to {org_name} was restored by manager")
    expect(history).to_contain_text(f"Reactivation of {name}'s access to {org_name} was requested")
    expect(history).not_to_contain_text("membership.")
    expect(history).not_to_contain_text("request.")
    snap(page, "person-history-names")

    page.goto(f"{sandbox_app}/orgs/{org.pk}/")
    expect(page.locator("#history")).to_contain_text(f"{name}'s access to {org_name} was restored")
    expect(page.locator("#history")).not_to_contain_text("membership.")

    approved = AuditEvent.objects.get(event_type="request.approved")
    auditor = sign_in("auditor")
    auditor.goto(f"{sandbox_app}/audit/{approved.sequence}/")
    after = auditor.locator(".side-by-side")
    expect(after).to_contain_text('"decided_by": "manager"')
    expect(after).to_contain_text(f'"target": "{person.email} in {org_name}"')
    expect(auditor.locator(".facts")).to_contain_text(org_name)
    expect(auditor.locator(".facts")).to_contain_text(person.email)

    page.goto(f"{sandbox_app}/admin/accounts/organizationmembership/?status__exact=inactive")
    page.locator("#result_list input[name=_selected_action]").first.check()
    page.locator("select[name=action]").select_option(label="Reactivate selected memberships")
    page.get_by_role("button", name="Run").click()
    listed = page.locator("#content ul").first
    expect(listed).to_contain_text(" in ")
    expect(listed).not_to_contain_text("user_")
    expect(listed).not_to_contain_text("org_")
