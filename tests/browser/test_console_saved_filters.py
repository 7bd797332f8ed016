"""Saved filters (named, per staff user) and shareable filter URLs on the audit log and Find."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from accounts.models import ProviderUser, SavedFilter
from tests.conftest import make_staff

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_audit_filters_saved_by_name_and_shared_by_url(sign_in, sandbox_app, staff, snap):
    make_staff("auditor2", "Auditor")
    page = sign_in("auditor")
    page.goto(f"{sandbox_app}/audit/")
    page.get_by_label("Action").fill("role.*")
    page.get_by_label("Outcome").select_option("recorded")
    page.get_by_role("button", name="Apply filters").click()
    expect(page).to_have_url(re.compile(r"action=role\.(\*|%2A).*outcome=recorded"))
    rows = page.locator("#results tbody tr")
    expect(rows.first).to_contain_text("role.")
    page.wait_for_load_state("networkidle")  # every queued filter change has been answered
    shown = rows.count()
    page.get_by_label("Save these filters as").fill("Role syncs")
    page.get_by_role("button", name="Save", exact=True).click()
    expect(page.locator("#saved-filters .notice")).to_have_text("Saved as “Role syncs”.")
    link = page.locator("#saved-filters").get_by_role("link", name="Role syncs")
    expect(link).to_be_visible()
    snap(page, "audit-saved-filters")
    shared = page.url

    # The address bar is the shareable link: another auditor opening it sees the same view.
    other = sign_in("auditor2")
    other.goto(shared)
    expect(other.get_by_label("Action")).to_have_value("role.*")
    expect(other.get_by_label("Outcome")).to_have_value("recorded")
    expect(other.locator("#results tbody tr")).to_have_count(shown)
    # …but not the first auditor's saved filters, which are theirs alone.
    expect(other.locator("#saved-filters")).not_to_contain_text("Role syncs")

    page.goto(f"{sandbox_app}/audit/")
    expect(page.get_by_label("Action")).to_have_value("")
    page.locator("#saved-filters").get_by_role("link", name="Role syncs").click()
    expect(page.get_by_label("Action")).to_have_value("role.*")
    expect(page.locator("#results tbody tr")).to_have_count(shown)
    page.get_by_role("button", name="Delete saved filter Role syncs").click()
    expect(page.locator("#saved-filters .notice")).to_have_text("Deleted “Role syncs”.")
    assert not SavedFilter.objects.exists()


def test_find_searches_saved_and_shared(sign_in, sandbox_app, snap):
    person = ProviderUser.objects.order_by("email").first()
    domain = person.email.split("@")[1].split(".")[0]
    page = sign_in("helpdesk")
    page.goto(f"{sandbox_app}/find/")
    page.get_by_label("Email, name, provider id or organization").fill(domain)
    expect(page).to_have_url(re.compile(rf"q={re.escape(domain)}"))
    results = page.locator("#results a.result-link")
    expect(results.first).to_be_visible()
    page.wait_for_load_state("networkidle")
    count = results.count()
    page.get_by_label("Save these filters as").fill("Home customer")
    page.get_by_role("button", name="Save", exact=True).click()
    expect(page.locator("#saved-filters .notice")).to_be_visible()
    snap(page, "find-saved-filters")
    shared = page.url
    page.goto(f"{sandbox_app}/find/")
    page.locator("#saved-filters").get_by_role("link", name="Home customer").click()
    expect(page.get_by_label("Email, name, provider id or organization")).to_have_value(domain)
    expect(results).to_have_count(count)
    page.goto(shared)
    expect(results).to_have_count(count)
