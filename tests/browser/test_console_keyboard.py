"""Keyboard: Ctrl/⌘-K palette, j/k through list rows, `?` for the shortcuts, all accessible."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from accounts.approvals import request_reactivation
from accounts.models import MirrorStatus, Organization, OrganizationMembership, ProviderUser

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_palette_jumps_to_a_person_an_organization_and_a_page(sign_in, sandbox_app, snap):
    person = ProviderUser.objects.exclude(last_name="").order_by("email").first()
    org = Organization.objects.order_by("name").first()
    page = sign_in("helpdesk")
    page.keyboard.press("Control+k")
    dialog = page.get_by_role("dialog", name="Jump to a person, organization or page")
    expect(dialog).to_be_visible()
    field = dialog.get_by_role("combobox")
    expect(field).to_be_focused()
    field.fill(person.email[:-3].upper())
    expect(dialog.get_by_role("option", name=re.compile(re.escape(person.email)))).to_be_visible()
    snap(page, "palette")
    page.keyboard.press("Enter")
    page.wait_for_url(f"{sandbox_app}/people/{person.pk}/")

    page.keyboard.press("Meta+k")  # ⌘-K, as on a Mac
    field = page.get_by_role("dialog").get_by_role("combobox")
    field.fill(org.name)
    option = page.get_by_role("option", name=re.compile(re.escape(org.name)))
    expect(option.first).to_be_visible()
    option.first.click()
    page.wait_for_url(f"{sandbox_app}/orgs/{org.pk}/")

    page.keyboard.press("Control+k")
    page.get_by_role("dialog").get_by_role("combobox").fill("sync")
    expect(page.get_by_role("option", name=re.compile("Sync"))).to_have_attribute(
        "aria-selected", "true"
    )
    page.keyboard.press("Enter")
    page.wait_for_url(f"{sandbox_app}/sync/")


def test_dialogs_trap_focus_close_on_escape_and_give_focus_back(sign_in):
    page = sign_in("helpdesk")
    opener = page.get_by_role("button", name="Jump to…")
    opener.focus()
    page.keyboard.press("Control+k")
    dialog = page.get_by_role("dialog")
    expect(dialog).to_be_visible()
    for _ in range(6):
        page.keyboard.press("Tab")
        assert page.evaluate(
            "document.querySelector('dialog[open]').contains(document.activeElement)"
        )
    page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()
    expect(opener).to_be_focused()

    page.keyboard.press("?")
    shortcuts = page.get_by_role("dialog", name="Keyboard shortcuts")
    expect(shortcuts).to_be_visible()
    expect(shortcuts).to_contain_text("Ctrl")
    page.keyboard.press("Shift+Tab")
    assert page.evaluate("document.querySelector('dialog[open]').contains(document.activeElement)")
    page.keyboard.press("Escape")
    expect(shortcuts).to_be_hidden()


def test_j_and_k_move_through_rows_but_not_while_typing(sign_in, sandbox_app, staff, snap):
    inactive = OrganizationMembership.objects.filter(status=MirrorStatus.INACTIVE).order_by("pk")
    for membership in inactive[:2]:
        request_reactivation(actor=staff["helpdesk"], target=membership, reason="Back from leave")
    page = sign_in("helpdesk")
    page.goto(f"{sandbox_app}/find/")
    search = page.get_by_label("Email, name, provider id or organization")
    search.fill("example")
    links = page.locator("#results a.result-link")
    expect(links.nth(2)).to_be_visible()
    search.press("j")  # typed into the field, not a shortcut
    search.press("?")
    expect(search).to_have_value("examplej?")
    expect(search).to_be_focused()
    expect(page.get_by_role("dialog", name="Keyboard shortcuts")).to_be_hidden()
    # Wait for the results of "example" again and their swap (htmx pushes the URL after it):
    # a swap landing after the j/k presses would take the focus off the row.
    with page.expect_response(re.compile(r"/find/\?q=example$")):
        search.fill("example")
    expect(page).to_have_url(re.compile(r"\?q=example$"))
    expect(links.nth(2)).to_be_visible()
    page.locator("h1").click()
    page.keyboard.press("j")
    expect(links.nth(0)).to_be_focused()
    page.keyboard.press("j")
    page.keyboard.press("j")
    expect(links.nth(2)).to_be_focused()
    page.keyboard.press("k")
    expect(links.nth(1)).to_be_focused()
    href = links.nth(1).get_attribute("href")
    page.keyboard.press("Enter")
    page.wait_for_url(f"{sandbox_app}{href}")

    manager = sign_in("manager")
    manager.goto(f"{sandbox_app}/approvals/")
    cards = manager.locator("#request-list > article.card")
    manager.keyboard.press("j")
    manager.keyboard.press("j")
    expect(cards.nth(1)).to_be_focused()
    expect(cards.nth(1)).to_have_class(re.compile("kbd-current"))
    snap(manager, "approvals-keyboard")

    auditor = sign_in("auditor")
    auditor.goto(f"{sandbox_app}/audit/")
    rows = auditor.locator("#results tbody tr")
    auditor.keyboard.press("j")
    expect(rows.nth(0)).to_be_focused()
    auditor.keyboard.press("Enter")
    auditor.wait_for_url(re.compile(r"/audit/\d+/$"))
