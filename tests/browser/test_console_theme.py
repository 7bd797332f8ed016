"""Dark mode: follows prefers-color-scheme, a toggle overrides it, remembered per browser and
rendered by the server so the first paint has the chosen colours (no inline script)."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import DESKTOP, PASSWORD

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

DARK_BG = "rgb(13, 17, 23)"
LIGHT_BG = "rgb(245, 247, 250)"


def background(page) -> str:
    return page.evaluate("getComputedStyle(document.body).backgroundColor")


def test_theme_follows_the_system_and_the_toggle_is_remembered(browser, sandbox_app, staff, snap):
    context = browser.new_context(viewport=DESKTOP, color_scheme="dark")
    page = context.new_page()
    page.goto(f"{sandbox_app}/login/", timeout=30_000)
    assert background(page) == DARK_BG
    page.get_by_label("Username").fill("manager")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{sandbox_app}/")
    assert background(page) == DARK_BG
    page.goto(f"{sandbox_app}/audit/")
    snap(page, "audit-dark")

    toggle = page.get_by_role("button", name="Theme: Auto")
    toggle.click()  # auto → dark: already dark here, now fixed
    expect(page.get_by_role("button", name="Theme: Dark")).to_be_visible()
    page.get_by_role("button", name="Theme: Dark").click()  # dark → light
    expect(page.locator("html")).to_have_attribute("data-theme", "light")
    assert background(page) == LIGHT_BG

    # The next page arrives already light: the attribute is in the server's HTML.
    html = page.request.get(f"{sandbox_app}/find/").text()
    assert '<html lang="en" data-theme="light">' in html
    page.goto(f"{sandbox_app}/find/")
    assert background(page) == LIGHT_BG
    page.get_by_role("button", name="Theme: Light").click()  # light → back to the system's
    expect(page.locator("html")).not_to_have_attribute("data-theme", "light")
    assert background(page) == DARK_BG
    page.reload()
    assert background(page) == DARK_BG
    context.close()


def test_the_toggle_works_without_javascript(browser, sandbox_app, staff):
    context = browser.new_context(viewport=DESKTOP, color_scheme="light", java_script_enabled=False)
    page = context.new_page()
    page.goto(f"{sandbox_app}/login/", timeout=30_000)
    assert background(page) == LIGHT_BG
    page.get_by_role("button", name="Theme: Auto").click()
    page.wait_for_url(f"{sandbox_app}/login/")
    expect(page.locator("html")).to_have_attribute("data-theme", "dark")
    assert background(page) == DARK_BG
    context.close()
