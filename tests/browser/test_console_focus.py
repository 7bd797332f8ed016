"""Keyboard and screen-reader users follow an htmx action: focus and announcements."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from accounts.models import MirrorStatus
from tests.fixtures.app_provider import membership_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def focused(page) -> str:
    return page.evaluate(
        "() => { const e = document.activeElement; return e.tagName + '.' + e.className; }"
    )


def test_focus_moves_to_the_notice_and_it_is_announced(sign_in, sandbox_app, snap):
    membership = membership_in(MirrorStatus.INACTIVE)
    card = f"#membership-{membership.pk}"
    page = sign_in("helpdesk")
    page.goto(f"{sandbox_app}/people/{membership.user_id}/")
    page.locator(card).get_by_role("button", name="Request reactivation").press("Enter")
    expect(page.locator(card).locator(".field-error")).to_be_visible()
    # the field that needs a value (waits for htmx to settle, as under load it may lag)
    expect(page.locator(card).get_by_label("Reason for reactivation")).to_be_focused()
    expect(page.locator("#announcer")).to_contain_text("A reason is required.")
    page.locator(card).get_by_label("Reason for reactivation").fill("Contract renewed")
    page.locator(card).get_by_role("button", name="Request reactivation").press("Enter")
    notice = page.locator(card).get_by_role("status")
    expect(notice).to_contain_text("sent to the managers")
    expect(notice).to_be_focused()
    expect(page.locator("#announcer")).to_contain_text("sent to the managers")
    page.keyboard.press("Tab")
    assert focused(page) != "BODY."
    snap(page, "person-focus-notice")
