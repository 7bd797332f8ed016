"""Role slugs in the organization page: an existing slug is named, never silently renamed."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from accounts.models import OrganizationRole

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_an_existing_slug_is_named_and_saving_asks_first(sign_in, sandbox_app, snap):
    role = OrganizationRole.objects.exclude(organization=None).select_related("organization")
    role = role.order_by("external_id").first()
    page = sign_in("manager")
    page.goto(f"{sandbox_app}/orgs/{role.organization_id}/")
    form = page.locator("#role-form")
    form.get_by_label("Slug").press_sequentially(role.slug, delay=20)
    warning = page.locator("#slug-field .field-warning")
    expect(warning).to_contain_text(f"This slug exists: the role is named “{role.name}”")
    expect(page.locator("#slug-field")).not_to_contain_text("Looks good")
    form.get_by_label("Name").fill("Renamed by mistake")
    form.get_by_role("button", name="Save role").click()
    expect(page.locator("#roles .error")).to_contain_text("already exists")
    role.refresh_from_db()
    assert role.name != "Renamed by mistake"
    snap(page, "organization-role-exists")
    page.locator("#role-form").get_by_label("Update the existing role").check()
    page.locator("#role-form").get_by_role("button", name="Save role").click()
    expect(page.locator("#roles").get_by_role("status")).to_contain_text(f"Role {role.slug}")
    role.refresh_from_db()
    assert role.name == "Renamed by mistake"
