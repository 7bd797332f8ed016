"""Find as people type it: part of an email, a domain, part of a provider id in any case."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from accounts.models import ProviderUser

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
