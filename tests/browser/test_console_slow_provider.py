"""A slow or failing provider, as staff see it: words while waiting, a banner that clears."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from accounts.models import MirrorStatus, OrganizationMembership
from tests.fixtures.app_provider import memberships_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def sandbox_app(settings, live_server, mirrored, workos_emulator) -> str:
    """Here the app talks to the loopback WorkOS emulator, whose faults the tests switch on."""
    settings.KARMO_PROVIDER_TIMEOUT = 5.0
    return live_server.url


def inactive_memberships() -> list[OrganizationMembership]:
    return list(memberships_in(MirrorStatus.INACTIVE))


def test_a_slow_call_says_it_is_still_working(sign_in, sandbox_app, workos_emulator, snap):
    membership = inactive_memberships()[0]
    card = f"#membership-{membership.pk}"
    page = sign_in("manager")
    page.goto(f"{sandbox_app}/people/{membership.user_id}/")
    workos_emulator.app.faults.configure({"delay": 1.8, "delay_count": 2})
    button = page.locator(card).get_by_role("button", name="Reactivate now")
    button.click()
    button = page.locator(f"{card} form button[type=submit]:not([name=preview])").first  # renamed
    expect(button).to_have_text("Working… waiting for the provider", timeout=1_500)
    expect(page.locator("#announcer")).to_have_text("Working… waiting for the provider.")
    snap(page, "person-working")
    expect(page.locator(card).get_by_role("status")).to_contain_text("eactivated", timeout=5_000)


def test_the_unreachable_banner_clears_after_a_success(sign_in, sandbox_app, workos_emulator):
    first, second = inactive_memberships()[:2]
    page = sign_in("manager")
    page.goto(f"{sandbox_app}/people/{first.user_id}/")
    workos_emulator.app.faults.configure({"drop": 1})
    page.locator(f"#membership-{first.pk}").get_by_role("button", name="Reactivate now").click()
    expect(page.locator(f"#membership-{first.pk} .error")).to_be_visible()
    page.goto(f"{sandbox_app}/people/{second.user_id}/")
    banner = page.locator("#provider-unreachable")
    expect(banner).to_contain_text("Provider unreachable")
    page.locator(f"#membership-{second.pk}").get_by_role("button", name="Reactivate now").click()
    expect(page.locator(f"#membership-{second.pk}").get_by_role("status")).to_be_visible()
    expect(banner).to_have_count(0)
