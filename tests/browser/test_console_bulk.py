"""Bulk work in the console: several approvals at once, one person's reactivations across
organizations; per-item results on the page."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from accounts.approvals import request_reactivation
from accounts.models import MirrorStatus, RequestStatus
from tests.fixtures.app_provider import memberships_in, person_inactive_in_several_organizations

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_manager_approves_several_requests_with_one_comment(sign_in, sandbox_app, staff, snap):
    memberships = list(memberships_in(MirrorStatus.INACTIVE)[:3])
    requests = [
        request_reactivation(actor=staff["helpdesk"], target=m, reason="Renewed contract")
        for m in memberships
    ]
    page = sign_in("manager")
    page.goto(f"{sandbox_app}/approvals/")
    panel = page.locator("#bulk-decide")
    panel.get_by_text("Decide several requests at once").click()
    for request in requests[:2]:
        panel.get_by_role("checkbox", name=re.compile(rf"Request #{request.pk}:")).check()
    panel.get_by_label("Comment").fill("Renewal confirmed by finance")
    snap(page, "approvals-bulk")
    panel.get_by_role("button", name="Approve selected").click()
    messages = page.locator(".messages")
    expect(messages).to_contain_text("2 of 2 approved.")
    for request, membership in zip(requests[:2], memberships, strict=False):
        expect(messages).to_contain_text(
            f"Request #{request.pk} ({membership.user.email} in {membership.organization.name}):"
            " approved and reactivated"
        )
    snap(page, "approvals-bulk-results")
    for request in requests[:2]:
        request.refresh_from_db()
        assert request.status == RequestStatus.EXECUTED
        assert request.decision_comment == "Renewal confirmed by finance"
    requests[2].refresh_from_db()
    assert requests[2].status == RequestStatus.PENDING


def test_help_desk_asks_for_one_person_in_several_organizations(sign_in, sandbox_app, snap):
    person = person_inactive_in_several_organizations()
    page = sign_in("helpdesk")
    page.goto(f"{sandbox_app}/people/{person}/")
    panel = page.locator("#bulk-request")
    panel.get_by_text("Request reactivation in several organizations").click()
    panel.get_by_role("checkbox", name="All").check()
    boxes = panel.locator("input[name=ids]")
    chosen = boxes.count()
    assert chosen >= 2
    for i in range(chosen):
        expect(boxes.nth(i)).to_be_checked()
    panel.get_by_label("Reason").fill("Back from parental leave")
    snap(page, "person-bulk-request")
    panel.get_by_role("button", name="Request reactivation").click()
    expect(page.locator(".messages")).to_contain_text(f"{chosen} of {chosen} requested.")
    expect(page.locator(".messages")).to_contain_text("sent to the managers")
    expect(page.locator("#bulk-request")).to_have_count(0)  # nothing left to ask for
    snap(page, "person-bulk-results")
