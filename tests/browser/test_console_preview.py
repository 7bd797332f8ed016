"""Preview before Confirm in a browser: the preview shows before and after, then Confirm makes
the change; screenshots at desktop and phone widths."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from accounts.models import MirrorStatus, TimedAccess
from tests.fixtures.app_provider import membership_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_preview_then_confirm_a_time_bound_reactivation(sign_in, sandbox_app, snap):
    membership = membership_in(MirrorStatus.INACTIVE)
    page = sign_in("manager")
    page.goto(f"{sandbox_app}/people/{membership.user_id}/")
    row = page.locator(f"#membership-{membership.pk}")
    row.get_by_label("Reason (optional)").fill("Quarter-end audit")
    row.get_by_label("Until (optional)").fill("7d")
    row.get_by_role("button", name="Preview").click()
    preview = page.locator(f"#preview-{membership.pk}")
    expect(preview).to_contain_text("nothing has been changed yet")
    expect(preview).to_contain_text("access_until")
    expect(preview).to_contain_text(f"reactivate_membership({membership.external_id})")
    membership.refresh_from_db()
    assert membership.status == MirrorStatus.INACTIVE
    snap(page, "membership-preview")
    row = page.locator(f"#membership-{membership.pk}")
    expect(row.get_by_label("Until (optional)")).to_have_value("7d")
    row.get_by_role("button", name="Confirm: reactivate").click()
    expect(page.locator(f"#time-limit-{membership.pk}")).to_contain_text("ends in 6 days")
    membership.refresh_from_db()
    assert membership.status == MirrorStatus.ACTIVE
    assert TimedAccess.objects.running().filter(membership=membership).exists()
    snap(page, "membership-time-bound")
