"""Find as people type it: part of an email, a domain, part of a provider id in any case."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from accounts.models import ProviderUser, StaffScope
from accounts.selectors import SEARCH_LIMIT
from tests.factories import MembershipFactory, OrganizationFactory, ProviderUserFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_find_matches_inside_emails_domains_and_ids(sign_in, sandbox_app, snap):
    person = ProviderUser.objects.filter(email__contains="haddad").order_by("email").first()
    local, domain = person.email.split("@")
    page = sign_in("helpdesk")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Find").click()
    search = page.get_by_label("Email, name, provider id or organization")
    results = page.locator("#results")
    for query in [
        f"{local[-6:]}@{domain[:4]}",  # the middle of an email
        domain.split(".")[0],  # a domain
        person.external_id[5:16].lower(),  # part of a provider id, in another case
        person.external_id.upper(),
    ]:
        search.fill(query)
        expect(results.locator("a.result-link", has_text=person.email)).to_be_visible()
    snap(page, "find-substring")


def test_find_inside_reaches_in_scope_matches_behind_many_out_of_scope_ones(
    sign_in, sandbox_app, staff
):
    """More out-of-scope matches than a page holds come first in the index; the scoped
    helper must still see the one person and organization inside their scope."""
    outside = OrganizationFactory(name="Outside Holdings")
    for n in range(SEARCH_LIMIT + 5):
        MembershipFactory(
            organization=OrganizationFactory(name=f"North Kzqxw {n:02d}"),
            user=ProviderUserFactory(email=f"o{n:02d}.kzqxw@outside.example"),
        )
        MembershipFactory(organization=outside)
    mine = OrganizationFactory(name="South Kzqxw Mine")
    MembershipFactory(organization=mine, user=ProviderUserFactory(email="me.kzqxw@inside.example"))
    StaffScope.objects.create(user=staff["helpdesk"]).organizations.add(mine)

    page = sign_in("helpdesk")
    page.goto(f"{sandbox_app}/find/")
    page.get_by_label("Email, name, provider id or organization").fill("zqxw")
    results = page.locator("#results")
    expect(results.locator("a.result-link", has_text="me.kzqxw@inside.example")).to_be_visible()
    expect(results.locator("a[href^='/orgs/']", has_text="South Kzqxw Mine")).to_be_visible()
    expect(results.locator("a.result-link", has_text="outside.example")).to_have_count(0)
