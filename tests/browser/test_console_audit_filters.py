"""The audit log's filters as an auditor uses them: forgiving matches, clear errors, exports
that hold exactly the rows on screen, and a console free of htmx errors."""

from __future__ import annotations

import csv
import io
import re

import pytest
from playwright.sync_api import expect

from accounts.approvals import request_reactivation
from accounts.models import AuditEvent, MirrorStatus, OrganizationMembership
from tests.fixtures.app_provider import membership_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def requested(staff) -> OrganizationMembership:
    membership = membership_in(MirrorStatus.INACTIVE)
    request_reactivation(actor=staff["helpdesk"], target=membership, reason="Renewed")
    return membership


def open_audit(sign_in, sandbox_app):
    page = sign_in("auditor")
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.goto(f"{sandbox_app}/audit/")
    return page, errors


def test_exports_follow_filters_applied_in_place(sign_in, sandbox_app, requested, snap):
    page, errors = open_audit(sign_in, sandbox_app)
    page.get_by_label("Action").fill("request.*")
    page.get_by_role("button", name="Apply filters").click()
    expect(page).to_have_url(re.compile(r"action=request"))
    rows = page.locator("#results tbody tr")
    expect(rows).to_have_count(AuditEvent.objects.filter(event_type__startswith="request.").count())
    link = page.get_by_role("link", name="Export CSV")
    expect(link).to_have_attribute("href", re.compile(r"action=request\.(\*|%2A)"))
    with page.expect_download() as download:
        link.click()
    assert download.value.suggested_filename.startswith("karmo-audit-action-request-any-")
    exported = list(csv.DictReader(io.StringIO(download.value.path().read_text())))
    on_screen = rows.locator("td[data-label='#']").all_inner_texts()
    assert [r["sequence"] for r in exported] == on_screen
    assert not [e for e in errors if e.startswith("htmx:")], errors
    snap(page, "audit-filtered")


def test_partial_matches_and_a_clear_error_for_a_bad_range(sign_in, sandbox_app, requested, snap):
    page, errors = open_audit(sign_in, sandbox_app)
    results = page.locator("#results")
    page.get_by_label("Actor", exact=True).fill("HELPD")
    page.get_by_label("Person", exact=True).fill(requested.user.email.split("@")[0][:6].upper())
    page.get_by_label("Organization", exact=True).fill(requested.organization.name[:5].lower())
    page.get_by_role("button", name="Apply filters").click()
    expect(results.locator("tbody tr").first).to_contain_text("request.created")
    expect(results.locator("tbody tr")).to_have_count(1)
    page.get_by_role("link", name="Clear").click()
    page.get_by_label("From", exact=True).fill("2026-12-05")
    page.get_by_label("To", exact=True).fill("2026-12-01")
    page.get_by_role("button", name="Apply filters").click()
    expect(results.get_by_role("alert")).to_contain_text("“From” (2026-12-05) is after “To”")
    expect(results.get_by_role("link", name="Export CSV")).to_have_count(0)
    snap(page, "audit-bad-range")
    assert not [e for e in errors if e.startswith("htmx:")], errors


def rows_of(page) -> list:
    return page.locator("#results tbody tr").all()


def test_audit_log_fits_a_1280_screen(sign_in, sandbox_app, requested, snap):
    page, _ = open_audit(sign_in, sandbox_app)
    snap(page, "audit-1280")
    when = page.locator("#results td[data-label='When'] time").first
    assert when.bounding_box()["height"] < 30  # one line
    apply = page.get_by_role("button", name="Apply filters").bounding_box()
    assert apply["height"] < 50
    since = page.get_by_label("From", exact=True).bounding_box()
    until = page.get_by_label("To", exact=True).bounding_box()
    assert since["y"] == until["y"]  # the dates share a row
    heights = [row.bounding_box()["height"] for row in rows_of(page)[:20]]
    assert max(heights) < 65, heights  # at most two lines a row
    page.set_viewport_size({"width": 390, "height": 844})
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
