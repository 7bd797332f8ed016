"""A person with 41 memberships (defect 17): filter, sort and collapse them; Find caps chips."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from accounts.selectors import SHOWN_MEMBERSHIPS
from tests.browser.conftest import PHONE
from tests.factories import (
    MembershipFactory,
    MembershipRoleFactory,
    OrganizationFactory,
    ProviderUserFactory,
)

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def busy_person(sandbox_app):
    person = ProviderUserFactory(
        email="busy.bee@manyorgs.example", first_name="Busy", last_name="Bee"
    )
    for n in range(41):
        membership = MembershipFactory(
            user=person,
            organization=OrganizationFactory(
                name=f"Client {n:02d} {'Logistics' if n % 3 else 'Retail'}"
            ),
            inactive=n % 8 == 0,
        )
        MembershipRoleFactory(membership=membership, slug="admin" if n % 10 == 0 else "member")
    return person


def test_forty_one_memberships_filter_sort_collapse_and_capped_chips(
    sign_in, sandbox_app, busy_person, snap
):
    page = sign_in("helpdesk")
    page.goto(f"{sandbox_app}/people/{busy_person.pk}/")
    expect(page.locator("#memberships-title")).to_contain_text("41")
    visible = page.locator("#membership-list article.membership:visible")
    expect(visible).to_have_count(SHOWN_MEMBERSHIPS)
    more = page.locator("#membership-list details.more-memberships")
    expect(more.locator("summary")).to_have_text(f"Show {41 - SHOWN_MEMBERSHIPS} more memberships")
    height = page.evaluate("document.documentElement.scrollHeight")
    assert height < 4000, height
    snap(page, "person-41-memberships")
    page.set_viewport_size(PHONE)
    assert page.evaluate("document.documentElement.scrollHeight") < 9000
    page.set_viewport_size({"width": 1280, "height": 900})

    page.get_by_label("Status", exact=True).select_option("inactive")
    expect(page.locator("#membership-list")).to_contain_text("Showing 6 of 41 memberships.")
    expect(page.locator("#membership-list article.membership")).to_have_count(6)
    expect(page).to_have_url(re.compile(r"status=inactive"))

    page.get_by_label("Status", exact=True).select_option("")
    page.get_by_label("Role", exact=True).select_option("admin")
    expect(page.locator("#membership-list article.membership")).to_have_count(5)
    page.get_by_label("Organization", exact=True).fill("retail")
    expect(page.locator("#membership-list")).to_contain_text("Showing 2 of 41 memberships.")
    page.get_by_label("Role", exact=True).select_option("")
    page.get_by_label("Organization", exact=True).fill("")
    page.get_by_label("Sort by", exact=True).select_option("status")
    first = page.locator("#membership-list article.membership").first
    expect(first.locator(".badge").first).to_have_text("inactive")
    snap(page, "person-41-memberships-sorted")

    more.locator("summary").click()
    expect(page.locator("#membership-list article.membership:visible")).to_have_count(41)

    page.goto(f"{sandbox_app}/find/")
    page.get_by_label("Email, name, provider id or organization").fill("busy.bee")
    result = page.locator("#results a.result-link", has_text="busy.bee@manyorgs.example")
    expect(result.locator(".chip")).to_have_count(6)
    expect(result.locator(".chip-more")).to_have_text("+36 more")
    snap(page, "find-capped-chips")
